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

from numbers import Real

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import column_or_1d

from elang_sk._validation import check_texts

__all__ = [
    "corpus_quality",
    "joint_cost",
    "make_tradeoff_scorer",
    "oracle_super_calls",
    "performance_gap_recovered",
    "sentence_chrf",
    "speedup_score",
    "swift_ratio_score",
    "tradeoff_curve",
]

#: The sequence quality metrics of :func:`corpus_quality` (``metric=``).
QUALITY_METRICS = ("bleu", "chrf", "exact_match")


def _check_length(values, name, n_samples):
    if values.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {values.shape[0]} values but there are {n_samples} "
            "scored inputs; pass one value per input, in the same order."
        )


def _describe(values):
    """A few distinct values of an array, for error messages."""
    return np.unique(values.astype(object).astype(str))[:4].tolist()


def _check_scores(scores):
    """Routing scores as a finite, non-empty 1-D float64 array."""
    scores = column_or_1d(scores)
    if scores.dtype.kind not in "biuf":
        raise TypeError(
            f"scores must be numeric routing scores; got dtype {scores.dtype}."
        )
    if scores.shape[0] == 0:
        raise ValueError("scores is empty: at least one scored input is needed.")
    scores = scores.astype(np.float64)
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ValueError(
            f"scores contain {int(np.isnan(scores).sum())} NaN and "
            f"{int(np.isinf(scores).sum())} infinite values (the first at index "
            f"{int(np.flatnonzero(bad)[0])}) out of {scores.shape[0]}. Routing "
            "scores are NaN or infinite when the Swift's logits were (a diverged "
            "model, a float16 overflow) or a custom score divided by zero; fix "
            "the scores or drop those inputs."
        )
    return scores


def _check_binary(values, name, n_samples):
    """Right/wrong per input as a boolean array: booleans or 0/1 only."""
    values = column_or_1d(values)
    _check_length(values, name, n_samples)
    if values.dtype != bool:
        if values.dtype.kind not in "iuf" or not np.isin(values, (0, 1)).all():
            raise ValueError(
                f"{name} must be boolean or 0/1 (whether the model is right on "
                f"each input); got dtype {values.dtype} with values such as "
                f"{_describe(values)}. Pass a comparison such as y_pred == y, "
                "not labels, predictions or probabilities."
            )
    return values.astype(bool)


def _check_quality(values, name, n_samples):
    """Per-input quality: booleans, 0/1, or finite reals in [0, 1]."""
    values = column_or_1d(values)
    _check_length(values, name, n_samples)
    if values.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be boolean, 0/1 or a quality in [0, 1] per input; got "
            f"dtype {values.dtype} with values such as {_describe(values)}. Pass "
            "a comparison such as y_pred == y, not labels or predictions."
        )
    values = values.astype(np.float64)
    if np.isnan(values).any():
        raise ValueError(
            f"{name} contains {int(np.isnan(values).sum())} NaN values (the "
            f"first at index {int(np.flatnonzero(np.isnan(values))[0])}); every "
            "input needs a quality. A NaN quality usually comes from a metric "
            "on an empty reference."
        )
    if ((values < 0) | (values > 1)).any():
        raise ValueError(
            f"{name} must be boolean, 0/1 or a quality in [0, 1] per input (e.g. "
            f"sentence chrF / 100); got values from {values.min():.6g} to "
            f"{values.max():.6g}. Rescale the quality to [0, 1], or pass a "
            "comparison such as y_pred == y."
        )
    return values


def _check_sample_weight(sample_weight, n_samples):
    """Weights as a float64 array: ones by default, else finite, >= 0, not all 0."""
    if sample_weight is None:
        return np.ones(n_samples)
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric; got dtype {weights.dtype}.")
    weights = weights.astype(np.float64)
    if weights.ndim == 0:
        weights = np.full(n_samples, float(weights))
    weights = column_or_1d(weights)
    _check_length(weights, "sample_weight", n_samples)
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(
            "sample_weight must be finite and non-negative; got "
            f"{int((~np.isfinite(weights)).sum())} NaN or infinite and "
            f"{int((weights < 0).sum())} negative weights."
        )
    if weights.sum() <= 0:
        raise ValueError(
            "sample_weight is zero for every input: at least one input must "
            "have a positive weight."
        )
    return weights


def _per_input(cost, n_samples, name):
    cost = np.asarray(cost)
    if cost.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must be a number or an array of numbers (a cost per input); "
            f"got dtype {cost.dtype}."
        )
    cost = cost.astype(np.float64)
    if cost.ndim == 0:
        cost = np.full(n_samples, float(cost))
    if cost.shape != (n_samples,):
        raise ValueError(
            f"{name} must be a scalar or have one value per input "
            f"({n_samples}); got shape {cost.shape}."
        )
    if not np.all(np.isfinite(cost)) or np.any(cost < 0):
        raise ValueError(
            f"{name} must be finite and non-negative; got "
            f"{int((~np.isfinite(cost)).sum())} NaN or infinite and "
            f"{int((cost < 0).sum())} negative values. Costs are FLOPs, seconds "
            "or a price per input."
        )
    return cost


def routing_cost_per_input(stage, router_cost, full_cost):
    """Cost of each input under N-stage routing: equation 17 of E-LANG, per input.

    An input that reaches stage ``k`` and is passed on pays that stage's
    routing cost; the stage that answers it is paid in full. With two stages
    (a Swift and a Super) this is eq. 17: an input kept by the Swift pays the
    whole Swift, a routed one the Swift's routing part and the Super.

    Parameters
    ----------
    stage : array-like of int of shape (n_samples,)
        The stage that answered each input (``0`` is the first).
    router_cost : array-like of shape (n_stages, n_samples)
        What an input that stage ``k`` passes on pays for stage ``k``.
    full_cost : array-like of shape (n_stages, n_samples)
        What an input that stage ``k`` answers pays for stage ``k``.

    Returns
    -------
    cost : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from elang_sk.metrics import routing_cost_per_input
    >>> routing_cost_per_input([0, 1, 2], router_cost=[[1] * 3, [2] * 3, [9] * 3],
    ...                        full_cost=[[1] * 3, [5] * 3, [50] * 3]).tolist()
    [1.0, 6.0, 53.0]
    """
    stage = np.asarray(stage, dtype=np.intp)
    router_cost = np.asarray(router_cost, dtype=np.float64)
    full_cost = np.asarray(full_cost, dtype=np.float64)
    if router_cost.shape != full_cost.shape or router_cost.ndim != 2:
        raise ValueError(
            "router_cost and full_cost must both have shape (n_stages, n_samples); "
            f"got {router_cost.shape} and {full_cost.shape}."
        )
    n_stages, n = full_cost.shape
    if stage.shape != (n,) or (n and not 0 <= stage.min() <= stage.max() < n_stages):
        raise ValueError(
            f"stage must hold one stage index in [0, {n_stages}) per input ({n}); "
            f"got shape {stage.shape}."
        )
    levels = np.arange(n_stages)[:, None]
    passed = stage[None, :] > levels
    cost = np.where(passed, router_cost, 0.0).sum(axis=0)
    return cost + full_cost[stage, np.arange(n)]


def routing_cost(stage, router_cost, full_cost):
    """Mean cost per input under N-stage routing (eq. 17 of E-LANG).

    The mean of :func:`routing_cost_per_input`; :func:`joint_cost` is its
    two-stage form.

    Parameters
    ----------
    stage : array-like of int of shape (n_samples,)
        The stage that answered each input.
    router_cost, full_cost : array-like of shape (n_stages, n_samples)
        See :func:`routing_cost_per_input`.

    Returns
    -------
    cost : float

    Examples
    --------
    >>> from elang_sk.metrics import routing_cost
    >>> routing_cost([0, 1], router_cost=[[1, 1], [10, 10]],
    ...              full_cost=[[1, 1], [10, 10]])
    6.0
    """
    return float(np.mean(routing_cost_per_input(stage, router_cost, full_cost)))


def joint_cost(kept, swift_cost, super_cost, router_cost=None):
    """Mean cost per input of joint inference, equation 17 of E-LANG.

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
    n = column_or_1d(kept).shape[0]
    if n == 0:
        raise ValueError("joint_cost needs at least one input; kept is empty.")
    kept = _check_binary(kept, "kept", n)
    swift = _per_input(swift_cost, n, "swift_cost")
    router = swift if router_cost is None else _per_input(router_cost, n, "router_cost")
    sup = _per_input(super_cost, n, "super_cost")
    return routing_cost(
        np.where(kept, 0, 1), np.stack([router, sup]), np.stack([swift, sup])
    )


def tradeoff_curve(
    scores,
    swift_correct,
    super_correct,
    *,
    swift_cost=1.0,
    super_cost=1.0,
    router_cost=None,
    sample_weight=None,
):
    """Accuracy and cost of joint inference for every threshold, in one pass.

    Inputs are sorted once by decreasing score; keeping the ``k`` best-scored
    inputs then costs a cumulative sum, so the whole curve costs
    ``O(n log n)``. One point is returned per distinct score, plus the point
    that sends everything to the Super.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Finite routing scores; the Swift keeps inputs with
        ``score >= threshold``.
    swift_correct : array-like of shape (n_samples,)
        Whether the Swift's prediction is right, per input: booleans or 0/1,
        or a per-input quality in [0, 1] (e.g. sentence chrF / 100), in which
        case ``accuracy`` is the mean quality.
    super_correct : array-like of shape (n_samples,)
        The same for the Super.
    swift_cost, super_cost, router_cost : float or array-like of shape \
            (n_samples,)
        Costs per input, finite and non-negative; see :func:`joint_cost`.
    sample_weight : array-like of shape (n_samples,), default=None
        Weight of each input in the means (accuracy, Swift ratio, costs);
        finite, non-negative and not all zero. An integer weight counts like
        that many copies of the input. None weighs every input 1.

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
    scores = _check_scores(scores)
    n = scores.shape[0]
    swift_correct = _check_quality(swift_correct, "swift_correct", n)
    super_correct = _check_quality(super_correct, "super_correct", n)
    swift = _per_input(swift_cost, n, "swift_cost")
    router = swift if router_cost is None else _per_input(router_cost, n, "router_cost")
    sup = _per_input(super_cost, n, "super_cost")
    weights = _check_sample_weight(sample_weight, n)

    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    # Last position of each run of equal scores: ties are kept or sent together.
    last = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    kept = np.r_[0, last + 1]

    def total(values):
        return np.sum(weights * values)

    def cumulative(values):
        return np.r_[0.0, np.cumsum((weights * values)[order])][kept]

    total_weight = weights.sum()
    correct = (
        cumulative(swift_correct) + total(super_correct) - cumulative(super_correct)
    )
    cost = total(router) + cumulative(swift - router) + total(sup) - cumulative(sup)
    cost = cost / total_weight
    return Bunch(
        thresholds=np.r_[np.inf, sorted_scores[last]],
        accuracy=correct / total_weight,
        swift_ratio=cumulative(np.ones(n)) / total_weight,
        cost=cost,
        speedup=total(sup) / total_weight / np.maximum(cost, np.finfo(float).tiny),
    )


def oracle_super_calls(swift_quality, super_quality, *, target=None):
    """The fewest Super calls that reach a target quality: the oracle router.

    Routing papers (e.g. RouteLLM, Ong et al. 2024) compare a router with the
    oracle that knows both models' answers. Sending input ``i`` to the Super
    changes the joint quality by ``super_i - swift_i``; the fewest calls that
    reach ``target`` send the inputs with the largest positive changes first
    (for right/wrong: the inputs where the Super is right and the Swift
    wrong), which is optimal for any per-input qualities.

    Parameters
    ----------
    swift_quality, super_quality : array-like of shape (n_samples,)
        Per-input quality of each model: booleans, 0/1, or reals in [0, 1].
    target : float, default=None
        Mean quality to reach; None takes the Super's.

    Returns
    -------
    oracle : Bunch
        ``n_calls`` (fewest Super calls), ``call_fraction``
        (``n_calls / n_samples``), ``sent`` (bool mask of the inputs the
        oracle sends to the Super), ``quality`` (mean joint quality reached),
        ``target``.

    Raises
    ------
    ValueError
        If no routing reaches ``target``: the best possible is the mean of
        the per-input maximum of both qualities.

    Examples
    --------
    >>> from elang_sk.metrics import oracle_super_calls
    >>> swift = [1, 1, 0, 0, 1, 0]
    >>> super_ = [1, 0, 1, 1, 1, 0]
    >>> oracle = oracle_super_calls(swift, super_)
    >>> oracle.n_calls, oracle.sent.tolist()
    (1, [False, False, True, False, False, False])
    >>> round(oracle.quality, 4)
    0.6667
    """
    n = column_or_1d(swift_quality).shape[0]
    swift_quality = _check_quality(swift_quality, "swift_quality", n)
    if n == 0:
        raise ValueError("oracle_super_calls needs at least one input.")
    super_quality = _check_quality(super_quality, "super_quality", n)
    target = float(super_quality.mean()) if target is None else float(target)
    gain = super_quality - swift_quality
    order = np.argsort(-gain, kind="stable")
    reached = swift_quality.sum() + np.r_[0.0, np.cumsum(np.maximum(gain[order], 0))]
    # Sums of n terms carry rounding errors of about n * eps.
    goal = target * n - 1e-9 * max(n, 1)
    feasible = np.flatnonzero(reached >= goal)
    if feasible.size == 0:
        best = float(np.maximum(swift_quality, super_quality).mean())
        raise ValueError(
            f"No routing reaches a mean quality of {target:.6g}: the best possible "
            f"(each input served by its better model) is {best:.6g}. Lower the "
            "target."
        )
    n_calls = int(feasible[0])
    sent = np.zeros(n, dtype=bool)
    sent[order[:n_calls]] = True
    return Bunch(
        n_calls=n_calls,
        call_fraction=n_calls / n,
        sent=sent,
        quality=float(reached[n_calls] / n),
        target=target,
    )


def performance_gap_recovered(
    scores, swift_quality, super_quality, *, levels=(0.5, 0.8)
):
    """RouteLLM's metrics: the Swift-Super gap recovered against the Super calls.

    As the threshold rises, the inputs with the lowest routing scores go to
    the Super first. At a fraction ``c`` of Super calls, the performance gap
    recovered is ``PGR(c) = (q(c) - q_swift) / (q_super - q_swift)`` with
    ``q`` the mean joint quality (Ong et al., 2024, "RouteLLM: Learning to
    Route LLMs with Preference Data"). Between the points of the curve (one
    per distinct score) ``PGR`` is interpolated linearly: the expected value
    when tied inputs are sent in random order.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Finite routing scores; the Swift keeps the inputs scored highest.
    swift_quality, super_quality : array-like of shape (n_samples,)
        Per-input quality of each model: booleans, 0/1, or reals in [0, 1].
    levels : sequence of float, default=(0.5, 0.8)
        Gap fractions for the call-performance thresholds.

    Returns
    -------
    result : Bunch
        ``call_fraction`` and ``pgr`` (the curve, from 0 to 1 calls),
        ``apgr`` (the area under ``PGR(c)`` for ``c`` in [0, 1], exact for the
        interpolated curve; 0.5 for a random router in expectation, 1 for one
        that recovers the whole gap at once), ``levels`` and ``cpt`` (for each
        level, the smallest fraction of Super calls at which the gap recovered
        reaches it: RouteLLM's CPT(50%), CPT(80%)).

    Raises
    ------
    ValueError
        If the Super is not better than the Swift on these inputs: there is
        no gap to recover.

    Examples
    --------
    >>> from elang_sk.metrics import performance_gap_recovered
    >>> result = performance_gap_recovered(
    ...     scores=[0.9, 0.8, 0.3, 0.1],
    ...     swift_quality=[1, 1, 0, 0],
    ...     super_quality=[1, 1, 1, 1],
    ... )
    >>> result.call_fraction.tolist(), result.pgr.tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 1.0, 1.0, 1.0])
    >>> result.apgr, result.cpt.tolist()
    (0.75, [0.25, 0.4])
    """
    curve = tradeoff_curve(scores, swift_quality, super_quality)
    call_fraction = (1 - curve.swift_ratio)[::-1]
    quality = curve.accuracy[::-1]
    q_swift, q_super = quality[0], quality[-1]
    if not q_super > q_swift:
        raise ValueError(
            f"The Super ({q_super:.6g}) is not better than the Swift "
            f"({q_swift:.6g}) on these inputs: there is no gap to recover, and "
            "the gap recovered is undefined. Compare the models' accuracies."
        )
    pgr = (quality - q_swift) / (q_super - q_swift)
    apgr = float(np.sum(np.diff(call_fraction) * (pgr[1:] + pgr[:-1]) / 2))
    levels = np.asarray(levels, dtype=float).reshape(-1)
    if not np.all((levels > 0) & (levels <= 1)):
        raise ValueError(
            f"levels are fractions of the gap in (0, 1]; got {levels.tolist()}. "
            "Pass e.g. levels=(0.5, 0.8)."
        )
    cpt = np.empty(levels.shape[0])
    for k, level in enumerate(levels):
        j = int(np.argmax(pgr >= level - 1e-12))
        if j == 0:
            cpt[k] = 0.0
            continue
        c0, c1, p0, p1 = call_fraction[j - 1], call_fraction[j], pgr[j - 1], pgr[j]
        cpt[k] = c0 + (c1 - c0) * (level - p0) / (p1 - p0)
    return Bunch(
        call_fraction=call_fraction, pgr=pgr, apgr=apgr, levels=levels, cpt=cpt
    )


def swift_ratio_score(estimator, X, y=None):
    """Scorer: fraction of inputs the Swift of a fitted joint model keeps.

    Parameters
    ----------
    estimator : JointClassifier, CascadeClassifier or JointSeq2Seq
        A fitted joint model.
    X : sequence or array-like of shape (n_samples, ...)
        Inputs.
    y : ignored
        Present for the scorer signature.

    Returns
    -------
    ratio : float
        Fraction of the inputs answered before the last stage (by the Swift
        of a pair).

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
    estimator : JointClassifier, CascadeClassifier or JointSeq2Seq
        A fitted joint model.
    X : sequence or array-like of shape (n_samples, ...)
        Inputs.
    y : ignored
        Present for the scorer signature.

    Returns
    -------
    speedup : float
        The last stage's cost alone over the joint cost.

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
        if not report.super_cost_per_input > 0:
            raise ValueError(
                "The tradeoff scorer divides the joint cost by the Super's cost, "
                f"which is {report.super_cost_per_input}; give the Super a "
                "positive cost (the costs parameter of the joint model)."
            )
        relative = report.cost_per_input / report.super_cost_per_input
        # Classifiers report accuracy; sequence models their corpus quality
        # (BLEU or chrF in 0-100, exact match in 0-1), read as a fraction.
        quality = getattr(report, "accuracy", None)
        if quality is None:
            quality = report.quality / (
                1.0 if report.metric == "exact_match" else 100.0
            )
        if self.max_relative_cost is not None and relative > self.max_relative_cost:
            # Over budget ranks below every feasible setting, but stays finite so
            # that fold averages remain comparable.
            return float(quality - 1.0 - relative)
        return float(quality - self.cost_weight * relative)

    def __repr__(self):
        return (
            f"make_tradeoff_scorer(cost_weight={self.cost_weight}, "
            f"max_relative_cost={self.max_relative_cost})"
        )


@validate_params(
    {
        "cost_weight": [Interval(Real, 0, None, closed="left")],
        "max_relative_cost": [Interval(Real, 0, None, closed="neither"), None],
    },
    prefer_skip_nested_validation=True,
)
def make_tradeoff_scorer(cost_weight=0.0, max_relative_cost=None):
    """Make a scorer that rewards accuracy and penalises cost.

    Plain accuracy always prefers sending every input to the Super, so a grid
    search over ``threshold`` needs a score that knows about cost. This scorer
    returns::

        accuracy - cost_weight * (joint cost / Super cost)

    for every joint estimator (pairs and cascades, where the "Super" is the
    last stage); for :class:`~elang_sk.JointSeq2Seq` the accuracy is its
    corpus quality as a fraction (BLEU or chrF / 100, or the exact-match
    rate).

    and, with ``max_relative_cost``, ranks every setting whose relative cost
    exceeds the budget below every setting within it.

    Parameters
    ----------
    cost_weight : float >= 0, default=0.0
        Accuracy points given up per unit of relative cost; e.g. ``0.02``
        trades 2 points of accuracy for running the Super on everything.
    max_relative_cost : float > 0, default=None
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
    return _TradeoffScorer(cost_weight, max_relative_cost)


def _check_text_pairs(hypotheses, references):
    hypotheses = check_texts(hypotheses, "hypotheses")
    references = check_texts(references, "references")
    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses and references have different lengths ({len(hypotheses)} "
            f"and {len(references)}); pass one reference per output."
        )
    return hypotheses, references


def _import_sacrebleu(caller):
    try:
        import sacrebleu
    except ImportError as exc:
        raise ImportError(
            f"{caller} computes BLEU and chrF with sacrebleu, which is not "
            "installed: pip install sacrebleu"
        ) from exc
    return sacrebleu


@validate_params(
    {"metric": [StrOptions(set(QUALITY_METRICS))]},
    prefer_skip_nested_validation=True,
)
def corpus_quality(hypotheses, references, metric="bleu"):
    """Corpus BLEU or chrF (sacrebleu, 0-100), or the exact-match rate (0-1).

    Parameters
    ----------
    hypotheses : sequence of str
        System outputs, one per input (empty strings allowed).
    references : sequence of str
        One reference per output, in the same order.
    metric : {"bleu", "chrf", "exact_match"}, default="bleu"
        sacrebleu's corpus BLEU or chrF with their default settings, or the
        fraction of outputs equal to their reference (ignoring surrounding
        whitespace). BLEU and chrF need sacrebleu (``pip install sacrebleu``),
        imported only when used.

    Returns
    -------
    quality : float
        Higher is better.

    See Also
    --------
    sentence_chrf : chrF of each output, the per-input quality.

    Examples
    --------
    >>> from elang_sk.metrics import corpus_quality
    >>> corpus_quality(["the cat sat on the mat"], ["the cat sat on the mat"])
    100.0
    >>> corpus_quality(["a", "b"], ["a", "c"], metric="exact_match")
    0.5
    """
    hypotheses, references = _check_text_pairs(hypotheses, references)
    if metric == "exact_match":
        matches = [
            h.strip() == r.strip() for h, r in zip(hypotheses, references, strict=True)
        ]
        return float(np.mean(matches))
    sacrebleu = _import_sacrebleu("corpus_quality")
    if metric == "bleu":
        return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)
    return float(sacrebleu.corpus_chrf(hypotheses, [references]).score)


def sentence_chrf(hypotheses, references):
    """Sentence-level chrF of every output, divided by 100 to lie in [0, 1].

    This is the per-input quality with which the sequence-to-sequence joint
    model compares the Swift and the Super, and the quality that
    :func:`tradeoff_curve` accepts in place of right/wrong.

    Parameters
    ----------
    hypotheses : sequence of str
        System outputs, one per input (empty strings allowed).
    references : sequence of str
        One reference per output, in the same order.

    Returns
    -------
    quality : ndarray of shape (n_samples,)
        sacrebleu's sentence chrF (default settings) of each output over 100.

    See Also
    --------
    corpus_quality : One number for the whole corpus.

    Examples
    --------
    >>> from elang_sk.metrics import sentence_chrf
    >>> sentence_chrf(["the cat sat", "a dog"], ["the cat sat", "the cat sat"]).round(2)
    array([1.  , 0.03])
    """
    hypotheses, references = _check_text_pairs(hypotheses, references)
    chrf = _import_sacrebleu("sentence_chrf").CHRF()
    return np.array(
        [
            chrf.sentence_score(h, [r]).score / 100.0
            for h, r in zip(hypotheses, references, strict=True)
        ]
    )
