"""Fingerprints of scikit-learn models (being replaced by ``_fingerprint``)."""

import hashlib
import weakref

import joblib
import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator


def _state_token(obj, depth=0):
    """A cheap summary of an estimator's state that changes when it is refit.

    Fitting replaces fitted attributes with new objects, and arrays are
    summarised by their shape and a hash of up to ~1000 of their values, so a
    refit (even one that reuses memory addresses) gives a new token.
    """
    if isinstance(obj, np.ndarray):
        flat = obj.ravel()
        sample = np.ascontiguousarray(flat[:: max(1, flat.size // 1024)])
        digest = hashlib.blake2b(sample.tobytes(), digest_size=8).digest()
        return ("ndarray", obj.shape, obj.dtype.str, digest)
    if sparse.issparse(obj):
        obj = sparse.csr_matrix(obj)
        return ("sparse", obj.shape, _state_token(obj.data), _state_token(obj.indices))
    if isinstance(obj, str | bytes | int | float | bool | type(None)):
        return obj
    if depth > 4:
        return ("id", id(obj))
    if isinstance(obj, dict):
        return ("dict", id(obj), len(obj))
    if isinstance(obj, list | tuple):
        return tuple(_state_token(value, depth + 1) for value in obj)
    if isinstance(obj, BaseEstimator):
        return tuple(
            (name, _state_token(value, depth + 1))
            for name, value in sorted(vars(obj).items())
        )
    return ("id", id(obj))


_FINGERPRINTS = weakref.WeakKeyDictionary()


def fingerprint(estimator):
    """What identifies a model's outputs: its own fingerprint, or a hash of it.

    Hashing a large fitted model (a TF-IDF vocabulary of character n-grams)
    takes seconds, so the hash is memoised per estimator object and reused
    while its state token (see :func:`_state_token`) is unchanged.
    """
    own = getattr(estimator, "elang_fingerprint", None)
    if callable(own):
        return f"{type(estimator).__name__}-{own()}"
    token = _state_token(estimator)
    try:
        memo = _FINGERPRINTS.get(estimator)
    except TypeError:  # unhashable or not weak-referenceable
        memo = None
    if memo is not None and memo[0] == token:
        return memo[1]
    value = f"{type(estimator).__name__}-{joblib.hash(estimator)}"
    try:
        _FINGERPRINTS[estimator] = (token, value)
    except TypeError:
        pass
    return value
