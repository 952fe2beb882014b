"""The E-LANG protocol on several datasets and Swift/Super pairs.

For every dataset and pair: fit Swift and Super on train, the joint model on
dev (threshold chosen on dev only), evaluate on test with bootstrap 95%
confidence intervals, as ``elang-sk run`` does. Writes one JSON report per run
and the summary tables quoted in the README to
``benchmarks/results/protocol/``.

Usage::

    python benchmarks/bench_protocol.py                      # the default grid
    python benchmarks/bench_protocol.py --datasets trec sms_spam --pairs l6-mpnet

Pairs: ``l6-mpnet`` (all-MiniLM-L6-v2 Swift, all-mpnet-base-v2 Super, frozen
encoders with linear heads) and ``l6distill-mpnet`` (the same Swift, its head
distilled from the Super's soft labels: paper Table 3), and ``l3-mpnet``
(paraphrase-MiniLM-L3-v2, converted from its ONNX file, as the Swift), and
``l6finetuned-mpnet`` (the L6 Swift fine-tuned for 2 epochs; slow on a CPU).
"""

import argparse
import json
import os

from elang_sk._protocol import format_markdown, run_protocol

PAIRS = {
    "l6-mpnet": dict(swift_model="all-MiniLM-L6-v2", super_model="all-mpnet-base-v2"),
    "l6distill-mpnet": dict(
        swift_model="all-MiniLM-L6-v2", super_model="all-mpnet-base-v2", distill=True
    ),
    "l6finetuned-mpnet": dict(
        swift_model="all-MiniLM-L6-v2",
        super_model="all-mpnet-base-v2",
        fine_tune_swift=True,
    ),
    "l3-mpnet": dict(
        swift_model="paraphrase-MiniLM-L3-v2", super_model="all-mpnet-base-v2"
    ),
}
DATASETS = ("movie_snippets", "trec", "sms_spam", "uci_sentences", "bbc_news")


def summary_table(reports):
    """One line per run: the Super, and E-LANG's best dev-chosen settings."""
    lines = [
        "| dataset | pair | Swift acc | Super acc | E-LANG (energy, crossing) acc "
        "| FLOPs speed-up | match Super (tol 0): acc, speed-up | tol 0.5 pt: acc, "
        "speed-up | guaranteed Super - 1 pt (delta 0.1): acc, speed-up "
        "| oracle at Super acc: speed-up | best-accuracy oracle: acc, speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, pair), report in reports.items():
        swift, super_, main = report["table1"]
        ablation = {(r["model"], r["strategy"]): r for r in report["ablation"]}
        exact = ablation[("energy", "match_super tol=0")]
        loose = ablation[("energy", "match_super tol=0.005")]
        guaranteed = ablation.get(("energy", "risk_control tol=0.01 delta=0.1"))
        guaranteed = (
            "-"
            if guaranteed is None
            else f"{guaranteed['accuracy']:.4f}, {guaranteed['flops_speedup']:.2f}x"
            + ("" if guaranteed.get("certified", True) else " (not certified)")
        )
        oracles = [r for r in report["ablation"] if r["model"] == "oracle"]
        fewest = next((r for r in oracles if r["strategy"].startswith("fewest")), None)
        best = oracles[-1]
        lines.append(
            f"| {dataset} | {pair} | {swift['accuracy']:.4f} | "
            f"{super_['accuracy']:.4f} | {main['accuracy']:.4f} | "
            f"{main['flops_speedup']:.2f}x | {exact['accuracy']:.4f}, "
            f"{exact['flops_speedup']:.2f}x | {loose['accuracy']:.4f}, "
            f"{loose['flops_speedup']:.2f}x | {guaranteed} | "
            + ("-" if fewest is None else f"{fewest['flops_speedup']:.2f}x")
            + f" | {best['accuracy']:.4f}, {best['flops_speedup']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def score_table(reports):
    """Energy against the baselines: accuracy and FLOPs speed-up per strategy."""
    scores = ("energy", "softmax", "entropy", "random")
    strategies = ("crossing", "match_super tol=0.005")
    header = " | ".join(
        f"{s} ({t.replace('match_super ', '')})" for t in strategies for s in scores
    )
    lines = [
        f"| dataset | pair | {header} |",
        "|---|---|" + "---|" * (len(scores) * len(strategies)),
    ]
    for (dataset, pair), report in reports.items():
        rows = {(r["model"], r["strategy"]): r for r in report["ablation"]}
        cells = []
        for strategy in strategies:
            for score in scores:
                r = rows[(score, strategy)]
                cells.append(f"{r['accuracy']:.4f}, {r['flops_speedup']:.2f}x")
        lines.append(f"| {dataset} | {pair} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def gap_table(reports):
    """RouteLLM's metrics per score: APGR, Super calls for 50% / 80% of the gap."""
    scores = ("energy", "softmax", "entropy", "random")
    header = " | ".join(scores)
    lines = [
        f"| dataset | pair | {header} |",
        "|---|---|" + "---|" * len(scores),
    ]
    for (dataset, pair), report in reports.items():
        gaps = {g["score"]: g for g in report.get("gap_recovered", [])}
        cells = []
        for score in scores:
            g = gaps.get(score)
            if g is None or g["apgr"] is None:
                cells.append("-")
            else:
                calls = f"{g['calls_for_50']:.2f}, {g['calls_for_80']:.2f}"
                cells.append(f"{g['apgr']:.3f} ({calls})")
        lines.append(f"| {dataset} | {pair} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_summary(reports, output, summary):
    """Write the summary tables (Markdown) and all reports (JSON)."""
    first = next(iter(reports.values()))
    machine, versions = first["machine"], first["versions"]
    with open(os.path.join(output, summary), "w") as fh:
        fh.write("# E-LANG protocol summary (test split; thresholds chosen on dev)\n\n")
        fh.write(summary_table(reports))
        fh.write(
            "\n## Routing scores compared (accuracy, FLOPs speed-up)\n\n"
            "`crossing` is the paper's rule; `tol=0.005` is the cheapest threshold "
            "within half a point of the Super's dev accuracy.\n\n"
        )
        fh.write(score_table(reports))
        fh.write(
            "\n## Gap recovered per score (RouteLLM's metrics, test split)\n\n"
            "APGR (Super-call fraction needed for 50%, 80% of the Swift-Super "
            "accuracy gap); a random router has APGR 0.5.\n\n"
        )
        fh.write(gap_table(reports))
        fh.write(
            f"\nMachine: {machine['platform']}, {machine['cpu_count']} CPUs, device "
            f"{machine['device']}; torch {versions['torch']}, transformers "
            f"{versions['transformers']}. Reproduce: "
            "`python benchmarks/bench_protocol.py`.\n"
        )
    stem = os.path.splitext(summary)[0].lower()
    with open(os.path.join(output, f"{stem}.json"), "w") as fh:
        json.dump({f"{d}__{p}": r for (d, p), r in reports.items()}, fh, indent=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument(
        "--pairs", nargs="+", default=["l6-mpnet", "l6distill-mpnet"], choices=PAIRS
    )
    parser.add_argument("--output", default="benchmarks/results/protocol")
    parser.add_argument(
        "--summary", default="SUMMARY.md", help="name of the summary table file"
    )
    parser.add_argument("--data-home", default=None)
    parser.add_argument(
        "--from-json",
        default=None,
        help="re-render the summary from a saved summary JSON, running nothing",
    )
    args = parser.parse_args()
    if args.from_json:
        with open(args.from_json) as fh:
            saved = json.load(fh)
        reports = {tuple(key.split("__")): report for key, report in saved.items()}
        write_summary(reports, args.output, args.summary)
        return

    os.makedirs(args.output, exist_ok=True)
    reports = {}
    for dataset in args.datasets:
        for pair in args.pairs:
            folder = os.path.join(args.output, f"{dataset}__{pair}")
            report = run_protocol(
                dataset=dataset,
                output=folder,
                data_home=args.data_home,
                **PAIRS[pair],
            )
            reports[dataset, pair] = report
            print(format_markdown(report), flush=True)
    write_summary(reports, args.output, args.summary)
    table = (
        summary_table(reports) + "\n" + score_table(reports) + "\n" + gap_table(reports)
    )
    print(table)


if __name__ == "__main__":
    main()
