"""ThresholdSelector: where to cut the routing scores."""

from numbers import Integral, Real

import numpy as np
from scipy.special import ndtr
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions

from elang_sk.metrics import (
    _check_binary,
    _check_quality,
    _check_sample_weight,
    _check_scores,
    tradeoff_curve,
)
from elang_sk.routing._risk import BOUNDS, certify, warn_uncertified

STRATEGIES = ("crossing", "swift_ratio", "budget", "match_super", "risk_control")

#: The ``tol`` that ``tol=None`` stands for, per strategy (0.0 for the others):
#: ``"risk_control"`` may lose at most 1 point of the Super's quality (a
#: finite calibration set can never certify a loss of exactly 0).
DEFAULT_TOL = {"risk_control": 0.01}

# Largest number of kernel evaluations held in memory at once (8 MiB of float64).
_CHUNK = 2**20


def _weighted_quantiles(values, weights, q):
    """Quantiles that interpolate like ``np.percentile`` for equal weights."""
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    below = np.cumsum(weights) - weights
    if below[-1] <= 0:
        return np.full(len(q), values[-1])
    return np.interp(q, below / below[-1], values)


def _bandwidth(values, weights=None):
    """Silverman's rule of thumb, robust to outliers and to constant groups.

    With weights, the spread is the weighted standard deviation and quartiles
    and the sample size is Kish's effective size ``sum(w)**2 / sum(w**2)``.
    """
    weights = np.ones(values.shape[0]) if weights is None else weights
    n_eff = weights.sum() ** 2 / np.sum(weights**2)
    mean = np.average(values, weights=weights)
    std = np.sqrt(np.average((values - mean) ** 2, weights=weights))
    q75, q25 = _weighted_quantiles(values, weights, [0.75, 0.25])
    iqr = q75 - q25
    sigma = min(std, iqr / 1.349) if iqr > 0 else std
    if sigma <= 0:
        sigma = max(abs(float(values[0])), 1.0) * 1e-3
    return 0.9 * sigma * n_eff ** (-0.2)


class _KernelDensity:
    """Gaussian kernel density of a (weighted) 1-D sample, with its exact CDF.

    The kernels are evaluated a block of grid points at a time, so memory
    stays bounded whatever the sizes of the grid and of the sample.
    """

    def __init__(self, values, weights=None):
        self.values = values
        weights = np.ones(values.shape[0]) if weights is None else weights
        self.weights = weights / weights.sum()
        self.bandwidth = _bandwidth(values, weights)

    def _mean_kernel(self, grid, kernel):
        grid = np.asarray(grid, dtype=np.float64)
        out = np.empty(grid.shape[0])
        step = max(1, _CHUNK // self.values.shape[0])
        for start in range(0, grid.shape[0], step):
            block = grid[start : start + step, None]
            out[start : start + step] = (
                kernel((block - self.values[None, :]) / self.bandwidth) @ self.weights
            )
        return out

    def pdf(self, grid):
        density = self._mean_kernel(grid, lambda z: np.exp(-0.5 * z * z))
        return density / (self.bandwidth * np.sqrt(2 * np.pi))

    def cdf(self, grid):
        return self._mean_kernel(grid, ndtr)


class ThresholdSelector(BaseEstimator):
    """Choose the routing threshold from scores on held-out (dev) inputs.

    The Swift keeps an input when its routing score is ``>= threshold``. The
    strategies are described in the Notes below; ``"crossing"`` is the
    paper's rule.

    Parameters
    ----------
    strategy : {"crossing", "swift_ratio", "budget", "match_super", \
            "risk_control"}, default="crossing"
        How to choose.
    target : float >= 0, default=None
        Swift ratio in [0, 1] for ``"swift_ratio"``, cost per input for
        ``"budget"``; both need it. Ignored by the other strategies.
    tol : float in [0, 1] or None, default=None
        Accuracy that ``"match_super"`` and ``"risk_control"`` may give up
        (0.005 is half a point). None takes the strategy's default
        (:meth:`effective_tol`): 0.0 for ``"match_super"`` (match the Super
        on the calibration data), 0.01 for ``"risk_control"`` (lose at most
        1 point of the Super's quality: no finite calibration set certifies
        a loss of exactly 0). Ignored by the other strategies.
    n_grid : int in [16, 65536], default=1024
        Number of grid points the densities of ``"crossing"`` are evaluated
        on. The kernels are evaluated in blocks, so memory stays bounded
        (a few blocks of 8 MiB) whatever ``n_grid`` and the number of inputs;
        time grows as ``n_grid * n_samples``.
    delta : float in (0, 1), default=0.1
        For ``"risk_control"``: the probability, over the calibration sample,
        that the promised loss ``tol`` is exceeded. Ignored by the others.
    bound : {"auto", "clopper_pearson", "betting"}, default="auto"
        For ``"risk_control"``: the confidence bound on the loss of a
        threshold. ``"auto"`` takes ``"clopper_pearson"`` (exact) for 0/1
        correctness and ``"betting"`` for real qualities. Ignored by the others.

    See Also
    --------
    elang_sk.metrics.tradeoff_curve : The curve the selector chooses from.

    Notes
    -----
    The strategies:

    ``"crossing"`` (the paper's rule)
        Split the dev inputs into those the Swift gets **right** and those it
        gets **wrong**, and estimate the density of the routing score in each
        group separately (each density integrates to one: class priors are not
        used), with a Gaussian kernel and Silverman's bandwidth. The threshold
        is the point where the *right* density overtakes the *wrong* one:
        below it wrong answers dominate, above it right ones do. When the
        smoothed densities cross several times, the crossing that separates
        the groups best is taken, i.e. the maximiser of
        ``F_wrong(t) - F_right(t)`` (the smoothed CDFs; at its maximum the
        densities are equal). If the Swift is never wrong every input is kept
        (``-inf``); if it is never right, none is (``inf``).
    ``"swift_ratio"``
        Keep at most the fraction ``target`` of inputs with the Swift (inputs
        with equal scores are kept or sent together).
    ``"budget"``
        The most accurate threshold whose mean cost per input is at most
        ``target`` (in the unit of the costs).
    ``"match_super"``
        The cheapest threshold whose joint accuracy is at least the Super's
        accuracy minus ``tol`` (default 0) on the calibration data: an
        estimate, missed on new data about half of the time when the cut is
        tight.
    ``"risk_control"`` (a guarantee)
        The cheapest threshold whose joint accuracy is certified to be at
        least the Super's minus ``tol`` (default 0.01: at most 1 point of the
        Super's quality lost) with probability at least ``1 - delta`` over
        the calibration sample (the inputs being
        exchangeable with those served), by Learn-then-Test (Angelopoulos,
        Bates, Candes, Jordan and Lei, 2021, "Learn then Test: Calibrating
        Predictive Algorithms to Achieve Risk Control"): the paired loss
        ``L_i(t) = super_i - joint_i(t)`` is bounded at each threshold by
        ``bound`` at level ``delta``, from the all-Super end towards the
        all-Swift end (fixed-sequence testing), stopping at the first
        threshold not certified. ``"clopper_pearson"`` bounds the harm rate
        (kept, Swift wrong, Super right) from above and the gain rate (kept,
        Swift right, Super wrong) from below, exactly, each at level
        ``delta / 2``; ``"betting"`` is the betting bound of Waudby-Smith and
        Ramdas (2024, JRSS-B) for a mean in [-1, 1], valid for real
        qualities. If nothing can be certified the threshold is ``inf``
        (every input to the Super) and a ``CertificationWarning`` says how
        many calibration rows would certify keeping the best-scored inputs
        (searched with the same bound), or why no number would. The
        selection reports ``certified``, ``loss_bound`` (the certified bound
        on the expected loss), ``empirical_loss``, ``n_needed``,
        ``n_needed_reason``, ``delta``, ``epsilon`` (the tolerance used) and
        ``bound``. Refuses non-uniform ``sample_weight`` (the guarantee is
        for exchangeable, equally weighted inputs).

    With ``sample_weight``, ``"crossing"`` uses weighted densities (weighted
    kernel means, and Silverman's bandwidth from the weighted spread and the
    effective sample size ``sum(w)**2 / sum(w**2)``), and the other
    strategies a weighted curve.

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk import ThresholdSelector
    >>> rng = np.random.default_rng(0)
    >>> scores = np.r_[rng.normal(2, 1, 500), rng.normal(-2, 1, 500)]
    >>> swift_correct = np.r_[np.ones(500, bool), np.zeros(500, bool)]
    >>> selection = ThresholdSelector("crossing").select(scores, swift_correct)
    >>> round(selection.threshold, 1)
    0.0
    >>> super_correct = np.ones(1000, bool)
    >>> ThresholdSelector("match_super").select(
    ...     scores, swift_correct, super_correct
    ... ).swift_ratio
    0.5

    A certified cut: the Swift is wrong only on low scores, so the 2000
    calibration inputs certify a loss of at most one point at 90%.

    >>> scores = rng.normal(size=2000)
    >>> swift_correct = scores > -1
    >>> selection = ThresholdSelector("risk_control", tol=0.01, delta=0.1).select(
    ...     scores, swift_correct, np.ones(2000, bool)
    ... )
    >>> selection.certified, bool(selection.loss_bound <= 0.01)
    (True, True)
    >>> bool(0.7 < selection.swift_ratio < 0.85)
    True
    """

    _parameter_constraints = {
        "strategy": [StrOptions(set(STRATEGIES))],
        "target": [Interval(Real, 0, None, closed="left"), None],
        "tol": [Interval(Real, 0, 1, closed="both"), None],
        "n_grid": [Interval(Integral, 16, 2**16, closed="both")],
        "delta": [Interval(Real, 0, 1, closed="neither")],
        "bound": [StrOptions(set(BOUNDS))],
    }

    def __init__(
        self,
        strategy="crossing",
        target=None,
        tol=None,
        n_grid=1024,
        delta=0.1,
        bound="auto",
    ):
        self.strategy = strategy
        self.target = target
        self.tol = tol
        self.n_grid = n_grid
        self.delta = delta
        self.bound = bound

    def check_params(self):
        """Check the parameters and how they combine, before any data is seen.

        Estimators that take a selector call this in ``fit``, before running
        any model, so that an unusable selector fails there rather than at
        prediction time. :meth:`select` calls it too.

        Returns
        -------
        self : ThresholdSelector
            The selector, unchanged.

        Raises
        ------
        ValueError
            If a parameter is invalid on its own (a bool where a number is
            expected included: ``tol=True`` is no tolerance), or
            ``"swift_ratio"`` or ``"budget"`` has no ``target``, or
            ``"swift_ratio"`` has a ``target`` above 1.

        Examples
        --------
        >>> from elang_sk import ThresholdSelector
        >>> ThresholdSelector("swift_ratio", target=0.7).check_params()
        ThresholdSelector(strategy='swift_ratio', target=0.7)
        >>> ThresholdSelector("swift_ratio").check_params()
        Traceback (most recent call last):
        ...
        ValueError: strategy='swift_ratio' needs a target: ...
        >>> ThresholdSelector("match_super", tol=True).check_params()
        Traceback (most recent call last):
        ...
        ValueError: tol must be a number, got True (a bool): ...
        """
        for name, example in (("tol", 0.01), ("target", 0.7), ("delta", 0.1)):
            value = getattr(self, name)
            if isinstance(value, bool | np.bool_):
                raise ValueError(
                    f"{name} must be a number, got {value!r} (a bool): a bool is "
                    f"not read as {int(value)}. Pass a number, e.g. "
                    f"ThresholdSelector({self.strategy!r}, {name}={example})."
                )
        self._validate_params()
        if self.strategy in ("swift_ratio", "budget") and self.target is None:
            raise ValueError(
                f"strategy={self.strategy!r} needs a target: e.g. "
                "ThresholdSelector('swift_ratio', target=0.7) or "
                "ThresholdSelector('budget', target=<cost per input>)."
            )
        if self.strategy == "swift_ratio" and self.target > 1:
            raise ValueError(
                "A swift_ratio target is the fraction of inputs the Swift keeps, "
                f"in [0, 1]; got {self.target}. Pass e.g. target=0.7."
            )
        return self

    def effective_tol(self):
        """The tolerance in use: ``tol``, or the strategy's default when None.

        Returns
        -------
        tol : float
            ``tol`` itself when given; else 0.01 for ``"risk_control"`` (lose
            at most 1 point of the Super's quality) and 0.0 for the other
            strategies (``"match_super"`` matches the Super on the
            calibration data).

        Examples
        --------
        >>> from elang_sk import ThresholdSelector
        >>> ThresholdSelector("risk_control").effective_tol()
        0.01
        >>> ThresholdSelector("match_super").effective_tol()
        0.0
        >>> ThresholdSelector("risk_control", tol=0.005).effective_tol()
        0.005
        """
        if self.tol is not None:
            return float(self.tol)
        return DEFAULT_TOL.get(self.strategy, 0.0)

    def select(
        self,
        scores,
        swift_correct,
        super_correct=None,
        *,
        swift_cost=1.0,
        super_cost=1.0,
        router_cost=None,
        curve=None,
        sample_weight=None,
        swift_quality=None,
        super_quality=None,
    ):
        """Choose a threshold.

        Parameters
        ----------
        scores : array-like of shape (n_samples,)
            Routing scores of held-out inputs; finite.
        swift_correct : array-like of bool of shape (n_samples,)
            Whether the Swift is right on each input: booleans or 0/1.
        super_correct : array-like of bool of shape (n_samples,), default=None
            Whether the Super is right on each input (booleans or 0/1); needed
            by ``"budget"`` and ``"match_super"``, and for the curve.
        swift_cost, super_cost, router_cost : float or array-like
            Costs per input, see :func:`elang_sk.metrics.joint_cost`.
        curve : Bunch, default=None
            A trade-off curve computed beforehand (e.g. from per-input quality
            scores rather than right/wrong); replaces the one computed from
            ``super_correct``, the costs and the weights, and is used as is.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each input: finite, non-negative, not all zero. None
            weighs every input 1.
        swift_quality, super_quality : array-like of shape (n_samples,), \
                default=None
            Per-input quality in [0, 1] of each model (e.g. sentence chrF /
            100), read by ``"risk_control"`` for the paired loss instead of
            ``swift_correct`` and ``super_correct``.

        Returns
        -------
        selection : Bunch
            ``threshold``, ``swift_ratio`` (weighted fraction of the given
            inputs kept), ``curve`` (the trade-off curve chosen from, or None
            without ``super_correct``), and for ``"crossing"`` the
            ``densities`` (``grid``, ``right``, ``wrong``); for
            ``"risk_control"`` also what was certified (see the Notes of the
            class).

        Examples
        --------
        >>> from elang_sk import ThresholdSelector
        >>> scores = [0.9, 0.8, 0.4, 0.3, 0.2, 0.1]
        >>> swift_correct = [True, True, True, False, True, False]
        >>> selection = ThresholdSelector("swift_ratio", target=0.5).select(
        ...     scores, swift_correct
        ... )
        >>> selection.threshold, selection.swift_ratio
        (0.4, 0.5)

        With weights, the ratio is a weighted fraction: the three heavy inputs
        count for three quarters, so four inputs make half.

        >>> selection = ThresholdSelector("swift_ratio", target=0.5).select(
        ...     scores, swift_correct, sample_weight=[1, 1, 1, 3, 3, 3]
        ... )
        >>> selection.threshold, selection.swift_ratio
        (0.3, 0.5)
        """
        self.check_params()
        scores = _check_scores(scores)
        n = scores.shape[0]
        swift_correct = _check_binary(swift_correct, "swift_correct", n)
        weights = _check_sample_weight(sample_weight, n)
        if curve is None and super_correct is not None:
            curve = tradeoff_curve(
                scores,
                swift_correct,
                _check_binary(super_correct, "super_correct", n),
                swift_cost=swift_cost,
                super_cost=super_cost,
                router_cost=router_cost,
                sample_weight=weights,
            )
        elif curve is None and (
            self.strategy in ("budget", "match_super")
            or (self.strategy == "risk_control" and super_quality is None)
        ):
            raise ValueError(
                f"strategy={self.strategy!r} compares joint and Super accuracy and "
                "needs super_correct; pass it, or use strategy='crossing'."
            )
        result = Bunch(curve=curve, densities=None)
        if self.strategy == "risk_control":
            result.update(
                self._risk_control(
                    scores,
                    swift_correct if swift_quality is None else swift_quality,
                    super_correct if super_quality is None else super_quality,
                    curve,
                    sample_weight,
                )
            )
        elif self.strategy == "crossing":
            result.threshold, result.densities = self._crossing(
                scores, swift_correct, weights
            )
        else:
            if curve is None:  # swift_ratio without super_correct: ratios only
                curve = tradeoff_curve(
                    scores, swift_correct, swift_correct, sample_weight=weights
                )
            result.threshold = self._from_curve(curve)
        result.threshold = float(result.threshold)
        result.swift_ratio = float(
            np.average(scores >= result.threshold, weights=weights)
        )
        return result

    def _risk_control(self, scores, swift_quality, super_quality, curve, weights):
        n = scores.shape[0]
        if weights is not None and np.ptp(_check_sample_weight(weights, n)) > 0:
            raise ValueError(
                "strategy='risk_control' certifies a loss for equally weighted, "
                "exchangeable inputs and cannot use unequal sample_weight; drop "
                "sample_weight, or repeat rows of integer weight beforehand."
            )
        swift_quality = _check_quality(swift_quality, "swift_quality", n)
        if super_quality is None:
            raise ValueError(
                "strategy='risk_control' compares joint and Super accuracy and "
                "needs super_correct (or super_quality); pass it."
            )
        super_quality = _check_quality(super_quality, "super_quality", n)
        cost = None
        if curve is not None and len(curve.cost) == len(np.unique(scores)) + 1:
            cost = curve.cost
        result = certify(
            scores,
            swift_quality,
            super_quality,
            epsilon=self.effective_tol(),
            delta=self.delta,
            bound=self.bound,
            cost=cost,
        )
        if result.n_certified == 0:
            # Only the all-Super threshold is certified (when others are but
            # the costs make all-Super the cheapest, nothing failed).
            warn_uncertified(result)
        return result

    def _crossing(self, scores, swift_correct, weights):
        counted = weights > 0
        right, wrong = swift_correct & counted, ~swift_correct & counted
        if not wrong.any():
            return -np.inf, None
        if not right.any():
            return np.inf, None
        p_right = _KernelDensity(scores[right], weights[right])
        p_wrong = _KernelDensity(scores[wrong], weights[wrong])
        pad = 3 * max(p_right.bandwidth, p_wrong.bandwidth)
        low, high = scores[counted].min() - pad, scores[counted].max() + pad
        if not (np.isfinite(low) and np.isfinite(high) and np.isfinite(high - low)):
            raise ValueError(
                "The scores span too wide a range for a density estimate "
                f"(from {scores.min():.3g} to {scores.max():.3g}); rescale them, "
                "or use a strategy that only ranks them (e.g. 'match_super')."
            )
        grid = np.linspace(low, high, self.n_grid)
        separation = p_wrong.cdf(grid) - p_right.cdf(grid)
        threshold = grid[np.argmax(separation)]
        densities = Bunch(grid=grid, right=p_right.pdf(grid), wrong=p_wrong.pdf(grid))
        return threshold, densities

    def _from_curve(self, curve):
        if self.strategy == "swift_ratio":
            feasible = np.flatnonzero(curve.swift_ratio <= self.target + 1e-12)
            return curve.thresholds[feasible[-1]]
        if self.strategy == "budget":
            feasible = np.flatnonzero(curve.cost <= self.target * (1 + 1e-12))
            if feasible.size == 0:
                raise ValueError(
                    f"No threshold meets the budget of {self.target} per input: the "
                    f"cheapest setting costs {curve.cost.min():.6g} (every input "
                    "pays for the routing score). Raise the budget."
                )
            best = feasible[curve.accuracy[feasible] == curve.accuracy[feasible].max()]
            return curve.thresholds[best[np.argmin(curve.cost[best])]]
        goal = curve.accuracy[0] - self.effective_tol() - 1e-12
        feasible = np.flatnonzero(curve.accuracy >= goal)
        return curve.thresholds[feasible[np.argmin(curve.cost[feasible])]]
