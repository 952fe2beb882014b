"""Accuracy and cost of joint Swift/Super inference.

The cost of E-LANG (eq. 17 of the paper) is the cost of each model weighted by
how many inputs it served. Every input pays for the part of the Swift that
computes the routing score (``router_cost``: the whole Swift when the score
comes from its own logits, only its encoder and the energy head for T5-like
models); an input the Swift keeps also pays for the rest of the Swift
(``swift_cost - router_cost``), and an input forwarded to the Super pays for
the Super. Costs are in any unit, the same for all models: FLOPs, seconds, or
a price.
"""

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import column_or_1d

__all__ = [
    "joint_cost",
    "make_tradeoff_scorer",
    "speedup_score",
    "swift_ratio_score",
    "tradeoff_curve",
]


def _per_input(cost, n_samples, name):
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim == 0:
        cost = np.full(n_samples, float(cost))
    if cost.shape != (n_samples,):
        raise ValueError(
            f"{name} must be a scalar or have one value per input "
            f"({n_samples}); got shape {cost.shape}."
        )
    if not np.all(np.isfinite(cost)) or np.any(cost < 0):
        raise ValueError(f"{name} must be finite and non-negative.")
    return cost


def joint_cost(kept, swift_cost, super_cost, router_cost=None):
    """Mean cost per input of joint inference (eq. 17).

    Parameters
    ----------
    kept : array-like of bool of shape (n_samples,)
        True where the Swift's answer stands.
    swift_cost : float or array-like of shape (n_samples,)
        Cost of the full Swift per input.
    super_cost : float or array-like of shape (n_samples,)
        Cost of the Super per input.
    router_cost : float or array-like of shape (n_samples,), default=None
        Cost of computing the routing score, paid by every input. Defaults to
        ``swift_cost`` (the score comes from the Swift's own logits).

    Returns
    -------
    cost : float
        Mean cost per input.

    Examples
    --------
    >>> from elang_sk.metrics import joint_cost
    >>> joint_cost([True, True, False, False], swift_cost=1.0, super_cost=10.0)
    6.0
    """
    kept = column_or_1d(kept).astype(bool)
    n = kept.shape[0]
    swift = _per_input(swift_cost, n, "swift_cost")
    router = swift if router_cost is None else _per_input(router_cost, n, "router_cost")
    sup = _per_input(super_cost, n, "super_cost")
    return float(np.mean(router + np.where(kept, swift - router, sup)))


def tradeoff_curve(
    scores,
    swift_correct,
    super_correct,
    *,
    swift_cost=1.0,
    super_cost=1.0,
    router_cost=None,
):
    """Accuracy and cost of joint inference for every threshold, in one pass.

    Inputs are sorted once by decreasing score; keeping the ``k`` best-scored
    inputs then costs a cumulative sum, so the whole curve costs
    ``O(n log n)``. One point is returned per distinct score, plus the point
    that sends everything to the Super.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Routing scores; the Swift keeps inputs with ``score >= threshold``.
    swift_correct : array-like of bool of shape (n_samples,)
        Whether the Swift's prediction is right, per input.
    super_correct : array-like of bool of shape (n_samples,)
        Whether the Super's prediction is right, per input.
    swift_cost, super_cost, router_cost : float or array-like of shape \
            (n_samples,)
        Costs per input; see :func:`joint_cost`.

    Returns
    -------
    curve : Bunch
        ``thresholds`` (decreasing, starting at ``inf``), and for each:
        ``accuracy``, ``swift_ratio`` (fraction kept by the Swift), ``cost``
        (mean per input), ``speedup`` (mean Super cost over ``cost``).

    Examples
    --------
    >>> from elang_sk.metrics import tradeoff_curve
    >>> curve = tradeoff_curve(
    ...     scores=[3.0, 2.0, 1.0],
    ...     swift_correct=[True, True, False],
    ...     super_correct=[True, True, True],
    ...     swift_cost=1.0, super_cost=10.0,
    ... )
    >>> curve.thresholds.tolist()
    [inf, 3.0, 2.0, 1.0]
    >>> curve.accuracy.round(2).tolist()
    [1.0, 1.0, 1.0, 0.67]
    >>> curve.cost.round(2).tolist()
    [11.0, 7.67, 4.33, 1.0]
    """
    scores = column_or_1d(scores).astype(np.float64)
    n = scores.shape[0]
    if n == 0:
        raise ValueError("tradeoff_curve needs at least one input.")
    swift_correct = column_or_1d(swift_correct).astype(np.float64)
    super_correct = column_or_1d(super_correct).astype(np.float64)
    if not swift_correct.shape == super_correct.shape == (n,):
        raise ValueError(
            "scores, swift_correct and super_correct must have the same length; "
            f"got {n}, {swift_correct.shape[0]} and {super_correct.shape[0]}."
        )
    swift = _per_input(swift_cost, n, "swift_cost")
    router = swift if router_cost is None else _per_input(router_cost, n, "router_cost")
    sup = _per_input(super_cost, n, "super_cost")

    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    # Last position of each run of equal scores: ties are kept or sent together.
    last = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    kept = np.r_[0, last + 1]

    def cumulative(values):
        return np.r_[0.0, np.cumsum(values[order])][kept]

    correct = (
        cumulative(swift_correct) + super_correct.sum() - cumulative(super_correct)
    )
    cost = (router.sum() + cumulative(swift - router) + sup.sum() - cumulative(sup)) / n
    return Bunch(
        thresholds=np.r_[np.inf, sorted_scores[last]],
        accuracy=correct / n,
        swift_ratio=kept / n,
        cost=cost,
        speedup=sup.mean() / np.maximum(cost, np.finfo(float).tiny),
    )


def swift_ratio_score(estimator, X, y=None):
    """Scorer: fraction of inputs the Swift of a fitted joint model keeps.

    Parameters
    ----------
    estimator : JointClassifier
        A fitted joint model.
    X : sequence or array-like of shape (n_samples, ...)
        Inputs.
    y : ignored
        Present for the scorer signature.

    Returns
    -------
    ratio : float

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from elang_sk import JointClassifier
    >>> from elang_sk.metrics import swift_ratio_score
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> clf = JointClassifier(
    ...     LogisticRegression().fit(X[:200], y[:200]),
    ...     RandomForestClassifier(random_state=0).fit(X[:200], y[:200]),
    ...     threshold=-1e9,
    ... ).fit(X[200:], y[200:])
    >>> swift_ratio_score(clf, X[200:])
    1.0
    """
    return float(estimator.routing_report(X).swift_ratio)


def speedup_score(estimator, X, y=None):
    """Scorer: how many times cheaper the joint model is than the Super alone.

    Uses the fitted model's ``costs_`` (see :class:`JointClassifier`).

    Parameters
    ----------
    estimator : JointClassifier
        A fitted joint model.
    X : sequence or array-like of shape (n_samples, ...)
        Inputs.
    y : ignored
        Present for the scorer signature.

    Returns
    -------
    speedup : float

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from elang_sk import JointClassifier
    >>> from elang_sk.metrics import speedup_score
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> clf = JointClassifier(
    ...     LogisticRegression().fit(X[:200], y[:200]),
    ...     RandomForestClassifier(random_state=0).fit(X[:200], y[:200]),
    ...     threshold=-1e9, costs={"swift": 1.0, "super": 10.0},
    ... ).fit(X[200:], y[200:])
    >>> speedup_score(clf, X[200:])
    10.0
    """
    return float(estimator.routing_report(X).speedup)


class _TradeoffScorer:
    def __init__(self, cost_weight, max_relative_cost):
        self.cost_weight = cost_weight
        self.max_relative_cost = max_relative_cost

    def __call__(self, estimator, X, y):
        report = estimator.routing_report(X, y)
        relative = report.cost_per_input / report.super_cost_per_input
        if self.max_relative_cost is not None and relative > self.max_relative_cost:
            # Over budget ranks below every feasible setting, but stays finite so
            # that fold averages remain comparable.
            return float(report.accuracy - 1.0 - relative)
        return float(report.accuracy - self.cost_weight * relative)

    def __repr__(self):
        return (
            f"make_tradeoff_scorer(cost_weight={self.cost_weight}, "
            f"max_relative_cost={self.max_relative_cost})"
        )


def make_tradeoff_scorer(cost_weight=0.0, max_relative_cost=None):
    """Make a scorer that rewards accuracy and penalises cost.

    Plain accuracy always prefers sending every input to the Super, so a grid
    search over ``threshold`` needs a score that knows about cost. This scorer
    returns::

        accuracy - cost_weight * (joint cost / Super cost)

    and, with ``max_relative_cost``, ranks every setting whose relative cost
    exceeds the budget below every setting within it.

    Parameters
    ----------
    cost_weight : float, default=0.0
        Accuracy points given up per unit of relative cost; e.g. ``0.02``
        trades 2 points of accuracy for running the Super on everything.
    max_relative_cost : float, default=None
        Budget: the largest acceptable joint cost as a fraction of the
        Super's, e.g. ``0.5`` for at least a 2x saving.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``, usable as ``scoring`` in
        :class:`~sklearn.model_selection.GridSearchCV`.

    Examples
    --------
    >>> from elang_sk.metrics import make_tradeoff_scorer
    >>> make_tradeoff_scorer(cost_weight=0.02)
    make_tradeoff_scorer(cost_weight=0.02, max_relative_cost=None)
    """
    if cost_weight < 0:
        raise ValueError(f"cost_weight must be >= 0, got {cost_weight}.")
    if max_relative_cost is not None and max_relative_cost <= 0:
        raise ValueError(f"max_relative_cost must be > 0, got {max_relative_cost}.")
    return _TradeoffScorer(cost_weight, max_relative_cost)
