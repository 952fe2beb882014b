"""CascadeClassifier: E-LANG over any number of classifiers, cheapest first."""

import math
import time
from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, MetaEstimatorMixin, _fit_context, clone
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import _BaseComposition, available_if
from sklearn.utils.validation import check_is_fitted

from elang_sk._base import (
    RoutingReport,
    check_cost_value,
    check_threshold_value,
    fit_unfitted,
)
from elang_sk._cache import MEMORY_CONSTRAINTS, hash_inputs, n_samples, resolve_cache
from elang_sk._deferral import DeferralRouter
from elang_sk._router import EnergyRouter, cross_fit_scores
from elang_sk._runner import ModelRunner, is_fitted
from elang_sk._scores import SCORES, get_score
from elang_sk._source import LogitSource
from elang_sk._threshold import ThresholdSelector
from elang_sk._validation import check_labels, check_samples

# Candidate thresholds per stage in the joint search: quantiles of its scores.
_N_CANDIDATES = 64
_MAX_SWEEPS = 10
_JOINT = ("match_super", "budget")  # strategies searched over all stages jointly
_PER_STAGE = ("crossing", "swift_ratio")


def _all_have(method):
    def check(self):
        return all(hasattr(est, method) for _, est in self.estimators)

    return check


def cascade_stages(scores, thresholds):
    """The stage that answers each input: the first whose score >= its threshold.

    Parameters
    ----------
    scores : list of ndarray of shape (n_samples,)
        Routing scores of every stage but the last.
    thresholds : sequence of float
        One threshold per such stage.

    Returns
    -------
    stage : ndarray of int of shape (n_samples,)
        Index of the answering stage; ``len(scores)`` is the last stage.
    """
    stage = np.full(len(scores[0]), len(scores))
    for k in reversed(range(len(scores))):
        stage[scores[k] >= thresholds[k]] = k
    return stage


def cascade_cost(stage, router_costs, full_costs):
    """Mean cost per input: routers of the stages passed, the answering stage in full.

    Equation 17 of E-LANG with one term per stage: an input that reaches
    stage ``k`` and is passed on pays that stage's routing cost; the stage
    that answers it is paid in full.
    """
    n_stages = len(full_costs)
    reached = stage[None, :] >= np.arange(n_stages)[:, None]
    passed = stage[None, :] > np.arange(n_stages)[:, None]
    answering = reached & ~passed
    total = sum(
        np.where(answering[k], full_costs[k], np.where(passed[k], router_costs[k], 0))
        for k in range(n_stages)
    )
    return float(np.mean(total))


class CascadeClassifier(ClassifierMixin, MetaEstimatorMixin, _BaseComposition):
    """E-LANG over N classifiers, cheapest first: each stage keeps what it is sure of.

    Every input goes to the first stage. Each stage but the last scores the
    inputs that reach it with its own router; inputs with ``score >=`` the
    stage's threshold keep its answer, the others go on to the next stage.
    The last stage answers whatever reaches it. A stage never runs on inputs
    stopped before it. With two stages this is :class:`JointClassifier`.

    Parameters
    ----------
    estimators : list of (str, classifier)
        The stages, cheapest first, as ``(name, classifier)`` pairs (as in
        :class:`~sklearn.ensemble.StackingClassifier`); at least two. They
        must predict the same ``classes_``. Pre-trained (fitted) models are
        used frozen, as in :class:`JointClassifier`: never refit, kept by
        reference by :func:`~sklearn.base.clone`, and
        ``set_params(<name>__<param>=...)`` raises. Unfitted models are
        trained in ``fit`` on a split of ``X`` (``calibration_size`` is held
        out for the routers and thresholds).
    routers : EnergyRouter, DeferralRouter, str, list or None, default=None
        The router of each stage but the last: one router (or score name) for
        all stages, or a list of them, one per stage. None means
        ``EnergyRouter()``. Each stage's router reads that stage's outputs
        exactly as in :class:`JointClassifier`. A :class:`DeferralRouter`
        learns where passing the input on to the *next* stage pays.
    thresholds : list of float, str or ThresholdSelector, default="crossing"
        How inputs are stopped. A list of numbers sets one threshold per
        stage but the last, and is the serving-time knob:
        ``set_params(thresholds=[...])`` takes effect at once. Otherwise the
        thresholds are chosen in ``fit`` on the calibration data:

        * ``"crossing"`` or ``ThresholdSelector("crossing")`` (or
          ``"swift_ratio"``): each stage applies the strategy to the
          calibration inputs that reach it (its right and wrong answers).
        * ``"match_last"``, ``ThresholdSelector("match_super", tol=...)``:
          the cheapest thresholds whose cascade accuracy is at least the last
          stage's minus ``tol``.
        * ``ThresholdSelector("budget", target=...)``: the most accurate
          thresholds whose mean cost per input is at most ``target``.
        * any other selector strategy: the earlier stages are searched as for
          ``"match_super"`` (with the selector's ``tol``), then the last gate
          is chosen by the selector itself, as a Swift/Super choice between
          the cascade so far and the last stage on every calibration input.

        The joint searches are coordinate searches: each stage's threshold in
        turn is set to the best of its candidates (quantiles of its
        calibration scores, and +-inf) with the others fixed, until no
        threshold changes.
    costs : {"auto", "time", "flops"} or dict, default="auto"
        Cost per input of each stage: FLOPs from every stage's
        ``estimate_flops`` (``"auto"`` when all have it), seconds measured in
        ``fit`` (``"time"``, ``"auto"`` otherwise), or a dict ``{name:
        cost}`` with one number per stage.
    memory : None, str, joblib.Memory or OutputCache, default=None
        Per-input cache of the stages' outputs.
    cv : int, cross-validation generator or None, default=5
        Cross-fitting of trained routers (energy heads, deferral routers):
        their calibration scores are out-of-fold.
    calibration_size : float, default=0.25
        Fraction of ``X`` held out for calibration when a stage is unfitted.
    random_state : int, RandomState instance or None, default=0
        Seed of that split.

    Attributes
    ----------
    estimators_ : list of classifier
        The fitted stages.
    named_estimators_ : Bunch
        The same, by name.
    routers_ : list of EnergyRouter
        The fitted router of each stage but the last.
    logit_sources_ : list of LogitSource
        Which output of each stage its router reads.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    thresholds_ : ndarray of shape (n_stages - 1,)
        The thresholds in use (``thresholds`` if numbers, else those chosen).
    calibration_ : Bunch
        ``scores`` (a list, one array per stage but the last), ``correct``
        (n_stages, n_samples) bool, ``router_cost`` and ``full_cost``
        (n_stages, n_samples).
    costs_ : Bunch
        ``router`` and ``full``: mean cost per input of each stage, and
        their ``unit``.
    n_features_in_ : int
        The first stage's, when it has one.

    See Also
    --------
    JointClassifier : The two-model case.
    DeferralRouter : A learned routing score.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from elang_sk import CascadeClassifier, ThresholdSelector
    >>> X, y = make_classification(n_samples=1500, n_informative=6,
    ...                            random_state=0)
    >>> stages = [
    ...     ("lr", LogisticRegression().fit(X[:600], y[:600])),
    ...     ("tree", DecisionTreeClassifier(max_depth=5, random_state=0).fit(
    ...         X[:600], y[:600])),
    ...     ("forest", RandomForestClassifier(random_state=0).fit(
    ...         X[:600], y[:600])),
    ... ]
    >>> cascade = CascadeClassifier(
    ...     stages, routers="softmax",
    ...     thresholds=ThresholdSelector("match_super", tol=0.01),
    ...     costs={"lr": 1, "tree": 2, "forest": 50},
    ... ).fit(X[600:1000], y[600:1000])
    >>> report = cascade.routing_report(X[1000:], y[1000:])
    >>> sorted(report.stage_ratios)
    ['forest', 'lr', 'tree']
    >>> bool(report.speedup > 1)
    True
    >>> cascade.set_params(thresholds=[0.9, 0.8]).predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        "estimators": [list],
        "routers": [list, EnergyRouter, StrOptions(set(SCORES)), None],
        "thresholds": [list, StrOptions({"crossing", "match_last"}), ThresholdSelector],
        "costs": [StrOptions({"auto", "time", "flops"}), dict],
        "memory": MEMORY_CONSTRAINTS,
        "cv": ["cv_object"],
        "calibration_size": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimators,
        *,
        routers=None,
        thresholds="crossing",
        costs="auto",
        memory=None,
        cv=5,
        calibration_size=0.25,
        random_state=0,
    ):
        self.estimators = estimators
        self.routers = routers
        self.thresholds = thresholds
        self.costs = costs
        self.memory = memory
        self.cv = cv
        self.calibration_size = calibration_size
        self.random_state = random_state

    # -- parameters -------------------------------------------------------------

    @property
    def named_estimators(self):
        """The stages by name (the given, possibly unfitted, models)."""
        return Bunch(**dict(self.estimators))

    def get_params(self, deep=True):
        """Parameters, with ``<name>`` and ``<name>__<param>`` of each stage if deep.

        Parameters
        ----------
        deep : bool, default=True
            Whether to include the stages and their parameters.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        """Set parameters; pre-trained stages are frozen.

        Setting ``<name>__<param>`` of a pre-trained (fitted) stage raises an
        error, as in :class:`JointClassifier`: it would change what the model
        reports, not its weights.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : CascadeClassifier
            This estimator.
        """
        stages = params.get("estimators", self.estimators)
        stages = (
            dict(pair for pair in stages if isinstance(pair, tuple) and len(pair) == 2)
            if isinstance(stages, list)
            else {}
        )
        for key in params:
            name, nested, _ = key.partition("__")
            if nested and name in stages:
                model = params.get(name, stages[name])
                if is_fitted(model):
                    raise ValueError(
                        f"Cannot set {key!r}: stage {name!r} is a pre-trained "
                        "(fitted) model, which the cascade uses frozen. Changing "
                        "its parameters would not change its weights and would "
                        "alter your own object. Pass an unfitted model to have it "
                        "trained in fit, or fit one model per setting yourself."
                    )
        self._set_params("estimators", **params)
        return self

    def __sklearn_clone__(self):
        # Pre-trained stages are shared, not copied (like FrozenEstimator).
        params = self.get_params(deep=False)
        params["estimators"] = [
            (name, est if is_fitted(est) else clone(est))
            for name, est in self.estimators
        ]
        for name in ("routers", "thresholds", "memory", "cv", "costs"):
            params[name] = clone(params[name], safe=False)
        return type(self)(**params)

    def _check_params(self):
        estimators = self.estimators
        if len(estimators) < 2 or not all(
            isinstance(pair, tuple) and len(pair) == 2 for pair in estimators
        ):
            raise ValueError(
                "estimators must be a list of at least two (name, classifier) "
                "pairs, cheapest first, e.g. [('small', clf1), ('large', clf2)]."
            )
        self._validate_names([name for name, _ in estimators])
        for name, est in estimators:
            if not (hasattr(est, "fit") and hasattr(est, "predict")):
                raise TypeError(
                    f"Stage {name!r} ({type(est).__name__}) is not a classifier "
                    "with fit and predict methods."
                )
        n_gates = len(estimators) - 1
        if isinstance(self.routers, list) and len(self.routers) != n_gates:
            raise ValueError(
                f"routers has {len(self.routers)} entries for {n_gates} routed "
                "stages: give one router per stage but the last, or one router "
                "for all of them."
            )
        if isinstance(self.thresholds, list):
            if len(self.thresholds) != n_gates:
                raise ValueError(
                    f"thresholds has {len(self.thresholds)} values for {n_gates} "
                    "routed stages: give one threshold per stage but the last."
                )
            for value in self.thresholds:
                check_threshold_value(value)
        else:
            _as_selector(self.thresholds).check_params()
        if isinstance(self.costs, dict):
            names = [name for name, _ in estimators]
            if sorted(self.costs) != sorted(names):
                raise ValueError(
                    f"costs as a dict needs one cost per stage, keyed by name: "
                    f"{names}; got {sorted(self.costs)}."
                )
            for key, value in self.costs.items():
                check_cost_value(key, value)

    def _router(self, k):
        router = self.routers[k] if isinstance(self.routers, list) else self.routers
        if router is None:
            return EnergyRouter()
        if isinstance(router, str):
            return EnergyRouter(score_func=router)
        if not isinstance(router, EnergyRouter):
            raise TypeError(
                f"routers[{k}] is a {type(router).__name__}; give an EnergyRouter, "
                "a DeferralRouter, a score name or None."
            )
        return clone(router)

    # -- fitting ----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the routers and choose the thresholds on held-out data.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the stages take (passed through).
        y : array-like of shape (n_samples,)
            True labels.

        Returns
        -------
        self : CascadeClassifier
            The fitted cascade.
        """
        self._check_params()
        X = self._check_inputs(X)
        y = self._check_y(n_samples(X), y)
        names = [name for name, _ in self.estimators]
        if self.costs == "flops" and not self._can_count_flops():
            raise ValueError(
                "costs='flops' needs every stage to have an estimate_flops method "
                "(e.g. TransformerClassifier); use costs='time' or a dict "
                f"{{name: cost}} for the stages {names}."
            )
        self.estimators_, X, y = self._fit_stages(X, y)
        self.named_estimators_ = Bunch(
            **dict(zip(names, self.estimators_, strict=True))
        )
        self.classes_ = self._check_classes(y)

        runs = self._runners(X)
        n_gates = len(self.estimators_) - 1
        self.routers_, self.logit_sources_ = [], []
        scores, correct, inputs, seconds = [], [], [], []
        for k, est in enumerate(self.estimators_):
            if k == n_gates:
                pred, answer_seconds = runs[k]("predict")
                correct.append(np.asarray(pred) == y)
                seconds.append((np.asarray(answer_seconds, float),) * 2)
                break
            router = self._router(k)
            source = LogitSource.choose(
                est, len(self.classes_), router.head, get_score(router.score_func)
            )
            router.set_params(head=source.head)
            router_input, router_seconds = source.router_input(runs[k])
            pred, answer_seconds = source.answer(runs[k], "predict", self.classes_)
            correct.append(np.asarray(pred) == y)
            costs = source.costs(router_seconds, answer_seconds)
            seconds.append((costs.router, costs.swift))
            inputs.append(router_input)
            self.routers_.append(router)
            self.logit_sources_.append(source)
        for k, router in enumerate(self.routers_):
            scores.append(self._fit_router(router, k, inputs[k], y, correct))

        router_cost, full_cost, unit = self._calibration_costs(X, seconds)
        self.costs_ = Bunch(
            router=router_cost.mean(axis=1), full=full_cost.mean(axis=1), unit=unit
        )
        self.calibration_ = Bunch(
            scores=scores,
            correct=np.array(correct),
            router_cost=router_cost,
            full_cost=full_cost,
        )
        self._chosen = {}
        if not isinstance(self.thresholds, list):
            self._chosen[_key(self.thresholds)] = self._choose(self.thresholds)
        return self

    def _fit_router(self, router, k, router_input, y, correct):
        """Fit stage ``k``'s router; its calibration scores (out of fold if trained)."""
        if isinstance(router, DeferralRouter):
            target = router.deferral_target(correct[k], correct[k + 1])
        elif self.logit_sources_[k].head:
            target = y
        else:
            router.fit(router_input)
            return router.score_samples(router_input)
        scores = cross_fit_scores(router, router_input, target, self.cv)
        router.fit(router_input, target)
        return scores

    def _fit_stages(self, X, y):
        given = [est for _, est in self.estimators]
        return fit_unfitted(given, X, y, self.calibration_size, self.random_state)

    def _check_classes(self, y):
        names = [name for name, _ in self.estimators]
        first = None
        for name, est in zip(names, self.estimators_, strict=True):
            if not hasattr(est, "classes_"):
                raise ValueError(
                    f"Stage {name!r} ({type(est).__name__}) has no classes_ "
                    "attribute; CascadeClassifier needs classifiers that expose "
                    "their labels."
                )
            if first is None:
                first = (name, np.asarray(est.classes_))
            elif not np.array_equal(first[1], est.classes_):
                raise ValueError(
                    f"Stages {first[0]!r} and {name!r} predict different classes: "
                    f"{first[1].tolist()} and {np.asarray(est.classes_).tolist()}. "
                    "Train every stage on the same label set."
                )
        unseen = np.setdiff1d(np.unique(y), first[1])
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()} that no stage can predict "
                f"(their classes_ are {first[1].tolist()}). Drop these samples, or "
                "retrain the models with these labels."
            )
        return first[1]

    # -- costs ------------------------------------------------------------------

    def _can_count_flops(self):
        return all(hasattr(est, "estimate_flops") for _, est in self.estimators)

    def _uses_flops(self):
        return self.costs == "flops" or (
            self.costs == "auto" and self._can_count_flops()
        )

    def _flops(self, X):
        """Per-input FLOPs (router, full) of each stage on ``X``."""
        router_cost, full_cost = [], []
        for k, est in enumerate(self.estimators_):
            full = np.asarray(est.estimate_flops(X, method="predict"), float)
            router = full
            if k < len(self.routers_) and self.logit_sources_[k].method == "features":
                router = np.asarray(est.estimate_flops(X, method="transform"), float)
                if getattr(self.routers_[k], "head_", False):
                    router = router + 2.0 * self.routers_[k].coef_.size
            if k < len(self.routers_):
                costs = self.logit_sources_[k].costs(router, full)
                router, full = costs.router, costs.swift
            router_cost.append(router)
            full_cost.append(full)
        return np.array(router_cost), np.array(full_cost)

    def _calibration_costs(self, X, seconds):
        n = n_samples(X)
        if isinstance(self.costs, dict):
            values = np.array([float(self.costs[name]) for name, _ in self.estimators])
            full = np.repeat(values[:, None], n, axis=1)
            return full, full.copy(), "given"
        if self._uses_flops():
            return (*self._flops(X), "FLOPs")
        router = np.array([r for r, _ in seconds])
        full = np.array([f for _, f in seconds])
        return router, full, "seconds"

    def _costs_on(self, X):
        if self.costs_.unit == "FLOPs":
            return self._flops(X)
        n = n_samples(X)
        return (
            np.repeat(self.costs_.router[:, None], n, axis=1),
            np.repeat(self.costs_.full[:, None], n, axis=1),
        )

    # -- thresholds -------------------------------------------------------------

    @property
    def thresholds_(self):
        """The thresholds in use: ``thresholds`` if numbers, else those chosen.

        Read at prediction time, so ``set_params(thresholds=[...])`` on a
        fitted cascade takes effect at once. A strategy set after ``fit`` is
        chosen once on the stored calibration data.
        """
        check_is_fitted(self, "calibration_")
        if isinstance(self.thresholds, list):
            if len(self.thresholds) != len(self.routers_):
                raise ValueError(
                    f"thresholds has {len(self.thresholds)} values for "
                    f"{len(self.routers_)} routed stages: give one threshold per "
                    "stage but the last."
                )
            return np.array([check_threshold_value(t) for t in self.thresholds])
        key = _key(self.thresholds)
        if key not in self._chosen:
            self._chosen[key] = self._choose(self.thresholds)
        return self._chosen[key].copy()

    def _choose(self, thresholds):
        selector = _as_selector(thresholds)
        selector.check_params()
        if selector.strategy in _PER_STAGE:
            return self._per_stage(selector)
        if selector.strategy == "budget":
            return self._search(budget=selector.target)
        chosen = self._search(tol=getattr(selector, "tol", 0.0))
        if selector.strategy in _JOINT:
            return chosen
        return self._last_gate(selector, chosen)

    def _last_gate(self, selector, chosen):
        """The last gate chosen by ``selector``: the cascade so far vs the last stage.

        With the earlier gates fixed, every calibration input is a Swift/Super
        pair: the "Swift" is the cascade stopped before the last stage, the
        "Super" the last stage. Inputs stopped before the last gate have the
        same outcome at every threshold of that gate; they get a score above
        all others, so that only the all-to-the-last-stage end of the curve
        sends them on, and there every gate is opened.
        """
        cal = self.calibration_
        last = len(chosen) - 1
        front = cascade_stages(cal.scores, np.r_[chosen[:last], -np.inf])
        rows = np.arange(front.size)
        scores = cal.scores[last]
        top = scores.max() + 1.0
        front_cost = _stage_costs(front, cal.router_cost, cal.full_cost)
        every_gate_open = np.full(front.size, len(chosen))
        selection = selector.select(
            np.where(front == last, scores, top),
            cal.correct[front, rows],
            cal.correct[-1],
            swift_cost=front_cost,
            super_cost=_stage_costs(every_gate_open, cal.router_cost, cal.full_cost),
            router_cost=np.zeros(front.size),
        )
        if not np.isfinite(selection.threshold):  # nothing kept: all to the last
            return np.full(len(chosen), np.inf)
        chosen = chosen.copy()
        chosen[last] = selection.threshold if selection.threshold < top else np.inf
        return chosen

    def _per_stage(self, selector):
        cal = self.calibration_
        chosen = np.full(len(cal.scores), np.inf)
        reach = np.ones(len(cal.scores[0]), bool)
        for k, scores in enumerate(cal.scores):
            if not reach.any():
                break
            chosen[k] = selector.select(scores[reach], cal.correct[k][reach]).threshold
            reach &= scores < chosen[k]
        return chosen

    def _evaluate(self, thresholds):
        cal = self.calibration_
        stage = cascade_stages(cal.scores, thresholds)
        accuracy = float(np.mean(cal.correct[stage, np.arange(stage.size)]))
        return accuracy, cascade_cost(stage, cal.router_cost, cal.full_cost)

    def _search(self, tol=0.0, budget=None):
        """Coordinate search of the thresholds (see ``thresholds``)."""
        cal = self.calibration_
        candidates = [
            np.unique(
                np.r_[-np.inf, np.quantile(s, np.linspace(0, 1, _N_CANDIDATES)), np.inf]
            )
            for s in cal.scores
        ]
        goal = float(np.mean(cal.correct[-1])) - tol - 1e-12

        def rank(point):
            accuracy, cost = point
            if budget is None:
                return (accuracy < goal, cost, -accuracy)
            return (cost > budget * (1 + 1e-12), -accuracy, cost)

        chosen = np.full(len(cal.scores), np.inf)
        best = rank(self._evaluate(chosen))
        for _ in range(_MAX_SWEEPS):
            changed = False
            for k, values in enumerate(candidates):
                for value in values:
                    trial = chosen.copy()
                    trial[k] = value
                    point = rank(self._evaluate(trial))
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

    # -- serving ----------------------------------------------------------------

    def _check_inputs(self, X):
        return check_samples(X, "the stages")

    def _check_y(self, n, y):
        return check_labels(n, y, "CascadeClassifier")

    def _runners(self, X):
        """One runner per stage on ``X``, sharing input keys."""
        cache = resolve_cache(self.memory)
        keys = hash_inputs(X) if cache is not None else None
        names = [name for name, _ in self.estimators]
        return [
            ModelRunner(est, X, cache, keys, role=f"stage {name!r}")
            for name, est in zip(names, self.estimators_, strict=True)
        ]

    def _serve(self, X, method):
        """Answer ``X``; each stage runs only on the inputs that reach it.

        With ``method=None`` only the routers run: nothing is answered and the
        last stage does not run.
        """
        check_is_fitted(self, "calibration_")
        thresholds = self.thresholds_
        X = self._check_inputs(X)
        n = n_samples(X)
        cache = resolve_cache(self.memory)
        keys = hash_inputs(X) if cache is not None else None
        stage = np.full(n, len(self.estimators_) - 1)
        scores = np.full((len(self.routers_), n), np.nan)
        pending = np.arange(n)
        out = None
        for k, est in enumerate(self.estimators_):
            sub = X if pending.size == n else _safe_indexing(X, pending)
            run = ModelRunner(
                est,
                sub,
                cache,
                None if keys is None else keys[pending],
                role=f"stage {self.estimators[k][0]!r}",
            )
            if k < len(self.routers_):
                source = self.logit_sources_[k]
                scores[k, pending] = self.routers_[k].score_samples(
                    source.router_input(run)[0]
                )
                keep = scores[k, pending] >= thresholds[k]
            else:
                keep = np.ones(pending.size, bool)
            if method is not None and keep.any():
                rows = None if keep.all() else np.flatnonzero(keep)
                if k < len(self.routers_):
                    values = source.answer(run, method, self.classes_, rows)[0]
                else:
                    values = run(method)[0]
                values = np.asarray(values)
                if out is None:
                    out = np.empty((n,) + values.shape[1:], dtype=values.dtype)
                elif out.dtype != values.dtype:
                    out = out.astype(np.result_type(out, values))
                out[pending[keep]] = values
            stage[pending[keep]] = k
            pending = pending[~keep]
            if not pending.size or (method is None and k == len(self.routers_) - 1):
                break
        return out, stage, scores

    def predict(self, X):
        """Predict with the first stage that is sure enough of each input.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the stages take.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels.
        """
        return self._serve(X, "predict")[0]

    @available_if(_all_have("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the stage that answered each input.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the stages take.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        return self._serve(X, "predict_proba")[0].astype(np.float64)

    def served_by(self, X):
        """The name of the stage that answers each input.

        Runs each stage's router on the inputs that reach it; the last stage
        does not run.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the stages take.

        Returns
        -------
        served_by : ndarray of str of shape (n_samples,)
        """
        stage = self._serve(X, None)[1]
        return np.array([name for name, _ in self.estimators])[stage]

    def routing_report(self, X, y=None):
        """Predict and account for what it cost (eq. 17, one term per stage).

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the stages take.
        y : array-like of shape (n_samples,), default=None
            True labels, for the accuracy.

        Returns
        -------
        report : RoutingReport
            ``y_pred``, ``served_by``, ``thresholds``, ``n_samples``,
            ``stage_counts`` and ``stage_ratios`` (dicts by stage name),
            ``cost_per_input`` (the cascade's), ``last_cost_per_input`` (the
            last stage alone), ``speedup`` (their ratio), ``cost_unit``,
            ``wall_time`` and, with ``y``, ``accuracy``.
        """
        start = time.perf_counter()
        y_pred, stage, _ = self._serve(X, "predict")
        wall_time = time.perf_counter() - start
        X = self._check_inputs(X)
        router_cost, full_cost = self._costs_on(X)
        cost = cascade_cost(stage, router_cost, full_cost)
        last = float(np.mean(full_cost[-1]))
        names = [name for name, _ in self.estimators]
        counts = np.bincount(stage, minlength=len(names))
        report = RoutingReport(
            y_pred=y_pred,
            served_by=np.array(names)[stage],
            thresholds=self.thresholds_.tolist(),
            n_samples=int(stage.size),
            stage_counts=dict(zip(names, counts.tolist(), strict=True)),
            stage_ratios=dict(zip(names, (counts / stage.size).tolist(), strict=True)),
            cost_per_input=cost,
            last_cost_per_input=last,
            speedup=last / cost if cost > 0 else math.inf,
            cost_unit=self.costs_.unit,
            wall_time=wall_time,
        )
        if y is not None:
            y = self._check_y(stage.size, y)
            report["accuracy"] = float(np.mean(y_pred == y))
        return report

    # -- scikit-learn protocol --------------------------------------------------

    @property
    def n_features_in_(self):
        """Number of features the first stage saw in its fit, when it has one."""
        return self.estimators_[0].n_features_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            stage_tags = [est.__sklearn_tags__() for _, est in self.estimators]
        except (AttributeError, TypeError, ValueError):
            return tags
        tags.input_tags.sparse = all(t.input_tags.sparse for t in stage_tags)
        tags.input_tags.allow_nan = all(t.input_tags.allow_nan for t in stage_tags)
        first = stage_tags[0].input_tags
        if first.string and not first.two_d_array:
            tags.input_tags.string = True
            tags.input_tags.two_d_array = False
        return tags


def _stage_costs(stage, router_cost, full_cost):
    """Per-input cost of the cascade when ``stage`` answers each input."""
    rows = np.arange(stage.size)
    passed = sum(
        np.where(stage > k, router_cost[k], 0.0) for k in range(len(full_cost))
    )
    return passed + full_cost[stage, rows]


def _as_selector(thresholds):
    """The :class:`ThresholdSelector` a ``thresholds`` strategy stands for."""
    if thresholds == "crossing":
        return ThresholdSelector("crossing")
    if thresholds == "match_last":
        return ThresholdSelector("match_super")
    return thresholds


def _key(thresholds):
    if isinstance(thresholds, ThresholdSelector):
        return (type(thresholds), tuple(sorted(vars(thresholds).items())))
    return thresholds
