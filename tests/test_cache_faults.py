"""Cache faults: each loses nothing, crashes nothing, and never returns a wrong row."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest
from scipy import sparse

import elang_sk._cache as cache_module
from elang_sk import OutputCache
from elang_sk._cache import _INDEXES, _BadShard, _checksum, _load_shard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMESPACE = "model/method"


def _lengths(X):
    return np.array([[len(x), x.count("a")] for x in X], dtype=float)


COMPUTE = {
    "dense": _lengths,
    "sparse": lambda X: sparse.csr_matrix(_lengths(X)),
    "str": lambda X: np.array([x.upper() for x in X], dtype=object),
}


class _Counter:
    def __init__(self, fn):
        self.fn, self.rows = fn, []

    def __call__(self, X):
        self.rows.extend(X)
        return self.fn(X)


def _as_list(values):
    return (
        values.toarray() if sparse.issparse(values) else np.asarray(values)
    ).tolist()


def _expected(kind, X):
    return _as_list(COMPUTE[kind](X))


def _folder(cache):
    return os.path.join(cache.root, *NAMESPACE.split("/"))


def _files(cache, suffix):
    return sorted(n for n in os.listdir(_folder(cache)) if n.endswith(suffix))


def _shard(cache):
    (name,) = _files(cache, ".npz")
    return os.path.join(_folder(cache), name)


def _rewrite(path, mutate, checksum=True):
    """Write the shard again after ``mutate``, with a matching checksum or not."""
    with np.load(path) as z:
        arrays = {name: z[name] for name in z.files}
    old = arrays.pop("checksum")
    mutate(arrays)
    if checksum is True:
        arrays["checksum"] = np.frombuffer(_checksum(arrays), np.uint8)
    elif checksum is False:
        arrays["checksum"] = old
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _truncate(path, size):
    with open(path, "r+b") as fh:
        fh.truncate(size(os.path.getsize(path)))


def _flip(path, position):
    with open(path, "r+b") as fh:
        data = bytearray(fh.read())
        data[position(path, bytes(data))] ^= 0xFF
        fh.seek(0)
        fh.write(data)


def _in_values(path, data):
    """Position of the first byte of the stored values (dense, sparse or str)."""
    with np.load(path) as z:
        field = "values" if "values" in z.files else "csr_data"
        return data.index(z[field].tobytes())


def _in_npy_header(path, data):
    return data.index(b"{'descr'") + 3


def _first_value_field(arrays):
    return "values" if "values" in arrays else "csr_data"


def _change_a_value(arrays):
    field = _first_value_field(arrays)
    values = arrays[field].copy()
    values.flat[0] = values.flat[0] + ("x" if values.dtype.kind == "U" else 1)
    arrays[field] = values


def _other_namespace(arrays):
    arrays["namespace"] = np.array("other/method")


def _object_keys(arrays):
    arrays["keys"] = arrays["keys"].astype(object)


DAMAGE = {
    "empty": lambda p: _truncate(p, lambda n: 0),
    "truncated": lambda p: _truncate(p, lambda n: n // 2),
    "last_byte_cut": lambda p: _truncate(p, lambda n: n - 1),
    "flipped_value_byte": lambda p: _flip(p, _in_values),
    "flipped_header_byte": lambda p: _flip(p, _in_npy_header),
    "not_a_zip": lambda p: np.save(open(p, "wb"), np.zeros(3)),
    "value_changed": lambda p: _rewrite(p, _change_a_value, checksum=False),
    "no_checksum": lambda p: _rewrite(p, lambda a: None, checksum=None),
    "keys_shorter": lambda p: _rewrite(p, lambda a: a.update(keys=a["keys"][:-1])),
    "seconds_missing": lambda p: _rewrite(p, lambda a: a.pop("seconds")),
    "seconds_float32": lambda p: _rewrite(
        p, lambda a: a.update(seconds=a["seconds"].astype(np.float32))
    ),
    "keys_int": lambda p: _rewrite(p, lambda a: a.update(keys=np.arange(2))),
    "extra_array": lambda p: _rewrite(p, lambda a: a.update(extra=np.zeros(2))),
    "other_namespace": lambda p: _rewrite(p, _other_namespace),
    "object_keys_need_pickle": lambda p: _rewrite(p, _object_keys, checksum=False),
}


@pytest.mark.parametrize("kind", sorted(COMPUTE))
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_shard_is_removed_and_recomputed(damage, kind, tmp_path):
    """A damaged or inconsistent shard is removed with a warning, then recomputed."""
    cache = OutputCache(tmp_path)
    cache.get_or_compute(NAMESPACE, ["a", "bb"], COMPUTE[kind])
    damaged = _shard(cache)
    DAMAGE[damage](damaged)
    _INDEXES.clear()  # as in a new process
    counter = _Counter(COMPUTE[kind])
    X = ["bb", "a", "ccc"]
    with pytest.warns(UserWarning, match="Skipped the output cache shard .*removed"):
        values, seconds = cache.get_or_compute(NAMESPACE, X, counter)
    assert sorted(counter.rows) == sorted(X)
    assert _as_list(values) == _expected(kind, X)
    assert seconds.shape == (3,)
    assert not os.path.exists(damaged)
    _INDEXES.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again, _ = cache.get_or_compute(NAMESPACE, X[::-1], counter)
    assert len(counter.rows) == 3
    assert _as_list(again) == _expected(kind, X[::-1])


@pytest.mark.parametrize("kind", sorted(COMPUTE))
def test_no_flipped_byte_is_ever_returned(kind, tmp_path):
    """Flipping a byte anywhere in a shard gets it refused or leaves its rows intact."""
    cache = OutputCache(tmp_path)
    cache.get_or_compute(NAMESPACE, ["a", "bb"], COMPUTE[kind])
    path = _shard(cache)
    with open(path, "rb") as fh:
        original = fh.read()
    good_keys, good_values, _ = _load_shard(path, NAMESPACE)
    refused = 0
    positions = range(0, len(original), 3)  # every region, in a few seconds
    for position in positions:
        damaged = bytearray(original)
        damaged[position] ^= 0x01
        with open(path, "wb") as fh:
            fh.write(damaged)
        try:
            keys, values, _ = _load_shard(path, NAMESPACE)
        except _BadShard:
            refused += 1
            continue
        assert keys.tolist() == good_keys.tolist()
        assert _as_list(values) == _as_list(good_values)
    # Only bytes outside every array (zip metadata) may flip unnoticed.
    assert refused > len(positions) // 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_non_regular_shard_name_does_not_hang(kind, tmp_path):
    """A FIFO or a folder named *.npz is skipped at once, and left in place."""
    cache = OutputCache(tmp_path)
    os.makedirs(_folder(cache))
    path = os.path.join(_folder(cache), "odd.npz")
    os.mkfifo(path) if kind == "fifo" else os.mkdir(path)
    result = {}

    def read():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result["values"] = cache.get_or_compute(NAMESPACE, ["a"], _lengths)[0]
        result["warnings"] = [str(w.message) for w in caught]

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the reader hangs on a non-regular file"
    assert result["values"].tolist() == _lengths(["a"]).tolist()
    assert any("not a regular file" in w for w in result["warnings"])
    assert os.path.exists(path)


def _fail_on_create(code):
    def mkstemp(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return "tempfile.mkstemp", mkstemp


def _fail_mid_write(code):
    def savez(fh, **arrays):
        fh.write(b"PK\x03\x04 partial")
        raise OSError(code, os.strerror(code))

    return "numpy.savez", savez


@pytest.mark.parametrize("kind", sorted(COMPUTE))
@pytest.mark.parametrize(
    "fault",
    [
        ("read_only", _fail_on_create, errno.EACCES),
        ("read_only_fs", _fail_on_create, errno.EROFS),
        ("disk_full", _fail_mid_write, errno.ENOSPC),
        ("quota", _fail_mid_write, errno.EDQUOT),
    ],
    ids=lambda f: f[0],
)
def test_unwritable_cache_computes_without_caching(fault, kind, tmp_path, monkeypatch):
    """A cache that cannot be written warns once and returns the computed rows."""
    _, make, code = fault
    cache = OutputCache(tmp_path)
    cache.get_or_compute(NAMESPACE, ["a"], COMPUTE[kind])  # one row already cached
    monkeypatch.setattr(*make(code))
    counter = _Counter(COMPUTE[kind])
    with pytest.warns(UserWarning, match=f"is not used .*{os.strerror(code)}"):
        values, seconds = cache.get_or_compute(NAMESPACE, ["b", "a", "b"], counter)
    assert counter.rows == ["b"]
    assert _as_list(values) == _expected(kind, ["b", "a", "b"])
    assert seconds.shape == (3,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning, not one per call
        values, _ = cache.get_or_compute(NAMESPACE, ["c"], counter)
    assert _as_list(values) == _expected(kind, ["c"])
    assert _files(cache, ".tmp") == []
    monkeypatch.undo()
    cache.get_or_compute(NAMESPACE, ["c"], counter)
    assert counter.rows == ["b", "c", "c"]
    cache.get_or_compute(NAMESPACE, ["c", "a"], counter)
    assert counter.rows == ["b", "c", "c"]


def test_read_only_folder_computes_without_caching(tmp_path):
    """A folder without write permission (a real one) warns and still answers."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except PermissionError:
            pass
        else:
            pytest.skip("this user (root?) can write to a read-only folder")
        counter = _Counter(_lengths)
        with pytest.warns(UserWarning, match="is not used .*Permission denied"):
            values, _ = OutputCache(folder).get_or_compute(NAMESPACE, ["a"], counter)
        assert values.tolist() == _lengths(["a"]).tolist()
    finally:
        folder.chmod(0o755)


def test_location_that_is_a_file_computes_without_caching(tmp_path):
    """A location that is a file, not a folder, warns and still answers."""
    location = tmp_path / "file"
    location.write_text("not a folder")
    with pytest.warns(UserWarning, match="is not used"):
        values, _ = OutputCache(location).get_or_compute(NAMESPACE, ["ab"], _lengths)
    assert values.tolist() == _lengths(["ab"]).tolist()


def test_unstorable_outputs_are_returned_uncached(tmp_path):
    """Object outputs that are not all str are returned, with a warning, uncached."""
    cache = OutputCache(tmp_path)

    def compute(X):
        return np.array([[len(x)] for x in X] + [None], dtype=object)[:-1]

    with pytest.warns(UserWarning, match="dtype object cannot be stored"):
        values, _ = cache.get_or_compute(NAMESPACE, ["a", "bb"], compute)
    assert values.tolist() == [[1], [2]]
    assert cache.size_bytes() == 0


def test_compute_returning_wrong_row_count_is_refused(tmp_path):
    """A compute function that drops rows raises instead of storing a bad shard."""
    cache = OutputCache(tmp_path)
    with pytest.raises(ValueError, match="compute returned 1 rows for 2 inputs"):
        cache.get_or_compute(NAMESPACE, ["a", "b"], lambda X: _lengths(X[:1]))
    assert cache.size_bytes() == 0


_SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from elang_sk import OutputCache

    def savez(fh, **arrays):
        fh.write(b"PK\\x03\\x04 partial")
        fh.flush()
        print("writing", flush=True)
        time.sleep(120)

    np.savez = savez
    OutputCache(sys.argv[1]).get_or_compute(
        sys.argv[2], ["a", "b"], lambda X: np.ones((len(X), 2))
    )
    """
)


@pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
def test_kill_9_mid_write_leaves_a_tmp_file_that_is_cleaned(tmp_path, monkeypatch):
    """A live writer's .tmp file is kept; once it is killed, a refresh removes it."""
    monkeypatch.setattr(cache_module, "_TMP_GRACE_SECONDS", 0.0)
    writer = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(tmp_path), NAMESPACE],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "writing"
        cache = OutputCache(tmp_path)
        (tmp,) = _files(cache, ".tmp")
        old = time.time() - 3600
        os.utime(os.path.join(_folder(cache), tmp), (old, old))
        values, _ = cache.get_or_compute(NAMESPACE, ["a"], _lengths)
        assert _files(cache, ".tmp") == [tmp], "a live writer's file was removed"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    assert _files(cache, ".tmp") == [tmp]
    counter = _Counter(_lengths)
    values, _ = cache.get_or_compute(NAMESPACE, ["b", "a"], counter)
    assert _files(cache, ".tmp") == []
    assert counter.rows == ["b"]
    assert values.tolist() == _lengths(["b", "a"]).tolist()


def test_recent_tmp_file_is_kept(tmp_path):
    """A .tmp file younger than the grace period is never removed."""
    cache = OutputCache(tmp_path)
    os.makedirs(_folder(cache))
    with open(os.path.join(_folder(cache), "young.tmp"), "wb") as fh:
        fh.write(b"PK")
    cache.get_or_compute(NAMESPACE, ["a"], _lengths)
    assert _files(cache, ".tmp") == ["young.tmp"]


_WRITER = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from elang_sk import OutputCache

    location, namespace, go, offset = sys.argv[1:5]
    while not os.path.exists(go):
        time.sleep(0.005)
    cache = OutputCache(location)
    texts = ["t" * (i + 1) + "a" * (i % 3) for i in range(40)]
    for start in range(0, 40, 5):
        rows = texts[start : start + 10]  # overlaps the other writer's rows
        if offset == "1":
            rows = rows[::-1]
        values, _ = cache.get_or_compute(
            namespace, rows, lambda X: np.array([[len(x), x.count("a")] for x in X])
        )
        assert values.tolist() == [[len(x), x.count("a")] for x in rows]
    """
)


def test_concurrent_writers_lose_nothing(tmp_path):
    """Two processes writing one namespace at once both finish; every row reads back."""
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), NAMESPACE, str(go), str(i)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    time.sleep(0.5)
    go.touch()
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    cache = OutputCache(tmp_path)
    assert _files(cache, ".tmp") == []
    _INDEXES.clear()
    texts = ["t" * (i + 1) + "a" * (i % 3) for i in range(40)]
    counter = _Counter(_lengths)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values, seconds = cache.get_or_compute(NAMESPACE, texts + texts[:3], counter)
    assert counter.rows == []
    assert values.tolist() == _lengths(texts + texts[:3]).tolist()
    assert seconds.shape == (43,)
