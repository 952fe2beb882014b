"""Name -> fetcher table, for command-line tools and configuration files."""

import inspect

from elang_sk.datasets._en_ro import fetch_en_ro
from elang_sk.datasets._fetchers import (
    fetch_bbc_news,
    fetch_movie_snippets,
    fetch_sms_spam,
    fetch_trec,
    fetch_uci_sentences,
)

DATASETS = {
    "movie_snippets": fetch_movie_snippets,
    "trec": fetch_trec,
    "sms_spam": fetch_sms_spam,
    "bbc_news": fetch_bbc_news,
    "uci_sentences": fetch_uci_sentences,
    "en_ro": fetch_en_ro,
}


def load_dataset(name, subset="train", **kwargs):
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`: ``"movie_snippets"``, ``"trec"``,
        ``"sms_spam"``, ``"bbc_news"``, ``"uci_sentences"`` or ``"en_ro"``.
    subset : {"train", "dev", "test", "all"}, default="train"
        Which part of the dataset's fixed 60/20/20 split to return.
    **kwargs : dict
        Passed to the fetcher, e.g. ``data_home``, ``fine=True`` for
        ``"trec"`` or ``source="yelp"`` for ``"uci_sentences"``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        What the fetcher returns.

    Raises
    ------
    ValueError
        If `name` is not a known dataset.
    TypeError
        If a keyword argument is not one that fetcher accepts.

    Examples
    --------
    >>> from elang_sk.datasets import DATASETS, load_dataset
    >>> sorted(DATASETS)
    ['bbc_news', 'en_ro', 'movie_snippets', 'sms_spam', 'trec', 'uci_sentences']
    >>> trec = load_dataset("trec", subset="dev", fine=True)  # doctest: +SKIP
    """
    try:
        fetcher = DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown dataset {name!r}. Valid names are: {', '.join(sorted(DATASETS))}."
        ) from None
    accepted = set(inspect.signature(fetcher).parameters) - {"subset"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise TypeError(
            f"load_dataset({name!r}) passes its keyword arguments to "
            f"{fetcher.__name__}, which does not accept {', '.join(unknown)}. "
            f"It accepts: {', '.join(sorted(accepted))}."
        )
    return fetcher(subset=subset, **kwargs)
