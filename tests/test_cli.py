"""The elang-sk command and the protocol behind it, on tiny local models."""

import json

import numpy as np
import pytest
from sklearn.utils import Bunch

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_transformers import make_bert, make_tokenizer

from elang_sk import __main__ as cli
from elang_sk.datasets import _registry

SENTENCES = [
    ("good film", "pos"),
    ("great fun movie", "pos"),
    ("very good acting", "pos"),
    ("bad film", "neg"),
    ("awful boring plot", "neg"),
    ("very bad acting", "neg"),
    ("good plot", "pos"),
    ("boring film", "neg"),
]


def _fake_load_dataset(name, subset="train", **kwargs):
    rng = np.random.default_rng({"train": 0, "dev": 1, "test": 2}[subset])
    picks = rng.integers(0, len(SENTENCES), 40)
    texts = [SENTENCES[i][0] + " " + "the a"[: int(rng.integers(0, 5))] for i in picks]
    return Bunch(data=texts, target=np.array([SENTENCES[i][1] for i in picks]))


@pytest.fixture
def tiny_setup(tmp_path, monkeypatch):
    """Two tiny BERT folders and a fake dataset named 'toy'."""
    folders = []
    for seed in (0, 1):
        folder = tmp_path / f"bert{seed}"
        make_bert(seed).save_pretrained(folder)
        make_tokenizer("bert").save_pretrained(folder)
        folders.append(str(folder))
    monkeypatch.setitem(_registry.DATASETS, "toy", _fake_load_dataset)
    monkeypatch.setattr(_registry, "load_dataset", _fake_load_dataset)
    import elang_sk.datasets as datasets

    monkeypatch.setattr(datasets, "load_dataset", _fake_load_dataset)
    return folders, tmp_path


def test_run_writes_reports_and_tables(tiny_setup, capsys):
    """`elang-sk run` prints Table-1/2 style results and writes the reports."""
    (swift, super_), tmp_path = tiny_setup
    out = tmp_path / "out"
    code = cli.main(
        [
            "run",
            "--dataset",
            "toy",
            "--swift",
            swift,
            "--super",
            super_,
            "--data-home",
            str(tmp_path / "home"),
            "--output",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| Swift |" in printed and "| oracle |" in printed
    report = json.loads((out / "report.json").read_text())
    assert [r["model"] for r in report["table1"][:2]] == ["Swift", "Super"]
    assert {r["model"] for r in report["ablation"]} == {
        "energy",
        "softmax",
        "entropy",
        "random",
        "oracle",
    }
    oracle = report["ablation"][-1]
    assert oracle["accuracy"] >= max(r["accuracy"] for r in report["table1"])
    lo, hi = report["table1"][0]["accuracy_ci95"]
    assert lo <= report["table1"][0]["accuracy"] <= hi
    assert (out / "report.md").exists() and (out / "tradeoff.png").exists()
    assert report["versions"]["torch"]


def test_run_errors_are_one_line(tiny_setup, capsys):
    """Unknown datasets and missing models give a message and a non-zero exit."""
    (swift, _), tmp_path = tiny_setup
    assert cli.main(["run", "--dataset", "imagenet"]) == 2
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err
    code = cli.main(
        [
            "run",
            "--dataset",
            "toy",
            "--swift",
            swift,
            "--super",
            str(tmp_path / "no-such-model"),
            "--data-home",
            str(tmp_path / "home"),
            "--quiet",
            "--no-plots",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("elang-sk: error:") and "Traceback" not in err


def test_list_and_help(capsys):
    """`elang-sk list` names the datasets; no command prints the help."""
    assert cli.main(["list"]) == 0
    assert "movie_snippets" in capsys.readouterr().out
    assert cli.main([]) == 2


def test_timings_are_stored_and_reused(tmp_path):
    """A rerun reuses a stored timing; retime measures again."""
    from elang_sk._protocol import _Timings

    calls = []

    def measure():
        calls.append(1)
        return 0.5 * len(calls)

    path = tmp_path / "cache" / "timings.json"
    assert _Timings(str(path)).get(("predict", "model-a"), measure) == 0.5
    assert _Timings(str(path)).get(("predict", "model-a"), measure) == 0.5
    assert _Timings(str(path)).get(("predict", "model-b"), measure) == 1.0
    assert _Timings(str(path), retime=True).get(("predict", "model-a"), measure) == 1.5
    assert len(calls) == 3
