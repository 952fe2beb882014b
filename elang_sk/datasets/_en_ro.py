"""English-Romanian sentence pairs from the gettext catalogs on disk."""

import glob
import os
import re
import struct
from numbers import Integral

from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from elang_sk.datasets._base import SUBSETS, load_descr, split_indices

DEFAULT_LOCALE_DIR = "/usr/share/locale/ro/LC_MESSAGES"

# printf conversions (%s, %d, %-10s, %.250s, %lu, %1$s, %%), Python's %(name)s
# and the extra conversions of binutils' own printf (%pA, %pB, %H, %P, ...).
_PRINTF = re.compile(
    r"%(?:\(\w+\)|\d+\$)?[-+#0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?"
    r"(?:hh|h|ll|l|L|q|j|z|t|I64|I32)?(?:p[AB]|[A-Za-z%])"
)
# What is left around a removed code: "( )", "` '", "„ ”", a leading ": ".
_EMPTY_QUOTES = re.compile(r"\(\s*\)|\[\s*\]|`\s*'|'\s*'|\"\s*\"|„\s*”|“\s*”|«\s*»")
_LEADING_PUNCT = re.compile(r"^[\s:;,]+")
# LibreOffice marks the access key with "~", GTK with "_", Qt/KDE with "&".
_TILDE = re.compile(r"~(?=\w)")
_MNEMONICS = (re.compile(r"_(?=\w)"), re.compile(r"&(?=\w)(?!\w+;)"))
_WHITESPACE = re.compile(r"\s+")
_LETTER = re.compile(r"[^\W\d_]")


def read_mo(path):
    """Return the ``(msgid, msgstr)`` pairs of the compiled catalog `path`.

    The GNU ``.mo`` format is parsed directly. Message contexts are dropped,
    plural entries give their singular form, untranslated entries and the
    header are skipped.
    """
    with open(path, "rb") as f:
        buf = f.read()
    magic = struct.unpack("<I", buf[:4])[0]
    if magic == 0x950412DE:
        endian = "<"
    elif magic == 0xDE120495:
        endian = ">"
    else:
        raise OSError(f"{path} is not a GNU gettext .mo file.")
    _, n, orig_offset, trans_offset = struct.unpack(endian + "4I", buf[4:20])
    raw = []
    for i in range(n):
        olen, ooff = struct.unpack_from(endian + "2I", buf, orig_offset + 8 * i)
        tlen, toff = struct.unpack_from(endian + "2I", buf, trans_offset + 8 * i)
        raw.append((buf[ooff : ooff + olen], buf[toff : toff + tlen]))
    charset = "utf-8"
    for msgid, msgstr in raw:
        if msgid == b"":
            match = re.search(rb"charset=([\w-]+)", msgstr)
            if match and match.group(1).lower() != b"charset":
                charset = match.group(1).decode("ascii")
    pairs = []
    for msgid, msgstr in raw:
        msgid = msgid.split(b"\x00")[0].split(b"\x04")[-1]
        msgstr = msgstr.split(b"\x00")[0]
        if msgid and msgstr:
            pairs.append(
                (
                    msgid.decode(charset, errors="replace"),
                    msgstr.decode(charset, errors="replace"),
                )
            )
    return pairs


def _strip_mnemonics(source, target):
    for pattern in _MNEMONICS:
        if len(pattern.findall(source)) != 1:
            continue
        word = next(w for w in source.split() if pattern.search(w))
        # A word like "obey_child" copied verbatim into the translation is an
        # identifier, not an access key.
        if word in target:
            continue
        source = pattern.sub("", source)
        if len(pattern.findall(target)) == 1:
            target = pattern.sub("", target)
    return source, target


def clean_pair(source, target):
    """Remove format codes and access-key marks, normalise whitespace."""
    source, target = _strip_mnemonics(source, target)
    cleaned = []
    for text in (source, target):
        text = _TILDE.sub("", _PRINTF.sub(" ", text))
        text = _LEADING_PUNCT.sub("", _EMPTY_QUOTES.sub(" ", text))
        cleaned.append(_WHITESPACE.sub(" ", text).strip())
    return tuple(cleaned)


def load_en_ro_pairs(locale_dir=DEFAULT_LOCALE_DIR, max_words=40):
    """Return filtered ``(english, romanian, catalog)`` triples, deduplicated.

    Catalogs are read in sorted file name order; the first translation of an
    English string wins.
    """
    paths = sorted(glob.glob(os.path.join(os.fspath(locale_dir), "*.mo")))
    if not paths:
        raise OSError(
            f"No gettext catalogs (*.mo) found in {locale_dir}. fetch_en_ro "
            "downloads nothing: it reads the Romanian translations installed "
            "with the system's packages. Install them (on Debian/Ubuntu they "
            "ship with the packages themselves or language-pack-ro; minimal "
            "Docker images often exclude /usr/share/locale), or pass "
            "locale_dir= pointing to a folder of Romanian .mo files, e.g. "
            "usr/lib/libreoffice/program/resource/ro/LC_MESSAGES extracted "
            "from the Debian package libreoffice-l10n-ro."
        )
    seen, triples = set(), []
    for path in paths:
        catalog = os.path.splitext(os.path.basename(path))[0]
        for source, target in read_mo(path):
            source, target = clean_pair(source, target)
            if (
                source in seen
                or not _LETTER.search(source)
                or not target
                or source.casefold() == target.casefold()
                or len(source.split()) > max_words
                or len(target.split()) > max_words
            ):
                continue
            seen.add(source)
            triples.append((source, target, catalog))
    return triples


@validate_params(
    {
        "subset": [StrOptions(set(SUBSETS))],
        "locale_dir": [str, os.PathLike, None],
        "max_words": [Interval(Integral, 1, None, closed="left")],
        "data_home": [str, os.PathLike, None],
        "download_if_missing": ["boolean"],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def fetch_en_ro(
    *,
    subset="train",
    locale_dir=None,
    max_words=40,
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
):
    """Load English-Romanian pairs from the gettext catalogs on this machine.

    Human translations of software messages, read from the compiled
    catalogs in ``/usr/share/locale/ro/LC_MESSAGES/*.mo`` that Debian and
    Ubuntu packages install. Nothing is downloaded and nothing is cached:
    the catalogs are already local. printf codes (``%s``, ``%1$d``, ...),
    access-key marks (``~``, ``_``, ``&``) and extra whitespace are removed;
    empty, untranslated (identical) and long pairs are dropped, and each
    English string is kept once.

    The content depends on the packages installed: about 19,400 pairs on a
    Debian/Ubuntu machine with ~60 Romanian catalogs, and nothing where
    ``/usr/share/locale`` is stripped. The split is fixed given the same
    catalogs.

    Parameters
    ----------
    subset : {"train", "dev", "test", "all"}, default="train"
        Which part of the fixed (not stratified) 60/20/20 split to return.
    locale_dir : str or path-like, default=None
        Folder of Romanian ``.mo`` files. None means
        ``/usr/share/locale/ro/LC_MESSAGES``.
    max_words : int, default=40
        Pairs where either side has more words are dropped.
    data_home : str or path-like, default=None
        Ignored: nothing is downloaded. Accepted so that all fetchers share
        one signature.
    download_if_missing : bool, default=True
        Ignored, as `data_home`.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : list of str
            English source strings.
        target : list of str
            Romanian translations.
        catalogs : list of str
            The catalog (gettext domain) each pair comes from.
        DESCR : str
            Description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    OSError
        If `locale_dir` holds no ``.mo`` file.

    Examples
    --------
    >>> from elang_sk.datasets import fetch_en_ro
    >>> pairs = fetch_en_ro(subset="test")  # doctest: +SKIP
    >>> pairs.data[0], pairs.target[0]  # doctest: +SKIP
    ('...', '...')
    """
    locale_dir = DEFAULT_LOCALE_DIR if locale_dir is None else locale_dir
    triples = load_en_ro_pairs(locale_dir, max_words=max_words)
    idx = split_indices(len(triples), subset)
    data = [triples[i][0] for i in idx]
    target = [triples[i][1] for i in idx]
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        catalogs=[triples[i][2] for i in idx],
        DESCR=load_descr("en_ro"),
    )
