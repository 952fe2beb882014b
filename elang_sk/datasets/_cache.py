"""Parsed datasets kept in the data home, checked before they are trusted.

A fetcher parses its registry archive once and keeps the result as
``<data_home>/<name>.v<format>.json``. The file is one JSON header line, then
the JSON records. The header names the dataset, the cache format, the SHA-256
of the archive the records were parsed from, and the size and SHA-256 of the
records. A file whose header does not match what the code expects (another
dataset, an old format, another archive) or whose records do not match their
checksum (0 bytes, truncated, a flipped byte) is never used: it is rebuilt
from the verified archive, with a warning.

The checksum catches damage, not a deliberate forgery: whoever can write to
the data home can also write a matching header.

Writes go to a temporary file in the same folder, then :func:`os.replace`
moves it into place, so a reader never sees half a file; temporary files that
a killed process left behind are deleted by the next write of that dataset.
"""

import glob
import hashlib
import json
import os
import tempfile
import time
import warnings
from os.path import join

from elang_sk.datasets._archives import fetch_archive
from elang_sk.datasets._base import get_data_home

# Bump when the content or layout of the parsed caches changes: caches in an
# older format are then rebuilt.
_FORMAT = 2
# A temporary file this old belongs to a process that died while writing it.
_STALE_SECONDS = 3600


def cache_path(name, data_home=None):
    """Path of the parsed cache of dataset `name` in the data home."""
    return join(get_data_home(data_home), f"{name}.v{_FORMAT}.json")


def _header(name, archive, payload):
    return {
        "name": name,
        "format": _FORMAT,
        "archive_sha256": archive.sha256,
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }


def _read(path, name, archive):
    """Return ``(records, None)``, or ``(None, why the file is not used)``.

    A missing file gives ``(None, None)``.
    """
    if not os.path.lexists(path):
        return None, None
    # Opening a FIFO or a device would block or read garbage: check first.
    if not os.path.isfile(path):
        return None, "it is not a regular file"
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as exc:
        return None, f"it cannot be read: {exc}"
    line, _, payload = blob.partition(b"\n")
    try:
        header = json.loads(line)
    except ValueError:
        return None, "it has no valid header (empty, damaged or an old format)"
    expected = _header(name, archive, payload)
    if not isinstance(header, dict) or not expected.keys() <= header.keys():
        return None, "it has no valid header (empty, damaged or an old format)"
    for key in ("name", "format", "archive_sha256"):
        if header.get(key) != expected[key]:
            return None, (
                f"it was made for {key} {header.get(key)!r}, not {expected[key]!r}"
            )
    if header.get("size") != expected["size"]:
        return None, (
            f"it holds {expected['size']} bytes of records, its header says "
            f"{header.get('size')!r} (truncated or extended)"
        )
    if header.get("sha256") != expected["sha256"]:
        return None, "its records do not match their SHA-256 (damaged or edited)"
    return json.loads(payload), None


def _remove_stale_temporaries(directory, name):
    now = time.time()
    for tmp in glob.glob(join(glob.escape(directory), f".{name}.*.tmp")):
        try:
            if now - os.path.getmtime(tmp) > _STALE_SECONDS:
                os.remove(tmp)
        except OSError:
            pass  # removed by another process, or not ours to remove


def _write(path, name, archive, records):
    payload = json.dumps(records, ensure_ascii=False).encode("utf-8")
    header = json.dumps(_header(name, archive, payload)).encode("ascii")
    directory = os.path.dirname(path)
    _remove_stale_temporaries(directory, name)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header + b"\n" + payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
    except OSError as exc:
        warnings.warn(
            f"Could not write the parsed cache {path} ({exc}). The data was "
            "parsed from the archive and is returned; it will be parsed again "
            "on the next call. Make the data home writable, or pass another "
            "data_home, to cache it.",
            UserWarning,
            stacklevel=5,
        )


def load_cached(name, archive, parse, data_home=None, download_if_missing=True):
    """Return the parsed dataset `name`, parsing `archive` only when needed.

    Parameters
    ----------
    name : str
        Name of the cache file, e.g. ``"trec"``.
    archive : RegistryArchive
        The registry file the records come from.
    parse : callable
        ``parse(path)`` returns the JSON-serialisable records read from the
        verified archive at `path`.
    data_home : str or path-like, default=None
        The data directory, see :func:`get_data_home`.
    download_if_missing : bool, default=True
        Passed to :func:`fetch_archive` when the records must be (re)built.

    Returns
    -------
    records : dict
        What ``parse`` returned, now or on an earlier call.

    Raises
    ------
    OSError
        If the cache is missing or damaged and the archive cannot be had.
    """
    path = cache_path(name, data_home)
    records, problem = _read(path, name, archive)
    if records is not None:
        return records
    if problem is not None:
        warnings.warn(
            f"The parsed cache {path} is not used: {problem}. It is rebuilt "
            f"from {archive.filename}.",
            UserWarning,
            stacklevel=4,
        )
    try:
        source = fetch_archive(archive, data_home, download_if_missing)
    except OSError as exc:
        if problem is None:
            raise
        raise OSError(
            f"The parsed cache {path} cannot be used ({problem}) and the "
            f"archive to rebuild it from is not available: {exc}"
        ) from exc
    records = parse(source)
    _write(path, name, archive, records)
    return records
