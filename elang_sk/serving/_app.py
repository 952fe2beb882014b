"""The HTTP API of a served joint model (a FastAPI app).

==============================  ==============================================
``POST /v1/predict``            ``{"inputs": [...], "return": ["proba",
                                "served_by", "score"], "operating_point":
                                {...}, "timeout_ms": 500}``
``GET /v1/operating-point``     the point in use, what it is expected to give,
                                the adaptive state and the last changes
``PUT /v1/operating-point``     admin (``Authorization: Bearer TOKEN``):
                                change it live, for the next batch
``GET /v1/model``               the model card, with the served model's
                                content ``fingerprint``
``GET /v1/monitor``             drift test and audits of live traffic
``GET /metrics``                Prometheus text format
``GET /healthz``, ``/readyz``   alive; ready once every stage is warmed up
==============================  ==============================================
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import threading
import warnings
from numbers import Real
from pathlib import Path

import numpy as np

from elang_sk.serving._batching import LocalStage
from elang_sk.serving._engine import RequestError, ServingEngine
from elang_sk.serving._operating_point import (
    AdaptivePolicy,
    OperatingPointError,
    finite_or_str,
)

logger = logging.getLogger("elang_sk.serving")

TOKEN_ENV = "ELANG_SK_TOKEN"
RETURNS = ("proba", "served_by", "score")
_CARD_POINTS = (
    {"strategy": "crossing"},
    {"strategy": "match_super"},
    {"strategy": "risk_control", "tol": 0.01},
    {"strategy": "risk_control", "tol": 0.02},
    {"strategy": "risk_control", "tol": 0.05},
    {"strategy": "swift_ratio", "target": 0.5},
    {"strategy": "swift_ratio", "target": 0.8},
)


def _positive(name, value, kind=Real):
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}.")
    return value


def _default_warmup(joint):
    try:
        n_features = joint.n_features_in_
    except AttributeError:
        return np.array(["warm-up"], dtype=object)
    return np.zeros((1, int(n_features)))


def _load(model):
    if isinstance(model, str | os.PathLike):
        from elang_sk._persist import load_joint

        return load_joint(Path(model))
    if not hasattr(model, "route_stage"):
        raise TypeError(
            f"model is a {type(model).__name__}: give a fitted joint estimator "
            "(JointClassifier, CascadeClassifier, JointSeq2Seq) or the folder "
            "save_joint wrote."
        )
    if not hasattr(model, "calibration_"):
        raise ValueError(
            f"This {type(model).__name__} is not fitted yet: call fit before "
            "serving it."
        )
    return model


class ServerSettings:
    """The checked settings of a server (see :func:`create_app`)."""

    def __init__(
        self,
        *,
        token,
        max_batch_size,
        max_wait_ms,
        max_queue,
        workers,
        max_inputs,
        max_text_length,
        max_body_bytes,
        timeout_ms,
        on_stage_error,
        adaptive,
    ):
        self.token = token if token is not None else os.environ.get(TOKEN_ENV)
        if self.token is not None and (
            not isinstance(self.token, str) or len(self.token) < 8
        ):
            raise ValueError(
                "The admin token must be a string of at least 8 characters "
                "(e.g. from `python -c 'import secrets; print(secrets.token_hex())'`)."
            )
        self.max_batch_size = _positive("max_batch_size", max_batch_size, int)
        self.max_wait_s = float(max_wait_ms) / 1000.0
        if isinstance(max_wait_ms, bool) or not max_wait_ms >= 0:
            raise ValueError(f"max_wait_ms must be >= 0; got {max_wait_ms!r}.")
        self.max_queue = _positive("max_queue", max_queue, int)
        self.workers = _positive("workers", workers, int)
        self.max_inputs = _positive("max_inputs", max_inputs, int)
        self.max_text_length = _positive("max_text_length", max_text_length, int)
        self.max_body_bytes = _positive("max_body_bytes", max_body_bytes, int)
        self.timeout_s = _positive("timeout_ms", timeout_ms) / 1000.0
        if on_stage_error not in ("fallback", "error"):
            raise ValueError(
                f"on_stage_error={on_stage_error!r}: give 'fallback' (answer with "
                "the stage before, served_by '..._fallback') or 'error'."
            )
        self.on_stage_error = on_stage_error
        if adaptive is not None and not isinstance(adaptive, AdaptivePolicy):
            raise TypeError("adaptive must be an AdaptivePolicy or None.")
        self.adaptive = None if adaptive is None else adaptive.check()


def _model_input(inputs, settings, joint):
    """Request inputs as the models take them: texts or numeric rows."""
    if not isinstance(inputs, list):
        raise RequestError(
            422, f"'inputs' must be a list of inputs; got {type(inputs).__name__}."
        )
    if not inputs:
        raise RequestError(422, "'inputs' is empty: send at least one input.")
    if len(inputs) > settings.max_inputs:
        raise RequestError(
            413,
            f"{len(inputs)} inputs in one request; this server takes at most "
            f"{settings.max_inputs} (max_inputs): split the request.",
        )
    if all(isinstance(x, str) for x in inputs):
        longest = max(range(len(inputs)), key=lambda i: len(inputs[i]))
        if len(inputs[longest]) > settings.max_text_length:
            raise RequestError(
                413,
                f"inputs[{longest}] has {len(inputs[longest])} characters; this "
                f"server takes at most {settings.max_text_length} "
                "(max_text_length).",
            )
        return np.array(inputs, dtype=object)
    for i, x in enumerate(inputs):
        if not isinstance(x, list) or not all(
            isinstance(v, Real) and not isinstance(v, bool) for v in x
        ):
            raise RequestError(
                422,
                f"inputs[{i}] is {json.dumps(x)[:80]}: every input must be a text "
                "(str) or every input a list of numbers (a feature row).",
            )
    widths = {len(x) for x in inputs}
    if len(widths) != 1:
        raise RequestError(
            422, f"The feature rows have different lengths {sorted(widths)}."
        )
    expected = getattr(joint, "n_features_in_", None)
    if expected is not None and widths != {expected}:
        raise RequestError(
            422,
            f"The feature rows have {widths.pop()} values; this model takes "
            f"{expected} per row.",
        )
    X = np.asarray(inputs, dtype=float)
    if not np.isfinite(X).all():
        raise RequestError(422, "The feature rows hold a NaN or an infinity.")
    return X


def _jsonable(values):
    return np.asarray(values).tolist()


def json_safe(value):
    """``value`` with +-inf as ``"inf"``/``"-inf"`` and NaN as None (strict JSON)."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


def _scores_json(scores):
    def clean(value):
        return None if math.isnan(value) else float(value)

    if scores.shape[0] == 1:
        return [clean(v) for v in scores[0]]
    return [[clean(v) for v in column] for column in scores.T]


def _stage_models(joint):
    """The fitted model of each stage (classifiers, then sequence models)."""
    models = getattr(joint, "estimators_", None)
    if models is None:
        models = [getattr(joint, f"{name}_model_", None) for name in joint.stage_names_]
    return models


def _describe_model(model):
    """A short description: a transformers model by its class and checkpoint."""
    config = getattr(model, "config", None)
    name = getattr(config, "name_or_path", None)
    if name is not None:
        return f"{type(model).__name__}({name!r})" if name else type(model).__name__
    return repr(model)[:300]


class _Card:
    """The model card, computed once (strategy selections can take a moment).

    ``fingerprint()`` is the card's ``fingerprint``: the content fingerprint
    of the served joint model (``elang_sk._fingerprint.fingerprint``, its
    parameters and every weight), computed once, when the app is made: it
    reads the whole model, about 0.06 s for a 22.7M-parameter transformer
    and 0.2 s for a 110M one on CPU, which is too much for every request.
    The stages that are remote models (:class:`RemoteClassifier`) can change
    behind this server: their own fingerprints (one ``GET /v1/model`` each)
    are read again at every card request and mixed in. When it cannot be
    computed (a remote stage is down), the card says so (``fingerprint``
    null, ``fingerprint_error``) and the next card request tries again,
    unless the model cannot be fingerprinted at all (``TypeError``: a stage
    that cannot be pickled and has no ``elang_fingerprint()``).
    """

    def __init__(self, engine):
        from elang_sk.serving._remote import RemoteClassifier

        self.engine = engine
        self._card = None
        self._lock = threading.Lock()
        self._static = None
        self._permanent = None  # a model that cannot be fingerprinted at all
        self._live = [
            model
            for model in _stage_models(engine.joint)
            if isinstance(model, RemoteClassifier)
        ]
        try:
            self._static = self._static_fingerprint()
        except Exception as err:  # a remote stage may be down at start-up
            if isinstance(err, TypeError):  # cannot be pickled: never will be
                self._permanent = f"{type(err).__name__}: {err}"[:500]
            logger.warning(
                "The served model's fingerprint could not be computed (%s: %s); "
                "the model card gives none until it can.",
                type(err).__name__,
                err,
            )

    def build(self):
        if self._card is None:
            self._card = self._build()
        return self._card

    def _static_fingerprint(self):
        from elang_sk._fingerprint import fingerprint

        return fingerprint(self.engine.joint)

    def fingerprint(self):
        """``{"fingerprint": ...}``, or a null one and the reason."""
        if self._permanent is not None:
            return {"fingerprint": None, "fingerprint_error": self._permanent}
        try:
            with self._lock:
                if self._static is None:
                    self._static = self._static_fingerprint()
            static = self._static
            if not self._live:
                return {"fingerprint": static}
            h = hashlib.blake2b(static.encode(), digest_size=16)
            for model in self._live:
                h.update(b"\0" + str(model.elang_fingerprint()).encode())
            return {"fingerprint": f"{static.partition('-')[0]}-{h.hexdigest()}"}
        except Exception as err:
            return {
                "fingerprint": None,
                "fingerprint_error": f"{type(err).__name__}: {err}"[:500],
            }

    def _build(self):
        joint = self.engine.joint
        cal = joint.calibration_
        card = {
            "estimator": type(joint).__name__,
            "stages": [
                {"name": name, "model": _describe_model(model)}
                for name, model in zip(
                    self.engine.names, _stage_models(joint), strict=True
                )
            ],
            "task": "classification" if self.engine.has_proba else "generation",
            "calibration": {
                "n_samples": int(cal.stage_quality.shape[1]),
                "calibrated_on": joint.calibrated_on_,
                "stage_quality": cal.stage_quality.mean(axis=1).tolist(),
                "cost_unit": joint.costs_.unit,
                "stage_cost": joint.costs_.stage_full.tolist(),
            },
        }
        if hasattr(joint, "classes_"):
            card["classes"] = np.asarray(joint.classes_).tolist()
        curve = joint.curve_
        index = np.unique(np.linspace(0, len(curve.thresholds) - 1, 51).astype(int))
        card["tradeoff_curve"] = {
            "note": "last gate, on the calibration data"
            if self.engine.n_gates > 1
            else "on the calibration data",
            "thresholds": finite_or_str(curve.thresholds[index]),
            **{
                key: np.asarray(curve[key])[index].tolist()
                for key in ("accuracy", "swift_ratio", "speedup")
            },
        }
        points = []
        for spec in _CARD_POINTS:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    thresholds, _ = self.engine.point.resolve(spec)
            except (OperatingPointError, ValueError) as err:
                points.append({"spec": spec, "error": str(err)})
                continue
            expected = joint.expected_on_calibration(thresholds)
            entry = {
                "spec": spec,
                "thresholds": finite_or_str(thresholds),
                "expected_quality": expected.quality,
                "expected_quality_drop": expected.quality_drop,
                "expected_stage_ratios": expected.stage_ratios.tolist(),
                "expected_speedup": expected.speedup,
            }
            if caught:
                entry["warnings"] = sorted({str(w.message)[:300] for w in caught})
            points.append(entry)
        card["operating_points"] = points
        return card


def create_app(
    model,
    *,
    token=None,
    max_batch_size=64,
    max_wait_ms=2.0,
    max_queue=4096,
    workers=1,
    max_inputs=1024,
    max_text_length=20_000,
    max_body_bytes=16 * 2**20,
    timeout_ms=30_000,
    on_stage_error="fallback",
    adaptive=None,
    warmup_inputs="auto",
    monitor=None,
    stages=None,
):
    """The HTTP API of a fitted joint model, as a FastAPI (ASGI) app.

    Run it under uvicorn (``elang-sk serve``, :class:`ServerThread`) or as
    a Ray Serve ingress (:func:`~elang_sk.serving.build_ray_app`). Every
    stage has its own queue and thread pool: the rows of many requests are
    batched per stage, and a stage sees only the rows routed to it.

    Parameters
    ----------
    model : fitted joint estimator or path
        A fitted :class:`~elang_sk.JointClassifier`,
        :class:`~elang_sk.CascadeClassifier` or :class:`~elang_sk.JointSeq2Seq`,
        or the folder :func:`~elang_sk.save_joint` wrote (loaded with
        :func:`~elang_sk.load_joint` and its checks).
    token : str, default=None
        The admin token (``PUT /v1/operating-point``); None reads the
        ``ELANG_SK_TOKEN`` environment variable. Without one, the admin
        endpoints are refused (403).
    max_batch_size : int, default=64
        Most rows in one model call of a stage.
    max_wait_ms : float, default=2.0
        Longest the first row of a batch waits for others.
    max_queue : int, default=4096
        Most rows waiting per stage; beyond, 503 with ``Retry-After``.
    workers : int, default=1
        Model calls in flight per stage (threads).
    max_inputs : int, default=1024
        Most inputs per request (413 beyond).
    max_text_length : int, default=20000
        Most characters per text input (413 beyond).
    max_body_bytes : int, default=16 MiB
        Largest request body (413 beyond).
    timeout_ms : float, default=30000
        Default deadline of a request (a request may give its own
        ``timeout_ms``); past it, 504, or a fallback answer for rows
        waiting on a later stage.
    on_stage_error : {"fallback", "error"}, default="fallback"
        When a later stage (the Super) fails, is overloaded or misses the
        deadline on its rows: answer them with the stage before it, marked
        ``served_by="swift_fallback"``, or fail the request (502/503/504).
        The server stays up either way.
    adaptive : AdaptivePolicy, default=None
        Load-adaptive operating point (off by default).
    warmup_inputs : array-like, "auto" or None, default="auto"
        Rows each stage runs once before ``/readyz`` says ready; "auto"
        sends one text, or one row of zeros for numeric models.
    monitor : RoutingMonitor, dict or None, default=None
        Watch live traffic with a :class:`~elang_sk.RoutingMonitor`: every
        request's first-gate scores feed its drift test (no labels needed),
        and with ``audit_rate > 0`` that share of the rows the Swift kept is
        also sent to the last stage, off the request's path, for the
        anytime-valid disagreement bound. A dict gives the monitor's
        parameters (``{"window": 500, "audit_rate": 0.02}``). Its state is
        at ``GET /v1/monitor`` and in ``/metrics``.
    stages : list, default=None
        Stage objects replacing the in-process stages (Ray Serve).

    Returns
    -------
    app : fastapi.FastAPI
        ``app.state.engine`` is the serving engine.

    Notes
    -----
    The model card (``GET /v1/model``) gives the served model's
    ``fingerprint``, the key under which a
    :class:`~elang_sk.serving.RemoteClassifier` caches its outputs: the
    content fingerprint of the joint model (its parameters and every weight,
    ``elang_sk._fingerprint.fingerprint``), so that two servers whose
    models differ only in their weights are never confused. It reads the
    whole model, so it is computed once, here (a fraction of a second for a
    transformer: about 0.06 s per 22.7M parameters and 0.2 s per 110M on
    CPU, plus its tokenizer); the fingerprints of stages that are
    themselves remote models are read again at every card request. When it
    cannot be computed (a remote stage is down), the card gives ``null`` and
    a ``fingerprint_error``, and the next request tries again.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from elang_sk import JointClassifier
    >>> from elang_sk.serving import ServerThread, create_app
    >>> X, y = make_classification(n_samples=400, random_state=0)
    >>> joint = JointClassifier(
    ...     LogisticRegression(C=0.01).fit(X[:200], y[:200]),
    ...     LogisticRegression().fit(X[:200], y[:200]), router="softmax",
    ... ).fit(X[200:], y[200:])
    >>> import httpx
    >>> with ServerThread(create_app(joint)) as server:
    ...     reply = httpx.post(server.url + "/v1/predict",
    ...                        json={"inputs": X[:2].tolist(), "return": ["served_by"]})
    ...     card = httpx.get(server.url + "/v1/model").json()
    >>> sorted(reply.json())
    ['predictions', 'served_by']
    >>> card["fingerprint"].startswith("JointClassifier-")
    True
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response

    joint = _load(model)
    settings = ServerSettings(
        token=token,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        max_queue=max_queue,
        workers=workers,
        max_inputs=max_inputs,
        max_text_length=max_text_length,
        max_body_bytes=max_body_bytes,
        timeout_ms=timeout_ms,
        on_stage_error=on_stage_error,
        adaptive=adaptive,
    )
    if isinstance(warmup_inputs, str) and warmup_inputs == "auto":
        warmup_inputs = _default_warmup(joint)
    if stages is None:
        stages = [
            LocalStage(
                joint,
                k,
                max_batch_size=settings.max_batch_size,
                max_wait_s=settings.max_wait_s,
                max_queue=settings.max_queue,
                workers=settings.workers,
            )
            for k in range(len(joint.stage_names_))
        ]
    if isinstance(monitor, dict):
        from elang_sk.routing._monitor import RoutingMonitor

        monitor = RoutingMonitor(joint, **monitor)
    elif monitor is not None and not hasattr(monitor, "update"):
        raise TypeError(
            "monitor must be a RoutingMonitor, a dict of its parameters, or None."
        )
    elif monitor is not None and monitor.joint is not joint:
        raise ValueError(
            "monitor watches another model than the one served: build it on this "
            "model, or give its parameters as a dict (e.g. {'window': 500})."
        )
    engine = ServingEngine(
        joint,
        stages,
        max_batch_size=settings.max_batch_size,
        timeout_s=settings.timeout_s,
        on_stage_error=settings.on_stage_error,
        adaptive=settings.adaptive,
        warmup_inputs=warmup_inputs,
        monitor=monitor,
    )
    card = _Card(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await engine.start()
        yield
        await engine.stop()

    app = FastAPI(
        title="elang_sk",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.engine = engine
    app.state.settings = settings

    def reply(endpoint, status, content, headers=None):
        engine.metrics.requests.labels(endpoint, str(status)).inc()
        return JSONResponse(json_safe(content), status_code=status, headers=headers)

    async def read_json(request):
        length = request.headers.get("content-length")
        if (
            length is not None
            and length.isdigit()
            and (int(length) > settings.max_body_bytes)
        ):
            raise RequestError(
                413,
                f"The request body has {length} bytes; this server takes at "
                f"most {settings.max_body_bytes} (max_body_bytes).",
            )
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            raise RequestError(
                413,
                f"The request body is over {settings.max_body_bytes} bytes "
                "(max_body_bytes).",
            )
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RequestError(400, f"The body is not valid JSON: {err}.") from None
        if not isinstance(payload, dict):
            raise RequestError(400, "The body must be a JSON object.")
        return payload

    def check_admin(request):
        if settings.token is None:
            raise RequestError(
                403,
                "Admin endpoints are off: start the server with a token "
                f"(--token, or the {TOKEN_ENV} environment variable).",
            )
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise RequestError(
                401,
                "This endpoint needs 'Authorization: Bearer <token>'.",
                {"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(value.encode(), settings.token.encode()):
            raise RequestError(
                401, "Wrong admin token.", {"WWW-Authenticate": "Bearer"}
            )

    async def handled(endpoint, work):
        try:
            status, content, headers = await work()
        except RequestError as err:
            if err.status >= 500:
                engine.metrics.errors.labels(f"http_{err.status}").inc()
            return reply(endpoint, err.status, {"error": err.message}, err.headers)
        except Exception as err:
            logger.exception("internal error on %s", endpoint)
            engine.metrics.errors.labels("internal").inc()
            return reply(
                endpoint, 500, {"error": f"internal error: {type(err).__name__}: {err}"}
            )
        return reply(endpoint, status, content, headers)

    @app.post("/v1/predict")
    async def predict(request: Request):
        async def work():
            if not engine.ready:
                raise RequestError(
                    503, f"Not ready: {engine.not_ready_reason}.", {"Retry-After": "1"}
                )
            payload = await read_json(request)
            unknown = set(payload) - {
                "inputs",
                "return",
                "operating_point",
                "timeout_ms",
            }
            if unknown:
                raise RequestError(
                    422,
                    f"Unknown keys {sorted(unknown)}: a request takes 'inputs', "
                    "'return', 'operating_point' and 'timeout_ms'.",
                )
            if "inputs" not in payload:
                raise RequestError(422, "The request has no 'inputs' list.")
            wanted = payload.get("return") or []
            if not isinstance(wanted, list) or not set(wanted) <= set(RETURNS):
                raise RequestError(
                    422,
                    f"'return' must be a list drawn from {list(RETURNS)}; got "
                    f"{json.dumps(wanted)[:80]}.",
                )
            if "proba" in wanted and not engine.has_proba:
                raise RequestError(
                    422,
                    f"This {type(joint).__name__} gives no probabilities: drop "
                    "'proba' from 'return'.",
                )
            timeout = payload.get("timeout_ms")
            if timeout is not None:
                if (
                    isinstance(timeout, bool)
                    or not isinstance(timeout, Real)
                    or not (timeout > 0)
                ):
                    raise RequestError(
                        422, f"timeout_ms must be a positive number; got {timeout!r}."
                    )
                timeout = float(timeout) / 1000.0
            spec = payload.get("operating_point")
            try:
                thresholds = engine.request_thresholds(spec)
            except OperatingPointError as err:
                raise RequestError(422, f"operating_point: {err}") from None
            X = _model_input(payload["inputs"], settings, joint)
            methods = (
                ("predict", "predict_proba") if "proba" in wanted else ("predict",)
            )
            result = await engine.predict(
                X, methods=methods, thresholds=thresholds, timeout_s=timeout
            )
            out = {"predictions": _jsonable(result.answers["predict"])}
            if "proba" in wanted:
                out["proba"] = _jsonable(result.answers["predict_proba"])
            if "served_by" in wanted:
                out["served_by"] = result.served_by.tolist()
            if "score" in wanted:
                out["score"] = _scores_json(result.scores)
            return 200, out, None

        return await handled("predict", work)

    @app.get("/v1/operating-point")
    async def get_point():
        async def work():
            return 200, engine.operating_point(), None

        return await handled("operating_point", work)

    @app.put("/v1/operating-point")
    async def put_point(request: Request):
        async def work():
            check_admin(request)
            spec = await read_json(request)
            try:
                change = await asyncio.get_running_loop().run_in_executor(
                    None, engine.set_operating_point, spec
                )
            except OperatingPointError as err:
                raise RequestError(422, str(err)) from None
            return 200, {"changed": change, **engine.operating_point()}, None

        return await handled("operating_point", work)

    @app.get("/v1/model")
    async def model_card():
        async def work():
            loop = asyncio.get_running_loop()
            content = await loop.run_in_executor(None, card.build)
            named = await loop.run_in_executor(None, card.fingerprint)
            point = engine.operating_point()
            return 200, {**content, **named, "operating_point": point}, None

        return await handled("model", work)

    @app.get("/v1/monitor")
    async def monitor_status():
        async def work():
            status = engine.monitor_status()
            if status is None:
                raise RequestError(
                    404,
                    "This server has no monitor: start it with monitor=... "
                    "(create_app) or --monitor-window (elang-sk serve).",
                )
            return 200, status, None

        return await handled("monitor", work)

    @app.get("/metrics")
    async def metrics():
        body, content_type = engine.metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        if engine.ready:
            return {"ready": True}
        return JSONResponse(
            {"ready": False, "reason": engine.not_ready_reason}, status_code=503
        )

    return app
