"""``elang-sk run --task translation``: the seq2seq table on a tiny trained pair.

The pair is trained in a temporary data home with tiny Marian configs and a
few dozen pairs (seconds); nothing touches the network (the UDHR part is
left out or its fetch fails offline and is skipped).
"""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("sacrebleu")

from builders import tiny_pair_home  # noqa: E402

from elang_sk import __main__ as cli  # noqa: E402
from elang_sk._protocol_translation import (  # noqa: E402
    TRAINED_ROUTERS,
    format_translation_markdown,
    run_translation_protocol,
)

EN = ["open file", "close file", "save file", "open window", "close window"]
EN += ["save window", "open menu", "close menu"]
RO = ["deschide fișier", "închide fișier", "salvează fișier", "deschide fereastra"]
RO += ["închide fereastra", "salvează fereastra", "deschide meniu", "închide meniu"]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def home(monkeypatch, tmp_path):
    """A data home whose pair folders hold tiny splits, trained on demand."""
    splits = {"train": (EN * 3, RO * 3), "dev": (EN, RO), "test": (EN[:6], RO[:6])}
    return tiny_pair_home(
        monkeypatch, tmp_path, splits, epochs=1, libreoffice=(True, False)
    )


SMALL = dict(head_epochs=1, head_positions=2, n_boot=20, time_sample=4)


def test_translation_table_trains_the_missing_pair_and_reports(home, capsys):
    out = home / "report"
    report = run_translation_protocol(
        data_home=home, output=out, out_of_domain=False, **SMALL
    )
    err = capsys.readouterr().err
    assert "training the English-Romanian pair" in err and "min on one CPU" in err
    assert report["pair"]["complete"]
    test = report["sets"]["test"]
    assert set(test["routers"]) == set(TRAINED_ROUTERS)
    for entry in test["routers"].values():
        assert set(entry["strategies"]) == {"crossing", "match_super", "risk_control"}
        assert len(entry["curve"]) == 21
        for q in entry["strategies"].values():
            lo, hi = q["bleu_ci"]
            assert lo <= q["bleu"] <= hi and 0 <= q["swift_ratio"] <= 1
    assert test["best_by_ranking"] in TRAINED_ROUTERS
    # Length, the confound of a sentence-level score: each score's rank
    # correlation with shortness, and the shortest-first reference ranking.
    for entry in test["routers"].values():
        rho = entry["spearman_with_shortness"]
        assert rho is None or -1 <= rho <= 1
    assert len(test["shortest_first"]["curve"]) == 21
    # Everything kept with the Swift costs the Swift's FLOPs, and the Super's
    # own row costs the Super's.
    assert test["swift"]["swift_ratio"] == 1 and test["super"]["flops_speedup"] == 1
    assert test["flops_per_sentence"]["swift"] < test["flops_per_sentence"]["super"]
    written = sorted(p.name for p in out.iterdir())
    assert written == [
        "learning_curve.png",
        "report.json",
        "report.md",
        "score_distribution.png",
        "tradeoff.png",
    ]
    markdown = (out / "report.md").read_text()
    assert markdown == format_translation_markdown(
        json.loads((out / "report.json").read_text())
    )
    assert "Best: **" in markdown and "| Super alone |" in markdown
    assert "Keeping the shortest sources with the Swift" in markdown


def test_translation_table_refuses_a_missing_pair_without_training(home):
    with pytest.raises(OSError, match="not trained"):
        run_translation_protocol(
            data_home=home, train_if_missing=False, out_of_domain=False, **SMALL
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_dev": 0}, "max_dev must be a positive integer"),
        ({"head_positions": 1.5}, "head_positions"),
        ({"n_boot": True}, "n_boot"),
        ({"device": "tpu"}, "--device"),
    ],
)
def test_translation_table_bad_arguments(home, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_translation_protocol(data_home=home, **kwargs)


def test_cli_runs_the_translation_table(home, capsys):
    out = home / "cli"
    argv = ["run", "--task", "translation", "--data-home", str(home)]
    argv += ["--output", str(out), "--corpus", "gettext", "--subsample", "6"]
    argv += ["--quiet", "--no-plots"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "# E-LANG seq2seq on the trained English-Romanian pair" in captured.out
    assert "the machine's gettext catalogs (" in captured.out
    report = json.loads((out / "report.json").read_text())
    assert report["configuration"]["libreoffice"] is False
    assert report["n_pairs"]["test"] == 6
    assert captured.err == ""  # --quiet
    # A rerun of another configuration in the same folder is refused.
    assert cli.main([*argv[:-2], "--corpus", "gettext+libreoffice"]) == 2
    assert "holds the report of another run" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--task", "translation", "--score", "softmax"], "--score does not apply"),
        (["--task", "translation", "--swift", "x"], "--swift does not apply"),
        (["--task", "translation", "--distill"], "--distill does not apply"),
        (["--task", "translation", "--dataset", "trec"], "not --dataset trec"),
        (["--dataset", "en_ro", "--threshold", "1.5"], "--threshold does not apply"),
        (["--task", "classification", "--dataset", "en_ro"], "translations, not"),
        (["--corpus", "gettext"], "--corpus applies to --task translation"),
    ],
)
def test_cli_translation_refuses_options_it_would_ignore(argv, match, capsys):
    assert cli.main(["run", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("elang-sk: error:") and match in err
