"""N-model cascades and the learned deferral score on the protocol datasets.

For every dataset: three frozen sentence encoders with linear heads fitted on
train (paraphrase-MiniLM-L3-v2 "L3", all-MiniLM-L6-v2 "L6", all-mpnet-base-v2
"mpnet", the Super), outputs cached in the data home. Then, with thresholds
chosen on dev and every figure measured on test:

1. **Cascades** L3 -> L6 -> mpnet, L3 -> mpnet and L6 -> mpnet at -0.5 pt of
   the Super (``ThresholdSelector("match_super", tol=0.005)``: the cheapest
   thresholds whose dev accuracy is at least mpnet's minus half a point),
   softmax routing: test accuracy and FLOPs speed-up over mpnet alone.
2. **Learned deferral ablation** on the two-model pair L6 -> mpnet:
   :class:`DeferralRouter` (targets "fixes" and "gain") against the softmax
   and energy scores, at -0.5 pt and at the crossing.

FLOPs are counted with torch (``estimate_flops``). Writes one JSON per
dataset and ``SUMMARY.md`` (and ``SUMMARY.rst`` for the docs) to
``benchmarks/results/cascade/``.

Usage::

    python benchmarks/bench_cascade.py
    python benchmarks/bench_cascade.py --datasets uci_sentences sms_spam
    python benchmarks/bench_cascade.py --prepare   # only fit and cache the models

The first run downloads the encoders (~0.5 GB) and computes every model's
features on every split; on a 2-core CPU that takes about 20 minutes per
thousand texts for all three encoders.
"""

import argparse
import glob
import json
import os
import platform
import sys
import time

import numpy as np

from elang_sk import (
    CascadeClassifier,
    DeferralRouter,
    EnergyRouter,
    JointClassifier,
    ThresholdSelector,
)

MODELS = {
    "L3": "paraphrase-MiniLM-L3-v2",
    "L6": "all-MiniLM-L6-v2",
    "mpnet": "all-mpnet-base-v2",
}
DATASETS = ("movie_snippets", "uci_sentences", "trec", "sms_spam")
CASCADES = {
    "L3->L6->mpnet": ("L3", "L6", "mpnet"),
    "L3->mpnet": ("L3", "mpnet"),
    "L6->mpnet": ("L6", "mpnet"),
}
TOL = 0.005
ROUTERS = {
    "deferral (fixes)": lambda: DeferralRouter(),
    "deferral (gain)": lambda: DeferralRouter(target="gain"),
    "softmax": lambda: EnergyRouter(score_func="softmax"),
    "energy": lambda: EnergyRouter(score_func="energy"),
}
STRATEGIES = {
    "-0.5 pt": lambda: ThresholdSelector("match_super", tol=TOL),
    "crossing": lambda: ThresholdSelector("crossing"),
}
OUT = os.path.join(os.path.dirname(__file__), "results", "cascade")


def _say(message):
    print(f"[bench_cascade] {message}", file=sys.stderr, flush=True)


def fit_models(dataset, data_home=None):
    """The three encoders with linear heads fitted on train, the splits, the cache."""
    from elang_sk.datasets import fetch_pretrained_model, get_data_home, load_dataset
    from elang_sk.hf._transformers import TransformerClassifier

    home = get_data_home(data_home)
    cache = os.path.join(home, "cache")
    splits = {
        name: load_dataset(dataset, subset=name, data_home=data_home)
        for name in ("train", "dev", "test")
    }
    X_train, y_train = splits["train"].data, np.asarray(splits["train"].target)
    models = {}
    for short, name in MODELS.items():
        start = time.perf_counter()
        clf = TransformerClassifier(
            fetch_pretrained_model(name, data_home=home),
            task="encoder",
            memory=cache,
            progress=False,
        ).fit(X_train, y_train)
        for split in ("dev", "test"):
            clf.predict_logits(splits[split].data)
        _say(f"{dataset} {short}: {time.perf_counter() - start:.0f} s")
        models[short] = clf
    return models, splits, cache


def _row(report, y_test, super_acc):
    accuracy = float(np.mean(report.y_pred == y_test))
    return {
        "accuracy": accuracy,
        "delta_vs_super_pt": 100 * (accuracy - super_acc),
        "flops_speedup": float(report.speedup),
    }


def run_dataset(dataset, data_home=None):
    """Every cascade and every router of the ablation on one dataset."""
    models, splits, cache = fit_models(dataset, data_home)
    X_dev, y_dev = splits["dev"].data, np.asarray(splits["dev"].target)
    X_test, y_test = splits["test"].data, np.asarray(splits["test"].target)
    accuracy = {
        name: float(np.mean(clf.predict(X_test) == y_test))
        for name, clf in models.items()
    }
    gflops = {
        name: float(np.mean(clf.estimate_flops(X_test))) / 1e9
        for name, clf in models.items()
    }
    super_acc = accuracy["mpnet"]
    result = {
        "dataset": dataset,
        "n_dev": len(y_dev),
        "n_test": len(y_test),
        "model_accuracy": accuracy,
        "gflops_per_input": gflops,
        "cascades": [],
        "ablation": [],
    }
    for label, names in CASCADES.items():
        cascade = CascadeClassifier(
            [(name, models[name]) for name in names],
            routers="softmax",
            thresholds=ThresholdSelector("match_super", tol=TOL),
            costs="flops",
            memory=cache,
        ).fit(X_dev, y_dev)
        report = cascade.routing_report(X_test, y_test)
        row = {"cascade": label, **_row(report, y_test, super_acc)}
        dev = cascade.routing_report(X_dev, y_dev)
        dev_super = np.mean(models["mpnet"].predict(X_dev) == y_dev)
        row["dev_delta_vs_super_pt"] = 100 * (np.mean(dev.y_pred == y_dev) - dev_super)
        row["dev_flops_speedup"] = float(dev.speedup)
        row["stage_ratios"] = report.stage_ratios
        row["thresholds"] = cascade.thresholds_.tolist()
        result["cascades"].append(row)
        _say(f"{dataset} {label}: {row}")
    for router_name, router in ROUTERS.items():
        for strategy_name, strategy in STRATEGIES.items():
            joint = JointClassifier(
                models["L6"],
                models["mpnet"],
                router=router(),
                threshold=strategy(),
                costs="flops",
                memory=cache,
            ).fit(X_dev, y_dev)
            report = joint.routing_report(X_test, y_test)
            row = {
                "router": router_name,
                "strategy": strategy_name,
                **_row(report, y_test, super_acc),
                "swift_ratio": float(report.swift_ratio),
            }
            result["ablation"].append(row)
            _say(f"{dataset} L6->mpnet {router_name} {strategy_name}: {row}")
    return result


def _machine():
    import torch

    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "note": "2-core shared CPU, no GPU (other jobs running)",
    }


def summary(results):
    """Markdown tables of every dataset's results."""
    lines = [
        "# Cascades and learned deferral",
        "",
        "From `python benchmarks/bench_cascade.py`; thresholds chosen on dev, "
        "figures on test. Machine: 2-core shared CPU, no GPU. FLOPs counted with "
        "torch. Speed-up = mpnet FLOPs / cascade FLOPs per input.",
        "",
        "## Cascades at -0.5 pt of mpnet (softmax routing, dev-chosen)",
        "",
        "| dataset | L3 / L6 / mpnet acc | GFLOPs per input | cascade | test acc "
        "| delta vs mpnet (pt) | FLOPs speed-up | stage ratios | dev: delta (pt), "
        "speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        acc = res["model_accuracy"]
        accs = f"{acc['L3']:.4f} / {acc['L6']:.4f} / {acc['mpnet']:.4f}"
        flops = " / ".join(f"{v:.2f}" for v in res["gflops_per_input"].values())
        for row in res["cascades"]:
            ratios = ", ".join(f"{k} {v:.2f}" for k, v in row["stage_ratios"].items())
            lines.append(
                f"| {res['dataset']} | {accs} | {flops} | {row['cascade']} | "
                f"{row['accuracy']:.4f} | {row['delta_vs_super_pt']:+.2f} | "
                f"{row['flops_speedup']:.2f}x | {ratios} | "
                f"{row['dev_delta_vs_super_pt']:+.2f}, "
                f"{row['dev_flops_speedup']:.2f}x |"
            )
    lines += [
        "",
        "## Routing scores on L6 -> mpnet (learned deferral vs confidence)",
        "",
        "| dataset | router | -0.5 pt: acc, delta (pt), speed-up | crossing: acc, "
        "delta (pt), speed-up |",
        "|---|---|---|---|",
    ]
    for res in results:
        rows = {(r["router"], r["strategy"]): r for r in res["ablation"]}
        for router in ROUTERS:
            cells = []
            for strategy in STRATEGIES:
                r = rows[(router, strategy)]
                cells.append(
                    f"{r['accuracy']:.4f}, {r['delta_vs_super_pt']:+.2f}, "
                    f"{r['flops_speedup']:.2f}x"
                )
            lines.append(f"| {res['dataset']} | {router} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def as_rst(markdown):
    """The Markdown summary as reStructuredText list-tables, for the docs."""
    out, table = [], []

    def flush():
        if not table:
            return
        out.extend([".. list-table::", "   :header-rows: 1", ""])
        for row in table:
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            out.append(f"   * - {cells[0]}")
            out.extend(f"     - {cell}" for cell in cells[1:])
        out.append("")
        table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            if not set(line) <= set("|-"):
                table.append(line)
            continue
        flush()
        if line.startswith("# "):
            continue
        line = line.replace("`", "``")
        out.append(f"**{line[3:]}**" if line.startswith("## ") else line)
    flush()
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--prepare", action="store_true", help="only fit and cache")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for dataset in args.datasets:
        if args.prepare:
            fit_models(dataset, args.data_home)
            continue
        start = time.perf_counter()
        result = run_dataset(dataset, args.data_home)
        result["seconds"] = time.perf_counter() - start
        result["machine"] = _machine()
        with open(os.path.join(OUT, f"{dataset}.json"), "w") as fh:
            json.dump(result, fh, indent=2)
    results = []
    for path in sorted(glob.glob(os.path.join(OUT, "*.json"))):
        with open(path) as fh:
            results.append(json.load(fh))
    text = summary(results)
    with open(os.path.join(OUT, "SUMMARY.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(OUT, "SUMMARY.rst"), "w") as fh:
        fh.write(as_rst(text))
    print(text)


if __name__ == "__main__":
    main()
