"""JointClassifier: E-LANG joint inference of a Swift and a Super classifier."""

import os
import time
from numbers import Integral, Real

import numpy as np
from scipy.special import softmax
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.model_selection import check_cv, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from elang_sk._cache import (
    OutputCache,
    _subset,
    hash_inputs,
    n_samples,
    resolve_cache,
)
from elang_sk._outputs import ModelRunner, as_logits, is_fitted, logit_source
from elang_sk._router import EnergyRouter
from elang_sk._scores import SCORES, get_score
from elang_sk._threshold import (
    STRATEGIES,
    ServingThresholdMixin,
    ThresholdSelector,
    as_selector,
)
from elang_sk._validation import check_texts
from elang_sk.metrics import joint_cost, tradeoff_curve

_SUB_ESTIMATORS = ("swift_estimator", "super_estimator")
_COST_KEYS = {"swift", "super", "router"}


def _both_have(method):
    def check(self):
        return all(hasattr(getattr(self, name), method) for name in _SUB_ESTIMATORS)

    return check


class JointClassifier(
    ServingThresholdMixin, ClassifierMixin, MetaEstimatorMixin, BaseEstimator
):
    """E-LANG joint inference: a Swift classifier first, the Super when in doubt.

    Every input is scored by the router on the Swift's outputs. Inputs with
    ``score >= threshold`` keep the Swift's prediction; the others are
    forwarded, in one batch, to the Super (eq. 7 of the E-LANG paper). The
    Super never sees the inputs the Swift keeps.

    ``fit`` does not retrain pre-trained models: it calibrates the router (and
    its energy head, if any) and the threshold on the given data, which should
    be held-out data such as a dev split.

    Parameters
    ----------
    swift_estimator : classifier
        The small, fast model. Any scikit-learn classifier (e.g. a TF-IDF +
        logistic regression :class:`~sklearn.pipeline.Pipeline`) or a
        :class:`TransformerClassifier`.

        * **Fitted** (pre-trained) models are used as given: never refit,
          and never copied by :func:`~sklearn.base.clone`, which keeps them by
          reference as :class:`~sklearn.frozen.FrozenEstimator` does. This is
          the normal case.
        * **Unfitted** models are trained in ``fit``: ``X, y`` is split, the
          unfitted models are fit on one part and the router and threshold are
          calibrated on the other (``calibration_size``), so that the threshold
          is never chosen on the models' own training data.
    super_estimator : classifier
        The large, accurate model; same rules. It must predict the same
        ``classes_`` as the Swift.
    router : EnergyRouter, str or None, default=None
        Computes the routing score. A score name (``"energy"``, ``"softmax"``,
        ``"entropy"``, ``"random"``) is a shortcut for
        ``EnergyRouter(score=name)``; None means ``EnergyRouter()``.

        Where the score reads from, with ``router.head="auto"``, in this order:

        1. the Swift's ``predict_logits`` (e.g. :class:`TransformerClassifier`);
        2. its multi-column ``decision_function`` (more than 2 classes);
        3. an **energy head** trained on its frozen features, when it has them
           (a Pipeline: the output of every step but the last; otherwise a
           ``transform`` method) -- eq. 8;
        4. a binary ``decision_function`` margin ``d`` read as the logits
           ``(-d/2, d/2)``; energy then ranks inputs exactly like softmax,
           which is said in an :class:`EnergyLogitsWarning`;
        5. ``log(predict_proba)`` for scores that do not need real logits
           (softmax, entropy). The energy score raises an error instead: the
           logsumexp of log-probabilities is always zero.

        ``router.head=True`` forces step 3, ``False`` skips it.
    threshold : float, str or ThresholdSelector, default="crossing"
        The routing threshold, or how to choose it on the fitting data: a
        :class:`ThresholdSelector` or the name of one of its strategies.
        Changing it on a fitted model (``set_params(threshold=1.7)``) takes
        effect at once, without refitting: the serving-time knob.
    costs : {"auto", "time", "flops"} or dict, default="auto"
        Cost per input of each model, for the eq. 17 accounting. ``"time"``
        measures compute seconds per input while the models run (stored with
        the cached outputs, so cache hits keep their first measurement);
        ``"flops"`` asks both models' ``estimate_flops`` (as
        :class:`TransformerClassifier` has); ``"auto"`` uses FLOPs when both
        models can count them and time otherwise. A dict gives them directly:
        ``{"swift": ..., "super": ...}`` and optionally ``"router"``, the part
        of the Swift every input pays for (defaults to ``"swift"``).
    memory : None, str, joblib.Memory or OutputCache, default=None
        Where to cache model outputs, per input: with it, refits, CV folds and
        grid searches run each model at most once per distinct input.
    cv : int, cross-validation generator or None, default=5
        Cross-fitting of the energy head: the calibration scores are
        out-of-fold, so the threshold is not chosen on the head's training
        data. None trains and scores the head on the same data.
    calibration_size : float, default=0.25
        Fraction of ``X`` held out for calibration when a sub-estimator is
        unfitted and has to be trained in ``fit``.
    random_state : int, RandomState instance or None, default=0
        Seed of the calibration split.

    Attributes
    ----------
    swift_estimator_, super_estimator_ : classifier
        The sub-models used: the given ones when pre-trained, else the fitted
        clones.
    router_ : EnergyRouter
        The fitted router.
    routing_method_ : str or None
        The Swift output the router reads: ``"predict_logits"``,
        ``"decision_function"``, ``"features"`` (energy head),
        ``"predict_proba"``, or None (random score).
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    threshold_ : float
        The threshold in use: ``threshold`` itself if it is a number, else the
        one selected on the calibration data.
    calibration_ : Bunch
        Calibration data: ``scores``, ``swift_correct``, ``super_correct`` and
        per-input ``swift_cost``, ``super_cost``, ``router_cost``.
    curve_ : Bunch
        The accuracy/cost trade-off on the calibration data for every
        threshold (see :func:`elang_sk.metrics.tradeoff_curve`).
    costs_ : Bunch
        Mean cost per input of ``swift``, ``super`` and ``router``, and their
        ``unit``.
    n_features_in_ : int
        Number of features, for non-text inputs.

    See Also
    --------
    EnergyRouter : The routing score.
    ThresholdSelector : Threshold strategies.
    elang_sk.metrics.make_tradeoff_scorer : Scoring for threshold grid search.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from elang_sk import JointClassifier
    >>> X, y = make_classification(n_samples=1200, n_informative=6,
    ...                            random_state=0)
    >>> swift = LogisticRegression().fit(X[:600], y[:600])
    >>> big = RandomForestClassifier(random_state=0).fit(X[:600], y[:600])
    >>> clf = JointClassifier(swift, big, router="softmax").fit(X[600:900],
    ...                                                         y[600:900])
    >>> report = clf.routing_report(X[900:], y[900:])
    >>> 0 < report.swift_ratio < 1
    True
    >>> clf.set_params(threshold=2.0).predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        "swift_estimator": [HasMethods(["fit", "predict"])],
        "super_estimator": [HasMethods(["fit", "predict"])],
        "router": [EnergyRouter, StrOptions(set(SCORES)), None],
        "threshold": [Real, StrOptions(set(STRATEGIES)), ThresholdSelector],
        "costs": [StrOptions({"auto", "time", "flops"}), dict],
        "memory": [None, str, os.PathLike, HasMethods(["cache"]), OutputCache],
        "cv": ["cv_object"],
        "calibration_size": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        swift_estimator,
        super_estimator,
        *,
        router=None,
        threshold="crossing",
        costs="auto",
        memory=None,
        cv=5,
        calibration_size=0.25,
        random_state=0,
    ):
        self.swift_estimator = swift_estimator
        self.super_estimator = super_estimator
        self.router = router
        self.threshold = threshold
        self.costs = costs
        self.memory = memory
        self.cv = cv
        self.calibration_size = calibration_size
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Calibrate the router and the threshold on held-out data.

        Parameters
        ----------
        X : sequence of str, {array-like, sparse matrix} of shape \
                (n_samples, n_features)
            Inputs, texts when the sub-models take texts.
        y : array-like of shape (n_samples,)
            True labels.

        Returns
        -------
        self : JointClassifier
            The fitted joint model.
        """
        self._check_costs_param()
        X = self._check_X(X, reset=True)
        y = self._check_y(X, y)
        swift, super_, X, y = self._fit_sub_estimators(X, y)
        self.swift_estimator_, self.super_estimator_ = swift, super_
        self.classes_ = self._check_classes(swift, super_, y)

        router = self._make_router()
        method, head = logit_source(
            swift, len(self.classes_), router.head, get_score(router.score)
        )
        router.set_params(head=head)
        self.routing_method_ = method

        swift_run, super_run = self._runners(X)
        router_input, router_seconds = self._router_input(swift_run)
        swift_pred, swift_seconds = self._swift_output(swift_run, "predict")
        super_pred, super_seconds = super_run("predict")
        if head:
            scores = self._out_of_fold_scores(router, router_input, y)
            router.fit(router_input, y)
        else:
            router.fit(router_input)
            scores = router.score_samples(router_input)
        self.router_ = router

        costs = self._costs(
            X,
            router_seconds if method else np.zeros(len(y)),
            swift_seconds,
            super_seconds,
        )
        self.costs_ = Bunch(
            swift=float(costs.swift.mean()),
            super=float(costs.super.mean()),
            router=float(costs.router.mean()),
            unit=costs.unit,
        )
        self.calibration_ = Bunch(
            scores=scores,
            swift_correct=np.asarray(swift_pred) == y,
            super_correct=np.asarray(super_pred) == y,
            swift_cost=costs.swift,
            super_cost=costs.super,
            router_cost=costs.router,
        )
        self.curve_ = tradeoff_curve(
            scores,
            self.calibration_.swift_correct,
            self.calibration_.super_correct,
            swift_cost=costs.swift,
            super_cost=costs.super,
            router_cost=costs.router,
        )
        return self

    def _make_router(self):
        if self.router is None:
            return EnergyRouter()
        if isinstance(self.router, str):
            return EnergyRouter(score=self.router)
        return clone(self.router)

    def _fit_sub_estimators(self, X, y):
        given = [getattr(self, name) for name in _SUB_ESTIMATORS]
        if all(is_fitted(est) for est in given):
            return (*given, X, y)
        indices = np.arange(len(y))
        try:
            train, calib = train_test_split(
                indices,
                test_size=self.calibration_size,
                random_state=self.random_state,
                stratify=y,
            )
        except ValueError:  # a class too small to stratify
            train, calib = train_test_split(
                indices, test_size=self.calibration_size, random_state=self.random_state
            )
        X_train, y_train = _subset(X, train), y[train]
        fitted = [
            est if is_fitted(est) else clone(est).fit(X_train, y_train) for est in given
        ]
        return (*fitted, _subset(X, calib), y[calib])

    @staticmethod
    def _check_classes(swift, super_, y):
        for role, est in (("swift_estimator", swift), ("super_estimator", super_)):
            if not hasattr(est, "classes_"):
                raise ValueError(
                    f"{role} ({type(est).__name__}) has no classes_ attribute; "
                    "JointClassifier needs classifiers that expose their labels."
                )
        if not np.array_equal(swift.classes_, super_.classes_):
            raise ValueError(
                "The Swift and Super predict different classes: "
                f"{swift.classes_.tolist()} and {super_.classes_.tolist()}. Train both "
                "on the same label set (the same labels in the same order)."
            )
        unseen = np.setdiff1d(np.unique(y), swift.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()} that neither sub-model can "
                f"predict (their classes_ are {swift.classes_.tolist()}). Drop these "
                "samples, or retrain the models with these labels."
            )
        return swift.classes_

    def _out_of_fold_scores(self, router, router_input, y):
        cv = self.cv
        if cv is None:
            return clone(router).fit(router_input, y).score_samples(router_input)
        if isinstance(cv, Integral):
            # Every fold needs every class; tiny data gets fewer folds.
            cv = min(cv, np.unique(y, return_counts=True)[1].min())
            if cv < 2:
                return clone(router).fit(router_input, y).score_samples(router_input)
        scores = np.empty(len(y))
        for train, test in check_cv(cv, y, classifier=True).split(router_input, y):
            fold = clone(router).fit(_subset(router_input, train), y[train])
            scores[test] = fold.score_samples(_subset(router_input, test))
        return scores

    def _check_costs_param(self):
        if isinstance(self.costs, dict):
            unknown = set(self.costs) - _COST_KEYS
            if unknown or not {"swift", "super"} <= set(self.costs):
                raise ValueError(
                    "costs as a dict needs the keys 'swift' and 'super' (and "
                    f"optionally 'router'); got {sorted(self.costs)}."
                )
            for key, value in self.costs.items():
                if not isinstance(value, Real) or not value >= 0:
                    raise ValueError(
                        f"costs[{key!r}] must be a non-negative number; got {value!r}."
                    )

    def _costs(self, X, router_seconds, swift_seconds, super_seconds):
        """Per-input costs of the router, the whole Swift and the Super."""
        n = len(swift_seconds)
        if isinstance(self.costs, dict):
            swift = np.full(n, float(self.costs["swift"]))
            router = np.full(n, float(self.costs.get("router", self.costs["swift"])))
            return Bunch(
                swift=np.maximum(swift, router),
                super=np.full(n, float(self.costs["super"])),
                router=router,
                unit="given",
            )
        can_count = all(
            hasattr(getattr(self, name + "_"), "estimate_flops")
            for name in _SUB_ESTIMATORS
        )
        if self.costs == "flops" and not can_count:
            raise ValueError(
                "costs='flops' needs sub-models with an estimate_flops method "
                "(e.g. TransformerClassifier); use costs='time' or give the costs "
                "as a dict {'swift': ..., 'super': ...}."
            )
        if self.costs == "time" or not can_count:
            router = np.asarray(router_seconds, dtype=float)
            if self.routing_method_ is None:  # random routing runs no model
                swift = np.asarray(swift_seconds, dtype=float)
            elif self.routing_method_ == "features":
                swift = np.maximum(swift_seconds, router)
            else:  # the routing logits are the Swift's own forward pass
                router = swift = np.maximum(swift_seconds, router)
            return Bunch(
                swift=swift, super=super_seconds, router=router, unit="seconds"
            )
        return self._flops(X)

    def _flops(self, X):
        swift, super_ = self.swift_estimator_, self.super_estimator_
        full = np.asarray(swift.estimate_flops(X, method="predict"), dtype=float)
        if self.routing_method_ == "features":
            router = np.asarray(swift.estimate_flops(X, method="transform"), float)
            if getattr(self, "router_", None) is not None and self.router_.head_:
                router = router + 2.0 * self.router_.coef_.size
        elif self.routing_method_ is None:
            router = np.zeros_like(full)
        else:
            router = full
        return Bunch(
            swift=np.maximum(full, router),
            super=np.asarray(super_.estimate_flops(X, method="predict"), dtype=float),
            router=router,
            unit="FLOPs",
        )

    # -- input validation -------------------------------------------------------

    def _text_input(self):
        return _takes_text(self.swift_estimator)

    def _check_X(self, X, reset):
        if not self._text_input():
            allow_nan = all(
                get_tags(getattr(self, name)).input_tags.allow_nan
                for name in _SUB_ESTIMATORS
            )
            return validate_data(
                self,
                X,
                reset=reset,
                accept_sparse=["csr", "csc"],
                dtype=None,
                ensure_all_finite=not allow_nan,
            )
        return check_texts(
            X,
            hint=" The Swift takes raw text: convert the inputs to str, or use "
            "sub-models that take numeric features.",
        )

    def _check_y(self, X, y):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        n_x = n_samples(X)
        if n_x != y.shape[0]:
            raise ValueError(
                f"X and y have different lengths: {n_x} inputs and {y.shape[0]} "
                "labels. Pass one label per input."
            )
        return y

    # -- serving ----------------------------------------------------------------

    @property
    def threshold_selection_(self):
        """The :meth:`ThresholdSelector.select` result behind ``threshold_``."""
        check_is_fitted(self)
        selector = as_selector(self.threshold)
        cal = self.calibration_
        return selector.select(
            cal.scores,
            cal.swift_correct,
            cal.super_correct,
            swift_cost=cal.swift_cost,
            super_cost=cal.super_cost,
            router_cost=cal.router_cost,
        )

    def _runners(self, X):
        cache = resolve_cache(self.memory)
        keys = hash_inputs(X) if cache is not None else None
        return (
            ModelRunner(self.swift_estimator_, X, cache, keys),
            ModelRunner(self.super_estimator_, X, cache, keys),
        )

    def _router_input(self, swift_run):
        method = self.routing_method_
        if method is None:
            n = n_samples(swift_run.X)
            return np.zeros((n, 1)), np.zeros(n)
        values, seconds = swift_run(method)
        return as_logits(values, method), seconds

    def _swift_output(self, swift_run, method, rows=None):
        """The Swift's ``method`` output; read off its logits when it has them.

        A Swift with ``predict_logits`` predicts ``classes_[argmax(logits)]``
        with probabilities ``softmax(logits)``, so the forward pass that scored
        an input also answers it: the Swift runs once per input.
        """
        if self.routing_method_ == "predict_logits" and method in (
            "predict",
            "predict_proba",
        ):
            logits, seconds = swift_run("predict_logits", rows)
            if method == "predict":
                return self.classes_[np.argmax(logits, axis=1)], np.zeros_like(seconds)
            return softmax(logits, axis=1), np.zeros_like(seconds)
        return swift_run(method, rows)

    def _serve(self, X, method):
        """Route ``X`` and return the served outputs of ``method`` and the routing."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        swift_run, super_run = self._runners(X)
        scores = self.router_.score_samples(self._router_input(swift_run)[0])
        keep = scores >= self.threshold_
        kept, routed = np.flatnonzero(keep), np.flatnonzero(~keep)
        pieces = []
        if kept.size:
            pieces.append((kept, self._swift_output(swift_run, method, kept)[0]))
        if routed.size:
            pieces.append((routed, super_run(method, routed)[0]))
        first = np.asarray(pieces[0][1])
        out = np.empty((keep.size,) + first.shape[1:], dtype=first.dtype)
        if len(pieces) == 2:
            out = out.astype(np.result_type(first, np.asarray(pieces[1][1])))
        for rows, values in pieces:
            out[rows] = values
        return out, keep, scores

    def predict(self, X):
        """Predict with the Swift where it is trusted and the Super elsewhere.

        Parameters
        ----------
        X : sequence of str, {array-like, sparse matrix} of shape \
                (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels.
        """
        return self._serve(X, "predict")[0]

    @available_if(_both_have("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the model that served each input.

        Parameters
        ----------
        X : sequence of str, {array-like, sparse matrix} of shape \
                (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The Swift's probabilities for the inputs it keeps, the Super's for
            the others; columns follow ``classes_``.
        """
        return self._serve(X, "predict_proba")[0].astype(np.float64)

    def routing_scores(self, X):
        """Routing score of each input; the Swift keeps ``score >= threshold_``.

        Parameters
        ----------
        X : sequence of str, {array-like, sparse matrix} of shape \
                (n_samples, n_features)
            Inputs.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means the input fits the Swift better.
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        swift_run, _ = self._runners(X)
        return self.router_.score_samples(self._router_input(swift_run)[0])

    def served_by(self, X):
        """Which model serves each input (runs the Swift only).

        Parameters
        ----------
        X : sequence of str, {array-like, sparse matrix} of shape \
                (n_samples, n_features)
            Inputs.

        Returns
        -------
        served_by : ndarray of str of shape (n_samples,)
            ``"swift"`` or ``"super"``.
        """
        keep = self.routing_scores(X) >= self.threshold_
        return np.where(keep, "swift", "super")

    def routing_report(self, X, y=None):
        """Predict and account for what it cost (eq. 17).

        Parameters
        ----------
        X : sequence of str, {array-like, sparse matrix} of shape \
                (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,), default=None
            True labels, for the accuracy.

        Returns
        -------
        report : Bunch
            ``y_pred``, ``served_by``, ``scores``, ``threshold``,
            ``n_samples``, ``n_swift``, ``n_super``, ``swift_ratio``,
            ``cost_per_input`` (joint, eq. 17), ``swift_cost_per_input`` and
            ``super_cost_per_input`` (each model alone), ``speedup`` (Super
            cost over joint cost), ``cost_unit``, ``wall_time`` (seconds this
            call took; low when outputs come from the cache), and, with ``y``,
            ``accuracy``.
        """
        start = time.perf_counter()
        y_pred, keep, scores = self._serve(X, "predict")
        wall_time = time.perf_counter() - start
        if self.costs_.unit == "FLOPs":
            costs = self._flops(self._check_X(X, reset=False))
        else:
            costs = Bunch(**{k: self.costs_[k] for k in ("swift", "super", "router")})
        cost = joint_cost(keep, costs.swift, costs.super, costs.router)
        super_cost = float(np.mean(costs.super))
        report = RoutingReport(
            y_pred=y_pred,
            served_by=np.where(keep, "swift", "super"),
            scores=scores,
            threshold=self.threshold_,
            n_samples=int(keep.size),
            n_swift=int(keep.sum()),
            n_super=int((~keep).sum()),
            swift_ratio=float(keep.mean()),
            cost_per_input=cost,
            swift_cost_per_input=float(np.mean(costs.swift)),
            super_cost_per_input=super_cost,
            speedup=super_cost / cost if cost > 0 else float("inf"),
            cost_unit=self.costs_.unit,
            wall_time=wall_time,
        )
        if y is not None:
            y = self._check_y(y_pred, y)
            report.accuracy = float(np.mean(y_pred == y))
        return report

    # -- scikit-learn protocol --------------------------------------------------

    def __sklearn_clone__(self):
        # Pre-trained sub-models are shared, not copied: like FrozenEstimator,
        # cloning a joint model must neither forget nor duplicate their weights.
        params = self.get_params(deep=False)
        for name, value in params.items():
            if not (name in _SUB_ESTIMATORS and is_fitted(value)):
                params[name] = clone(value, safe=False)
        return type(self)(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        swift_tags = get_tags(self.swift_estimator)
        super_tags = get_tags(self.super_estimator)
        if _takes_text(self.swift_estimator):
            tags.input_tags.string = True
            tags.input_tags.two_d_array = False
        tags.input_tags.sparse = (
            swift_tags.input_tags.sparse and super_tags.input_tags.sparse
        )
        tags.input_tags.allow_nan = (
            swift_tags.input_tags.allow_nan and super_tags.input_tags.allow_nan
        )
        return tags


class RoutingReport(Bunch):
    """A :class:`~sklearn.utils.Bunch` whose repr shows the numbers, not arrays."""

    def __repr__(self):
        fields = ", ".join(
            f"{key}={value:.6g}" if isinstance(value, float) else f"{key}={value!r}"
            for key, value in self.items()
            if not isinstance(value, np.ndarray)
        )
        return f"RoutingReport({fields})"


def _takes_text(estimator):
    """Whether an estimator takes raw texts (a 1-D sequence of str)."""
    if isinstance(estimator, Pipeline):
        estimator = estimator.steps[0][1]
    tags = get_tags(estimator).input_tags
    return tags.string and not tags.two_d_array
