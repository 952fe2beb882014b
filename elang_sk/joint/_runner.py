"""ModelRunner: one sub-model's outputs on one input set, through the cache."""

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing

from elang_sk._cache import timed_compute
from elang_sk._fingerprint import fingerprint
from elang_sk._utils import n_samples


class ModelRunner:
    """Runs the methods of one fitted sub-model on (subsets of) one input set.

    Outputs go through the per-input cache when there is one, and are kept in
    memory for the duration of one call, so that e.g. a Pipeline's features
    are computed once for both its logits and its labels, and a stage that
    scored the rows reaching it answers the ones it keeps without a second
    pass. Without a cache nothing is hashed or fingerprinted: serving pays
    only for the model itself.

    Parameters
    ----------
    estimator : object
        A fitted model.
    X : sequence or array-like
        The inputs of this call, passed through as given (indexed with
        :func:`sklearn.utils._safe_indexing`).
    cache : OutputCache or None
        Where outputs are cached.
    keys : ndarray or None
        :func:`hash_inputs` of ``X``, shared by the runners of one call.
    role : str
        ``"Swift"`` or ``"Super"``, for error messages.
    """

    def __init__(self, estimator, X, cache=None, keys=None, role="model"):
        self.estimator = estimator
        self.X = X
        self.n = n_samples(X)
        self.cache = cache
        self.keys = keys
        self.role = role
        self._fingerprint = None
        self._memo = {}

    def __call__(self, method, rows=None):
        """Output of ``method`` on the rows ``rows`` (all rows when None).

        Returns the values and the compute seconds per input.
        """
        remembered = self._remembered(method, rows)
        if remembered is not None:
            return remembered
        all_rows = rows is None
        rows = np.arange(self.n) if all_rows else np.asarray(rows, np.intp)
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
            X = self.X if all_rows else _safe_indexing(self.X, rows)
            if self.cache is None:
                values, seconds = timed_compute(compute, X)
            else:
                if self._fingerprint is None:
                    self._fingerprint = fingerprint(est)
                values, seconds = self.cache.get_or_compute(
                    f"{self._fingerprint}/{method}", X, compute, keys=self.keys[rows]
                )
        self._check_length(values, rows.size, method)
        if all_rows:
            self._memo[method] = None, values, seconds
        elif method not in self._memo and np.all(rows[1:] > rows[:-1]):
            # A later stage scores the rows that reach it, then answers the
            # ones it keeps (a subset): the answer reuses this pass.
            self._memo[method] = rows, values, seconds
        return values, seconds

    def _remembered(self, method, rows):
        """``method`` on ``rows`` from an earlier pass of this call, or None."""
        entry = self._memo.get(method)
        if entry is None:
            return None
        known, values, seconds = entry
        if known is None:  # computed on every row
            return (values, seconds) if rows is None else (values[rows], seconds[rows])
        if rows is None:
            return None
        rows = np.asarray(rows, np.intp)
        at = np.searchsorted(known, rows)
        if at.size and (at.max() >= known.size or not np.array_equal(known[at], rows)):
            return None  # not a subset of the rows computed
        return values[at], seconds[at]

    def _check_length(self, values, expected, method):
        got = n_samples(values)
        if got != expected:
            raise ValueError(
                f"The {self.role} model's {method} returned {got} rows for "
                f"{expected} inputs: it does not read X as a sequence of inputs. "
                "A text model iterates a pandas DataFrame as its column names: "
                "pass one column (df['text']) or a list of str; otherwise pass X "
                "in the form both sub-models take."
            )
