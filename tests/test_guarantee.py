"""The risk-control guarantee holds on resplits of a simulated population."""

import warnings

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import norm

from elang_sk import JointClassifier, ThresholdSelector
from elang_sk.routing._risk import CertificationWarning, certify

P_SUPER = 0.9


def _p_swift(s):
    return expit(2 * s + 1.5)


def _true_loss(thresholds):
    """E[L(t)] = int_t^inf (P_SUPER - p_swift(s)) phi(s) ds, on a fine grid."""
    grid = np.linspace(-8, 8, 40001)
    density = (P_SUPER - _p_swift(grid)) * norm.pdf(grid)
    # Integral from each grid point up to the top, by the trapezoid rule.
    steps = np.diff(grid) * (density[1:] + density[:-1]) / 2
    above = np.r_[np.cumsum(steps[::-1])[::-1], 0.0]
    return np.where(np.isinf(thresholds), 0.0, np.interp(thresholds, grid, above))


def _sample(rng, n, real=False):
    s = rng.normal(size=n)
    if real:
        # Real qualities with the same means: Beta draws around each probability.
        p = _p_swift(s)
        swift = rng.beta(4 * p, 4 * (1 - p))
        super_ = rng.beta(4 * P_SUPER, 4 * (1 - P_SUPER), size=n)
    else:
        swift = (rng.random(n) < _p_swift(s)).astype(float)
        super_ = (rng.random(n) < P_SUPER).astype(float)
    return s, swift, super_


def _violations(rng, selector, n, reps, real=False):
    chosen, ratios = [], []
    for _ in range(reps):
        s, swift, super_ = _sample(rng, n, real)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CertificationWarning)
            selection = selector.select(
                s, swift > 0.5, super_ > 0.5, swift_quality=swift, super_quality=super_
            )
        chosen.append(selection.threshold)
        ratios.append(selection.swift_ratio)
    losses = _true_loss(np.array(chosen))
    return np.mean(losses > selector.tol), np.mean(ratios)


def test_true_loss_of_the_simulation_is_right():
    """The quadrature of E[L(t)] agrees with a large Monte Carlo sample."""
    rng = np.random.default_rng(0)
    s, swift, super_ = _sample(rng, 400_000)
    for t in (-1.0, 0.0, 1.0):
        monte_carlo = np.mean((super_ - swift) * (s >= t))
        assert _true_loss(np.array([t]))[0] == pytest.approx(monte_carlo, abs=3e-3)


def test_violation_rate_is_at_most_delta_clopper_pearson():
    """200 calibration samples: the true loss exceeds tol in <= delta of them."""
    rng = np.random.default_rng(1)
    delta, reps = 0.1, 200
    guaranteed = ThresholdSelector("risk_control", tol=0.01, delta=delta)
    rate, ratio = _violations(rng, guaranteed, 1000, reps)
    # Monte Carlo slack: three standard errors of a rate of delta.
    assert rate <= delta + 3 * np.sqrt(delta * (1 - delta) / reps)
    assert ratio > 0.3  # not vacuous: a good share of inputs stays with the Swift
    # The test can fail: the empirical rule breaks its promise far more often.
    empirical_rate, empirical_ratio = _violations(
        rng, ThresholdSelector("match_super", tol=0.01), 1000, reps
    )
    assert empirical_rate > 0.3 and empirical_ratio > ratio


def test_violation_rate_is_at_most_delta_betting_real_qualities():
    """Real-valued qualities (as for seq2seq): the betting bound keeps its promise."""
    rng = np.random.default_rng(2)
    delta, reps = 0.1, 80
    guaranteed = ThresholdSelector("risk_control", tol=0.02, delta=delta)
    rate, ratio = _violations(rng, guaranteed, 600, reps, real=True)
    assert rate <= delta + 3 * np.sqrt(delta * (1 - delta) / reps)
    assert ratio > 0.3


def test_bound_is_not_vacuous_for_a_clearly_good_swift():
    """A Swift as good as the Super on most inputs: most of them are kept."""
    rng = np.random.default_rng(3)
    scores = rng.normal(size=2000)
    swift = scores > -1.5  # wrong only on the lowest 7% of scores
    selection = ThresholdSelector("risk_control", tol=0.005).select(
        scores, swift, np.ones(2000, bool)
    )
    assert selection.certified and selection.loss_bound <= 0.005
    assert selection.swift_ratio > 0.8
    assert selection.bound == "clopper_pearson" and selection.delta == 0.1


def test_joint_classifier_takes_the_guaranteed_selector(texts, text_models):
    """JointClassifier passes its calibration qualities to the selector."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, _) = texts
    selector = ThresholdSelector("risk_control", tol=0.05, delta=0.2)
    clf = JointClassifier(swift, super_, threshold=selector).fit(X_dev, y_dev)
    selection = clf.threshold_selection_
    cal = clf.calibration_
    direct = certify(
        cal.scores,
        cal.swift_quality,
        cal.super_quality,
        epsilon=0.05,
        delta=0.2,
        cost=clf.curve_.cost,
    )
    assert selection.certified
    assert clf.threshold_ == selection.threshold == direct.threshold
    assert selection.loss_bound == pytest.approx(direct.loss_bound)
    assert selection.empirical_loss <= selection.loss_bound <= 0.05
    assert 0 < clf.routing_report(X_test).swift_ratio < 1


def test_joint_classifier_warns_when_nothing_is_certified(texts, text_models):
    """Too few calibration rows for tol=0: the model serves with the Super only."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, _) = texts
    selector = ThresholdSelector("risk_control", tol=0.0, delta=0.05)
    with pytest.warns(CertificationWarning, match="calibration rows"):
        clf = JointClassifier(swift, super_, threshold=selector).fit(
            X_dev[:60], y_dev[:60]
        )
    assert clf.threshold_ == np.inf
    assert clf.routing_report(X_test).swift_ratio == 0
