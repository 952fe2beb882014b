"""The bad-input matrix: every public entry point x every class of bad input.

Each cell must give a clear error that names the problem, never a silently
wrong answer. The model-specific matrices live beside their models
(``test_transformers.py``, ``test_seq2seq.py``, ``test_datasets.py``) and the
cache faults in ``test_cache_faults.py``; this one covers the joint classifier,
the router, the threshold selector, the scores and the metrics.
"""

import numpy as np
import pandas as pd
import pytest
import sklearn.base
from sklearn.utils._param_validation import InvalidParameterError

from elang_sk import (
    EnergyRouter,
    EnergyScore,
    EntropyScore,
    JointClassifier,
    SoftmaxScore,
    ThresholdSelector,
)
from elang_sk.metrics import joint_cost, tradeoff_curve

SERVING = [
    "predict",
    "predict_proba",
    "routing_scores",
    "served_by",
    "routing_report",
    "routing_details",
    "cost_per_input",
]

BAD_X = {
    "single string": ("a review", TypeError, "single string"),
    "dict": ({"text": "a review"}, TypeError, "dict"),
    "DataFrame of texts": (
        pd.DataFrame({"text": ["a", "b"], "other": ["c", "d"]}),
        TypeError,
        "DataFrame",
    ),
    "iterator": (iter(["a", "b"]), TypeError, "sequence of inputs"),
    "empty": ([], ValueError, "X is empty"),
    "number among texts": (["fine", 3.5], TypeError, r"X\[1\] is 3.5"),
    "None among texts": (["fine", None], TypeError, r"X\[1\] is None"),
    "lone surrogate": (["fine", "bad \ud800"], ValueError, r"X\[1\].*surrogate"),
}


@pytest.fixture(scope="module")
def fitted(texts, text_models):
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    return JointClassifier(swift, super_).fit(X_dev, y_dev)


@pytest.mark.parametrize("case", sorted(BAD_X))
@pytest.mark.parametrize("method", ["fit", *SERVING])
def test_bad_inputs_of_the_joint_classifier(fitted, text_models, case, method):
    """Every entry point of JointClassifier refuses every bad X by name."""
    X, error, match = BAD_X[case]
    if isinstance(X, type(iter([]))):
        X = iter(["a", "b"])  # a fresh iterator per cell
    if method == "fit":
        with pytest.raises(error, match=match):
            JointClassifier(*text_models).fit(X, ["positive"] * 2)
    else:
        with pytest.raises(error, match=match):
            getattr(fitted, method)(X)


@pytest.mark.parametrize(
    "y, error, match",
    [
        ("short", ValueError, "different lengths: 450 inputs and 449"),
        ("continuous", ValueError, "Unknown label type"),
        ("unseen", ValueError, "labels .* that no sub-model"),
    ],
)
def test_bad_labels_of_the_joint_classifier(texts, text_models, y, error, match):
    """Missing, short, continuous and unseen labels are refused in fit and report."""
    _, (X_dev, y_dev), _ = texts
    bad = {
        "short": y_dev[:-1],
        "continuous": np.linspace(0, 1, len(y_dev)),
        "unseen": np.where(np.arange(len(y_dev)) == 0, "sarcastic", y_dev),
    }[y]
    with pytest.raises(error, match=match):
        JointClassifier(*text_models).fit(X_dev, bad)


def test_missing_labels_calibrate_on_the_super_or_are_refused(texts, text_models):
    """y=None calibrates pre-trained models on the Super's answers; unfitted
    models cannot be trained without labels and say so."""
    _, (X_dev, _), _ = texts
    joint = JointClassifier(*text_models).fit(X_dev)
    assert joint.calibrated_on_ == "last_stage"
    unfitted = sklearn.base.clone(text_models[0])
    with pytest.raises(ValueError, match="requires y to be passed"):
        JointClassifier(unfitted, text_models[1]).fit(X_dev)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"threshold": np.nan}, ValueError, "threshold"),
        ({"threshold": True}, ValueError, "not a routing threshold"),
        ({"threshold": "nope"}, InvalidParameterError, "threshold"),
        (
            {"threshold": ThresholdSelector("budget")},
            ValueError,
            "needs a target",
        ),
        (
            {"threshold": ThresholdSelector("swift_ratio", target=1.5)},
            ValueError,
            "fraction",
        ),
        ({"costs": {"swift": 1.0}}, ValueError, "needs one cost per stage"),
        ({"costs": {"swift": 1.0, "super": np.inf}}, ValueError, "finite"),
        ({"costs": {"swift": True, "super": 2.0}}, ValueError, "non-negative number"),
        ({"costs": "flops"}, ValueError, "estimate_flops"),
        ({"memory": 3}, InvalidParameterError, "memory"),
        ({"router": "energies"}, InvalidParameterError, "router"),
        ({"calibration_size": 0.0}, InvalidParameterError, "calibration_size"),
    ],
)
def test_bad_parameters_fail_in_fit(texts, text_models, params, error, match):
    """Bad parameters fail in fit, before any model runs, with their name."""
    _, (X_dev, y_dev), _ = texts
    with pytest.raises(error, match=match):
        JointClassifier(*text_models, **params).fit(X_dev, y_dev)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("head", [False, True])
def test_router_refuses_non_finite_inputs(value, head):
    """NaN/inf logits or features fail in fit and in score_samples."""
    X = np.array([[1.0, 2.0], [0.5, value], [2.0, 1.0], [0.0, 1.0]])
    y = np.array([0, 1, 0, 1]) if head else None
    with pytest.raises(ValueError, match="NaN or infinite values in 1 row"):
        EnergyRouter(head=head).fit(X, y)
    good = np.array([[1.0, 2.0], [0.5, 1.0], [2.0, 1.0], [0.0, 1.0]])
    router = EnergyRouter(head=head).fit(good, y)
    with pytest.raises(ValueError, match="check the Swift model"):
        router.score_samples(X)


def test_router_head_needs_labels_and_two_classes():
    """An energy head without y, or with one class, is refused by name."""
    X = np.eye(4)
    with pytest.raises(ValueError, match="requires y to be passed"):
        EnergyRouter(head=True).fit(X)
    with pytest.raises(ValueError, match="at least two classes"):
        EnergyRouter(head=True).fit(X, [1, 1, 1, 1])


@pytest.mark.parametrize("score", [EnergyScore(), SoftmaxScore(), EntropyScore()])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_scores_refuse_non_finite_logits(score, value):
    """Every logit-based score refuses NaN/inf logits."""
    with pytest.raises(ValueError, match="NaN|inf"):
        score(np.array([[0.0, value], [1.0, 2.0]]))


@pytest.mark.parametrize(
    "scores, correct, match",
    [
        ([0.1, np.nan, 0.3], [True, False, True], "NaN"),
        ([0.1, np.inf, 0.3], [True, False, True], "inf"),
        ([0.1, 0.2, 0.3], [2.0, 0.0, 1.0], "0/1|boolean|\\[0, 1\\]"),
        ([0.1, 0.2, 0.3], ["yes", "no", "yes"], "0/1|boolean"),
        ([0.1, 0.2], [True, False, True], "3 values but there are 2"),
    ],
)
def test_selector_and_curve_refuse_bad_scores(scores, correct, match):
    """ThresholdSelector.select and tradeoff_curve refuse NaN/inf and non-0/1."""
    with pytest.raises(ValueError, match=match):
        ThresholdSelector().select(scores, correct)
    with pytest.raises(ValueError, match=match):
        tradeoff_curve(scores, correct, [True, True, True][: len(correct)])


def test_selector_grid_size_is_a_bounded_integer():
    """n_grid=1e9 would allocate hundreds of GiB: it is refused."""
    for n_grid in (1e9, 1024.0, 2**20):
        with pytest.raises(InvalidParameterError, match="n_grid"):
            ThresholdSelector(n_grid=n_grid).select([0.0, 1.0], [True, False])


def test_joint_cost_refuses_non_binary_routing():
    """kept must say keep or route for each input."""
    with pytest.raises(ValueError, match="kept"):
        joint_cost([0.5, 1.0], 1.0, 2.0)
