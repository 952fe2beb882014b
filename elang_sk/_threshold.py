"""ThresholdSelector: where to cut the routing scores."""

from numbers import Real

import numpy as np
from scipy.special import ndtr
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d

from elang_sk.metrics import tradeoff_curve

STRATEGIES = ("crossing", "swift_ratio", "budget", "match_super")


def _bandwidth(values):
    """Silverman's rule of thumb, robust to outliers and to constant groups."""
    n = values.shape[0]
    iqr = np.subtract(*np.percentile(values, [75, 25]))
    sigma = min(np.std(values), iqr / 1.349) if iqr > 0 else np.std(values)
    if sigma <= 0:
        sigma = max(abs(float(values[0])), 1.0) * 1e-3
    return 0.9 * sigma * n ** (-0.2)


class _KernelDensity:
    """Gaussian kernel density of a 1-D sample, with its exact CDF."""

    def __init__(self, values):
        self.values = values
        self.bandwidth = _bandwidth(values)

    def _z(self, grid):
        return (np.asarray(grid)[:, None] - self.values[None, :]) / self.bandwidth

    def pdf(self, grid):
        z = self._z(grid)
        return np.exp(-0.5 * z * z).mean(axis=1) / (self.bandwidth * np.sqrt(2 * np.pi))

    def cdf(self, grid):
        return ndtr(self._z(grid)).mean(axis=1)


class ThresholdSelector(BaseEstimator):
    """Choose the routing threshold from scores on held-out (dev) inputs.

    The Swift keeps an input when its routing score is ``>= threshold``. The
    strategies are described in the Notes below; ``"crossing"`` is the
    paper's rule.

    Parameters
    ----------
    strategy : {"crossing", "swift_ratio", "budget", "match_super"}, \
            default="crossing"
        How to choose.
    target : float, default=None
        Swift ratio in [0, 1] for ``"swift_ratio"``, cost per input for
        ``"budget"``; unused otherwise.
    tol : float, default=0.0
        Accuracy that ``"match_super"`` may give up (0.005 is half a point).
    n_grid : int, default=1024
        Number of grid points the densities are evaluated on.

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
        Keep at most the fraction ``target`` of inputs with the Swift.
    ``"budget"``
        The most accurate threshold whose mean cost per input is at most
        ``target`` (in the unit of the costs).
    ``"match_super"``
        The cheapest threshold whose joint accuracy is at least the Super's
        accuracy minus ``tol``.

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
    """

    _parameter_constraints = {
        "strategy": [StrOptions(set(STRATEGIES))],
        "target": [Interval(Real, 0, None, closed="left"), None],
        "tol": [Interval(Real, 0, 1, closed="both")],
        "n_grid": [Interval(Real, 16, None, closed="left")],
    }

    def __init__(self, strategy="crossing", target=None, tol=0.0, n_grid=1024):
        self.strategy = strategy
        self.target = target
        self.tol = tol
        self.n_grid = n_grid

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
    ):
        """Choose a threshold.

        Parameters
        ----------
        scores : array-like of shape (n_samples,)
            Routing scores of held-out inputs.
        swift_correct : array-like of bool of shape (n_samples,)
            Whether the Swift is right on each input.
        super_correct : array-like of bool of shape (n_samples,), default=None
            Whether the Super is right on each input; needed by
            ``"budget"`` and ``"match_super"``, and for the curve.
        swift_cost, super_cost, router_cost : float or array-like
            Costs per input, see :func:`elang_sk.metrics.joint_cost`.
        curve : Bunch, default=None
            A trade-off curve computed beforehand (e.g. from per-input quality
            scores rather than right/wrong); replaces the one computed from
            ``super_correct`` and the costs.

        Returns
        -------
        selection : Bunch
            ``threshold``, ``swift_ratio`` (fraction of the given inputs kept),
            ``curve`` (the trade-off curve chosen from, or None without
            ``super_correct``), and for ``"crossing"`` the ``densities``
            (``grid``, ``right``, ``wrong``).
        """
        self._validate_params()
        scores = column_or_1d(scores).astype(np.float64)
        swift_correct = column_or_1d(swift_correct).astype(bool)
        if scores.shape[0] == 0:
            raise ValueError("ThresholdSelector needs at least one scored input.")
        if swift_correct.shape != scores.shape:
            raise ValueError(
                f"scores and swift_correct have different lengths "
                f"({scores.shape[0]} and {swift_correct.shape[0]})."
            )
        if curve is None and super_correct is not None:
            curve = tradeoff_curve(
                scores,
                swift_correct,
                super_correct,
                swift_cost=swift_cost,
                super_cost=super_cost,
                router_cost=router_cost,
            )
        elif curve is None and self.strategy in ("budget", "match_super"):
            raise ValueError(
                f"strategy={self.strategy!r} compares joint and Super accuracy and "
                "needs super_correct; pass it, or use strategy='crossing'."
            )
        result = Bunch(curve=curve, densities=None)
        if self.strategy == "crossing":
            result.threshold, result.densities = self._crossing(scores, swift_correct)
        else:
            result.threshold = self._from_curve(scores, curve)
        result.threshold = float(result.threshold)
        result.swift_ratio = float(np.mean(scores >= result.threshold))
        return result

    def _crossing(self, scores, swift_correct):
        right, wrong = scores[swift_correct], scores[~swift_correct]
        if wrong.size == 0:
            return -np.inf, None
        if right.size == 0:
            return np.inf, None
        p_right, p_wrong = _KernelDensity(right), _KernelDensity(wrong)
        pad = 3 * max(p_right.bandwidth, p_wrong.bandwidth)
        grid = np.linspace(scores.min() - pad, scores.max() + pad, int(self.n_grid))
        separation = p_wrong.cdf(grid) - p_right.cdf(grid)
        threshold = grid[np.argmax(separation)]
        densities = Bunch(grid=grid, right=p_right.pdf(grid), wrong=p_wrong.pdf(grid))
        return threshold, densities

    def _from_curve(self, scores, curve):
        if self.strategy in ("swift_ratio", "budget") and self.target is None:
            raise ValueError(
                f"strategy={self.strategy!r} needs a target: e.g. "
                "ThresholdSelector('swift_ratio', target=0.7) or "
                "ThresholdSelector('budget', target=<cost per input>)."
            )
        if curve is None:  # swift_ratio without super_correct
            ratios = np.r_[0.0, np.arange(1, scores.size + 1) / scores.size]
            thresholds = np.r_[np.inf, np.sort(scores)[::-1]]
            curve = Bunch(thresholds=thresholds, swift_ratio=ratios)
        if self.strategy == "swift_ratio":
            if self.target > 1:
                raise ValueError(
                    f"A swift_ratio target is a fraction in [0, 1]; got {self.target}."
                )
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
        goal = curve.accuracy[0] - self.tol - 1e-12
        feasible = np.flatnonzero(curve.accuracy >= goal)
        return curve.thresholds[feasible[np.argmin(curve.cost[feasible])]]


def as_selector(threshold):
    """The :class:`ThresholdSelector` a ``threshold`` parameter stands for.

    A strategy name becomes its selector; a number stands for itself as the
    threshold, and the default selector only describes the calibration data.
    """
    if isinstance(threshold, ThresholdSelector):
        return threshold
    if isinstance(threshold, str):
        return ThresholdSelector(threshold)
    return ThresholdSelector()


class ServingThresholdMixin:
    """``threshold_``: the fixed threshold, or the one selected on calibration.

    Read at prediction time, so that ``set_params(threshold=...)`` on a fitted
    model takes effect at once. Classes define ``threshold_selection_``.
    """

    @property
    def threshold_(self):
        check_is_fitted(self)
        if isinstance(self.threshold, Real):
            return float(self.threshold)
        return self.threshold_selection_.threshold
