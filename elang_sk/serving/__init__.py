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
from elang_sk.serving._run import ServerThread, free_port

__all__ = [
    "AdaptivePolicy",
    "OperatingPoint",
    "ServerThread",
    "create_app",
    "free_port",
]
