"""``elang-sk run --task translation``: the paper's seq2seq table on the trained pair.

The English-Romanian Swift/Super pair of :func:`~elang_sk.datasets.fetch_en_ro_pair`
(trained first when missing) is wrapped in :class:`~elang_sk.JointSeq2Seq` once
per routing score (the encoder energy head of eq. 9, the energy of the Swift
decoder's own logits, the mean max token probability of the Swift decoder,
random routing), each fitted on the dev split; thresholds are chosen on dev
(crossing, match-Super, risk control) and applied to the test split and to the
out-of-domain UDHR articles. The report gives corpus BLEU and chrF (sacrebleu,
detokenized) with 95% bootstrap intervals, the Swift ratio, the FLOPs (eq. 17)
and wall-time speed-ups, the oracle at the Super's BLEU, the trade-off curves,
the score distributions and the learning curve, and says which routing score
wins, by ranking and at equal FLOPs.
"""

import functools
import json
import os
import time

import numpy as np

from elang_sk._protocol import (
    _check_folder,
    _check_output,
    _machine,
    _Progress,
    _say,
    _versions,
)
from elang_sk.datasets._en_ro_pair import MAX_TOKENS, translate

TRAINED_ROUTERS = {
    "energy (encoder head, eq. 9)": {"router": "energy"},
    "energy (Swift decoder logits)": {"router": "energy", "routing_source": "decoder"},
    "mean max token prob. (Swift decoder)": {
        "router": "softmax",
        "routing_source": "decoder",
    },
    "random": {"router": "random"},
}
STRATEGY_NAMES = ("crossing", "match_super", "risk_control")


def _stats(hyps, refs):
    """Per-sentence sufficient statistics of sacrebleu's BLEU and chrF."""
    import sacrebleu

    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF()
    hyps, refs = [str(h) for h in hyps], [str(r) for r in refs]
    return (
        np.array(bleu._extract_corpus_statistics(hyps, [refs]), dtype=np.float64),
        np.array(chrf._extract_corpus_statistics(hyps, [refs]), dtype=np.float64),
    )


def _from_stats(bleu_stats, chrf_stats):
    import sacrebleu

    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF()
    return (
        bleu._compute_score_from_stats(list(bleu_stats)).score,
        chrf._compute_score_from_stats(list(chrf_stats)).score,
    )


def bootstrap_quality(hyps, refs, n_boot=1000, seed=0):
    """Corpus BLEU and chrF with 95% bootstrap intervals (resampled sentences).

    The same resamples (same seed, same number of sentences) are used for
    every system, so intervals of systems on one test set are paired.
    """
    b, c = _stats(hyps, refs)
    bleu, chrf = _from_stats(b.sum(0), c.sum(0))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(hyps), len(hyps))
        boots.append(_from_stats(b[idx].sum(0), c[idx].sum(0)))
    boots = np.array(boots)
    lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
    return {
        "bleu": bleu,
        "bleu_ci": [float(lo[0]), float(hi[0])],
        "chrf": chrf,
        "chrf_ci": [float(lo[1]), float(hi[1])],
    }


def _copy_baseline(X, Y, n_boot):
    return bootstrap_quality(list(X), list(Y), n_boot)


def _time_per_sentence(fn, n):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) / n


def _part_seconds(swift, super_, tokenizer, X):
    """Wall seconds per sentence: Swift, Super (greedy, batched), Swift encoder."""
    n = len(X)
    sec = {
        "swift": _time_per_sentence(
            functools.partial(translate, swift, tokenizer, X), n
        ),
        "super": _time_per_sentence(
            functools.partial(translate, super_, tokenizer, X), n
        ),
    }

    def encode():
        import torch

        with torch.no_grad():
            for k in range(0, n, 64):
                enc = tokenizer(
                    X[k : k + 64],
                    truncation=True,
                    max_length=MAX_TOKENS,
                    padding=True,
                    return_tensors="pt",
                )
                swift.get_encoder()(**enc)

    sec["swift_encoder"] = _time_per_sentence(encode, n)
    return sec


def _measure(ctx, keep, router_flops, swift_part, router_sec, swift_sec):
    """Quality with CIs, Swift ratio and speed-ups of one routing decision."""
    out = np.where(keep, ctx["swift_out"], ctx["super_out"])
    q = bootstrap_quality(out, ctx["Y"], ctx["n_boot"])
    gflops = router_flops + np.where(keep, swift_part, ctx["super_full"])
    seconds = router_sec + np.where(keep, swift_sec, ctx["sec"]["super"])
    q.update(
        swift_ratio=float(np.mean(keep)),
        gflops_per_input=float(gflops.mean() / 1e9),
        flops_speedup=ctx["super_mean"] / float(gflops.mean()),
        time_speedup=ctx["sec"]["super"] / float(np.mean(seconds)),
    )
    return q


def run_translation_protocol(
    *,
    libreoffice=True,
    data_home=None,
    output=None,
    overwrite=False,
    plots=True,
    quiet=False,
    max_dev=1500,
    max_test=5000,
    head_positions=16,
    head_epochs=30,
    num_beams=1,
    max_new_tokens=48,
    n_boot=1000,
    time_sample=500,
    seed=0,
    train_if_missing=True,
    out_of_domain=True,
    device="auto",
    batch_size=32,
):
    """Run the paper's sequence-to-sequence table on the trained En-Ro pair.

    Parameters
    ----------
    libreoffice : bool, default=True
        The pair trained on the machine's gettext catalogs and LibreOffice's
        (False: the machine's only); see
        :func:`~elang_sk.datasets.fetch_en_ro_pair`.
    data_home : str, default=None
        Data home of the pair, the corpus and the output cache.
    output : str, default=None
        Folder for ``report.json``, ``report.md`` and the plots; None writes
        nothing.
    overwrite : bool, default=False
        Whether `output` may hold the report of another configuration.
    plots : bool, default=True
        Whether to draw ``tradeoff.png``, ``score_distribution.png`` and
        ``learning_curve.png`` (matplotlib).
    quiet : bool, default=False
        Suppress progress messages.
    max_dev, max_test : int, default=1500, 5000
        Sentences of the dev split (to fit the heads and choose the
        thresholds on) and of the test split.
    head_positions, head_epochs : int, default=16, 30
        The energy head's positions and training epochs
        (:class:`~elang_sk.JointSeq2Seq`).
    num_beams, max_new_tokens : int, default=1, 48
        Generation settings of both models.
    n_boot : int, default=1000
        Bootstrap resamples for the confidence intervals.
    time_sample : int, default=500
        Sentences whose translation is timed for the wall-time speed-ups.
    seed : int, default=0
        Seed of the heads, the random router and the bootstrap.
    train_if_missing : bool, default=True
        Train the pair first when it is missing (with a progress bar and a
        time estimate); False raises an OSError then.
    out_of_domain : bool, default=True
        Also evaluate on the UDHR articles
        (:func:`~elang_sk.datasets.fetch_udhr_en_ro`; downloaded once, the
        part is skipped with a message when it cannot be).
    device : str, default="auto"
        Where the pair trains and runs: CUDA when available, else the CPU.
    batch_size : int, default=32
        Sentences per forward pass of the joint models.

    Returns
    -------
    report : dict
        Everything written to ``report.json``.
    """
    from elang_sk import OutputCache
    from elang_sk.datasets import fetch_en_ro_pair
    from elang_sk.datasets._en_ro import fetch_udhr_en_ro
    from elang_sk.joint._seq2seq import JointSeq2Seq
    from elang_sk.metrics import corpus_quality, sentence_chrf

    configuration = {
        "task": "translation",
        "dataset": "en_ro",
        "libreoffice": libreoffice,
        "max_dev": max_dev,
        "max_test": max_test,
        "head_positions": head_positions,
        "head_epochs": head_epochs,
        "num_beams": num_beams,
        "max_new_tokens": max_new_tokens,
        "seed": seed,
    }
    for name in ("max_dev", "max_test", "head_positions", "head_epochs", "n_boot"):
        value = {"n_boot": n_boot, **configuration}[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    _check_folder(data_home, "--data-home", "the data, model and cache folder")
    from elang_sk.hf._torch_utils import resolve_device

    resolved = str(resolve_device(device, name="--device"))
    if output is not None:
        _check_folder(output, "--output", "the report folder")
        _check_output(output, configuration, overwrite)
    started = time.perf_counter()
    progress = _Progress(quiet)
    progress.split = "training"
    pair = fetch_en_ro_pair(
        data_home=data_home,
        libreoffice=libreoffice,
        train_if_missing=train_if_missing,
        device=resolved,
        log=lambda message: _say(message, quiet),
        progress=lambda name: progress.for_model(f"{name} (Marian)"),
    )
    if not pair.complete:
        _say(f"the pair is only partly trained ({pair.epochs} epochs)", quiet)
    swift, super_, tokenizer, splits = (
        pair.swift,
        pair.super,
        pair.tokenizer,
        pair.splits,
    )
    X_dev, Y_dev = (list(v[:max_dev]) for v in splits["dev"])
    X_test, Y_test = (list(v[:max_test]) for v in splits["test"])
    sets = {"test": (X_test, Y_test)}
    if out_of_domain:
        try:
            udhr = fetch_udhr_en_ro(data_home=data_home)
            sets["udhr"] = (list(udhr.data), list(udhr.target))
        except OSError as exc:  # offline, never downloaded
            _say(f"UDHR not available ({exc}); out-of-domain part skipped", quiet)
    _say(
        f"pairs: train {len(splits['train'][0])}, dev {len(X_dev)}, "
        + ", ".join(f"{k} {len(v[0])}" for k, v in sets.items()),
        quiet,
    )
    cache = OutputCache(os.path.join(pair.root, "cache"))
    common = dict(
        tokenizer=tokenizer,
        head_positions=head_positions,
        head_epochs=head_epochs,
        generation_kwargs={"max_new_tokens": max_new_tokens, "num_beams": num_beams},
        max_length=MAX_TOKENS,
        batch_size=batch_size,
        device=device,
        memory=cache,
        costs="flops",
        random_state=seed,
    )
    report = {
        "task": "translation",
        "configuration": configuration,
        "pair": {"root": pair.root, "epochs": pair.epochs, "complete": pair.complete},
        "models": {},
        "n_pairs": {
            "train": len(splits["train"][0]),
            "dev": len(X_dev),
            **{k: len(v[0]) for k, v in sets.items()},
        },
        "learning_curve": pair.log,
        "sets": {},
    }
    for name, model in (("swift", swift), ("super", super_)):
        report["models"][name] = {
            "config": {
                k: getattr(model.config, k)
                for k in (
                    "d_model",
                    "encoder_layers",
                    "decoder_layers",
                    "encoder_attention_heads",
                    "encoder_ffn_dim",
                    "vocab_size",
                )
            },
            "n_params": int(sum(p.numel() for p in model.parameters())),
        }
    joints = {}
    for name, params in TRAINED_ROUTERS.items():
        _say(f"fitting {name} on dev", quiet)
        joints[name] = JointSeq2Seq(swift, super_, **common, **params).fit(X_dev, Y_dev)
    any_joint = next(iter(joints.values()))
    for set_name, (X, Y) in sets.items():
        _say(f"evaluating on {set_name}", quiet)
        swift_out = any_joint.set_params(threshold=-np.inf).predict(X)
        super_out = any_joint.set_params(threshold=np.inf).predict(X)
        any_joint.set_params(threshold="crossing")
        flops = any_joint.flops(X, swift_out, super_out)
        swift_full = flops.swift_encoder + flops.swift_decoder
        super_full = flops.super_encoder + flops.super_decoder
        super_mean = float(super_full.mean())
        # Wall time per sentence of each part, greedy, batched (this machine).
        sec = _part_seconds(swift, super_, tokenizer, X[: min(len(X), time_sample)])
        swift_q = sentence_chrf(swift_out, Y)
        super_q = sentence_chrf(super_out, Y)
        measure = functools.partial(
            _measure,
            {
                "swift_out": swift_out,
                "super_out": super_out,
                "Y": Y,
                "super_full": super_full,
                "super_mean": super_mean,
                "sec": sec,
                "n_boot": n_boot,
            },
        )
        result = {
            "flops_per_sentence": {
                "swift": float(swift_full.mean()),
                "super": super_mean,
                "head": float(flops.head.mean()),
                "swift_encoder": float(flops.swift_encoder.mean()),
            },
            "copy_source": _copy_baseline(X, Y, n_boot),
            "swift": measure(np.ones(len(X), bool), 0.0, swift_full, 0.0, sec["swift"]),
            "super": measure(np.zeros(len(X), bool), 0.0, swift_full, 0.0, 0.0),
            "seconds_per_sentence": sec,
            "routers": {},
        }
        super_bleu = result["super"]["bleu"]
        # Oracle: keep the Swift where its sentence chrF beats the Super's
        # most, as far as corpus BLEU stays at the Super's.
        order = np.argsort(-(swift_q - super_q), kind="stable")
        oracle, oracle_curve = np.zeros(len(X), bool), []
        for n_keep in np.unique(np.linspace(0, len(X), 101).astype(int)):
            keep = np.zeros(len(X), bool)
            keep[order[:n_keep]] = True
            b = corpus_quality(np.where(keep, swift_out, super_out), Y, "bleu")
            g = float(np.where(keep, swift_full, super_full).mean() / 1e9)
            oracle_curve.append(
                {"swift_ratio": float(keep.mean()), "bleu": b, "gflops_per_input": g}
            )
            if b >= super_bleu - 1e-9:
                oracle = keep
        result["oracle"] = measure(oracle, 0.0, swift_full, 0.0, sec["swift"])
        result["oracle_curve"] = oracle_curve
        lengths = _source_lengths(tokenizer, X)
        for name, joint in joints.items():
            result["routers"][name] = _router_entry(
                name,
                joint,
                X,
                Y,
                flops,
                sec,
                measure,
                swift_q,
                super_q,
                swift_out,
                super_out,
                swift_full,
                super_full,
                lengths,
            )
        # The reference ranking keeps the shortest sources with the Swift (no
        # model, no cost): a learned score no better than it learned length.
        result["shortest_first"] = _ranking_entry(
            -lengths.astype(float), Y, swift_q, super_q, swift_out, super_out,
            np.zeros(len(Y)), swift_full, super_full,
        )  # fmt: skip
        _rank(result)
        report["sets"][set_name] = result
    report["flops_per_sentence"] = report["sets"]["test"]["flops_per_sentence"]
    report["versions"] = _versions()
    report["machine"] = _machine(resolved)
    report["elapsed_seconds"] = time.perf_counter() - started
    if output is not None:
        os.makedirs(output, exist_ok=True)
        if plots:
            report["plots"] = plot_translation(report, output)
        with open(os.path.join(output, "report.json"), "w") as fh:
            json.dump(report, fh, indent=1, default=float)
        with open(os.path.join(output, "report.md"), "w") as fh:
            fh.write(format_translation_markdown(report))
        _say(f"wrote report.json, report.md and the plots in {output}", quiet)
    return report


def _router_entry(
    name, joint, X, Y, flops, sec, measure, swift_q, super_q,
    swift_out, super_out, swift_full, super_full, lengths,
):  # fmt: skip
    """One routing score on one set: thresholds, curve, groups, length share."""
    scores = joint.routing_scores(X)
    if name == "random":
        router, swift_part = np.zeros(len(X)), swift_full
        router_sec, swift_sec = 0.0, sec["swift"]
    elif joint.routing_source == "decoder":
        router, swift_part = swift_full, np.zeros(len(X))
        router_sec, swift_sec = sec["swift"], 0.0
    else:
        router = flops.swift_encoder + flops.head
        swift_part = flops.swift_decoder
        router_sec = sec["swift_encoder"]
        swift_sec = max(sec["swift"] - sec["swift_encoder"], 0.0)
    strategies = {}
    for strategy in STRATEGY_NAMES:
        with warnings_caught() as caught:
            t = float(joint.thresholds_for(strategy)[0])
        strategies[strategy] = {
            "threshold": t,
            **measure(scores >= t, router, swift_part, router_sec, swift_sec),
            "warnings": caught,
        }
    entry = _ranking_entry(
        scores, Y, swift_q, super_q, swift_out, super_out, router, swift_part,
        super_full,
    )  # fmt: skip
    entry["strategies"] = strategies
    entry["spearman_with_shortness"] = _shortness_correlation(scores, lengths)
    return entry


def _ranking_entry(
    scores, Y, swift_q, super_q, swift_out, super_out, router, swift_part,
    super_full,
):  # fmt: skip
    """The BLEU/FLOPs curve of keeping the highest `scores` with the Swift."""
    from elang_sk.metrics import corpus_quality

    entry = {"strategies": {}, "curve": []}
    order = np.argsort(-scores, kind="stable")
    for ratio in np.linspace(0, 1, 21):
        keep = np.zeros(len(Y), bool)
        keep[order[: int(round(ratio * len(Y)))]] = True
        out = np.where(keep, swift_out, super_out)
        entry["curve"].append(
            {
                "swift_ratio": float(ratio),
                "bleu": corpus_quality(out, Y, "bleu"),
                "chrf": corpus_quality(out, Y, "chrf"),
                "gflops_per_input": float(
                    (router + np.where(keep, swift_part, super_full)).mean() / 1e9
                ),
            }
        )
    right = swift_q >= super_q
    entry["scores"] = {
        "swift_right": scores[right].tolist(),
        "swift_wrong": scores[~right].tolist(),
    }
    # Area under the BLEU/Swift-ratio curve: one number per score.
    entry["mean_curve_bleu"] = float(np.mean([p["bleu"] for p in entry["curve"]]))
    return entry


def _source_lengths(tokenizer, X):
    return np.array(
        [len(ids) for ids in tokenizer(list(X), truncation=True,
                                       max_length=MAX_TOKENS)["input_ids"]]
    )  # fmt: skip


def _shortness_correlation(scores, lengths):
    """Spearman correlation of `scores` with shortness; None where undefined.

    1 means the score keeps exactly the shortest sources with the Swift.
    It is undefined when the scores or the lengths are all equal.
    """
    from scipy.stats import spearmanr

    if np.ptp(scores) == 0 or np.ptp(lengths) == 0:
        return None
    return float(spearmanr(scores, -lengths).statistic)


def _rank(result):
    """Which routing score wins on one set, by ranking and at equal FLOPs."""
    routers = result["routers"]
    grid = np.linspace(
        result["swift"]["gflops_per_input"], result["super"]["gflops_per_input"], 50
    )
    references = [result["shortest_first"]] if "shortest_first" in result else []
    for entry in [*routers.values(), *references]:
        x, y = np.array(
            sorted((p["gflops_per_input"], p["bleu"]) for p in entry["curve"])
        ).T
        # Where the curve (router cost included) exists on the grid.
        inside = (grid >= x.min()) & (grid <= x.max())
        entry["mean_bleu_at_equal_flops"] = (
            float(np.mean(np.interp(grid[inside], x, y))) if inside.any() else None
        )
    result["best_by_ranking"] = max(
        routers, key=lambda n: routers[n]["mean_curve_bleu"]
    )
    comparable = {
        n: e["mean_bleu_at_equal_flops"]
        for n, e in routers.items()
        if e["mean_bleu_at_equal_flops"] is not None
    }
    result["best_at_equal_flops"] = (
        max(comparable, key=comparable.get) if comparable else None
    )


class warnings_caught:
    """Record the messages of warnings raised inside the block."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self._list = self._ctx.__enter__()
        warnings.simplefilter("always")
        self.messages = []
        return self.messages

    def __exit__(self, *exc):
        self.messages.extend(str(w.message)[:300] for w in self._list)
        return self._ctx.__exit__(*exc)


def _number(value):
    return "undefined" if value is None else f"{value:.2f}"


def _fmt(q, key):
    lo, hi = q[key + "_ci"]
    return f"{q[key]:.1f} [{lo:.1f}, {hi:.1f}]"


def format_translation_markdown(report):
    """The report of :func:`run_translation_protocol` as Markdown."""
    lines = ["# E-LANG seq2seq on the trained English-Romanian pair", ""]
    m = report["models"]
    f = report["flops_per_sentence"]
    corpus = (
        "the machine's gettext catalogs and LibreOffice's"
        if report["configuration"]["libreoffice"]
        else "the machine's gettext catalogs"
    )
    machine = report.get("machine", {})
    lines.append(
        f"Swift {m['swift']['n_params'] / 1e6:.2f}M parameters, Super "
        f"{m['super']['n_params'] / 1e6:.2f}M, trained from scratch on {corpus} "
        f"(epochs {report['pair']['epochs']}); mean FLOPs per test sentence "
        f"{f['swift'] / 1e6:.1f}M vs {f['super'] / 1e6:.1f}M "
        f"({f['super'] / f['swift']:.1f}x fewer for the Swift). "
        f"Pairs: {report['n_pairs']}. "
        "Corpus BLEU/chrF (sacrebleu, detokenized) with 95% bootstrap CIs; "
        "thresholds chosen on dev, applied to the test sets. FLOPs are "
        "counted per sentence (eq. 17, lengths included); the time speed-up "
        "uses mean measured seconds per sentence of each part (greedy, "
        f"batched, {machine.get('torch_threads', '?')} torch thread(s) on "
        f"{machine.get('processor') or 'this machine'}, "
        f"{machine.get('cpu_count', '?')} cores"
        f"{', GPU ' + machine['gpu'] if machine.get('gpu') else ', no GPU'}), "
        "so it ignores that long inputs cost more."
    )
    lines.append("")
    for set_name, r in report["sets"].items():
        lines.append(f"## {set_name}")
        lines.append("")
        lines.append(
            "| system | threshold rule | Swift ratio | BLEU [95% CI] | chrF [95% CI] "
            "| GFLOPs/sent. | FLOPs speed-up | time speed-up |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")

        def row(name, rule, q):
            ratio = q.get("swift_ratio")
            lines.append(
                f"| {name} | {rule} | {'' if ratio is None else f'{ratio:.2f}'} | "
                f"{_fmt(q, 'bleu')} | {_fmt(q, 'chrf')} | "
                + (
                    f"{q['gflops_per_input']:.4f} | {q['flops_speedup']:.2f}x | "
                    f"{q['time_speedup']:.2f}x |"
                    if "gflops_per_input" in q
                    else " | | |"
                )
            )

        row("copy the source", "", r["copy_source"])
        row("Swift alone", "", r["swift"])
        row("Super alone", "", r["super"])
        row("oracle (at Super's BLEU)", "test references", r["oracle"])
        for name, entry in r["routers"].items():
            for strategy, q in entry["strategies"].items():
                row(name, strategy, q)
        lines.append("")
        lines.append(
            "Mean BLEU over the Swift-ratio sweep (0, 0.05, ..., 1; higher = "
            "better ranking): "
            + ", ".join(
                f"{n} {e['mean_curve_bleu']:.2f}" for n, e in r["routers"].items()
            )
            + f". Best: **{r['best_by_ranking']}**."
        )
        lines.append("")
        lines.append(
            "Mean BLEU at equal FLOPs (curves interpolated between the Swift's and "
            "the Super's FLOPs, router cost included): "
            + ", ".join(
                f"{n} {e['mean_bleu_at_equal_flops']:.2f}"
                for n, e in r["routers"].items()
                if e["mean_bleu_at_equal_flops"] is not None
            )
            + f". Best: **{r['best_at_equal_flops']}**."
        )
        lines.append("")
        if "shortest_first" in r:
            short = r["shortest_first"]
            at = short["mean_bleu_at_equal_flops"]
            lines.append(
                "Source length: Spearman correlation of each score with the "
                "shortness of the source (1: it keeps exactly the shortest "
                "sentences with the Swift): "
                + ", ".join(
                    f"{n} {_number(e['spearman_with_shortness'])}"
                    for n, e in r["routers"].items()
                )
                + ". Keeping the shortest sources with the Swift (no model, a "
                f"reference ranking, not a router): mean BLEU "
                f"{short['mean_curve_bleu']:.2f} over the sweep"
                + (f", {at:.2f} at equal FLOPs." if at is not None else ".")
            )
            lines.append("")
    lines.append("## Learning curve (dev subset, greedy)")
    lines.append("")
    lines.append("| model | epoch | loss | dev BLEU | dev chrF | seconds |")
    lines.append("|---|---|---|---|---|---|")
    for rec in report["learning_curve"]:
        lines.append(
            f"| {rec['model']} | {rec['epoch']} | {rec['loss']:.3f} | "
            f"{rec['dev_bleu'] or 0:.1f} | {rec['dev_chrf'] or 0:.1f} | "
            f"{rec['seconds']:.0f} |"
        )
    lines.append("")
    return "\n".join(lines)


def plot_translation(report, output):
    """tradeoff.png, score_distribution.png, learning_curve.png in `output`.

    Returns
    -------
    plots : dict
        Name to path of each figure written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = {}
    sets = report["sets"]
    fig, axes = plt.subplots(
        1, len(sets), figsize=(6.5 * len(sets), 5.2), squeeze=False
    )
    for ax, (set_name, r) in zip(axes[0], sets.items(), strict=True):
        for name, entry in r["routers"].items():
            curve = entry["curve"]
            (line,) = ax.plot(
                [p["gflops_per_input"] for p in curve],
                [p["bleu"] for p in curve],
                marker=".",
                label=name,
            )
            q = entry["strategies"]["crossing"]
            ax.plot(
                q["gflops_per_input"], q["bleu"], "*", ms=12, color=line.get_color()
            )
        if "shortest_first" in r:
            curve = r["shortest_first"]["curve"]
            ax.plot(
                [p["gflops_per_input"] for p in curve],
                [p["bleu"] for p in curve],
                color="grey",
                ls="-.",
                lw=1,
                label="shortest first (reference)",
            )
        oc = r["oracle_curve"]
        ax.plot(
            [p["gflops_per_input"] for p in oc],
            [p["bleu"] for p in oc],
            "k:",
            label="oracle",
        )
        for name, marker in (("swift", "s"), ("super", "D")):
            p = r[name]
            ax.plot(p["gflops_per_input"], p["bleu"], marker, color="k")
            ax.annotate(
                name.capitalize(),
                (p["gflops_per_input"], p["bleu"]),
                textcoords="offset points",
                xytext=(6, -10),
            )
        ax.axhline(r["copy_source"]["bleu"], color="grey", lw=0.8, ls="--")
        ax.set_xlabel("GFLOPs per sentence (eq. 17)")
        ax.set_ylabel(f"corpus BLEU ({set_name})")
        ax.set_title(f"{set_name} (stars: crossing threshold; dashed: copy)")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    fig.tight_layout()
    written["tradeoff"] = os.path.join(output, "tradeoff.png")
    fig.savefig(written["tradeoff"], dpi=120)
    plt.close(fig)
    r = sets["test"]
    names = [n for n in r["routers"] if n != "random"]
    fig, axes = plt.subplots(
        1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=True):
        s = r["routers"][name]["scores"]
        ax.hist(
            s["swift_right"], bins=40, alpha=0.6, density=True, label="Swift >= Super"
        )
        ax.hist(
            s["swift_wrong"], bins=40, alpha=0.6, density=True, label="Swift < Super"
        )
        ax.axvline(r["routers"][name]["strategies"]["crossing"]["threshold"], color="k")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    written["score_distribution"] = os.path.join(output, "score_distribution.png")
    fig.savefig(written["score_distribution"], dpi=120)
    plt.close(fig)
    curve = report["learning_curve"]
    if curve:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in ("swift", "super"):
            rows = [c for c in curve if c["model"] == name]
            ax.plot(
                [c["epoch"] for c in rows],
                [c["dev_chrf"] for c in rows],
                "o-",
                label=f"{name} dev chrF",
            )
            ax.plot(
                [c["epoch"] for c in rows],
                [c["dev_bleu"] for c in rows],
                "s--",
                label=f"{name} dev BLEU",
            )
        ax.set_xlabel("epoch")
        ax.legend()
        fig.tight_layout()
        written["learning_curve"] = os.path.join(output, "learning_curve.png")
        fig.savefig(written["learning_curve"], dpi=120)
        plt.close(fig)
    return written
