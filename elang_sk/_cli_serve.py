"""``elang-sk serve FOLDER``: the HTTP API of a saved joint model.

The parser is built with argparse alone (``--help`` imports nothing heavy);
the server modules are imported when the command runs.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number >= 0")
    return value


def _operating_point(text):
    """A JSON operating point, or a strategy name as shorthand."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from None
    return {"strategy": text}


def add_parser(commands):
    """The ``serve`` sub-command's parser (argparse only)."""
    serve = commands.add_parser(
        "serve",
        help="serve a saved joint model over HTTP (the live accuracy/cost knob)",
        description="Serve the joint model saved in FOLDER (elang_sk.save_joint) "
        "over HTTP: POST /v1/predict, GET/PUT /v1/operating-point, GET /v1/model, "
        "GET /metrics (Prometheus), /healthz, /readyz. Each stage batches the "
        "rows of many requests; the Super sees only the rows routed to it. "
        "Stops gracefully on Ctrl-C / SIGTERM (requests in flight finish).",
    )
    serve.add_argument("folder", help="folder from save_joint")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 "
        "exposes it to the network)",
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--token",
        default=None,
        help="admin token for PUT /v1/operating-point (at least 8 characters); "
        "default: the ELANG_SK_TOKEN environment variable, which keeps it out "
        "of the process list. Without one the admin endpoints are refused",
    )
    serve.add_argument(
        "--max-batch-size",
        type=_positive_int,
        default=64,
        help="most rows per model call of a stage (default 64)",
    )
    serve.add_argument(
        "--max-wait-ms",
        type=_non_negative_float,
        default=2.0,
        help="longest the first row of a batch waits for others (default 2)",
    )
    serve.add_argument(
        "--max-queue",
        type=_positive_int,
        default=4096,
        help="most rows waiting per stage; beyond, 503 + Retry-After (default 4096)",
    )
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="model calls in flight per stage, in threads (default 1)",
    )
    serve.add_argument(
        "--max-inputs",
        type=_positive_int,
        default=1024,
        help="most inputs per request (default 1024)",
    )
    serve.add_argument(
        "--max-text-length",
        type=_positive_int,
        default=20_000,
        help="most characters per text (default 20000)",
    )
    serve.add_argument(
        "--timeout-ms",
        type=_positive_float,
        default=30_000.0,
        help="default deadline of a request (default 30000)",
    )
    serve.add_argument(
        "--on-stage-error",
        choices=("fallback", "error"),
        default="fallback",
        help="when the Super fails or misses the deadline: answer with the Swift "
        "(served_by swift_fallback, the default) or return the error",
    )
    serve.add_argument(
        "--adaptive-p99-ms",
        type=_positive_float,
        default=None,
        help="load-adaptive mode: hold this p99 latency by moving the threshold "
        "towards --adaptive-floor under load (off by default)",
    )
    serve.add_argument(
        "--adaptive-capacity",
        type=_positive_float,
        default=None,
        help="load-adaptive mode: rows per second the Super can take",
    )
    serve.add_argument(
        "--adaptive-floor",
        type=_operating_point,
        default=None,
        help="the accuracy promise the adaptive mode never passes: JSON such as "
        '\'{"strategy": "risk_control", "tol": 0.02}\' (the default) or '
        "'{\"threshold\": 1.2}'",
    )
    serve.add_argument(
        "--monitor-window",
        type=_positive_int,
        default=None,
        help="watch live traffic: a drift test of the routing scores against "
        "calibration every N rows (RoutingMonitor; GET /v1/monitor), off by "
        "default",
    )
    serve.add_argument(
        "--audit-rate",
        type=_non_negative_float,
        default=0.0,
        help="with --monitor-window: share of the Swift's rows also sent to the "
        "Super to bound the disagreement (default 0: no audits)",
    )
    serve.add_argument(
        "--ray",
        action="store_true",
        help="run each stage as its own Ray Serve deployment (replicas, GPUs, "
        "autoscaling) behind the same HTTP API",
    )
    serve.add_argument(
        "--replicas",
        default=None,
        help="--ray: replicas per stage, comma-separated cheapest first "
        "(e.g. 1,2), or 'auto' for autoscaling (default 1 each)",
    )
    serve.add_argument(
        "--last-stage-gpus",
        type=_non_negative_float,
        default=0.0,
        help="--ray: GPUs per replica of the last stage (the Super), default 0",
    )
    serve.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        default="info",
        help="server log level (default info: one line per operating-point change)",
    )
    return serve


def check_arguments(args):
    """Cheap checks before anything loads: a clear one-line error."""
    from pathlib import Path

    folder = Path(args.folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{args.folder} is not a folder: give the folder elang_sk.save_joint wrote."
        )
    if not 0 <= args.port < 65536:
        raise ValueError(f"--port {args.port} is not a TCP port (0-65535).")
    if args.replicas is not None and not args.ray:
        raise ValueError("--replicas is for --ray; drop it or add --ray.")


def _adaptive(args):
    if args.adaptive_p99_ms is None and args.adaptive_capacity is None:
        if args.adaptive_floor is not None:
            raise ValueError(
                "--adaptive-floor needs --adaptive-p99-ms or --adaptive-capacity."
            )
        return None
    from elang_sk.serving import AdaptivePolicy

    return AdaptivePolicy(
        p99_ms=args.adaptive_p99_ms,
        last_stage_capacity=args.adaptive_capacity,
        floor=args.adaptive_floor,
    )


def _monitor(args):
    if args.monitor_window is None:
        if args.audit_rate:
            raise ValueError("--audit-rate needs --monitor-window (e.g. 500).")
        return None
    if args.audit_rate > 1:
        raise ValueError(f"--audit-rate {args.audit_rate} is not a share in [0, 1].")
    return {"window": args.monitor_window, "audit_rate": args.audit_rate}


def _announce(url, joint, token, out=sys.stdout):
    names = " -> ".join(joint.stage_names_)
    print(
        f"elang-sk serve: {type(joint).__name__} ({names}) listening on {url}", file=out
    )
    example = '{"inputs": ["a text to classify"], "return": ["served_by", "score"]}'
    print(
        f"  predict:  curl -s {url}/v1/predict -H 'content-type: application/json' "
        f"-d '{example}'",
        file=out,
    )
    print(f"  knob:     curl -s {url}/v1/operating-point", file=out)
    if token:
        print(
            f"  change:   curl -s -X PUT {url}/v1/operating-point -H 'Authorization: "
            "Bearer $ELANG_SK_TOKEN' -d '{\"threshold\": 1.5}'",
            file=out,
        )
    else:
        print(
            "  change:   start with --token (or ELANG_SK_TOKEN) to enable the admin "
            "PUT",
            file=out,
        )
    print(f"  metrics:  {url}/metrics   model card: {url}/v1/model", file=out)
    out.flush()


def run(args):
    """Run ``elang-sk serve`` until interrupted; returns the exit status."""
    check_arguments(args)
    adaptive = _adaptive(args)
    token = args.token if args.token is not None else os.environ.get("ELANG_SK_TOKEN")
    options = dict(
        token=token,
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        workers=args.workers,
        max_inputs=args.max_inputs,
        max_text_length=args.max_text_length,
        timeout_ms=args.timeout_ms,
        on_stage_error=args.on_stage_error,
        adaptive=adaptive,
        monitor=_monitor(args),
    )
    if args.ray:
        from elang_sk.serving import run_ray

        return run_ray(
            args.folder,
            host=args.host,
            port=args.port,
            replicas=args.replicas,
            last_stage_gpus=args.last_stage_gpus,
            **options,
        )
    import uvicorn

    from elang_sk.serving import create_app

    app = create_app(args.folder, **options)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        lifespan="on",
        log_level=args.log_level,
        timeout_graceful_shutdown=30,
        access_log=False,
    )
    server = uvicorn.Server(config)

    def announce():
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            port = server.servers[0].sockets[0].getsockname()[1]
            _announce(f"http://{args.host}:{port}", app.state.engine.joint, token)

    threading.Thread(target=announce, daemon=True).start()
    # uvicorn drains in-flight requests on SIGINT/SIGTERM, then raises the
    # signal again: end with status 0 and no KeyboardInterrupt traceback.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stopped)
    server.run()
    return 0


def _stopped(signum, frame):
    raise SystemExit(0)
