"""Routing scores: how much the Swift model can be trusted with an input.

Every score maps the Swift's logits to one number per input, with one
convention: **higher means the Swift keeps the input**. As in eq. (7) of the
E-LANG paper, an input is kept when ``score >= t`` and forwarded to the Super
otherwise, so a larger threshold ``t`` sends more inputs to the Super.

All scores accept

* logits of shape ``(n_samples, n_classes)`` (classification), or
* per-position logits of shape ``(n_samples, n_positions, n_classes)`` with an
  optional boolean ``mask`` of shape ``(n_samples, n_positions)`` marking the
  real positions (sequence-to-sequence, eq. 9). The per-position scores are
  aggregated over the real positions with ``aggregate``.
"""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

_AGGREGATE = [
    StrOptions({"mean", "min", "median"}),
    Interval(Real, 0, 1, closed="both"),
]


def _check_logits(logits, mask=None):
    """Validate logits and mask; return float64 logits of shape (n, M, C)."""
    logits = np.asarray(logits)
    if logits.dtype.kind not in "iuf":
        raise TypeError(
            f"logits must be a numeric array, got dtype {logits.dtype}. Pass the "
            "Swift's raw per-class scores (logits), not labels or texts."
        )
    if logits.ndim not in (2, 3):
        raise ValueError(
            "logits must have shape (n_samples, n_classes) or (n_samples, "
            f"n_positions, n_classes); got an array of shape {logits.shape}."
        )
    if logits.shape[0] == 0 or logits.shape[-1] == 0:
        raise ValueError(f"logits of shape {logits.shape} hold no values.")
    # float64 keeps logits of +-1e4 and float16 inputs exact in logsumexp.
    logits = logits.astype(np.float64, copy=False)
    if not np.all(np.isfinite(logits)):
        n_nan, n_inf = int(np.isnan(logits).sum()), int(np.isinf(logits).sum())
        first = np.argwhere(~np.isfinite(logits))[0]
        raise ValueError(
            f"logits contain NaN or infinity ({n_nan} NaN and {n_inf} infinite "
            f"values, the first at index {tuple(int(i) for i in first)}). Check "
            "the Swift model's outputs (a diverged model, or an overflow of "
            "float16 logits: run the model in float32); routing scores need "
            "finite logits."
        )
    if logits.ndim == 2:
        if mask is not None:
            raise ValueError("mask is only meaningful for 3-D per-position logits.")
        return logits[:, None, :], np.ones(logits.shape[:1] + (1,), dtype=bool)
    if mask is None:
        mask = np.ones(logits.shape[:2], dtype=bool)
    mask = np.asarray(mask)
    if mask.dtype != bool:
        if mask.dtype.kind not in "iuf" or not np.isin(mask, (0, 1)).all():
            raise ValueError(
                "mask must be boolean or 0/1 (True or 1 marks a real position, "
                f"False or 0 padding); got values of dtype {mask.dtype} such as "
                f"{mask.ravel()[:3].tolist()}. Pass the attention mask of the "
                "outputs."
            )
        mask = mask.astype(bool)
    if mask.shape != logits.shape[:2]:
        raise ValueError(
            f"mask has shape {mask.shape}, expected {logits.shape[:2]} "
            "(n_samples, n_positions) to match the logits."
        )
    empty = ~mask.any(axis=1)
    if empty.any():
        raise ValueError(
            f"mask selects no position for {int(empty.sum())} input(s), e.g. row "
            f"{int(np.flatnonzero(empty)[0])}; every input needs at least one "
            "real output position."
        )
    return logits, mask


def _shift(logits):
    """Logits minus their maximum over classes (all <= 0), and that maximum."""
    top = logits.max(axis=-1, keepdims=True)
    # Logits spread wider than the float64 range give -inf: a probability of 0.
    with np.errstate(over="ignore"):
        return logits - top, top[..., 0]


def _log_softmax(logits):
    """Log-probabilities, finite or -inf, for any finite logits."""
    shifted, _ = _shift(logits)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _aggregate(values, mask, aggregate):
    """Aggregate per-position values (n, M) over the positions where mask is True."""
    if values.shape[1] == 1:
        return values[:, 0]
    if aggregate == "mean":
        # Dividing first keeps the mean of values near the float64 limit finite.
        weights = mask / mask.sum(axis=1, keepdims=True)
        return np.sum(np.where(mask, values * weights, 0.0), axis=1)
    if aggregate == "min":
        return np.min(np.where(mask, values, np.inf), axis=1)
    q = 0.5 if aggregate == "median" else float(aggregate)
    return np.nanquantile(np.where(mask, values, np.nan), q, axis=1)


class BaseScore(BaseEstimator):
    """Base class for routing scores, which map logits to one score per input.

    A score is a small stateless component: call it on logits to get one
    score per input. It is not an estimator (it has nothing to fit) but it has
    parameters, so it can be cloned and grid-searched like one.

    A subclass defines ``_score_positions(logits)``: it receives validated,
    finite float64 logits of shape ``(n_samples, n_positions, n_classes)``
    and returns one value per position, of shape ``(n_samples,
    n_positions)``; :meth:`__call__` validates the input and aggregates the
    positions.

    Examples
    --------
    A custom score: the margin between the two largest logits.

    >>> import numpy as np
    >>> from elang_sk import BaseScore, EnergyRouter
    >>> class MarginScore(BaseScore):
    ...     def __init__(self, aggregate="mean"):
    ...         self.aggregate = aggregate
    ...     def _score_positions(self, logits):
    ...         top2 = np.sort(logits, axis=-1)[..., -2:]
    ...         return top2[..., 1] - top2[..., 0]
    >>> logits = np.array([[3.0, 1.0, 0.0], [1.0, 0.9, 0.0]])
    >>> MarginScore()(logits).round(2)
    array([2. , 0.1])
    >>> router = EnergyRouter(score_func=MarginScore()).fit(logits)
    >>> router.score_samples(logits).round(2)
    array([2. , 0.1])
    """

    #: Whether the score is only meaningful on real logits (not log-probabilities).
    requires_logits = False
    #: Whether the score reads the logits at all.
    uses_logits = True

    def _validate_params(self):
        # Scores are called once per serving call: validate a parameter set
        # once, and again only when a parameter changes.
        key = repr([kv for kv in sorted(vars(self).items()) if kv[0][0] != "_"])
        if self.__dict__.get("_validated_params") != key:
            super()._validate_params()
            self._validated_params = key

    def __call__(self, logits, mask=None):
        """Score the inputs.

        Parameters
        ----------
        logits : array-like of shape (n_samples, n_classes) or \
                (n_samples, n_positions, n_classes)
            The Swift's logits, or per-position logits for sequence outputs.
        mask : array-like of shape (n_samples, n_positions), default=None
            Real (True) and padding (False) positions of 3-D logits.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means the Swift keeps the input.

        Examples
        --------
        >>> import numpy as np
        >>> from elang_sk import SoftmaxScore
        >>> logits = np.array([[[4.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
        >>> mask = np.array([[True, False], [True, True]])
        >>> SoftmaxScore()(logits, mask).round(3)
        array([0.982, 0.5  ])
        """
        logits, mask = _check_logits(logits, mask)
        return _aggregate(self._score_positions(logits), mask, self.aggregate)


class EnergyScore(BaseScore):
    r"""Negative free energy of the logits, equations 4 and 9 of E-LANG.

    .. math:: -F(x) = T \log \sum_i e^{f_i(x) / T}

    The negative free energy is, up to a constant, the log-density of ``x``
    under the Swift's energy-based model (eq. 6): a high value says the input
    looks like what the Swift was trained on. It needs *real* logits: the
    logsumexp of log-probabilities is always 0, so this score refuses them
    wherever the package can tell (see :class:`EnergyRouter`).

    Parameters
    ----------
    temperature : float, default=1.0
        Temperature ``T``; larger values smooth the score towards the mean logit.
    aggregate : {"mean", "min", "median"} or float in [0, 1], default="mean"
        How per-position energies are combined for sequence outputs: ``"mean"``
        is eq. (9); ``"min"`` or a low quantile (a float) is less biased by
        output length, since one badly-fitting position is enough to doubt the
        output. Ignored for 2-D logits.

    See Also
    --------
    SoftmaxScore, EntropyScore, RandomScore : The baselines.

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk import EnergyScore
    >>> EnergyScore()(np.array([[10.0, 0.0], [1.0, 0.0]])).round(3)
    array([10.   ,  1.313])
    """

    requires_logits = True

    _parameter_constraints = {
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "aggregate": _AGGREGATE,
    }

    def __init__(self, temperature=1.0, aggregate="mean"):
        self.temperature = temperature
        self.aggregate = aggregate

    def _score_positions(self, logits):
        self._validate_params()
        # T * logsumexp(f / T) with the maximum taken out first, so that
        # neither f / T nor the exponentials can overflow.
        shifted, top = _shift(logits)
        with np.errstate(over="ignore"):
            shifted = shifted / self.temperature
        return top + self.temperature * np.log(np.sum(np.exp(shifted), axis=-1))


class SoftmaxScore(BaseScore):
    r"""Maximum softmax probability, a baseline (equation 11 of E-LANG).

    .. math:: \max_y p(y \mid x) = e^{f_{max}(x)} / \sum_i e^{f_i(x)}

    Parameters
    ----------
    aggregate : {"mean", "min", "median"} or float in [0, 1], default="mean"
        Aggregation over output positions of 3-D logits; see
        :class:`EnergyScore`.

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk import SoftmaxScore
    >>> SoftmaxScore()(np.array([[2.0, 0.0], [0.0, 0.0]])).round(3)
    array([0.881, 0.5  ])
    """

    _parameter_constraints = {"aggregate": _AGGREGATE}

    def __init__(self, aggregate="mean"):
        self.aggregate = aggregate

    def _score_positions(self, logits):
        self._validate_params()
        return np.exp(_log_softmax(logits).max(axis=-1))


class EntropyScore(BaseScore):
    r"""Negative entropy of the softmax, a baseline (equation 14 of E-LANG).

    .. math:: -H(x) = \sum_i p_i \log p_i

    The sign is flipped so that, like every score here, higher means "the
    Swift keeps it": a confident (low-entropy) Swift keeps the input.

    Parameters
    ----------
    aggregate : {"mean", "min", "median"} or float in [0, 1], default="mean"
        Aggregation over output positions of 3-D logits; see
        :class:`EnergyScore`.

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk import EntropyScore
    >>> EntropyScore()(np.array([[0.0, 0.0], [9.0, 0.0]])).round(3)
    array([-0.693, -0.001])
    """

    _parameter_constraints = {"aggregate": _AGGREGATE}

    def __init__(self, aggregate="mean"):
        self.aggregate = aggregate

    def _score_positions(self, logits):
        self._validate_params()
        log_p = _log_softmax(logits)
        p = np.exp(log_p)
        # p log p -> 0 as p -> 0: a class of probability 0 adds nothing (and
        # must not add 0 * -inf = NaN).
        terms = np.multiply(p, log_p, out=np.zeros_like(p), where=p > 0)
        return terms.sum(axis=-1)


class RandomScore(BaseScore):
    """Uniform random scores, the routing baseline that knows nothing.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=0
        Seed of the scores. With an int, the same call returns the same scores.

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk import RandomScore
    >>> scores = RandomScore(random_state=0)(np.zeros((3, 2)))
    >>> scores.shape, bool(((0 <= scores) & (scores < 1)).all())
    ((3,), True)
    """

    uses_logits = False

    _parameter_constraints = {"random_state": ["random_state"]}

    def __init__(self, random_state=0):
        self.random_state = random_state

    def __call__(self, logits, mask=None):
        self._validate_params()
        n_samples = len(logits)
        if n_samples == 0:
            raise ValueError("Cannot score an empty set of inputs.")
        return check_random_state(self.random_state).random_sample(n_samples)


SCORES = {
    "energy": EnergyScore,
    "softmax": SoftmaxScore,
    "entropy": EntropyScore,
    "random": RandomScore,
}


@validate_params(
    {"score": [StrOptions(set(SCORES)), BaseScore]},
    prefer_skip_nested_validation=True,
)
def get_score(score):
    """Turn a score name or object into a score object.

    Parameters
    ----------
    score : {"energy", "softmax", "entropy", "random"} or BaseScore
        A name, or a score object (returned as is).

    Returns
    -------
    score : BaseScore
        The score component.

    Examples
    --------
    >>> from elang_sk import get_score
    >>> get_score("entropy")
    EntropyScore()
    """
    if isinstance(score, str):
        return SCORES[score]()
    return score
