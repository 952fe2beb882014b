"""E-LANG: energy-based joint inference of Super and Swift models.

A small, fast *Swift* model answers every input; its negative free energy says
how well the input fits what it knows, and inputs below a threshold are forwarded
to the large, accurate *Super* model.

Importing the package does not import torch or transformers: the estimators
that need them are loaded on first use.
"""

__version__ = "0.1.0.dev0"

from elang_sk._cache import OutputCache
from elang_sk._joint import JointClassifier
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
    "EnergyLogitsWarning",
    "EnergyRouter",
    "EnergyScore",
    "EntropyScore",
    "JointClassifier",
    "JointSeq2Seq",
    "OutputCache",
    "RandomScore",
    "ScoreDistributionDisplay",
    "SoftmaxScore",
    "ThresholdSelector",
    "TradeoffDisplay",
    "TransformerClassifier",
    "__version__",
    "get_score",
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
