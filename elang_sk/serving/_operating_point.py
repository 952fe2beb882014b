"""The live operating point of a server, and the load-adaptive controller.

:class:`OperatingPoint` holds the thresholds a server routes with. A change
(an admin ``PUT``, the adaptive controller) resolves a JSON-like spec into
thresholds with the model's public
:meth:`~elang_sk.JointClassifier.thresholds_for` (a strategy is chosen on the
calibration data stored by ``fit``), swaps them in under a lock and logs it:
the next batch reads the new numbers, the model itself is never touched.

:class:`AdaptivePolicy` describes the optional load-adaptive mode: given a
latency objective or a capacity of the last stage, the controller moves the
gate in front of the last stage from the nominal point towards a floor the
user sets as an accuracy promise (e.g. ``risk_control`` at ``tol=0.02``),
never past it, and back when the load drops.
"""

import logging
import math
import threading
import time
from collections import deque
from numbers import Real

import numpy as np

from elang_sk.routing._threshold import ThresholdSelector

logger = logging.getLogger("elang_sk.serving")

_STRATEGY_KEYS = {"strategy", "target", "tol", "delta", "bound", "n_grid"}


class OperatingPointError(ValueError):
    """An operating point that cannot be used: the message says why and what to send."""


def _number(value, what):
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "-inf"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value):
        raise OperatingPointError(
            f"{what}={value!r} is not a threshold: give a number, or the strings "
            "'-inf' (the stage keeps every input) or 'inf' (it keeps none)."
        )
    return float(value)


def parse_spec(spec):
    """A threshold parameter value from a JSON operating point.

    ``{"threshold": 1.7}``, ``{"thresholds": [1.0, 2.0]}`` or a strategy
    ``{"strategy": "swift_ratio", "target": 0.8}`` (any
    :class:`~elang_sk.ThresholdSelector` parameter).

    Examples
    --------
    >>> from elang_sk.serving._operating_point import parse_spec
    >>> parse_spec({"threshold": "-inf"})
    [-inf]
    >>> parse_spec({"strategy": "risk_control", "tol": 0.02})
    ThresholdSelector(strategy='risk_control', tol=0.02)
    """
    if not isinstance(spec, dict) or not spec:
        raise OperatingPointError(
            'An operating point is a JSON object: {"threshold": 1.7}, '
            '{"thresholds": [1.0, 2.0]} for a cascade, or a strategy such as '
            '{"strategy": "swift_ratio", "target": 0.8}.'
        )
    keys = set(spec)
    if keys == {"threshold"}:
        return [_number(spec["threshold"], "threshold")]
    if keys == {"thresholds"}:
        values = spec["thresholds"]
        if not isinstance(values, list) or not values:
            raise OperatingPointError(
                "thresholds must be a non-empty list, one number per routed stage."
            )
        return [_number(v, "thresholds[]") for v in values]
    if "strategy" in keys and keys <= _STRATEGY_KEYS:
        params = {k: v for k, v in spec.items() if v is not None}
        selector = ThresholdSelector(**params)
        try:
            selector.check_params()
        except (TypeError, ValueError) as err:
            raise OperatingPointError(str(err)) from None
        return selector
    raise OperatingPointError(
        f"Unknown operating point keys {sorted(keys)}: give exactly one of "
        "'threshold', 'thresholds', or 'strategy' with its parameters "
        f"{sorted(_STRATEGY_KEYS - {'strategy'})}."
    )


def describe(request):
    """A JSON-able description of a parsed spec."""
    if isinstance(request, ThresholdSelector):
        out = {"strategy": request.strategy}
        for key in ("target", "tol", "delta"):
            if getattr(request, key) is not None and (
                key != "delta" or request.strategy == "risk_control"
            ):
                out[key] = getattr(request, key)
        return out
    return {"thresholds": [float(v) for v in request]}


def finite_or_str(values):
    """Thresholds as JSON: +-inf as the strings ``"inf"``/``"-inf"``."""
    return [
        float(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf") for v in values
    ]


class OperatingPoint:
    """The thresholds a server routes with, changed live and logged.

    Parameters
    ----------
    joint : fitted joint estimator
        Its :meth:`~elang_sk.JointClassifier.thresholds_for` resolves specs,
        its :meth:`~elang_sk.JointClassifier.expected_on_calibration` says
        what a point is expected to give.
    history : int, default=100
        Number of changes kept for ``GET /v1/operating-point``.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from elang_sk import JointClassifier
    >>> from elang_sk.serving import OperatingPoint
    >>> X, y = make_classification(n_samples=400, random_state=0)
    >>> joint = JointClassifier(
    ...     LogisticRegression(C=0.01).fit(X[:200], y[:200]),
    ...     LogisticRegression().fit(X[:200], y[:200]), router="softmax",
    ... ).fit(X[200:], y[200:])
    >>> point = OperatingPoint(joint)
    >>> point.set({"threshold": 0.9})["thresholds"]
    [0.9]
    >>> point.thresholds().tolist()
    [0.9]
    """

    def __init__(self, joint, history=100):
        self.joint = joint
        self._lock = threading.Lock()
        self._nominal = np.asarray(joint.thresholds_, dtype=float)
        self._nominal_spec = {"thresholds": finite_or_str(self._nominal)}
        self._current = self._nominal.copy()
        self._history = deque(maxlen=history)
        self.n_changes = 0

    def resolve(self, spec):
        """Thresholds (ndarray) and a description for a JSON spec; nothing changes."""
        request = parse_spec(spec)
        try:
            thresholds = self.joint.thresholds_for(request)
        except (TypeError, ValueError) as err:
            raise OperatingPointError(str(err)) from None
        return thresholds, describe(request)

    def set(self, spec, source="admin"):
        """Make ``spec`` the nominal point, for the next batch; returns the change."""
        thresholds, description = self.resolve(spec)
        with self._lock:
            before = self._current.copy()
            self._nominal = thresholds
            self._nominal_spec = description
            self._current = thresholds.copy()
            self.n_changes += 1
            change = self._record(before, thresholds, source, description)
        return change

    def set_current(self, thresholds, source):
        """Move the point in use (adaptive), keeping the nominal one."""
        thresholds = np.asarray(thresholds, dtype=float)
        with self._lock:
            if np.array_equal(thresholds, self._current):
                return None
            before = self._current.copy()
            self._current = thresholds
            return self._record(before, thresholds, source, None)

    def _record(self, before, after, source, description):
        expected = self.joint.expected_on_calibration(after)
        change = {
            "time": time.time(),
            "source": source,
            "from": finite_or_str(before),
            "thresholds": finite_or_str(after),
            "spec": description,
            "expected_quality": expected.quality,
            "expected_stage_ratios": expected.stage_ratios.tolist(),
        }
        self._history.append(change)
        logger.info(
            "operating point %s -> %s by %s (%s); expected quality %.4f, "
            "stage ratios %s",
            change["from"],
            change["thresholds"],
            source,
            description or "adaptive",
            expected.quality,
            np.round(expected.stage_ratios, 4).tolist(),
        )
        return change

    def thresholds(self):
        """The thresholds in use now (a copy)."""
        with self._lock:
            return self._current.copy()

    def nominal(self):
        """The nominal thresholds (what an admin set) and their description."""
        with self._lock:
            return self._nominal.copy(), dict(self._nominal_spec)

    def history(self):
        """The last changes, oldest first."""
        with self._lock:
            return list(self._history)


class AdaptivePolicy:
    """Load-adaptive operating point: what to hold and how far it may move.

    Off unless given to :func:`~elang_sk.serving.create_app`. Every
    ``interval_s`` the controller compares the recent end-to-end p99 latency
    (or the arrival rate of rows at the last stage, with
    ``last_stage_capacity``) with the objective and moves the gate in front
    of the last stage between the nominal point (position 0) and the floor
    (position 1), in ``step`` increments of the share of inputs kept before
    the last stage. It never goes past the floor and returns towards the
    nominal point once the load drops.

    Parameters
    ----------
    p99_ms : float, default=None
        The latency objective: p99 of requests over the last ``window_s``.
    last_stage_capacity : float, default=None
        Rows per second the last stage (the Super) can take; the controller
        keeps its arrival rate under it. Give this or ``p99_ms`` (or both).
    floor : dict, default={"strategy": "risk_control", "tol": 0.02}
        The accuracy promise: an operating point spec (as for the admin
        ``PUT``); the controller never keeps more inputs before the last
        stage than this point does.
    window_s : float, default=5.0
        Window of the latency and rate measurements.
    interval_s : float, default=0.25
        How often the controller acts.
    step : float, default=0.1
        Largest move per interval, as a fraction of the way from nominal
        to floor.
    low_watermark : float, default=0.6
        The controller returns towards the nominal point only while the p99
        is below ``low_watermark * p99_ms`` (hysteresis).

    Examples
    --------
    >>> from elang_sk.serving import AdaptivePolicy
    >>> AdaptivePolicy(p99_ms=50).check().floor
    {'strategy': 'risk_control', 'tol': 0.02}
    """

    def __init__(
        self,
        p99_ms=None,
        last_stage_capacity=None,
        floor=None,
        window_s=5.0,
        interval_s=0.25,
        step=0.1,
        low_watermark=0.6,
    ):
        self.p99_ms = p99_ms
        self.last_stage_capacity = last_stage_capacity
        self.floor = floor
        self.window_s = window_s
        self.interval_s = interval_s
        self.step = step
        self.low_watermark = low_watermark

    def check(self):
        """Checked copy of the policy (a clear error for a bad setting)."""
        if self.p99_ms is None and self.last_stage_capacity is None:
            raise ValueError(
                "AdaptivePolicy needs an objective: p99_ms (e.g. 200) or "
                "last_stage_capacity (rows per second the Super can take)."
            )
        for name in ("p99_ms", "last_stage_capacity"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, Real) or not value > 0
            ):
                raise ValueError(f"{name} must be a positive number; got {value!r}.")
        for name in ("window_s", "interval_s", "step", "low_watermark"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
                raise ValueError(f"{name} must be a positive number; got {value!r}.")
        if self.step > 1 or self.low_watermark >= 1:
            raise ValueError("step must be in (0, 1] and low_watermark in (0, 1).")
        floor = self.floor
        if floor is None:
            floor = {"strategy": "risk_control", "tol": 0.02}
        parse_spec(floor)
        policy = AdaptivePolicy(**{**vars(self), "floor": floor})
        return policy


class AdaptiveController:
    """Moves an :class:`OperatingPoint` along the calibration curve under load.

    The gate in front of the last stage moves; the earlier gates stay at the
    nominal point. Positions are shares of calibration inputs kept before
    the last stage, interpolated between the nominal point and the floor and
    turned into thresholds with quantiles of that gate's calibration scores.
    """

    def __init__(self, policy, point, joint):
        self.policy = policy.check()
        self.point = point
        self.joint = joint
        self.position = 0.0
        self.floor_thresholds, _ = point.resolve(self.policy.floor)
        self._scores = np.sort(np.asarray(joint.calibration_.stage_scores[-1], float))

    def _kept_share(self, threshold):
        """Share of calibration inputs the last gate keeps at ``threshold``."""
        return 1.0 - np.searchsorted(self._scores, threshold, side="left") / len(
            self._scores
        )

    def thresholds_at(self, position):
        """Thresholds at a position in [0, 1] between nominal (0) and floor (1)."""
        nominal, _ = self.point.nominal()
        start = self._kept_share(nominal[-1])
        end = self._kept_share(self.floor_thresholds[-1])
        if end <= start or position <= 0:  # the floor keeps no more: stay nominal
            return nominal
        share = start + position * (end - start)
        n = len(self._scores)
        index = int(np.clip(round((1.0 - share) * n), 0, n - 1))
        threshold = self._scores[index] if share < 1 else -np.inf
        out = nominal.copy()
        out[-1] = max(min(threshold, nominal[-1]), self.floor_thresholds[-1])
        return out

    def decide(self, p99_s, last_stage_rate, arrival_rate):
        """One control step from the measurements; returns the new position.

        Parameters
        ----------
        p99_s : float or None
            p99 latency of the window (None when nothing was served).
        last_stage_rate : float
            Rows per second reaching the last stage over the window.
        arrival_rate : float
            Rows per second arriving over the window.
        """
        policy = self.policy
        over = under = False
        if policy.p99_ms is not None and p99_s is not None:
            objective = policy.p99_ms / 1000.0
            over = p99_s > objective
            under = p99_s < policy.low_watermark * objective
        elif policy.p99_ms is not None:
            under = True
        if policy.last_stage_capacity is not None:
            over = over or last_stage_rate > policy.last_stage_capacity
            capacity_under = last_stage_rate < policy.low_watermark * (
                policy.last_stage_capacity
            )
            under = (
                capacity_under if policy.p99_ms is None else under and capacity_under
            )
        if over:
            self.position = min(1.0, self.position + policy.step)
        elif under:
            self.position = max(0.0, self.position - policy.step / 2)
        return self.position

    def apply(self):
        """Set the thresholds of the current position on the operating point."""
        return self.point.set_current(self.thresholds_at(self.position), "adaptive")
