"""Per-input output cache: cached path vs recomputing the same inputs.

Times ``TransformerClassifier.transform`` on the same texts three ways:

- recompute: ``memory=None``, the model runs on every text;
- cached, warm: ``memory=<folder>`` after a first call filled the cache, in the
  same process (the shard index is already in memory);
- cached, cold: as warm, but the in-process shard index and weight-digest memo
  are dropped first, as in a new process (shards are read from disk, and every
  weight and the tokenizer are hashed again for the fingerprint).

Run::

    python benchmarks/bench_transformer_cache.py [--model PATH]

from the repository root with elang_sk installed (or ``PYTHONPATH=.``).

``--model`` (or ``ELANG_BENCH_MODEL``) names a local folder with a pretrained
encoder and its tokenizer; without one, a small randomly initialised BERT is
built from a config. Figures are printed and saved to
``benchmarks/results/bench_transformer_cache[_<model folder>].json``.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np
import torch
import transformers
from sklearn.base import clone

from elang_sk import _cache
from elang_sk.hf._transformers import TransformerClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_transformer_throughput import load_model, make_texts


def best_time(fn, repeats, before=None):
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def forget_in_process_state(estimator):
    """Drop what a new process would not have: shard index and digest memos."""
    _cache._INDEXES.clear()
    estimator._tokenizer_memo = None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.environ.get("ELANG_BENCH_MODEL"))
    parser.add_argument("--n-texts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model, tokenizer, source = load_model(args.model)
    texts = make_texts(args.n_texts, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        plain = TransformerClassifier(
            model, tokenizer, batch_size=args.batch_size, device="cpu", progress=False
        ).fit(texts[:8], [0, 1] * 4)
        cached = clone(plain).set_params(memory=folder).fit(texts[:8], [0, 1] * 4)

        start = time.perf_counter()
        first = cached.transform(texts)
        t_first = time.perf_counter() - start
        identical = bool(np.array_equal(first, cached.transform(texts)))
        close = bool(np.allclose(first, plain.transform(texts), atol=1e-5))

        t_recompute = best_time(lambda: plain.transform(texts), args.repeats)
        t_warm = best_time(lambda: cached.transform(texts), args.repeats)
        t_cold = best_time(
            lambda: cached.transform(texts),
            args.repeats,
            lambda: forget_in_process_state(cached),
        )
        size = _cache.OutputCache(folder).size_bytes()

    result = {
        "benchmark": "bench_transformer_cache",
        "model": source,
        "n_texts": args.n_texts,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "seconds_recompute": t_recompute,
        "seconds_first_call_compute_and_store": t_first,
        "seconds_cached_warm": t_warm,
        "seconds_cached_cold_process": t_cold,
        "speedup_warm": t_recompute / t_warm,
        "speedup_cold_process": t_recompute / t_cold,
        "target_speedup": 50,
        "cache_bytes": size,
        "cached_equals_first_call": identical,
        "cached_close_to_uncached": close,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "device": str(plain.device_),
        },
    }
    print(json.dumps(result, indent=2))
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(folder, exist_ok=True)
    stem = "bench_transformer_cache"
    if args.model:
        stem += "_" + os.path.basename(os.path.normpath(args.model))
    with open(os.path.join(folder, stem + ".json"), "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
