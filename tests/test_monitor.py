"""RoutingMonitor: drift alarms, audited disagreement bounds, recalibration."""

import math

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from elang_sk import CascadeClassifier, JointClassifier, ThresholdSelector
from elang_sk.routing._monitor import BettingConfidenceSequence, RoutingMonitor


@pytest.fixture(scope="module")
def data():
    """One distribution: training rows, calibration rows and a large live pool."""
    X, y = make_classification(
        n_samples=30_000, n_informative=5, flip_y=0.05, random_state=0
    )
    return X[:1000], y[:1000], X[1000:2000], y[1000:2000], X[2000:], y[2000:]


@pytest.fixture(scope="module")
def models(data):
    X_train, y_train = data[0], data[1]
    swift = LogisticRegression(C=0.01).fit(X_train[:300], y_train[:300])
    super_ = LogisticRegression().fit(X_train, y_train)
    return swift, super_


@pytest.fixture(scope="module")
def joint(data, models):
    return JointClassifier(*models, router="softmax").fit(data[2], data[3])


@pytest.fixture(scope="module")
def pool_scores(joint, data):
    return joint.route(data[4], method=None).scores[0]


def test_no_false_alarm_on_calibration_distribution(joint, pool_scores):
    """Streams from the calibration distribution rarely alarm (at most alpha)."""
    alpha, streams, window, n_windows = 0.1, 30, 100, 40
    alarms = 0
    for seed in range(streams):
        rows = np.random.default_rng(seed).choice(
            pool_scores.size, window * n_windows, replace=False
        )
        monitor = RoutingMonitor(joint, window=window, alpha=alpha)
        for batch in np.array_split(pool_scores[rows], 13):  # uneven batches
            monitor.update(batch)
        assert monitor.drift_.n_windows == n_windows
        alarms += monitor.drift_.alarm
    assert alarms <= 2 * alpha * streams


def test_window_levels_spend_alpha():
    """Window j is tested at alpha * 6 / (pi^2 j^2): the levels sum to alpha."""
    X, y = make_classification(n_samples=600, random_state=1)
    model = LogisticRegression().fit(X[:300], y[:300])
    joint = JointClassifier(model, model, router="softmax").fit(X[300:], y[300:])
    monitor = RoutingMonitor(joint, window=20, alpha=0.05)
    monitor.update(joint.routing_scores(X[:200]))
    levels = [entry["level"] for entry in monitor.drift_.history]
    assert len(levels) == 10
    assert levels[0] == pytest.approx(0.05 * 6 / math.pi**2)
    assert levels[3] == pytest.approx(levels[0] / 16)
    assert sum(0.05 * 6 / (math.pi**2 * j**2) for j in range(1, 10**5)) < 0.05


def test_shifted_stream_is_detected_within_a_few_windows(joint, data, pool_scores):
    """Scores of shifted inputs alarm within three windows of the change."""
    monitor = RoutingMonitor(joint, window=200, alpha=0.01)
    monitor.update(pool_scores[:1000])  # five windows without drift
    assert not monitor.status().drift_alarm
    shifted = data[4][1000:3000] + 1.5
    monitor.update(joint.route(shifted, method=None).scores[0])
    status = monitor.status()
    assert status.drift_alarm and status.alarm
    assert 1000 <= monitor.drift_.first_alarm_row < 1000 + 3 * 200
    assert "DRIFT" in status.message


def test_swift_ratio_test_sees_a_moved_threshold_share(joint, pool_scores):
    """served_by that keeps far fewer rows than calibration alarms the ratio test."""
    monitor = RoutingMonitor(joint, window=500, alpha=0.01)
    served = np.where(np.arange(1000) % 4 == 0, "swift", "super")
    monitor.update(pool_scores[:1000], served_by=served)
    assert monitor.drift_.alarm
    assert monitor.drift_.ratio_pvalue < 1e-6
    assert monitor.status().window_swift_ratio == pytest.approx(0.25)


def test_confidence_sequence_covers_at_all_times():
    """The betting sequence holds a known rate at every checkpoint (>= 1 - delta)."""
    delta, rate, runs = 0.1, 0.08, 40
    misses = 0
    for seed in range(runs):
        cs = BettingConfidenceSequence(delta)
        draws = np.random.default_rng(seed).random(1500) < rate
        missed = False
        for batch in np.array_split(draws, 30):
            cs.update(batch)
            low, high = cs.bounds()
            missed |= not low <= rate <= high
        misses += missed
        assert high - low < 0.06  # informative, not just valid
    assert misses <= delta * runs


def test_audit_bound_covers_the_simulated_disagreement(joint):
    """Simulated audits of known disagreement rate: the bounds cover it."""
    monitor = RoutingMonitor(joint, delta=0.05, random_state=0)
    rng = np.random.default_rng(3)
    for _ in range(20):
        swift = rng.integers(0, 2, 100)
        flip = rng.random(100) < 0.15
        monitor.record_audit(swift, np.where(flip, 1 - swift, swift))
    status = monitor.status()
    assert status.n_audited == 2000
    assert status.disagreement_lower <= 0.15 <= status.disagreement_upper
    assert status.disagreement_upper - status.disagreement_lower < 0.08
    # Before any score: the kept share is the calibration one.
    assert status.kept_share == monitor.calibration_swift_ratio_
    assert status.overall_upper == pytest.approx(
        status.kept_share * status.disagreement_upper
    )


def test_audit_alarm_fires_far_above_tol_and_not_below(joint, pool_scores):
    """Disagreement far above tol alarms; none at all never does."""
    high = RoutingMonitor(joint, tol=0.02, delta=0.1)
    high.update(pool_scores[:2000])
    assert high.status().kept_share > 0.2
    labels = np.zeros(400, dtype=int)
    high.record_audit(labels, (np.arange(400) % 2).astype(int))  # half differ
    status = high.status()
    assert status.audit_alarm and status.alarm and not status.drift_alarm
    assert status.overall_lower > 0.02
    assert "AUDIT" in status.message

    low = RoutingMonitor(joint, tol=0.05, delta=0.1)
    low.update(pool_scores[:2000])
    for _ in range(10):
        low.record_audit(labels, labels)
    status = low.status()
    assert not status.audit_alarm and not status.alarm
    assert status.overall_upper <= 0.05
    assert "within tol" in status.message


def test_tol_and_delta_come_from_the_certificate(data, models):
    """risk_control gives tol and delta; other strategies give no audit alarm."""
    certified = JointClassifier(
        *models,
        router="softmax",
        threshold=ThresholdSelector("risk_control", tol=0.03, delta=0.2),
    ).fit(data[2], data[3])
    monitor = RoutingMonitor(certified)
    assert (monitor.tol_, monitor.delta_) == (0.03, 0.2)
    assert RoutingMonitor(certified, tol=0.1, delta=0.01).tol_ == 0.1

    plain = JointClassifier(*models, router="softmax").fit(data[2], data[3])
    monitor = RoutingMonitor(plain)
    assert (monitor.tol_, monitor.delta_) == (None, 0.1)
    labels = np.zeros(500, dtype=int)
    monitor.record_audit(labels, 1 - labels)
    assert not monitor.status().audit_alarm
    assert "no tol" in monitor.status().message


def test_serve_routes_feeds_and_audits(joint, data):
    """serve() answers as predict, counts every row, audits a share of kept rows."""
    X = data[4][:3000]
    monitor = RoutingMonitor(joint, window=500, audit_rate=0.2, random_state=0)
    routing = monitor.serve(X)
    np.testing.assert_array_equal(routing.answers, joint.predict(X))
    kept = int(np.sum(routing.stage == 0))
    status = monitor.status()
    assert (status.n_rows, status.windows, status.n_offered) == (3000, 6, kept)
    assert 0.15 * kept < status.n_audited < 0.25 * kept
    audited = monitor.audited_
    assert np.all(routing.stage[audited.index] == 0)
    np.testing.assert_array_equal(
        audited.super_answers, joint.answer_stage(X[audited.index], 1)
    )
    assert audited.X is None  # inputs are not stored by default


def test_recalibration_set_round_trips_into_a_fit(joint, data, models):
    """The audited inputs with the Super's answers refit a joint model."""
    X = data[4][:4000]
    monitor = RoutingMonitor(joint, audit_rate=0.5, random_state=1)
    for part in np.array_split(np.arange(4000), 4):
        monitor.serve(X[part], store_inputs=True)
    X_audit, y_super = monitor.recalibration_set()
    np.testing.assert_array_equal(X_audit, X[monitor.audited_.index])
    np.testing.assert_array_equal(y_super, models[1].predict(X_audit))
    refit = JointClassifier(*models, router="softmax").fit(X_audit, y_super)
    assert refit.calibration_.stage_scores.shape == (1, len(y_super))
    assert RoutingMonitor(refit).calibration_scores_.size == len(y_super)


def test_texts_with_exact_match_or_a_quality(joint):
    """Sequence answers: exact string equality, or 1 - quality per pair."""
    swift = np.array(["a cat", "a dog", "the end"], dtype=object)
    super_ = np.array(["a cat", "one dog", "the end!"], dtype=object)
    exact = RoutingMonitor(joint).record_audit(swift, super_)
    np.testing.assert_array_equal(exact.audited_.disagreement, [0.0, 1.0, 1.0])

    def overlap(a, b):
        a, b = set(a.split()), set(b.split())
        return len(a & b) / len(a | b)

    graded = RoutingMonitor(joint, quality=overlap).record_audit(swift, super_)
    np.testing.assert_allclose(graded.audited_.disagreement, [0.0, 2 / 3, 2 / 3])


def test_cascade_first_stage_is_monitored(data):
    """A cascade's monitor reads its first gate and audits against the last stage."""
    X_train, y_train, X_cal, y_cal, X_live, _ = data
    stages = [
        ("tiny", LogisticRegression(C=0.001).fit(X_train[:100], y_train[:100])),
        ("small", LogisticRegression(C=0.01).fit(X_train, y_train)),
        ("big", LogisticRegression().fit(X_train, y_train)),
    ]
    cascade = CascadeClassifier(stages, routers="softmax").fit(X_cal, y_cal)
    monitor = RoutingMonitor(cascade, window=200, audit_rate=1.0)
    routing = monitor.serve(X_live[:1000])
    assert monitor.status().windows == 5
    assert monitor.status().n_audited == int(np.sum(routing.stage == 0))
    np.testing.assert_array_equal(
        monitor.audited_.super_answers,
        stages[2][1].predict(X_live[:1000][monitor.audited_.index]),
    )


def test_status_before_any_traffic(joint):
    """A fresh monitor reports that nothing was fed, without failing."""
    status = RoutingMonitor(joint).status()
    assert (status.n_rows, status.windows, status.n_audited) == (0, 0, 0)
    assert status.ks_pvalue is None and status.swift_ratio is None
    assert math.isnan(status.disagreement)
    assert (status.disagreement_lower, status.disagreement_upper) == (0.0, 1.0)
    assert not status.alarm
    assert status.message.startswith("No traffic yet")


def test_unfitted_joint_is_refused(models):
    """A monitor needs a fitted joint model."""
    with pytest.raises(NotFittedError, match="fit it before building"):
        RoutingMonitor(JointClassifier(*models, router="softmax"))


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(audit_rate=0.0), r"audit_rate must be a number in \(0, 1\]"),
        (dict(audit_rate=1.5), r"audit_rate must be a number in \(0, 1\]"),
        (dict(audit_rate=-0.1), "audit_rate"),
        (dict(audit_rate="half"), "audit_rate"),
        (dict(window=10), "window must be an integer of at least 20"),
        (dict(window=True), "window must be an integer"),
        (dict(window=50.5), "window must be an integer"),
        (dict(alpha=0.0), r"alpha must be a number in \(0, 1\)"),
        (dict(alpha=1.0), r"alpha must be a number in \(0, 1\)"),
        (dict(alpha=float("nan")), "alpha"),
        (dict(tol=1.5), r"tol must be a number in \[0, 1\]"),
        (dict(delta=0.0), r"delta must be a number in \(0, 1\)"),
    ],
)
def test_bad_parameters(joint, params, match):
    """Each bad parameter raises a ValueError that names it."""
    with pytest.raises(ValueError, match=match):
        RoutingMonitor(joint, **params)


def test_quality_must_be_callable(joint):
    """A quality that is not a callable is refused."""
    with pytest.raises(TypeError, match="quality must be a callable"):
        RoutingMonitor(joint, quality="chrf")


@pytest.mark.parametrize(
    "scores, served_by, match",
    [
        ([0.5, float("nan"), 0.7], None, "1 NaN or infinite"),
        ([0.5, float("inf")], None, "NaN or infinite"),
        ([[0.5, 0.6], [0.7, 0.8]], None, "must be 1-D"),
        (0.5, None, "must be 1-D"),
        ([], None, "scores is empty"),
        (["high", "low"], None, "must be routing scores"),
        ([0.5, 0.6, 0.7], ["swift", "super"], "served_by has shape"),
        ([0.5, 0.6], ["swift", "medium"], "'medium', which is not a stage"),
        ([0.5, 0.6], [0, 2], "not a stage"),
    ],
)
def test_bad_update_inputs(joint, scores, served_by, match):
    """Bad live scores (or served_by of the wrong length) raise a clear error."""
    monitor = RoutingMonitor(joint)
    with pytest.raises(ValueError, match=match):
        monitor.update(scores, served_by=served_by)
    assert monitor.n_rows_ == 0  # nothing half-fed


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m.record_audit([0, 1, 1], [0, 1]), "one answer per audited row"),
        (lambda m: m.record_audit(0, 1), "one answer per audited row"),
        (lambda m: m.record_audit([0, 1], [0, 1], X=np.ones((3, 2))), "X has 3 rows"),
        (lambda m: m.record_audit([0, 1], [0, 1], index=[4]), "index has shape"),
        (lambda m: m.should_audit(-1), "n must be a number of kept rows"),
        (lambda m: m.recalibration_set(), "No audited rows yet"),
        (
            lambda m: m.record_audit([0, 1], [0, 1]).recalibration_set(),
            "pass X to record_audit",
        ),
    ],
)
def test_bad_audit_calls(joint, call, match):
    """Audit calls with mismatched answers, inputs or ids raise a clear error."""
    with pytest.raises(ValueError, match=match):
        call(RoutingMonitor(joint))


def test_quality_out_of_range_is_refused(joint):
    """A quality outside [0, 1] is an error, not a silent bound."""
    monitor = RoutingMonitor(joint, quality=lambda a, b: 2.0)
    with pytest.raises(ValueError, match=r"quality must return numbers in \[0, 1\]"):
        monitor.record_audit(["a"], ["b"])
    assert monitor.status().n_audited == 0


def test_should_audit_is_seeded(joint):
    """The same random_state draws the same audit sample."""
    first = RoutingMonitor(joint, audit_rate=0.3, random_state=7).should_audit(500)
    again = RoutingMonitor(joint, audit_rate=0.3, random_state=7).should_audit(500)
    np.testing.assert_array_equal(first, again)
    assert 100 < first.sum() < 200
    assert RoutingMonitor(joint, audit_rate=1.0).should_audit(50).all()


def test_alarm_level_follows_what_the_model_was_calibrated_on(data, models):
    """Without labels the certificate is on agreement: the alarm is at tol.
    With labels it is on accuracy: the alarm is at the calibration's own
    disagreement plus tol, so healthy traffic that disagrees as much as the
    calibration data did raises no alarm."""
    selector = ThresholdSelector("risk_control", tol=0.03, delta=0.1)
    unlabelled = JointClassifier(*models, router="softmax", threshold=selector)
    unlabelled.fit(data[2])
    monitor = RoutingMonitor(unlabelled)
    assert unlabelled.calibrated_on_ == "last_stage"
    assert monitor.alarm_level_ == monitor.tol_ == 0.03

    labelled = JointClassifier(*models, router="softmax", threshold=selector)
    labelled.fit(data[2], data[3])
    monitor = RoutingMonitor(labelled)
    at_calibration = monitor.calibration_swift_ratio_ * (
        monitor.calibration_disagreement_
    )
    assert monitor.alarm_level_ == pytest.approx(at_calibration + 0.03)
    # Live traffic from the calibration data itself: audits as disagreeing
    # as calibration was never alarm.
    X_cal = data[2]
    scores = labelled.routing_scores(X_cal)
    monitor.update(scores)
    kept = X_cal[scores >= labelled.threshold_]
    monitor.record_audit(labelled.answer_stage(kept, 0), labelled.answer_stage(kept, 1))
    assert not monitor.status().audit_alarm


def test_recalibrate_on_drifted_traffic_keeps_the_agreement_promise(data, models):
    """Audited drifted rows recalibrate the joint model without labels; the
    new model's agreement promise holds on fresh drifted rows."""
    joint = JointClassifier(*models, router="softmax").fit(data[2], data[3])
    shifted = data[4] + 0.8  # a shift of every feature: new traffic
    monitor = RoutingMonitor(joint, audit_rate=1.0)
    for start in range(0, 4000, 500):
        monitor.serve(shifted[start : start + 500], store_inputs=True)
    selector = ThresholdSelector("risk_control", tol=0.05, delta=0.1)
    new = monitor.recalibrate(threshold=selector)
    assert new.calibrated_on_ == "last_stage"
    assert new.swift_estimator_ is joint.swift_estimator_  # shared, not refit
    fresh = shifted[10_000:14_000]
    disagreement = np.mean(new.predict(fresh) != new.answer_stage(fresh, 1))
    assert disagreement <= 0.05
