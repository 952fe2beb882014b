"""CascadeClassifier: N stages, each run only on the inputs that reach it."""

from collections import Counter

import numpy as np
import pytest
from conftest import CountingClassifier
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import Bunch

from elang_sk import (
    CascadeClassifier,
    DeferralRouter,
    EnergyRouter,
    JointClassifier,
    ThresholdSelector,
)
from elang_sk.metrics import routing_cost as cascade_cost
from elang_sk.routing._router import cross_fit_scores
from elang_sk.routing._stage_thresholds import answering_stage as cascade_stages

COSTS = {"small": 1.0, "medium": 3.0, "large": 20.0}


@pytest.fixture(scope="module")
def numeric():
    """Three pre-trained stages of rising accuracy, and calibration/test splits."""
    X, y = make_classification(
        n_samples=1600, n_informative=6, n_classes=3, random_state=0
    )
    stages = [
        ("small", LogisticRegression().fit(X[:150], y[:150])),
        (
            "medium",
            DecisionTreeClassifier(max_depth=6, random_state=0).fit(X[:600], y[:600]),
        ),
        (
            "large",
            RandomForestClassifier(n_estimators=40, random_state=0).fit(
                X[:600], y[:600]
            ),
        ),
    ]
    return stages, (X[600:1100], y[600:1100]), (X[1100:], y[1100:])


def _fit(numeric, **params):
    stages, (X, y), _ = numeric
    params = {"routers": "softmax", "costs": COSTS, **params}
    return CascadeClassifier(stages, **params).fit(X, y)


def _text_stages(text_models, texts):
    (X, y), _, _ = texts
    swift, super_ = text_models
    medium = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        X[:300], y[:300]
    )
    return [
        ("swift", CountingClassifier(swift)),
        ("medium", CountingClassifier(medium)),
        ("super", CountingClassifier(super_)),
    ]


@pytest.mark.parametrize(
    "router, method",
    [(None, "decision_function"), (EnergyRouter(head=True), "features")],
)
def test_two_stages_predict_like_joint_classifier(text_models, texts, router, method):
    """With two stages the cascade is JointClassifier: same threshold, same answers."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, _) = texts
    joint = JointClassifier(swift, super_, router=router).fit(X_dev, y_dev)
    cascade = CascadeClassifier(
        [("swift", swift), ("super", super_)], routers=router
    ).fit(X_dev, y_dev)
    assert cascade.thresholds_.tolist() == [joint.threshold_]
    np.testing.assert_array_equal(cascade.predict(X_test), joint.predict(X_test))
    np.testing.assert_allclose(
        cascade.predict_proba(X_test), joint.predict_proba(X_test)
    )
    assert cascade.logit_sources_[0].method == joint.routing_method_ == method
    np.testing.assert_allclose(
        cascade.calibration_.stage_scores[0], joint.calibration_.scores
    )
    for threshold in (joint.threshold_ - 1.0, joint.threshold_ + 0.5):
        joint.set_params(threshold=threshold)
        cascade.set_params(thresholds=[threshold])
        np.testing.assert_array_equal(cascade.predict(X_test), joint.predict(X_test))
        served = np.where(cascade.served_by(X_test) == "swift", "swift", "super")
        np.testing.assert_array_equal(served, joint.served_by(X_test))


def test_each_stage_runs_only_on_inputs_that_reach_it(text_models, texts):
    """A stage sees exactly the inputs no earlier stage kept, once each."""
    _, (X_dev, y_dev), (X_test, _) = texts
    stages = _text_stages(text_models, texts)
    cascade = CascadeClassifier(stages, routers="softmax").fit(X_dev, y_dev)
    for _, est in stages:
        est.seen.clear()
        est.calls.clear()
    y_pred = cascade.predict(X_test)
    served = cascade.served_by(X_test)  # runs the routers again
    names = [name for name, _ in stages]
    index = np.array([names.index(name) for name in served])
    assert 0 < (index == 0).sum() and (index == 2).sum() > 0
    for k, (_, est) in enumerate(stages):
        reaching = [x for x, i in zip(X_test, index, strict=True) if i >= k]
        answered = [x for x, i in zip(X_test, index, strict=True) if i == k]
        by_method = {
            method: Counter(x for m, x in est.calls if m == method)
            for method in ("decision_function", "predict")
        }
        if k < 2:
            # Scored in predict and again in served_by; answered once.
            assert by_method["decision_function"] == Counter(reaching * 2)
        else:
            assert not by_method["decision_function"]
        assert by_method["predict"] == Counter(answered)
    for k, (_, est) in enumerate(stages):
        np.testing.assert_array_equal(
            y_pred[index == k], est.estimator.predict(np.asarray(X_test)[index == k])
        )


def test_thresholds_are_a_serving_knob(numeric):
    """set_params(thresholds=[...]) routes at once, without refitting."""
    _, _, (X_test, _) = numeric
    cascade = _fit(numeric)
    stages = [est for _, est in cascade.estimators]
    cascade.set_params(thresholds=[np.inf, np.inf])
    np.testing.assert_array_equal(cascade.predict(X_test), stages[2].predict(X_test))
    assert set(cascade.served_by(X_test)) == {"large"}
    cascade.set_params(thresholds=[-np.inf, 0.5])
    np.testing.assert_array_equal(cascade.predict(X_test), stages[0].predict(X_test))
    cascade.set_params(thresholds=[np.inf, -np.inf])
    np.testing.assert_array_equal(cascade.predict(X_test), stages[1].predict(X_test))
    cascade.set_params(thresholds="crossing")
    assert np.isfinite(cascade.thresholds_).all()


def test_crossing_is_chosen_per_stage_on_the_inputs_reaching_it(numeric):
    """Each stage's crossing threshold uses only the calibration rows it sees."""
    cascade = _fit(numeric, thresholds="crossing")
    cal = cascade.calibration_
    first = (
        ThresholdSelector().select(cal.stage_scores[0], cal.stage_right[0]).threshold
    )
    reach = cal.stage_scores[0] < first
    second = ThresholdSelector().select(
        cal.stage_scores[1][reach], cal.stage_right[1][reach]
    )
    np.testing.assert_allclose(cascade.thresholds_, [first, second.threshold])


@pytest.mark.parametrize("tol", [0.0, 0.01, 0.03])
def test_match_last_is_cheapest_within_tol(numeric, tol):
    """Calibration accuracy >= last stage's - tol, at no more than its cost."""
    selector = "match_super" if tol == 0 else ThresholdSelector("match_super", tol=tol)
    cascade = _fit(numeric, thresholds=selector)
    cal = cascade.calibration_
    stage = cascade_stages(cal.stage_scores, cascade.thresholds_)
    accuracy = cal.stage_right[stage, np.arange(stage.size)].mean()
    assert accuracy >= cal.stage_right[-1].mean() - tol - 1e-12
    cost = cascade_cost(stage, cal.stage_router_cost, cal.stage_full_cost)
    all_last = cascade_stages(cal.stage_scores, [np.inf, np.inf])
    assert cost <= cascade_cost(all_last, cal.stage_router_cost, cal.stage_full_cost)
    if tol > 0:
        assert cost < COSTS["large"]
    # No single threshold change among the candidates is feasible and cheaper.
    for k, scores in enumerate(cal.stage_scores):
        for value in np.quantile(scores, np.linspace(0, 1, 64)):
            trial = cascade.thresholds_.copy()
            trial[k] = value
            other = cascade_stages(cal.stage_scores, trial)
            if cal.stage_right[other, np.arange(other.size)].mean() >= (
                cal.stage_right[-1].mean() - tol - 1e-12
            ):
                assert (
                    cascade_cost(other, cal.stage_router_cost, cal.stage_full_cost)
                    >= cost
                )


def test_budget_keeps_cost_under_target(numeric):
    """The budget strategy stays under the target cost; too small a budget raises."""
    cascade = _fit(numeric, thresholds=ThresholdSelector("budget", target=8.0))
    cal = cascade.calibration_
    stage = cascade_stages(cal.stage_scores, cascade.thresholds_)
    assert cascade_cost(stage, cal.stage_router_cost, cal.stage_full_cost) <= 8.0
    with pytest.raises(ValueError, match="No thresholds meet the budget of 0.5"):
        _fit(numeric, thresholds=ThresholdSelector("budget", target=0.5))


class _Guaranteed(ThresholdSelector):
    """A strategy the cascade does not know, standing in for a future one."""

    def check_params(self):
        return self

    def select(self, scores, swift_correct, super_correct=None, **kwargs):
        return ThresholdSelector("match_super", tol=self.tol).select(
            scores, swift_correct, super_correct, **kwargs
        )


def test_other_strategies_choose_the_last_gate_against_the_last_stage(numeric):
    """An unknown strategy decides the last gate; its promise holds on the cascade."""
    cascade = _fit(numeric, thresholds=_Guaranteed("guaranteed", tol=0.02))
    cal = cascade.calibration_
    stage = cascade_stages(cal.stage_scores, cascade.thresholds_)
    accuracy = cal.stage_right[stage, np.arange(stage.size)].mean()
    assert accuracy >= cal.stage_right[-1].mean() - 0.02 - 1e-12
    searched = _fit(numeric, thresholds=ThresholdSelector("match_super", tol=0.02))
    assert cascade.thresholds_[0] == searched.thresholds_[0]


class _NothingCertified(ThresholdSelector):
    def check_params(self):
        return self

    def select(self, scores, *args, **kwargs):
        return Bunch(threshold=np.inf, swift_ratio=0.0)


def test_nothing_certified_sends_everything_to_the_last_stage(numeric):
    """A selector that keeps nothing opens every gate: all to the last stage."""
    cascade = _fit(numeric, thresholds=_NothingCertified("guaranteed"))
    assert np.isinf(cascade.thresholds_).all()
    _, _, (X_test, _) = numeric
    assert set(cascade.served_by(X_test)) == {"large"}


def test_routing_report_accounts_per_stage(numeric):
    """Stage ratios, eq. 17 cost per input, speed-up over the last stage, accuracy."""
    _, _, (X_test, y_test) = numeric
    cascade = _fit(numeric, thresholds=ThresholdSelector("match_super", tol=0.01))
    report = cascade.routing_report(X_test, y_test)
    served = cascade.served_by(X_test)
    counts = Counter(served.tolist())
    assert report.stage_counts == {name: counts[name] for name in COSTS}
    assert sum(report.stage_ratios.values()) == pytest.approx(1.0)
    # An input answered by stage k paid every earlier stage in full (its logits).
    paid = {"small": 1.0, "medium": 4.0, "large": 24.0}
    assert report.cost_per_input == pytest.approx(np.mean([paid[s] for s in served]))
    assert report.speedup == pytest.approx(20.0 / report.cost_per_input)
    assert report.accuracy == pytest.approx(cascade.score(X_test, y_test))
    assert report.cost_unit == "given"


def test_predict_proba_comes_from_the_answering_stage(numeric):
    """Each row's probabilities are those of the stage that served it."""
    _, _, (X_test, _) = numeric
    cascade = _fit(numeric)
    proba = cascade.predict_proba(X_test)
    served = cascade.served_by(X_test)
    for name, est in cascade.estimators:
        rows = served == name
        if rows.any():
            np.testing.assert_allclose(proba[rows], est.predict_proba(X_test[rows]))


def test_time_costs_are_measured(numeric):
    """Without given costs or FLOPs, seconds per input are measured in fit."""
    cascade = _fit(numeric, costs="auto")
    assert cascade.costs_.unit == "seconds"
    assert (cascade.costs_.stage_full > 0).all()


def test_deferral_router_learns_against_the_next_stage(numeric):
    """A DeferralRouter in stage k learns where stage k+1 fixes stage k."""
    stages, (X, y), _ = numeric
    cascade = CascadeClassifier(
        stages, routers=DeferralRouter(), costs=COSTS, cv=3
    ).fit(X, y)
    right = [est.predict(X) == y for _, est in stages]
    logits = stages[1][1].predict_proba(X)
    logits = np.log(np.clip(logits, np.finfo(float).tiny, None))
    target = DeferralRouter().deferral_target(right[1], right[2])
    np.testing.assert_allclose(
        cascade.calibration_.stage_scores[1],
        cross_fit_scores(DeferralRouter(), logits, target, 3),
    )


def test_pretrained_stages_are_frozen(numeric):
    """Nested set_params on a fitted stage raises; clone shares fitted stages."""
    cascade = CascadeClassifier(numeric[0])
    with pytest.raises(ValueError, match="'small__C'.*pre-trained"):
        cascade.set_params(small__C=2.0)
    copy = clone(cascade)
    for (_, a), (_, b) in zip(copy.estimators, cascade.estimators, strict=True):
        assert a is b
    cascade.set_params(thresholds=[0.1, 0.2], small=LogisticRegression())
    cascade.set_params(small__C=2.0)  # unfitted: tunable
    assert cascade.named_estimators.small.C == 2.0


def test_unfitted_stages_are_trained_on_a_split(numeric):
    """Unfitted stages are fit on part of X; the rest calibrates the thresholds."""
    _, (X, y), _ = numeric
    cascade = CascadeClassifier(
        [
            ("a", LogisticRegression()),
            ("b", DecisionTreeClassifier(random_state=0)),
            ("c", RandomForestClassifier(n_estimators=10, random_state=0)),
        ],
        routers="softmax",
        calibration_size=0.4,
    ).fit(X, y)
    assert cascade.calibration_.stage_right.shape == (3, 200)
    assert cascade.named_estimators_.a.n_features_in_ == X.shape[1]
    assert cascade.n_features_in_ == X.shape[1]


def test_energy_router_per_stage_list(numeric):
    """routers as a list gives each stage its own router."""
    cascade = _fit(
        numeric,
        routers=[EnergyRouter(score_func="entropy"), "softmax"],
        thresholds=[-0.5, 0.7],
    )
    assert cascade.routers_[0].score_func == "entropy"
    assert cascade.routers_[1].score_func == "softmax"


@pytest.mark.parametrize(
    "params, match",
    [
        ({"estimators": []}, "at least two"),
        ({"routers": ["softmax"]}, "routers has 1 entries for 2 routed"),
        ({"thresholds": [0.5]}, "thresholds has 1 values for 2 routed"),
        ({"thresholds": [0.5, float("nan")]}, "not a routing threshold"),
        ({"costs": {"small": 1.0}}, "one cost per stage"),
        ({"costs": {**COSTS, "small": -1.0}}, "finite non-negative"),
        ({"costs": "flops"}, "estimate_flops"),
        ({"thresholds": ThresholdSelector("budget")}, "needs a target"),
    ],
)
def test_bad_parameters(numeric, params, match):
    """Bad parameters fail in fit with a message saying what to do."""
    stages, (X, y), _ = numeric
    cascade = CascadeClassifier(stages, routers="softmax").set_params(**params)
    with pytest.raises(ValueError, match=match):
        cascade.fit(X, y)


def test_bad_stages_and_labels(numeric):
    """Mismatched classes, unknown labels, non-classifiers and bad routers fail."""
    stages, (X, y), _ = numeric
    other = LogisticRegression().fit(X, y + 1)
    with pytest.raises(ValueError, match="predict different classes"):
        CascadeClassifier([stages[0], ("other", other)]).fit(X, y)
    with pytest.raises(ValueError, match=r"labels \[7\] that no sub-model can predict"):
        CascadeClassifier(stages, routers="softmax").fit(X, np.r_[y[:-1], 7])
    # Without y, pre-trained stages calibrate on the last stage's answers.
    cascade = CascadeClassifier(stages, routers="softmax").fit(X, None)
    assert cascade.calibrated_on_ == "last_stage"
    with pytest.raises(ValueError, match="different lengths"):
        CascadeClassifier(stages).fit(X, y[:-1])
    with pytest.raises(TypeError, match="not a classifier"):
        CascadeClassifier([stages[0], ("x", object())]).fit(X, y)
    with pytest.raises(
        TypeError, match=r"routers\[1\] is a LogisticRegression, which is not a router"
    ):
        CascadeClassifier(stages, routers=["softmax", LogisticRegression()]).fit(X, y)


def test_bad_inputs_at_serving(numeric):
    """A single string, a dict, empty X and stale thresholds get clear errors."""
    cascade = _fit(numeric)
    with pytest.raises(TypeError, match="single string"):
        cascade.predict("hello")
    with pytest.raises(TypeError, match="X is a dict"):
        cascade.predict({"a": 1})
    with pytest.raises(ValueError, match="X is empty"):
        cascade.predict(np.empty((0, 20)))
    cascade.set_params(thresholds=[0.5])
    with pytest.raises(ValueError, match="thresholds has 1 values"):
        cascade.predict(numeric[2][0])


def test_text_cascade_refuses_a_missing_text():
    """A None among texts is named by the cascade, not by the vectorizer."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    texts = ["good film", "great plot", "bad film", "awful plot"] * 10
    labels = [1, 1, 0, 0] * 10
    stages = [
        (
            name,
            make_pipeline(TfidfVectorizer(), LogisticRegression(C=C)).fit(
                texts, labels
            ),
        )
        for name, C in (("small", 0.1), ("mid", 1.0), ("big", 10.0))
    ]
    cascade = CascadeClassifier(stages, routers="softmax", cv=2).fit(texts, labels)
    with pytest.raises(TypeError, match=r"X\[1\] is None.*first model takes raw"):
        cascade.predict(["good", None])
    assert cascade.predict(["good film"]).tolist() == [1]


def test_a_later_stage_computes_its_features_once_per_input():
    """A middle stage scores the rows that reach it and answers the ones it
    keeps from the same pass: its features run once per reaching input."""
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.pipeline import make_pipeline

    seen = []

    class CountingScaler(TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):
            self.fitted_ = True
            return self

        def transform(self, X):
            seen.append(len(X))
            return np.asarray(X) * 2.0

    X, y = make_classification(n_samples=900, n_informative=5, random_state=0)
    first = LogisticRegression(C=0.01).fit(X[:300], y[:300])
    middle = make_pipeline(CountingScaler(), LogisticRegression()).fit(X[:300], y[:300])
    last = LogisticRegression(C=10).fit(X[:300], y[:300])
    cascade = CascadeClassifier(
        [("first", first), ("middle", middle), ("last", last)],
        routers="softmax",
        thresholds=[0.8, 0.8],
    ).fit(X[300:600], y[300:600])
    reached = int((cascade.route(X[600:], method=None).stage >= 1).sum())
    kept = int((cascade.route(X[600:]).stage == 1).sum())
    assert 0 < kept < reached
    seen.clear()
    cascade.predict(X[600:])
    assert seen == [reached]
