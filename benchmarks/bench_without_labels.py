"""Calibration without labels: the agreement promise and its price, on real data.

For each dataset (L6 -> mpnet pair, frozen encoders with linear heads trained
on the train split; the outputs of ``bench_guarantee.model_outputs``, cached
in the data home), the dev and test splits are pooled and resplit
``--resplits`` times into two halves. On the calibration half a threshold is
chosen by ``ThresholdSelector("risk_control", tol=tol, delta=0.1)`` twice:

- **labelled**: on the true labels (the Swift and the Super right or wrong);
- **without labels**: on the Super's own answers (the Swift "right" where it
  agrees with the Super, the Super always right), as ``fit(X)`` without
  ``y`` does.

On the check half: the FLOPs speed-up over the Super, the rate of resplits
where the **agreement promise** fails (the joint model disagrees with the
Super on more than ``tol`` of the inputs) and where the **implied accuracy
promise** fails (the joint accuracy is below the Super's minus ``tol``);
both must stay at or below ``delta``. The check half is a finite sample:
a rate measured on it scatters around the true rate, so the agreement
violations are also counted beyond two standard errors of the check half.
``tol`` = 0.01, 0.02, 0.05 are certified agreements of 99%, 98% and 95%.

Writes ``benchmarks/results/without_labels/without_labels.json`` and
``WITHOUT_LABELS.md``.

Usage::

    python benchmarks/bench_without_labels.py                  # movie_snippets
    python benchmarks/bench_without_labels.py --datasets trec sms_spam
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_guarantee import model_outputs

from elang_sk import ThresholdSelector, get_score
from elang_sk.metrics import joint_cost
from elang_sk.routing._risk import CertificationWarning

TOLS = (0.01, 0.02, 0.05)
DELTA = 0.1


def resplit(outputs, score, n_resplits, seed=0):
    """Violation rates and speed-ups of the labelled and label-free rules."""
    classes, y = outputs["classes"], outputs["y_pool"]
    swift_pred = classes[np.argmax(outputs["swift_logits_pool"], axis=1)]
    super_pred = classes[np.argmax(outputs["super_logits_pool"], axis=1)]
    swift_ok, super_ok = swift_pred == y, super_pred == y
    agree = swift_pred == super_pred
    scores = get_score(score)(outputs["swift_logits_pool"])
    s_flops, p_flops = outputs["swift_flops_pool"], outputs["super_flops_pool"]
    rng = np.random.default_rng(seed)
    n = y.shape[0]
    rows = {(tol, rule): [] for tol in TOLS for rule in ("labelled", "without labels")}
    for _ in range(n_resplits):
        perm = rng.permutation(n)
        cal, check = perm[: n // 2], perm[n // 2 :]
        for tol in TOLS:
            for rule in ("labelled", "without labels"):
                if rule == "labelled":
                    swift_right, super_right = swift_ok[cal], super_ok[cal]
                else:
                    swift_right, super_right = agree[cal], np.ones(cal.size, bool)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CertificationWarning)
                    selection = ThresholdSelector(
                        "risk_control", tol=tol, delta=DELTA
                    ).select(
                        scores[cal],
                        swift_right,
                        super_right,
                        swift_cost=s_flops[cal],
                        super_cost=p_flops[cal],
                    )
                keep = scores[check] >= selection.threshold
                joint_pred = np.where(keep, swift_pred[check], super_pred[check])
                disagreement = np.mean(joint_pred != super_pred[check])
                loss = super_ok[check].mean() - np.mean(joint_pred == y[check])
                cost = joint_cost(keep, s_flops[check], p_flops[check])
                # The check half is a sample too: a rate within two of its
                # standard errors of tol is not a clear violation.
                se = np.sqrt(max(disagreement * (1 - disagreement), 1e-12) / check.size)
                rows[tol, rule].append(
                    (
                        disagreement > tol + 2 * se,
                        disagreement > tol + 1e-12,
                        loss > tol + 1e-12,
                        p_flops[check].mean() / cost,
                        keep.mean(),
                        disagreement,
                        loss,
                    )
                )
    summary = []
    for (tol, rule), values in rows.items():
        clear, bad_agree, bad_acc, speedup, ratio, disagreement, loss = np.array(
            values, dtype=float
        ).T
        summary.append(
            dict(
                tol=tol,
                certified_agreement=1 - tol,
                rule=rule,
                agreement_violation_rate=float(bad_agree.mean()),
                clear_agreement_violation_rate=float(clear.mean()),
                accuracy_violation_rate=float(bad_acc.mean()),
                median_speedup=float(np.median(speedup)),
                median_swift_ratio=float(np.median(ratio)),
                mean_disagreement=float(disagreement.mean()),
                mean_accuracy_loss=float(loss.mean()),
            )
        )
    info = dict(
        n_pool=int(n),
        n_calibration=int(n // 2),
        swift_accuracy=float(swift_ok.mean()),
        super_accuracy=float(super_ok.mean()),
        agreement=float(agree.mean()),
    )
    return summary, info


def markdown(results, machine):
    lines = [
        "# Calibration without labels: risk_control on the Super's answers",
        "",
        f"Machine: {machine}. delta = {DELTA}; each rule chosen on one half of "
        "dev+test, checked on the other; violations must stay <= delta.",
        "",
    ]
    for dataset, result in results.items():
        info = result["info"]
        lines += [
            f"## {dataset} ({result['resplits']} resplits, {info['n_calibration']} "
            "calibration rows)",
            "",
            f"Swift accuracy {info['swift_accuracy']:.4f}, Super "
            f"{info['super_accuracy']:.4f}, Swift-Super agreement "
            f"{info['agreement']:.4f}.",
            "",
            "| tol (certified agreement) | calibrated on | agreement violations "
            "(beyond 2 s.e. of the check half) | accuracy violations "
            "| median FLOPs speed-up | median Swift ratio "
            "| mean disagreement | mean accuracy loss |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in result["summary"]:
            lines.append(
                f"| {row['tol']:g} ({row['certified_agreement']:.0%}) | "
                f"{row['rule']} | {row['agreement_violation_rate']:.3f} "
                f"({row['clear_agreement_violation_rate']:.3f}) | "
                f"{row['accuracy_violation_rate']:.3f} | "
                f"{row['median_speedup']:.2f}x | {row['median_swift_ratio']:.2f} | "
                f"{row['mean_disagreement']:.4f} | {row['mean_accuracy_loss']:+.4f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["movie_snippets"])
    parser.add_argument("--resplits", type=int, default=300)
    parser.add_argument("--score", default="softmax")
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--output", default="benchmarks/results/without_labels")
    args = parser.parse_args()
    machine = (
        f"{platform.platform()}, {os.cpu_count()} CPUs, no GPU "
        "(the project's 2-core shared AMD EPYC VM)"
    )
    results = {}
    for dataset in args.datasets:
        started = time.perf_counter()
        outputs = model_outputs(dataset, args.data_home)
        summary, info = resplit(outputs, args.score, args.resplits)
        results[dataset] = dict(
            summary=summary,
            info=info,
            resplits=args.resplits,
            score=args.score,
            seconds=time.perf_counter() - started,
        )
        print(markdown({dataset: results[dataset]}, machine))
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "without_labels.json"), "w") as fh:
        json.dump(dict(machine=machine, delta=DELTA, results=results), fh, indent=1)
    with open(os.path.join(args.output, "WITHOUT_LABELS.md"), "w") as fh:
        fh.write(markdown(results, machine) + "\n")


if __name__ == "__main__":
    main()
