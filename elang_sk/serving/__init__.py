"""Online serving: an HTTP endpoint with the live accuracy/cost knob.

:func:`create_app` turns a fitted joint estimator (or a saved folder) into a
FastAPI app with dynamic batching per stage, the live operating point,
Prometheus metrics, health checks and a model card; :class:`ServerThread`
runs it in the background, ``elang-sk serve`` in the foreground;
:func:`build_ray_app` runs the stages as Ray Serve deployments;
:class:`RemoteClassifier` uses a served model as a stage of another joint
model. fastapi, uvicorn and prometheus_client are imported only here
(``pip install elang_sk[serve]``).
"""

from elang_sk.serving._app import create_app
from elang_sk.serving._operating_point import AdaptivePolicy, OperatingPoint
from elang_sk.serving._remote import RemoteClassifier, RemoteStageError
from elang_sk.serving._run import ServerThread, free_port

__all__ = [
    "AdaptivePolicy",
    "build_ray_app",
    "OperatingPoint",
    "RemoteClassifier",
    "RemoteStageError",
    "ServerThread",
    "create_app",
    "free_port",
]


def __getattr__(name):
    # Ray is imported only when its builder is asked for.
    if name in ("build_ray_app", "run_ray"):
        from elang_sk.serving import _ray

        return getattr(_ray, name)
    raise AttributeError(f"module 'elang_sk.serving' has no attribute {name!r}")
