"""
=====================
Running on a GPU
=====================

This page is built on a machine without a GPU, so it only prints what it
finds; the advice below holds for any CUDA device.

* ``TransformerClassifier(..., device="auto")`` (the default) runs on the
  first CUDA device when torch sees one, on the CPU otherwise; any torch
  device can be named (``"cuda:1"``). ``elang-sk run --device cuda`` does the
  same for the command.
* ``dtype="float16"`` or ``"bfloat16"`` halves memory and speeds up recent
  GPUs; on a CPU they are refused with a clear error.
* ``batch_size`` matters more on a GPU than on a CPU: inputs are sorted by
  length and padded per batch, and larger batches keep the device busy. A
  CUDA out-of-memory error halves the batch and the run goes on.
* A Swift and a Super can share one GPU. The joint model runs the Swift on
  every input first, then the Super once on the forwarded inputs, so the
  Super sees one large batch instead of many small ones.
* Report costs in FLOPs (``costs="flops"``) to compare across machines; use
  ``costs="time"`` to account in seconds on the device actually used. On a
  GPU the time ratio between a small and a large model is usually smaller
  than the FLOPs ratio, because the small model leaves the device underused.
"""

# %%
# What this machine offers
# ------------------------
import torch

from elang_sk import TransformerClassifier

print("CUDA available:", torch.cuda.is_available())
print("torch threads on the CPU:", torch.get_num_threads())
clf = TransformerClassifier("all-MiniLM-L6-v2", device="auto", dtype="auto")
print(clf)  # the device is resolved when the model is loaded, in fit

# sphinx_gallery_thumbnail_path = "_static/thumbnails/gpu_note.png"
