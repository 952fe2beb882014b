"""Cost of :func:`elang_sk._fingerprint.fingerprint`, the "never stale" check.

Every ``fit``/``predict`` call of an estimator with a ``memory`` fingerprints
both models in full. This measures what that costs on models of the real
sizes: random-weight BERT encoders built from the MiniLM-L6 and mpnet-base
shapes (timings are real; the weights are not), and a character n-gram TF-IDF
pipeline with a vocabulary of about a million terms; and, for comparison,
BLAKE2b over the same tensor bytes and :func:`joblib.hash` of the pipeline.

Usage::

    python benchmarks/bench_fingerprint.py [--repeats 5]

Writes ``benchmarks/results/bench_fingerprint.json``.
"""

import argparse
import hashlib
import json
import os
import platform
import time

import joblib
import numpy as np


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bert(hidden, layers, intermediate, vocab):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        intermediate_size=intermediate,
        vocab_size=vocab,
    )
    return BertModel(config).eval()


def tfidf_pipeline(n_docs):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    docs = [
        " ".join("".join(rng.choice(letters, rng.integers(3, 9))) for _ in range(20))
        for _ in range(n_docs)
    ]
    y = rng.integers(0, 2, n_docs)
    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)),
        LogisticRegression(max_iter=50),
    )
    return model.fit(docs, y)


def main():
    from elang_sk._fingerprint import fingerprint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-docs", type=int, default=4000)
    parser.add_argument(
        "--output",
        default=os.path.join("benchmarks", "results", "bench_fingerprint.json"),
    )
    args = parser.parse_args()

    import torch
    import transformers

    rows = []
    for name, shape in {
        "bert-l6-384 (MiniLM-L6 shape)": (384, 6, 1536, 30522),
        "bert-l12-768 (mpnet-base shape)": (768, 12, 3072, 30527),
    }.items():
        model = bert(*shape)
        n_params = sum(p.numel() for p in model.parameters())
        blobs = [p.detach().numpy().tobytes() for p in model.parameters()]

        def blake(blobs=blobs):
            h = hashlib.blake2b(digest_size=16)
            for blob in blobs:
                h.update(blob)
            return h.digest()

        rows.append(
            dict(
                model=name,
                size=f"{n_params / 1e6:.1f}M parameters",
                fingerprint_s=median_seconds(
                    lambda m=model: fingerprint(m), args.repeats
                ),
                baseline="blake2b of the parameter bytes",
                baseline_s=median_seconds(blake, args.repeats),
            )
        )
        print(rows[-1])
    pipeline = tfidf_pipeline(args.n_docs)
    n_terms = len(pipeline[0].vocabulary_)
    rows.append(
        dict(
            model="char_wb(2-5) TF-IDF + LogisticRegression",
            size=f"{n_terms} terms",
            fingerprint_s=median_seconds(lambda: fingerprint(pipeline), args.repeats),
            baseline="joblib.hash",
            baseline_s=median_seconds(lambda: joblib.hash(pipeline), args.repeats),
        )
    )
    print(rows[-1])
    result = dict(
        rows=rows,
        repeats=args.repeats,
        machine=dict(
            processor=platform.processor() or platform.machine(),
            cpus=os.cpu_count(),
            note="shared development machine, no GPU",
        ),
        versions=dict(torch=torch.__version__, transformers=transformers.__version__),
    )
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as fh:
        json.dump(result, fh, indent=2)
    print("wrote", args.output)


if __name__ == "__main__":
    main()
