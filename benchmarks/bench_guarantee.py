"""Does the risk-controlled threshold keep its promise on real data, and at what price?

For each dataset of the protocol, with the L6 -> mpnet pair (frozen encoders,
linear heads trained on the train split, features cached in the data home):
the dev and test splits are pooled and resplit ``--resplits`` times into two
halves; a threshold is chosen on one half and checked on the other. A rule
*violates* its promise on a resplit when the joint accuracy on the check half
is below the Super's accuracy there minus ``epsilon``. Rules:

- ``match_super``: the cheapest threshold within ``epsilon`` of the Super's
  accuracy on the calibration half (an estimate);
- ``risk_control``: ``ThresholdSelector("risk_control", tol=epsilon,
  delta=0.1)`` on the calibration half (Learn-then-Test, Clopper-Pearson);
- ``risk_control + cross-fit``: the same, with the out-of-fold predictions of
  heads cross-fitted on the train split added to the calibration rows (more
  calibration data for free; see docs/guarantees.rst for when it is valid),
  the check half served by the heads trained on the whole train split, as
  ``run_protocol(calibration="cross-fit")`` does (an approximation);
- ``risk_control + cross-fit, fold heads``: the same calibration rows, the
  check half served by the cross-fitted heads themselves (each input by the
  heads of one fold, drawn at random): then the out-of-fold rows and the
  served inputs are exchangeable, and the guarantee is exact.

Also reported: the median FLOPs speed-up over the Super on the check half
(the price of the guarantee) and the fraction of resplits where something
was certified. Writes ``benchmarks/results/guarantee/guarantee.json`` and
``GUARANTEE.md``.

Usage::

    python benchmarks/bench_guarantee.py
    python benchmarks/bench_guarantee.py --datasets trec --resplits 100
"""

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from elang_sk import ThresholdSelector, get_score
from elang_sk.metrics import joint_cost
from elang_sk.routing._risk import CertificationWarning

DATASETS = ("movie_snippets", "uci_sentences", "trec", "sms_spam")
SWIFT, SUPER = "all-MiniLM-L6-v2", "all-mpnet-base-v2"
EPSILONS = (0.005, 0.01, 0.02)
DELTA = 0.1
N_FOLDS = 5


def model_outputs(dataset, data_home=None):
    """Per-input outputs of both models on dev+test, and out-of-fold on train.

    Saved in the data home's cache, so that a rerun only resplits.
    """
    from elang_sk.datasets import fetch_pretrained_model, get_data_home, load_dataset
    from elang_sk.hf._transformers import TransformerClassifier

    home = get_data_home(data_home)
    cache = os.path.join(home, "cache")
    saved = os.path.join(cache, f"bench_guarantee_{dataset}_v2.npz")
    if os.path.exists(saved):
        with np.load(saved) as data:
            return dict(data)
    splits = {
        s: load_dataset(dataset, subset=s, data_home=data_home)
        for s in ("train", "dev", "test")
    }
    X_train, y_train = list(splits["train"].data), np.asarray(splits["train"].target)
    X_pool = list(splits["dev"].data) + list(splits["test"].data)
    y_pool = np.r_[np.asarray(splits["dev"].target), np.asarray(splits["test"].target)]
    out = {"y_pool": y_pool, "y_train": y_train}
    folds = list(
        StratifiedKFold(N_FOLDS, shuffle=True, random_state=0).split(X_train, y_train)
    )
    for role, name in (("swift", SWIFT), ("super", SUPER)):
        clf = TransformerClassifier(
            fetch_pretrained_model(name, data_home=home),
            task="encoder",
            batch_size=32,
            max_length=128,
            memory=cache,
            progress=False,
        ).fit(X_train, y_train)
        out[f"{role}_logits_pool"] = clf.predict_logits(X_pool)
        out[f"{role}_flops_pool"] = clf.estimate_flops(X_pool).astype(float)
        out[f"{role}_flops_train"] = clf.estimate_flops(X_train).astype(float)
        out["classes"] = clf.classes_
        oof = np.empty((len(X_train), len(clf.classes_)))
        pool = np.empty((N_FOLDS, len(X_pool), len(clf.classes_)))
        for k, (fit_rows, held_out) in enumerate(folds):
            head = clone(clf).fit([X_train[i] for i in fit_rows], y_train[fit_rows])
            oof[held_out] = head.predict_logits([X_train[i] for i in held_out])
            pool[k] = head.predict_logits(X_pool)
        out[f"{role}_logits_train"] = oof
        out[f"{role}_logits_pool_folds"] = pool
    np.savez(saved, **out)
    return out


def _correct(logits, y, classes):
    return classes[np.argmax(logits, axis=1)] == y


def resplit(outputs, score, n_resplits, seed=0):
    """Violation rates and speed-ups of each rule over the resplits."""
    classes = outputs["classes"]
    y = outputs["y_pool"]
    swift_ok = _correct(outputs["swift_logits_pool"], y, classes)
    super_ok = _correct(outputs["super_logits_pool"], y, classes)
    scores = get_score(score)(outputs["swift_logits_pool"])
    s_flops, p_flops = outputs["swift_flops_pool"], outputs["super_flops_pool"]
    y_train = outputs["y_train"]
    oof = dict(
        scores=get_score(score)(outputs["swift_logits_train"]),
        swift=_correct(outputs["swift_logits_train"], y_train, classes),
        super=_correct(outputs["super_logits_train"], y_train, classes),
        s_flops=outputs["swift_flops_train"],
        p_flops=outputs["super_flops_train"],
    )
    rng = np.random.default_rng(seed)
    n = y.shape[0]
    # Fold-head serving: each pool input answered by the heads of one fold.
    fold = rng.integers(0, N_FOLDS, n)
    rows_n = np.arange(n)
    swift_fold = outputs["swift_logits_pool_folds"][fold, rows_n]
    fold_ok = dict(
        swift=_correct(swift_fold, y, classes),
        super=_correct(outputs["super_logits_pool_folds"][fold, rows_n], y, classes),
        scores=get_score(score)(swift_fold),
    )
    rules = (
        "match_super",
        "risk_control",
        "risk_control + cross-fit",
        "risk_control + cross-fit, fold heads",
    )
    rows = {(eps, rule): [] for eps in EPSILONS for rule in rules}
    for _ in range(n_resplits):
        perm = rng.permutation(n)
        cal, check = perm[: n // 2], perm[n // 2 :]
        for eps in EPSILONS:
            for rule in rules:
                folded = rule.endswith("fold heads")
                served = (
                    fold_ok
                    if folded
                    else dict(swift=swift_ok, super=super_ok, scores=scores)
                )
                data = dict(
                    scores=served["scores"][cal],
                    swift=served["swift"][cal],
                    super=served["super"][cal],
                    s_flops=s_flops[cal],
                    p_flops=p_flops[cal],
                )
                if "cross-fit" in rule:
                    data = {k: np.r_[oof[k], v] for k, v in data.items()}
                strategy = "match_super" if rule == "match_super" else "risk_control"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CertificationWarning)
                    selection = ThresholdSelector(
                        strategy, tol=eps, delta=DELTA
                    ).select(
                        data["scores"],
                        data["swift"],
                        data["super"],
                        swift_cost=data["s_flops"],
                        super_cost=data["p_flops"],
                    )
                keep = served["scores"][check] >= selection.threshold
                super_acc = served["super"][check].mean()
                joint_acc = np.where(
                    keep, served["swift"][check], served["super"][check]
                ).mean()
                cost = joint_cost(keep, s_flops[check], p_flops[check])
                # Standard error of the loss measured on the check half.
                paired = np.where(
                    keep,
                    served["super"][check].astype(float) - served["swift"][check],
                    0.0,
                )
                rows[eps, rule].append(
                    (
                        joint_acc < super_acc - eps - 1e-12,
                        p_flops[check].mean() / cost,
                        selection.get("certified", True),
                        keep.mean(),
                        super_acc - joint_acc,
                        paired.std() / np.sqrt(paired.shape[0]),
                    )
                )
    summary = []
    for (eps, rule), values in rows.items():
        violated, speedup, certified, ratio, loss, se = np.array(values, dtype=float).T
        summary.append(
            dict(
                epsilon=eps,
                rule=rule,
                violation_rate=float(violated.mean()),
                median_speedup=float(np.median(speedup)),
                certified_rate=float(certified.mean()),
                median_swift_ratio=float(np.median(ratio)),
                mean_loss=float(loss.mean()),
                median_check_loss_se=float(np.median(se)),
            )
        )
    info = dict(
        n_pool=int(n),
        n_calibration=int(n // 2),
        n_cross_fit_rows=int(y_train.shape[0]),
        swift_accuracy=float(swift_ok.mean()),
        super_accuracy=float(super_ok.mean()),
    )
    return summary, info


def markdown(results, machine):
    lines = [
        "# The price of a guarantee (dev+test pool resplit into halves)",
        "",
        f"L6 -> mpnet heads, `{results['score']}` score, delta = {DELTA}, "
        f"{results['resplits']} resplits: threshold chosen on one half, checked "
        "on the other. *Violated*: joint accuracy on the check half below the "
        "Super's minus epsilon. Speed-up: median FLOPs speed-up over the Super "
        "on the check half. Certified: resplits where risk control kept any "
        "input with the Swift. Mean loss: Super minus joint accuracy on the "
        "check half, averaged over resplits; s.e.: median standard error of that "
        "loss on one check half.",
        "",
        "| dataset | calibration rows | epsilon | rule | violated | median speed-up "
        "| certified | mean loss | s.e. of a check-half loss |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset, entry in results["datasets"].items():
        info = entry["info"]
        for row in entry["summary"]:
            rows = info["n_calibration"] + (
                info["n_cross_fit_rows"] if "cross-fit" in row["rule"] else 0
            )
            lines.append(
                f"| {dataset} | {rows} | {row['epsilon']:g} | {row['rule']} | "
                f"{100 * row['violation_rate']:.1f}% | {row['median_speedup']:.2f}x | "
                f"{100 * row['certified_rate']:.0f}% | "
                f"{100 * row['mean_loss']:.2f} pt | "
                f"{100 * row['median_check_loss_se']:.2f} pt |"
            )
    lines += [
        "",
        f"Machine: {machine}. Reproduce: `python benchmarks/bench_guarantee.py`.",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--resplits", type=int, default=300)
    parser.add_argument("--score", default="softmax")
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--output", default="benchmarks/results/guarantee")
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    machine = f"{platform.platform()}, {os.cpu_count()} CPUs (shared), no GPU"
    results = dict(
        score=args.score,
        resplits=args.resplits,
        delta=DELTA,
        machine=machine,
        swift=SWIFT,
        super=SUPER,
        datasets={},
    )
    for dataset in args.datasets:
        start = time.perf_counter()
        outputs = model_outputs(dataset, args.data_home)
        summary, info = resplit(outputs, args.score, args.resplits)
        info["seconds"] = time.perf_counter() - start
        results["datasets"][dataset] = dict(summary=summary, info=info)
        print(dataset, json.dumps(info), flush=True)
        for row in summary:
            print(json.dumps(row), flush=True)
        with open(os.path.join(args.output, "guarantee.json"), "w") as fh:
            json.dump(results, fh, indent=2)
        with open(os.path.join(args.output, "GUARANTEE.md"), "w") as fh:
            fh.write(markdown(results, machine))
    print(markdown(results, machine))


if __name__ == "__main__":
    main()
