"""The elang-sk command and the protocol behind it, on tiny local models."""

import json
import re

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
            "--no-plots",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("elang-sk: error: --super ") and "Traceback" not in err
    # Refused before any work: no model was fitted, no split loaded.
    assert "no such folder" in err and "[elang-sk]" not in err


def test_list_and_help(capsys):
    """`elang-sk list` names the datasets; no command prints the help."""
    assert cli.main(["list"]) == 0
    assert "movie_snippets" in capsys.readouterr().out
    assert cli.main([]) == 2


def test_list_gives_sizes_descriptions_and_terms(capsys, tmp_path, monkeypatch):
    """Each dataset and model comes with its size, description and terms."""
    from elang_sk.datasets import DATASETS, PRETRAINED_MODELS

    monkeypatch.setenv("ELANG_SK_DATA", str(tmp_path))
    (tmp_path / "models" / "all-MiniLM-L6-v2").mkdir(parents=True)
    (tmp_path / "models" / "all-MiniLM-L6-v2" / "weights").write_bytes(b"0" * 3_000_000)
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    blocks = {block.split("\n")[0]: block for block in re.split(r"\n  (?=\S)", out)}
    for name in DATASETS:
        assert "size: " in blocks[name] and "terms: " in blocks[name]
    assert "Movie review snippets" in blocks["movie_snippets"]
    assert "size: 10,605; 2 classes" in blocks["movie_snippets"]
    assert "size: 3,000 in all; 2 classes" in blocks["uci_sentences"]
    for name in PRETRAINED_MODELS:
        assert PRETRAINED_MODELS[name].description in blocks[name]
        assert "licence: Apache-2.0" in blocks[name]
    assert "downloaded, 3 MB on disk" in blocks["all-MiniLM-L6-v2"]
    assert "not downloaded yet" in blocks["all-mpnet-base-v2"]


def test_run_help_documents_every_option(capsys):
    """Every option of `elang-sk run --help` has a help text."""
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "inputs per forward pass" in out
    assert "tokens kept per input" in out
    assert "skip tradeoff.png and score_distribution.png" in out
    assert "--subsample N quick first try" in out
    parser = cli._parser()
    subparser = parser._subparsers._group_actions[0].choices["run"]
    undocumented = [action.dest for action in subparser._actions if not action.help]
    assert undocumented == []


def test_run_subsample_and_wrote_line(tiny_setup, capfd):
    """--subsample N keeps N inputs per split; the wrote line names the PNGs;
    transformers' "Loading weights" bars stay hidden."""
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
            "--subsample",
            "24",
        ]
    )
    assert code == 0
    captured = capfd.readouterr()
    report = json.loads((out / "report.json").read_text())
    assert report["n_samples"] == {"train": 24, "dev": 24, "test": 24}
    wrote = [
        line
        for line in captured.err.splitlines()
        if line.startswith("[elang-sk] wrote")
    ]
    assert wrote == [
        "[elang-sk] wrote report.json, report.md, tradeoff.png, "
        f"score_distribution.png in {out}"
    ]
    assert (out / "score_distribution.png").exists()
    assert "Loading weights" not in captured.err + captured.out
    assert "[elang-sk] Super" in captured.err  # our own progress lines stay


def test_run_subsample_must_be_positive(capsys):
    """--subsample 0 is refused by the parser with a message."""
    with pytest.raises(SystemExit):
        cli.main(["run", "--subsample", "0"])
    assert "must be a positive integer, got 0" in capsys.readouterr().err


def test_quiet_loading_restores_the_progress_bar():
    """transformers' progress bars are back as they were after loading."""
    from transformers.utils import logging

    from elang_sk.hf._loading import quiet_loading

    assert logging.is_progress_bar_enabled()
    with quiet_loading():
        assert not logging.is_progress_bar_enabled()
    assert logging.is_progress_bar_enabled()


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


def test_protocol_reports_the_true_oracle_gap_and_cross_fit(tiny_setup):
    """Oracle at the Super's accuracy, APGR per score, risk rows on cross-fit rows."""
    from elang_sk._protocol import run_protocol

    (swift, super_), tmp_path = tiny_setup
    report = run_protocol(
        dataset="toy",
        swift_model=swift,
        super_model=super_,
        data_home=str(tmp_path / "home"),
        calibration="cross-fit",
        time_sample=4,
        quiet=True,
    )
    swift_row, super_row, _ = report["table1"]
    fewest, best = report["ablation"][-2:]
    assert fewest["strategy"] == "fewest Super calls at the Super's accuracy"
    assert super_row["accuracy"] <= fewest["accuracy"] <= best["accuracy"]
    assert fewest["swift_ratio"] >= best["swift_ratio"]
    risk = [r for r in report["ablation"] if r["strategy"].startswith("risk_control")]
    assert len(risk) == 8
    # 40 dev rows and 40 out-of-fold train rows.
    assert {r["n_calibration"] for r in risk} == {80}
    assert [g["score"] for g in report["gap_recovered"]] == [
        "energy",
        "softmax",
        "entropy",
        "random",
    ]
    from elang_sk._protocol import format_markdown

    text = format_markdown(report)
    assert "## Gap recovered" in text and "risk_control tol=0.01 delta=0.1" in text


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(calibration="train"), "calibration must be one of"),
        (dict(calibration="cross-fit", fine_tune_swift=True), "fine-tuned Swift"),
    ],
)
def test_protocol_calibration_errors(params, match):
    """A bad calibration, or cross-fit with a fine-tuned Swift, fails at once."""
    from elang_sk._protocol import run_protocol

    with pytest.raises(ValueError, match=match):
        run_protocol(dataset="toy", **params)


def test_rerun_reuses_timings_and_keeps_other_reports(tiny_setup, capfd):
    """A rerun replaces its own report and says that its timings are reused
    (and when they were measured); another configuration is refused unless
    --overwrite. Progress lines name the model and the split."""
    (swift, super_), tmp_path = tiny_setup
    out = tmp_path / "out"
    argv = ["run", "--dataset", "toy", "--swift", swift, "--super", super_]
    argv += ["--data-home", str(tmp_path / "home"), "--output", str(out)]
    argv += ["--subsample", "16", "--no-plots", "--device", "cpu"]
    assert cli.main(argv) == 0
    err = capfd.readouterr().err
    assert "[elang-sk] timings measured now" in err
    # Counts of distinct inputs: the cache computes each text once.
    for line in ("Super bert1: train features", "Swift bert0: train features"):
        assert re.search(rf"\[elang-sk\] {line} (\d+)/\1\n", err), err
    assert re.search(r"\[elang-sk\] Swift bert0: test (\d+)/\1\n", err), err
    assert json.loads((out / "report.json").read_text())["timings"]["origin"] == (
        "measured now"
    )

    assert cli.main(argv) == 0
    err = capfd.readouterr().err
    date = json.loads((out / "report.json").read_text())["timings"]["measured_on"]
    assert (
        f"[elang-sk] reusing timings measured on {date} (pass --retime to measure "
        "again)"
    ) in err
    assert "train features" not in err  # cached: no forward pass to report
    assert f"measured on {date}" in (out / "report.md").read_text()

    assert cli.main([*argv, "--score", "softmax"]) == 2
    err = capfd.readouterr().err
    assert "holds the report of another run (score 'energy' there" in err
    assert cli.main([*argv, "--score", "softmax", "--overwrite", "--retime"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["score"] == "softmax"
    assert report["timings"]["origin"] == "measured now"


def test_fixed_threshold_minus_inf_keeps_everything_with_the_swift(tiny_setup):
    """`--threshold -inf`: a fixed threshold, every input kept by the Swift."""
    (swift, super_), tmp_path = tiny_setup
    out = tmp_path / "out"
    argv = ["run", "--dataset", "toy", "--swift", swift, "--super", super_]
    argv += ["--data-home", str(tmp_path / "home"), "--output", str(out)]
    argv += ["--subsample", "16", "--no-plots", "--quiet", "--threshold", "-inf"]
    assert cli.main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["threshold_strategy"] == "fixed -inf"
    assert report["table1"][-1]["swift_ratio"] == 1.0
