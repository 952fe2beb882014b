"""Prometheus metrics of a server, on a registry of its own.

Every server (app) has its own :class:`prometheus_client.CollectorRegistry`,
so two servers in one process (tests, a Ray replica) never mix their
counts. ``GET /metrics`` renders it in the text exposition format.
"""

import threading
import time
from collections import deque

import numpy as np

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


def _number(value):
    """A gauge value: None as NaN, booleans as 0/1."""
    return float("nan") if value is None else float(value)


class Window:
    """Recent requests: latencies and rows per stage over the last seconds.

    Examples
    --------
    >>> from elang_sk.serving._metrics import Window
    >>> window = Window(n_stages=2, seconds=60)
    >>> window.add(0.01, [3, 1])
    >>> window.first_stage_ratio()
    0.75
    """

    def __init__(self, n_stages, seconds):
        self.n_stages = n_stages
        self.seconds = seconds
        self._events = deque()
        self._lock = threading.Lock()

    def add(self, latency, stage_rows, now=None):
        now = time.monotonic() if now is None else now
        with self._lock:
            self._events.append((now, latency, np.asarray(stage_rows, float)))
            self._prune(now)

    def _prune(self, now):
        while self._events and self._events[0][0] < now - self.seconds:
            self._events.popleft()

    def snapshot(self, seconds=None):
        """Latencies, rows per stage and the span of the last ``seconds``."""
        now = time.monotonic()
        seconds = self.seconds if seconds is None else seconds
        with self._lock:
            self._prune(now)
            events = [e for e in self._events if e[0] >= now - seconds]
        latencies = np.array([e[1] for e in events])
        rows = (
            np.sum([e[2] for e in events], axis=0)
            if events
            else np.zeros(self.n_stages)
        )
        return latencies, rows, seconds

    def first_stage_ratio(self):
        """Share of rows the first stage answered in the window (NaN if none)."""
        _, rows, _ = self.snapshot()
        total = rows.sum()
        return float(rows[0] / total) if total else float("nan")

    def p99(self, seconds=None):
        latencies, _, _ = self.snapshot(seconds)
        return float(np.quantile(latencies, 0.99)) if latencies.size else None


class ServerMetrics:
    """The collectors of one server.

    Parameters
    ----------
    stage_names : list of str
    window_s : float
        Window of the realised first-stage (Swift) ratio gauge.
    """

    def __init__(self, stage_names, window_s=60.0):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.stage_names = list(stage_names)
        self.window = Window(len(stage_names), window_s)
        self.requests = Counter(
            "elang_requests",
            "Requests by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.rows = Counter(
            "elang_rows_answered",
            "Rows answered, by the stage that answered "
            "(a fallback counts as its own kind).",
            ["served_by"],
            registry=registry,
        )
        self.stage_rows = Counter(
            "elang_stage_rows",
            "Rows that entered each stage.",
            ["stage"],
            registry=registry,
        )
        self.latency = Histogram(
            "elang_request_latency_seconds",
            "End-to-end latency of /v1/predict.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.stage_latency = Histogram(
            "elang_stage_batch_seconds",
            "Time of one stage's model call.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "elang_stage_batch_rows",
            "Rows per model call, by stage.",
            ["stage"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "elang_stage_queue_rows",
            "Rows waiting for each stage.",
            ["stage"],
            registry=registry,
        )
        self.threshold = Gauge(
            "elang_threshold",
            "Threshold in use at each gate.",
            ["gate"],
            registry=registry,
        )
        self.first_ratio = Gauge(
            "elang_swift_ratio_window",
            f"Share of rows the first stage answered over the last {window_s:g} s.",
            registry=registry,
        )
        self.first_ratio.set_function(self.window.first_stage_ratio)
        self.expected_quality = Gauge(
            "elang_expected_quality",
            "Quality the calibration data expect at the operating point in use.",
            registry=registry,
        )
        self.expected_drop = Gauge(
            "elang_expected_quality_drop",
            "Expected quality given up against the "
            "last stage alone, at the point in use.",
            registry=registry,
        )
        self.expected_speedup = Gauge(
            "elang_expected_speedup",
            "Expected cost of the last stage alone over the cost at the point in use.",
            registry=registry,
        )
        self.adaptive_position = Gauge(
            "elang_adaptive_position",
            "Adaptive controller: 0 at the nominal "
            "point, 1 at the floor (NaN when off).",
            registry=registry,
        )
        self.adaptive_position.set(float("nan"))
        self.errors = Counter(
            "elang_errors",
            "Errors by kind.",
            ["kind"],
            registry=registry,
        )
        self.changes = Counter(
            "elang_operating_point_changes",
            "Changes of the operating point.",
            ["source"],
            registry=registry,
        )

    def watch_monitor(self, monitor):
        """Gauges of a :class:`~elang_sk.RoutingMonitor`, read at scrape time."""
        from prometheus_client import Gauge

        def gauge(name, doc, read):
            g = Gauge(name, doc, registry=self.registry)
            g.set_function(lambda: _number(read()))

        drift = monitor.drift_
        gauge(
            "elang_monitor_rows", "Rows fed to the drift test.", lambda: monitor.n_rows_
        )
        gauge("elang_monitor_windows", "Drift windows tested.", lambda: drift.n_windows)
        gauge(
            "elang_monitor_drift_alarm",
            "1 once a window of live scores differed from calibration "
            "(false-alarm rate alpha over the whole stream).",
            lambda: drift.alarm,
        )
        gauge(
            "elang_monitor_ks_pvalue",
            "KS p-value of the last window.",
            lambda: drift.ks_pvalue,
        )
        gauge(
            "elang_monitor_audited_rows",
            "Swift-kept rows also sent to the Super.",
            lambda: monitor.status().n_audited,
        )
        gauge(
            "elang_monitor_disagreement_upper",
            "Anytime-valid upper bound on the share of inputs the joint answers "
            "differently from the Super.",
            lambda: monitor.status().overall_upper,
        )
        gauge(
            "elang_monitor_alarm",
            "1 on a drift or an audit alarm.",
            lambda: drift.alarm or monitor.audit_alarm_,
        )

    def watch_stage(self, index, stage):
        """Gauge of the stage's queue, read at scrape time."""
        name = self.stage_names[index]
        self.queue_depth.labels(name).set_function(lambda: stage.queued_rows)

        def observe(n_rows, seconds):
            self.stage_latency.labels(name).observe(seconds)
            self.batch_size.labels(name).observe(n_rows)

        return observe

    def show_point(self, thresholds, expected):
        for gate, value in enumerate(thresholds):
            self.threshold.labels(self.stage_names[gate]).set(float(value))
        self.expected_quality.set(expected.quality)
        self.expected_drop.set(expected.quality_drop)
        self.expected_speedup.set(expected.speedup)

    def render(self):
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
