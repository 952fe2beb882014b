"""Serving: chunked streaming, the scoring fast path, and bounded memory."""

import tracemalloc

import numpy as np
import pytest
from conftest import CountingClassifier
from sklearn.linear_model import LogisticRegression

from elang_sk import EnergyRouter, JointClassifier


def _numeric_pair(n=600, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 5)
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.randn(n) > 0).astype(int)
    swift = LogisticRegression(C=0.01).fit(X[:200, :2], y[:200])
    super_ = LogisticRegression().fit(X[:200], y[:200])
    return X, y, _Columns(swift, 2), _Columns(super_, 5)


class _Columns(CountingClassifier):
    """A pre-trained classifier on the first ``k`` columns, counting its calls."""

    def __init__(self, estimator, k=5):
        self.estimator = estimator
        self.k = k

    @property
    def batches(self):
        return self.__dict__.setdefault("_batches", [])

    def _record(self, method, X):
        self.batches.append((method, len(X)))

    def predict(self, X):
        self._record("predict", X)
        return self.estimator.predict(X[:, : self.k])

    def predict_proba(self, X):
        self._record("predict_proba", X)
        return self.estimator.predict_proba(X[:, : self.k])

    def decision_function(self, X):
        self._record("decision_function", X)
        return self.estimator.decision_function(X[:, : self.k])

    def transform(self, X):
        self._record("transform", X)
        return X[:, : self.k]

    def __sklearn_tags__(self):
        return super(CountingClassifier, self).__sklearn_tags__()


def _fitted_joint(router="softmax", threshold="crossing"):
    X, y, swift, super_ = _numeric_pair()
    clf = JointClassifier(swift, super_, router=router, threshold=threshold)
    return clf.fit(X[200:400], y[200:400]), X[400:], swift, super_


def test_chunked_serving_equals_one_chunk():
    """A tiny chunk size gives the same answers, scores and routing as one chunk."""
    clf, X, _, _ = _fitted_joint()
    whole = {
        "predict": clf.predict(X),
        "predict_proba": clf.predict_proba(X),
        "routing_scores": clf.routing_scores(X),
        "served_by": clf.served_by(X),
    }
    assert 0 < (whole["served_by"] == "super").sum() < len(X)
    clf.serving_chunk_size = 7
    for method, expected in whole.items():
        got = getattr(clf, method)(X)
        assert got.dtype == expected.dtype, method
        if got.dtype.kind == "f":
            # BLAS may round a row differently in a batch of another size.
            np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=method)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=method)


def test_super_runs_per_chunk_on_routed_rows_only():
    """Chunked predict calls the Super once per chunk, on that chunk's routed rows."""
    clf, X, swift, super_ = _fitted_joint()
    routed = clf.served_by(X) == "super"
    swift.batches.clear()
    super_.batches.clear()
    clf.serving_chunk_size = 50
    clf.predict(X)
    calls = [size for method, size in super_.batches if method == "predict"]
    expected = [int(routed[i : i + 50].sum()) for i in range(0, len(X), 50)]
    assert calls == [size for size in expected if size]
    scored = [size for method, size in swift.batches if method != "predict"]
    assert scored == [50, 50, 50, 50]


@pytest.mark.filterwarnings("ignore::elang_sk.EnergyLogitsWarning")
def test_fast_scores_match_the_checked_router():
    """The router's fast path scores exactly as its checked path does."""
    for router in ("energy", "softmax", "random", EnergyRouter(head=False)):
        clf, X, _, _ = _fitted_joint(router=router)
        details = clf.routing_details(X, super_model=False)
        np.testing.assert_array_equal(clf.routing_scores(X), details.scores)
        if details.logits is not None and not clf.router_.head_:
            router_input = np.ascontiguousarray(details.logits, dtype=np.float64)
            # A list takes the checked path (validate_data), an array the fast one.
            np.testing.assert_array_equal(
                clf.router_.score_samples(router_input),
                clf.router_.score_samples(router_input.tolist()),
            )


@pytest.mark.filterwarnings("ignore::elang_sk.EnergyLogitsWarning")
def test_fast_scores_refuse_non_finite_logits():
    """Non-finite Swift outputs leave the fast path and fail with the router's error."""
    clf, X, swift, _ = _fitted_joint(router=EnergyRouter(head=False))
    swift.estimator.coef_ = swift.estimator.coef_ * np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        clf.predict(X)


def test_bad_chunk_size():
    """A chunk size below one input is refused with the fix in the message."""
    clf, X, _, _ = _fitted_joint()
    clf.serving_chunk_size = 0
    with pytest.raises(ValueError, match="serving_chunk_size must be a positive"):
        clf.predict(X)


def test_progress_bar_over_chunks(capsys):
    """serving_progress=True draws a bar over chunks; 'auto' is quiet off a TTY."""
    pytest.importorskip("tqdm")
    clf, X, _, _ = _fitted_joint()
    clf.serving_chunk_size = 20
    clf.predict(X)
    assert "input" not in capsys.readouterr().err
    clf.serving_progress = True
    clf.predict(X)
    assert "0/200 [" in capsys.readouterr().err


def _peak_bytes(clf, X):
    tracemalloc.start()
    try:
        clf.predict(X)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_flat_in_the_number_of_inputs():
    """Chunked predict's peak memory grows far slower than n; one chunk's with n."""
    clf, _, _, _ = _fitted_joint()
    rng = np.random.RandomState(1)
    small, large = rng.randn(20_000, 5), rng.randn(200_000, 5)
    clf.serving_chunk_size = 2_000
    chunked = _peak_bytes(clf, small), _peak_bytes(clf, large)
    clf.serving_chunk_size = 10**9
    whole = _peak_bytes(clf, small), _peak_bytes(clf, large)
    # 10x the inputs: one chunk needs ~10x the memory; streaming needs only the
    # answers (8 bytes), the mask and the scores (9 bytes) per input.
    assert whole[1] > 8 * whole[0]
    assert chunked[1] < 0.25 * whole[1]
    assert chunked[1] - chunked[0] < 20 * (200_000 - 20_000)


def test_transformer_pair_chunked_and_fast_path_match_reference():
    """Tiny BERT pair (CPU fp32): predictions equal the Swift/Super reference."""
    pytest.importorskip("torch")
    from test_transformers import X_TRAIN, Y_TRAIN, make_bert, make_tokenizer

    from elang_sk.hf._transformers import TransformerClassifier

    def model(seed):
        return TransformerClassifier(
            make_bert(seed),
            make_tokenizer("bert"),
            max_length=64,
            progress=False,
            device="cpu",
        ).fit(X_TRAIN, Y_TRAIN)

    swift, super_ = model(0), model(1)
    X = X_TRAIN * 4
    costs = {"swift": 1.0, "super": 8.0}  # no FLOPs counting: keep the test fast
    clf = JointClassifier(swift, super_, costs=costs, cv=None).fit(X, Y_TRAIN * 4)
    scores = clf.router_.score_samples(swift.predict_logits(X))
    keep = scores >= clf.threshold_
    reference = np.where(keep, swift.predict(X), super_.predict(X))
    np.testing.assert_array_equal(clf.routing_scores(X), scores)
    np.testing.assert_array_equal(clf.predict(X), reference)
    clf.serving_chunk_size = 3
    np.testing.assert_array_equal(clf.predict(X), reference)
    np.testing.assert_allclose(clf.routing_scores(X), scores, rtol=1e-6)


def test_run_batches_bucket_lengths_on_cpu():
    """min_ratio ends a batch before a much shorter input; rows come back in order."""
    pytest.importorskip("torch")
    from elang_sk.hf._torch_utils import run_batches

    lengths = [4, 10, 5, 9, 3]
    seen = []

    def forward(rows):
        seen.append(sorted(lengths[i] for i in rows))
        return np.asarray(rows, dtype=float)[:, None]

    out = run_batches(lengths, 4, forward, progress=False, min_ratio=0.8)
    assert seen == [[9, 10], [4, 5], [3]]
    np.testing.assert_array_equal(out[:, 0], np.arange(5))
    seen.clear()
    run_batches(lengths, 4, forward, progress=False)
    assert seen == [[4, 5, 9, 10], [3]]
