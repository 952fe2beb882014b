"""
=====================================================
Sequence to sequence: routing translations (tiny T5)
=====================================================

E-LANG also routes generation: the Swift translates every sentence, an
*energy head* on the Swift's encoder scores how sure it is, and the
sentences below the threshold are translated again by the Super
(:class:`~elang_sk.JointSeq2Seq`).

**Be warned: the models here are tiny and barely translate.** To run in a
couple of minutes on a CPU, both are T5 models built from a configuration and
trained from scratch for about a minute on English-Romanian software messages
(:func:`~elang_sk.datasets.fetch_en_ro`, read from the gettext catalogs of
the machine). They learn the frequent short messages and little else, so the
numbers below show the machinery -- the energy head, the threshold, the
chrF and cost accounting -- and not what E-LANG does with real translation
models. With pretrained T5 checkpoints, pass their names or folders as
``swift_model`` and ``super_model`` instead, and drop the training.
"""

# %%
# The data: short English-Romanian pairs
# --------------------------------------
import time

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from tokenizers.trainers import BpeTrainer
from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

from elang_sk.datasets import fetch_en_ro

# Tiny models train as fast on one thread, and a busy machine does not slow
# them down by oversubscription.
torch.set_num_threads(1)
torch.manual_seed(0)
splits = {s: fetch_en_ro(subset=s) for s in ("train", "dev", "test")}


def short_pairs(split, n):
    """The first ``n`` pairs of at most six English words."""
    pairs = [
        (x, y)
        for x, y in zip(split.data, split.target, strict=True)
        if len(x.split()) <= 6
    ]
    return [x for x, _ in pairs[:n]], [y for _, y in pairs[:n]]


X_train, Y_train = short_pairs(splits["train"], 3000)
X_dev, Y_dev = short_pairs(splits["dev"], 200)
X_test, Y_test = short_pairs(splits["test"], 200)
print(f"train {len(X_train)}, dev {len(X_dev)}, test {len(X_test)}")
print(X_test[0], "->", Y_test[0])

# %%
# A tokenizer and two T5 models from configurations
# --------------------------------------------------
# One BPE vocabulary for both languages; the Swift has 2 layers of width 64,
# the Super 3 layers of width 128.
backend = Tokenizer(models.BPE(unk_token="<unk>"))
backend.pre_tokenizer = pre_tokenizers.Metaspace()
backend.decoder = decoders.Metaspace()
backend.train_from_iterator(
    X_train + Y_train,
    BpeTrainer(vocab_size=2000, special_tokens=["<pad>", "</s>", "<unk>"]),
)
backend.post_processor = processors.TemplateProcessing(
    single="$A </s>", special_tokens=[("</s>", 1)]
)
tokenizer = PreTrainedTokenizerFast(
    tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
)


def make_t5(d_model, layers):
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_ff=2 * d_model,
        d_kv=16,
        num_layers=layers,
        num_heads=4,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5ForConditionalGeneration(config)


def train(model, steps, lr):
    """Teacher-forced cross-entropy on random batches of 32 pairs."""
    src = tokenizer(X_train, truncation=True, max_length=32)["input_ids"]
    tgt = tokenizer(text_target=Y_train, truncation=True, max_length=32)["input_ids"]
    pad = torch.nn.utils.rnn.pad_sequence
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    rng = np.random.default_rng(0)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        rows = rng.choice(len(src), 32, replace=False)
        ids = pad([torch.tensor(src[i]) for i in rows], batch_first=True)
        labels = pad(
            [torch.tensor(tgt[i]) for i in rows], batch_first=True, padding_value=-100
        )
        loss = model(input_ids=ids, attention_mask=ids != 0, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    print(f"{steps} steps in {seconds:.0f} s, last loss {loss.item():.2f}")
    return model.eval()


swift = train(make_t5(64, 2), steps=300, lr=3e-3)
super_ = train(make_t5(128, 3), steps=300, lr=1e-3)

# %%
# The joint model
# ---------------
# ``fit`` on dev translates with both models, trains the energy head on the
# Swift's encoder (cross-fitted), and picks the threshold. Quality is
# sentence chrF; costs are FLOPs counted with torch.
from elang_sk import JointSeq2Seq

joint = JointSeq2Seq(
    swift,
    super_,
    tokenizer=tokenizer,
    metric="chrf",
    costs="flops",
    cv=3,
    head_epochs=10,
    max_length=32,
    generation_kwargs={"max_new_tokens": 24},
)
joint.fit(X_dev, Y_dev)
report = joint.routing_report(X_test, Y_test)
print(
    f"chrF: joint {report.quality:.1f}; the Swift keeps {report.swift_ratio:.0%} "
    f"of the sentences; {report.speedup:.2f}x fewer FLOPs than the Super alone"
)
alone = {}
for threshold, name in [(-np.inf, "Swift alone"), (np.inf, "Super alone")]:
    alone[name] = joint.set_params(threshold=threshold).routing_report(X_test, Y_test)
    print(f"{name}: chrF {alone[name].quality:.1f}")

# %%
# Quality and cost
# ----------------
# The joint model next to the two models alone, on test: chrF, and FLOPs per
# sentence relative to the Super alone (the costs behind the speed-up printed
# above). Both axes start at zero.
import matplotlib.pyplot as plt

names = ["Swift alone", "joint", "Super alone"]
quality = [alone["Swift alone"].quality, report.quality, alone["Super alone"].quality]
cost = [
    report.swift_cost_per_input / report.super_cost_per_input,
    report.cost_per_input / report.super_cost_per_input,
    1.0,
]
fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 3.0), layout="constrained")
colors = ["tab:blue", "tab:green", "tab:red"]
left.bar(names, quality, color=colors)
left.set(ylabel="chrF on test (0-100)", title="Quality")
right.bar(names, cost, color=colors)
right.set(ylabel="FLOPs per sentence (Super = 1)", title="Cost")
for ax, values, fmt in ((left, quality, "%.1f"), (right, cost, "%.2f")):
    ax.bar_label(ax.containers[0], fmt=fmt, padding=2)
    ax.set_ylim(0, 1.25 * max(values))
    ax.tick_params(axis="x", labelsize="small")
plt.show()

# %%
# What these numbers say
# ----------------------
# With models this weak, expect the Swift and the Super to be about equally
# poor: then no score region marks inputs the Swift gets reliably right, the
# threshold keeps few sentences with the Swift, and the joint model can cost
# *more* than the Super alone (every sentence pays for a Swift pass). That
# is the honest outcome here, and the reason the paper pairs a small and a
# large *pretrained* T5.
#
# A few test sentences
# --------------------
joint.set_params(threshold=report.threshold)
served = joint.served_by(X_test[:5])
for x, y, out, who in zip(
    X_test[:5], Y_test[:5], joint.predict(X_test[:5]), served, strict=True
):
    print(f"{x!r} -> {str(out)!r} ({who}; reference {y!r})")
