"""ThresholdSelector strategies."""

import numpy as np
import pytest
from scipy.stats import norm

from elang_sk import ThresholdSelector


def _two_groups(n_right=2000, n_wrong=1000, seed=0, wrong_scale=1.0):
    rng = np.random.default_rng(seed)
    scores = np.r_[
        rng.normal(1.0, 1.0, n_right), rng.normal(-1.0, wrong_scale, n_wrong)
    ]
    swift_correct = np.r_[np.ones(n_right, bool), np.zeros(n_wrong, bool)]
    return scores, swift_correct


def test_crossing_of_equal_variance_densities_is_the_midpoint():
    """Unit-variance groups at +1 and -1 cross at 0, whatever their sizes."""
    scores, correct = _two_groups()
    threshold = ThresholdSelector("crossing").select(scores, correct).threshold
    assert abs(threshold) < 0.15


def test_crossing_matches_the_analytic_crossing_of_normal_densities():
    """With unequal spreads the threshold is where the two densities are equal."""
    scores, correct = _two_groups(n_right=4000, n_wrong=4000, wrong_scale=0.5)
    threshold = ThresholdSelector("crossing").select(scores, correct).threshold
    grid = np.linspace(-1.0, 1.0, 20001)
    gap = norm.pdf(grid, 1.0, 1.0) - norm.pdf(grid, -1.0, 0.5)
    analytic = grid[np.argmin(np.abs(gap))]
    assert abs(threshold - analytic) < 0.15
    selection = ThresholdSelector("crossing").select(scores, correct)
    assert set(selection.densities) == {"grid", "right", "wrong"}
    assert selection.curve is None


def test_crossing_edge_cases():
    """A Swift that is never wrong keeps everything; never right, nothing."""
    scores = np.array([0.1, 0.5, 0.9])
    assert ThresholdSelector().select(scores, [1, 1, 1]).threshold == -np.inf
    assert ThresholdSelector().select(scores, [0, 0, 0]).threshold == np.inf
    constant = ThresholdSelector().select([1.0, 1.0, 1.0, 1.0], [1, 0, 1, 0])
    assert np.isfinite(constant.threshold)


def test_swift_ratio_keeps_at_most_the_target_fraction():
    """The largest Swift ratio not above the target is chosen."""
    scores, correct = _two_groups(n_right=70, n_wrong=30)
    selection = ThresholdSelector("swift_ratio", target=0.7).select(scores, correct)
    assert selection.swift_ratio == pytest.approx(0.7)
    assert np.mean(scores >= selection.threshold) == pytest.approx(0.7)


def test_match_super_is_the_cheapest_threshold_with_super_accuracy():
    """match_super returns the cheapest point at the Super's accuracy minus tol."""
    rng = np.random.default_rng(0)
    scores = rng.normal(size=400)
    swift_correct = rng.random(400) < 1 / (1 + np.exp(-2 * scores))
    super_correct = rng.random(400) < 0.9
    for tol in (0.0, 0.01, 0.05):
        selection = ThresholdSelector("match_super", tol=tol).select(
            scores, swift_correct, super_correct, swift_cost=1.0, super_cost=10.0
        )
        curve = selection.curve
        ok = curve.accuracy >= curve.accuracy[0] - tol - 1e-12
        chosen = np.flatnonzero(curve.thresholds == selection.threshold)[0]
        assert ok[chosen]
        assert curve.cost[chosen] == curve.cost[ok].min()


def test_budget_picks_the_most_accurate_affordable_threshold():
    """Among thresholds within the budget, the most accurate one wins."""
    rng = np.random.default_rng(1)
    scores = rng.normal(size=300)
    swift_correct = scores > -0.5
    super_correct = np.ones(300, bool)
    selection = ThresholdSelector("budget", target=4.0).select(
        scores, swift_correct, super_correct, swift_cost=1.0, super_cost=10.0
    )
    curve = selection.curve
    affordable = curve.cost <= 4.0
    chosen = np.flatnonzero(curve.thresholds == selection.threshold)[0]
    assert affordable[chosen]
    assert curve.accuracy[chosen] == curve.accuracy[affordable].max()


def test_budget_below_the_routing_cost_is_an_error():
    """A budget no threshold can meet says what the cheapest setting costs."""
    with pytest.raises(ValueError, match="cheapest setting costs 1"):
        ThresholdSelector("budget", target=0.5).select(
            [0.1, 0.2], [1, 0], [1, 1], swift_cost=1.0, super_cost=5.0
        )


def test_strategy_requirements_are_checked():
    """Missing targets, super_correct or bad lengths raise clear errors."""
    with pytest.raises(ValueError, match="needs a target"):
        ThresholdSelector("swift_ratio").select([0.1, 0.2], [1, 0])
    with pytest.raises(ValueError, match="fraction in"):
        ThresholdSelector("swift_ratio", target=3).select([0.1, 0.2], [1, 0])
    with pytest.raises(ValueError, match="needs super_correct"):
        ThresholdSelector("match_super").select([0.1, 0.2], [1, 0])
    with pytest.raises(ValueError, match="different lengths"):
        ThresholdSelector().select([0.1, 0.2], [1, 0, 1])
    with pytest.raises(ValueError, match="at least one"):
        ThresholdSelector().select([], [])
    with pytest.raises(ValueError, match="strategy"):
        ThresholdSelector("median").select([0.1], [1])


def test_a_precomputed_curve_replaces_the_computed_one():
    """A quality curve given to select() is used as is by the curve strategies."""
    from elang_sk.metrics import tradeoff_curve

    scores = np.array([3.0, 2.0, 1.0, 0.0])
    quality_swift = np.array([0.9, 0.8, 0.2, 0.1])
    quality_super = np.array([0.9, 0.9, 0.9, 0.9])
    curve = tradeoff_curve(scores, quality_swift, quality_super, super_cost=10.0)
    selection = ThresholdSelector("match_super", tol=0.05).select(
        scores, quality_swift >= quality_super, curve=curve
    )
    assert selection.curve is curve
    assert selection.threshold == 2.0  # keeps the two good ones: 0.875 >= 0.85
