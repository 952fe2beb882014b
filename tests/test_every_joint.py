"""Everything that works on JointClassifier works on CascadeClassifier.

The scorers, the Displays, save/load, predict_frame, streaming, the public
routing seams and the routing_report keys run over both joint classifiers,
as pairs and as a three-stage cascade: one core, one behaviour.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from elang_sk import (
    CascadeClassifier,
    JointClassifier,
    ScoreDistributionDisplay,
    TradeoffDisplay,
    load_joint,
    save_joint,
)
from elang_sk.distributed import predict_frame
from elang_sk.metrics import make_tradeoff_scorer, speedup_score, swift_ratio_score

X, y = make_classification(
    n_samples=900,
    n_informative=6,
    n_classes=3,
    n_clusters_per_class=1,
    random_state=0,
)
X_train, y_train = X[:400], y[:400]
X_cal, y_cal = X[400:700], y[400:700]
X_new, y_new = X[700:], y[700:]


def _lr(C):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C)).fit(
        X_train, y_train
    )


SMALL, MID, BIG = _lr(0.001), _lr(0.05), _lr(10.0)


def joint_pair():
    return JointClassifier(
        SMALL, BIG, router="softmax", cv=2, costs={"swift": 1, "super": 10}
    )


def cascade_pair():
    return CascadeClassifier(
        [("swift", SMALL), ("super", BIG)],
        routers="softmax",
        cv=2,
        costs={"swift": 1, "super": 10},
    )


def cascade_three():
    return CascadeClassifier(
        [("small", SMALL), ("mid", MID), ("big", BIG)],
        routers="softmax",
        cv=2,
        costs={"small": 1, "mid": 3, "big": 10},
    )


BUILDERS = [joint_pair, cascade_pair, cascade_three]
IDS = ["joint", "cascade-2", "cascade-3"]


@pytest.fixture(params=BUILDERS, ids=IDS)
def fitted(request):
    return request.param().fit(X_cal, y_cal)


REPORT_KEYS = {
    "y_pred",
    "served_by",
    "scores",
    "thresholds",
    "threshold",
    "n_samples",
    "stage_names",
    "stage_counts",
    "stage_ratios",
    "n_swift",
    "n_super",
    "swift_ratio",
    "cost_per_input",
    "swift_cost_per_input",
    "super_cost_per_input",
    "speedup",
    "cost_unit",
    "wall_time",
    "accuracy",
}


def test_report_keys_are_the_same(fitted):
    report = fitted.routing_report(X_new, y_new)
    assert set(report) == REPORT_KEYS
    counts = report.stage_counts
    assert sum(counts.values()) == report.n_samples == len(X_new)
    assert report.n_super == counts[fitted.stage_names_[-1]]
    assert report.n_swift == report.n_samples - report.n_super
    assert report.speedup == pytest.approx(
        report.super_cost_per_input / report.cost_per_input
    )
    assert report.accuracy == pytest.approx(np.mean(fitted.predict(X_new) == y_new))


def test_two_stage_cascade_is_the_joint_classifier():
    joint, cascade = joint_pair().fit(X_cal, y_cal), cascade_pair().fit(X_cal, y_cal)
    np.testing.assert_array_equal(joint.thresholds_, cascade.thresholds_)
    np.testing.assert_array_equal(joint.predict(X_new), cascade.predict(X_new))
    a, b = joint.routing_report(X_new), cascade.routing_report(X_new)
    for key in ("n_swift", "cost_per_input", "speedup", "thresholds"):
        assert a[key] == b[key]


def test_scorers(fitted):
    assert 0 <= swift_ratio_score(fitted, X_new) <= 1
    assert speedup_score(fitted, X_new) > 0
    score = make_tradeoff_scorer(cost_weight=0.1)(fitted, X_new, y_new)
    assert np.isfinite(score)


def test_grid_search_over_thresholds(fitted):
    name = "threshold" if isinstance(fitted, JointClassifier) else "thresholds"
    n_gates = fitted.thresholds_.size
    values = (
        [-np.inf, np.inf]
        if name == "threshold"
        else [[-np.inf] * n_gates, [np.inf] * n_gates]
    )
    search = GridSearchCV(
        clone(fitted), {name: values}, scoring=make_tradeoff_scorer(0.5), cv=2
    ).fit(X_cal, y_cal)
    assert search.best_params_[name] in values


def test_displays(fitted):
    display = TradeoffDisplay.from_estimator(fitted, X_new, y_new)
    assert "softmax" in display.lines_
    dist = ScoreDistributionDisplay.from_estimator(fitted, X_new, y_new)
    assert dist.threshold == fitted.thresholds_[0]


def test_save_and_load(fitted, tmp_path):
    folder = save_joint(fitted, tmp_path / "m")
    loaded = load_joint(folder)
    assert type(loaded) is type(fitted)
    np.testing.assert_array_equal(loaded.predict(X_new), fitted.predict(X_new))
    np.testing.assert_array_equal(loaded.thresholds_, fitted.thresholds_)
    assert loaded.stage_names_ == fitted.stage_names_


def test_predict_frame(fitted):
    frame = pd.DataFrame({"text": list(X_new)})
    out = predict_frame(fitted, frame, batch_size=37)
    np.testing.assert_array_equal(
        out["prediction"].to_numpy(int), fitted.predict(X_new)
    )
    np.testing.assert_array_equal(out["served_by"], fitted.served_by(X_new))


def test_streaming_does_not_change_answers(fitted):
    whole = fitted.predict_proba(X_new)
    fitted.serving_chunk_size = 17
    try:
        # Equal up to rounding: a model's batch of rows may sum in another order.
        np.testing.assert_allclose(fitted.predict_proba(X_new), whole, rtol=1e-12)
        np.testing.assert_array_equal(fitted.predict(X_new), whole.argmax(axis=1))
        routing = fitted.route(X_new)
    finally:
        del fitted.serving_chunk_size
    np.testing.assert_array_equal(routing.answers, fitted.predict(X_new))


def test_route_stage_chains_to_route(fitted):
    """Running the stages one by one on what each passes on is route()."""
    routing = fitted.route(X_new)
    pending = np.arange(len(X_new))
    answers = np.empty(len(X_new), dtype=routing.answers.dtype)
    for k in range(len(fitted.stage_names_)):
        step = fitted.route_stage(X_new[pending], k)
        if step.keep.any():
            answers[pending[step.keep]] = step.answers
        np.testing.assert_array_equal(routing.stage[pending[step.keep]], k)
        pending = pending[~step.keep]
    assert pending.size == 0
    np.testing.assert_array_equal(answers, routing.answers)


def test_answer_stage_is_the_model_alone(fitted):
    last = len(fitted.stage_names_) - 1
    np.testing.assert_array_equal(
        fitted.answer_stage(X_new, last), fitted.estimators_[last].predict(X_new)
    )


@pytest.mark.parametrize("stage", [-1, 3, 1.0, True, "0"])
def test_bad_stage_index(stage):
    joint = joint_pair().fit(X_cal, y_cal)
    with pytest.raises(ValueError, match="is not a stage of this model"):
        joint.route_stage(X_new, stage)


def test_match_last_is_a_deprecated_alias():
    cascade = cascade_three().set_params(thresholds="match_last")
    with pytest.warns(FutureWarning, match="'match_super'"):
        cascade.fit(X_cal, y_cal)
    same = cascade_three().set_params(thresholds="match_super").fit(X_cal, y_cal)
    np.testing.assert_array_equal(cascade.thresholds_, same.thresholds_)


@pytest.mark.parametrize("bad", [np.nan, True, "0.5x"])
def test_a_bad_knob_is_refused_at_the_next_call(fitted, bad):
    """set_params does not validate (scikit-learn's rule); the next call
    refuses NaN, booleans and unknown names with a message naming them."""
    name = "threshold" if isinstance(fitted, JointClassifier) else "thresholds"
    good = fitted.get_params()[name]
    value = (
        bad
        if name == "threshold" or isinstance(bad, str)
        else [bad] * (fitted.thresholds_.size)
    )
    fitted.set_params(**{name: value})
    try:
        with pytest.raises(ValueError, match="threshold|strategy"):
            fitted.predict(X_new[:2])
    finally:
        fitted.set_params(**{name: good})


@pytest.mark.parametrize("gate", [-1, 5, 1.0, True])
def test_bad_gate_of_routing_details(gate):
    cascade = cascade_three().fit(X_cal, y_cal)
    with pytest.raises(ValueError, match="is not a routed stage"):
        cascade.routing_details(X_new, gate=gate)
