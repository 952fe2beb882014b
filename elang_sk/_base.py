"""BaseJoint: what the joint classifier and the joint seq2seq model share.

A joint estimator holds a Swift and a Super model and a router. Its life has
two halves, both written once here:

* **fit** (:meth:`BaseJoint._finish_fit`): the subclass runs both models on
  the calibration data and scores it; this base turns per-input qualities,
  scores and costs into ``calibration_``, ``costs_`` and ``curve_``, and
  *chooses the threshold once* (``threshold_selection_``).
* **serving** (:meth:`BaseJoint._serve`): score every input with the Swift
  side, keep those with ``score >= threshold_``, run the Super on the routed
  rows only, and merge. ``served_by``, ``routing_scores`` and
  ``routing_report`` (eq. 17) are the same for both subclasses.

The subclasses hold only what differs: what an input and an answer are
(labels or texts), how the Swift side is scored, how quality and cost are
measured (accuracy and FLOPs of classifiers, chrF and FLOPs of decoding).
"""

import math
import sys
import time
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils.validation import check_is_fitted

from elang_sk._cache import n_samples
from elang_sk._router import EnergyRouter
from elang_sk._runner import is_fitted
from elang_sk._threshold import ThresholdSelector
from elang_sk.metrics import tradeoff_curve

_COST_KEYS = {"swift", "super", "router"}


class RoutingReport(Bunch):
    """A :class:`~sklearn.utils.Bunch` whose repr shows the numbers, not arrays.

    Returned by the ``routing_report`` method of the joint estimators.

    Examples
    --------
    >>> from elang_sk._base import RoutingReport
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


def _merged_dtype(pieces):
    """The dtype of answers merged from the Swift's and the Super's pieces."""
    dtype = np.result_type(*(values for _, values in pieces))
    return object if dtype.kind in "US" else dtype  # texts of different lengths


def _progress_bar(n_chunks, n, progress):
    """A tqdm bar over ``n`` inputs, or None; see ``BaseJoint.serving_progress``."""
    if progress is False or n_chunks < 2:
        return None
    if progress == "auto":
        try:
            if not sys.stderr.isatty():
                return None
        except (AttributeError, ValueError):  # a closed or replaced stderr
            return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=n, unit="input", leave=False)


def as_selector(threshold):
    """The :class:`ThresholdSelector` a ``threshold`` parameter stands for.

    A strategy name becomes its selector; a number stands for itself as the
    threshold, and the default selector only describes the calibration data.
    """
    if isinstance(threshold, ThresholdSelector):
        return threshold
    if isinstance(threshold, str):
        return ThresholdSelector(threshold)
    return ThresholdSelector()


def _selector_key(threshold):
    """A cheap key of what ``threshold`` asks for, to find its stored selection."""
    if isinstance(threshold, ThresholdSelector):
        return (type(threshold), tuple(sorted(vars(threshold).items())))
    return threshold if isinstance(threshold, str) else None


def check_threshold_value(threshold):
    """``float(threshold)`` for a number; a clear error for NaN and booleans."""
    if (
        isinstance(threshold, bool | np.bool_)
        or not isinstance(threshold, Real)
        or math.isnan(threshold)
    ):
        raise ValueError(
            f"threshold={threshold!r} is not a routing threshold: give a number "
            "(-inf keeps every input with the Swift, inf sends every input to "
            "the Super), a strategy name such as 'crossing', or a "
            "ThresholdSelector."
        )
    return float(threshold)


def check_cost_value(key, value):
    """A clear error unless ``costs[key]`` is a finite non-negative number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not 0 <= value < np.inf
    ):
        raise ValueError(
            f"costs[{key!r}] must be a finite non-negative number; got {value!r}."
        )


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


class BaseJoint(MetaEstimatorMixin, BaseEstimator):
    """Base class of the joint estimators (fit skeleton, serving, costs).

    Not meant to be used directly: subclass it and define ``_sub_models``
    (the names of the two model parameters), ``_check_inputs``,
    ``_start`` (the model runs of one call), ``_scores``, ``_answer``,
    ``_report_costs`` and ``_report_quality``.
    """

    _sub_models = ()
    _shared_params = ()  # other parameters kept by reference by clone

    # -- the threshold --------------------------------------------------------

    @property
    def threshold_(self):
        """The threshold in use: ``threshold`` if a number, else the one chosen.

        Read at prediction time, so ``set_params(threshold=1.7)`` on a fitted
        model takes effect at once, without refitting; a strategy is chosen in
        ``fit`` and only read here.
        """
        check_is_fitted(self, "calibration_")
        return self._threshold_in_use()

    @property
    def threshold_selection_(self):
        """How ``threshold_`` was chosen: a :meth:`ThresholdSelector.select` Bunch.

        The selection is made in ``fit``. If ``threshold`` was set to another
        strategy after ``fit``, that strategy is chosen once on the stored
        calibration data and kept, so that the serving knob also takes
        strategies without a refit.
        """
        check_is_fitted(self, "calibration_")
        key = _selector_key(self.threshold)
        selection = self._selections.get(key)
        if selection is None:
            selection = self._selections[key] = self._select(self.threshold)
        return selection

    def _select(self, threshold):
        cal = self.calibration_
        return as_selector(threshold).select(
            cal.scores,
            cal.swift_right,
            curve=self.curve_,
            swift_quality=cal.swift_quality,
            super_quality=cal.super_quality,
        )

    # -- fitting ----------------------------------------------------------------

    def _check_params(self):
        """Cross-parameter checks shared by the subclasses, before any model runs."""
        if not isinstance(self.threshold, str | ThresholdSelector):
            check_threshold_value(self.threshold)
        as_selector(self.threshold).check_params()
        if isinstance(self.costs, dict):
            unknown = set(self.costs) - _COST_KEYS
            if unknown or not {"swift", "super"} <= set(self.costs):
                raise ValueError(
                    "costs as a dict needs the keys 'swift' and 'super' (and "
                    f"optionally 'router'); got {sorted(self.costs)}."
                )
            for key, value in self.costs.items():
                check_cost_value(key, value)

    def _given_costs(self, n):
        """Per-input costs from a ``costs`` dict, or None if not given as one."""
        if not isinstance(self.costs, dict):
            return None
        swift = np.full(n, float(self.costs["swift"]))
        router = np.full(n, float(self.costs.get("router", self.costs["swift"])))
        return Bunch(
            swift=np.maximum(swift, router),
            super=np.full(n, float(self.costs["super"])),
            router=router,
            unit="given",
        )

    def _make_router(self):
        if self.router is None:
            return EnergyRouter()
        if isinstance(self.router, str):
            return EnergyRouter(score_func=self.router)
        return clone(self.router)

    def _finish_fit(self, scores, swift_quality, super_quality, swift_right, costs):
        """Store the calibration, the trade-off curve, and choose the threshold.

        Parameters
        ----------
        scores : ndarray of shape (n_samples,)
            Routing scores of the calibration inputs (out-of-fold when the
            router was trained on them).
        swift_quality, super_quality : ndarray of shape (n_samples,)
            Per-input quality of each model (1/0 correctness, or a real score).
        swift_right : ndarray of bool of shape (n_samples,)
            Whether the Swift's answer is good enough on each input (the
            groups of the crossing rule).
        costs : Bunch
            Per-input ``swift``, ``super`` and ``router`` costs and their
            ``unit``.
        """
        self.costs_ = Bunch(
            swift=float(np.mean(costs.swift)),
            super=float(np.mean(costs.super)),
            router=float(np.mean(costs.router)),
            unit=costs.unit,
        )
        self.calibration_ = Bunch(
            scores=scores,
            swift_quality=swift_quality,
            super_quality=super_quality,
            swift_right=swift_right,
            swift_cost=costs.swift,
            super_cost=costs.super,
            router_cost=costs.router,
        )
        self.curve_ = tradeoff_curve(
            scores,
            swift_quality,
            super_quality,
            swift_cost=costs.swift,
            super_cost=costs.super,
            router_cost=costs.router,
        )
        # The threshold is chosen here, once: predict only reads it. A number
        # is described by the default strategy (densities for the plots).
        self._selections = {}
        key = _selector_key(self.threshold)
        self._selections[key] = self._select(self.threshold)

    # -- serving ----------------------------------------------------------------

    #: Inputs served per chunk by ``predict``, ``predict_proba``,
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

    def _threshold_in_use(self):
        """``threshold_`` without its fitted check (the caller made it)."""
        if isinstance(self.threshold, str | ThresholdSelector):
            return self.threshold_selection_.threshold
        return check_threshold_value(self.threshold)

    def _route(self, X, threshold):
        """Start the call's model runs on checked ``X``, score and split it."""
        run = self._start(X)
        scores = self._scores(run)
        return run, scores, scores >= threshold

    def _serve_chunk(self, X, method, threshold):
        """Route checked ``X``; the Swift answers the kept rows, the Super the rest."""
        run, scores, keep = self._route(X, threshold)
        kept, routed = np.flatnonzero(keep), np.flatnonzero(~keep)
        pieces = [
            (rows, np.asarray(self._answer(run, role, rows, method)))
            for role, rows in (("swift", kept), ("super", routed))
            if rows.size
        ]
        if len(pieces) == 1:  # one model served every row, in order
            out = pieces[0][1]
            return out.astype(_merged_dtype(pieces), copy=False), keep, scores, run
        out = np.empty(
            (keep.size,) + pieces[0][1].shape[1:], dtype=_merged_dtype(pieces)
        )
        for rows, values in pieces:
            out[rows] = values
        return out, keep, scores, run

    def _chunks(self, n):
        """The slices a call on ``n`` inputs is served in, with a progress bar."""
        size = int(self.serving_chunk_size)
        if size < 1:
            raise ValueError(
                f"serving_chunk_size must be a positive number of inputs; got "
                f"{self.serving_chunk_size!r}. Set it to e.g. 8192."
            )
        starts = range(0, n, size)
        bar = _progress_bar(len(starts), n, self.serving_progress)
        for start in starts:
            yield slice(start, min(start + size, n))
            if bar is not None:
                bar.update(min(size, n - start))
        if bar is not None:
            bar.close()

    def _serve(self, X, method):
        """Serve ``X`` in chunks of ``serving_chunk_size`` inputs.

        Returns the merged answers, the kept mask and the scores; the last
        item is the call's model runs when ``X`` fits in one chunk, else None.
        """
        self._check_serving()
        threshold = self._threshold_in_use()
        X = self._check_inputs(X)
        n = n_samples(X)
        if n <= self.serving_chunk_size:
            return self._serve_chunk(X, method, threshold)
        out, keep, scores = None, np.empty(n, dtype=bool), np.empty(n)
        for part in self._chunks(n):
            values, keep[part], scores[part], _ = self._serve_chunk(
                _safe_indexing(X, part), method, threshold
            )
            if out is None:
                out = np.empty((n,) + values.shape[1:], dtype=values.dtype)
            elif np.result_type(out, values) != out.dtype:
                out = out.astype(np.result_type(out, values))
            out[part] = values
        return out, keep, scores, None

    def routing_scores(self, X):
        """Routing score of each input; the Swift keeps ``score >= threshold_``.

        Runs only the Swift side, ``serving_chunk_size`` inputs at a time.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means the input fits the Swift better.
        """
        self._check_serving()
        X = self._check_inputs(X)
        n = n_samples(X)
        if n <= self.serving_chunk_size:
            return self._scores(self._start(X))
        scores = np.empty(n)
        for part in self._chunks(n):
            scores[part] = self._scores(self._start(_safe_indexing(X, part)))
        return scores

    def served_by(self, X):
        """Which model serves each input (runs only the Swift side).

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the sub-models take.

        Returns
        -------
        served_by : ndarray of str of shape (n_samples,)
            ``"swift"`` or ``"super"``.
        """
        keep = self.routing_scores(X) >= self.threshold_
        return np.where(keep, "swift", "super")

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
            ``y_pred``, ``served_by``, ``scores``, ``threshold``,
            ``n_samples``, ``n_swift``, ``n_super``, ``swift_ratio``,
            ``cost_per_input`` (joint, eq. 17), ``swift_cost_per_input`` and
            ``super_cost_per_input`` (each model alone), ``speedup`` (Super
            cost over joint cost), ``cost_unit``, ``wall_time`` (seconds this
            call took; low when outputs come from the cache), and with ``y``
            the quality (``accuracy`` for classifiers, ``quality`` and
            ``metric`` for sequences).
        """
        start = time.perf_counter()
        # One chunk: the costs are counted on the call's model runs.
        self._check_serving()
        X = self._check_inputs(X)
        y_pred, keep, scores, run = self._serve_chunk(
            X, "predict", self._threshold_in_use()
        )
        wall_time = time.perf_counter() - start
        costs = self._report_costs(run, keep, y_pred)
        report = RoutingReport(
            y_pred=y_pred,
            served_by=np.where(keep, "swift", "super"),
            scores=scores,
            threshold=self.threshold_,
            n_samples=int(keep.size),
            n_swift=int(keep.sum()),
            n_super=int((~keep).sum()),
            swift_ratio=float(keep.mean()),
            cost_per_input=costs.joint,
            swift_cost_per_input=costs.swift,
            super_cost_per_input=costs.super,
            speedup=costs.super / costs.joint if costs.joint > 0 else float("inf"),
            cost_unit=self.costs_.unit,
            wall_time=wall_time,
        )
        if y is not None:
            report.update(self._report_quality(y_pred, y))
        return report

    # -- scikit-learn protocol --------------------------------------------------

    def set_params(self, **params):
        """Set parameters; pre-trained sub-models are frozen.

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
        for key in params:
            name, nested, _ = key.partition("__")
            if nested and name in self._sub_models:
                model = params.get(name, getattr(self, name))
                if is_fitted(model):
                    raise ValueError(
                        f"Cannot set {key!r}: {name} is a pre-trained (fitted) "
                        "model, which the joint model uses frozen, as given. "
                        "Changing its parameters would not change its weights "
                        "and would alter your own object. To tune it, pass an "
                        f"unfitted model as {name} (it is then trained in fit), "
                        "or fit one model per setting yourself."
                    )
        if any(key.startswith("router__") for key in params):
            router = params.get("router", self.router)
            if router is None or isinstance(router, str):
                router = EnergyRouter(score_func=router or "energy")
                params = {**params, "router": router}
        return super().set_params(**params)

    def __sklearn_clone__(self):
        # Pre-trained sub-models are shared, not copied: like FrozenEstimator,
        # cloning a joint model must neither forget nor duplicate their weights.
        params = self.get_params(deep=False)
        for name, value in params.items():
            shared = name in self._sub_models + self._shared_params
            if not (shared and is_fitted(value)):
                params[name] = clone(value, safe=False)
        return type(self)(**params)
