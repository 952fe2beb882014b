"""
===================================================
Caching model outputs and grid-searching the router
===================================================

Every decision of a joint model -- the routing score, the threshold, its
strategy -- is a hyper-parameter, and a grid search refits the joint model
once per setting and fold. The Swift and the Super are pre-trained and never
refit; with ``memory=`` their outputs are cached *per input*, so the whole
search runs each model at most once on each distinct input.

This example uses fast scikit-learn models so that the timings show the
cache, not the models; with transformers the saving is minutes per fit.
"""

# %%
# A pre-trained pair and a cache folder
# -------------------------------------
import tempfile
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union

from elang_sk import JointClassifier, OutputCache
from elang_sk.datasets import fetch_uci_sentences

train, dev, test = (fetch_uci_sentences(subset=s) for s in ("train", "dev", "test"))
swift = make_pipeline(TfidfVectorizer(), LogisticRegression())
super_ = make_pipeline(
    make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    ),
    LogisticRegression(C=10, max_iter=2000),
)
swift.fit(train.data, train.target)
super_.fit(train.data, train.target)
cache = OutputCache(tempfile.mkdtemp(prefix="elang_cache_"))

# %%
# The second fit reads the cache
# ------------------------------
# The first fit runs both models on the 600 dev sentences and stores one
# output per sentence and model; the second reads them back.
for attempt in ("first", "second"):
    start = time.perf_counter()
    joint = JointClassifier(
        swift, super_, memory=cache, costs={"swift": 1, "super": 10}
    )
    joint.fit(dev.data, dev.target)
    print(f"{attempt} fit: {time.perf_counter() - start:.2f} s")
print(f"cache: {cache.size_bytes() / 1e3:.0f} kB in {cache.location}")

# %%
# A grid search over score and threshold
# --------------------------------------
# Plain accuracy would always prefer sending everything to the Super, so the
# search scores with :func:`~elang_sk.metrics.make_tradeoff_scorer`:
# accuracy minus ``cost_weight`` times the joint cost relative to the
# Super's (here 0.02: running the Super on everything is worth two accuracy
# points). The grid mixes routing scores and threshold strategies. Random
# routing is a baseline: it pays no Swift pass for the inputs it forwards,
# so it is cheap, but it forwards them blindly.
from sklearn.model_selection import GridSearchCV

from elang_sk import EnergyRouter, ThresholdSelector
from elang_sk.metrics import make_tradeoff_scorer

grid = {
    "router": [EnergyRouter(score_func=s) for s in ("energy", "softmax", "random")],
    "threshold": [
        "crossing",
        ThresholdSelector("swift_ratio", target=0.5),
        ThresholdSelector("match_super", tol=0.01),
    ],
}
search = GridSearchCV(joint, grid, scoring=make_tradeoff_scorer(cost_weight=0.02), cv=3)
start = time.perf_counter()
search.fit(dev.data, dev.target)
n_fits = len(search.cv_results_["params"]) * 3
print(f"{n_fits} fits in {time.perf_counter() - start:.1f} s")
ranks = np.argsort(search.cv_results_["rank_test_score"])
for i in ranks[:5]:
    params = search.cv_results_["params"][i]
    print(
        f"{search.cv_results_['mean_test_score'][i]:.4f}  "
        f"{params['router'].score_func:>8}  {params['threshold']}"
    )

# %%
# Every setting of the grid: its mean trade-off score over the three folds,
# and the spread of its score across the folds (one standard deviation).
import matplotlib.pyplot as plt

results = search.cv_results_
names = [
    f"{p['router'].score_func}, {getattr(p['threshold'], 'strategy', p['threshold'])}"
    for p in results["params"]
]
order = np.argsort(results["mean_test_score"])
fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
ax.errorbar(
    results["mean_test_score"][order],
    np.arange(order.size),
    xerr=results["std_test_score"][order],
    fmt="o",
    capsize=3,
)
ax.set_yticks(np.arange(order.size), [names[i] for i in order])
ax.set_xlabel("trade-off score (3-fold CV on dev, higher is better)")
ax.set_ylabel("router score, threshold")
ax.set_title("The grid search, setting by setting")
plt.show()

# %%
# The best setting on test, against the paper's default
# -----------------------------------------------------
# The search is only as good as its score and its data: three folds of 600
# dev sentences separate these settings by fractions of a point, so check
# the winner on test against the default (energy, crossing).
from sklearn.base import clone

default = clone(joint).set_params(router=None, threshold="crossing")
default.fit(dev.data, dev.target)
for name, model in [
    ("best of the search", search.best_estimator_),
    ("default", default),
]:
    report = model.routing_report(test.data, test.target)
    print(
        f"{name:>18}: test accuracy {report.accuracy:.3f}, Swift keeps "
        f"{report.swift_ratio:.0%}, {report.speedup:.2f}x cheaper than the Super"
    )

# %%
# Where the cache lives
# ---------------------
# ``memory`` accepts a folder name, a :class:`joblib.Memory` or an
# :class:`~elang_sk.OutputCache`. Entries are keyed by a fingerprint of the
# fitted model and of each input, so a refit model or a changed input is
# never served a stale output. ``clear()`` empties it.
cache.clear()
print(f"after clear: {cache.size_bytes()} bytes")
