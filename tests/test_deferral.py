"""DeferralRouter: the learned deferral score, alone and inside JointClassifier."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from elang_sk import (
    DeferralRouter,
    EnergyScore,
    EntropyScore,
    JointClassifier,
    SoftmaxScore,
    logit_statistics,
)
from elang_sk.routing._router import cross_fit_scores


def _margin_task(n=600, seed=0):
    """Logits whose deferral target is likelier at small margins."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3)) * rng.uniform(0.2, 4, size=(n, 1))
    top2 = np.sort(logits, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    target = (rng.random(n) < np.exp(-2 * margin)).astype(float)
    return logits, target


def _models():
    X, y = make_classification(
        n_samples=1500, n_informative=6, n_classes=3, random_state=0
    )
    swift = LogisticRegression().fit(X[:500], y[:500])
    big = RandomForestClassifier(n_estimators=30, random_state=0).fit(X[:500], y[:500])
    return swift, big, X, y


def test_logit_statistics_are_the_confidence_scores():
    """The four columns are max softmax, top-2 margin, energy and -entropy."""
    logits = np.array([[3.0, 1.0, 0.5], [0.2, 0.1, 0.0]])
    stats = logit_statistics(logits)
    np.testing.assert_allclose(stats[:, 0], SoftmaxScore()(logits))
    np.testing.assert_allclose(stats[:, 1], [2.0, 0.1])
    np.testing.assert_allclose(stats[:, 2], EnergyScore()(logits))
    np.testing.assert_allclose(stats[:, 3], EntropyScore()(logits))


def test_logit_statistics_refuses_one_column():
    """A single logit column has no margin: clear error."""
    with pytest.raises(ValueError, match="at least two classes"):
        logit_statistics(np.zeros((3, 1)))


def test_deferral_target_fixes_and_gain():
    """'fixes' marks Super-right-Swift-wrong; 'gain' is the paired difference."""
    swift = [True, False, True, False]
    super_ = [True, True, False, False]
    assert DeferralRouter().deferral_target(swift, super_).tolist() == [0, 1, 0, 0]
    assert DeferralRouter(target="gain").deferral_target(swift, super_).tolist() == [
        0,
        1,
        -1,
        0,
    ]


def test_router_learns_where_deferring_pays():
    """Scores rank held-out inputs by the target (low score = defer)."""
    logits, target = _margin_task(1200)
    router = DeferralRouter().fit(logits[:600], target[:600])
    auc = roc_auc_score(target[600:], -router.score_samples(logits[600:]))
    assert auc > 0.75
    gain = router.predict_gain(logits[600:])
    assert ((0 <= gain) & (gain <= 1)).all()


def test_gain_target_expected_value():
    """With {-1, 0, 1} targets the score is minus the expected gain."""
    logits, target = _margin_task()
    gain = target - (np.arange(target.size) % 5 == 0)
    router = DeferralRouter(target="gain").fit(logits, gain)
    proba = router.estimator_.predict_proba(logit_statistics(logits))
    np.testing.assert_allclose(router.score_samples(logits), -(proba @ [-1, 0, 1]))


def test_real_valued_target_is_regressed():
    """A real-valued target (quality differences) gets a regressor by default."""
    logits, _ = _margin_task()
    y = logits.max(axis=1) * 0.3
    router = DeferralRouter().fit(logits, y)
    assert type(router.estimator_[-1]).__name__ == "Ridge"
    custom = DeferralRouter(estimator=LinearRegression()).fit(logits, y)
    np.testing.assert_allclose(
        custom.score_samples(logits),
        -custom.estimator_.predict(logit_statistics(logits)),
    )


def test_constant_target_gives_constant_scores():
    """When deferring never pays, every input gets the same score."""
    logits, _ = _margin_task(50)
    router = DeferralRouter().fit(logits, np.zeros(50))
    assert router.estimator_ is None
    np.testing.assert_array_equal(router.score_samples(logits), np.zeros(50))


@pytest.mark.parametrize(
    "router, y, match",
    [
        (DeferralRouter(head=True), np.zeros(4), r"head=True\) is not supported"),
        (DeferralRouter(), None, "requires y to be passed"),
        (DeferralRouter(), ["a", "b", "a", "b"], "deferral target, a number"),
    ],
)
def test_fit_errors(router, y, match):
    """Bad settings and targets fail with a message saying what to do."""
    with pytest.raises(ValueError, match=match):
        router.fit(np.eye(4)[:, :2] + 0.1, y)


def test_non_finite_logits_and_mask_are_refused():
    """NaN logits and position masks get clear errors."""
    logits, target = _margin_task(40)
    router = DeferralRouter().fit(logits, target)
    bad = logits.copy()
    bad[3, 0] = np.nan
    message = r"input contains NaN or infinite values in 1 row\(s\) \(first: \[3\]\)"
    with pytest.raises(ValueError, match=message):
        router.score_samples(bad)
    with pytest.raises(ValueError, match="position mask is not supported"):
        router.score_samples(logits, mask=np.ones((40, 1), bool))


def test_cross_fit_scores_are_out_of_fold():
    """Each row's score comes from a router trained without it."""
    logits, target = _margin_task(300)
    cv = StratifiedKFold(3)
    scores = cross_fit_scores(DeferralRouter(), logits, target, cv)
    for train, test in cv.split(logits, target):
        fold = DeferralRouter().fit(logits[train], target[train])
        np.testing.assert_allclose(scores[test], fold.score_samples(logits[test]))
    in_sample = DeferralRouter().fit(logits, target).score_samples(logits)
    np.testing.assert_allclose(
        cross_fit_scores(DeferralRouter(), logits, target, None), in_sample
    )
    assert not np.allclose(scores, in_sample)


def test_cross_fit_folds_shrink_to_the_rarest_value():
    """With two positives, 5-fold becomes 2-fold; with one, in-sample."""
    logits, _ = _margin_task(40)
    target = np.zeros(40)
    target[[3, 9]] = 1
    two_fold = cross_fit_scores(DeferralRouter(), logits, target, 5)
    np.testing.assert_allclose(
        two_fold, cross_fit_scores(DeferralRouter(), logits, target, StratifiedKFold(2))
    )
    target[9] = 0
    np.testing.assert_allclose(
        cross_fit_scores(DeferralRouter(), logits, target, 5),
        DeferralRouter().fit(logits, target).score_samples(logits),
    )


def test_joint_classifier_trains_it_on_super_fixes_out_of_fold():
    """JointClassifier fits it out of fold on where the Super fixes the Swift."""
    swift, big, X, y = _models()
    X_cal, y_cal = X[500:1000], y[500:1000]
    joint = JointClassifier(swift, big, router=DeferralRouter(), cv=4)
    joint.fit(X_cal, y_cal)
    logits = swift.decision_function(X_cal)
    target = (big.predict(X_cal) == y_cal) & (swift.predict(X_cal) != y_cal)
    expected = DeferralRouter().fit(logits, target.astype(float))
    np.testing.assert_allclose(
        joint.router_.score_samples(logits), expected.score_samples(logits)
    )
    np.testing.assert_allclose(
        joint.calibration_.scores,
        cross_fit_scores(DeferralRouter(), logits, target.astype(float), 4),
    )
    report = joint.routing_report(X[1000:], y[1000:])
    assert 0 < report.swift_ratio < 1
    assert joint.routing_method_ == "decision_function"


def test_joint_classifier_router_params_and_clone():
    """router__target reaches the DeferralRouter; clone copies it."""
    swift, big, X, y = _models()
    joint = JointClassifier(swift, big, router=DeferralRouter())
    joint.set_params(router__target="gain")
    assert joint.router.target == "gain"
    assert clone(joint).router is not joint.router
    joint.fit(X[500:1000], y[500:1000])
    assert set(joint.router_.estimator_.classes_) <= {-1.0, 0.0, 1.0}
