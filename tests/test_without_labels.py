"""Calibration without labels: against the last stage's own answers.

``fit(X)`` with no ``y`` makes every strategy speak of agreement with the
Super (the last stage). The promise of ``"risk_control"`` is then "the joint
model disagrees with the Super on at most ``tol`` of the inputs, with
probability ``1 - delta``", which bounds the accuracy lost too. Both are
checked on labelled data the threshold was not chosen on.
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from elang_sk import (
    CascadeClassifier,
    JointClassifier,
    ThresholdSelector,
    load_joint,
    save_joint,
)

X, y = make_classification(
    n_samples=6000,
    n_features=12,
    n_informative=6,
    n_classes=3,
    n_clusters_per_class=1,
    flip_y=0.05,
    random_state=3,
)
X_train, y_train, X_pool, y_pool = X[:1500], y[:1500], X[1500:], y[1500:]
SUPER = RandomForestClassifier(n_estimators=60, random_state=0).fit(X_train, y_train)


def swift():
    """A Swift that reads only the first six features (weaker than the Super)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(
        ColumnTransformer([("first", "passthrough", list(range(6)))]),
        LogisticRegression(C=0.05),
    )
    return pipe.fit(X_train, y_train)


SWIFT = swift()


def test_fit_without_y_calibrates_on_the_super():
    joint = JointClassifier(SWIFT, SUPER, router="softmax").fit(X_pool[:800])
    assert joint.calibrated_on_ == "last_stage"
    cal = joint.calibration_
    np.testing.assert_array_equal(cal.super_quality, 1.0)
    agrees = SWIFT.predict(X_pool[:800]) == SUPER.predict(X_pool[:800])
    np.testing.assert_array_equal(cal.swift_right, agrees)
    labelled = JointClassifier(SWIFT, SUPER, router="softmax").fit(
        X_pool[:800], y_pool[:800]
    )
    assert labelled.calibrated_on_ == "labels"


def test_unfitted_models_need_labels():
    joint = JointClassifier(LogisticRegression(), SUPER)
    with pytest.raises(ValueError, match="requires y to be passed.*pre-trained"):
        joint.fit(X_pool[:200])


def test_cascade_agrees_with_its_last_stage(tmp_path):
    middle = LogisticRegression(C=1.0).fit(X_train, y_train)
    cascade = CascadeClassifier(
        [("swift", SWIFT), ("middle", middle), ("super", SUPER)], routers="softmax"
    ).fit(X_pool[:600])
    assert cascade.calibrated_on_ == "last_stage"
    assert cascade.calibration_.stage_right[-1].all()
    loaded = load_joint(
        save_joint(cascade, tmp_path / "m"), trusted=["sklearn.tree._tree.Tree"]
    )
    assert loaded.calibrated_on_ == "last_stage"
    np.testing.assert_array_equal(loaded.predict(X_pool), cascade.predict(X_pool))


@pytest.mark.parametrize("tol", [0.02, 0.05])
def test_the_promise_holds_on_data_it_was_not_chosen_on(tol):
    """Over resplits of a labelled pool, the certified disagreement and the
    implied accuracy loss exceed ``tol`` on the held-out half at most about
    ``delta`` of the time, and the Swift serves a real share of inputs."""
    delta, n_splits = 0.1, 40
    rng = np.random.default_rng(0)
    super_pred = SUPER.predict(X_pool)
    super_right = super_pred == y_pool
    disagree_violations = accuracy_violations = 0
    kept = []
    for _ in range(n_splits):
        order = rng.permutation(len(X_pool))
        cal, test = order[:1500], order[1500:]
        joint = JointClassifier(
            SWIFT,
            SUPER,
            router="softmax",
            threshold=ThresholdSelector("risk_control", tol=tol, delta=delta),
        ).fit(X_pool[cal])
        pred = joint.predict(X_pool[test])
        disagree_violations += np.mean(pred != super_pred[test]) > tol
        loss = super_right[test].mean() - np.mean(pred == y_pool[test])
        accuracy_violations += loss > tol
        kept.append(np.mean(joint.served_by(X_pool[test]) == "swift"))
    slack = 3 * np.sqrt(delta * (1 - delta) / n_splits)
    assert disagree_violations / n_splits <= delta + slack
    # The accuracy promise follows from the agreement one (never more often).
    assert accuracy_violations <= disagree_violations
    assert np.mean(kept) > 0.1  # something was certified: the Swift serves
