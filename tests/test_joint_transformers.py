"""JointClassifier with TransformerClassifier Swift and Super models."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_transformers import (
    LABEL_WORDS,
    X_TRAIN,
    Y_TRAIN,
    make_bert,
    make_t5,
    make_tokenizer,
)

from elang_sk import EnergyRouter, JointClassifier
from elang_sk.hf._transformers import TransformerClassifier

X_DEV = X_TRAIN * 4
Y_DEV = Y_TRAIN * 4


def _encoder_classifier(seed, memory=None):
    return TransformerClassifier(
        make_bert(seed), make_tokenizer("bert"), memory=memory, progress=False
    ).fit(X_TRAIN, Y_TRAIN)


class _ForwardCounter:
    """Counts the inputs that reach a torch module's forward."""

    def __init__(self, module):
        self.rows = 0
        module.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs, output):
        inputs = (
            args[0]
            if args
            else next(
                v
                for k, v in kwargs.items()
                if k in ("input_ids", "inputs_embeds") and v is not None
            )
        )
        self.rows += inputs.shape[0]


def test_encoder_classifiers_route_on_their_own_logits():
    """Transformers Swift/Super: logits from predict_logits, costs in FLOPs."""
    swift, super_ = _encoder_classifier(0), _encoder_classifier(1)
    clf = JointClassifier(swift, super_, threshold="match_super").fit(X_DEV, Y_DEV)
    assert clf.routing_method_ == "predict_logits"
    assert clf.costs_.unit == "FLOPs"
    assert clf.costs_.router == clf.costs_.swift > 0
    report = clf.routing_report(X_TRAIN, Y_TRAIN)
    kept = report.served_by == "swift"
    expected = np.where(kept, swift.predict(X_TRAIN), super_.predict(X_TRAIN))
    np.testing.assert_array_equal(report.y_pred, expected)
    flops = np.where(
        kept, swift.estimate_flops(X_TRAIN), super_.estimate_flops(X_TRAIN)
    )
    # Routed inputs pay for the Swift that scored them, then for the Super.
    flops = flops + np.where(kept, 0, swift.estimate_flops(X_TRAIN))
    assert report.cost_per_input == pytest.approx(flops.mean())


def test_swift_runs_once_per_input_when_serving():
    """The forward pass that scores an input also answers it."""
    swift, super_ = _encoder_classifier(0), _encoder_classifier(1)
    clf = JointClassifier(swift, super_, threshold=-np.inf).fit(X_DEV, Y_DEV)
    counter = _ForwardCounter(swift.model_)
    clf.predict(X_TRAIN)
    assert counter.rows == len(X_TRAIN)
    np.testing.assert_allclose(
        clf.predict_proba(X_TRAIN), swift.predict_proba(X_TRAIN), atol=1e-6
    )


def test_t5_swift_routes_with_an_energy_head_on_its_encoder():
    """For a T5-like Swift the energy head reads the frozen encoder only (eq. 8)
    and inputs sent to the Super are never decoded by the Swift."""
    tokenizer = make_tokenizer("t5")
    swift = TransformerClassifier(
        make_t5(0), tokenizer, label_words=LABEL_WORDS, progress=False
    ).fit(X_TRAIN, Y_TRAIN)
    super_ = TransformerClassifier(
        make_t5(1), tokenizer, label_words=LABEL_WORDS, progress=False
    ).fit(X_TRAIN, Y_TRAIN)
    clf = JointClassifier(swift, super_, router=EnergyRouter(head=True), cv=2)
    clf.fit(X_DEV, Y_DEV)
    assert clf.routing_method_ == "features"
    assert clf.costs_.router < clf.costs_.swift
    decoded = _ForwardCounter(swift.model_.get_decoder())
    clf.set_params(threshold=np.inf)  # everything to the Super
    clf.predict(X_TRAIN)
    assert decoded.rows == 0


def test_gridsearch_over_transformers_reuses_the_cache(tmp_path):
    """With memory, a threshold grid search adds no model forward passes."""
    from sklearn.model_selection import GridSearchCV

    from elang_sk.metrics import make_tradeoff_scorer

    swift, super_ = _encoder_classifier(0), _encoder_classifier(1)
    clf = JointClassifier(swift, super_, memory=tmp_path).fit(X_DEV, Y_DEV)
    swift_rows, super_rows = (
        _ForwardCounter(swift.model_),
        _ForwardCounter(super_.model_),
    )
    grid = {"threshold": list(np.linspace(-2, 2, 20))}
    GridSearchCV(clf, grid, cv=3, scoring=make_tradeoff_scorer(0.01)).fit(X_DEV, Y_DEV)
    assert swift_rows.rows == 0 and super_rows.rows == 0
