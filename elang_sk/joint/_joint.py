"""JointClassifier: E-LANG joint inference of a Swift and a Super classifier.

The two-stage case of :class:`elang_sk.joint._classifier.BaseJointClassifier`,
which :class:`CascadeClassifier` uses for any number of stages: this module
only names the two stages and their parameters.
"""

from numbers import Real

from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from elang_sk._cache import MEMORY_CONSTRAINTS
from elang_sk.joint._classifier import BaseJointClassifier
from elang_sk.routing._router import EnergyRouter
from elang_sk.routing._scores import SCORES
from elang_sk.routing._threshold import STRATEGIES, ThresholdSelector

_SUB_ESTIMATORS = ("swift_estimator", "super_estimator")


class JointClassifier(BaseJointClassifier):
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
    estimators_, routers_, logit_sources_ : list
        The same per stage (the attributes every joint classifier has;
        the ones above are their two-stage views).
    stage_names_ : list of str
        ``["swift", "super"]``.
    threshold_ : float
        The threshold in use: ``threshold`` itself if it is a number, else the
        one selected on the calibration data in ``fit`` (``thresholds_[0]``).
    thresholds_ : ndarray of shape (1,)
        The same, as every joint estimator has it.
    threshold_selection_ : Bunch
        How it was selected (:meth:`ThresholdSelector.select`).
    calibration_ : Bunch
        Calibration data per stage: ``stage_scores`` (1, n),
        ``stage_quality`` (1.0 where right, 0.0 where wrong) and
        ``stage_right`` (2, n), ``stage_router_cost`` and ``stage_full_cost``
        (2, n); and their two-stage views ``scores``, ``swift_quality``,
        ``super_quality``, ``swift_right``, ``swift_cost``, ``super_cost``,
        ``router_cost``.
    curve_ : Bunch
        The accuracy/cost trade-off on the calibration data for every
        threshold (see :func:`elang_sk.metrics.tradeoff_curve`).
    costs_ : Bunch
        Mean cost per input of each stage, ``stage_router`` and
        ``stage_full``, and their ``unit``; the views ``swift``, ``super``
        and ``router``.
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

    # -- the two stages -----------------------------------------------------------

    def _stage_names(self):
        return ["swift", "super"]

    def _given_models(self):
        return [self.swift_estimator, self.super_estimator]

    def _router_specs(self):
        return [("router", self.router)]

    @classmethod
    def model_params(cls, models):
        """The constructor parameters that hold fitted models, by stage name.

        :func:`load_joint` builds the estimator with them.

        Parameters
        ----------
        models : dict
            ``{"swift": model, "super": model}``, as in :meth:`fitted_state`.

        Returns
        -------
        params : dict

        Examples
        --------
        >>> from elang_sk import JointClassifier
        >>> sorted(JointClassifier.model_params({"swift": 1, "super": 2}))
        ['super_estimator', 'swift_estimator']
        """
        return {"swift_estimator": models["swift"], "super_estimator": models["super"]}

    @property
    def swift_estimator_(self):
        """The Swift used: the given one when pre-trained, else the fitted clone."""
        return self.estimators_[0]

    @property
    def super_estimator_(self):
        """The Super used: the given one when pre-trained, else the fitted clone."""
        return self.estimators_[1]

    @property
    def router_(self):
        """The fitted router (``routers_[0]``)."""
        return self.routers_[0]

    @property
    def logit_source_(self):
        """Which Swift output the router reads (``logit_sources_[0]``)."""
        return self.logit_sources_[0]

    @property
    def routing_method_(self):
        """``logit_source_.method``: the Swift output the router reads."""
        return self.logit_source_.method
