"""Tests for the Debian package support and fetch_en_ro(libreoffice=True).

Fake ``.deb`` files are built in tmp_path: no network.
"""

import glob
import hashlib
import io
import os
import tarfile
import zipfile
from dataclasses import replace

import pytest
from builders import write_mo

from elang_sk.datasets import _archives, _en_ro, fetch_en_ro, get_data_home
from elang_sk.datasets._archives import (
    RegistryArchive,
    extract_members,
    list_members,
    read_members,
)

MO_DIR = "./usr/lib/libreoffice/program/resource/ro/LC_MESSAGES/"
FAKE_NAME = "libreoffice-l10n-ro_0.0-test_all.deb"


def _mo_bytes(tmp_path, messages):
    path = tmp_path / "tmp.mo"
    write_mo(path, messages)
    content = path.read_bytes()
    path.unlink()
    return content


def _tar(files, compression="xz", links=()):
    """A tar (bytes) of ``{name: bytes}`` plus ``(name, target)`` symlinks."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}") as tf:
        for folder in ("./", "./usr/", MO_DIR):
            info = tarfile.TarInfo(folder.rstrip("/") or ".")
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tf.addfile(info)
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


def _ar(members):
    """An ``ar`` archive (bytes) of ``[(name, bytes)]``, as dpkg-deb writes it."""
    out = [b"!<arch>\n"]
    for name, content in members:
        header = (
            f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n"
        ).encode("ascii")
        assert len(header) == 60
        out.append(header + content + (b"\n" if len(content) % 2 else b""))
    return b"".join(out)


def _deb(data=None, data_name="data.tar.xz", members=None):
    """A Debian package (bytes) whose data tar is `data` (bytes)."""
    if members is None:
        control = _tar({"./control": b"Package: libreoffice-l10n-ro\n"})
        members = [
            ("debian-binary", b"2.0\n"),
            ("control.tar.xz", control),
            (data_name, data),
        ]
    return _ar(members)


@pytest.fixture
def lo_files(tmp_path):
    """The files of the fake package's data tar: two catalogs and another file."""
    return {
        MO_DIR + "a.mo": _mo_bytes(
            tmp_path,
            {"Open ~file": "Deschide ~fișierul", "Shared": "Versiunea LibreOffice"},
        ),
        MO_DIR + "b.mo": _mo_bytes(
            tmp_path, {"Close window": "Închide fereastra", "Save": "Salvează"}
        ),
        "./usr/share/doc/libreoffice-l10n-ro/copyright": b"not a catalog\n",
    }


@pytest.fixture
def locale_dir(tmp_path):
    """A folder with one catalog of the machine, sharing "Shared" with LibreOffice."""
    folder = tmp_path / "locale"
    folder.mkdir()
    write_mo(folder / "machine.mo", {"Shared": "Versiunea mașinii", "Quit": "Ieșire"})
    return str(folder)


@pytest.fixture
def data_home(tmp_path):
    return str(tmp_path / "home")


def _install(monkeypatch, data_home, content, name=FAKE_NAME, sha=None):
    """Put `content` in the archives folder and pin LIBREOFFICE_RO_DEB to it."""
    archives = os.path.join(data_home, "archives")
    os.makedirs(archives, exist_ok=True)
    path = os.path.join(archives, name)
    with open(path, "wb") as f:
        f.write(content)
    archive = replace(
        _en_ro.LIBREOFFICE_RO_DEB,
        version="4:0.0-test",
        filename=name,
        sha256=sha or hashlib.sha256(content).hexdigest(),
        path=f"pool/main/libr/libreoffice/{name}",
    )
    monkeypatch.setattr(_en_ro, "LIBREOFFICE_RO_DEB", archive)
    return path


def _folder(data_home):
    return os.path.join(data_home, "libreoffice-l10n-ro", "4_0.0-test")


def _no_download(archive, directory):
    raise AssertionError("no download expected")


# --- fetch_en_ro(libreoffice=True) --------------------------------------------


def test_fetch_en_ro_adds_libreoffice_pairs(
    tmp_path, monkeypatch, lo_files, locale_dir, data_home
):
    """The package's catalogs come after the machine's; first English string wins."""
    monkeypatch.setattr(_archives, "_download", _no_download)
    _install(monkeypatch, data_home, _deb(_tar(lo_files)))
    pairs = fetch_en_ro(
        subset="all", locale_dir=locale_dir, libreoffice=True, data_home=data_home
    )
    triples = zip(pairs.data, pairs.target, pairs.catalogs, strict=True)
    got = {s: (t, c) for s, t, c in triples}
    assert got == {
        "Shared": ("Versiunea mașinii", "machine"),
        "Quit": ("Ieșire", "machine"),
        "Open file": ("Deschide fișierul", "libreoffice/a"),
        "Close window": ("Închide fereastra", "libreoffice/b"),
        "Save": ("Salvează", "libreoffice/b"),
    }
    assert len(pairs.data) == len(set(pairs.data)) == 5
    folder = _folder(data_home)
    assert sorted(os.listdir(folder)) == ["COMPLETE", "a.mo", "b.mo"]
    with open(os.path.join(folder, "COMPLETE"), encoding="utf-8") as f:
        assert f.read() == _en_ro.LIBREOFFICE_RO_DEB.sha256
    assert not glob.glob(os.path.join(data_home, "libreoffice-l10n-ro", ".extract-*"))

    without = fetch_en_ro(subset="all", locale_dir=locale_dir, data_home=data_home)
    assert sorted(without.data) == ["Quit", "Shared"]
    assert not any(c.startswith("libreoffice/") for c in without.catalogs)

    # Once extracted, the archive itself is no longer needed.
    os.remove(os.path.join(data_home, "archives", FAKE_NAME))
    again = fetch_en_ro(
        subset="all",
        locale_dir=locale_dir,
        libreoffice=True,
        data_home=data_home,
        download_if_missing=False,
    )
    assert again.data == pairs.data and again.catalogs == pairs.catalogs


def test_fetch_en_ro_libreoffice_downloads_once(
    tmp_path, monkeypatch, lo_files, locale_dir, data_home
):
    """A missing package is downloaded from the Debian URL, then kept."""
    content = _deb(_tar(lo_files))
    path = _install(monkeypatch, data_home, content)
    os.remove(path)
    calls = []

    def fake_download(archive, directory):
        calls.append(archive.url)
        target = os.path.join(directory, archive.filename)
        with open(target, "wb") as f:
            f.write(content)
        return target

    monkeypatch.setattr(_archives, "_download", fake_download)
    for _ in range(2):
        pairs = fetch_en_ro(
            subset="all", locale_dir=locale_dir, libreoffice=True, data_home=data_home
        )
        assert len(pairs.data) == 5
    assert calls == [
        f"{_archives.DEBIAN_MIRROR}/pool/main/libr/libreoffice/{FAKE_NAME}"
    ]
    assert os.path.isfile(path)


# --- bad packages ---------------------------------------------------------------


def _libreoffice(data_home, download_if_missing=True):
    return _en_ro.libreoffice_catalogs(data_home, download_if_missing)


def _assert_nothing_extracted(data_home):
    parent = os.path.join(data_home, "libreoffice-l10n-ro")
    assert not os.path.exists(_folder(data_home))
    assert not glob.glob(os.path.join(parent, ".extract-*"))


def test_truncated_deb_is_refused(tmp_path, monkeypatch, lo_files, data_home):
    """A package cut inside its data tar gives a ValueError saying so."""
    content = _deb(_tar(lo_files))
    cut = content[: len(content) - 40]
    path = tmp_path / "cut.deb"
    path.write_bytes(cut)
    with pytest.raises(ValueError, match=r"truncated inside data\.tar\.xz"):
        list_members(str(path))
    # The same through libreoffice_catalogs (as if its checksum were pinned).
    monkeypatch.setattr(_archives, "_download", _no_download)
    _install(monkeypatch, data_home, cut)
    with pytest.raises(ValueError, match="truncated.*fetch it again"):
        _libreoffice(data_home)
    _assert_nothing_extracted(data_home)


def test_truncated_ar_header_is_refused(tmp_path, lo_files):
    """A package cut inside an ar member header says it is damaged or truncated."""
    control = _tar({"./control": b"Package: libreoffice-l10n-ro\n"})
    members = [("debian-binary", b"2.0\n"), ("control.tar.xz", control)]
    start = len(_ar(members))  # where the data.tar.xz header begins
    content = _ar([*members, ("data.tar.xz", _tar(lo_files))])
    path = tmp_path / "cut.deb"
    path.write_bytes(content[: start + 30])
    with pytest.raises(ValueError, match="damaged or truncated ar member header"):
        list_members(str(path))


def test_damaged_data_tar_is_refused(tmp_path, lo_files):
    """A data tar that is not a tar gives a ValueError naming the member."""
    path = tmp_path / "bad.deb"
    path.write_bytes(_deb(b"\xfd7zXZ\x00 not really xz" * 10))
    with pytest.raises(ValueError, match=r"damaged data\.tar\.xz"):
        read_members(str(path), [MO_DIR + "a.mo"])


def test_not_an_ar_archive_is_refused(tmp_path):
    path = tmp_path / "text.deb"
    path.write_text("<html>404 Not Found</html>\n")
    with pytest.raises(ValueError, match="not a Debian package"):
        list_members(str(path))


def test_ar_without_data_tar_is_refused(tmp_path):
    path = tmp_path / "nodata.deb"
    path.write_bytes(
        _deb(members=[("debian-binary", b"2.0\n"), ("control.tar.xz", b"abc")])
    )
    with pytest.raises(ValueError, match="no data.tar member"):
        list_members(str(path))


def test_damaged_ar_header_does_not_loop(tmp_path):
    """A negative member size is refused instead of seeking backwards forever."""
    header = f"{'debian-binary':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{-60:<10}`\n"
    path = tmp_path / "negative.deb"
    path.write_bytes(b"!<arch>\n" + header.encode("ascii") + b"2.0\n")
    with pytest.raises(ValueError, match="damaged"):
        list_members(str(path))


def test_zstd_data_tar_names_the_way_out(tmp_path, monkeypatch, data_home):
    path = tmp_path / "zstd.deb"
    path.write_bytes(_deb(b"(\xb5/\xfd fake zstd frame", data_name="data.tar.zst"))
    with pytest.raises(ValueError, match="zstd.*dpkg-deb -x"):
        list_members(str(path))
    monkeypatch.setattr(_archives, "_download", _no_download)
    _install(monkeypatch, data_home, path.read_bytes())
    with pytest.raises(ValueError, match="zstd"):
        _libreoffice(data_home)
    _assert_nothing_extracted(data_home)


@pytest.mark.parametrize("compression", ["", "gz", "bz2"])
def test_other_data_tar_compressions_are_read(tmp_path, lo_files, compression):
    data_name = "data.tar" + (f".{compression}" if compression else "")
    path = tmp_path / "other.deb"
    path.write_bytes(_deb(_tar(lo_files, compression=compression), data_name))
    assert list_members(path, MO_DIR) == [MO_DIR + "a.mo", MO_DIR + "b.mo"]


def test_deb_with_a_zip_at_the_end_is_read_as_deb(tmp_path, lo_files):
    """An uncompressed data tar whose last file is a zip (a .jar) is not a zip."""
    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    files = {**lo_files, "./usr/lib/libreoffice/program/classes/x.jar": jar.getvalue()}
    path = tmp_path / "jar.deb"
    path.write_bytes(_deb(_tar(files, compression=""), "data.tar"))
    assert zipfile.is_zipfile(path)
    assert list_members(str(path), MO_DIR) == [MO_DIR + "a.mo", MO_DIR + "b.mo"]
    (content,) = read_members(str(path), [MO_DIR + "b.mo"])
    assert content == lo_files[MO_DIR + "b.mo"]


def test_checksum_mismatch_removes_file_and_gives_command(
    monkeypatch, lo_files, data_home
):
    """A damaged package is removed; without download the error says how to fetch."""
    monkeypatch.setattr(_archives, "_download", _no_download)
    path = _install(monkeypatch, data_home, _deb(_tar(lo_files)), sha="0" * 64)
    with pytest.raises(OSError) as excinfo:
        _libreoffice(data_home, download_if_missing=False)
    message = str(excinfo.value)
    assert "differing from the expected one" in message
    assert "was removed" in message
    assert "Debian package libreoffice-l10n-ro==4:0.0-test" in message
    assert "apt-get download libreoffice-l10n-ro=4:0.0-test" in message
    assert FAKE_NAME in message
    assert not os.path.exists(path)
    _assert_nothing_extracted(data_home)


def test_download_failure_names_debian_package_and_command(
    monkeypatch, lo_files, locale_dir, data_home
):
    path = _install(monkeypatch, data_home, _deb(_tar(lo_files)))
    os.remove(path)

    def offline(archive, directory):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(_archives, "_download", offline)
    with pytest.raises(OSError) as excinfo:
        fetch_en_ro(locale_dir=locale_dir, libreoffice=True, data_home=data_home)
    message = str(excinfo.value)
    assert "Could not download Debian package libreoffice-l10n-ro" in message
    assert "from Debian: Network is unreachable" in message
    assert "apt-get download libreoffice-l10n-ro=4:0.0-test" in message
    assert "snapshot.debian.org" in message
    assert path in message
    assert not os.listdir(os.path.dirname(path))
    _assert_nothing_extracted(data_home)


@pytest.mark.parametrize("marker", [None, "f" * 64, "same sha, no catalogs"])
def test_incomplete_extraction_is_redone(monkeypatch, lo_files, data_home, marker):
    """A folder without marker, with a stale one or without catalogs is redone."""
    monkeypatch.setattr(_archives, "_download", _no_download)
    _install(monkeypatch, data_home, _deb(_tar(lo_files)))
    folder = _folder(data_home)
    os.makedirs(folder)
    if marker == "same sha, no catalogs":
        marker = _en_ro.LIBREOFFICE_RO_DEB.sha256
    else:
        with open(os.path.join(folder, "a.mo"), "wb") as f:
            f.write(b"half written")
        with open(os.path.join(folder, "stale.mo"), "wb") as f:
            f.write(b"from an older version")
    if marker is not None:
        with open(os.path.join(folder, "COMPLETE"), "w", encoding="utf-8") as f:
            f.write(marker)
    assert _libreoffice(data_home) == folder
    assert sorted(os.listdir(folder)) == ["COMPLETE", "a.mo", "b.mo"]
    with open(os.path.join(folder, "a.mo"), "rb") as f:
        assert f.read() == lo_files[MO_DIR + "a.mo"]
    with open(os.path.join(folder, "COMPLETE"), encoding="utf-8") as f:
        assert f.read() == _en_ro.LIBREOFFICE_RO_DEB.sha256


def test_extraction_target_that_is_a_file_is_replaced(monkeypatch, lo_files, data_home):
    monkeypatch.setattr(_archives, "_download", _no_download)
    _install(monkeypatch, data_home, _deb(_tar(lo_files)))
    folder = _folder(data_home)
    os.makedirs(os.path.dirname(folder))
    with open(folder, "w") as f:
        f.write("not a folder")
    assert _libreoffice(data_home) == folder
    assert sorted(os.listdir(folder)) == ["COMPLETE", "a.mo", "b.mo"]


def test_leftover_temporary_folder_is_harmless(monkeypatch, lo_files, data_home):
    """An interrupted extraction's .extract-* folder does not stop the next one."""
    monkeypatch.setattr(_archives, "_download", _no_download)
    _install(monkeypatch, data_home, _deb(_tar(lo_files)))
    leftover = os.path.join(data_home, "libreoffice-l10n-ro", ".extract-dead1234")
    os.makedirs(leftover)
    with open(os.path.join(leftover, "a.mo"), "wb") as f:
        f.write(b"half")
    folder = _libreoffice(data_home)
    assert sorted(os.listdir(folder)) == ["COMPLETE", "a.mo", "b.mo"]
    assert _en_ro.load_en_ro_pairs(folder)


@pytest.mark.parametrize(
    "files, links, match",
    [
        ({MO_DIR + "../../../../../../../../evil.mo": b"x"}, (), "'..' component"),
        ({"/tmp/evil.mo": b"x"}, (), "absolute path"),
        ({}, [(MO_DIR + "c.mo", "/etc/passwd")], "it is a link"),
    ],
    ids=["dotdot", "absolute", "symlink"],
)
def test_unsafe_members_are_refused(
    tmp_path, monkeypatch, lo_files, data_home, files, links, match
):
    """extract_members refuses '..', absolute paths and links inside a .deb."""
    content = _deb(_tar({**lo_files, **files}, links=links))
    path = tmp_path / "evil.deb"
    path.write_bytes(content)
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(ValueError, match=match):
        extract_members(str(path), str(target), lambda name: name)
    monkeypatch.setattr(_archives, "_download", _no_download)
    _install(monkeypatch, data_home, content)
    if match == "absolute path":
        # libreoffice_catalogs only selects members under MO_DIR.
        assert sorted(os.listdir(_libreoffice(data_home))) == [
            "COMPLETE",
            "a.mo",
            "b.mo",
        ]
    else:
        with pytest.raises(ValueError, match=match):
            _libreoffice(data_home)
        _assert_nothing_extracted(data_home)
    assert not glob.glob(str(tmp_path / "**" / "evil.mo"), recursive=True)


def test_deb_without_catalogs_is_refused(monkeypatch, data_home):
    monkeypatch.setattr(_archives, "_download", _no_download)
    _install(monkeypatch, data_home, _deb(_tar({"./usr/share/doc/x": b"doc"})))
    with pytest.raises(ValueError, match="holds no catalog"):
        _libreoffice(data_home)
    _assert_nothing_extracted(data_home)


# --- RegistryArchive ---------------------------------------------------------------


def test_debian_registry_archive_url_and_manual_command(monkeypatch):
    archive = RegistryArchive(
        registry="debian",
        package="libreoffice-l10n-ro",
        version="4:7.4.7-1+deb12u14",
        filename="libreoffice-l10n-ro_7.4.7-1+deb12u14_all.deb",
        sha256="0" * 64,
        path="pool/main/libr/libreoffice/libreoffice-l10n-ro_7.4.7-1+deb12u14_all.deb",
    )
    assert archive.url == f"{_archives.DEBIAN_MIRROR}/{archive.path}"
    monkeypatch.setattr(_archives, "DEBIAN_MIRROR", "https://mirror.example/debian")
    assert archive.url == (
        "https://mirror.example/debian/pool/main/libr/libreoffice/"
        "libreoffice-l10n-ro_7.4.7-1+deb12u14_all.deb"
    )
    command = archive.manual_command("/data/archives")
    assert "apt-get download libreoffice-l10n-ro=4:7.4.7-1+deb12u14" in command
    assert command.startswith("(cd /data/archives && ")
    assert command.endswith(f"{archive.filename})")
    assert _en_ro.LIBREOFFICE_RO_DEB.url.endswith(_en_ro.LIBREOFFICE_RO_DEB.path)
    assert _en_ro.LIBREOFFICE_RO_DEB.path.endswith(
        "/" + _en_ro.LIBREOFFICE_RO_DEB.filename
    )


# --- the real package, where it is already extracted ----------------------------


def _real_catalogs_ready():
    """Whether the real catalogs are extracted in the data home (no download)."""
    # As get_data_home resolves it, without creating the folder on collection.
    home = os.path.expanduser(os.environ.get("ELANG_SK_DATA") or "~/elang_sk_data")
    archive = _en_ro.LIBREOFFICE_RO_DEB
    folder = os.path.join(home, archive.package, archive.version.replace(":", "_"))
    try:
        with open(os.path.join(folder, "COMPLETE"), encoding="utf-8") as f:
            marker_ok = f.read().strip() == archive.sha256
    except OSError:
        return False
    machine = glob.glob(os.path.join(_en_ro.DEFAULT_LOCALE_DIR, "*.mo"))
    return marker_ok and bool(machine)


@pytest.mark.skipif(
    not _real_catalogs_ready(),
    reason="LibreOffice's catalogs are not extracted in the data home",
)
def test_real_libreoffice_catalogs():
    folder = _en_ro.libreoffice_catalogs(download_if_missing=False)
    assert folder.startswith(get_data_home())
    assert len(glob.glob(os.path.join(folder, "*.mo"))) == 33
    pairs = fetch_en_ro(subset="all", libreoffice=True, download_if_missing=False)
    assert len(pairs.data) > 30_000
    assert len(pairs.data) == len(set(pairs.data))
    lo = {c for c in pairs.catalogs if c.startswith("libreoffice/")}
    assert len(lo) == 33
    machine = fetch_en_ro(subset="all", download_if_missing=False)
    assert len(pairs.data) > len(machine.data) + 10_000
