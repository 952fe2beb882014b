"""The serving engine: a request's rows through the stages, batched across requests.

A request's rows go to the first stage's queue; the rows it does not keep
go, with those of every other request, to the next stage's queue, and so
on: each stage sees only the rows routed to it. The engine knows stages
only through a small interface (``submit``, ``answer``, ``start``, ``stop``,
``queued_rows``, ``retry_after``) so the same engine drives in-process
stages (:class:`~elang_sk.serving._batching.LocalStage`) and Ray Serve
deployments.
"""

import asyncio
import logging
import math
import time

import numpy as np
from sklearn.utils import Bunch

from elang_sk.serving._batching import StageFailed, StageOverloaded
from elang_sk.serving._metrics import ServerMetrics
from elang_sk.serving._operating_point import (
    AdaptiveController,
    OperatingPoint,
    finite_or_str,
)

logger = logging.getLogger("elang_sk.serving")


class RequestError(Exception):
    """A request the server refuses: an HTTP status and a message that says why."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _chunks(n, size):
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


class ServingEngine:
    """Routes requests through batched stages, with the live operating point.

    Parameters
    ----------
    joint : fitted joint estimator
    stages : list
        One stage object per stage of ``joint`` (``submit``/``answer``).
    max_batch_size : int
        Rows per submitted chunk (a stage batches chunks of many requests).
    timeout_s : float
        Default deadline of a request.
    on_stage_error : {"fallback", "error"}
        When a later stage fails or misses the deadline on its rows:
        answer them with the stage before it (``served_by`` gets
        ``"_fallback"``) or fail the request (502/504).
    adaptive : AdaptivePolicy or None
    warmup_inputs : ndarray or None
        Rows every stage runs once before the server says it is ready.
    """

    def __init__(
        self,
        joint,
        stages,
        *,
        max_batch_size,
        timeout_s,
        on_stage_error,
        adaptive=None,
        warmup_inputs=None,
        window_s=60.0,
        monitor=None,
    ):
        self.joint = joint
        self.stages = stages
        self.names = list(joint.stage_names_)
        self.n_gates = len(self.names) - 1
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self.on_stage_error = on_stage_error
        self.warmup_inputs = warmup_inputs
        self.has_proba = hasattr(joint, "predict_proba")
        self.point = OperatingPoint(joint)
        self.metrics = ServerMetrics(self.names, window_s=window_s)
        self.controller = (
            None
            if adaptive is None
            else AdaptiveController(adaptive, self.point, joint)
        )
        self.monitor = monitor
        self._audits = set()
        if monitor is not None:
            self.metrics.watch_monitor(monitor)
        self.ready = False
        self.not_ready_reason = "the models are loading and warming up"
        self._adaptive_task = self._warm_task = None
        self._in_flight = 0
        self._show_point()

    # -- life cycle ---------------------------------------------------------------

    async def start(self):
        """Start the stages, then warm up in the background (``/readyz`` says when)."""
        for index, stage in enumerate(self.stages):
            await stage.start()
            if hasattr(stage, "observer"):
                stage.observer = self.metrics.watch_stage(index, stage)
        self._warm_task = asyncio.create_task(self._warm_up())

    async def _warm_up(self):
        try:
            if self.warmup_inputs is not None:
                for stage in self.stages:
                    await stage.answer(self.warmup_inputs, ("predict",))
        except Exception as err:
            self.not_ready_reason = f"warm-up failed: {type(err).__name__}: {err}"
            logger.error("%s", self.not_ready_reason)
            return
        if self.controller is not None:
            self.metrics.adaptive_position.set(0.0)
            self._adaptive_task = asyncio.create_task(self._adapt())
        self.ready = True
        self.not_ready_reason = None

    async def stop(self, drain_s=30.0):
        """Wait (at most ``drain_s``) for requests in flight, then stop the stages."""
        self.ready = False
        self.not_ready_reason = "the server is shutting down"
        deadline = time.monotonic() + drain_s
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for task in (self._adaptive_task, self._warm_task, *self._audits):
            if task is not None:
                task.cancel()
        for stage in self.stages:
            await stage.stop()

    # -- the operating point ------------------------------------------------------

    def _show_point(self):
        thresholds = self.point.thresholds()
        self.metrics.show_point(
            thresholds, self.joint.expected_on_calibration(thresholds)
        )

    def set_operating_point(self, spec):
        change = self.point.set(spec)
        self.metrics.changes.labels("admin").inc()
        if self.controller is not None:
            self.controller.position = 0.0
        self._show_point()
        return change

    def operating_point(self):
        thresholds = self.point.thresholds()
        nominal, spec = self.point.nominal()
        expected = self.joint.expected_on_calibration(thresholds)
        out = {
            "thresholds": finite_or_str(thresholds),
            "nominal": {"thresholds": finite_or_str(nominal), "spec": spec},
            "expected": {
                "quality": expected.quality,
                "quality_drop": expected.quality_drop,
                "stage_ratios": dict(
                    zip(self.names, expected.stage_ratios.tolist(), strict=True)
                ),
                "speedup": expected.speedup,
            },
            "adaptive": None,
            "history": self.point.history(),
        }
        if self.controller is not None:
            policy = self.controller.policy
            out["adaptive"] = {
                "position": self.controller.position,
                "p99_ms": policy.p99_ms,
                "last_stage_capacity": policy.last_stage_capacity,
                "floor": {
                    "spec": policy.floor,
                    "thresholds": finite_or_str(self.controller.floor_thresholds),
                },
            }
        return out

    async def _adapt(self):
        controller, window = self.controller, self.metrics.window
        seconds = controller.policy.window_s
        while True:
            await asyncio.sleep(controller.policy.interval_s)
            latencies, rows, span = window.snapshot(seconds)
            p99 = float(np.quantile(latencies, 0.99)) if latencies.size else None
            arrival = rows.sum() / span
            last = rows[-1] / span
            controller.decide(p99, last, arrival)
            change = controller.apply()
            self.metrics.adaptive_position.set(controller.position)
            if change is not None:
                self.metrics.changes.labels("adaptive").inc()
                self._show_point()

    # -- a request ------------------------------------------------------------------

    def request_thresholds(self, spec):
        if spec is None:
            return self.point.thresholds()
        return self.point.resolve(spec)[0]

    async def _through(self, k, X, threshold, methods, deadline):
        """Stage ``k`` on ``X`` in chunks, within the deadline."""
        stage = self.stages[k]
        parts = _chunks(len(X), self.max_batch_size)
        self.metrics.stage_rows.labels(self.names[k]).inc(len(X))
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        tasks = [
            asyncio.ensure_future(stage.submit(X[part], threshold, methods))
            for part in parts
        ]
        try:
            results = await asyncio.wait_for(asyncio.gather(*tasks), left)
        except BaseException:
            for task in tasks:  # a failed or late chunk: drop the others
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        if len(results) == 1:
            return results[0]
        return Bunch(
            scores=None
            if results[0].scores is None
            else np.concatenate([r.scores for r in results]),
            keep=np.concatenate([r.keep for r in results]),
            answers={
                m: np.concatenate([r.answers[m] for r in results if m in r.answers])
                for m in methods
                if any(m in r.answers for r in results)
            },
        )

    async def predict(self, X, *, methods, thresholds, timeout_s=None):
        """Answers, answering stage names and gate scores of every row of ``X``."""
        self._in_flight += 1
        try:
            return await self._predict(X, methods, thresholds, timeout_s)
        finally:
            self._in_flight -= 1

    async def _predict(self, X, methods, thresholds, timeout_s):
        started = time.monotonic()
        deadline = started + (self.timeout_s if timeout_s is None else timeout_s)
        n = len(X)
        answers = {m: [None] * n for m in methods}
        served = np.empty(n, dtype=object)
        scores = np.full((self.n_gates, n), np.nan)
        pending = np.arange(n)
        for k in range(len(self.stages)):
            if not pending.size:
                break
            threshold = float(thresholds[k]) if k < self.n_gates else None
            try:
                step = await self._through(k, X[pending], threshold, methods, deadline)
            except (StageFailed, StageOverloaded, TimeoutError) as err:
                await self._stage_error(k, err, X, pending, methods, answers, served)
                break
            if step.scores is not None:
                scores[k, pending] = step.scores
            kept = pending[step.keep]
            for m in methods:
                for row, value in zip(kept, step.answers.get(m, ()), strict=True):
                    answers[m][row] = value
            served[kept] = self.names[k]
            pending = pending[~step.keep]
        latency = time.monotonic() - started
        self.metrics.latency.observe(latency)
        counts = [int(np.sum(served == name)) for name in self.names]
        self.metrics.window.add(latency, counts)
        for label in set(served):
            self.metrics.rows.labels(label).inc(int(np.sum(served == label)))
        if self.monitor is not None:
            self._watch(X, scores[0], served, answers["predict"])
        return Bunch(answers=answers, served_by=served, scores=scores)

    # -- live monitoring ------------------------------------------------------------

    def _watch(self, X, first_scores, served, predictions):
        """Feed the drift test; send an audited share of the Swift's rows on."""
        monitor = self.monitor
        monitor.update(first_scores)
        if monitor.audit_rate <= 0:
            return
        kept = np.flatnonzero(served == self.names[0])
        audited = kept[monitor.should_audit(kept.size)]
        if audited.size:
            swift = np.asarray([predictions[i] for i in audited])
            task = asyncio.create_task(self._audit(X[audited], swift))
            self._audits.add(task)  # keep a reference until it is done
            task.add_done_callback(self._audits.discard)

    async def _audit(self, X, swift_answers):
        """The last stage's answers on audited rows, off the request's path."""
        try:
            step = await self.stages[-1].submit(X, None, ("predict",))
        except (StageFailed, StageOverloaded) as err:
            self.metrics.errors.labels("audit_skipped").inc()
            logger.info("audit of %d rows skipped: %s", len(X), err)
            return
        self.monitor.record_audit(swift_answers, step.answers["predict"])
        self.metrics.stage_rows.labels(self.names[-1]).inc(len(X))

    def monitor_status(self):
        """The monitor's status, and whether the live point is the one it watches."""
        if self.monitor is None:
            return None
        status = dict(self.monitor.status())
        live = self.point.thresholds()
        status["monitored_threshold"] = self.monitor.threshold_
        status["live_threshold"] = float(live[0])
        status["live_point_is_monitored"] = bool(live[0] == self.monitor.threshold_)
        status["recent_windows"] = self.monitor.drift_.history[-20:]
        return status

    async def _stage_error(self, k, err, X, pending, methods, answers, served):
        kind = {
            StageFailed: "stage_failed",
            StageOverloaded: "stage_overloaded",
            TimeoutError: "deadline",
        }[type(err)]
        self.metrics.errors.labels(f"{self.names[k]}_{kind}").inc()
        if k == 0 or self.on_stage_error == "error":
            if isinstance(err, StageOverloaded):
                raise RequestError(
                    503,
                    f"The server is overloaded: {err}",
                    {"Retry-After": str(err.retry_after)},
                ) from None
            if isinstance(err, TimeoutError):
                raise RequestError(
                    504,
                    f"The deadline passed before stage {self.names[k]!r} answered "
                    "(raise timeout_ms, or send fewer inputs).",
                ) from None
            if k == 0 and isinstance(err.__cause__, ValueError | TypeError):
                raise RequestError(
                    422, f"The {self.names[k]!r} stage refused the inputs: {err}"
                ) from None
            raise RequestError(
                502, f"Stage {self.names[k]!r} failed on its rows: {err}"
            ) from None
        logger.warning(
            "stage %r failed on %d rows (%s); answering them with %r",
            self.names[k],
            pending.size,
            kind,
            self.names[k - 1],
        )
        fallback = await self.stages[k - 1].answer(X[pending], methods)
        for m in methods:
            for row, value in zip(pending, fallback[m], strict=True):
                answers[m][row] = value
        served[pending] = f"{self.names[k - 1]}_fallback"

    def retry_after(self):
        return max(stage.retry_after() for stage in self.stages)

    @staticmethod
    def finite(value):
        return value if value is None or math.isfinite(value) else None
