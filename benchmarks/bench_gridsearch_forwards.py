"""Forward passes of a threshold grid search, relative to one fit.

Fits a JointClassifier (TransformerClassifier Swift and Super, per-input cache
in ``memory``), then runs ``GridSearchCV`` over 20 thresholds x 5 folds, and
counts the inputs that reach each model's forward pass (a torch forward hook).
Target: fit + grid search <= 1.1 x the forward passes of the fit alone.

Usage::

    python benchmarks/bench_gridsearch_forwards.py            # zoo models
    python benchmarks/bench_gridsearch_forwards.py --tiny     # random tiny BERTs

Prints the counts and saves them to
``benchmarks/results/bench_gridsearch_forwards.json``.
"""

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import torch
import transformers
from sklearn.model_selection import GridSearchCV

from elang_sk import JointClassifier
from elang_sk.datasets import fetch_pretrained_model, fetch_uci_sentences
from elang_sk.hf._transformers import TransformerClassifier
from elang_sk.metrics import make_tradeoff_scorer


class ForwardCounter:
    """Counts the inputs that reach a torch module's forward."""

    def __init__(self, module):
        self.rows = 0
        module.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs, output):
        inputs = args[0] if args else kwargs.get("input_ids")
        self.rows += inputs.shape[0]


def tiny_models():
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted({w for t in fetch_uci_sentences().data for w in t.lower().split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words[:3000]]
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "vocab.txt"), "w") as fh:
        fh.write("\n".join(vocab))
    tokenizer = BertTokenizerFast(os.path.join(folder, "vocab.txt"))
    out = []
    for seed, layers in ((0, 1), (1, 4)):
        torch.manual_seed(seed)
        config = BertConfig(
            vocab_size=len(vocab),
            hidden_size=64,
            num_hidden_layers=layers,
            num_attention_heads=2,
            intermediate_size=128,
        )
        out.append((BertModel(config).eval(), tokenizer))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="random tiny models")
    parser.add_argument("--output", default="benchmarks/results")
    args = parser.parse_args()

    train = fetch_uci_sentences(subset="train")
    dev = fetch_uci_sentences(subset="dev")
    if args.tiny:
        (swift_model, tok), (super_model, _) = tiny_models()
        models = "random tiny BERTs (1 and 4 layers, hidden 64)"
        swift = TransformerClassifier(swift_model, tok, progress=False)
        super_ = TransformerClassifier(super_model, tok, progress=False)
    else:
        models = "all-MiniLM-L6-v2 (Swift), all-mpnet-base-v2 (Super)"
        swift = TransformerClassifier(
            fetch_pretrained_model("all-MiniLM-L6-v2"), progress=False
        )
        super_ = TransformerClassifier(
            fetch_pretrained_model("all-mpnet-base-v2"), progress=False
        )
    swift.fit(train.data, train.target)
    super_.fit(train.data, train.target)

    counters = {
        "swift": ForwardCounter(swift.model_),
        "super": ForwardCounter(super_.model_),
    }
    with tempfile.TemporaryDirectory() as memory:
        clf = JointClassifier(swift, super_, memory=memory)
        start = time.perf_counter()
        clf.fit(dev.data, dev.target)
        fit_seconds = time.perf_counter() - start
        fit_rows = {k: c.rows for k, c in counters.items()}

        grid = {
            "threshold": list(
                np.quantile(clf.calibration_.scores, np.linspace(0, 1, 20))
            )
        }
        search = GridSearchCV(clf, grid, cv=5, scoring=make_tradeoff_scorer(0.02))
        start = time.perf_counter()
        search.fit(dev.data, dev.target)
        search_seconds = time.perf_counter() - start
    total_rows = {k: c.rows for k, c in counters.items()}
    ratio = sum(total_rows.values()) / sum(fit_rows.values())

    result = {
        "benchmark": "gridsearch_forwards",
        "models": models,
        "dataset": f"uci_sentences dev ({len(dev.data)} inputs)",
        "grid": "20 thresholds x 5 folds + refit",
        "forward_rows_fit": fit_rows,
        "forward_rows_fit_plus_search": total_rows,
        "ratio": ratio,
        "target": "<= 1.1",
        "fit_seconds": fit_seconds,
        "search_seconds": search_seconds,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
    }
    print(json.dumps(result, indent=2))
    os.makedirs(args.output, exist_ok=True)
    name = "bench_gridsearch_forwards" + ("_tiny" if args.tiny else "") + ".json"
    with open(os.path.join(args.output, name), "w") as fh:
        json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
