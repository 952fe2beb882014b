"""Throughput of local joint prediction vs the Ray Data pipeline.

A scikit-learn TF-IDF pair on 20k synthetic texts (so that it runs in
minutes on a laptop): the Swift is word TF-IDF + logistic regression, the
Super character 2-5-gram TF-IDF + logistic regression (several times slower
per input). Times, on the same texts and threshold:

- ``joint.predict`` in this process;
- ``predict_frame`` (the two stages of the pipeline, in this process);
- ``predict_dataset`` on a local Ray cluster with 1 and with 2 actors per
  stage, the model loaded by every worker from a ``save_joint`` folder;
- the same Ray pipeline at ``threshold=-inf`` (no row reaches the Super), to
  read off the Super stage's share of the wall time.

The per-input costs of each stage (measured in process) give the pool-sizing
rule of ``docs/scaling_out.rst``: the Super's share of the work is
``(1 - r) c_super / (c_swift + (1 - r) c_super)``.

Run::

    python benchmarks/bench_distributed.py [--n 20000] [--cpus 2]

Figures are printed and saved to ``benchmarks/results/distributed/``.
"""

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from elang_sk import JointClassifier, save_joint
from elang_sk.distributed import (
    PENDING,
    _Stage,
    pool_shares,
    predict_dataset,
    predict_frame,
)

HERE = os.path.dirname(os.path.abspath(__file__))


def make_texts(n, seed=0):
    """Texts of 8-30 words from a 3000-word vocabulary; a noisy word-set label."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i:04d}" for i in range(3000)])
    positive = set(vocab[:300])
    texts, labels = [], []
    for _ in range(n):
        words = rng.choice(vocab, rng.integers(8, 31))
        texts.append(" ".join(words))
        hits = sum(w in positive for w in words)
        labels.append(int((hits + rng.normal(0, 0.7)) > 1.5))
    return texts, np.array(labels)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()

    X_train, y_train = make_texts(4000, seed=0)
    X_cal, y_cal = make_texts(2000, seed=1)
    X, _ = make_texts(args.n, seed=2)
    swift = make_pipeline(TfidfVectorizer(), LogisticRegression(C=1.0))
    big = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)),
        LogisticRegression(C=10.0, max_iter=300),
    )
    swift.fit(X_train, y_train)
    big.fit(X_train, y_train)
    joint = JointClassifier(swift, big, threshold="crossing", costs="time")
    joint.fit(X_cal, y_cal)
    threshold = float(joint.threshold_)
    frame = pd.DataFrame({"text": X})

    local_pred, local_s = timed(lambda: joint.predict(X))
    _, frame_s = timed(lambda: predict_frame(joint, frame, batch_size=1024))
    swift_stage = _Stage(joint, 0, None, "text")
    super_stage = _Stage(joint, 1, None, "text")
    frame_ids = frame.assign(row_id=np.arange(len(frame)))
    swift_out, swift_s = timed(lambda: swift_stage(frame_ids))
    routed = swift_out[swift_out["served_by"] == PENDING]
    _, super_s = timed(lambda: super_stage(routed))
    r = float((swift_out["served_by"] == "swift").mean())
    c_swift, c_super = swift_s / len(X), super_s / max(len(routed), 1)
    swift_share, super_share = pool_shares(r, c_swift, c_super)
    print(
        f"n={len(X)} threshold={threshold:.3f} swift ratio={r:.3f}\n"
        f"local joint.predict: {local_s:.2f} s ({len(X) / local_s:.0f} texts/s)\n"
        f"predict_frame: {frame_s:.2f} s\n"
        f"per input: swift stage {c_swift * 1e6:.1f} us, super stage "
        f"{c_super * 1e6:.1f} us (x{c_super / c_swift:.1f}); super share of the "
        f"work by the rule: {super_share:.3f}"
    )

    import ray

    _, init_s = timed(
        lambda: ray.init(
            num_cpus=args.cpus, include_dashboard=False, log_to_driver=False
        )
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    folder = save_joint(joint, os.path.join(tempfile.mkdtemp(), "joint"))
    # Warm-up: start the worker processes once (not part of the timings).
    predict_dataset(str(folder), ray.data.from_pandas(frame.head(64)))
    runs = {}
    for workers in (1, 2):
        for name, thr in (("threshold", threshold), ("no_super", -np.inf)):
            if workers == 2 and name == "no_super":
                continue
            ds = ray.data.from_pandas(frame)
            out, seconds = timed(
                lambda ds=ds, thr=thr, w=workers: predict_dataset(
                    str(folder),
                    ds,
                    threshold=thr,
                    swift_batch_size=1024,
                    super_batch_size=256,
                    swift_concurrency=w,
                    super_concurrency=w,
                    # The pools run at the same time: together they hold
                    # the cluster's 2 CPUs.
                    swift_num_cpus=1 / w,
                    super_num_cpus=1 / w,
                ).to_pandas()
            )
            if name == "threshold":
                np.testing.assert_array_equal(out["prediction"].to_numpy(), local_pred)
            runs[f"{workers}_workers_{name}"] = seconds
            print(
                f"ray, {workers} worker(s) per stage, {name}: {seconds:.2f} s "
                f"({len(X) / seconds:.0f} texts/s)"
            )
    ray.shutdown()
    one = runs["1_workers_threshold"]
    measured_super_share = (one - runs["1_workers_no_super"]) / one
    overhead = one - frame_s
    print(
        f"ray overhead (1 worker per stage minus predict_frame): {overhead:.2f} s "
        f"({overhead / len(X) * 1e6:.0f} us per text); super stage share of the "
        f"ray wall time: {measured_super_share:.3f}; ray.init: {init_s:.1f} s"
    )
    results = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs (shared), no GPU",
        "ray_cpus": args.cpus,
        "models": "swift: word TF-IDF + LogisticRegression; super: char_wb 2-5-gram "
        "TF-IDF + LogisticRegression",
        "n_texts": len(X),
        "threshold": threshold,
        "swift_ratio": r,
        "local_predict_s": local_s,
        "predict_frame_s": frame_s,
        "swift_stage_s_per_input": c_swift,
        "super_stage_s_per_routed_input": c_super,
        "rule_super_share": super_share,
        "rule_swift_share": swift_share,
        "ray_init_s": init_s,
        "ray_s": runs,
        "ray_texts_per_s": {k: len(X) / v for k, v in runs.items()},
        "local_texts_per_s": len(X) / local_s,
        "ray_overhead_s": overhead,
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "measured_super_share_of_ray_wall": measured_super_share,
        "versions": {"ray": ray.__version__, "python": platform.python_version()},
    }
    out_dir = os.path.join(HERE, "results", "distributed")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"bench_distributed_{len(X)}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
