"""BaseJointClassifier: N classifiers, cheapest first, on the one joint core.

What :class:`JointClassifier` (two stages) and :class:`CascadeClassifier`
(any number) share, written once: the fit of the stages and their routers,
the class checks, the stage runs through the cache, scoring and answering a
stage, the FLOP and time accounting of eq. 17, the Displays' details and the
fitted state that :func:`save_joint` writes. The two estimators only say
what their parameters are (a pair, or a list of named stages).
"""

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, InputTags, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from elang_sk._cache import hash_inputs, resolve_cache
from elang_sk._utils import is_fitted, n_samples
from elang_sk._validation import (
    check_labels,
    check_samples,
    check_state_keys,
    check_texts,
)
from elang_sk.joint._base import (
    CALIBRATION_STATE_KEYS,
    BaseJoint,
    fit_unfitted,
    make_router,
)
from elang_sk.joint._runner import ModelRunner
from elang_sk.routing._router import cross_fit_scores
from elang_sk.routing._source import LogitSource


def _all_stages_have(method):
    def check(self):
        return all(hasattr(model, method) for model in self._given_models())

    return check


class BaseJointClassifier(ClassifierMixin, BaseJoint):
    """Base class of the joint classifiers: N stages, a router on all but the last.

    Subclasses define ``_given_models`` (the models as given),
    ``_stage_names``, ``_router_specs`` (``(name, router parameter)`` per gate) and
    their parameters.
    """

    # -- fitting ----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **fit_params):
        """Calibrate the routers and choose the thresholds on held-out data.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take (passed through).
        y : array-like of shape (n_samples,), default=None
            True labels. None calibrates **without labels**, against the last
            stage's own answers on ``X`` (every sub-model must then be
            pre-trained): a stage is "right" where it agrees with the last
            stage, every strategy speaks of agreement with it, and
            ``"risk_control"`` certifies that the joint model disagrees with
            it on at most ``tol`` of the inputs with probability ``1 -
            delta``. Since the joint model can only lose accuracy where it
            disagrees, that also bounds its accuracy loss by ``tol`` (see
            "Serving without labels" in the user guide).
            ``calibrated_on_`` says which.
        **fit_params : dict
            Not supported; a ``sample_weight`` raises a ``TypeError`` that
            says so.

        Returns
        -------
        self : estimator
            The fitted joint model.
        """
        if fit_params:
            raise TypeError(
                f"{type(self).__name__}.fit got {sorted(fit_params)}, but takes no "
                "fit parameters: the routers and the thresholds are calibrated on "
                "unweighted held-out data. Resample the calibration data to weigh "
                "it, and fit weighted sub-models yourself before passing them in."
            )
        self._check_params()
        X = self._check_inputs(X)
        labelled = y is not None
        if labelled:
            y = check_labels(n_samples(X), y, type(self).__name__)
        elif not all(is_fitted(model) for model in self._given_models()):
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None, and some sub-models are unfitted: they are trained on "
                "labels. Pass y, or pass pre-trained models to calibrate without "
                "labels, against the last stage's answers."
            )
        if self.costs == "flops" and not self._can_count_flops():
            raise ValueError(
                "costs='flops' needs every sub-model to have an estimate_flops "
                "method (e.g. TransformerClassifier); use costs='time' or give the "
                f"costs as a dict with one cost per stage {self.stage_names_}."
            )
        if labelled:
            models, X, y = fit_unfitted(
                self._given_models(), X, y, self.calibration_size, self.random_state
            )
        else:
            models = list(self._given_models())
        self.estimators_ = models
        runs = self._start(X)
        if not labelled:
            # The last stage's answers are the calibration labels.
            y = np.asarray(runs[-1]("predict")[0])
        self.calibrated_on_ = "labels" if labelled else "last_stage"
        self.classes_ = self._check_classes(models, y)
        routers = [make_router(spec, name) for name, spec in self._router_specs()]
        self.logit_sources_ = []
        for model, router in zip(models, routers, strict=False):
            source = LogitSource.choose(
                model, len(self.classes_), router.head, router.input_score()
            )
            router.set_params(head=source.head)
            self.logit_sources_.append(source)
        self.routers_ = routers

        inputs, router_sec, full_sec, right = [], [], [], []
        for k in range(len(models)):
            pred, seconds = self._answer_with_seconds(runs, k, None, "predict")
            right.append(np.asarray(pred) == y)
            if k < len(routers):
                values, sec = self.logit_sources_[k].router_input(runs[k])
                costs = self.logit_sources_[k].costs(sec, seconds)
                inputs.append(values)
                router_sec.append(costs.router)
                full_sec.append(costs.swift)
            else:
                router_sec.append(np.asarray(seconds, float))
                full_sec.append(np.asarray(seconds, float))
        scores = [
            self._fit_router(router, inputs[k], y, right[k], right[k + 1])
            for k, router in enumerate(routers)
        ]
        costs = self._given_costs(len(y))
        if costs is None and self._uses_flops():
            costs = self._flops(X)
        elif costs is None:
            costs = Bunch(
                router=np.array(router_sec), full=np.array(full_sec), unit="seconds"
            )
        right = np.array(right)
        self._finish_fit(np.array(scores), right.astype(float), right, costs)
        return self

    def _fit_router(self, router, router_input, y, right, next_right):
        """Fit a gate's router; its calibration scores (out of fold if trained)."""
        target = router.routing_target(y, right, next_right)
        if target is None:
            router.fit(router_input)
            return router.score_samples(router_input)
        scores = cross_fit_scores(router, router_input, target, self.cv)
        router.fit(router_input, target)
        return scores

    def _check_classes(self, models, y):
        names = self.stage_names_
        for name, model in zip(names, models, strict=True):
            if not hasattr(model, "classes_"):
                raise ValueError(
                    f"Stage {name!r} ({type(model).__name__}) has no classes_ "
                    f"attribute; {type(self).__name__} needs classifiers that "
                    "expose their labels."
                )
        first = np.asarray(models[0].classes_)
        for name, model in zip(names[1:], models[1:], strict=True):
            if not np.array_equal(first, model.classes_):
                raise ValueError(
                    f"Stages {names[0]!r} and {name!r} predict different classes: "
                    f"{first.tolist()} and {np.asarray(model.classes_).tolist()}. "
                    "Train every stage on the same label set (the same labels in "
                    "the same order)."
                )
        if y is not None:
            unseen = np.setdiff1d(np.unique(y), first)
            if unseen.size:
                raise ValueError(
                    f"y contains labels {unseen.tolist()} that no sub-model can "
                    f"predict (their classes_ are {first.tolist()}). Drop these "
                    "samples, or retrain the models with these labels."
                )
        return first

    # -- costs ------------------------------------------------------------------

    def _can_count_flops(self):
        return all(hasattr(model, "estimate_flops") for model in self._given_models())

    def _uses_flops(self):
        return self.costs == "flops" or (
            self.costs == "auto" and self._can_count_flops()
        )

    def _flops(self, X):
        """Per-input FLOPs (router, full) of each stage on ``X``."""
        router_cost, full_cost = [], []
        for k, model in enumerate(self.estimators_):
            full = np.asarray(model.estimate_flops(X, method="predict"), float)
            router = full
            if k < len(self.routers_):
                source = self.logit_sources_[k]
                if source.method == "features":
                    router = np.asarray(
                        model.estimate_flops(X, method="transform"), float
                    )
                    head = self.routers_[k]
                    if getattr(head, "head_", False):
                        router = router + 2.0 * head.coef_.size
                costs = source.costs(router, full)
                router, full = costs.router, costs.swift
            router_cost.append(router)
            full_cost.append(full)
        return Bunch(
            router=np.array(router_cost), full=np.array(full_cost), unit="FLOPs"
        )

    def cost_per_input(self, X):
        """Cost of each input at each stage: the terms of eq. 17.

        With FLOPs they are counted on ``X`` itself (they depend on each
        input's length); measured times and given costs are the per-input
        means found in ``fit``.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs.

        Returns
        -------
        costs : Bunch
            ``stage_router`` and ``stage_full`` of shape (n_stages,
            n_samples): what an input passed on by a stage, or answered by it,
            pays for it; their ``unit`` (``"FLOPs"``, ``"seconds"`` or
            ``"given"``); with two stages also the views ``router``, ``swift``
            and ``super`` of shape (n_samples,).

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> X, y = make_classification(n_samples=300, random_state=0)
        >>> joint = JointClassifier(
        ...     LogisticRegression().fit(X[:150], y[:150]),
        ...     LogisticRegression(C=10).fit(X[:150], y[:150]),
        ...     router="softmax", costs={"swift": 1, "super": 10},
        ... ).fit(X[150:], y[150:])
        >>> joint.cost_per_input(X[:2]).super.tolist()
        [10.0, 10.0]
        """
        check_is_fitted(self, "calibration_")
        X = self._check_inputs(X)
        costs = self._costs_on(X)
        out = Bunch(stage_router=costs.router, stage_full=costs.full, unit=costs.unit)
        if len(costs.full) == 2:
            out.update(router=costs.router[0], swift=costs.full[0], super=costs.full[1])
        return out

    def _costs_on(self, X):
        if self.costs_.unit == "FLOPs":
            return self._flops(X)
        return self._mean_costs(n_samples(X))

    def _call_costs(self, runs, stage, y_pred):
        costs = self._costs_on(runs[0].X)
        costs.alone = costs.full.mean(axis=1)
        return costs

    # -- the hooks of BaseJoint ---------------------------------------------------

    def _check_inputs(self, X):
        """Check only what the joint model needs: a non-empty indexable sequence.

        Everything else is for the sub-models to check, in their own terms;
        only a first stage whose tags declare raw-text input gets its texts
        checked, so that a stray number or None fails with our message, not
        deep inside it.
        """
        X = check_samples(X, "the sub-models")
        first = self._given_models()[0]
        memo = self.__dict__.get("_first_takes_text")
        if memo is None or memo[0] is not first:
            # Reading tags costs more than a small serving call: once per model.
            memo = self._first_takes_text = (first, takes_text(first))
        if memo[1]:
            X = check_texts(
                X,
                hint=" The first model takes raw text: convert the inputs to str, "
                "or use sub-models that take numeric features.",
            )
        return X

    def _start(self, X):
        """One runner per stage on ``X``, sharing the input keys of the cache."""
        cache = resolve_cache(self.memory)
        keys = hash_inputs(X) if cache is not None else None
        return [
            ModelRunner(model, X, cache, keys, role=f"{name!r} stage")
            for name, model in zip(self.stage_names_, self.estimators_, strict=True)
        ]

    def _stage_scores(self, runs, k, rows):
        router_input = self.logit_sources_[k].router_input(runs[k], rows)[0]
        return self.routers_[k].score_samples(router_input)

    def _answer_with_seconds(self, runs, k, rows, method):
        if k < len(self.logit_sources_):
            return self.logit_sources_[k].answer(runs[k], method, self.classes_, rows)
        return runs[k](method, rows)

    def _stage_answer(self, runs, k, rows, method):
        return self._answer_with_seconds(runs, k, rows, method)[0]

    def _report_quality(self, y_pred, y):
        y = check_labels(len(y_pred), y, type(self).__name__)
        return {"accuracy": float(np.mean(y_pred == y))}

    # -- predictions --------------------------------------------------------------

    def predict(self, X):
        """Predict with the first stage that is sure enough of each input.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels.
        """
        return self._serve(X, "predict")[0]

    @available_if(_all_stages_have("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the stage that answered each input.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        return self._serve(X, "predict_proba")[0].astype(np.float64)

    def routing_details(self, X, *, super_model=True, gate=0):
        """Everything about one gate's routing of ``X``, for evaluation and plots.

        Unlike :meth:`predict`, this runs the gate's stage on *every* input
        (and the last stage too with ``super_model=True``), so that the
        routing can be compared with what each model alone would do: the
        gate's stage is the "Swift", the last stage the "Super". The Displays
        use it. With two stages there is one gate, the Swift's.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take.
        super_model : bool, default=True
            Whether to run the last stage on every input too.
        gate : int, default=0
            The routed stage to describe.

        Returns
        -------
        details : Bunch
            ``scores`` (routing scores), ``logits`` (the router's logits,
            None for a score that reads none), ``logit_method``,
            ``threshold``, ``score`` (the router's fitted score) and
            ``score_name``,
            ``swift_pred``, ``super_pred`` (None without ``super_model``), and
            per-input ``router_cost``, ``swift_cost``, ``super_cost`` with
            their ``cost_unit``.

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> X, y = make_classification(n_samples=300, random_state=0)
        >>> joint = JointClassifier(
        ...     LogisticRegression().fit(X[:150], y[:150]),
        ...     LogisticRegression(C=10).fit(X[:150], y[:150]), router="softmax",
        ... ).fit(X[150:], y[150:])
        >>> joint.routing_details(X[:4]).scores.shape
        (4,)
        """
        check_is_fitted(self, "calibration_")
        n_gates = len(self.routers_)
        if (
            isinstance(gate, bool | np.bool_)
            or not isinstance(gate, int | np.integer)
            or not 0 <= gate < n_gates
        ):
            raise ValueError(
                f"gate={gate!r} is not a routed stage: give an index in [0, {n_gates})."
            )
        X = self._check_inputs(X)
        runs = self._start(X)
        source, router = self.logit_sources_[gate], self.routers_[gate]
        router_input = source.router_input(runs[gate])[0]
        costs = self._costs_on(X)
        return Bunch(
            scores=router.score_samples(router_input),
            logits=None
            if source.method is None
            else router.predict_logits(router_input),
            logit_method=source.method,
            threshold=float(self._thresholds_in_use()[gate]),
            score=getattr(router, "score_", router.input_score()),
            score_name=getattr(router, "score_func", type(router).__name__),
            swift_pred=self._stage_answer(runs, gate, None, "predict"),
            super_pred=self._stage_answer(runs, n_gates, None, "predict")
            if super_model
            else None,
            router_cost=costs.router[gate],
            swift_cost=costs.full[gate],
            super_cost=costs.full[-1],
            cost_unit=costs.unit,
        )

    # -- the fitted state, for save_joint / load_joint ------------------------------

    def fitted_state(self):
        """The fitted state that :func:`save_joint` writes, as plain data.

        Returns
        -------
        state : dict
            ``models`` (the fitted sub-models, by stage), ``routers`` (the
            fitted routers), ``logit_sources`` (JSON), ``classes``,
            ``calibration`` (the per-stage arrays), ``costs`` (JSON) and
            ``selection`` (the JSON-able part of ``threshold_selection_``)
            and ``calibrated_on`` (``"labels"`` or ``"last_stage"``).

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> X, y = make_classification(n_samples=300, random_state=0)
        >>> joint = JointClassifier(
        ...     LogisticRegression().fit(X[:150], y[:150]),
        ...     LogisticRegression(C=10).fit(X[:150], y[:150]), router="softmax",
        ... ).fit(X[150:], y[150:])
        >>> sorted(joint.fitted_state())  # doctest: +NORMALIZE_WHITESPACE
        ['calibrated_on', 'calibration', 'classes', 'costs', 'logit_sources',
         'models', 'routers', 'selection']
        """
        check_is_fitted(self, "calibration_")
        return {
            "models": dict(zip(self.stage_names_, self.estimators_, strict=True)),
            "routers": list(self.routers_),
            "logit_sources": [
                {"method": s.method, "head": bool(s.head)} for s in self.logit_sources_
            ],
            "classes": np.asarray(self.classes_),
            **self._calibration_state(),
        }

    def restore_fitted_state(self, state):
        """Make this unfitted estimator the fitted one that ``state`` describes.

        The inverse of :meth:`fitted_state`, used by :func:`load_joint`. The
        state is checked as ``fit`` checks its results: the sub-models are
        fitted and predict the same ``classes``, one router per routed
        stage, finite calibration arrays of consistent shapes, finite
        chosen thresholds or infinities, and no unknown key.

        Parameters
        ----------
        state : dict
            As returned by :meth:`fitted_state`.

        Returns
        -------
        self : estimator
            The fitted estimator.

        Examples
        --------
        >>> from sklearn.base import clone
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> X, y = make_classification(n_samples=300, random_state=0)
        >>> joint = JointClassifier(
        ...     LogisticRegression().fit(X[:150], y[:150]),
        ...     LogisticRegression(C=10).fit(X[:150], y[:150]), router="softmax",
        ... ).fit(X[150:], y[150:])
        >>> copy = clone(joint).restore_fitted_state(joint.fitted_state())
        >>> bool((copy.predict(X) == joint.predict(X)).all())
        True
        """
        state = check_state_keys(state, _STATE_KEYS, type(self).__name__)
        names = self.stage_names_
        models = state["models"]
        if not isinstance(models, dict) or list(models) != names:
            raise ValueError(
                f"The saved state has models {list(models)}; this "
                f"{type(self).__name__} has the stages {names}."
            )
        models = list(models.values())
        routers, sources = list(state["routers"]), list(state["logit_sources"])
        if len(routers) != len(names) - 1 or len(sources) != len(names) - 1:
            raise ValueError(
                f"The saved state has {len(routers)} routers and {len(sources)} "
                f"logit sources for {len(names) - 1} routed stages."
            )
        for router in routers:
            check_is_fitted(router)
        classes = self._check_classes(models, None)
        if not np.array_equal(np.asarray(state["classes"]), classes):
            raise ValueError(
                f"The saved classes {np.asarray(state['classes']).tolist()} are not "
                f"those the sub-models predict ({classes.tolist()}): the saved "
                "state is inconsistent."
            )
        self.estimators_ = models
        self.classes_ = classes
        self.routers_ = routers
        self.logit_sources_ = [
            LogitSource(_check_source(s["method"]), bool(s["head"])) for s in sources
        ]
        self._restore_calibration(state)
        return self

    # -- scikit-learn protocol --------------------------------------------------

    @property
    def named_estimators_(self):
        """The fitted stages, by name."""
        check_is_fitted(self, "estimators_")
        return Bunch(**dict(zip(self.stage_names_, self.estimators_, strict=True)))

    @property
    def n_features_in_(self):
        """Number of features the first stage saw in its fit, when it has one."""
        return self.estimators_[0].n_features_in_

    @property
    def feature_names_in_(self):
        """Feature names the first stage saw in its fit, when it has them."""
        return self.estimators_[0].feature_names_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            models = self._given_models()
        except (TypeError, ValueError, AttributeError):
            return tags
        if not models:
            return tags
        stage_tags = [input_tags(model) for model in models]
        if takes_text(models[0]):
            tags.input_tags.string = True
            tags.input_tags.two_d_array = False
        tags.input_tags.sparse = all(t.sparse for t in stage_tags)
        tags.input_tags.allow_nan = all(t.allow_nan for t in stage_tags)
        return tags


_STATE_KEYS = (
    "models",
    "routers",
    "logit_sources",
    "classes",
    *CALIBRATION_STATE_KEYS,
)
_SOURCE_METHODS = (
    None,
    "predict_logits",
    "decision_function",
    "features",
    "predict_proba",
)


def _check_source(method):
    if method not in _SOURCE_METHODS:
        raise ValueError(
            f"Unknown logit source {method!r} in the saved state; expected one of "
            f"{list(_SOURCE_METHODS)}."
        )
    return method


def input_tags(estimator):
    """The input tags of an estimator; defaults for objects without tags."""
    try:
        return get_tags(estimator).input_tags
    except (AttributeError, TypeError):  # a user's object, not an estimator
        return InputTags()


def takes_text(estimator):
    """Whether an estimator declares raw-text input (a 1-D sequence of str)."""
    if isinstance(estimator, Pipeline):
        estimator = estimator.steps[0][1]
    tags = input_tags(estimator)
    return tags.string and not tags.two_d_array
