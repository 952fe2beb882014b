"""JointClassifier: E-LANG joint inference of a Swift and a Super classifier."""

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, InputTags, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from elang_sk._base import BaseJoint, fit_unfitted
from elang_sk._cache import MEMORY_CONSTRAINTS, n_samples
from elang_sk._deferral import DeferralRouter
from elang_sk._router import EnergyRouter, cross_fit_scores
from elang_sk._runner import ModelRunner
from elang_sk._scores import SCORES, get_score
from elang_sk._source import LogitSource
from elang_sk._threshold import STRATEGIES, ThresholdSelector
from elang_sk._validation import check_labels, check_samples, check_texts
from elang_sk.metrics import joint_cost

_SUB_ESTIMATORS = ("swift_estimator", "super_estimator")


def _both_have(method):
    def check(self):
        return all(hasattr(getattr(self, name), method) for name in _SUB_ESTIMATORS)

    return check


class JointClassifier(ClassifierMixin, BaseJoint):
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
        The small, fast model. ``X`` is passed through to it as given (texts,
        arrays, sparse matrices, DataFrames, lists of dicts...): the joint model
        only needs ``len(X)`` and row indexing, and each sub-model validates
        its own inputs. Any scikit-learn classifier (e.g. a TF-IDF +
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

        Pre-trained models are frozen: ``set_params(swift_estimator__C=...)``
        raises an error, since it would not change their weights.
    super_estimator : classifier
        The large, accurate model; same rules. It must predict the same
        ``classes_`` as the Swift.
    router : EnergyRouter, str or None, default=None
        Computes the routing score. A score name (``"energy"``, ``"softmax"``,
        ``"entropy"``, ``"random"``) is a shortcut for
        ``EnergyRouter(score_func=name)``; None means ``EnergyRouter()``.
        Grids over ``router__<param>`` work whatever form it was given in.

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
        A strategy is chosen once, in ``fit``. Changing it on a fitted model
        (``set_params(threshold=1.7)``) takes effect at once, without
        refitting: the serving-time knob. NaN and booleans are refused.
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
    logit_source_ : LogitSource
        Which output of the Swift the router reads, how it becomes logits,
        and what it costs; decided in ``fit``.
    routing_method_ : str or None
        ``logit_source_.method``: ``"predict_logits"``,
        ``"decision_function"``, ``"features"`` (energy head),
        ``"predict_proba"``, or None (random score).
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    threshold_ : float
        The threshold in use: ``threshold`` itself if it is a number, else the
        one selected on the calibration data in ``fit``.
    threshold_selection_ : Bunch
        How it was selected (:meth:`ThresholdSelector.select`).
    calibration_ : Bunch
        Calibration data: ``scores``, ``swift_quality`` and ``super_quality``
        (1.0 where right, 0.0 where wrong), ``swift_right`` and per-input
        ``swift_cost``, ``super_cost``, ``router_cost``.
    curve_ : Bunch
        The accuracy/cost trade-off on the calibration data for every
        threshold (see :func:`elang_sk.metrics.tradeoff_curve`).
    costs_ : Bunch
        Mean cost per input of ``swift``, ``super`` and ``router``, and their
        ``unit``.
    n_features_in_ : int
        The Swift's, when it has one.

    See Also
    --------
    EnergyRouter : The routing score.
    ThresholdSelector : Threshold strategies.
    elang_sk.metrics.make_tradeoff_scorer : Scoring for threshold grid search.

    Notes
    -----
    ``fit`` takes no ``sample_weight``: the threshold and the energy head are
    calibrated on unweighted held-out data (resample the calibration set to
    weigh it). Passing one raises a ``TypeError`` that says so.

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
        "threshold": [
            Interval(Real, None, None, closed="both"),
            StrOptions(set(STRATEGIES)),
            ThresholdSelector,
        ],
        "costs": [StrOptions({"auto", "time", "flops"}), dict],
        "memory": MEMORY_CONSTRAINTS,
        "cv": ["cv_object"],
        "calibration_size": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }
    _sub_models = _SUB_ESTIMATORS

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
    def fit(self, X, y, **fit_params):
        """Calibrate the router and choose the threshold on held-out data.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take (passed through).
        y : array-like of shape (n_samples,)
            True labels.
        **fit_params : dict
            Not supported; a ``sample_weight`` raises a ``TypeError`` that
            says so (see Notes).

        Returns
        -------
        self : JointClassifier
            The fitted joint model.
        """
        if fit_params:
            raise TypeError(
                f"JointClassifier.fit got {sorted(fit_params)}, but takes no fit "
                "parameters: the router and the threshold are calibrated on "
                "unweighted held-out data. Resample the calibration data to "
                "weigh it, and fit weighted sub-models yourself before passing "
                "them in."
            )
        self._check_params()
        X = self._check_inputs(X)
        y = self._check_y(n_samples(X), y)
        if self.costs == "flops" and not self._can_count_flops():
            raise ValueError(
                "costs='flops' needs sub-models with an estimate_flops method "
                "(e.g. TransformerClassifier); use costs='time' or give the costs "
                "as a dict {'swift': ..., 'super': ...}."
            )
        swift, super_, X, y = self._fit_sub_estimators(X, y)
        self.swift_estimator_, self.super_estimator_ = swift, super_
        self.classes_ = self._check_classes(swift, super_, y)

        router = self._make_router()
        score = get_score(router.score_func)
        source = LogitSource.choose(swift, len(self.classes_), router.head, score)
        router.set_params(head=source.head)
        self.logit_source_ = source

        swift_run, super_run = self._start(X)
        router_input, router_seconds = source.router_input(swift_run)
        swift_pred, swift_seconds = source.answer(swift_run, "predict", self.classes_)
        super_pred, super_seconds = super_run("predict")
        if isinstance(router, DeferralRouter):
            # A learned deferral score is trained on where the Super fixes the
            # Swift, out of fold like an energy head.
            target = router.deferral_target(
                np.asarray(swift_pred) == y, np.asarray(super_pred) == y
            )
            scores = cross_fit_scores(router, router_input, target, self.cv)
            router.fit(router_input, target)
        elif source.head:
            scores = cross_fit_scores(router, router_input, y, self.cv)
            router.fit(router_input, y)
        else:
            router.fit(router_input)
            scores = router.score_samples(router_input)
        self.router_ = router

        costs = self._given_costs(len(y))
        if costs is None and self._uses_flops():
            costs = self._costs_of(X)
        elif costs is None:
            costs = source.costs(router_seconds, swift_seconds)
            costs.update(super=np.asarray(super_seconds, float), unit="seconds")
        swift_right = np.asarray(swift_pred) == y
        self._finish_fit(
            scores,
            swift_right.astype(float),
            (np.asarray(super_pred) == y).astype(float),
            swift_right,
            costs,
        )
        return self

    def _fit_sub_estimators(self, X, y):
        given = [getattr(self, name) for name in _SUB_ESTIMATORS]
        fitted, X, y = fit_unfitted(
            given, X, y, self.calibration_size, self.random_state
        )
        return (*fitted, X, y)

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
        return np.asarray(swift.classes_)

    # -- costs ------------------------------------------------------------------

    def _can_count_flops(self):
        return all(
            hasattr(getattr(self, name), "estimate_flops") for name in _SUB_ESTIMATORS
        )

    def _uses_flops(self):
        return self.costs == "flops" or (
            self.costs == "auto" and self._can_count_flops()
        )

    def _costs_of(self, X):
        """Per-input FLOPs of the router, the whole Swift and the Super on ``X``."""
        swift, super_ = self.swift_estimator_, self.super_estimator_
        full = np.asarray(swift.estimate_flops(X, method="predict"), dtype=float)
        router = full
        if self.logit_source_.method == "features":
            router = np.asarray(swift.estimate_flops(X, method="transform"), float)
            if getattr(self, "router_", None) is not None and self.router_.head_:
                router = router + 2.0 * self.router_.coef_.size
        costs = self.logit_source_.costs(router, full)
        costs.update(
            super=np.asarray(super_.estimate_flops(X, method="predict"), float),
            unit="FLOPs",
        )
        return costs

    def cost_per_input(self, X):
        """Cost of each input for the router, the whole Swift and the Super.

        The terms of eq. 17: with FLOPs they are counted on ``X`` itself (they
        depend on each input's length); measured times and given costs are
        the per-input means found in ``fit``.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs.

        Returns
        -------
        costs : Bunch
            Arrays of shape (n_samples,) ``router``, ``swift`` and ``super``,
            and their ``unit`` (``"FLOPs"``, ``"seconds"`` or ``"given"``).
        """
        check_is_fitted(self, "calibration_")
        return self._costs_per_input(self._check_inputs(X))

    def _costs_per_input(self, X):
        """:meth:`cost_per_input` on checked ``X``."""
        if self.costs_.unit == "FLOPs":
            return self._costs_of(X)
        n = n_samples(X)
        costs = Bunch(unit=self.costs_.unit)
        for part in ("router", "swift", "super"):
            costs[part] = np.full(n, self.costs_[part])
        return costs

    # -- input validation -------------------------------------------------------

    def _check_inputs(self, X):
        """Check only what the joint model needs: a non-empty indexable sequence.

        Everything else is for the sub-models to check, in their own terms;
        only a Swift whose tags declare raw-text input gets its texts checked.
        """
        X = check_samples(X)
        swift = self.swift_estimator
        memo = self.__dict__.get("_swift_takes_text")
        if memo is None or memo[0] is not swift:
            # Reading the Swift's tags costs more than a small serving call:
            # read them once per Swift object (fit does, before any predict).
            memo = self._swift_takes_text = (swift, _takes_text(swift))
        if memo[1]:
            # A Swift that declares text input gets its texts checked here, so
            # that a stray number fails with our message, not deep inside it.
            X = check_texts(
                X,
                hint=" The Swift takes raw text: convert the inputs to str, or use "
                "sub-models that take numeric features.",
            )
        return X

    def _check_y(self, n, y):
        return check_labels(n, y, "JointClassifier")

    # -- serving ----------------------------------------------------------------

    @property
    def routing_method_(self):
        """``logit_source_.method``: the Swift output the router reads."""
        return self.logit_source_.method

    def _start(self, X):
        return ModelRunner.pair(
            self.swift_estimator_, self.super_estimator_, X, self.memory
        )

    def _scores(self, run):
        router_input = self.logit_source_.router_input(run[0])[0]
        router = self.router_
        if type(router) is EnergyRouter and _plain_rows(router_input, router):
            # Serving fast path, same arithmetic as score_samples: the fitted
            # router's validate_data and fitted checks cost more than
            # scoring one input. Anything unusual takes the checked path.
            if router.head_:
                router_input = router_input @ router.coef_.T + router.intercept_
            return router.score_(router_input)
        return router.score_samples(router_input)

    def _answer(self, run, role, rows, method):
        if role == "swift":
            return self.logit_source_.answer(run[0], method, self.classes_, rows)[0]
        return run[1](method, rows)[0]

    def _report_costs(self, run, keep, y_pred):
        if self.costs_.unit == "FLOPs":
            costs = self._costs_of(run[0].X)
        else:
            costs = Bunch(**{k: self.costs_[k] for k in ("swift", "super", "router")})
        return Bunch(
            joint=joint_cost(keep, costs.swift, costs.super, costs.router),
            swift=float(np.mean(costs.swift)),
            super=float(np.mean(costs.super)),
        )

    def _report_quality(self, y_pred, y):
        y = self._check_y(len(y_pred), y)
        return {"accuracy": float(np.mean(y_pred == y))}

    def predict(self, X):
        """Predict with the Swift where it is trusted and the Super elsewhere.

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

    @available_if(_both_have("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the model that served each input.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The Swift's probabilities for the inputs it keeps, the Super's for
            the others; columns follow ``classes_``.
        """
        return self._serve(X, "predict_proba")[0].astype(np.float64)

    def routing_details(self, X, *, super_model=True):
        """Everything about the routing of ``X``, for evaluation and plots.

        Unlike :meth:`predict`, this runs each model on *every* input (the
        Super only with ``super_model=True``), so that the routing can be
        compared with what each model alone would do. The Displays use it.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take.
        super_model : bool, default=True
            Whether to run the Super on every input too.

        Returns
        -------
        details : Bunch
            ``scores`` (routing scores), ``logits`` (the router's logits,
            None for a score that reads none), ``logit_method``
            (``routing_method_``), ``swift_pred``, ``super_pred`` (None
            without ``super_model``), and per-input ``router_cost``,
            ``swift_cost``, ``super_cost`` with their ``cost_unit``.
        """
        check_is_fitted(self, "calibration_")
        X = self._check_inputs(X)
        swift_run, super_run = self._start(X)
        router_input, _ = self.logit_source_.router_input(swift_run)
        method = self.logit_source_.method
        costs = self._costs_per_input(X)
        return Bunch(
            scores=self.router_.score_samples(router_input),
            logits=None
            if method is None
            else self.router_.predict_logits(router_input),
            logit_method=method,
            swift_pred=self.logit_source_.answer(swift_run, "predict", self.classes_)[
                0
            ],
            super_pred=super_run("predict")[0] if super_model else None,
            router_cost=costs.router,
            swift_cost=costs.swift,
            super_cost=costs.super,
            cost_unit=costs.unit,
        )

    # -- scikit-learn protocol --------------------------------------------------

    @property
    def n_features_in_(self):
        """Number of features the Swift saw in its fit, when it has one."""
        return self.swift_estimator_.n_features_in_

    @property
    def feature_names_in_(self):
        """Feature names the Swift saw in its fit, when it has them."""
        return self.swift_estimator_.feature_names_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        swift_tags = _input_tags(self.swift_estimator)
        super_tags = _input_tags(self.super_estimator)
        if _takes_text(self.swift_estimator):
            tags.input_tags.string = True
            tags.input_tags.two_d_array = False
        tags.input_tags.sparse = swift_tags.sparse and super_tags.sparse
        tags.input_tags.allow_nan = swift_tags.allow_nan and super_tags.allow_nan
        return tags


def _plain_rows(router_input, router):
    """Whether the router's input is a finite float64 matrix of its width."""
    return (
        router.score_.uses_logits
        and isinstance(router_input, np.ndarray)
        and router_input.dtype == np.float64
        and router_input.ndim == 2
        and router_input.shape[1] == router.n_features_in_
        and np.isfinite(router_input).all()
    )


def _input_tags(estimator):
    """The input tags of an estimator; defaults for objects without tags."""
    try:
        return get_tags(estimator).input_tags
    except (AttributeError, TypeError):  # a user's object, not an estimator
        return InputTags()


def _takes_text(estimator):
    """Whether an estimator declares raw-text input (a 1-D sequence of str)."""
    if isinstance(estimator, Pipeline):
        estimator = estimator.steps[0][1]
    tags = _input_tags(estimator)
    return tags.string and not tags.two_d_array
