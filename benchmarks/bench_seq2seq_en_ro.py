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

On the translation pair of :func:`elang_sk.datasets.fetch_en_ro_pair` (trained
and cached in the data home by ``benchmarks/train_en_ro_pair.py`` or
``elang-sk run --task translation``; no training here)::

    python benchmarks/bench_seq2seq_en_ro.py --pair trained [--corpus gettext]

which writes ``benchmarks/results/seq2seq_en_ro_trained/`` (with ``--corpus
gettext``: ``seq2seq_en_ro_trained_gettext/``; ``--tag head4
--head-positions 4`` adds ``_head4``) (``report.json``,
``report.md``, ``tradeoff.png``, ``score_distribution.png``,
``learning_curve.png``; the same table as ``elang-sk run --task
translation``): test BLEU/chrF with bootstrap CIs of the
Swift, the Super, the copy-the-source baseline and the oracle, and for each
routing score (encoder energy head, decoder energy, mean max token
probability of the Swift decoder, random) the thresholds chosen on dev
(crossing, match-Super, risk control) with their Swift ratio and FLOPs and
wall-time speed-ups, in-domain and on the UDHR (out of domain).
"""

import argparse
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
    parser.add_argument(
        "--max-dev", type=int, default=None, help="default 1000 (trained: 1500)"
    )
    parser.add_argument(
        "--max-test", type=int, default=None, help="default 1000 (trained: 5000)"
    )
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
        help="trained: the cached pair of elang_sk.datasets.fetch_en_ro_pair",
    )
    parser.add_argument(
        "--corpus",
        choices=["gettext+libreoffice", "gettext"],
        default="gettext+libreoffice",
        help="trained: which cached pair",
    )
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", help="trained: auto, cpu, cuda")
    args = parser.parse_args(argv)
    if args.pair == "trained":
        return run_trained(args)
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    train = fetch_en_ro(subset="train")
    dev = fetch_en_ro(subset="dev")
    test = fetch_en_ro(subset="test")
    X_train, Y_train = train.data[: args.max_train], train.target[: args.max_train]
    max_dev, max_test = args.max_dev or 1000, args.max_test or 1000
    X_dev, Y_dev = dev.data[:max_dev], dev.target[:max_dev]
    X_test, Y_test = test.data[:max_test], test.target[:max_test]
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


def run_trained(args):
    """The paper's seq2seq table on the cached trained pair (no training here).

    The table is ``elang-sk run --task translation``'s
    (:func:`elang_sk._protocol_translation.run_translation_protocol`); this
    writes it to ``benchmarks/results/seq2seq_en_ro_trained[_gettext][_TAG]/``.
    """
    from elang_sk._protocol_translation import (
        format_translation_markdown,
        run_translation_protocol,
    )

    torch.set_num_threads(args.threads)
    name = "seq2seq_en_ro_trained"
    if args.corpus == "gettext":
        name += "_gettext"
    output = os.path.join(RESULTS, name + (f"_{args.tag}" if args.tag else ""))
    report = run_translation_protocol(
        libreoffice=args.corpus == "gettext+libreoffice",
        data_home=args.data_home,
        output=output,
        overwrite=True,
        max_dev=args.max_dev or 1500,
        max_test=args.max_test or 5000,
        head_positions=args.head_positions,
        head_epochs=args.head_epochs,
        num_beams=args.num_beams,
        max_new_tokens=args.max_new_tokens,
        n_boot=args.n_boot,
        seed=args.seed,
        train_if_missing=False,
        device=args.device,
    )
    print(format_translation_markdown(report))
    return report


if __name__ == "__main__":
    main()
