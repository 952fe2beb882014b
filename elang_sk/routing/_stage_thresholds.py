"""Thresholds of N >= 2 stages: the cut, and how a strategy chooses the thresholds.

Every joint estimator routes the same way: stage ``k`` keeps an input whose
routing score is ``>= thresholds[k]``, the others go on to stage ``k + 1``
and the last stage answers what reaches it. :func:`keeps` is that cut, the
one place it is written; :func:`answering_stage` applies it to every gate.

:func:`select_thresholds` turns a :class:`ThresholdSelector` into one
threshold per gate on calibration data:

* with **one gate** (a Swift and a Super) the selector chooses exactly, on
  the trade-off curve of the two models;
* with **more gates**, ``"crossing"`` and ``"swift_ratio"`` are applied to
  each stage in turn, on the calibration inputs that reach it;
  ``"match_super"`` and ``"budget"`` are searched over all gates jointly (a
  coordinate search over quantiles of each gate's scores); any other strategy
  (``"risk_control"``) fixes the earlier gates as ``"match_super"`` does
  with its ``tol`` and lets the selector choose the last gate, as a
  Swift/Super choice between the cascade so far and the last stage.
"""

import numpy as np
from sklearn.utils import Bunch

from elang_sk.metrics import routing_cost_per_input

# Candidate thresholds per stage in the joint search: quantiles of its scores.
_N_CANDIDATES = 64
_MAX_SWEEPS = 10
_JOINT = ("match_super", "budget")  # strategies searched over all gates jointly
_PER_STAGE = ("crossing", "swift_ratio")


def keeps(scores, threshold):
    """Whether a stage keeps each input: ``score >= threshold``.

    The one place where the routing cut is applied: serving, the reports,
    the threshold search and the distributed stages all call it.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
        Routing scores of one stage.
    threshold : float
        Its threshold; ``-inf`` keeps everything, ``inf`` nothing.

    Returns
    -------
    keep : ndarray of bool of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk.routing._stage_thresholds import keeps
    >>> keeps(np.array([0.5, 1.0, 2.0]), 1.0).tolist()
    [False, True, True]
    """
    return np.asarray(scores) >= threshold


def answering_stage(scores, thresholds):
    """The stage that answers each input: the first that keeps it.

    Parameters
    ----------
    scores : array-like of shape (n_gates, n_samples)
        Routing scores of every stage but the last.
    thresholds : sequence of float
        One threshold per gate.

    Returns
    -------
    stage : ndarray of int of shape (n_samples,)
        Index of the answering stage; ``n_gates`` is the last stage.

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk.routing._stage_thresholds import answering_stage
    >>> answering_stage(np.array([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0]]),
    ...                 [1.0, 1.0]).tolist()
    [0, 1, 2]
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    stage = np.full(scores.shape[1], scores.shape[0])
    for k in reversed(range(scores.shape[0])):
        stage[keeps(scores[k], thresholds[k])] = k
    return stage


def _accuracy_and_cost(cal, thresholds):
    stage = answering_stage(cal.stage_scores, thresholds)
    quality = float(np.mean(cal.stage_quality[stage, np.arange(stage.size)]))
    cost = routing_cost_per_input(stage, cal.stage_router_cost, cal.stage_full_cost)
    return quality, float(np.mean(cost))


def select_thresholds(selector, cal, curve=None):
    """One threshold per gate, chosen by ``selector`` on calibration data.

    Parameters
    ----------
    selector : ThresholdSelector
        The strategy (checked).
    cal : Bunch
        The calibration data of a joint estimator: ``stage_scores`` (n_gates,
        n), ``stage_quality`` and ``stage_right`` (n_stages, n), and the
        per-input costs ``stage_router_cost`` and ``stage_full_cost``
        (n_stages, n).
    curve : Bunch, default=None
        With one gate, the two models' trade-off curve
        (:func:`elang_sk.metrics.tradeoff_curve`) the selector chooses on.

    Returns
    -------
    selection : Bunch
        ``thresholds`` (ndarray, one per gate) and everything the selector
        returned (for one gate: ``threshold``, ``densities``, the
        certificate of ``"risk_control"`` ...; for more gates the last
        gate's selection when the selector chose it).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from elang_sk import ThresholdSelector
    >>> from elang_sk.routing._stage_thresholds import select_thresholds
    >>> cal = Bunch(
    ...     stage_scores=np.array([[3.0, 2.0, 1.0, 0.0]]),
    ...     stage_quality=np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]),
    ...     stage_right=np.array([[True, True, False, False], [True] * 4]),
    ...     stage_router_cost=np.array([[1.0] * 4, [10.0] * 4]),
    ...     stage_full_cost=np.array([[1.0] * 4, [10.0] * 4]),
    ... )
    >>> select_thresholds(ThresholdSelector("match_super"), cal).thresholds
    array([2.])
    """
    selector.check_params()
    n_gates = len(cal.stage_scores)
    if n_gates == 1:
        selection = selector.select(
            cal.stage_scores[0],
            cal.stage_right[0],
            cal.stage_right[1],
            swift_cost=cal.stage_full_cost[0],
            super_cost=cal.stage_full_cost[1],
            router_cost=cal.stage_router_cost[0],
            curve=curve,
            swift_quality=cal.stage_quality[0],
            super_quality=cal.stage_quality[1],
        )
        selection.thresholds = np.array([selection.threshold])
        return selection
    if selector.strategy in _PER_STAGE:
        return Bunch(thresholds=_per_stage(selector, cal))
    if selector.strategy == "budget":
        return Bunch(thresholds=_search(cal, budget=selector.target))
    chosen = _search(cal, tol=selector.effective_tol())
    if selector.strategy in _JOINT:
        return Bunch(thresholds=chosen)
    return _last_gate(selector, cal, chosen)


def _per_stage(selector, cal):
    """Each gate chosen by the selector on the inputs that reach it."""
    chosen = np.full(len(cal.stage_scores), np.inf)
    reach = np.ones(cal.stage_scores.shape[1], bool)
    for k, scores in enumerate(cal.stage_scores):
        if not reach.any():
            break
        chosen[k] = selector.select(scores[reach], cal.stage_right[k][reach]).threshold
        reach &= ~keeps(scores, chosen[k])
    return chosen


def _search(cal, tol=0.0, budget=None):
    """Coordinate search of every gate's threshold (see the module docstring)."""
    candidates = [
        np.unique(
            np.r_[-np.inf, np.quantile(s, np.linspace(0, 1, _N_CANDIDATES)), np.inf]
        )
        for s in cal.stage_scores
    ]
    goal = float(np.mean(cal.stage_quality[-1])) - tol - 1e-12

    def rank(point):
        quality, cost = point
        if budget is None:
            return (quality < goal, cost, -quality)
        return (cost > budget * (1 + 1e-12), -quality, cost)

    chosen = np.full(len(cal.stage_scores), np.inf)
    best = rank(_accuracy_and_cost(cal, chosen))
    for _ in range(_MAX_SWEEPS):
        changed = False
        for k, values in enumerate(candidates):
            for value in values:
                trial = chosen.copy()
                trial[k] = value
                point = rank(_accuracy_and_cost(cal, trial))
                if point < best:
                    best, chosen, changed = point, trial, True
        if not changed:
            break
    if budget is not None and best[0]:
        raise ValueError(
            f"No thresholds meet the budget of {budget} per input: the "
            f"cheapest setting found costs {best[2]:.6g}. Raise the budget."
        )
    return chosen


def front_and_last(cal, thresholds):
    """The last gate as a Swift/Super choice, the earlier gates fixed.

    The "Swift" is the cascade stopped before the last stage, the "Super"
    the last stage. Inputs stopped before the last gate have the same outcome
    at every threshold of that gate; they get a score above all others, so
    that only the all-to-the-last-stage end of the curve sends them on, and
    there every gate is opened.

    Returns
    -------
    pair : Bunch
        ``scores``, ``swift_quality``, ``super_quality``, ``swift_right``,
        ``super_right``,
        ``swift_cost``, ``super_cost``, ``router_cost`` (per input) and
        ``top`` (the score given to the inputs stopped earlier).
    """
    last = len(thresholds) - 1
    front = answering_stage(cal.stage_scores, np.r_[thresholds[:last], -np.inf])
    rows = np.arange(front.size)
    scores = cal.stage_scores[last]
    top = float(scores.max()) + 1.0
    every_gate_open = np.full(front.size, len(thresholds))
    return Bunch(
        scores=np.where(front == last, scores, top),
        swift_quality=cal.stage_quality[front, rows],
        super_quality=cal.stage_quality[-1],
        swift_right=cal.stage_right[front, rows],
        super_right=cal.stage_right[-1],
        swift_cost=routing_cost_per_input(
            front, cal.stage_router_cost, cal.stage_full_cost
        ),
        super_cost=routing_cost_per_input(
            every_gate_open, cal.stage_router_cost, cal.stage_full_cost
        ),
        router_cost=np.zeros(front.size),
        top=top,
    )


def _last_gate(selector, cal, chosen):
    """The last gate chosen by ``selector``, the earlier gates at ``chosen``."""
    pair = front_and_last(cal, chosen)
    selection = selector.select(
        pair.scores,
        pair.swift_right,
        pair.super_right,
        swift_cost=pair.swift_cost,
        super_cost=pair.super_cost,
        router_cost=pair.router_cost,
        swift_quality=pair.swift_quality,
        super_quality=pair.super_quality,
    )
    if not np.isfinite(selection.threshold):  # nothing kept: all to the last
        selection.thresholds = np.full(len(chosen), np.inf)
        return selection
    chosen = chosen.copy()
    last = len(chosen) - 1
    chosen[last] = selection.threshold if selection.threshold < pair.top else np.inf
    selection.thresholds = chosen
    return selection
