"""Running a sub-model: which output to read, through the per-input cache."""

import hashlib
import warnings
import weakref

import joblib
import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from elang_sk._cache import _subset, n_samples, timed_compute


class EnergyLogitsWarning(UserWarning):
    """The Swift's scores are not a full set of logits; see :class:`EnergyRouter`.

    Raised when the energy has to be read off a binary ``decision_function``
    margin, under which it ranks inputs exactly like the softmax confidence.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from elang_sk import EnergyLogitsWarning, JointClassifier
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> swift = LogisticRegression().fit(X[:100], y[:100])
    >>> big = DecisionTreeClassifier(random_state=0).fit(X[:100], y[:100])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = JointClassifier(swift, big).fit(X[100:], y[100:])
    >>> any(issubclass(w.category, EnergyLogitsWarning) for w in caught)
    True
    """


def is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


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


def has_features(estimator):
    """Whether frozen features can be read off the estimator for an energy head."""
    if isinstance(estimator, Pipeline):
        return len(estimator.steps) > 1
    return hasattr(estimator, "transform")


class ModelRunner:
    """Runs the methods of one fitted sub-model on (subsets of) one input set.

    Outputs go through the per-input cache when there is one, and are kept in
    memory for the duration of one call, so that e.g. a Pipeline's features are
    computed once for both its logits and its labels.
    """

    def __init__(self, estimator, X, cache=None, keys=None):
        self.estimator = estimator
        self.X = X
        self.cache = cache
        self.keys = keys
        self._fingerprint = None
        self._memo = {}

    @property
    def fingerprint(self):
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.estimator)
        return self._fingerprint

    def __call__(self, method, rows=None):
        """Output of ``method`` on the rows ``rows`` (all rows when None).

        Returns the values and the compute seconds per input.
        """
        if method in self._memo:
            values, seconds = self._memo[method]
            return (values, seconds) if rows is None else (values[rows], seconds[rows])
        all_rows = rows is None
        rows = np.arange(n_samples(self.X)) if all_rows else np.asarray(rows, np.intp)
        est = self.estimator
        if isinstance(est, Pipeline) and len(est.steps) > 1 and method != "features":
            # Compute (and cache) the features once; the final step is cheap.
            features, feature_seconds = self("features", None if all_rows else rows)
            values, seconds = timed_compute(getattr(est.steps[-1][1], method), features)
            seconds = seconds + feature_seconds
        else:
            if method == "features":
                compute = (
                    est[:-1].transform if isinstance(est, Pipeline) else (est.transform)
                )
            else:
                compute = getattr(est, method)
            X = _subset(self.X, rows)
            if self.cache is None:
                values, seconds = timed_compute(compute, X)
            else:
                values, seconds = self.cache.get_or_compute(
                    f"{self.fingerprint}/{method}", X, compute, keys=self.keys[rows]
                )
        if all_rows:
            self._memo[method] = values, seconds
        return values, seconds


def logit_source(estimator, n_classes, head, score):
    """Decide where the routing score reads its input from.

    Returns ``(method, head)``: the sub-model method that gives the router its
    input, and whether an energy head is trained on it. See
    :class:`JointClassifier` for the order of preference.
    """
    if not score.uses_logits:
        return None, False
    if head is True:
        if not has_features(estimator):
            raise ValueError(
                f"router.head=True needs frozen features of the Swift, but "
                f"{type(estimator).__name__} has no transform method and is not a "
                "Pipeline with several steps. Use head='auto' or False to score "
                "its own logits."
            )
        return "features", True
    if hasattr(estimator, "predict_logits"):
        return "predict_logits", False
    has_decision = hasattr(estimator, "decision_function")
    if has_decision and n_classes > 2:
        return "decision_function", False
    if head == "auto" and has_features(estimator):
        return "features", True
    if has_decision:
        if score.requires_logits:
            warnings.warn(
                "The Swift's binary decision_function gives one margin d, not two "
                "logits. elang_sk uses the zero-sum pair (-d/2, d/2), under which "
                "the energy log(2 cosh(d/2)) ranks inputs exactly like the "
                "softmax confidence. For a distinct energy, expose per-class logits "
                "(a predict_logits method) or give the Swift frozen features "
                "(a Pipeline or a transform method) for an energy head.",
                EnergyLogitsWarning,
                stacklevel=3,
            )
        return "decision_function", False
    if score.requires_logits:
        raise ValueError(
            f"The energy score needs logits, but {type(estimator).__name__} only "
            "exposes probabilities: the logsumexp of log-probabilities is always 0, "
            "so their energy says nothing. Use score='softmax' or 'entropy', give "
            "the Swift a predict_logits or decision_function method, or wrap it in "
            "a Pipeline so that an energy head can be trained on its features."
        )
    if not hasattr(estimator, "predict_proba"):
        raise ValueError(
            f"{type(estimator).__name__} exposes neither logits, decision_function "
            "nor predict_proba: nothing to compute a routing score from. Use "
            "score='random' or a Swift with per-class scores."
        )
    return "predict_proba", False


def as_logits(values, method):
    """Turn the raw output of ``method`` into an (n, C) array of logits."""
    if sparse.issparse(values):
        return values
    values = np.asarray(values, dtype=np.float64)
    if method == "decision_function" and values.ndim == 1:
        return np.column_stack([-values / 2, values / 2])
    if method == "predict_proba":
        return np.log(np.clip(values, np.finfo(np.float64).tiny, None))
    return values
