"""The per-input output cache."""

import os
import subprocess
import sys
import threading

import joblib
import numpy as np
import pytest
from scipy import sparse

from elang_sk import OutputCache
from elang_sk._cache import _INDEXES, MEMORY_CONSTRAINTS, hash_inputs, resolve_cache
from elang_sk._fingerprint import fingerprint


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
    with pytest.warns(UserWarning, match="damaged.npz .*it was removed"):
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
    assert resolve_cache(tmp_path).location == str(tmp_path)
    assert resolve_cache(joblib.Memory(tmp_path, verbose=0)).location == str(tmp_path)
    cache = OutputCache(tmp_path)
    assert resolve_cache(cache) is cache
    with pytest.raises(ValueError, match="memory must be None, a folder path"):
        resolve_cache(3)


class _HasCache:
    def cache(self, func):
        return func


@pytest.mark.parametrize("memory", [3, b"bytes", _HasCache(), ["a"]])
def test_resolve_cache_accepts_exactly_the_memory_constraints(memory, tmp_path):
    """resolve_cache refuses what MEMORY_CONSTRAINTS refuses, and accepts the rest."""
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        validate_parameter_constraints,
    )

    constraints = {"memory": MEMORY_CONSTRAINTS}
    with pytest.raises(InvalidParameterError, match="'memory' parameter"):
        validate_parameter_constraints(constraints, {"memory": memory}, "f")
    with pytest.raises(InvalidParameterError, match="memory must be None"):
        resolve_cache(memory)
    for good in (None, str(tmp_path), tmp_path, joblib.Memory(tmp_path, verbose=0)):
        validate_parameter_constraints(constraints, {"memory": good}, "f")
        resolve_cache(good)


def test_hash_inputs_hashes_a_dataframe_by_rows():
    """A DataFrame is one input per row, keyed by its cells and column names."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"text": ["a", "b", "a"], "n": [1.0, 2.0, 1.0]})
    keys = hash_inputs(df)
    assert keys.shape == (3,)
    assert keys[0] == keys[2] != keys[1]
    renamed = hash_inputs(df.rename(columns={"n": "m"}))
    assert not set(renamed.tolist()) & set(keys.tolist())
    np.testing.assert_array_equal(hash_inputs(df.iloc[[2, 0]]), keys[[2, 0]])


@pytest.mark.parametrize("X", [{"text": ["a", "b"]}, "one text", b"bytes"])
def test_hash_inputs_rejects_a_bare_dict_or_text(X):
    """A dict (or one str) is refused instead of being read as its keys."""
    with pytest.raises(TypeError, match="Expected a sequence of inputs"):
        hash_inputs(X)


def _tfidf_pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = ["good film", "bad film", "fine plot", "awful plot"]
    return make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        texts, [1, 0, 1, 0]
    )


def test_fingerprint_follows_refits_and_in_place_edits():
    """A refit, an in-place array edit and an in-place dict edit change the key."""
    model = _tfidf_pipeline()
    first = fingerprint(model)
    assert first.startswith("Pipeline-")
    assert fingerprint(model) == first
    model.fit(["good film", "bad film", "great", "awful"], [1, 0, 1, 0])
    second = fingerprint(model)
    assert second != first
    model[-1].coef_[0, 0] += 1e-9  # one value of one array, in place
    third = fingerprint(model)
    assert third != second
    vocabulary = model[0].vocabulary_
    vocabulary["film"], vocabulary["good"] = vocabulary["good"], vocabulary["film"]
    assert fingerprint(model) != third


def test_reading_a_joint_model_leaves_its_fingerprint_alone():
    """Memos filled by reading a fitted joint model are not part of its key.

    The threshold selections it memoises (``thresholds_for``, a model card)
    and the Bunch warning memos that pickle drops would otherwise make the
    same model miss the cache; its threshold still counts.
    """
    import warnings

    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from elang_sk import JointClassifier

    X, y = make_classification(300, random_state=0)
    swift = LogisticRegression(C=0.01).fit(X[:150], y[:150])
    super_ = LogisticRegression().fit(X[:150], y[:150])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joint = JointClassifier(swift, super_).fit(X[150:], y[150:])
        before = fingerprint(joint)
        joint.thresholds_for("match_super")
        joint.expected_on_calibration(joint.thresholds_for(0.5))
        joint.predict(X[:5])
        assert fingerprint(joint) == before
        joint.set_params(threshold=0.5)
        assert fingerprint(joint) != before


def test_fingerprint_is_stable_across_processes():
    """A TF-IDF pipeline fitted in a new process (new hash seed) has the same key."""
    code = (
        "from tests.test_cache import _tfidf_pipeline;"
        "from elang_sk._fingerprint import fingerprint;"
        "print(fingerprint(_tfidf_pipeline()))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONHASHSEED="123")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == fingerprint(_tfidf_pipeline())


def test_fingerprint_uses_elang_fingerprint_and_refuses_unpicklable():
    """An own elang_fingerprint() is used; an unpicklable object gets a clear error."""

    class Own:
        def elang_fingerprint(self):
            return "v1"

    assert fingerprint(Own()) == "Own-v1"
    assert fingerprint([Own()]) != fingerprint([Own(), Own()])
    with pytest.raises(TypeError, match="Give it an elang_fingerprint"):
        fingerprint(threading.Lock())


def test_fingerprint_hashes_function_code_and_closures():
    """Two functions with the same name but other code or closures differ."""

    def make(offset):
        def f(x):
            return x + offset

        return f

    def g(x):
        return x * 2

    assert fingerprint(make(1)) == fingerprint(make(1))
    assert fingerprint(make(1)) != fingerprint(make(2))
    assert fingerprint(make(1)) != fingerprint(g)


@pytest.mark.parametrize(
    "change",
    ["data_write", "no_grad_add", "optimizer_step", "load_state_dict", "buffer"],
)
def test_torch_fingerprint_is_never_stale(change):
    """Every usual way of changing torch weights changes the module's fingerprint."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    before = fingerprint(model)
    weight = model[0].weight
    version = weight._version
    if change == "data_write":
        weight.data[0, 0] += 1e-6
    elif change == "no_grad_add":
        with torch.no_grad():
            weight.add_(1e-6)
    elif change == "optimizer_step":
        model(torch.randn(5, 4)).sum().backward()
        torch.optim.SGD(model.parameters(), lr=0.1).step()
    elif change == "load_state_dict":
        state = {k: v.clone() for k, v in model.state_dict().items()}
        state["0.bias"][1] = 7.0
        model.load_state_dict(state)
    else:
        model[1].running_mean.data.fill_(0.5)
    if change == "data_write":
        assert weight._version == version  # the case a version counter misses
    assert fingerprint(model) != before


def test_tensor_checksum_sees_every_position():
    """Changing any single element (including a trailing odd byte) is seen."""
    torch = pytest.importorskip("torch")
    from elang_sk._fingerprint import tensor_digest

    for dtype, n in [(torch.float32, 37), (torch.float16, 11), (torch.bool, 13)]:
        tensor = torch.zeros(n, dtype=dtype)
        seen = {tensor_digest(tensor)}
        for i in range(n):
            tensor.data[i] = 1
            seen.add(tensor_digest(tensor))
            tensor.data[i] = 0
        assert len(seen) == n + 1
        assert tensor_digest(tensor.reshape(1, n)) not in seen


def test_module_fingerprint_is_device_and_dtype_aware():
    """A module's key covers dtypes and shapes; its digest matches module_digest."""
    torch = pytest.importorskip("torch")
    from elang_sk.hf._torch_utils import module_digest

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    assert module_digest(model) == fingerprint(model)
    assert fingerprint(model) != fingerprint(model.double())
    assert fingerprint(torch.nn.Linear(4, 2, bias=False)) != fingerprint(model)


def test_tokenizer_fingerprint_follows_its_settings():
    """A tokenizer's key changes with its vocabulary and its padding side."""
    pytest.importorskip("torch")
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")

    def make(words):
        backend = tokenizers.Tokenizer(
            tokenizers.models.WordLevel(
                {w: i for i, w in enumerate(["<pad>", "<unk>", *words])},
                unk_token="<unk>",
            )
        )
        backend.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
        return transformers.PreTrainedTokenizerFast(
            tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>"
        )

    tokenizer = make(["a", "b"])
    first = fingerprint(tokenizer)
    assert fingerprint(make(["a", "b"])) == first
    assert fingerprint(make(["a", "c"])) != first
    tokenizer.padding_side = "left"
    assert fingerprint(tokenizer) != first


def test_tokenizer_fingerprint_ignores_its_call_state():
    """A call with truncation and padding keeps the key; model_max_length does not."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from builders import tiny_tokenizer

    tokenizer = tiny_tokenizer(["a", "b", "c"], "t5")
    first = fingerprint(tokenizer)
    backend_json = tokenizer.backend_tokenizer.to_str()
    tokenizer(["a b c"], truncation=True, max_length=2, padding="max_length")
    # transformers stored the call's settings on the backend ...
    assert tokenizer.backend_tokenizer.to_str() != backend_json
    # ... which do not change what the next call without them tokenizes to.
    assert fingerprint(tokenizer) == first
    assert fingerprint([tokenizer]) == fingerprint(
        [tiny_tokenizer(["a", "b", "c"], "t5")]
    )
    tokenizer.model_max_length = 8
    assert fingerprint(tokenizer) != first
