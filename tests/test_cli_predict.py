"""`elang-sk predict`: in process unless Ray is asked for; files in, files out."""

import json
import os
import re
import subprocess
import sys
from argparse import Namespace

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("skops")
pytest.importorskip("pyarrow")

from test_persist import make_texts, text_joint

from elang_sk import _cli_predict, save_joint
from elang_sk.__main__ import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A fitted joint model, its folder, and 30 new texts."""
    joint = text_joint()
    folder = save_joint(joint, tmp_path_factory.mktemp("cli") / "model")
    X, _ = make_texts(30, seed=11)
    return joint, folder, X


def run(folder, source, output, *extra):
    return main(
        ["predict", "--model", str(folder), "--input", str(source)]
        + ["--output", str(output), *extra]
    )


def test_parquet_in_parquet_out_with_progress(saved, tmp_path, capsys):
    """Predictions equal joint.predict at --threshold; a progress bar is shown."""
    joint, folder, X = saved
    pd.DataFrame({"review": X, "id": range(30)}).to_parquet(tmp_path / "in.parquet")
    code = run(
        folder,
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        "--threshold",
        "2.0",
        "--text-column",
        "review",
        "--batch-size",
        "8",
    )
    assert code == 0
    out = pd.read_parquet(tmp_path / "out.parquet")
    joint.set_params(threshold=2.0)
    np.testing.assert_array_equal(out["prediction"], joint.predict(X))
    np.testing.assert_array_equal(out["served_by"], joint.served_by(X))
    assert out["id"].tolist() == list(range(30))
    err = capsys.readouterr().err
    assert "30/30" in err and "ran in this process" in err


def test_jsonl_and_text_inputs(saved, tmp_path, capsys):
    """JSON lines to CSV, and one text per line to JSON lines; --quiet is quiet."""
    joint, folder, X = saved
    joint.set_params(threshold="crossing")
    pd.DataFrame({"text": X}).to_json(
        tmp_path / "in.jsonl", orient="records", lines=True
    )
    assert run(folder, tmp_path / "in.jsonl", tmp_path / "out.csv", "--quiet") == 0
    assert capsys.readouterr().err == ""
    out = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_array_equal(out["prediction"], joint.predict(X))

    (tmp_path / "in.txt").write_text("\n".join(X) + "\n")
    assert run(folder, tmp_path / "in.txt", tmp_path / "sub" / "out.jsonl") == 0
    rows = [json.loads(line) for line in open(tmp_path / "sub" / "out.jsonl")]
    assert [row["prediction"] for row in rows] == joint.predict(X).tolist()
    assert len(rows[0]["probabilities"]) == 2


def test_runs_in_process_without_ray(saved, tmp_path, monkeypatch, capsys):
    """The deprecated --ray-min-rows says so; without ray it runs in process."""
    joint, folder, X = saved
    monkeypatch.setattr(_cli_predict, "_ray_available", lambda: False)
    pd.DataFrame({"text": X}).to_parquet(tmp_path / "in.parquet")
    argv = ["--ray-min-rows", "1"]
    assert run(folder, tmp_path / "in.parquet", tmp_path / "o.parquet", *argv) == 0
    err = capsys.readouterr().err
    assert "ran in this process" in err
    assert "warning: --ray-min-rows is deprecated" in err and "--ray-address" in err


def test_large_input_runs_in_process_unless_ray_is_asked(
    saved, tmp_path, monkeypatch, capsys
):
    """12,000 rows (over the old automatic switch at 10,000) run in process:
    Ray only when asked (--ray-address, or a --ray flag)."""
    import elang_sk.distributed

    joint, folder, X = saved

    def no_ray(*args, **kwargs):
        raise AssertionError("predict_dataset (Ray) was called")

    monkeypatch.setattr(elang_sk.distributed, "predict_dataset", no_ray)
    texts = [X[i % len(X)] for i in range(12_000)]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    assert run(folder, tmp_path / "in.txt", tmp_path / "o.parquet", "--quiet") == 0
    out = pd.read_parquet(tmp_path / "o.parquet")
    joint.set_params(threshold="crossing")
    np.testing.assert_array_equal(out["prediction"], joint.predict(texts))
    assert capsys.readouterr().err == ""
    # The rule, with the parser's defaults, --ray and --ray-address.
    args = dict(ray_address=None, ray_min_rows=None)
    assert not _cli_predict.use_ray(Namespace(**args), n_rows=10**7)
    assert _cli_predict.use_ray(Namespace(**args, ray=True))
    assert _cli_predict.use_ray(Namespace(**{**args, "ray_address": "local"}))
    assert not _cli_predict.use_ray(Namespace(ray_address=None, ray_min_rows=None))


def test_ray_logs_stay_out_of_the_output(saved, tmp_path):
    """On a Ray it starts (--ray-address local), the command prints its one
    closing line: none of Ray's logs, progress bars or core messages."""
    pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    joint, folder, X = saved
    pd.DataFrame({"text": X}).to_parquet(tmp_path / "in.parquet")
    argv = [sys.executable, "-m", "elang_sk", "predict", "--model", str(folder)]
    argv += ["--input", str(tmp_path / "in.parquet")]
    argv += ["--output", str(tmp_path / "out.parquet"), "--ray-address", "local"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wrote 30 predictions"), lines
    assert "(ran in Ray; " in lines[0] and "swift: " in lines[0]
    joint.set_params(threshold="crossing")
    out = pd.read_parquet(tmp_path / "out.parquet")
    np.testing.assert_array_equal(out["prediction"], joint.predict(X))


def test_bad_rows_are_written_and_reported(saved, tmp_path, capsys):
    """A row without text fails alone: exit status 1, the others written."""
    joint, folder, X = saved
    joint.set_params(threshold="crossing")
    texts = list(X)
    texts[2] = None
    pd.DataFrame({"text": texts}).to_parquet(tmp_path / "in.parquet")
    assert run(folder, tmp_path / "in.parquet", tmp_path / "out.parquet") == 1
    assert "1 of 30 rows could not be predicted (first: row 2: " in (
        capsys.readouterr().err
    )
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["served_by"][2] == "error"
    good = [i for i in range(30) if i != 2]
    np.testing.assert_array_equal(
        out["prediction"][good].to_numpy(dtype=int), joint.predict([X[i] for i in good])
    )


def test_clear_errors(saved, tmp_path, capsys):
    """Bad options exit with status 2, data that cannot be predicted with 1;
    both print one line saying what to do."""
    _, folder, X = saved
    pd.DataFrame({"review": X}).to_parquet(tmp_path / "in.parquet")
    pd.DataFrame({"text": X}).to_parquet(tmp_path / "texts.parquet")
    cases = [
        (tmp_path, tmp_path / "texts.parquet", "o.parquet", 1, "No manifest.json"),
        (folder, tmp_path / "in.xlsx", "o.parquet", 2, "--input .* must end in one"),
        (folder, tmp_path / "in.parquet", "o.xlsx", 2, "--output .* must end in one"),
        (folder, tmp_path / "no.csv", "o.parquet", 2, "--input .*: no such file"),
        (folder, tmp_path / "in.parquet", "o.parquet", 1, "no column 'text'"),
    ]
    for model, source, output, status, message in cases:
        assert run(model, source, tmp_path / output) == status
        err = capsys.readouterr().err
        assert re.search("elang-sk: error: .*" + message, err), err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_threshold_minus_inf_keeps_everything_with_the_swift(saved, tmp_path):
    """--threshold -inf (no "=") is a value, not an option: all Swift."""
    _, folder, X = saved
    pd.DataFrame({"text": X}).to_parquet(tmp_path / "in.parquet")
    for argv in (["--threshold", "-inf"], ["--threshold=-inf"]):
        out = tmp_path / "out.parquet"
        assert run(folder, tmp_path / "in.parquet", out, "--quiet", *argv) == 0
        assert set(pd.read_parquet(out)["served_by"]) == {"swift"}


def test_summary_counts_every_stage_of_a_cascade(tmp_path, capsys):
    """The closing line names a cascade's stages, not "swift" and "super"."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from elang_sk import CascadeClassifier

    texts = ["good film", "great plot", "bad film", "awful plot"] * 20
    labels = [1, 1, 0, 0] * 20

    def pipe(C):
        return make_pipeline(TfidfVectorizer(), LogisticRegression(C=C)).fit(
            texts, labels
        )

    cascade = CascadeClassifier(
        [("small", pipe(0.1)), ("mid", pipe(1)), ("big", pipe(10))],
        routers="softmax",
        cv=2,
    ).fit(texts, labels)
    folder = save_joint(cascade, tmp_path / "cascade")
    pd.DataFrame({"text": texts[:8]}).to_csv(tmp_path / "in.csv", index=False)
    argv = ["predict", "--model", str(folder), "--input", str(tmp_path / "in.csv")]
    assert main(argv + ["--output", str(tmp_path / "out.csv")]) == 0
    served = pd.read_csv(tmp_path / "out.csv")["served_by"].value_counts()
    expected = ", ".join(
        f"{name}: {served.get(name, 0)}" for name in ("small", "mid", "big")
    )
    assert expected in capsys.readouterr().err
