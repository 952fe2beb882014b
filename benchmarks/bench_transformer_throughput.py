"""Feature-extraction throughput: TransformerClassifier.transform vs a bare loop.

Both sides embed the same texts with the same model, batch size and pooling
(masked mean of the last hidden state). The bare loop is what one would write by
hand: tokenize a batch with padding, forward under ``torch.inference_mode()``,
pool. It is timed twice, on the texts in input order and sorted by length, so
that the wrapper's own overhead can be told apart from what length-sorting buys.

Run::

    python benchmarks/bench_transformer_throughput.py [--model PATH]

from the repository root with elang_sk installed (or ``PYTHONPATH=.``).

``--model`` (or the ``ELANG_BENCH_MODEL`` environment variable) names a local
folder with a pretrained encoder and its tokenizer; without one, a small
randomly initialised BERT is built from a config. Figures are printed and saved
to ``benchmarks/results/bench_transformer_throughput[_<model folder>].json``.
"""

import argparse
import json
import os
import platform
import time

import numpy as np
import torch
import transformers

from elang_sk.hf._transformers import TransformerClassifier

WORDS = (
    "the a film movie plot acting story scene actor director good bad great "
    "awful boring funny moving slow fast long short beautiful ugly dull sharp "
    "script music score camera light dark love hate end start first last best "
    "worst very quite rather too not never always often some many little much"
).split()


def make_texts(n, seed=0):
    """Sentences of 3 to 60 words drawn from WORDS."""
    rng = np.random.RandomState(seed)
    lengths = rng.randint(3, 61, size=n)
    return [" ".join(rng.choice(WORDS, size=k)) for k in lengths]


def load_model(path):
    """A pretrained encoder from ``path``, or a small random BERT."""
    if path:
        model = transformers.AutoModel.from_pretrained(path).eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        return model, tokenizer, f"pretrained: {path}"
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {w: i for i, w in enumerate(specials + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]"
    )
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
    )
    model = transformers.BertModel(config).eval()
    return model, tokenizer, "random BERT from config (4 layers, hidden 256)"


def bare_loop(model, tokenizer, texts, batch_size, max_length):
    """Hand-written batched mean-pooled embedding."""
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        out.append(pooled.numpy())
    return np.vstack(out)


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("ELANG_BENCH_MODEL"))
    parser.add_argument("--n-texts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model, tokenizer, source = load_model(args.model)
    texts = make_texts(args.n_texts)
    by_length = sorted(texts, key=lambda t: len(tokenizer(t)["input_ids"]))
    clf = TransformerClassifier(
        model,
        tokenizer,
        batch_size=args.batch_size,
        max_length=args.max_length,
        device="cpu",
        progress=False,
    ).fit(texts[:8], [0, 1] * 4)

    ours = clf.transform(texts)
    bare = bare_loop(model, tokenizer, texts, args.batch_size, args.max_length)
    max_abs_diff = float(np.max(np.abs(ours - bare)))

    t_ours = best_time(lambda: clf.transform(texts), args.repeats)
    t_bare = best_time(
        lambda: bare_loop(model, tokenizer, texts, args.batch_size, args.max_length),
        args.repeats,
    )
    t_bare_sorted = best_time(
        lambda: bare_loop(
            model, tokenizer, by_length, args.batch_size, args.max_length
        ),
        args.repeats,
    )
    result = {
        "benchmark": "bench_transformer_throughput",
        "model": source,
        "n_texts": args.n_texts,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "repeats": args.repeats,
        "texts_per_s_transform": args.n_texts / t_ours,
        "texts_per_s_bare_loop_input_order": args.n_texts / t_bare,
        "texts_per_s_bare_loop_length_sorted": args.n_texts / t_bare_sorted,
        "ratio_vs_bare_input_order": t_bare / t_ours,
        "ratio_vs_bare_length_sorted": t_bare_sorted / t_ours,
        "target_ratio": 0.9,
        "max_abs_diff_features": max_abs_diff,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "device": str(clf.device_),
        },
    }
    print(json.dumps(result, indent=2))
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(folder, exist_ok=True)
    stem = "bench_transformer_throughput"
    if args.model:
        stem += "_" + os.path.basename(os.path.normpath(args.model))
    with open(os.path.join(folder, stem + ".json"), "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
