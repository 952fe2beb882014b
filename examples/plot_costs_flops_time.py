"""
==========================================
Costs: counted FLOPs against measured time
==========================================

E-LANG's saving is reported as a ratio of costs (the paper's eq. 17): the
Super's cost per input over the joint model's. Two units are available for
transformers:

``costs="flops"``
    floating-point operations of each model's forward pass on each input,
    counted by torch (:class:`torch.utils.flop_counter.FlopCounterMode`) for
    the input's real token count. Exact, the same on every machine, and
    blind to what the hardware does with them.
``costs="time"``
    compute seconds per input, measured while the models run. What a user
    waits for on *this* machine, but noisy, and dependent on batch size,
    threads and other load.

This example computes both for the encoder pair of
:ref:`sphx_glr_auto_examples_plot_real_pair.py` on 300 dev and 300 test
sentences. They are the same sentences as there, so every feature comes from
the cache in the data home; the time costs are the ones measured when the
features were first computed (a cache hit keeps its first measurement).
"""

# %%
# The pair, read from the cache
# -----------------------------
import os

import matplotlib.pyplot as plt
import numpy as np

from elang_sk import JointClassifier, TradeoffDisplay, TransformerClassifier
from elang_sk.datasets import fetch_pretrained_model, fetch_uci_sentences, get_data_home

n = {"train": 600, "dev": 300, "test": 300}
splits = {name: fetch_uci_sentences(subset=name) for name in n}
X = {name: list(splits[name].data[:k]) for name, k in n.items()}
y = {name: np.asarray(splits[name].target[:k]) for name, k in n.items()}
cache = os.path.join(get_data_home(), "cache")
common = dict(task="encoder", memory=cache, max_length=64, progress=False)
swift = TransformerClassifier(fetch_pretrained_model("all-MiniLM-L6-v2"), **common)
super_ = TransformerClassifier(fetch_pretrained_model("all-mpnet-base-v2"), **common)
swift.fit(X["train"], y["train"])
super_.fit(X["train"], y["train"])

# %%
# One joint model per unit
# ------------------------
# The routing and the threshold do not depend on the unit (except with
# ``"budget"``): only the accounting does.
reports, joints = {}, {}
for unit in ("flops", "time"):
    joints[unit] = JointClassifier(swift, super_, costs=unit, memory=cache)
    joints[unit].fit(X["dev"], y["dev"])
    reports[unit] = joints[unit].routing_report(X["test"], y["test"])
for unit, report in reports.items():
    print(
        f"{unit:>5}: Swift {report.swift_cost_per_input:.4g} and Super "
        f"{report.super_cost_per_input:.4g} {report.cost_unit} per input; "
        f"joint {report.cost_per_input:.4g}; speed-up {report.speedup:.2f}x "
        f"(Swift keeps {report.swift_ratio:.0%})"
    )
ratio = {u: r.super_cost_per_input / r.swift_cost_per_input for u, r in reports.items()}
print(
    f"the Super costs {ratio['flops']:.1f}x the Swift in FLOPs and "
    f"{ratio['time']:.1f}x in time on this machine"
)

# %%
# Side by side
# ------------
# Same curve shape, different x axes: FLOPs shown in GFLOPs, seconds in ms.
# On a CPU, time tracks FLOPs closely for encoders of this size; on a GPU,
# small batches leave the device underused and the time ratio shrinks.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
for ax, unit in zip(axes, ("flops", "time"), strict=True):
    display = TradeoffDisplay.from_estimator(
        joints[unit], X["test"], y["test"], scores=["energy", "random"], ax=ax
    )
    ax.set_title(f'costs="{unit}"')
    ax.get_legend().remove()  # the two legends are the same: one, under both
fig.legend(
    *axes[0].get_legend_handles_labels(),
    loc="outside lower center",
    ncols=5,
    fontsize="small",
)
plt.show()
