"""Scale-out on Ray Serve: one deployment per stage, the same HTTP API.

:func:`build_ray_app` makes a Ray Serve application of a saved joint model:

* one **stage deployment** per stage (``stage-0-swift``, ``stage-1-super``),
  each with its own replicas (or autoscaling) and resources (``num_gpus``
  for the last stage), loading the model with :func:`~elang_sk.load_joint`
  and batching the rows of many requests with ``@serve.batch`` (counted in
  rows) before one :meth:`~elang_sk.JointClassifier.route_stage` call;
* an **ingress** deployment serving the app of
  :func:`~elang_sk.serving.create_app`, whose stages call the stage
  deployments: the same endpoints, operating point, deadlines, fallback and
  metrics as ``elang-sk serve``.

ray is imported only here, when a builder runs.
"""

import asyncio
import math
import time
from pathlib import Path

from sklearn.utils import Bunch

from elang_sk.serving._batching import (
    StageFailed,
    StageOverloaded,
    answer_rows,
    run_isolated,
)


class RayStage:
    """A stage of the engine that calls a Ray Serve stage deployment.

    Parameters
    ----------
    handle : ray.serve.handle.DeploymentHandle
    index : int
        Index of the stage.
    max_queue : int
        Most rows in flight to the deployment; beyond,
        :class:`~elang_sk.serving._batching.StageOverloaded` (503).
    """

    def __init__(self, handle, index, max_queue):
        self.handle = handle
        self.stage = index
        self.max_queue = max_queue
        self.queued_rows = 0
        self.observer = None

    async def start(self):
        """Nothing to start: the deployment runs on its own."""

    async def stop(self):
        """Nothing to stop: Ray Serve shuts the deployment down."""

    def retry_after(self):
        return 1

    async def submit(self, X, threshold, methods):
        n = len(X)
        if self.queued_rows + n > self.max_queue:
            raise StageOverloaded(
                f"stage {self.stage} has {self.queued_rows} rows in flight and takes "
                f"at most {self.max_queue} (max_queue): retry later.",
                self.retry_after(),
            )
        self.queued_rows += n
        started = time.perf_counter()
        try:
            out = await self.handle.route.remote(X, threshold, methods)
        except Exception as err:
            raise StageFailed(f"{type(err).__name__}: {err}") from err
        finally:
            self.queued_rows -= n
        if self.observer is not None:
            self.observer(n, time.perf_counter() - started)
        if "error" in out:  # this request's rows failed in the replica
            failure = StageFailed(out["error"])
            if out["bad_input"]:
                failure.__cause__ = ValueError(out["error"])
            raise failure
        return Bunch(**out)

    async def answer(self, X, methods):
        try:
            return await self.handle.answer.remote(X, methods)
        except Exception as err:
            raise StageFailed(f"{type(err).__name__}: {err}") from err


class StageReplica:
    """A replica of one stage: the saved model, batched ``route_stage`` calls.

    Parameters
    ----------
    folder : str
        The folder :func:`~elang_sk.save_joint` wrote.
    stage : int
    max_batch_size : int
        Most rows per model call (``@serve.batch`` counts rows).
    max_wait_s : float
    """

    def __init__(self, folder, stage, max_batch_size, max_wait_s):
        from ray import serve

        from elang_sk._persist import load_joint

        self.joint = load_joint(folder)
        self.stage = stage
        self._batched = serve.batch(
            max_batch_size=max_batch_size,
            batch_wait_timeout_s=max_wait_s,
            batch_size_fn=lambda items: sum(len(item[0]) for item in items),
        )(self._run)

    async def _run(self, items):
        batch = [Bunch(X=X, threshold=t, methods=m) for X, t, m in items]
        results = await asyncio.to_thread(run_isolated, self.joint, self.stage, batch)
        return [
            {
                "error": str(r),
                "bad_input": isinstance(r.__cause__, ValueError | TypeError),
            }
            if isinstance(r, StageFailed)
            else dict(r)
            for r in results
        ]

    async def route(self, X, threshold, methods):
        """This stage on ``X`` (batched with other calls): scores, keep, answers."""
        return await self._batched((X, threshold, methods))

    async def answer(self, X, methods):
        """Unrouted answers on every row (a fallback)."""
        return await asyncio.to_thread(answer_rows, self.joint, self.stage, X, methods)


class Ingress:
    """The ingress replica: :func:`~elang_sk.serving.create_app` on Ray stages."""

    def __init__(self, folder, options, *handles):
        from elang_sk.serving._app import create_app

        max_queue = options.get("max_queue", 4096)
        stages = [RayStage(h, k, max_queue) for k, h in enumerate(handles)]
        self.elang_app = create_app(folder, stages=stages, **options)

    def __serve_build_asgi_app__(self):
        return self.elang_app


def _replica_config(replicas, n_stages):
    """Per-stage deployment options from ``replicas`` (int, list, 'auto')."""
    if replicas is None:
        replicas = [1] * n_stages
    if isinstance(replicas, str):
        if replicas == "auto":
            auto = {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 2}
            return [{"autoscaling_config": dict(auto)} for _ in range(n_stages)]
        try:
            replicas = [int(part) for part in replicas.split(",")]
        except ValueError:
            replicas = None
    if isinstance(replicas, int) and not isinstance(replicas, bool):
        replicas = [replicas] * n_stages
    if (
        not isinstance(replicas, list | tuple)
        or len(replicas) != n_stages
        or not all(isinstance(r, int) and r >= 1 for r in replicas)
    ):
        raise ValueError(
            f"replicas must be 'auto', a positive number, or one positive number "
            f"per stage ({n_stages}, cheapest first, e.g. '1,2'); got {replicas!r}."
        )
    return [{"num_replicas": r} for r in replicas]


def build_ray_app(
    folder,
    *,
    replicas=None,
    last_stage_gpus=0.0,
    stage_cpus=1.0,
    **options,
):
    """A Ray Serve application of a saved joint model, one deployment per stage.

    Parameters
    ----------
    folder : str or path
        The folder :func:`~elang_sk.save_joint` wrote (checked here by
        :func:`~elang_sk.load_joint`, loaded again by every replica).
    replicas : int, list of int or "auto", default=None
        Replicas per stage (cheapest first), one number for all, or
        ``"auto"`` (autoscaling, 1 to 4 replicas each). None: one each.
    last_stage_gpus : float, default=0.0
        GPUs per replica of the last stage (the Super).
    stage_cpus : float, default=1.0
        CPUs per stage replica.
    **options
        The options of :func:`~elang_sk.serving.create_app` (token, batch
        sizes, limits, deadlines, ``on_stage_error``, ``adaptive``).

    Returns
    -------
    app : ray.serve.Application
        Give it to ``serve.run(app, route_prefix="/")``.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from elang_sk import JointClassifier, save_joint
    >>> from elang_sk.serving import build_ray_app
    >>> X, y = make_classification(n_samples=400, random_state=0)
    >>> joint = JointClassifier(
    ...     LogisticRegression(C=0.01).fit(X[:200], y[:200]),
    ...     LogisticRegression().fit(X[:200], y[:200]), router="softmax",
    ... ).fit(X[200:], y[200:])
    >>> folder = tempfile.mkdtemp() + "/model"
    >>> folder = save_joint(joint, folder)
    >>> app = build_ray_app(folder, replicas=[1, 2], max_batch_size=32)
    >>> type(app).__name__  # serve.run(app, route_prefix="/") deploys it
    'Application'
    """
    from ray import serve

    from elang_sk._persist import load_joint

    folder = str(Path(folder).resolve())
    joint = load_joint(folder)
    names = joint.stage_names_
    configs = _replica_config(replicas, len(names))
    if (
        isinstance(last_stage_gpus, bool)
        or not isinstance(last_stage_gpus, int | float)
        or not last_stage_gpus >= 0
        or not math.isfinite(last_stage_gpus)
    ):
        raise ValueError(
            f"last_stage_gpus must be a number >= 0; got {last_stage_gpus!r}."
        )
    max_batch_size = options.get("max_batch_size", 64)
    max_wait_s = options.get("max_wait_ms", 2.0) / 1000.0
    stage_class = serve.deployment(StageReplica)
    stages = []
    for k, (name, config) in enumerate(zip(names, configs, strict=True)):
        actor = {"num_cpus": stage_cpus}
        if k == len(names) - 1 and last_stage_gpus:
            actor["num_gpus"] = last_stage_gpus
        deployment = stage_class.options(
            name=f"stage-{k}-{name}", ray_actor_options=actor, **config
        )
        stages.append(deployment.bind(folder, k, max_batch_size, max_wait_s))
    ingress = serve.deployment(serve.ingress()(Ingress)).options(
        name="ingress", ray_actor_options={"num_cpus": 0}
    )
    return ingress.bind(folder, options, *stages)


def run_ray(
    folder,
    *,
    host="127.0.0.1",
    port=8000,
    replicas=None,
    last_stage_gpus=0.0,
    **options,
):
    """``elang-sk serve --ray``: run :func:`build_ray_app` until interrupted."""
    import signal
    import threading

    import ray
    from ray import serve

    app = build_ray_app(
        folder, replicas=replicas, last_stage_gpus=last_stage_gpus, **options
    )
    ray.init(log_to_driver=False, include_dashboard=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(app, name="elang_sk", route_prefix="/")
        print(
            f"elang-sk serve --ray: listening on http://{host}:{port} "
            "(POST /v1/predict, /v1/operating-point, /v1/model, /metrics)",
            flush=True,
        )
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0
