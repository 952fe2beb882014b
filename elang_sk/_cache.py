"""Per-input, on-disk cache of model outputs.

Cross-validation folds and threshold grids differ in *which rows* they use, not
in *what the inputs are*, so outputs are cached per input rather than per array:
each input is hashed, and a model output is stored under
``(model fingerprint, method, input hash)``. Any later call that meets the same
input through the same model reads the stored row instead of running the model.

Layout on disk::

    <location>/elang_sk_outputs/<fingerprint>/<method>/<uuid>.npz

Every ``.npz`` shard holds the rows computed by one call: their input hashes, the
values, and the measured compute seconds per row. Shards are written to a
temporary file and moved into place with :func:`os.replace`, which is atomic, so
an interrupted run never leaves a half-written shard that a reader could load.
"""

import hashlib
import os
import shutil
import tempfile
import time
import uuid

import joblib
import numpy as np
from scipy import sparse

_SUBDIR = "elang_sk_outputs"
_DIGEST_SIZE = 16


def hash_inputs(X):
    """Hash every input (row or text) of ``X`` to a 16-byte digest.

    Parameters
    ----------
    X : sequence of str, array-like of shape (n_samples, ...) or sparse matrix
        The inputs. Texts are hashed by their UTF-8 bytes; numeric rows by their
        dtype and bytes; sparse rows by their indices and values.

    Returns
    -------
    keys : ndarray of shape (n_samples,), dtype ``S16``
        One digest per input; equal inputs get equal digests.

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
    else:
        keys = []
        for item in X if not hasattr(X, "iloc") else np.asarray(X, dtype=object):
            if isinstance(item, str):
                keys.append(digest(b"str", item.encode("utf-8", "surrogatepass")))
            else:
                keys.append(digest(b"obj", joblib.hash(item).encode()))
    return np.array(keys, dtype=f"S{_DIGEST_SIZE}")


def _stack(pieces):
    if any(sparse.issparse(p) for p in pieces):
        return sparse.vstack([sparse.csr_matrix(p) for p in pieces], format="csr")
    return np.concatenate(pieces, axis=0)


def _save_shard(directory, keys, values, seconds):
    os.makedirs(directory, exist_ok=True)
    arrays = {"keys": keys, "seconds": seconds}
    if sparse.issparse(values):
        values = sparse.csr_matrix(values)
        arrays.update(
            csr_data=values.data,
            csr_indices=values.indices,
            csr_indptr=values.indptr,
            csr_shape=np.asarray(values.shape),
        )
    else:
        values = np.asarray(values)
        if values.dtype == object:
            # Generated texts come back as object arrays; store them as unicode so
            # that shards never need pickle to be read.
            values = values.astype(str)
        arrays["values"] = values
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, os.path.join(directory, f"{uuid.uuid4().hex}.npz"))
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _load_shard(path):
    with np.load(path, allow_pickle=False) as z:
        if "csr_data" in z:
            values = sparse.csr_matrix(
                (z["csr_data"], z["csr_indices"], z["csr_indptr"]),
                shape=tuple(z["csr_shape"]),
            )
        else:
            values = z["values"]
        return z["keys"], values, z["seconds"]


class _ShardIndex:
    """In-process index of the shards of one ``(fingerprint, method)`` folder."""

    def __init__(self, directory):
        self.directory = directory
        self.loaded = set()
        self.shards = []  # list of (values, seconds)
        self.where = {}  # key -> (shard position, row)

    def refresh(self):
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(".npz"))
        except FileNotFoundError:
            names = []
        for name in names:
            if name in self.loaded:
                continue
            try:
                keys, values, seconds = _load_shard(os.path.join(self.directory, name))
            except (OSError, ValueError, KeyError):
                # A foreign or damaged file is skipped, never trusted.
                continue
            self.loaded.add(name)
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
            index = _INDEXES[directory] = _ShardIndex(directory)
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
        """
        if keys is None:
            keys = hash_inputs(X)
        index = self._index(namespace)
        missing = {}
        for i, key in enumerate(keys.tolist()):
            if key not in index.where and key not in missing:
                missing[key] = i
        if missing:
            rows = np.fromiter(missing.values(), dtype=np.intp, count=len(missing))
            values, seconds = timed_compute(compute, _subset(X, rows))
            _save_shard(index.directory, keys[rows], values, seconds)
            index.refresh()
        return self._gather(index, keys)

    @staticmethod
    def _gather(index, keys):
        locations = [index.where[key] for key in keys.tolist()]
        positions = np.array([p for p, _ in locations], dtype=np.intp)
        rows = np.array([r for _, r in locations], dtype=np.intp)
        order = np.argsort(positions, kind="stable")
        pieces, seconds = [], []
        for position in np.unique(positions):
            sel = order[positions[order] == position]
            values, secs = index.shards[position]
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
            total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        return total

    def clear(self):
        """Delete every cached output under :attr:`location`."""
        shutil.rmtree(self.root, ignore_errors=True)
        for directory in [d for d in _INDEXES if d.startswith(self.root)]:
            del _INDEXES[directory]

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


def n_samples(values):
    """Number of rows of an array, sparse matrix or sequence."""
    return values.shape[0] if hasattr(values, "shape") else len(values)


def resolve_cache(memory):
    """Turn a ``memory`` parameter into an :class:`OutputCache` or ``None``.

    Parameters
    ----------
    memory : None, str, path-like, joblib.Memory or OutputCache
        Where outputs are cached; ``None`` (or a ``joblib.Memory`` without a
        location) disables caching.

    Returns
    -------
    cache : OutputCache or None
    """
    if memory is None or isinstance(memory, OutputCache):
        return memory
    if isinstance(memory, joblib.Memory):
        return None if memory.location is None else OutputCache(memory.location)
    if isinstance(memory, str | os.PathLike):
        return OutputCache(memory)
    raise ValueError(
        "memory must be None, a folder path, a joblib.Memory or an OutputCache; "
        f"got {memory!r} of type {type(memory).__name__}."
    )
