"""E-LANG on English-Romanian: BLEU vs FLOPs of joint Swift/Super translation.

Trains a small (Swift) and a clearly larger (Super) T5 from scratch on the
English-Romanian pairs of :func:`elang_sk.datasets.fetch_en_ro` (fixed
train/dev/test split, a BPE tokenizer trained on the training pairs, fixed
seeds), fits :class:`JointSeq2Seq` on the dev split with every routing score,
and reports corpus BLEU against mean FLOPs per input on the test split (eq. 17)
for a sweep of Swift ratios, plus the point the threshold selector chooses.

Routing scores compared: the energy head on the Swift encoder (E-LANG, eq. 9),
the energy of the Swift decoder's own logits (needs the Swift to decode every
input), softmax and entropy on the head, and random routing.

Run from the repository root with elang_sk installed (or ``PYTHONPATH=.``).

Full run (about an hour on 2 CPU cores)::

    python benchmarks/bench_seq2seq_en_ro.py

Reduced check (a few minutes)::

    python benchmarks/bench_seq2seq_en_ro.py --max-train 2000 --epochs 2 \\
        --max-dev 300 --max-test 300 --tag reduced

Pretrained models, where a model hub is reachable (no training)::

    python benchmarks/bench_seq2seq_en_ro.py --swift t5-small --super t5-large

Results go to ``benchmarks/results/seq2seq_en_ro[_TAG].json`` (and ``.png``
when matplotlib is installed).

On the translation pair of ``benchmarks/train_en_ro_pair.py`` (trained and
cached in the data home; no training here)::

    python benchmarks/bench_seq2seq_en_ro.py --pair trained

which writes ``benchmarks/results/seq2seq_en_ro_trained.{json,md,png}`` and
``seq2seq_en_ro_trained_scores.png``: test BLEU/chrF with bootstrap CIs of the
Swift, the Super, the copy-the-source baseline and the oracle, and for each
routing score (encoder energy head, decoder energy, mean max token
probability of the Swift decoder, random) the thresholds chosen on dev
(crossing, match-Super, risk control) with their Swift ratio and FLOPs and
wall-time speed-ups, in-domain and on the UDHR (out of domain).
"""

import argparse
import functools
import json
import os
import platform
import tempfile
import time

import numpy as np
import torch

from elang_sk import OutputCache
from elang_sk.datasets import fetch_en_ro
from elang_sk.joint._seq2seq import JointSeq2Seq
from elang_sk.metrics import corpus_quality

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
ROUTERS = {
    "energy (encoder head)": {"router": "energy"},
    "energy (decoder)": {"router": "energy", "routing_source": "decoder"},
    "softmax (encoder head)": {"router": "softmax"},
    "entropy (encoder head)": {"router": "entropy"},
    "random": {"router": "random"},
}
SMALL = {"d_model": 64, "d_ff": 128, "d_kv": 16, "num_layers": 2, "num_heads": 4}
LARGE = {"d_model": 192, "d_ff": 512, "d_kv": 32, "num_layers": 3, "num_heads": 6}


def train_tokenizer(texts, vocab_size):
    """A BPE tokenizer trained on ``texts``, T5-style (``</s>`` appended)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from tokenizers.trainers import BpeTrainer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    trainer = BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"]
    )
    backend.train_from_iterator(texts, trainer)
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def make_t5(size, vocab_size, seed):
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab_size,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        dropout_rate=0.1,
        **size,
    )
    return T5ForConditionalGeneration(config)


def train_t5(model, tokenizer, X, Y, *, epochs, lr, batch_size, seed, name):
    """Plain teacher-forced cross-entropy training, length-bucketed batches."""
    rng = np.random.default_rng(seed)
    src = tokenizer(X, truncation=True, max_length=64)["input_ids"]
    tgt = tokenizer(text_target=Y, truncation=True, max_length=64)["input_ids"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    order = np.argsort([len(s) for s in src], kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    total = epochs * len(chunks)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=total, pct_start=0.1
    )
    model.train()
    start = time.perf_counter()
    for epoch in range(epochs):
        losses = []
        for k in rng.permutation(len(chunks)):
            rows = chunks[k]
            ids, mask = _pad([src[i] for i in rows], 0)
            labels, _ = _pad([tgt[i] for i in rows], -100)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        print(
            f"  {name} epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.3f} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    return model.eval()


def _pad(seqs, value):
    length = max(len(s) for s in seqs)
    out = np.full((len(seqs), length), value, dtype=np.int64)
    mask = np.zeros((len(seqs), length), dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
        mask[i, : len(s)] = 1
    return torch.from_numpy(out), torch.from_numpy(mask)


def sweep(scores, swift_out, super_out, refs, router_flops, swift_flops, super_flops):
    """BLEU and mean FLOPs when the best-scored fraction r is kept, r = 0..1."""
    order = np.argsort(-scores, kind="stable")
    points = []
    for ratio in np.linspace(0, 1, 11):
        keep = np.zeros(len(scores), bool)
        keep[order[: int(round(ratio * len(scores)))]] = True
        points.append(
            point(
                keep, swift_out, super_out, refs, router_flops, swift_flops, super_flops
            )
        )
    return points


def point(keep, swift_out, super_out, refs, router_flops, swift_flops, super_flops):
    out = np.where(keep, swift_out, super_out)
    flops = router_flops + np.where(keep, swift_flops, super_flops)
    return {
        "swift_ratio": float(keep.mean()),
        "bleu": corpus_quality(out, refs, "bleu"),
        "chrf": corpus_quality(out, refs, "chrf"),
        "gflops_per_input": float(flops.mean() / 1e9),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--swift", help="hub id or folder of a pretrained Swift")
    parser.add_argument("--super", help="hub id or folder of a pretrained Super")
    parser.add_argument("--source-prefix", default=None)
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--max-dev", type=int, default=1000)
    parser.add_argument("--max-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--vocab-size", type=int, default=4000)
    parser.add_argument("--head-positions", type=int, default=16)
    parser.add_argument("--head-epochs", type=int, default=30)
    parser.add_argument("--num-beams", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="")
    parser.add_argument("--cache", default=None, help="OutputCache folder")
    parser.add_argument(
        "--pair",
        choices=["scratch", "trained"],
        default="scratch",
        help="trained: the cached pair of benchmarks/train_en_ro_pair.py",
    )
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.pair == "trained":
        return run_trained(args)
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    train = fetch_en_ro(subset="train")
    dev = fetch_en_ro(subset="dev")
    test = fetch_en_ro(subset="test")
    X_train, Y_train = train.data[: args.max_train], train.target[: args.max_train]
    X_dev, Y_dev = dev.data[: args.max_dev], dev.target[: args.max_dev]
    X_test, Y_test = test.data[: args.max_test], test.target[: args.max_test]
    pretrained = args.swift is not None
    prefix = args.source_prefix
    if prefix is None:
        prefix = "translate English to Romanian: " if pretrained else ""
    print(f"pairs: train {len(X_train)}, dev {len(X_dev)}, test {len(X_test)}")

    if pretrained:
        swift, super_, tokenizer = args.swift, args.super, None
        sizes = {"swift": args.swift, "super": args.super}
    else:
        tokenizer = train_tokenizer(X_train + Y_train, args.vocab_size)
        vocab = len(tokenizer)
        models = {}
        for name, size, lr in (("swift", SMALL, 3e-3), ("super", LARGE, 1e-3)):
            model = make_t5(size, vocab, args.seed)
            n_params = sum(p.numel() for p in model.parameters())
            print(f"training {name}: {n_params / 1e6:.2f}M parameters", flush=True)
            models[name] = train_t5(
                model,
                tokenizer,
                X_train,
                Y_train,
                epochs=args.epochs,
                lr=lr,
                batch_size=32,
                seed=args.seed,
                name=name,
            )
        swift, super_ = models["swift"], models["super"]
        sizes = {"swift": SMALL, "super": LARGE, "vocab_size": vocab}
    train_seconds = time.perf_counter() - started

    src_dev = [prefix + x for x in X_dev]
    src_test = [prefix + x for x in X_test]
    cache = OutputCache(args.cache or tempfile.mkdtemp(prefix="elang_seq2seq_"))
    common = dict(
        tokenizer=tokenizer,
        head_positions=args.head_positions,
        head_epochs=args.head_epochs,
        generation_kwargs={
            "max_new_tokens": args.max_new_tokens,
            "num_beams": args.num_beams,
        },
        max_length=64,
        memory=cache,
        costs="flops",
        random_state=args.seed,
    )
    results = {}
    baseline = None
    for name, params in ROUTERS.items():
        t0 = time.perf_counter()
        joint = JointSeq2Seq(swift, super_, **common, **params).fit(src_dev, Y_dev)
        if baseline is None:
            # Both models' outputs and FLOPs on the test split (cached).
            swift_out = joint.set_params(threshold=-np.inf).predict(src_test)
            super_out = joint.set_params(threshold=np.inf).predict(src_test)
            flops = joint.flops(src_test, swift_out, super_out)
            baseline = {
                "swift": point(
                    np.ones(len(X_test), bool),
                    swift_out,
                    super_out,
                    Y_test,
                    0.0,
                    flops.swift_encoder + flops.swift_decoder,
                    0.0,
                ),
                "super": point(
                    np.zeros(len(X_test), bool),
                    swift_out,
                    super_out,
                    Y_test,
                    0.0,
                    0.0,
                    flops.super_encoder + flops.super_decoder,
                ),
            }
            swift, super_ = joint.swift_model_, joint.super_model_
            common["tokenizer"] = joint.tokenizer_
            common["super_tokenizer"] = joint.super_tokenizer_
        joint.set_params(threshold="crossing")
        scores = joint.routing_scores(src_test)
        if name == "random":  # random routing runs no model to score
            router = np.zeros(len(X_test))
            swift_part = flops.swift_encoder + flops.swift_decoder
        elif joint.routing_source == "decoder":
            router = flops.swift_encoder + flops.swift_decoder
            swift_part = np.zeros(len(X_test))
        else:
            router = flops.swift_encoder + flops.head
            swift_part = flops.swift_decoder
        super_part = flops.super_encoder + flops.super_decoder
        curve = sweep(
            scores, swift_out, super_out, Y_test, router, swift_part, super_part
        )
        chosen = point(
            scores >= joint.threshold_,
            swift_out,
            super_out,
            Y_test,
            router,
            swift_part,
            super_part,
        )
        chosen["threshold"] = joint.threshold_
        results[name] = {
            "curve": curve,
            "selected": chosen,
            "fit_seconds": time.perf_counter() - t0,
        }
        print(f"{name}: selected {chosen}", flush=True)

    report = {
        "benchmark": "bench_seq2seq_en_ro",
        "args": vars(args),
        "models": sizes,
        "n_pairs": {"train": len(X_train), "dev": len(X_dev), "test": len(X_test)},
        "baselines": baseline,
        "routers": results,
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - started,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
    }
    print_table(report)
    os.makedirs(RESULTS, exist_ok=True)
    stem = os.path.join(RESULTS, "seq2seq_en_ro" + (f"_{args.tag}" if args.tag else ""))
    with open(stem + ".json", "w") as f:
        json.dump(report, f, indent=2, default=float)
    plot(report, stem + ".png")
    print(f"saved {stem}.json")


def print_table(report):
    b = report["baselines"]
    print(f"\n{'':28s} {'ratio':>6s} {'BLEU':>6s} {'chrF':>6s} {'GFLOPs':>9s}")
    for name in ("swift", "super"):
        p = b[name]
        print(
            f"{name + ' alone':28s} {'':6s} {p['bleu']:6.2f} {p['chrf']:6.2f} "
            f"{p['gflops_per_input']:9.4f}"
        )
    for name, r in report["routers"].items():
        for label, p in [("selected", r["selected"])] + [
            (f"r={c['swift_ratio']:.1f}", c) for c in r["curve"][1:-1:2]
        ]:
            print(
                f"{name + ' ' + label:28.28s} {p['swift_ratio']:6.2f} "
                f"{p['bleu']:6.2f} {p['chrf']:6.2f} {p['gflops_per_input']:9.4f}"
            )


def plot(report, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in report["routers"].items():
        curve = r["curve"]
        (line,) = ax.plot(
            [p["gflops_per_input"] for p in curve],
            [p["bleu"] for p in curve],
            marker=".",
            label=name,
        )
        s = r["selected"]
        ax.plot(s["gflops_per_input"], s["bleu"], "*", ms=12, color=line.get_color())
    for name, marker in (("swift", "s"), ("super", "D")):
        p = report["baselines"][name]
        ax.plot(p["gflops_per_input"], p["bleu"], marker, color="k")
        ax.annotate(name, (p["gflops_per_input"], p["bleu"]))
    ax.set_xlabel("GFLOPs per input (eq. 17)")
    ax.set_ylabel("corpus BLEU (test)")
    ax.set_title("E-LANG on English-Romanian (stars: selected threshold)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# -- the trained pair ----------------------------------------------------------

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


def _part_seconds(pair, swift, super_, tokenizer, X):
    """Wall seconds per sentence: Swift, Super (greedy, batched), Swift encoder."""
    n = len(X)
    sec = {
        "swift": _time_per_sentence(
            functools.partial(pair.translate, swift, tokenizer, X), n
        ),
        "super": _time_per_sentence(
            functools.partial(pair.translate, super_, tokenizer, X), n
        ),
    }

    def encode():
        with torch.no_grad():
            for k in range(0, n, 64):
                enc = tokenizer(
                    X[k : k + 64],
                    truncation=True,
                    max_length=pair.MAX_TOKENS,
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


def _learning_curve(root):
    path = os.path.join(root, "log.jsonl")
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
    return rows


def run_trained(args):
    """The paper's seq2seq table on the cached trained Swift/Super pair."""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import train_en_ro_pair as pair

    from elang_sk.datasets import get_data_home
    from elang_sk.datasets._en_ro import fetch_udhr_en_ro
    from elang_sk.metrics import sentence_chrf

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    root = os.path.join(get_data_home(args.data_home), pair.PAIR_DIR)
    swift, super_, tokenizer, splits = pair.load_pair(args.data_home)
    X_dev, Y_dev = (list(v[: args.max_dev]) for v in splits["dev"])
    X_test, Y_test = (list(v[: args.max_test]) for v in splits["test"])
    try:
        udhr = fetch_udhr_en_ro(data_home=args.data_home)
        X_ood, Y_ood = list(udhr.data), list(udhr.target)
    except OSError as exc:  # offline, never downloaded
        print(f"UDHR not available ({exc}); out-of-domain part skipped")
        X_ood, Y_ood = [], []
    print(f"pairs: dev {len(X_dev)}, test {len(X_test)}, udhr {len(X_ood)}")
    cache = OutputCache(args.cache or os.path.join(root, "bench_cache"))
    common = dict(
        tokenizer=tokenizer,
        head_positions=args.head_positions,
        head_epochs=args.head_epochs,
        generation_kwargs={
            "max_new_tokens": args.max_new_tokens,
            "num_beams": args.num_beams,
        },
        max_length=pair.MAX_TOKENS,
        memory=cache,
        costs="flops",
        random_state=args.seed,
    )
    sets = {"test": (X_test, Y_test)}
    if X_ood:
        sets["udhr"] = (X_ood, Y_ood)
    n_boot = args.n_boot
    report = {
        "benchmark": "bench_seq2seq_en_ro --pair trained",
        "args": vars(args),
        "models": {},
        "n_pairs": {
            "train": len(splits["train"][0]),
            "dev": len(X_dev),
            **{k: len(v[0]) for k, v in sets.items()},
        },
        "learning_curve": _learning_curve(root),
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
        t0 = time.perf_counter()
        joint = JointSeq2Seq(swift, super_, **common, **params).fit(X_dev, Y_dev)
        joints[name] = joint
        print(f"fitted {name} in {time.perf_counter() - t0:.0f} s", flush=True)
    any_joint = next(iter(joints.values()))
    for set_name, (X, Y) in sets.items():
        swift_out = any_joint.set_params(threshold=-np.inf).predict(X)
        super_out = any_joint.set_params(threshold=np.inf).predict(X)
        any_joint.set_params(threshold="crossing")
        flops = any_joint.flops(X, swift_out, super_out)
        swift_full = flops.swift_encoder + flops.swift_decoder
        super_full = flops.super_encoder + flops.super_decoder
        super_mean = float(super_full.mean())
        # Wall time per sentence of each part, greedy, batched (this machine).
        sec = _part_seconds(pair, swift, super_, tokenizer, X[: min(len(X), 500)])
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
        oracle, oracle_curve = None, []
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
        for name, joint in joints.items():
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
            entry = {"strategies": {}, "curve": []}
            for strategy in STRATEGY_NAMES:
                with warnings_caught() as caught:
                    t = float(joint.thresholds_for(strategy)[0])
                entry["strategies"][strategy] = {
                    "threshold": t,
                    **measure(scores >= t, router, swift_part, router_sec, swift_sec),
                    "warnings": caught,
                }
            order_s = np.argsort(-scores, kind="stable")
            for ratio in np.linspace(0, 1, 21):
                keep = np.zeros(len(X), bool)
                keep[order_s[: int(round(ratio * len(X)))]] = True
                out = np.where(keep, swift_out, super_out)
                entry["curve"].append(
                    {
                        "swift_ratio": float(ratio),
                        "bleu": corpus_quality(out, Y, "bleu"),
                        "chrf": corpus_quality(out, Y, "chrf"),
                        "gflops_per_input": float(
                            (router + np.where(keep, swift_part, super_full)).mean()
                            / 1e9
                        ),
                    }
                )
            right = swift_q >= super_q
            entry["scores"] = {
                "swift_right": scores[right].tolist(),
                "swift_wrong": scores[~right].tolist(),
            }
            # Area under the BLEU/Swift-ratio curve: one number per score.
            entry["mean_curve_bleu"] = float(
                np.mean([p["bleu"] for p in entry["curve"]])
            )
            result["routers"][name] = entry
        report["sets"][set_name] = result
        print(f"{set_name}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    report["flops_per_sentence"] = report["sets"]["test"]["flops_per_sentence"]
    report["total_seconds"] = time.perf_counter() - started
    report["machine"] = {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    os.makedirs(RESULTS, exist_ok=True)
    stem = os.path.join(
        RESULTS, "seq2seq_en_ro_trained" + (f"_{args.tag}" if args.tag else "")
    )
    with open(stem + ".json", "w") as f:
        json.dump(report, f, indent=1, default=float)
    markdown = trained_markdown(report)
    with open(stem + ".md", "w") as f:
        f.write(markdown)
    print(markdown)
    plot_trained(report, stem)
    print(f"saved {stem}.json/.md/.png")
    return report


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


def _fmt(q, key):
    lo, hi = q[key + "_ci"]
    return f"{q[key]:.1f} [{lo:.1f}, {hi:.1f}]"


def trained_markdown(report):
    """The table of :func:`run_trained` as Markdown."""
    lines = ["# E-LANG seq2seq on the trained English-Romanian pair", ""]
    m = report["models"]
    f = report["flops_per_sentence"]
    lines.append(
        f"Swift {m['swift']['n_params'] / 1e6:.2f}M parameters, Super "
        f"{m['super']['n_params'] / 1e6:.2f}M; mean FLOPs per test sentence "
        f"{f['swift'] / 1e6:.1f}M vs {f['super'] / 1e6:.1f}M "
        f"({f['super'] / f['swift']:.1f}x fewer for the Swift). "
        f"Pairs: {report['n_pairs']}. "
        "Corpus BLEU/chrF (sacrebleu, detokenized) with 95% bootstrap CIs; "
        "thresholds chosen on dev, applied to the test sets. FLOPs are "
        "counted per sentence (eq. 17, lengths included); the time speed-up "
        "uses mean measured seconds per sentence of each part (greedy, "
        "batched, one CPU thread), so it ignores that long inputs cost more."
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
        best = max(r["routers"].items(), key=lambda kv: kv[1]["mean_curve_bleu"])
        lines.append(
            "Mean BLEU over the Swift-ratio sweep (0, 0.05, ..., 1; higher = "
            "better ranking): "
            + ", ".join(
                f"{n} {e['mean_curve_bleu']:.2f}" for n, e in r["routers"].items()
            )
            + f". Best: **{best[0]}**."
        )
        lines.append("")
        grid = np.linspace(
            r["swift"]["gflops_per_input"], r["super"]["gflops_per_input"], 50
        )
        at_flops = {}
        for n, e in r["routers"].items():
            pts = sorted((p["gflops_per_input"], p["bleu"]) for p in e["curve"])
            x, y = np.array(pts).T
            at_flops[n] = float(
                np.mean(
                    np.interp(grid, x, y, left=np.nan)[
                        ~np.isnan(np.interp(grid, x, y, left=np.nan))
                    ]
                )
            )
        best_f = max(at_flops, key=at_flops.get)
        lines.append(
            "Mean BLEU at equal FLOPs (curves interpolated between the Swift's and "
            "the Super's FLOPs, router cost included): "
            + ", ".join(f"{n} {v:.2f}" for n, v in at_flops.items())
            + f". Best: **{best_f}**."
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


def plot_trained(report, stem):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    sets = report["sets"]
    fig, axes = plt.subplots(
        1, len(sets), figsize=(6.5 * len(sets), 4.5), squeeze=False
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
            ax.annotate(name, (p["gflops_per_input"], p["bleu"]))
        ax.axhline(r["copy_source"]["bleu"], color="grey", lw=0.8, ls="--")
        ax.set_xlabel("GFLOPs per sentence (eq. 17)")
        ax.set_ylabel(f"corpus BLEU ({set_name})")
        ax.set_title(f"{set_name} (stars: crossing threshold; dashed: copy)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(stem + ".png", dpi=120)
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
    fig.savefig(stem + "_scores.png", dpi=120)
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
        fig.savefig(os.path.join(RESULTS, "en_ro_pair_learning_curve.png"), dpi=120)
        plt.close(fig)


if __name__ == "__main__":
    main()
