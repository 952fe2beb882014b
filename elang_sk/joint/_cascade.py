"""CascadeClassifier: E-LANG over any number of classifiers, cheapest first.

The N-stage case of :class:`elang_sk.joint._classifier.BaseJointClassifier`, of
which :class:`JointClassifier` is the two-stage case: this module only says
that the stages are a list of named models, each gate with its own router.
The thresholds are chosen by
:func:`elang_sk.routing._stage_thresholds.select_thresholds`.
"""

from numbers import Real

from sklearn.base import clone
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import _BaseComposition

from elang_sk._cache import MEMORY_CONSTRAINTS
from elang_sk._utils import is_fitted
from elang_sk.joint._classifier import BaseJointClassifier
from elang_sk.routing._router import EnergyRouter
from elang_sk.routing._scores import SCORES
from elang_sk.routing._threshold import STRATEGIES, ThresholdSelector


class CascadeClassifier(BaseJointClassifier, _BaseComposition):
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
        * ``"match_super"``, ``ThresholdSelector("match_super", tol=...)``:
          the cheapest thresholds whose cascade accuracy is at least the last
          stage's minus ``tol`` (``"match_last"`` is its deprecated name).
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
    threshold_selection_ : Bunch
        How the thresholds were chosen (``thresholds`` and, when the selector
        chose the last gate, its selection).
    stage_names_ : list of str
        The stage names.
    calibration_ : Bunch
        Per-stage arrays: ``stage_scores`` (n_stages - 1, n_samples),
        ``stage_quality`` (1.0 where right) and ``stage_right`` (n_stages,
        n_samples), ``stage_router_cost`` and ``stage_full_cost``
        (n_stages, n_samples).
    curve_ : Bunch
        The trade-off curve of the last gate on the calibration data, the
        earlier gates at the thresholds chosen in ``fit``.
    costs_ : Bunch
        ``stage_router`` and ``stage_full``: mean cost per input of each
        stage, and their ``unit``.
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
        "thresholds": [
            list,
            StrOptions(set(STRATEGIES) | {"match_last"}, deprecated={"match_last"}),
            ThresholdSelector,
        ],
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

    _threshold_param = "thresholds"

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

    def _set_checked_params(self, **params):
        self._set_params("estimators", **params)
        return self

    def _sub_model_params(self, params):
        stages = params.get("estimators", self.estimators)
        if not isinstance(stages, list):
            return {}
        models = dict(
            pair for pair in stages if isinstance(pair, tuple) and len(pair) == 2
        )
        return {name: params.get(name, model) for name, model in models.items()}

    def _clone_param(self, name, value):
        if name == "estimators" and isinstance(value, list):
            return [
                (pair[0], pair[1] if is_fitted(pair[1]) else clone(pair[1]))
                if isinstance(pair, tuple) and len(pair) == 2
                else pair
                for pair in value
            ]
        return clone(value, safe=False)

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
        super()._check_params()

    # -- the stages -------------------------------------------------------------

    def _stage_names(self):
        return [name for name, _ in self.estimators]

    def _given_models(self):
        return [model for _, model in self.estimators]

    @classmethod
    def model_params(cls, models):
        """The constructor parameters that hold fitted models, by stage name.

        :func:`load_joint` builds the estimator with them.

        Parameters
        ----------
        models : dict
            ``{name: model}`` in stage order, as in :meth:`fitted_state`.

        Returns
        -------
        params : dict
            ``{"estimators": [(name, model), ...]}``.

        Examples
        --------
        >>> from elang_sk import CascadeClassifier
        >>> CascadeClassifier.model_params({"a": 1, "b": 2})
        {'estimators': [('a', 1), ('b', 2)]}
        """
        return {"estimators": list(models.items())}

    def _router_specs(self):
        n_gates = len(self.estimators) - 1
        if isinstance(self.routers, list):
            return [(f"routers[{k}]", spec) for k, spec in enumerate(self.routers)]
        return [("routers", self.routers)] * n_gates
