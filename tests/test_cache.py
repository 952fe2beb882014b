"""The per-input output cache."""

import os

import joblib
import numpy as np
import pytest
from scipy import sparse

from elang_sk import OutputCache
from elang_sk._cache import _INDEXES, hash_inputs, resolve_cache


class _Counter:
    def __init__(self, fn):
        self.fn, self.rows = fn, []

    def __call__(self, X):
        self.rows.extend(X if isinstance(X, list) else list(range(X.shape[0])))
        return self.fn(X)


def _lengths(X):
    return np.array([[len(x), x.count("a")] for x in X], dtype=float)


def test_hash_inputs_per_text_row_and_sparse_row():
    """Equal inputs hash equal, different ones differ, for every input kind."""
    texts = hash_inputs(["a", "b", "a"])
    assert texts[0] == texts[2] != texts[1]
    dense = hash_inputs(np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 1.0]]))
    assert dense[0] == dense[1] != dense[2]
    assert hash_inputs(np.array([[1.0, 2.0]], np.float32))[0] != dense[0]
    rows = sparse.csr_matrix(np.array([[0, 1.0], [0, 1.0], [1.0, 0]]))
    hashed = hash_inputs(rows)
    assert hashed[0] == hashed[1] != hashed[2]


def test_only_missing_inputs_are_computed(tmp_path):
    """A second call computes only the inputs not seen before, once each."""
    cache = OutputCache(tmp_path)
    counter = _Counter(_lengths)
    first, _ = cache.get_or_compute("m/f", ["a", "bb", "a"], counter)
    second, _ = cache.get_or_compute("m/f", ["bb", "aaa", "aaa"], counter)
    assert counter.rows == ["a", "bb", "aaa"]
    np.testing.assert_array_equal(first, _lengths(["a", "bb", "a"]))
    np.testing.assert_array_equal(second, _lengths(["bb", "aaa", "aaa"]))


def test_cache_is_shared_across_processes(tmp_path):
    """A fresh process (empty in-memory index) reads what another one wrote."""
    OutputCache(tmp_path).get_or_compute("m/f", ["x", "y"], _lengths)
    _INDEXES.clear()
    counter = _Counter(_lengths)
    values, _ = OutputCache(tmp_path).get_or_compute("m/f", ["y", "x"], counter)
    assert counter.rows == []
    np.testing.assert_array_equal(values, _lengths(["y", "x"]))


def test_measured_seconds_survive_cache_hits(tmp_path):
    """The compute time stored with a row is returned on every later hit."""
    cache = OutputCache(tmp_path)
    _, first = cache.get_or_compute("m/f", ["a", "b"], _lengths)
    _, again = cache.get_or_compute("m/f", ["b", "a"], _lengths)
    np.testing.assert_array_equal(again, first[::-1])


def test_sparse_and_text_outputs_round_trip(tmp_path):
    """Sparse matrices and strings come back as they were computed."""
    cache = OutputCache(tmp_path)

    def sparse_out(X):
        return sparse.csr_matrix(_lengths(X))

    values, _ = cache.get_or_compute("m/s", ["ab", "c"], sparse_out)
    values, _ = cache.get_or_compute("m/s", ["c", "d", "ab"], sparse_out)
    assert sparse.issparse(values)
    np.testing.assert_array_equal(values.toarray(), _lengths(["c", "d", "ab"]))

    def text_out(X):
        return np.array([x.upper() for x in X], dtype=object)

    cache.get_or_compute("m/t", ["ab"], text_out)
    values, _ = cache.get_or_compute("m/t", ["c", "ab"], text_out)
    assert values.tolist() == ["C", "AB"]


def test_interrupted_and_damaged_shards_are_never_read(tmp_path):
    """Leftover temporary files and damaged shards are ignored, not trusted."""
    cache = OutputCache(tmp_path)
    folder = os.path.join(cache.root, "m", "f")
    os.makedirs(folder)
    with open(os.path.join(folder, "half-written.tmp"), "wb") as fh:
        fh.write(b"PK\x03\x04 interrupted")
    with open(os.path.join(folder, "damaged.npz"), "wb") as fh:
        fh.write(b"not a zip file")
    counter = _Counter(_lengths)
    values, _ = cache.get_or_compute("m/f", ["a"], counter)
    assert counter.rows == ["a"]
    np.testing.assert_array_equal(values, _lengths(["a"]))


def test_failed_compute_leaves_no_entry(tmp_path):
    """An exception while computing stores nothing."""
    cache = OutputCache(tmp_path)

    def boom(X):
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="crashed"):
        cache.get_or_compute("m/f", ["a"], boom)
    assert cache.size_bytes() == 0


def test_size_and_clear(tmp_path):
    """The cache reports its size and can be emptied."""
    cache = OutputCache(tmp_path)
    cache.get_or_compute("m/f", ["a", "b"], _lengths)
    assert cache.size_bytes() > 0
    cache.clear()
    assert cache.size_bytes() == 0
    counter = _Counter(_lengths)
    cache.get_or_compute("m/f", ["a"], counter)
    assert counter.rows == ["a"]


def test_resolve_cache(tmp_path):
    """memory accepts None, a path, a joblib.Memory or an OutputCache."""
    assert resolve_cache(None) is None
    assert resolve_cache(joblib.Memory(None)) is None
    assert resolve_cache(str(tmp_path)).location == str(tmp_path)
    assert resolve_cache(joblib.Memory(tmp_path, verbose=0)).location == str(tmp_path)
    cache = OutputCache(tmp_path)
    assert resolve_cache(cache) is cache
    with pytest.raises(ValueError, match="memory must be"):
        resolve_cache(3)


def test_fingerprint_is_memoised_but_follows_refits():
    """A model is hashed once, and a refit (even in place) changes its key."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from elang_sk._outputs import _FINGERPRINTS, fingerprint

    model = make_pipeline(TfidfVectorizer(), LogisticRegression())
    model.fit(["good film", "bad film", "fine plot", "awful plot"], [1, 0, 1, 0])
    first = fingerprint(model)
    assert _FINGERPRINTS[model][1] == first
    assert fingerprint(model) == first
    model.fit(["good film", "bad film", "great", "awful"], [1, 0, 1, 0])
    assert fingerprint(model) != first
    model[-1].coef_ = model[-1].coef_ * 2
    second = fingerprint(model)
    model[-1].coef_ *= 2  # in place: same object, new values
    assert fingerprint(model) != second
