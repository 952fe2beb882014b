"""
=========================================
Choosing the threshold: five strategies
=========================================

The threshold is E-LANG's one knob: inputs whose routing score is at least
the threshold keep the Swift's answer, the others go to the Super. A
:class:`~elang_sk.ThresholdSelector` chooses it from held-out (dev) inputs,
with one of five strategies:

``"crossing"``
    the paper's rule: where the score density of the inputs the Swift gets
    right overtakes that of the inputs it gets wrong;
``"swift_ratio"``
    keep a fixed share of the inputs with the Swift (``target``);
``"budget"``
    the most accurate threshold whose mean cost per input fits ``target``;
``"match_super"``
    the cheapest threshold whose accuracy is the Super's, minus ``tol``;
``"risk_control"``
    a *guarantee*: with probability at least ``1 - delta`` over the
    calibration sample, the joint model loses at most ``tol`` accuracy
    against the Super on new inputs from the same distribution.

This example fits one joint model on review sentences and compares the five
choices on the test split. The two models are fast scikit-learn pipelines, so
the example runs in seconds; costs are given as relative units (Swift 1,
Super 10) so that the budget is easy to read.
"""

# %%
# Two models and a joint model
# ----------------------------
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union

from elang_sk import JointClassifier, ThresholdSelector
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
costs = {"swift": 1.0, "super": 10.0}

# %%
# Each strategy, fitted on dev, measured on test
# ----------------------------------------------
# ``threshold`` is a parameter of the joint model: refitting with another
# selector only reruns the choice (the models are not refit; pass
# ``memory=`` to also skip their forward passes).
selectors = {
    "crossing": ThresholdSelector("crossing"),
    "swift_ratio 0.6": ThresholdSelector("swift_ratio", target=0.6),
    "budget 4": ThresholdSelector("budget", target=4.0),
    "match_super": ThresholdSelector("match_super", tol=0.0),
    "risk_control 2pt": ThresholdSelector("risk_control", tol=0.02, delta=0.1),
}
results = {}
for name, selector in selectors.items():
    joint = JointClassifier(swift, super_, threshold=selector, costs=costs)
    joint.fit(dev.data, dev.target)
    report = joint.routing_report(test.data, test.target)
    results[name] = report
    print(
        f"{name:>17}: t = {joint.threshold_:7.3f}  accuracy {report.accuracy:.3f}  "
        f"Swift keeps {report.swift_ratio:4.0%}  cost {report.cost_per_input:5.2f}"
    )
print(
    f"{'Swift alone':>17}: accuracy {swift.score(test.data, test.target):.3f}, "
    f"cost 1\n{'Super alone':>17}: accuracy "
    f"{super_.score(test.data, test.target):.3f}, cost 10 (+1 for the Swift "
    "in a joint model)"
)

# %%
# Where the choices fall on the trade-off curve
# ---------------------------------------------
# The curve sweeps every threshold on test; each strategy's choice, made on
# dev, is one point of it.
import matplotlib.pyplot as plt

from elang_sk import TradeoffDisplay

display = TradeoffDisplay.from_estimator(
    joint, test.data, test.target, scores=["energy"]
)
for name, report in results.items():
    display.ax_.plot(
        report.cost_per_input,
        report.accuracy,
        marker="o",
        linestyle="none",
        label=name,
    )
# One legend for the curve and the five choices, under the axes, where it
# covers no point.
display.ax_.get_legend().remove()
display.figure_.legend(loc="outside lower center", ncols=3, fontsize="small")
display.ax_.set_title("Five threshold strategies, chosen on dev, shown on test")
plt.show()

# %%
# Reading the guarantee
# ---------------------
# ``"risk_control"`` certifies its threshold: the selection says which
# threshold was certified and with which bound. The promise is about the
# *expected* accuracy loss against the Super on new inputs, at confidence
# ``1 - delta``; on one finite test split the measured loss can still
# exceed ``tol`` by chance, rarely.
selection = joint.threshold_selection_
print({k: v for k, v in selection.items() if k not in ("curve", "densities")})
loss = (
    np.mean(super_.predict(test.data) == test.target)
    - results["risk_control 2pt"].accuracy
)
print(f"measured accuracy loss against the Super on test: {loss:+.3f}")
