"""predict_dataset on a local Ray cluster, and its in-process twin predict_frame."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

pytest.importorskip("skops")
import builders
import test_persist
from builders import make_pairs
from test_persist import make_texts, text_joint

from elang_sk import CascadeClassifier, JointClassifier, save_joint
from elang_sk.distributed import (
    BadRowsError,
    pool_shares,
    predict_frame,
    read_timeline,
)


def test_import_elang_sk_imports_neither_ray_nor_torch():
    """A fresh `import elang_sk` (and its distributed module) leaves ray unloaded."""
    code = (
        "import sys, elang_sk, elang_sk.distributed; "
        "assert 'ray' not in sys.modules and 'torch' not in sys.modules, "
        "sorted(m for m in ('ray', 'torch') if m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class RecordingSuper(ClassifierMixin, BaseEstimator):
    """A fitted classifier that logs the inputs of each predict to a file.

    With ``kill_marker``, the first call in any process creates the marker
    and kills its own process: a worker dying mid-run.
    """

    def __init__(self, inner=None, log=None, kill_marker=None):
        self.inner = inner
        self.log = log
        self.kill_marker = kill_marker

    def fit(self, X, y):
        self.inner = make_pipeline(TfidfVectorizer(), LogisticRegression(C=30))
        self.inner.fit(X, y)
        return self

    def __sklearn_is_fitted__(self):
        return self.inner is not None

    @property
    def classes_(self):
        return self.inner.classes_

    def predict(self, X):
        if self.kill_marker is not None and not os.path.exists(self.kill_marker):
            open(self.kill_marker, "w").close()
            os._exit(1)
        if self.log is not None:
            with open(self.log, "a") as f:
                f.write(json.dumps(list(X)) + "\n")
        return self.inner.predict(X)

    def predict_proba(self, X):
        return self.inner.predict_proba(X)


def recording_joint():
    """A fitted joint model whose Super is a RecordingSuper (not logging yet)."""
    X, y = make_texts(160)
    swift = make_pipeline(TfidfVectorizer(), LogisticRegression(C=0.3))
    swift.fit(X[:80], y[:80])
    big = RecordingSuper().fit(X[:80], y[:80])
    return JointClassifier(swift, big, router="entropy").fit(X[80:], y[80:])


class HandshakeSwift(ClassifierMixin, BaseEstimator):
    """A fitted classifier that, given ``marker``, waits for the Super to start.

    On the batch that holds ``marker`` (the last row of the input), it waits
    (at most ``wait`` seconds) for the file ``started`` to exist, the log the
    Super writes on its first call, and records in ``record`` whether it
    appeared: with stages that stream, the Super answers the first blocks
    while the Swift is still on the last one; with a materialization between
    them, it could not start before the Swift had finished.
    """

    def __init__(self, inner=None, marker=None, started=None, record=None, wait=120):
        self.inner = inner
        self.marker = marker
        self.started = started
        self.record = record
        self.wait = wait

    def fit(self, X, y):
        self.inner = make_pipeline(TfidfVectorizer(), LogisticRegression(C=0.3))
        self.inner.fit(X, y)
        return self

    def __sklearn_is_fitted__(self):
        return self.inner is not None

    @property
    def classes_(self):
        return self.inner.classes_

    def _handshake(self, X):
        if self.marker is None or self.marker not in list(X):
            return
        deadline = time.monotonic() + self.wait
        while not os.path.exists(self.started) and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(self.record, "w") as f:
            json.dump({"super_started_first": os.path.exists(self.started)}, f)

    def predict(self, X):
        self._handshake(X)
        return self.inner.predict(X)

    def predict_proba(self, X):
        self._handshake(X)
        return self.inner.predict_proba(X)


def check_matches(result, joint, X, threshold):
    """``result`` (a frame) is what ``joint.predict`` gives at ``threshold``."""
    joint.set_params(threshold=threshold)
    assert result["row_id"].tolist() == list(range(len(X)))
    assert result["text"].tolist() == list(X)
    np.testing.assert_array_equal(result["prediction"].to_numpy(), joint.predict(X))
    np.testing.assert_array_equal(result["served_by"].to_numpy(), joint.served_by(X))
    np.testing.assert_array_equal(result["routing_score"], joint.routing_scores(X))
    if hasattr(joint, "predict_proba"):
        proba = np.array(result["probabilities"].tolist())
        np.testing.assert_allclose(proba, joint.predict_proba(X), rtol=1e-12)
    assert result["error"].isna().all()


# -- in process (no Ray) -----------------------------------------------------------


def test_predict_frame_matches_predict_and_threshold_knob():
    """predict_frame equals joint.predict; -inf keeps all, inf routes all."""
    joint = text_joint()
    X, _ = make_texts(70, seed=2)
    frame = pd.DataFrame({"text": X})
    t = float(np.median(joint.routing_scores(X)))
    check_matches(predict_frame(joint, frame, threshold=t, batch_size=16), joint, X, t)
    for threshold, served in ((-np.inf, "swift"), (np.inf, "super")):
        out = predict_frame(joint, frame, threshold=threshold)
        assert set(out["served_by"]) == {served}
        check_matches(out, joint, X, threshold)


def test_predict_frame_bad_rows():
    """Bad rows are named, the others predicted; raise keeps the full result."""
    joint = text_joint()
    X, _ = make_texts(12, seed=2)
    texts = list(X)
    texts[3], texts[7] = None, 3.5
    frame = pd.DataFrame({"text": pd.Series(texts, dtype=object)})
    out = predict_frame(joint, frame, on_error="record", batch_size=5)
    bad = out["served_by"] == "error"
    assert bad.tolist() == [i in (3, 7) for i in range(12)]
    assert out.loc[3, "error"].startswith("row 3: ")
    assert "row 7: " in out.loc[7, "error"] and out.loc[7, "prediction"] is None
    good = [i for i in range(12) if i not in (3, 7)]
    np.testing.assert_array_equal(
        out.loc[good, "prediction"].to_numpy(), joint.predict([X[i] for i in good])
    )
    with pytest.raises(BadRowsError, match=r"2 row\(s\) could not .*row 3: ") as info:
        predict_frame(joint, frame)
    assert info.value.n_bad == 2 and len(info.value.dataset) == 12


def test_predict_frame_refuses_bad_arguments():
    """Missing text column, taken output columns, unknown on_error: clear errors."""
    joint = text_joint()
    with pytest.raises(ValueError, match="no column 'text'.*text_column="):
        predict_frame(joint, pd.DataFrame({"review": ["a"]}))
    with pytest.raises(ValueError, match=r"output column\(s\) \['prediction'\]"):
        predict_frame(joint, pd.DataFrame({"text": ["a"], "prediction": [1]}))
    with pytest.raises(ValueError, match="on_error must be 'raise' or 'record'"):
        predict_frame(joint, pd.DataFrame({"text": ["a"]}), on_error="skip")
    with pytest.raises(ValueError, match="threshold=nan is not a routing threshold"):
        predict_frame(joint, pd.DataFrame({"text": ["a"]}), threshold=float("nan"))


def test_pool_shares():
    """The Super's share is (1 - r) c_super / (c_swift + (1 - r) c_super)."""
    swift, big = pool_shares(0.8, 1.0, 10.0)
    assert big == pytest.approx(2 / 3) and swift + big == pytest.approx(1)
    assert pool_shares(1.0, 1.0, 10.0) == (1.0, 0.0)
    with pytest.raises(ValueError, match="swift_ratio must be in"):
        pool_shares(1.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="super_cost must be a finite number > 0"):
        pool_shares(0.5, 1.0, 0.0)


# -- on a local Ray cluster ------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    """A local 2-CPU Ray cluster for the module; skipped if Ray cannot start."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            ignore_reinit_error=True,
            log_to_driver=False,
        )
    except Exception as exc:  # pragma: no cover - depends on the sandbox
        pytest.skip(f"Ray cannot start a local cluster here: {exc}")
    ray.data.DataContext.get_current().enable_progress_bars = False
    # The test helpers travel to the workers by value (they cannot import tests).
    for module in (sys.modules[__name__], test_persist, builders):
        ray.cloudpickle.register_pickle_by_value(module)
    yield ray
    for module in (sys.modules[__name__], test_persist, builders):
        ray.cloudpickle.unregister_pickle_by_value(module)
    ray.shutdown()


def read_log(path):
    if not path.exists():
        return []
    return [text for line in path.read_text().splitlines() for text in json.loads(line)]


def test_ray_matches_predict_and_super_sees_only_routed_rows(ray_cluster, tmp_path):
    """Equal to joint.predict at the call's threshold; the Super gets only the
    routed rows, each once."""
    from elang_sk.distributed import predict_dataset

    joint = recording_joint()
    X, _ = make_texts(60, seed=4)
    threshold = float(np.median(joint.routing_scores(X)))
    routed = [
        x for x, s in zip(X, joint.routing_scores(X), strict=True) if s < threshold
    ]
    assert 0 < len(routed) < len(X)
    joint.super_estimator_.log = str(tmp_path / "calls.jsonl")
    ds = ray_cluster.data.from_items([{"text": x} for x in X], override_num_blocks=3)
    out = predict_dataset(
        joint, ds, threshold=threshold, swift_batch_size=16, super_batch_size=8
    ).to_pandas()
    seen = read_log(tmp_path / "calls.jsonl")
    assert sorted(seen) == sorted(routed)
    joint.super_estimator_.log = None
    check_matches(out, joint, X, threshold)


def test_ray_stages_stream_in_input_order(ray_cluster, tmp_path):
    """The Super answers the first blocks while the Swift is still on the last:
    nothing between the stages waits for the whole dataset. The result is
    joint.predict's, in input order, and every block went through both."""
    from elang_sk.distributed import predict_dataset

    X, y = make_texts(160)
    swift = HandshakeSwift().fit(X[:80], y[:80])
    big = RecordingSuper().fit(X[:80], y[:80])
    joint = JointClassifier(swift, big, router="entropy").fit(X[80:], y[80:])
    swift, big = joint.swift_estimator_, joint.super_estimator_
    X, _ = make_texts(47, seed=15)
    X = X + ["good marker film"]  # the last row: its block comes last
    started, record = tmp_path / "super.jsonl", tmp_path / "handshake.json"
    swift.set_params(marker=X[-1], started=str(started), record=str(record))
    big.log = str(started)
    ds = ray_cluster.data.from_items([{"text": x} for x in X], override_num_blocks=6)
    out = predict_dataset(
        joint,
        ds,
        threshold=np.inf,  # every row is routed: every block has Super work
        swift_batch_size=8,
        super_batch_size=4,
        timeline=tmp_path / "timeline",
    ).to_pandas()
    assert json.loads(record.read_text()) == {"super_started_first": True}
    swift.marker = big.log = None
    check_matches(out, joint, X, np.inf)
    timeline = read_timeline(tmp_path / "timeline")
    for name, stage in timeline.groupby("name"):
        assert stage["rows"].sum() == len(X), name  # every row, once
        assert stage["computed"].sum() == len(X), name
    swift_rows = timeline[timeline["name"] == "swift"]
    super_rows = timeline[timeline["name"] == "super"]
    assert super_rows["start"].min() < swift_rows["end"].max()  # they overlap
    assert len(swift_rows) == 6  # blocks of 8 rows


def test_ray_keeps_given_row_ids_and_sorts_them(ray_cluster):
    """Given row ids are kept; the output is sorted by them."""
    from elang_sk.distributed import predict_dataset

    joint = text_joint()
    X, _ = make_texts(20, seed=16)
    ids = [100 - 3 * i for i in range(20)]  # decreasing
    ds = ray_cluster.data.from_items(
        [{"text": x, "row_id": i} for x, i in zip(X, ids, strict=True)]
    )
    out = predict_dataset(joint, ds, threshold=2.0, swift_batch_size=4).to_pandas()
    assert out["row_id"].tolist() == sorted(ids)
    back = out.set_index("row_id").loc[ids]
    joint.set_params(threshold=2.0)
    assert back["text"].tolist() == list(X)
    np.testing.assert_array_equal(back["prediction"].to_numpy(), joint.predict(X))


def test_ray_command_loads_folder_and_reads_files(ray_cluster, tmp_path):
    """`elang-sk predict --ray-address`: workers load the saved folder and Ray
    reads the Parquet input itself."""
    from elang_sk.__main__ import main

    joint = text_joint()
    folder = save_joint(joint, tmp_path / "model")
    X, _ = make_texts(40, seed=6)
    pd.DataFrame({"review": X}).to_parquet(tmp_path / "in.parquet")
    argv = ["predict", "--model", str(folder), "--input", str(tmp_path / "in.parquet")]
    argv += ["--output", str(tmp_path / "out.parquet"), "--ray-address", "local"]
    assert main(argv + ["--threshold", "2.0", "--text-column", "review"]) == 0
    out = pd.read_parquet(tmp_path / "out.parquet")
    check_matches(out.rename(columns={"review": "text"}), joint, X, 2.0)


def test_ray_bad_rows_do_not_lose_the_others(ray_cluster):
    """A missing and a non-text input are named; every other row is predicted."""
    from elang_sk.distributed import predict_dataset

    joint = text_joint()
    X, _ = make_texts(30, seed=7)
    texts = list(X)
    texts[4] = None
    ds = ray_cluster.data.from_pandas(pd.DataFrame({"text": texts}))
    with pytest.raises(BadRowsError, match=r"1 row\(s\) could not .*row 4: ") as info:
        predict_dataset(joint, ds, swift_batch_size=8)
    out = info.value.dataset.to_pandas()
    assert out["served_by"].tolist()[4] == "error"
    assert "TypeError" in out["error"][4] or "ValueError" in out["error"][4]
    good = [i for i in range(30) if i != 4]
    np.testing.assert_array_equal(
        out.loc[good, "prediction"].to_numpy(), joint.predict([X[i] for i in good])
    )
    assert out["row_id"].tolist() == list(range(30))


def test_ray_retries_a_killed_super_worker(ray_cluster, tmp_path):
    """A Super worker that kills its process once is restarted and its batch
    retried: no row lost, none duplicated."""
    from elang_sk.distributed import predict_dataset

    joint = recording_joint()
    X, _ = make_texts(50, seed=8)
    threshold = float(np.median(joint.routing_scores(X)))
    marker = tmp_path / "killed"
    joint.super_estimator_.kill_marker = str(marker)
    joint.super_estimator_.log = str(tmp_path / "calls.jsonl")
    ds = ray_cluster.data.from_items([{"text": x} for x in X])
    out = predict_dataset(joint, ds, threshold=threshold, super_batch_size=8)
    out = out.to_pandas()
    assert marker.exists()  # a worker did die
    joint.super_estimator_.kill_marker = joint.super_estimator_.log = None
    check_matches(out, joint, X, threshold)
    routed = [
        x for x, s in zip(X, joint.routing_scores(X), strict=True) if s < threshold
    ]
    assert sorted(read_log(tmp_path / "calls.jsonl")) == sorted(routed)


def test_transformer_classifiers_from_a_folder_in_process(tmp_path):
    """The stages on a TransformerClassifier folder give joint.predict's output.

    (Run in process: the Ray stages are these same classes; the Ray transport
    is tested with the sklearn and seq2seq models.)"""
    joint = test_persist.transformer_joint()
    folder = save_joint(joint, tmp_path / "tc")
    X, _ = make_texts(20, seed=9)
    t = float(np.median(joint.routing_scores(X)))
    out = predict_frame(folder, pd.DataFrame({"text": X}), threshold=t, batch_size=7)
    joint.set_params(threshold=t)
    np.testing.assert_array_equal(out["served_by"], joint.served_by(X))
    np.testing.assert_array_equal(out["prediction"], joint.predict(X))
    np.testing.assert_allclose(
        np.array(out["probabilities"].tolist()), joint.predict_proba(X), atol=1e-6
    )


def test_ray_seq2seq_from_a_folder(ray_cluster, tmp_path):
    """A JointSeq2Seq folder on Ray gives joint.predict's translations."""
    from elang_sk.distributed import predict_dataset

    joint = test_persist.seq2seq_joint()
    folder = save_joint(joint, tmp_path / "s2s")
    X, _ = make_pairs(12, seed=3)
    t = float(np.median(joint.routing_scores(X)))
    ds = ray_cluster.data.from_items([{"text": x} for x in X])
    out = predict_dataset(folder, ds, threshold=t, swift_batch_size=5).to_pandas()
    joint.set_params(threshold=t)
    np.testing.assert_array_equal(out["served_by"], joint.served_by(X))
    assert out["prediction"].tolist() == joint.predict(X).tolist()
    np.testing.assert_array_equal(out["routing_score"], joint.routing_scores(X))
    assert "probabilities" not in out.columns


def test_ray_refuses_bad_arguments(ray_cluster, tmp_path):
    """Unknown file types and missing columns fail before any model runs."""
    from elang_sk.distributed import predict_dataset

    joint = text_joint()
    with pytest.raises(ValueError, match=r"unknown file type '\.xlsx'"):
        predict_dataset(joint, tmp_path / "in.xlsx")
    ds = ray_cluster.data.from_items([{"review": "good film"}])
    with pytest.raises(ValueError, match="no column 'text'"):
        predict_dataset(joint, ds)
    with pytest.raises(ValueError, match="on_error must be"):
        predict_dataset(joint, ds, on_error="ignore")


def text_cascade():
    """A fitted three-stage cascade of TF-IDF + logistic regression pipelines."""
    X, y = make_texts(200, seed=11)
    stages = [
        (
            name,
            make_pipeline(TfidfVectorizer(), LogisticRegression(C=C)).fit(
                X[:100], y[:100]
            ),
        )
        for name, C in (("small", 0.05), ("mid", 1.0), ("big", 30.0))
    ]
    return CascadeClassifier(stages, routers="softmax", cv=2).fit(X[100:], y[100:])


@pytest.mark.parametrize("batch_size", [0, -4, 2.5, True, "8"])
def test_predict_frame_refuses_bad_batch_sizes(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        predict_frame(
            text_joint(), pd.DataFrame({"text": ["good"]}), batch_size=batch_size
        )


def test_predict_frame_runs_a_cascade_stage_by_stage():
    cascade = text_cascade()
    X, _ = make_texts(70, seed=12)
    out = predict_frame(cascade, pd.DataFrame({"text": X}), batch_size=16)
    assert out["prediction"].tolist() == cascade.predict(X).tolist()
    assert out["served_by"].tolist() == cascade.served_by(X).tolist()
    assert set(out["served_by"]) <= {"small", "mid", "big"}


def test_predict_frame_refuses_duplicate_row_ids():
    frame = pd.DataFrame({"text": ["good", "bad"], "row_id": [3, 3]})
    with pytest.raises(ValueError, match="row_id"):
        predict_frame(text_joint(), frame)


def test_ray_runs_a_cascade_from_its_folder(ray_cluster, tmp_path):
    """One actor pool per stage; each stage sees only what the one before passed."""
    from elang_sk.distributed import predict_dataset

    cascade = text_cascade()
    folder = save_joint(cascade, tmp_path / "cascade")
    X, _ = make_texts(60, seed=13)
    ds = ray_cluster.data.from_items([{"text": x} for x in X], override_num_blocks=3)
    # Half a CPU per actor: the three pools fit the 2-CPU cluster together.
    halves = dict(swift_num_cpus=0.5, super_num_cpus=0.5)
    out = predict_dataset(
        folder, ds, swift_batch_size=16, timeline=tmp_path / "timeline", **halves
    ).to_pandas()
    assert out["row_id"].tolist() == list(range(len(X)))
    assert out["prediction"].tolist() == cascade.predict(X).tolist()
    assert out["served_by"].tolist() == cascade.served_by(X).tolist()
    # Every block flows through every stage; each stage computes only the
    # rows the ones before it passed on.
    timeline = read_timeline(tmp_path / "timeline")
    served = out["served_by"].value_counts()
    rows = timeline.groupby("name")["rows"].sum()
    computed = timeline.groupby("name")["computed"].sum()
    assert rows.to_dict() == {"small": 60, "mid": 60, "big": 60}
    assert computed["small"] == 60
    assert computed["mid"] == 60 - served.get("small", 0)
    assert computed["big"] == served.get("big", 0)
    thresholds = [float(t) for t in cascade.thresholds_]
    out = predict_dataset(cascade, ds, threshold=[np.inf, np.inf]).to_pandas()
    assert set(out["served_by"]) == {"big"}
    with pytest.raises(ValueError, match="threshold has 1 values for the 2 routed"):
        predict_dataset(cascade, ds, threshold=thresholds[0])


def test_ray_mixed_bad_rows_in_one_block(ray_cluster):
    """None, a blank text and a number in one block are recorded, not fatal."""
    from elang_sk.distributed import predict_dataset

    joint = text_joint()
    X, _ = make_texts(12, seed=14)
    texts = list(X)
    texts[1], texts[5], texts[9] = None, "   ", 7
    frame = pd.DataFrame({"text": pd.Series(texts, dtype=object)})
    ds = ray_cluster.data.from_pandas(frame)
    out = predict_dataset(joint, ds, on_error="record").to_pandas()
    assert [out["served_by"][i] for i in (1, 5, 9)] == ["error"] * 3
    good = [i for i in range(12) if i not in (1, 5, 9)]
    assert (
        out.loc[good, "prediction"].tolist()
        == joint.predict([X[i] for i in good]).tolist()
    )
    with pytest.raises(BadRowsError, match=r"3 row\(s\) could not"):
        predict_dataset(joint, ds, on_error="raise")


def test_ray_checks_the_folder_before_workers_start(ray_cluster, tmp_path):
    from elang_sk import ModelFolderError
    from elang_sk.distributed import predict_dataset

    ds = ray_cluster.data.from_items([{"text": "good film"}])
    with pytest.raises(ModelFolderError, match="is not a folder"):
        predict_dataset(tmp_path / "missing", ds)
    dup = ray_cluster.data.from_items(
        [{"text": "good", "row_id": 1}, {"text": "bad", "row_id": 1}]
    )
    with pytest.raises(ValueError, match="row_id"):
        predict_dataset(text_joint(), dup)
    with pytest.raises(ValueError, match="swift_batch_size must be a positive"):
        predict_dataset(text_joint(), ds, swift_batch_size=0)
