"""Dynamic batching per stage: rows of many requests, one model call.

A stage of a server is a queue and one or more workers. A request submits
the rows that reached the stage with the threshold it routes them at; a
worker waits for the first rows, then up to ``max_wait_s`` more for others
until ``max_batch_size`` rows are queued, and runs the stage once on all of
them with the joint model's public :meth:`~elang_sk.JointClassifier.route_stage`
(one call per distinct threshold in the batch). The call runs in a thread of
the stage's own pool, so the event loop never blocks and the stages overlap:
the Swift batches the next requests while the Super answers the forwarded
rows of the previous ones. The queue is bounded: a full stage refuses new
rows with :class:`StageOverloaded`, which the app answers with 503 and
``Retry-After``.
"""

import asyncio
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.utils import Bunch

METHOD_ORDER = ("predict", "predict_proba")


class StageOverloaded(RuntimeError):
    """A stage's queue is full; ``retry_after`` is a suggested wait in seconds."""

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = retry_after


class StageFailed(RuntimeError):
    """A stage's model call raised; the original error is ``__cause__``."""


def concat(parts):
    """Rows of several requests as one model input (texts or numeric rows)."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts)


def run_batch(joint, stage, items):
    """Run one stage on the rows of several requests; one result per item.

    Parameters
    ----------
    joint : fitted joint estimator
    stage : int
        Index of the stage.
    items : list of Bunch
        Each with ``X`` (the rows, an ndarray), ``threshold`` (float, or None
        for the last stage) and ``methods`` (tuple of answer methods).

    Returns
    -------
    results : list of Bunch
        Per item: ``scores`` (ndarray or None for the last stage), ``keep``
        (bool ndarray) and ``answers`` (dict by method, rows of ``keep``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.utils import Bunch
    >>> from elang_sk import JointClassifier
    >>> from elang_sk.serving._batching import run_batch
    >>> X, y = make_classification(n_samples=400, random_state=0)
    >>> joint = JointClassifier(
    ...     LogisticRegression(C=0.01).fit(X[:200], y[:200]),
    ...     LogisticRegression().fit(X[:200], y[:200]), router="softmax",
    ... ).fit(X[200:], y[200:])
    >>> items = [Bunch(X=X[:3], threshold=-np.inf, methods=("predict",)),
    ...          Bunch(X=X[3:5], threshold=np.inf, methods=("predict",))]
    >>> [r.keep.tolist() for r in run_batch(joint, 0, items)]
    [[True, True, True], [False, False]]
    """
    methods = tuple(m for m in METHOD_ORDER if any(m in it.methods for it in items))
    groups = {}
    for i, item in enumerate(items):
        groups.setdefault(item.threshold, []).append(i)
    results = [None] * len(items)
    for threshold, members in groups.items():
        X = concat([items[i].X for i in members])
        step = joint.route_stage(X, stage, method=methods or None, threshold=threshold)
        answers = step.answers if methods else {}
        start = kept_start = 0
        for i in members:
            n = len(items[i].X)
            keep = step.keep[start : start + n]
            n_kept = int(keep.sum())
            results[i] = Bunch(
                scores=None if step.scores is None else step.scores[start : start + n],
                keep=keep,
                answers={
                    m: answers[m][kept_start : kept_start + n_kept]
                    for m in methods
                    if answers.get(m) is not None
                },
            )
            start += n
            kept_start += n_kept
    return results


def run_isolated(joint, stage, items):
    """:func:`run_batch`, with a failing batch retried item by item.

    One request's bad rows must not fail the other requests merged into its
    batch: when the batch raises, each item runs alone, and the items that
    still fail get a :class:`StageFailed` (the original error as its cause)
    in place of their result.
    """
    try:
        return run_batch(joint, stage, items)
    except Exception as err:
        if len(items) == 1:
            return [_failure(err)]
    results = []
    for item in items:
        try:
            results.extend(run_batch(joint, stage, [item]))
        except Exception as err:
            results.append(_failure(err))
    return results


def _failure(err):
    failure = StageFailed(f"{type(err).__name__}: {err}")
    failure.__cause__ = err
    return failure


def answer_rows(joint, stage, X, methods):
    """``{method: answers}`` of one stage on every row of ``X``, unrouted."""
    return {m: joint.answer_stage(X, stage, m) for m in methods}


class LocalStage:
    """One stage of an in-process server: a bounded queue, a thread pool, workers.

    Parameters
    ----------
    joint : fitted joint estimator
    stage : int
        Index of the stage it runs.
    max_batch_size : int
        Most rows in one model call.
    max_wait_s : float
        Longest a row waits for others once it is first in the queue.
    max_queue : int
        Most rows waiting; more are refused with :class:`StageOverloaded`.
    workers : int
        Model calls in flight at once (threads).
    observer : callable, default=None
        Called after each batch with ``(n_rows, seconds)`` (the metrics).

    Examples
    --------
    >>> import asyncio
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from elang_sk import JointClassifier
    >>> from elang_sk.serving._batching import LocalStage
    >>> X, y = make_classification(n_samples=400, random_state=0)
    >>> joint = JointClassifier(
    ...     LogisticRegression(C=0.01).fit(X[:200], y[:200]),
    ...     LogisticRegression().fit(X[:200], y[:200]), router="softmax",
    ... ).fit(X[200:], y[200:])
    >>> async def main():
    ...     stage = LocalStage(joint, 1, max_batch_size=8, max_wait_s=0.001,
    ...                        max_queue=64, workers=1)
    ...     await stage.start()
    ...     out = await stage.submit(X[:4], None, ("predict",))
    ...     await stage.stop()
    ...     return out.keep.tolist()
    >>> asyncio.run(main())
    [True, True, True, True]
    """

    def __init__(
        self,
        joint,
        stage,
        *,
        max_batch_size,
        max_wait_s,
        max_queue,
        workers,
        observer=None,
    ):
        self.joint = joint
        self.stage = stage
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.workers = workers
        self.observer = observer
        self.queued_rows = 0
        self.running_rows = 0
        self.rows_per_second = None  # measured service rate (EWMA)
        self._items = deque()
        self._tasks = []
        self._executor = None
        self._wakeup = None

    async def start(self):
        """Start the workers (on the running event loop)."""
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(
            self.workers, thread_name_prefix=f"elang-stage-{self.stage}"
        )
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]

    async def stop(self):
        """Stop the workers; queued rows get an error, running calls finish."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while self._items:
            item = self._items.popleft()
            if not item.future.done():
                item.future.set_exception(RuntimeError("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def retry_after(self):
        """Seconds a refused client should wait: the queue at the measured rate."""
        rate = self.rows_per_second or 1.0
        return max(1, math.ceil((self.queued_rows + self.running_rows) / rate))

    async def submit(self, X, threshold, methods):
        """Queue ``X`` for the stage; the result once its batch has run."""
        n = len(X)
        if self.queued_rows + n > self.max_queue:
            raise StageOverloaded(
                f"stage {self.stage} has {self.queued_rows} rows queued and takes at "
                f"most {self.max_queue} (max_queue): retry later.",
                self.retry_after(),
            )
        future = asyncio.get_running_loop().create_future()
        item = Bunch(
            X=X,
            threshold=threshold,
            methods=methods,
            future=future,
            arrived=time.monotonic(),
        )
        self._items.append(item)
        self.queued_rows += n
        self._wakeup.set()
        return await future

    async def answer(self, X, methods):
        """The stage's answers on every row of ``X``, unrouted (a fallback)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, answer_rows, self.joint, self.stage, X, methods
        )

    def _take(self):
        batch, n = [], 0
        while self._items:
            item = self._items[0]
            if batch and n + len(item.X) > self.max_batch_size:
                break
            self._items.popleft()
            self.queued_rows -= len(item.X)
            if item.future.done():  # the request gave up (deadline): skip it
                continue
            batch.append(item)
            n += len(item.X)
        return batch, n

    async def _worker(self):
        loop = asyncio.get_running_loop()
        while True:
            while not self._items:
                self._wakeup.clear()
                await self._wakeup.wait()
            first = self._items[0].arrived
            while self.queued_rows < self.max_batch_size:
                left = first + self.max_wait_s - time.monotonic()
                if left <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), left)
                except TimeoutError:
                    break
            batch, n = self._take()
            if not batch:
                continue
            self.running_rows += n
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(
                    self._executor, run_isolated, self.joint, self.stage, batch
                )
            finally:
                self.running_rows -= n
            seconds = time.perf_counter() - started
            rate = n / max(seconds, 1e-9)
            self.rows_per_second = (
                rate
                if self.rows_per_second is None
                else 0.8 * self.rows_per_second + 0.2 * rate
            )
            if self.observer is not None:
                self.observer(n, seconds)
            for item, result in zip(batch, results, strict=True):
                if item.future.done():
                    continue
                if isinstance(result, StageFailed):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)
