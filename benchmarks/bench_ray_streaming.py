"""Ray Data streaming: ``predict_dataset`` against ``joint.predict``, with a timeline.

The E-LANG pair of this repository, all-MiniLM-L6-v2 (Swift) ->
all-mpnet-base-v2 (Super), each a :class:`TransformerClassifier` with a linear
head, joined by a :class:`JointClassifier`. Both are built from the
``config.json`` and tokenizer files in ``benchmarks/gpu/`` with **random
weights** (torch seeds 0 and 1): the timings are those of the real
architectures, the predictions are meaningless. The inputs are real movie
snippets (``benchmarks/gpu/movie_snippets.json.gz``, shuffled with seed 0); the
threshold is set so that the Swift keeps ``--swift-ratio`` of them.

On the same texts and threshold it times

- ``joint.predict`` in this process (torch's default threads), before and
  again after the Ray runs (the machine is shared: its load drifts, and the
  Ray runs are compared with the mean of the two);
- ``predict_dataset`` on a local Ray cluster (``ray.init`` excluded), the
  model loaded by every worker from a ``save_joint`` folder, in two pool
  layouts: one Swift and one Super actor of one CPU each, and one Swift
  actor (half a CPU) with two Super actors (three quarters each);

and records, through ``predict_dataset(..., timeline=...)``, every batch each
stage worker ran (start, end, rows): the time both stages were busy at once
shows that the stages stream. Throughput is given for the whole call and
with the start-up excluded (the time before the first batch starts: the
workers start and load the model).

Run from the repository root (a few minutes on 2 cores)::

    python benchmarks/bench_ray_streaming.py [--n 2000] [--swift-ratio 0.5]

Figures are printed and saved to ``benchmarks/results/distributed/``
(``ray_streaming_<n><label>.json`` and ``.png``: the timeline of each run).
``ray_streaming_2000.json`` is a run on a quiet machine,
``ray_streaming_2000_under_load.json`` one while another job kept the two
cores busy (load average 5-7): torch's two threads in one process then lose
far more than single-threaded workers do.
"""

import argparse
import gzip
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import torch
import transformers

from elang_sk import JointClassifier, TransformerClassifier, save_joint
from elang_sk.distributed import predict_dataset, read_timeline

HERE = Path(__file__).resolve().parent
GPU_DIR = HERE / "gpu"
RESULTS = HERE / "results" / "distributed"
SWIFT, SUPER = "all-MiniLM-L6-v2", "all-mpnet-base-v2"
N_FIT, N_CAL = 32, 64
LAYOUTS = {
    "1 swift + 1 super actor, 1 CPU each": dict(
        swift_concurrency=1, super_concurrency=1, swift_num_cpus=1, super_num_cpus=1
    ),
    "1 swift (0.5 CPU) + 2 super actors (0.75 CPU each)": dict(
        swift_concurrency=1,
        super_concurrency=2,
        swift_num_cpus=0.5,
        super_num_cpus=0.75,
    ),
}


def load_avg():
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if "model name" in ln]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    import ray

    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "gpu": None,
        "torch_threads_in_process": torch.get_num_threads(),
        "python": platform.python_version(),
        "ray": ray.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def load_texts():
    with gzip.open(GPU_DIR / "movie_snippets.json.gz", "rt", encoding="utf-8") as f:
        data = json.load(f)
    rows = np.random.RandomState(0).permutation(len(data["texts"]))
    return [data["texts"][i] for i in rows], np.asarray(data["target"])[rows]


def build(name, seed, X, y, batch_size):
    """A TransformerClassifier of ``name``'s architecture, random weights."""
    config = transformers.AutoConfig.from_pretrained(GPU_DIR / name)
    torch.manual_seed(seed)
    model = transformers.AutoModel.from_config(config)
    tokenizer = transformers.AutoTokenizer.from_pretrained(GPU_DIR / name)
    return TransformerClassifier(
        model, tokenizer, device="cpu", batch_size=batch_size, progress=False
    ).fit(X, y)


def intervals_union(spans):
    """Disjoint, sorted intervals covering ``spans`` (pairs of start, end)."""
    out = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def intersection_seconds(a, b):
    """Seconds covered by both unions of intervals ``a`` and ``b``."""
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0.0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def analyse(timeline, call_start, call_end, n):
    """Per-stage busy time, the overlap of the two stages, start-up and tail."""
    stages = {}
    busy = {}
    for name, rows in timeline.groupby("name", sort=False):
        spans = list(zip(rows["start"], rows["end"], strict=True))
        busy[name] = intervals_union(spans)
        stages[name] = {
            "workers": int(rows["pid"].nunique()),
            "batches": len(rows),
            "rows": int(rows["rows"].sum()),
            "rows_computed": int(rows["computed"].sum()),
            "first_start_s": float(rows["start"].min() - call_start),
            "last_end_s": float(rows["end"].max() - call_start),
            "busy_worker_s": float((rows["end"] - rows["start"]).sum()),
            "busy_wall_s": float(sum(e - s for s, e in busy[name])),
        }
    first = float(timeline["start"].min())
    last = float(timeline["end"].max())
    overlap = intersection_seconds(busy["swift"], busy["super"])
    swift_wall = stages["swift"]["busy_wall_s"]
    wall = call_end - call_start
    startup = first - call_start
    return {
        "stages": stages,
        "call_s": wall,
        "startup_s": startup,
        "batches_span_s": last - first,
        "tail_s": call_end - last,
        "both_stages_busy_s": overlap,
        "both_busy_fraction_of_swift_busy": overlap / swift_wall if swift_wall else 0,
        "super_started_before_swift_ended": stages["super"]["first_start_s"]
        < stages["swift"]["last_end_s"],
        "texts_per_s": n / wall,
        "texts_per_s_startup_excluded": n / (wall - startup),
    }


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(runs), 1, figsize=(8, 1.1 + 1.3 * len(runs)), squeeze=False
    )
    colours = {"swift": "tab:blue", "super": "tab:orange"}
    for ax, (label, run) in zip(axes[:, 0], runs.items(), strict=True):
        timeline, t0 = run["timeline"], run["call_start"]
        lanes = []
        for (name, pid), rows in timeline.groupby(["name", "pid"], sort=False):
            lanes.append((name, pid, rows))
        lanes.sort(key=lambda lane: (lane[0] != "swift", lane[1]))
        for k, (name, _, rows) in enumerate(lanes):
            ends = zip(rows["start"], rows["end"], strict=True)
            spans = [(s - t0, e - s) for s, e in ends]
            ax.broken_barh(
                spans,
                (k - 0.4, 0.8),
                facecolor=colours.get(name, "grey"),
                edgecolor="white",
                lw=0.6,
            )
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels([f"{name} {pid}" for name, pid, _ in lanes], fontsize=7)
        ax.axvline(run["call_end"] - t0, color="k", lw=0.8, ls="--")
        ax.set_title(label, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    axes[-1, 0].set_xlabel(
        "seconds since predict_dataset was called (dashed: result ready)", fontsize=7
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--swift-ratio", type=float, default=0.5)
    parser.add_argument("--swift-batch-size", type=int, default=128)
    parser.add_argument("--super-batch-size", type=int, default=64)
    parser.add_argument("--model-batch-size", type=int, default=32)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--label", default="", help="suffix of the result files")
    args = parser.parse_args()

    info = machine()
    info["load_average_at_start"] = load_avg()
    texts, y = load_texts()
    X_fit, y_fit = texts[:N_FIT], y[:N_FIT]
    X_cal, y_cal = texts[N_FIT : N_FIT + N_CAL], y[N_FIT : N_FIT + N_CAL]
    rest = texts[N_FIT + N_CAL :]
    X = [rest[i % len(rest)] for i in range(args.n)]
    print(f"building {SWIFT} and {SUPER} (random weights) ...", flush=True)
    swift = build(SWIFT, 0, X_fit, y_fit, args.model_batch_size)
    super_ = build(SUPER, 1, X_fit, y_fit, args.model_batch_size)
    joint = JointClassifier(swift, super_, threshold=0.0, cv=None).fit(X_cal, y_cal)
    scores = joint.routing_scores(X[:512])
    threshold = float(np.quantile(scores, 1 - args.swift_ratio))
    joint.set_params(threshold=threshold)
    folder = save_joint(joint, Path(tempfile.mkdtemp()) / "joint")
    joint.predict(X[:8])  # warm-up

    info["load_average_before_in_process"] = load_avg()
    start = time.perf_counter()
    local = joint.predict(X)
    local_s = time.perf_counter() - start
    swift_ratio = float(np.mean(joint.served_by(X[:512]) == "swift"))
    print(
        f"n={len(X)}, threshold={threshold:.4f} (swift ratio ~{swift_ratio:.2f} on "
        f"the first 512)\nin process: joint.predict {local_s:.1f} s "
        f"({len(X) / local_s:.1f} texts/s), torch threads {torch.get_num_threads()}",
        flush=True,
    )

    import ray

    ray.init(
        num_cpus=args.cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    frame = pd.DataFrame({"text": X})
    runs, results = {}, {}
    try:
        for label, layout in LAYOUTS.items():
            info[f"load_average_before: {label}"] = load_avg()
            timeline_dir = Path(tempfile.mkdtemp())
            ds = ray.data.from_pandas(frame)
            call_start = time.time()
            out = predict_dataset(
                str(folder),
                ds,
                threshold=threshold,
                swift_batch_size=args.swift_batch_size,
                super_batch_size=args.super_batch_size,
                timeline=timeline_dir,
                **layout,
            ).to_pandas()
            call_end = time.time()
            timeline = read_timeline(timeline_dir)
            result = analyse(timeline, call_start, call_end, len(X))
            result["layout"] = layout
            result["swift_ratio"] = float(np.mean(out["served_by"] == "swift"))
            result["same_predictions_as_in_process"] = float(
                np.mean(out["prediction"].to_numpy() == local)
            )
            result["in_input_order"] = out["row_id"].tolist() == list(range(len(X)))
            result["ratio_to_in_process"] = result["texts_per_s"] * local_s / len(X)
            result["ratio_to_in_process_startup_excluded"] = (
                result["texts_per_s_startup_excluded"] * local_s / len(X)
            )
            result["timeline"] = (
                timeline.assign(
                    start=timeline["start"] - call_start,
                    end=timeline["end"] - call_start,
                )
                .round(4)
                .to_dict(orient="records")
            )
            runs[label] = {
                "timeline": timeline,
                "call_start": call_start,
                "call_end": call_end,
            }
            results[label] = result
            st = result["stages"]
            print(
                f"ray, {label}: {result['call_s']:.1f} s "
                f"({result['texts_per_s']:.1f} texts/s, x"
                f"{result['ratio_to_in_process']:.2f} of in process); start-up "
                f"{result['startup_s']:.1f} s excluded: "
                f"{result['texts_per_s_startup_excluded']:.1f} texts/s (x"
                f"{result['ratio_to_in_process_startup_excluded']:.2f})\n"
                f"  swift busy {st['swift']['busy_wall_s']:.1f} s "
                f"[{st['swift']['first_start_s']:.1f}, "
                f"{st['swift']['last_end_s']:.1f}], super busy "
                f"{st['super']['busy_wall_s']:.1f} s "
                f"[{st['super']['first_start_s']:.1f}, "
                f"{st['super']['last_end_s']:.1f}]; both busy "
                f"{result['both_stages_busy_s']:.1f} s; tail "
                f"{result['tail_s']:.2f} s; same predictions "
                f"{result['same_predictions_as_in_process']:.4f}; in order "
                f"{result['in_input_order']}",
                flush=True,
            )
    finally:
        ray.shutdown()
    # In process again: the machine's load drifts (it is shared), so the Ray
    # runs are compared with the mean of the runs before and after them.
    info["load_average_before_in_process_again"] = load_avg()
    start = time.perf_counter()
    joint.predict(X)
    local_again_s = time.perf_counter() - start
    local_mean_s = (local_s + local_again_s) / 2
    print(
        f"in process again: {local_again_s:.1f} s ({len(X) / local_again_s:.1f} "
        f"texts/s); mean of the two: {len(X) / local_mean_s:.1f} texts/s",
        flush=True,
    )
    for label, result in results.items():
        result["ratio_to_in_process_mean"] = (
            result["texts_per_s"] * local_mean_s / len(X)
        )
        result["ratio_to_in_process_mean_startup_excluded"] = (
            result["texts_per_s_startup_excluded"] * local_mean_s / len(X)
        )
        print(
            f"{label}: x{result['ratio_to_in_process_mean']:.2f} of the in-process "
            f"mean (x{result['ratio_to_in_process_mean_startup_excluded']:.2f} "
            "start-up excluded)"
        )
    info["load_average_at_end"] = load_avg()
    report = {
        "benchmark": "bench_ray_streaming",
        "machine": info,
        "note": "2 logical CPUs shared with another engineer's jobs: see the "
        "load averages; single runs, expect tens of percent of noise.",
        "models": f"swift {SWIFT}, super {SUPER}: architectures from "
        "benchmarks/gpu/*/config.json with random weights (torch seeds 0 and 1), "
        "linear heads fitted on 32 snippets: timings real, predictions "
        "meaningless",
        "seeds": {"swift_weights": 0, "super_weights": 1, "text_shuffle": 0},
        "n_texts": len(X),
        "threshold": threshold,
        "target_swift_ratio": args.swift_ratio,
        "swift_batch_size": args.swift_batch_size,
        "super_batch_size": args.super_batch_size,
        "model_batch_size": args.model_batch_size,
        "ray_cpus": args.cpus,
        "in_process_s": local_s,
        "in_process_again_s": local_again_s,
        "in_process_texts_per_s": len(X) / local_s,
        "in_process_mean_texts_per_s": len(X) / local_mean_s,
        "ray": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"ray_streaming_{len(X)}{args.label}.json"
    path.write_text(json.dumps(report, indent=1))
    plot(runs, path.with_suffix(".png"))
    print(f"saved {path} and {path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
