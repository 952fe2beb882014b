"""BaseJoint: the one core of every joint estimator, for N >= 2 stages.

A joint estimator holds N models, cheapest first, and a router on each but
the last. Two stages are a Swift and a Super (:class:`JointClassifier`,
:class:`JointSeq2Seq`); more are a cascade (:class:`CascadeClassifier`).
Their life has two halves, both written once here:

* **fit** (:meth:`BaseJoint._finish_fit`): the subclass runs the models on
  the calibration data and scores it; this base turns per-stage qualities,
  scores and costs into ``calibration_``, ``costs_`` and ``curve_``, and
  *chooses the thresholds once* (``threshold_selection_``, with
  :func:`elang_sk.routing._stage_thresholds.select_thresholds`).
* **serving** (:meth:`BaseJoint.route`): every input goes to the first
  stage; each stage keeps the inputs whose score is ``>= its threshold``
  (:func:`elang_sk.routing._stage_thresholds.keeps`), the others go on, and the
  last stage answers what reaches it. A stage never runs on inputs stopped
  before it. :meth:`route_stage` and :meth:`answer_stage` are the public
  seams that the distributed stages, the Displays, the scorers and a server
  build on; ``served_by``, ``routing_scores`` and ``routing_report`` (eq. 17,
  :func:`elang_sk.metrics.routing_cost_per_input`) are the same for all.

The subclasses hold only what differs: what an input and an answer are
(labels or texts), how a stage is run and scored, how quality and cost are
measured. Their hooks: ``_stage_names``, ``_sub_model_params``,
``_check_inputs``, ``_start``, ``_stage_scores``, ``_stage_answer``,
``_call_costs`` and ``_report_quality``.
"""

import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils.validation import check_is_fitted

from elang_sk._utils import is_fitted, n_samples, progress_bar
from elang_sk._validation import (
    check_cost_value,
    check_threshold_value,
)
from elang_sk.metrics import routing_cost_per_input, tradeoff_curve
from elang_sk.routing._router import EnergyRouter
from elang_sk.routing._stage_thresholds import (
    answering_stage,
    keeps,
    select_thresholds,
)
from elang_sk.routing._threshold import ThresholdSelector

#: Strategy names that are aliases of a selector strategy (kept for old code).
_ALIASES = {"match_last": "match_super"}


class RoutingReport(Bunch):
    """What one routed call served and what it cost: a Bunch with a short repr.

    Returned by ``routing_report`` of every joint estimator, with the same
    keys whatever the number of stages. The per-stage entries
    (``stage_names``, ``stage_counts``, ``stage_ratios``, ``thresholds``)
    are the data; the two-stage names are views of them: ``n_super`` is the
    last stage's count, ``n_swift`` the inputs answered before it and
    ``swift_ratio`` their fraction.

    Examples
    --------
    >>> from elang_sk.joint._base import RoutingReport
    >>> RoutingReport(swift_ratio=0.75, n_samples=4)
    RoutingReport(swift_ratio=0.75, n_samples=4)
    """

    def __repr__(self):
        fields = ", ".join(
            f"{key}={value:.6g}" if isinstance(value, float) else f"{key}={value!r}"
            for key, value in self.items()
            if not isinstance(value, np.ndarray)
        )
        return f"RoutingReport({fields})"


def as_selector(threshold):
    """The :class:`ThresholdSelector` a threshold parameter stands for.

    A strategy name becomes its selector (``"match_last"`` is the old name of
    ``"match_super"``); numbers stand for themselves as thresholds, and the
    default selector then only describes the calibration data.
    """
    if isinstance(threshold, ThresholdSelector):
        return threshold
    if isinstance(threshold, str):
        if threshold in _ALIASES:
            warnings.warn(
                f"The strategy name {threshold!r} is deprecated: it is "
                f"{_ALIASES[threshold]!r}, the name every joint estimator and "
                "ThresholdSelector use.",
                FutureWarning,
                stacklevel=3,
            )
            threshold = _ALIASES[threshold]
        return ThresholdSelector(threshold)
    return ThresholdSelector()


def _selector_key(request):
    """A cheap key of what a threshold parameter asks for."""
    if isinstance(request, ThresholdSelector):
        return (type(request), tuple(sorted(vars(request).items())))
    return request if isinstance(request, str) else None


def fit_unfitted(models, X, y, calibration_size, random_state):
    """Train the unfitted models on a split of ``X``; calibrate on the rest.

    Pre-trained (fitted) models are used as given. If any model is unfitted,
    ``X, y`` is split (stratified when every class allows it), the unfitted
    models are cloned and trained on one part, and the other part is returned
    for calibration, so that no threshold is chosen on a model's own training
    data.

    Returns
    -------
    fitted : list of estimators
    X_calibration, y_calibration
        All of ``X, y`` when every model was pre-trained.
    """
    if all(is_fitted(model) for model in models):
        return list(models), X, y
    indices = np.arange(len(y))
    try:
        train, calib = train_test_split(
            indices,
            test_size=calibration_size,
            random_state=random_state,
            stratify=y,
        )
    except ValueError:  # a class too small to stratify
        train, calib = train_test_split(
            indices, test_size=calibration_size, random_state=random_state
        )
    X_train, y_train = _safe_indexing(X, train), y[train]
    fitted = [
        model if is_fitted(model) else clone(model).fit(X_train, y_train)
        for model in models
    ]
    return fitted, _safe_indexing(X, calib), y[calib]


def make_router(spec, name="router"):
    """The unfitted router a ``router`` parameter stands for.

    A score name is ``EnergyRouter(score_func=name)``, None is
    ``EnergyRouter()``, and a router object is cloned. Any router works
    through the same methods (``input_score``, ``routing_target``, ``fit``,
    ``score_samples``): no router class is special-cased.
    """
    if spec is None:
        return EnergyRouter()
    if isinstance(spec, str):
        return EnergyRouter(score_func=spec)
    missing = [
        name
        for name in ("input_score", "routing_target", "fit", "score_samples")
        if not hasattr(spec, name)
    ]
    if missing:
        raise TypeError(
            f"{name} is a {type(spec).__name__}, which is not a router: it lacks "
            f"{missing}. Give an "
            "EnergyRouter, a DeferralRouter, a score name such as 'energy', or "
            "None."
        )
    return clone(spec)


def _merged_dtype(pieces):
    """The dtype of answers merged from several stages' pieces."""
    dtype = np.result_type(*(values for _, values in pieces))
    return object if dtype.kind in "US" else dtype  # texts of different lengths


def _merge(pieces, n):
    """Answers of every row from ``(rows, values)`` pieces, one per stage."""
    if not pieces:
        return None
    if len(pieces) == 1 and pieces[0][0].size == n:  # one stage served all
        return pieces[0][1].astype(_merged_dtype(pieces), copy=False)
    first = pieces[0][1]
    out = np.empty((n,) + first.shape[1:], dtype=_merged_dtype(pieces))
    for rows, values in pieces:
        out[rows] = values
    return out


def _all_rows(rows, n):
    """None (every row) when ``rows`` is all of ``range(n)`` in order."""
    return None if rows.size == n else rows


class BaseJoint(MetaEstimatorMixin, BaseEstimator):
    """Base class of the joint estimators (fit skeleton, serving, costs).

    Not meant to be used directly: subclass it and define the hooks named in
    the module docstring.
    """

    _sub_models = ()  # parameters that hold a sub-model (frozen when fitted)
    _shared_params = ()  # other parameters kept by reference by clone
    _threshold_param = "threshold"  # the parameter that holds the thresholds

    # -- stages -------------------------------------------------------------------

    @property
    def stage_names_(self):
        """Name of each stage, cheapest first (``["swift", "super"]`` for pairs)."""
        return list(self._stage_names())

    # -- the thresholds -------------------------------------------------------

    def _threshold_request(self):
        """The threshold parameter as a selector, or as a list of numbers."""
        value = getattr(self, self._threshold_param)
        if isinstance(value, str | ThresholdSelector):
            return as_selector(value)
        if isinstance(value, list | tuple | np.ndarray):
            return [check_threshold_value(v) for v in value]
        return [check_threshold_value(value)]

    @property
    def thresholds_(self):
        """The thresholds in use, one per routed stage.

        The threshold parameter itself when it holds numbers, else the ones
        chosen on the calibration data. Read at prediction time, so setting
        new numbers on a fitted model takes effect at once, without
        refitting: the serving-time knob. A strategy set after ``fit`` is
        chosen once on the stored calibration data and kept.
        """
        check_is_fitted(self, "calibration_")
        return self._thresholds_in_use().copy()

    def _thresholds_in_use(self):
        request = self._threshold_request()
        if isinstance(request, ThresholdSelector):
            return np.asarray(self.threshold_selection_.thresholds, dtype=float)
        n_gates = len(self.calibration_.stage_scores)
        if len(request) != n_gates:
            raise ValueError(
                f"{self._threshold_param} has {len(request)} values for {n_gates} "
                "routed stages: give one threshold per stage but the last."
            )
        return np.array(request, dtype=float)

    @property
    def threshold_(self):
        """The one threshold of a two-stage model (``thresholds_[0]``).

        Read at prediction time, so ``set_params(threshold=1.7)`` on a fitted
        model takes effect at once, without refitting; a strategy is chosen in
        ``fit`` and only read here.
        """
        thresholds = self.thresholds_
        if thresholds.size != 1:
            raise AttributeError(
                f"This {type(self).__name__} has {thresholds.size} routed stages; "
                "read thresholds_, one threshold per stage but the last."
            )
        return float(thresholds[0])

    @property
    def threshold_selection_(self):
        """How ``thresholds_`` were chosen: a Bunch with ``thresholds``.

        With two stages it is :meth:`ThresholdSelector.select`'s Bunch (with
        ``threshold``, ``densities``, the certificate of ``"risk_control"``
        ...). The selection is made in ``fit``; a strategy set after ``fit``
        is chosen once on the stored calibration data and kept.
        """
        check_is_fitted(self, "calibration_")
        request = self._threshold_request()
        key = _selector_key(getattr(self, self._threshold_param))
        selection = self._selections.get(key)
        if selection is None:
            selector = request if isinstance(request, ThresholdSelector) else None
            selection = self._selections[key] = select_thresholds(
                selector or ThresholdSelector(), self.calibration_, self.curve_
            )
        return selection

    def thresholds_for(self, threshold):
        """The thresholds a threshold parameter value gives, on the stored calibration.

        What ``set_params(threshold=threshold).thresholds_`` would read, without
        changing the model: numbers are checked and returned, a strategy is
        chosen once on the calibration data stored by ``fit`` and kept. The
        seam a server's live operating point builds on (its changes never
        touch the model the serving threads read).

        Parameters
        ----------
        threshold : float, sequence of float, str or ThresholdSelector
            One threshold per routed stage (a float for two stages), a
            strategy name, or a :class:`ThresholdSelector`.

        Returns
        -------
        thresholds : ndarray of shape (n_stages - 1,)

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier, ThresholdSelector
        >>> X, y = make_classification(n_samples=400, random_state=0)
        >>> joint = JointClassifier(
        ...     LogisticRegression(C=0.01).fit(X[:200], y[:200]),
        ...     LogisticRegression().fit(X[:200], y[:200]), router="softmax",
        ... ).fit(X[200:], y[200:])
        >>> joint.thresholds_for(ThresholdSelector("swift_ratio", target=0.5)).shape
        (1,)
        >>> joint.thresholds_for(0.7).tolist()
        [0.7]
        """
        check_is_fitted(self, "calibration_")
        n_gates = len(self.calibration_.stage_scores)
        if isinstance(threshold, str | ThresholdSelector):
            selector = as_selector(threshold)
            selector.check_params()
            key = _selector_key(selector)
            selection = self._selections.get(key)
            if selection is None:
                selection = self._selections[key] = select_thresholds(
                    selector, self.calibration_, self.curve_
                )
            return np.asarray(selection.thresholds, dtype=float).copy()
        values = threshold
        if not isinstance(threshold, list | tuple | np.ndarray):
            values = [threshold]
        values = [check_threshold_value(v) for v in values]
        if len(values) != n_gates:
            raise ValueError(
                f"{len(values)} thresholds for {n_gates} routed stages: give one "
                "threshold per stage but the last."
            )
        return np.array(values, dtype=float)

    def expected_on_calibration(self, thresholds=None):
        """What an operating point is expected to give, on the stored calibration.

        The quality, share of inputs per stage and mean cost per input (eq.
        17) the calibration data of ``fit`` give at ``thresholds``: what a
        server reports for its live operating point before any label arrives.

        Parameters
        ----------
        thresholds : array-like of shape (n_stages - 1,), default=None
            One threshold per routed stage; None uses ``thresholds_``.

        Returns
        -------
        expected : Bunch
            ``thresholds``, ``quality`` (accuracy for classifiers, mean
            sentence quality for sequences), ``last_quality`` (the last stage
            alone), ``quality_drop`` (``last_quality - quality``),
            ``stage_ratios`` (share of inputs each stage answers), ``cost``
            (mean per input, in ``costs_.unit``), ``last_cost`` and
            ``speedup`` (``last_cost / cost``).

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> X, y = make_classification(n_samples=400, random_state=0)
        >>> joint = JointClassifier(
        ...     LogisticRegression(C=0.01).fit(X[:200], y[:200]),
        ...     LogisticRegression().fit(X[:200], y[:200]), router="softmax",
        ...     costs={"swift": 1.0, "super": 10.0},
        ... ).fit(X[200:], y[200:])
        >>> expected = joint.expected_on_calibration([float("-inf")])
        >>> expected.stage_ratios.tolist(), float(expected.speedup)
        ([1.0, 0.0], 10.0)
        """
        check_is_fitted(self, "calibration_")
        cal = self.calibration_
        if thresholds is None:
            thresholds = self._thresholds_in_use()
        thresholds = self.thresholds_for(list(np.ravel(thresholds)))
        stage = answering_stage(cal.stage_scores, thresholds)
        n_stages = len(cal.stage_quality)
        rows = np.arange(stage.size)
        quality = float(np.mean(cal.stage_quality[stage, rows]))
        cost = float(
            np.mean(
                routing_cost_per_input(
                    stage, cal.stage_router_cost, cal.stage_full_cost
                )
            )
        )
        last_quality = float(np.mean(cal.stage_quality[-1]))
        last_cost = float(np.mean(cal.stage_full_cost[-1]))
        return Bunch(
            thresholds=thresholds,
            quality=quality,
            last_quality=last_quality,
            quality_drop=last_quality - quality,
            stage_ratios=np.bincount(stage, minlength=n_stages) / stage.size,
            cost=cost,
            last_cost=last_cost,
            speedup=last_cost / cost if cost > 0 else float("inf"),
        )

    # -- fitting ----------------------------------------------------------------

    def _check_params(self):
        """Cross-parameter checks shared by the subclasses, before any model runs."""
        request = self._threshold_request()
        if isinstance(request, ThresholdSelector):
            request.check_params()
        names = self.stage_names_
        if isinstance(request, list) and len(request) != len(names) - 1:
            raise ValueError(
                f"{self._threshold_param} has {len(request)} values for "
                f"{len(names) - 1} routed stages: give one threshold per stage "
                "but the last."
            )
        if isinstance(self.costs, dict):
            allowed = set(names) | ({"router"} if len(names) == 2 else set())
            unknown = set(self.costs) - allowed
            if unknown or not set(names) <= set(self.costs):
                extra = " (and optionally 'router')" if len(names) == 2 else ""
                raise ValueError(
                    f"costs as a dict needs one cost per stage, keyed by name: "
                    f"{names}{extra}; got {sorted(self.costs)}."
                )
            for key, value in self.costs.items():
                check_cost_value(key, value)

    def _given_costs(self, n):
        """Per-stage, per-input costs from a ``costs`` dict, or None."""
        if not isinstance(self.costs, dict):
            return None
        names = self.stage_names_
        full = np.array([np.full(n, float(self.costs[name])) for name in names])
        router = full.copy()
        if "router" in self.costs:  # the part of the Swift every input pays
            router[0] = float(self.costs["router"])
            full[0] = np.maximum(full[0], router[0])
        return Bunch(router=router, full=full, unit="given")

    def _finish_fit(self, stage_scores, stage_quality, stage_right, costs):
        """Store the calibration, the trade-off curve, and choose the thresholds.

        Parameters
        ----------
        stage_scores : ndarray of shape (n_gates, n_samples)
            Routing scores of each gate on the calibration inputs (out of
            fold when the router was trained on them).
        stage_quality : ndarray of shape (n_stages, n_samples)
            Per-input quality of each stage (1/0 correctness, or a real score).
        stage_right : ndarray of bool of shape (n_stages, n_samples)
            Whether each stage's answer is good enough on each input (the
            groups of the crossing rule).
        costs : Bunch
            ``router`` and ``full``, per stage and input (n_stages,
            n_samples), and their ``unit``.
        """
        self.calibration_ = calibration_bunch(
            stage_scores, stage_quality, stage_right, costs.router, costs.full
        )
        self.costs_ = costs_bunch(
            self.calibration_.stage_router_cost.mean(axis=1),
            self.calibration_.stage_full_cost.mean(axis=1),
            costs.unit,
        )
        # The thresholds are chosen here, once: predict only reads them. Two
        # stages choose on the exact curve; more choose first, and their
        # curve is the last gate's with the earlier gates as chosen.
        self._selections = {}
        self.curve_ = None
        if len(self.calibration_.stage_scores) == 1:
            self.curve_ = calibration_curve(self.calibration_, None)
        selection = self.threshold_selection_
        if self.curve_ is None:
            request = self._threshold_request()
            chosen = request if isinstance(request, list) else selection.thresholds
            self.curve_ = calibration_curve(self.calibration_, chosen)

    def _mean_costs(self, n):
        """Per-stage costs of ``n`` inputs at the means found in ``fit``.

        How measured times and given costs are charged (FLOPs are counted on
        the inputs instead).
        """
        return Bunch(
            router=np.repeat(self.costs_.stage_router[:, None], n, axis=1),
            full=np.repeat(self.costs_.stage_full[:, None], n, axis=1),
            unit=self.costs_.unit,
        )

    def _calibration_state(self):
        """The part of ``fitted_state`` every joint estimator has (JSON-able
        apart from the arrays): see :data:`CALIBRATION_STATE_KEYS`."""
        return {
            "calibration": {key: self.calibration_[key] for key in CALIBRATION_KEYS},
            "costs": {
                "stage_router": self.costs_.stage_router.tolist(),
                "stage_full": self.costs_.stage_full.tolist(),
                "unit": self.costs_.unit,
            },
            "selection": selection_summary(self.threshold_selection_),
            "calibrated_on": self.calibrated_on_,
        }

    def _restore_calibration(self, state):
        """Set the state of :meth:`_calibration_state`, checked as ``fit`` makes it.

        The calibration is rebuilt with the same functions as ``fit``, the
        curve and the selection recomputed from it, and the saved thresholds
        kept to the last bit.
        """
        calibration, costs, selection = (
            state["calibration"],
            state["costs"],
            state["selection"],
        )
        self.calibrated_on_ = check_calibrated_on(state["calibrated_on"])
        arrays = {key: np.asarray(calibration[key]) for key in CALIBRATION_KEYS}
        for key, value in arrays.items():
            if value.dtype.kind not in "biuf" or (
                key != "stage_right" and not np.isfinite(value).all()
            ):
                raise ValueError(
                    f"The saved calibration {key} is not an array of finite numbers."
                )
        cal = calibration_bunch(*(arrays[key] for key in CALIBRATION_KEYS))
        n_stages = len(cal.stage_quality)
        if n_stages != len(self.stage_names_):
            raise ValueError(
                f"The saved calibration has {n_stages} stages; this "
                f"{type(self).__name__} has {len(self.stage_names_)}."
            )
        thresholds = np.asarray(selection.get("thresholds", ()), dtype=float)
        if thresholds.shape != (n_stages - 1,) or np.isnan(thresholds).any():
            raise ValueError(
                f"The saved thresholds {thresholds.tolist()} are not one number "
                f"(or +-inf) per routed stage ({n_stages - 1})."
            )
        self.calibration_ = cal
        self.costs_ = costs_bunch(
            costs["stage_router"], costs["stage_full"], costs["unit"]
        )
        self._selections = {}
        self.curve_ = None
        if n_stages == 2:
            self.curve_ = calibration_curve(cal, None)
        request = self._threshold_request()
        chosen = request
        if isinstance(request, ThresholdSelector):
            chosen = thresholds
            recomputed = self.threshold_selection_
            recomputed.thresholds = thresholds
            if n_stages == 2:
                recomputed.threshold = float(thresholds[0])
        if self.curve_ is None:
            self.curve_ = calibration_curve(cal, chosen)

    # -- serving: the public seams ----------------------------------------------

    #: Inputs served per chunk by ``predict``, ``predict_proba``, ``route``,
    #: ``routing_scores`` and ``served_by``: a larger input is streamed chunk
    #: by chunk, so that the working memory (tokens, logits, the Super's
    #: inputs) stays flat in the number of inputs. Set it on the class or on
    #: one fitted model (``clf.serving_chunk_size = 1000``); results do not
    #: depend on it.
    serving_chunk_size = 8192
    #: Progress bar over the chunks of a long call: ``"auto"`` shows one when
    #: there are several chunks and stderr is a terminal; True or False force it.
    serving_progress = "auto"

    def _check_serving(self):
        # One cheap fitted check per call: check_is_fitted scans every attribute.
        if not hasattr(self, "calibration_"):
            check_is_fitted(self, "calibration_")

    def _check_stage(self, stage):
        n_stages = len(self.calibration_.stage_quality)
        if (
            isinstance(stage, bool | np.bool_)
            or not isinstance(stage, int | np.integer)
            or not 0 <= stage < n_stages
        ):
            raise ValueError(
                f"stage={stage!r} is not a stage of this model: give an index in "
                f"[0, {n_stages}) (0 is the first stage, {n_stages - 1} the last: "
                f"{self.stage_names_})."
            )
        return int(stage)

    def route_stage(self, X, stage=0, *, method="predict", threshold=None):
        """Run one stage on a batch: its routing scores, what it keeps, its answers.

        The seam that per-stage serving builds on (the Ray Data stages of
        :func:`elang_sk.distributed.predict_dataset`, a server's per-stage
        batches): the rows the stage does not keep are the next stage's
        input. The last stage keeps every row.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            The inputs that reached this stage, in the form the models take.
        stage : int, default=0
            Index of the stage (0 is the first, cheapest one).
        method : str, tuple of str or None, default="predict"
            The answers wanted on the kept rows: ``"predict"``,
            ``"predict_proba"`` (classifiers), several of them as a tuple, or
            None for the routing decision only.
        threshold : float, default=None
            This call's threshold; None uses ``thresholds_[stage]``.

        Returns
        -------
        step : Bunch
            ``scores`` (ndarray of shape (n_samples,), None for the last
            stage), ``keep`` (bool, shape (n_samples,)) and ``answers``: the
            answers on the kept rows ``np.flatnonzero(keep)``, in order (a
            dict by method for a tuple of methods, None for ``method=None``).

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> X, y = make_classification(n_samples=400, random_state=0)
        >>> joint = JointClassifier(
        ...     LogisticRegression(C=0.01).fit(X[:200], y[:200]),
        ...     LogisticRegression().fit(X[:200], y[:200]), router="softmax",
        ... ).fit(X[200:], y[200:])
        >>> step = joint.route_stage(X[:10], 0)
        >>> step.answers.shape == (step.keep.sum(),)
        True
        >>> rest = X[:10][~step.keep]
        >>> bool(joint.route_stage(rest, 1).keep.all())
        True
        """
        self._check_serving()
        stage = self._check_stage(stage)
        thresholds = self._thresholds_in_use()
        if threshold is not None and stage < thresholds.size:
            thresholds = thresholds.copy()
            thresholds[stage] = check_threshold_value(threshold)
        X = self._check_inputs(X)
        runs = self._start(X)
        n = n_samples(X)
        scores = None
        if stage < thresholds.size:
            scores = np.asarray(self._stage_scores(runs, stage, None), np.float64)
            keep = keeps(scores, thresholds[stage])
        else:
            keep = np.ones(n, bool)
        kept = np.flatnonzero(keep)
        answers = None
        if method is not None:
            methods = (method,) if isinstance(method, str) else tuple(method)
            answers = {
                name: np.asarray(
                    self._stage_answer(runs, stage, _all_rows(kept, n), name)
                )
                if kept.size
                else None
                for name in methods
            }
            if isinstance(method, str):
                answers = answers[method]
        return Bunch(scores=scores, keep=keep, answers=answers)

    def answer_stage(self, X, stage, method="predict"):
        """One stage's answers on every row of ``X``, with no routing.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the models take.
        stage : int
            Index of the stage (0 is the first).
        method : str, default="predict"
            ``"predict"`` or, for classifiers, ``"predict_proba"``.

        Returns
        -------
        answers : ndarray of shape (n_samples, ...)

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> X, y = make_classification(n_samples=400, random_state=0)
        >>> joint = JointClassifier(
        ...     LogisticRegression(C=0.01).fit(X[:200], y[:200]),
        ...     LogisticRegression().fit(X[:200], y[:200]), router="softmax",
        ... ).fit(X[200:], y[200:])
        >>> joint.answer_stage(X[:3], 1, "predict_proba").shape
        (3, 2)
        """
        self._check_serving()
        stage = self._check_stage(stage)
        X = self._check_inputs(X)
        return np.asarray(self._stage_answer(self._start(X), stage, None, method))

    def route(self, X, *, method="predict"):
        """Serve ``X`` and say who answered each input, with what score.

        What :meth:`predict` does, with the routing kept: every stage runs
        only on the inputs that reach it, ``serving_chunk_size`` at a time.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the models take.
        method : str or None, default="predict"
            The answers wanted (``"predict"``, ``"predict_proba"``); None
            runs the routers only (the last stage does not run).

        Returns
        -------
        routing : Bunch
            ``answers`` (None with ``method=None``), ``stage`` (index of the
            answering stage; for ``method=None`` the last stage stands for
            "passed every gate"), ``served_by`` (its name) and ``scores``
            (n_gates, n_samples), NaN where a gate was not reached.

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> X, y = make_classification(n_samples=400, random_state=0)
        >>> joint = JointClassifier(
        ...     LogisticRegression(C=0.01).fit(X[:200], y[:200]),
        ...     LogisticRegression().fit(X[:200], y[:200]), router="softmax",
        ... ).fit(X[200:], y[200:])
        >>> routing = joint.route(X[:5])
        >>> sorted(routing)
        ['answers', 'scores', 'served_by', 'stage']
        """
        answers, stage, scores, _ = self._serve(X, method)
        return Bunch(
            answers=answers,
            stage=stage,
            served_by=np.asarray(self.stage_names_)[stage],
            scores=scores,
        )

    # -- serving: the loop --------------------------------------------------------

    def _serve_chunk(self, X, method, thresholds):
        """Route checked ``X`` through every stage; each answers what it keeps."""
        runs = self._start(X)
        n, n_gates = n_samples(X), thresholds.size
        stage = np.full(n, n_gates, dtype=np.int8)  # small: one per input
        scores = np.full((n_gates, n), np.nan)
        pending = np.arange(n)
        pieces = []
        for k in range(n_gates + 1):
            if k < n_gates:
                rows = _all_rows(pending, n)
                scores[k, pending] = self._stage_scores(runs, k, rows)
                keep = keeps(scores[k, pending], thresholds[k])
            else:
                keep = np.ones(pending.size, bool)
            kept = pending[keep]
            if method is not None and kept.size:
                values = self._stage_answer(runs, k, _all_rows(kept, n), method)
                pieces.append((kept, np.asarray(values)))
            stage[kept] = k
            pending = pending[~keep]
            if not pending.size or (method is None and k == n_gates - 1):
                break
        return _merge(pieces, n), stage, scores, runs

    def _chunks(self, n):
        """The slices a call on ``n`` inputs is served in, with a progress bar."""
        size = self.serving_chunk_size
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(
                f"serving_chunk_size must be a positive number of inputs; got "
                f"{self.serving_chunk_size!r}. Set it to e.g. 8192."
            )
        size = int(size)
        starts = range(0, n, size)
        bar = progress_bar(len(starts), n, self.serving_progress)
        for start in starts:
            yield slice(start, min(start + size, n))
            if bar is not None:
                bar.update(min(size, n - start))
        if bar is not None:
            bar.close()

    def _serve(self, X, method):
        """Serve ``X`` in chunks of ``serving_chunk_size`` inputs.

        Returns the merged answers, the answering stage and the scores; the
        last item is the call's model runs when ``X`` fits in one chunk.
        """
        self._check_serving()
        thresholds = self._thresholds_in_use()
        X = self._check_inputs(X)
        n = n_samples(X)
        if n <= self.serving_chunk_size:
            return self._serve_chunk(X, method, thresholds)
        out = None
        stage = np.empty(n, dtype=np.int8)
        scores = np.empty((thresholds.size, n))
        for part in self._chunks(n):
            values, stage[part], scores[:, part], _ = self._serve_chunk(
                _safe_indexing(X, part), method, thresholds
            )
            if values is None:
                continue
            if out is None:
                out = np.empty((n,) + values.shape[1:], dtype=values.dtype)
            elif np.result_type(out, values) != out.dtype:
                out = out.astype(np.result_type(out, values))
            out[part] = values
        return out, stage, scores, None

    def routing_scores(self, X):
        """Routing score of each input at each gate it reaches.

        Each gate runs on the inputs that reach it, ``serving_chunk_size``
        inputs at a time; the last stage does not run.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_gates, n_samples)
            With two stages, the Swift's score of every input (the Swift
            keeps ``score >= threshold_``); with more, one row per gate, NaN
            where the input was stopped before it. Higher means the input
            fits that stage better.
        """
        scores = self._serve(X, None)[2]
        return scores[0] if len(scores) == 1 else scores

    def served_by(self, X):
        """Which stage serves each input (runs only the routers).

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take.

        Returns
        -------
        served_by : ndarray of str of shape (n_samples,)
            The stage names (``stage_names_``): ``"swift"`` or ``"super"``
            for a pair.
        """
        return np.asarray(self.stage_names_)[self._serve(X, None)[1]]

    def routing_report(self, X, y=None):
        """Predict and account for what it cost (eq. 17 of the E-LANG paper).

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take.
        y : array-like of shape (n_samples,), default=None
            The true answers, for the quality.

        Returns
        -------
        report : RoutingReport
            The same keys for every joint estimator: ``y_pred``,
            ``served_by``, ``scores`` (as :meth:`routing_scores`),
            ``thresholds`` (one per gate) and ``threshold`` (the one gate's,
            None with more gates), ``n_samples``, ``stage_names``,
            ``stage_counts`` and ``stage_ratios`` (dicts by stage name),
            ``n_swift`` (answered before the last stage), ``n_super``
            (answered by the last stage), ``swift_ratio``,
            ``cost_per_input`` (joint, eq. 17), ``swift_cost_per_input`` and
            ``super_cost_per_input`` (the first and the last stage alone),
            ``speedup`` (last stage's cost over the joint cost),
            ``cost_unit``, ``wall_time`` (seconds this call took; low when
            outputs come from the cache), and with ``y`` the quality
            (``accuracy`` for classifiers, ``quality`` and ``metric`` for
            sequences).
        """
        start = time.perf_counter()
        # One chunk: the costs are counted on the call's model runs.
        self._check_serving()
        thresholds = self._thresholds_in_use()
        X = self._check_inputs(X)
        y_pred, stage, scores, runs = self._serve_chunk(X, "predict", thresholds)
        wall_time = time.perf_counter() - start
        costs = self._call_costs(runs, stage, y_pred)
        joint = float(np.mean(routing_cost_per_input(stage, costs.router, costs.full)))
        names = self.stage_names_
        counts = np.bincount(stage, minlength=len(names))
        n = int(stage.size)
        super_alone = float(costs.alone[-1])
        report = RoutingReport(
            y_pred=y_pred,
            served_by=np.asarray(names)[stage],
            scores=scores[0] if len(scores) == 1 else scores,
            thresholds=thresholds.tolist(),
            threshold=float(thresholds[0]) if thresholds.size == 1 else None,
            n_samples=n,
            stage_names=names,
            stage_counts=dict(zip(names, counts.tolist(), strict=True)),
            stage_ratios=dict(zip(names, (counts / n).tolist(), strict=True)),
            n_swift=int(n - counts[-1]),
            n_super=int(counts[-1]),
            swift_ratio=float(1.0 - counts[-1] / n),
            cost_per_input=joint,
            swift_cost_per_input=float(costs.alone[0]),
            super_cost_per_input=super_alone,
            speedup=super_alone / joint if joint > 0 else float("inf"),
            cost_unit=self.costs_.unit,
            wall_time=wall_time,
        )
        if y is not None:
            report.update(self._report_quality(y_pred, y))
        return report

    # -- scikit-learn protocol --------------------------------------------------

    def set_params(self, **params):
        """Set parameters; pre-trained sub-models are frozen.

        As in scikit-learn, values are not validated here: a threshold that is
        neither a number, a strategy nor a selector (NaN, a boolean) is
        refused by the next ``fit``, ``predict`` or ``thresholds_``, with a
        message that names it.

        ``router__<name>`` works whatever form ``router`` was given in: a
        score name or None first becomes the :class:`EnergyRouter` it stands
        for. Setting a nested parameter of a pre-trained (fitted) sub-model
        raises an error, as :class:`~sklearn.frozen.FrozenEstimator` does:
        it would change the parameters the model reports but not its weights,
        and would mutate the caller's own object.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator
            This estimator.
        """
        models = self._sub_model_params(params)
        for key in params:
            name, nested, _ = key.partition("__")
            if nested and name in models and is_fitted(models[name]):
                raise ValueError(
                    f"Cannot set {key!r}: {name} is a pre-trained (fitted) "
                    "model, which the joint model uses frozen, as given. "
                    "Changing its parameters would not change its weights "
                    "and would alter your own object. To tune it, pass an "
                    f"unfitted model as {name} (it is then trained in fit), "
                    "or fit one model per setting yourself."
                )
        if "router" in self.get_params(deep=False) and any(
            key.startswith("router__") for key in params
        ):
            router = params.get("router", self.router)
            if router is None or isinstance(router, str):
                router = EnergyRouter(score_func=router or "energy")
                params = {**params, "router": router}
        return self._set_checked_params(**params)

    def _set_checked_params(self, **params):
        return super().set_params(**params)

    def _sub_model_params(self, params):
        """The sub-models by parameter name, ``params`` overriding the current."""
        return {
            name: params.get(name, getattr(self, name)) for name in self._sub_models
        }

    def _clone_param(self, name, value):
        """A parameter's value in a clone: fitted sub-models are shared."""
        shared = name in self._sub_models + self._shared_params
        return value if shared and is_fitted(value) else clone(value, safe=False)

    def __sklearn_clone__(self):
        # Pre-trained sub-models are shared, not copied: like FrozenEstimator,
        # cloning a joint model must neither forget nor duplicate their weights.
        params = self.get_params(deep=False)
        return type(self)(
            **{name: self._clone_param(name, value) for name, value in params.items()}
        )


# -- the fitted state shared by every joint estimator ------------------------------


#: The keys of the fitted state that every joint estimator shares.
CALIBRATION_STATE_KEYS = ("calibration", "costs", "selection", "calibrated_on")

#: The per-stage arrays of ``calibration_``: what is saved and restored.
CALIBRATION_KEYS = (
    "stage_scores",
    "stage_quality",
    "stage_right",
    "stage_router_cost",
    "stage_full_cost",
)


#: What a joint estimator was calibrated against (``calibrated_on_``).
CALIBRATED_ON = ("labels", "last_stage")


def check_calibrated_on(value):
    """``value`` if it names what a calibration was made against."""
    if value not in CALIBRATED_ON:
        raise ValueError(
            f"calibrated_on must be one of {list(CALIBRATED_ON)}; got {value!r}."
        )
    return value


def selection_summary(selection):
    """The JSON-able part of a threshold selection (numbers, strings, thresholds)."""
    summary = {
        key: value
        for key, value in selection.items()
        if isinstance(value, bool | int | float | str) and key != "thresholds"
    }
    summary["thresholds"] = [float(t) for t in selection.thresholds]
    return summary


def calibration_bunch(stage_scores, stage_quality, stage_right, router_cost, full_cost):
    """``calibration_``: the per-stage arrays, and their two-stage views.

    Parameters
    ----------
    stage_scores : array-like of shape (n_gates, n_samples)
    stage_quality : array-like of shape (n_stages, n_samples)
    stage_right : array-like of bool of shape (n_stages, n_samples)
    router_cost, full_cost : array-like of shape (n_stages, n_samples)

    Returns
    -------
    calibration : Bunch
        The five arrays as ``stage_scores``, ``stage_quality``,
        ``stage_right``, ``stage_router_cost``, ``stage_full_cost``; with
        two stages also ``scores``, ``swift_quality``, ``super_quality``,
        ``swift_right``, ``swift_cost``, ``super_cost`` and ``router_cost``
        (views of the same arrays).
    """
    cal = Bunch(
        stage_scores=np.atleast_2d(np.asarray(stage_scores, dtype=np.float64)),
        stage_quality=np.asarray(stage_quality, dtype=np.float64),
        stage_right=np.asarray(stage_right, dtype=bool),
        stage_router_cost=np.asarray(router_cost, dtype=np.float64),
        stage_full_cost=np.asarray(full_cost, dtype=np.float64),
    )
    n_stages, n = cal.stage_quality.shape
    expected = {
        "stage_scores": (n_stages - 1, n),
        "stage_right": (n_stages, n),
        "stage_router_cost": (n_stages, n),
        "stage_full_cost": (n_stages, n),
    }
    for key, shape in expected.items():
        if cal[key].shape != shape:
            raise ValueError(
                f"calibration {key} has shape {cal[key].shape}; expected {shape} "
                f"for {n_stages} stages and {n} inputs."
            )
    if n_stages < 2:
        raise ValueError(f"A joint model has at least two stages; got {n_stages}.")
    if n_stages == 2:
        cal.update(
            scores=cal.stage_scores[0],
            swift_quality=cal.stage_quality[0],
            super_quality=cal.stage_quality[1],
            swift_right=cal.stage_right[0],
            swift_cost=cal.stage_full_cost[0],
            super_cost=cal.stage_full_cost[1],
            router_cost=cal.stage_router_cost[0],
        )
    return cal


def costs_bunch(router, full, unit):
    """``costs_``: mean cost per input of each stage, and two-stage views."""
    router = np.asarray(router, dtype=np.float64)
    full = np.asarray(full, dtype=np.float64)
    costs = Bunch(stage_router=router, stage_full=full, unit=str(unit))
    if full.size == 2:
        costs.update(
            swift=float(full[0]), super=float(full[1]), router=float(router[0])
        )
    return costs


def calibration_curve(cal, thresholds):
    """``curve_``: accuracy and cost on the calibration data at every threshold.

    With two stages, the Swift/Super trade-off curve. With more, the curve of
    the last gate with the earlier gates at ``thresholds`` (those in use in
    ``fit``): the cascade so far against the last stage.
    """
    if len(cal.stage_scores) == 1:
        return tradeoff_curve(
            cal.stage_scores[0],
            cal.stage_quality[0],
            cal.stage_quality[1],
            swift_cost=cal.stage_full_cost[0],
            super_cost=cal.stage_full_cost[1],
            router_cost=cal.stage_router_cost[0],
        )
    from elang_sk.routing._stage_thresholds import front_and_last

    pair = front_and_last(cal, np.asarray(thresholds, dtype=float))
    return tradeoff_curve(
        pair.scores,
        pair.swift_quality,
        pair.super_quality,
        swift_cost=pair.swift_cost,
        super_cost=pair.super_cost,
        router_cost=pair.router_cost,
    )
