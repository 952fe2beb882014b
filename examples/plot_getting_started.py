"""
======================================================
Getting started: from two classifiers to a saved model
======================================================

The shortest complete path through elang_sk, on real review sentences (the
UCI "sentiment labelled sentences"): two fitted text classifiers, a joint
model calibrated on held-out data, an operating point chosen with a promise,
a plot of the trade-off, the serving-time knob, and a folder saved without
pickle and loaded back. Every line runs as it is; the costs are measured
compute seconds, so the speed-ups printed here change a little from run to
run and from machine to machine. Two TF-IDF models cost about the same, so
routing saves no time here: in the plot below the joint model costs *more*
than the Super alone, since every input pays for the Swift and its energy
head first. Routing pays when the Super is much larger than the Swift, as
with the transformers pair of ``elang-sk run`` (1.7x fewer FLOPs).
"""

# %%
# The data and two models
# -----------------------
# Every dataset of :mod:`elang_sk.datasets` has a fixed train/dev/test
# split. The Swift and the Super are ordinary scikit-learn pipelines, trained
# on the train split; once fitted, the joint model uses them as they are.
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from elang_sk.datasets import fetch_uci_sentences

train, dev, test = (fetch_uci_sentences(subset=s) for s in ("train", "dev", "test"))
swift = make_pipeline(TfidfVectorizer(), LogisticRegression())
super_ = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(C=10))
swift.fit(train.data, train.target)
super_.fit(train.data, train.target)
print(
    f"Swift {swift.score(test.data, test.target):.3f}, "
    f"Super {super_.score(test.data, test.target):.3f} accuracy on test"
)

# %%
# A joint model, calibrated on dev
# --------------------------------
# ``fit`` trains nothing that was given fitted: it calibrates the router (an
# energy head on the Swift's TF-IDF features) and chooses the threshold on
# the dev split, here the crossing point of the score densities.
from elang_sk import JointClassifier

joint = JointClassifier(swift, super_).fit(dev.data, dev.target)
report = joint.routing_report(test.data, test.target)
print(
    f"threshold {joint.threshold_:.3f}: accuracy {report.accuracy:.3f}, "
    f"{report.swift_ratio:.0%} kept by the Swift"
)

# %%
# An operating point with a promise
# ---------------------------------
# ``"risk_control"`` chooses the cheapest threshold certified to lose at most
# ``tol`` of the Super's accuracy, with probability ``1 - delta`` over the
# calibration sample. The promise holds for inputs like the dev split.
from elang_sk import ThresholdSelector

certified = JointClassifier(
    swift, super_, threshold=ThresholdSelector("risk_control", tol=0.02, delta=0.1)
).fit(dev.data, dev.target)
selection = certified.threshold_selection_
print(f"certified: {selection.certified}, threshold {certified.threshold_:.3f}")
print(
    f"accuracy on test {certified.score(test.data, test.target):.3f} "
    f"(Super {super_.score(test.data, test.target):.3f})"
)

# %%
# The trade-off, in one plot
# --------------------------
# Every threshold at once: accuracy against cost on the test split, for the
# energy score and the baselines.
import matplotlib.pyplot as plt

from elang_sk import TradeoffDisplay

display = TradeoffDisplay.from_estimator(joint, test.data, test.target)
plt.show()

# %%
# The serving-time knob
# ---------------------
# The threshold is read at prediction time: a new value takes effect at once,
# without refitting. A higher threshold sends more inputs to the Super.
for threshold in (joint.threshold_ - 1.0, joint.threshold_, joint.threshold_ + 1.0):
    joint.set_params(threshold=threshold)
    r = joint.routing_report(test.data, test.target)
    print(
        f"threshold {threshold:6.3f}: accuracy {r.accuracy:.3f}, "
        f"Swift ratio {r.swift_ratio:.2f}"
    )
joint.set_params(threshold="crossing")  # back to the calibrated point

# %%
# Serving stage by stage
# ----------------------
# ``route_stage`` runs one stage on a batch: its scores, the rows it keeps,
# its answers on them. The rows it does not keep are the next stage's batch.
batch = test.data[:8]
step = joint.route_stage(batch, 0)
rest = [text for text, kept in zip(batch, step.keep, strict=True) if not kept]
print("kept by the Swift:", int(step.keep.sum()), "of", len(batch))
if rest:
    print("the Super answers the rest:", joint.route_stage(rest, 1).answers)

# %%
# Save, load, predict
# -------------------
# A folder of JSON, safetensors and skops files with a SHA-256 manifest; no
# pickle. The loaded model predicts exactly what the saved one did.
import tempfile

from elang_sk import load_joint, save_joint

folder = save_joint(certified, tempfile.mkdtemp() + "/joint")
loaded = load_joint(folder)
same = (loaded.predict(test.data) == certified.predict(test.data)).all()
print(sorted(p.name for p in folder.iterdir()), same)
