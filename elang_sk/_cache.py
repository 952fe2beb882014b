"""Per-input, on-disk cache of model outputs.

Cross-validation folds and threshold grids differ in *which rows* they use, not
in *what the inputs are*, so outputs are cached per input rather than per array:
each input is hashed, and a model output is stored under
``(model fingerprint, method, input hash)``. Any later call that meets the same
input through the same model reads the stored row instead of running the model.

Layout on disk::

    <location>/elang_sk_outputs/<fingerprint>/<method>/<uuid>.npz

Every ``.npz`` shard holds the rows computed by one call: their input hashes, the
values, the measured compute seconds per row, the namespace and a BLAKE2b
checksum of all of these. Faults cost time, never a wrong value or a crash:

- A shard is written to a locked temporary file and moved into place with
  :func:`os.replace`, which is atomic, so readers (and concurrent writers, who
  each write their own shards) never see a half-written shard. The temporary
  file of a killed writer is removed by a later refresh once it is older than
  ``_TMP_GRACE_SECONDS`` and no live process holds its lock.
- A shard that cannot be read, or whose checksum, names, lengths or dtypes do
  not match, is removed with a warning and its rows are computed again. A file
  that is not a regular file (a FIFO, a folder) is skipped without being
  opened for a blocking read.
- When a shard cannot be written (a read-only folder, a full disk), the
  outputs are computed without caching, with one warning per cache folder.
"""

import collections
import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import time
import uuid
import warnings

import joblib
import numpy as np
from scipy import sparse
from sklearn.utils._param_validation import InvalidParameterError

from elang_sk._utils import n_samples

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be removed there anyway
    fcntl = None

_SUBDIR = "elang_sk_outputs"
_DIGEST_SIZE = 16
# A temporary file is only removed once it is this old and unlocked, so that
# the writer that is filling it right now (which holds its lock) is left alone.
_TMP_GRACE_SECONDS = 60.0
_DENSE_FIELDS = frozenset({"keys", "seconds", "namespace", "values"})
_SPARSE_FIELDS = frozenset(
    {"keys", "seconds", "namespace", "csr_data", "csr_indices", "csr_indptr"}
    | {"csr_shape"}
)
# Roots whose write failure was already reported in this process.
_UNWRITABLE = set()


def hash_inputs(X):
    """Hash every input (row or text) of ``X`` to a 16-byte digest.

    Parameters
    ----------
    X : sequence of str, array-like of shape (n_samples, ...), DataFrame or \
            sparse matrix
        The inputs. Texts are hashed by their UTF-8 bytes; numeric rows by their
        dtype and bytes; sparse rows by their indices and values; the rows of a
        pandas DataFrame by their cells and the column names and dtypes; any
        other item by :func:`joblib.hash`.

    Returns
    -------
    keys : ndarray of shape (n_samples,), dtype ``S16``
        One digest per input; equal inputs get equal digests.

    Raises
    ------
    TypeError
        If ``X`` is a dict, a str or bytes: those are one input, not a sequence
        of inputs.

    Examples
    --------
    >>> from elang_sk._cache import hash_inputs
    >>> keys = hash_inputs(["a film", "a film", "a play"])
    >>> bool(keys[0] == keys[1]), bool(keys[0] == keys[2])
    (True, False)
    """

    def digest(*parts):
        h = hashlib.blake2b(digest_size=_DIGEST_SIZE)
        for part in parts:
            h.update(part)
        return h.digest()

    if isinstance(X, dict | str | bytes):
        raise TypeError(
            f"Expected a sequence of inputs (a list, an array, a DataFrame), got a "
            f"{type(X).__name__}, which would be read as its "
            f"{'keys' if isinstance(X, dict) else 'characters'}. Pass a list with "
            "one item per input, e.g. [X] or a list of dicts."
        )
    if sparse.issparse(X):
        X = sparse.csr_matrix(X)
        X.sort_indices()
        head = f"sparse{X.shape[1]}{X.dtype.str}".encode()
        keys = [
            digest(
                head,
                X.indices[X.indptr[i] : X.indptr[i + 1]].tobytes(),
                X.data[X.indptr[i] : X.indptr[i + 1]].tobytes(),
            )
            for i in range(X.shape[0])
        ]
    elif isinstance(X, np.ndarray) and X.dtype.kind in "biufc":
        X = np.ascontiguousarray(X)
        head = f"dense{X.shape[1:]}{X.dtype.str}".encode()
        keys = [digest(head, row.tobytes()) for row in X]
    elif hasattr(X, "iloc") and hasattr(X, "columns"):
        # A DataFrame: one input per row. The column names and dtypes enter
        # every key, since a model may select its columns by name.
        head = repr([(str(c), str(t)) for c, t in X.dtypes.items()]).encode()
        keys = [
            digest(b"row", head, *map(_cell_bytes, row))
            for row in X.itertuples(index=False, name=None)
        ]
    else:
        keys = []
        for item in X if not hasattr(X, "iloc") else np.asarray(X, dtype=object):
            if isinstance(item, str):
                keys.append(digest(b"str", item.encode("utf-8", "surrogatepass")))
            else:
                keys.append(digest(b"obj", joblib.hash(item).encode()))
    return np.array(keys, dtype=f"S{_DIGEST_SIZE}")


def _cell_bytes(value):
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        return b"s%d:" % len(data) + data
    if isinstance(value, np.generic):
        return f"n{value.dtype.str}:".encode() + value.tobytes()
    if value is None or isinstance(value, bool | int | float | complex):
        return f"p{type(value).__name__}:{value!r};".encode()
    return f"o{joblib.hash(value)};".encode()


def _stack(pieces):
    if any(sparse.issparse(p) for p in pieces):
        return sparse.vstack([sparse.csr_matrix(p) for p in pieces], format="csr")
    return np.concatenate(pieces, axis=0)


class _BadShard(Exception):
    """A shard that must not be trusted; ``ours`` says whether to remove it."""

    def __init__(self, reason, ours=True):
        super().__init__(reason)
        self.ours = ours


def _checksum(arrays):
    h = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        h.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        h.update(array)
    return h.digest()


def _storable(values):
    """The arrays that store ``values``, or None when they cannot be stored."""
    if sparse.issparse(values):
        values = sparse.csr_matrix(values)
        return {
            "csr_data": values.data,
            "csr_indices": values.indices,
            "csr_indptr": values.indptr,
            "csr_shape": np.asarray(values.shape, dtype=np.int64),
        }
    values = np.asarray(values)
    if values.dtype == object:
        # Generated texts come back as object arrays; store them as unicode so
        # that shards never need pickle to be read. Anything else is not stored.
        if not all(isinstance(v, str) for v in values.ravel()):
            return None
        values = values.astype(str)
    if values.dtype.kind not in "biufcU" or values.ndim == 0:
        return None
    return {"values": values}


def _values(arrays):
    if "values" in arrays:
        return arrays["values"]
    return sparse.csr_matrix(
        (arrays["csr_data"], arrays["csr_indices"], arrays["csr_indptr"]),
        shape=tuple(arrays["csr_shape"]),
    )


def _save_shard(directory, arrays):
    """Write one shard atomically; return its file name."""
    arrays = dict(arrays, checksum=np.frombuffer(_checksum(arrays), np.uint8))
    os.makedirs(directory, exist_ok=True)
    name = f"{uuid.uuid4().hex}.npz"
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if fcntl is not None:
                # Held until closed (or the process dies): tells a cleaner
                # that this temporary file is being written.
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            np.savez(fh, **arrays)
            fh.flush()
            if fcntl is not None:
                os.replace(tmp, os.path.join(directory, name))
        if fcntl is None:
            os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return name


def _load_shard(path, namespace):
    """Read and verify one shard; raise _BadShard when it cannot be trusted."""
    try:
        # Non-blocking, so that a FIFO is opened (and then refused) at once.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _BadShard(f"cannot be opened: {exc}", ours=False) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _BadShard("not a regular file", ours=False)
    with os.fdopen(fd, "rb") as fh:
        try:
            with np.load(fh, allow_pickle=False) as z:
                arrays = {name: z[name] for name in z.files}
        except MemoryError:
            raise
        except Exception as exc:  # zipfile, numpy and OS errors alike
            raise _BadShard(f"unreadable: {type(exc).__name__}: {exc}") from exc
    stored = arrays.pop("checksum", None)
    if stored is None or stored.dtype != np.uint8 or stored.shape != (_DIGEST_SIZE,):
        raise _BadShard("no checksum")
    if stored.tobytes() != _checksum(arrays):
        raise _BadShard("checksum mismatch")
    if set(arrays) not in (_DENSE_FIELDS, _SPARSE_FIELDS):
        raise _BadShard(f"unexpected arrays {sorted(arrays)}")
    keys, seconds = arrays["keys"], arrays["seconds"]
    if str(arrays["namespace"]) != namespace:
        raise _BadShard(f"written for {str(arrays['namespace'])!r}")
    if keys.dtype != f"S{_DIGEST_SIZE}" or keys.ndim != 1:
        raise _BadShard(f"keys of dtype {keys.dtype} and shape {keys.shape}")
    if seconds.dtype != np.float64 or seconds.shape != keys.shape:
        raise _BadShard(f"seconds of dtype {seconds.dtype} and shape {seconds.shape}")
    try:
        values = _values(arrays)
        if sparse.issparse(values):
            values.check_format(full_check=True)
        elif values.dtype.kind not in "biufcU" or values.ndim == 0:
            raise ValueError(f"values of dtype {values.dtype}")
    except (ValueError, TypeError, IndexError) as exc:
        raise _BadShard(str(exc)) from exc
    if values.shape[0] != keys.shape[0]:
        raise _BadShard(f"{values.shape[0]} values for {keys.shape[0]} keys")
    return keys, values, seconds


def _remove_stale_tmp(path, now):
    """Remove a killed writer's temporary file; leave a live writer's alone."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < _TMP_GRACE_SECONDS:
            return
        if fcntl is None:
            os.remove(path)  # fails while a writer has it open
            return
        with open(path, "rb") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # a live writer holds it
            os.remove(path)
    except OSError:
        pass


class _ShardIndex:
    """In-process index of the shards of one ``(fingerprint, method)`` folder."""

    def __init__(self, directory, namespace):
        self.directory = directory
        self.namespace = namespace
        self.seen = set()  # shard names loaded, or refused
        self.shards = []  # list of (values, seconds)
        self.where = {}  # key -> (shard position, row)

    def refresh(self):
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return
        now = time.time()
        for name in names:
            path = os.path.join(self.directory, name)
            if name.endswith(".tmp"):
                _remove_stale_tmp(path, now)
            if not name.endswith(".npz") or name in self.seen:
                continue
            try:
                keys, values, seconds = _load_shard(path, self.namespace)
            except FileNotFoundError:
                continue  # removed since listed, e.g. by clear()
            except _BadShard as exc:
                self.seen.add(name)
                removed = False
                if exc.ours:
                    with contextlib.suppress(OSError):
                        os.remove(path)
                        removed = True
                warnings.warn(
                    f"Skipped the output cache shard {path} ({exc}); "
                    + ("it was removed; " if removed else "")
                    + "its rows are computed again.",
                    UserWarning,
                    stacklevel=4,
                )
                continue
            self.add(name, keys, values, seconds)

    def add(self, name, keys, values, seconds):
        self.seen.add(name)
        position = len(self.shards)
        self.shards.append((values, seconds))
        for row, key in enumerate(keys.tolist()):
            self.where[key] = (position, row)


_INDEXES = {}


class OutputCache:
    """Per-input cache of model outputs on disk.

    Used through the ``memory`` parameter of the estimators of this package; it
    can also be opened directly to see how large a cache is, or to clear it.

    Parameters
    ----------
    location : str or path-like
        Folder that holds the cache. The outputs live in its ``elang_sk_outputs``
        subfolder, so the same folder can serve as a :class:`joblib.Memory`.

    See Also
    --------
    hash_inputs : The per-input key.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from elang_sk import OutputCache
    >>> cache = OutputCache(tempfile.mkdtemp())
    >>> out, seconds = cache.get_or_compute(
    ...     "model-1/predict", ["a", "b"], lambda rows: np.array([len(r) for r in rows])
    ... )
    >>> out.tolist()
    [1, 1]
    >>> cache.size_bytes() > 0
    True
    >>> cache.clear()
    >>> cache.size_bytes()
    0
    """

    def __init__(self, location):
        self.location = os.fspath(location)

    @property
    def root(self):
        return os.path.join(self.location, _SUBDIR)

    def _index(self, namespace):
        directory = os.path.join(self.root, *namespace.split("/"))
        index = _INDEXES.get(directory)
        if index is None:
            index = _INDEXES[directory] = _ShardIndex(directory, namespace)
        index.refresh()
        return index

    def get_or_compute(self, namespace, X, compute, keys=None):
        """Return ``compute(X)`` row by row, computing only the missing rows.

        Parameters
        ----------
        namespace : str
            ``"<fingerprint>/<method>"``: what produced the outputs.
        X : sequence or array-like of shape (n_samples, ...)
            The inputs.
        compute : callable
            ``compute(X_subset)`` returns the outputs of the given inputs, one row
            each (dense array, sparse matrix, or array of str).
        keys : ndarray of shape (n_samples,), default=None
            Precomputed :func:`hash_inputs` of ``X``.

        Returns
        -------
        values : ndarray or sparse matrix of shape (n_samples, ...)
            The outputs in the order of ``X``.
        seconds : ndarray of shape (n_samples,)
            Measured compute seconds per input, from when each row was computed.

        Raises
        ------
        ValueError
            If ``compute`` returns a number of rows other than it was given.

        Warns
        -----
        UserWarning
            When a damaged shard is skipped, or when the outputs cannot be
            written (they are then returned without being cached).
        """
        if keys is None:
            keys = hash_inputs(X)
        index = self._index(namespace)
        missing = {}
        for i, key in enumerate(keys.tolist()):
            if key not in index.where and key not in missing:
                missing[key] = i
        fresh = None
        if missing:
            rows = np.fromiter(missing.values(), dtype=np.intp, count=len(missing))
            values, seconds = timed_compute(compute, _subset(X, rows))
            if n_samples(values) != len(rows):
                raise ValueError(
                    f"compute returned {n_samples(values)} rows for {len(rows)} "
                    "inputs; it must return one row per input."
                )
            fresh = self._store(index, keys[rows], values, seconds)
        return self._gather(index, keys, fresh)

    def _store(self, index, keys, values, seconds):
        """Write new rows; return them when they could not be cached, else None."""
        arrays = _storable(values)
        if arrays is None:
            reason = f"outputs of dtype {np.asarray(values).dtype} cannot be stored"
        else:
            arrays.update(
                keys=keys, seconds=seconds, namespace=np.array(index.namespace)
            )
            try:
                name = _save_shard(index.directory, arrays)
            except OSError as exc:
                reason = f"cannot write to {index.directory}: {exc}"
            else:
                index.add(name, keys, _values(arrays), seconds)
                return None
        if self.root not in _UNWRITABLE:
            _UNWRITABLE.add(self.root)
            warnings.warn(
                f"The output cache {self.root} is not used ({reason}); outputs are "
                "computed without caching.",
                UserWarning,
                stacklevel=3,
            )
        return dict(zip(keys.tolist(), range(len(keys)), strict=True)), values, seconds

    @staticmethod
    def _gather(index, keys, fresh=None):
        shards = index.shards
        where = index.where
        if fresh is not None:
            fresh_rows, values, seconds = fresh
            shards = [*shards, (values, seconds)]
            extra = {k: (len(index.shards), r) for k, r in fresh_rows.items()}
            where = collections.ChainMap(index.where, extra)
        locations = [where[key] for key in keys.tolist()]
        positions = np.array([p for p, _ in locations], dtype=np.intp)
        rows = np.array([r for _, r in locations], dtype=np.intp)
        order = np.argsort(positions, kind="stable")
        pieces, seconds = [], []
        for position in np.unique(positions):
            sel = order[positions[order] == position]
            values, secs = shards[position]
            pieces.append(values[rows[sel]])
            seconds.append(secs[rows[sel]])
        stacked = _stack(pieces)
        seconds = np.concatenate(seconds)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return stacked[inverse], seconds[inverse]

    def size_bytes(self):
        """Total size of the cached outputs, in bytes."""
        total = 0
        for folder, _, files in os.walk(self.root):
            for name in files:
                with contextlib.suppress(OSError):  # removed meanwhile
                    total += os.lstat(os.path.join(folder, name)).st_size
        return total

    def clear(self):
        """Delete every cached output under :attr:`location`."""
        shutil.rmtree(self.root, ignore_errors=True)
        for directory in [d for d in _INDEXES if d.startswith(self.root + os.sep)]:
            del _INDEXES[directory]
        _UNWRITABLE.discard(self.root)

    def __repr__(self):
        return f"{type(self).__name__}({self.location!r})"


def _subset(X, rows):
    if sparse.issparse(X) or isinstance(X, np.ndarray):
        return X[rows]
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    return [X[i] for i in rows]


def timed_compute(compute, X):
    """Run ``compute(X)`` and return its output and the seconds per row."""
    start = time.perf_counter()
    values = compute(X)
    elapsed = time.perf_counter() - start
    n = n_samples(values) or 1
    return values, np.full(n, elapsed / n)


MEMORY_CONSTRAINTS = [None, str, os.PathLike, joblib.Memory, OutputCache]
"""What the ``memory`` parameter of the estimators accepts (for
``_parameter_constraints``); :func:`resolve_cache` accepts exactly these."""
_MEMORY_TYPES = tuple(c for c in MEMORY_CONSTRAINTS if c is not None)


def resolve_cache(memory):
    """Turn a ``memory`` parameter into an :class:`OutputCache` or ``None``.

    Parameters
    ----------
    memory : None, str, path-like, joblib.Memory or OutputCache
        Where outputs are cached (see :data:`MEMORY_CONSTRAINTS`); ``None`` (or
        a ``joblib.Memory`` without a location) disables caching.

    Returns
    -------
    cache : OutputCache or None

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        If ``memory`` is of any other type (a subclass of both ``ValueError``
        and ``TypeError``).

    Examples
    --------
    >>> import tempfile
    >>> from elang_sk._cache import resolve_cache
    >>> resolve_cache(None) is None
    True
    >>> type(resolve_cache(tempfile.mkdtemp())).__name__
    'OutputCache'
    """
    if memory is None or isinstance(memory, OutputCache):
        return memory
    if isinstance(memory, joblib.Memory):
        return None if memory.location is None else OutputCache(memory.location)
    if isinstance(memory, _MEMORY_TYPES):
        return OutputCache(memory)
    raise InvalidParameterError(
        "memory must be None, a folder path (str or os.PathLike), a joblib.Memory "
        f"or an OutputCache; got {memory!r} of type {type(memory).__name__}."
    )
