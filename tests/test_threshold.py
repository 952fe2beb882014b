"""ThresholdSelector strategies."""

import numpy as np
import pytest
from scipy.stats import norm

from elang_sk import ThresholdSelector
from elang_sk.routing import _threshold
from elang_sk.routing._threshold import _bandwidth, _KernelDensity


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
    selection = ThresholdSelector("crossing").select(scores, correct)
    grid = np.linspace(-1.0, 1.0, 20001)
    gap = norm.pdf(grid, 1.0, 1.0) - norm.pdf(grid, -1.0, 0.5)
    analytic = grid[np.argmin(np.abs(gap))]
    assert abs(selection.threshold - analytic) < 0.15
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
    with pytest.raises(ValueError, match="in \\[0, 1\\]; got 3"):
        ThresholdSelector("swift_ratio", target=3).select([0.1, 0.2], [1, 0])
    with pytest.raises(ValueError, match="needs super_correct"):
        ThresholdSelector("match_super").select([0.1, 0.2], [1, 0])
    with pytest.raises(ValueError, match="swift_correct has 3 values but there are 2"):
        ThresholdSelector().select([0.1, 0.2], [1, 0, 1])
    with pytest.raises(ValueError, match="super_correct has 1 values but there are 2"):
        ThresholdSelector("match_super").select([0.1, 0.2], [1, 0], [1])
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


STRATEGY_PARAMS = [
    dict(strategy="crossing"),
    dict(strategy="swift_ratio", target=0.6),
    dict(strategy="budget", target=6.0),
    dict(strategy="match_super", tol=0.02),
]


def _problem(n=120, seed=0):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.normal(size=n), 1)  # ties
    swift_correct = rng.random(n) < 1 / (1 + np.exp(-2 * scores))
    super_correct = rng.random(n) < 0.9
    return scores, swift_correct, super_correct


def _select(selector, scores, swift_correct, super_correct, **kwargs):
    return selector.select(
        scores, swift_correct, super_correct, swift_cost=1.0, super_cost=10.0, **kwargs
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("params", STRATEGY_PARAMS)
def test_non_finite_scores_are_refused(params, bad):
    """NaN or infinite scores raise an error that counts them, for every strategy."""
    scores = np.array([0.5, bad, 0.1, 0.9])
    selector = ThresholdSelector(**params)
    with pytest.raises(ValueError, match="scores contain .* at index 1"):
        selector.select(scores, [1, 0, 0, 1], [1, 1, 1, 1])
    if params["strategy"] in ("crossing", "swift_ratio"):
        with pytest.raises(ValueError, match="scores contain .* at index 1"):
            selector.select(scores, [1, 0, 0, 1])


@pytest.mark.parametrize(
    "bad", [[0.7, 0.2, 1.0, 0.0], ["yes", "no", "yes", "no"], [2, 0, 1, 0]]
)
@pytest.mark.parametrize("params", STRATEGY_PARAMS)
def test_non_binary_correctness_is_refused(params, bad):
    """Right/wrong must be booleans or 0/1: probabilities or labels are refused."""
    selector = ThresholdSelector(**params)
    scores = [0.5, 0.3, 0.1, 0.9]
    with pytest.raises(ValueError, match="swift_correct must be boolean or 0/1"):
        selector.select(scores, bad, [1, 1, 1, 1])
    if params["strategy"] in ("crossing", "swift_ratio"):
        with pytest.raises(ValueError, match="swift_correct must be boolean or 0/1"):
            selector.select(scores, bad)
    with pytest.raises(ValueError, match="super_correct must be boolean or 0/1"):
        selector.select(scores, [1, 0, 0, 1], bad)


def test_zero_one_integers_and_floats_equal_booleans():
    """0/1 correctness given as int or float selects as booleans do."""
    scores, swift_correct, super_correct = _problem()
    for params in STRATEGY_PARAMS:
        selector = ThresholdSelector(**params)
        expected = _select(selector, scores, swift_correct, super_correct).threshold
        got = _select(
            selector, scores, swift_correct.astype(int), super_correct.astype(float)
        ).threshold
        assert got == expected


@pytest.mark.parametrize("n_grid", [1e9, 1024.0, 2**16 + 1, 15, "1024"])
def test_n_grid_must_be_a_bounded_integer(n_grid):
    """n_grid is an int in [16, 65536]: 1e9 fails at once instead of allocating."""
    with pytest.raises(ValueError, match="'n_grid' parameter"):
        ThresholdSelector(n_grid=n_grid).select([0.1, 0.9, 0.5], [0, 1, 1])


def test_densities_are_evaluated_in_bounded_blocks(monkeypatch):
    """Evaluating the kernels in small blocks gives the one-block result."""
    rng = np.random.default_rng(0)
    values, weights = rng.normal(size=50), rng.random(50)
    grid = np.linspace(-3, 3, 101)
    kde = _KernelDensity(values, weights)
    z = (grid[:, None] - values[None, :]) / kde.bandwidth
    pdf = np.exp(-0.5 * z**2) @ weights / weights.sum()
    pdf /= kde.bandwidth * np.sqrt(2 * np.pi)
    cdf = norm.cdf(z) @ weights / weights.sum()
    monkeypatch.setattr(_threshold, "_CHUNK", 7 * 50 + 3)
    np.testing.assert_allclose(kde.pdf(grid), pdf, rtol=1e-12)
    np.testing.assert_allclose(kde.cdf(grid), cdf, rtol=1e-12)
    monkeypatch.setattr(_threshold, "_CHUNK", 1)
    np.testing.assert_allclose(kde.cdf(grid), cdf, rtol=1e-12)


def test_check_params_rejects_unusable_selectors():
    """check_params fails on a missing or out-of-range target, before any data."""
    selector = ThresholdSelector("swift_ratio", target=0.7)
    assert selector.check_params() is selector
    assert ThresholdSelector("budget", target=12.5).check_params().target == 12.5
    for strategy in ("swift_ratio", "budget"):
        with pytest.raises(ValueError, match=f"strategy='{strategy}' needs a target"):
            ThresholdSelector(strategy).check_params()
    with pytest.raises(ValueError, match="in \\[0, 1\\]; got 1.5"):
        ThresholdSelector("swift_ratio", target=1.5).check_params()
    for target in (np.nan, np.inf, -0.1):
        with pytest.raises(ValueError, match="'target' parameter"):
            ThresholdSelector("budget", target=target).check_params()
    with pytest.raises(ValueError, match="'tol' parameter"):
        ThresholdSelector("match_super", tol=np.nan).check_params()


def test_select_checks_the_selector_before_the_data():
    """An unusable selector is reported first, even on bad data."""
    with pytest.raises(ValueError, match="needs a target"):
        ThresholdSelector("swift_ratio").select([np.nan], ["yes"])


def test_swift_ratio_with_ties_never_exceeds_the_target():
    """Tied scores are kept together, so the ratio stays at most the target."""
    selection = ThresholdSelector("swift_ratio", target=0.5).select(
        [1.0, 1.0, 1.0, 0.0], [1, 1, 0, 0]
    )
    assert selection.swift_ratio == 0.0
    assert selection.threshold == np.inf
    selection = ThresholdSelector("swift_ratio", target=0.75).select(
        [1.0, 1.0, 1.0, 0.0], [1, 1, 0, 0]
    )
    assert selection.swift_ratio == 0.75


@pytest.mark.parametrize("params", STRATEGY_PARAMS)
def test_uniform_weights_change_nothing(params):
    """Equal weights of any value select the unweighted threshold."""
    scores, swift_correct, super_correct = _problem()
    selector = ThresholdSelector(**params)
    expected = _select(selector, scores, swift_correct, super_correct)
    for weight in (1.0, 0.2, 5):
        got = _select(
            selector,
            scores,
            swift_correct,
            super_correct,
            sample_weight=np.full(scores.size, weight),
        )
        assert got.threshold == pytest.approx(expected.threshold, rel=1e-9, abs=1e-9)
        assert got.swift_ratio == pytest.approx(expected.swift_ratio)


@pytest.mark.parametrize("params", STRATEGY_PARAMS[1:])
def test_integer_weights_equal_repeated_rows_for_curve_strategies(params):
    """For the curve strategies an integer weight counts like repeated inputs."""
    scores, swift_correct, super_correct = _problem(seed=1)
    weights = np.random.default_rng(2).integers(1, 4, scores.size)
    selector = ThresholdSelector(**params)
    weighted = _select(
        selector, scores, swift_correct, super_correct, sample_weight=weights
    )
    repeated = _select(
        selector,
        np.repeat(scores, weights),
        np.repeat(swift_correct, weights),
        np.repeat(super_correct, weights),
    )
    assert weighted.threshold == repeated.threshold
    assert weighted.swift_ratio == pytest.approx(repeated.swift_ratio)


@pytest.mark.parametrize("params", STRATEGY_PARAMS)
def test_zero_weights_equal_dropping_the_rows(params):
    """Inputs of weight 0 change neither the kept set nor the densities."""
    scores, swift_correct, super_correct = _problem(seed=3)
    weights = (np.arange(scores.size) % 3 != 0).astype(float)
    keep = weights > 0
    selector = ThresholdSelector(**params)
    weighted = _select(
        selector, scores, swift_correct, super_correct, sample_weight=weights
    )
    dropped = _select(selector, scores[keep], swift_correct[keep], super_correct[keep])
    assert weighted.swift_ratio == pytest.approx(dropped.swift_ratio)
    np.testing.assert_array_equal(
        scores[keep] >= weighted.threshold, scores[keep] >= dropped.threshold
    )
    if params["strategy"] == "crossing":
        assert weighted.threshold == pytest.approx(dropped.threshold, rel=1e-12)


def test_tiny_weights_almost_drop_the_rows_from_the_crossing():
    """Wrong answers of weight 1e-6 barely count: the crossing moves to theirs."""
    rng = np.random.default_rng(4)
    scores = np.r_[
        rng.normal(1, 0.5, 300), rng.normal(-1, 0.5, 150), rng.normal(0.4, 0.2, 150)
    ]
    swift_correct = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    weights = np.r_[np.ones(450), np.full(150, 1e-6)]
    plain = ThresholdSelector().select(scores, swift_correct).threshold
    weighted = ThresholdSelector().select(scores, swift_correct, sample_weight=weights)
    dropped = ThresholdSelector().select(scores[:450], swift_correct[:450])
    assert abs(plain - dropped.threshold) > 0.2
    assert weighted.threshold == pytest.approx(dropped.threshold, abs=0.02)


def test_weighted_bandwidth_uses_the_effective_sample_size():
    """Integer weights give the repeated sample's spread and Kish's n_eff."""
    rng = np.random.default_rng(5)
    values = np.r_[rng.normal(-2, 0.3, 40), rng.normal(2, 0.3, 40)]  # IQR > std
    weights = rng.integers(1, 5, 80)
    n_eff = weights.sum() ** 2 / np.sum(weights**2)
    expected = 0.9 * np.std(np.repeat(values, weights)) * n_eff**-0.2
    assert _bandwidth(values, weights.astype(float)) == pytest.approx(expected)
    silverman = 0.9 * np.std(values) * 80**-0.2
    assert _bandwidth(values) == pytest.approx(silverman)


@pytest.mark.parametrize(
    "weights, match",
    [
        ([1.0, -1.0, 1.0], "finite and non-negative"),
        ([1.0, np.nan, 1.0], "finite and non-negative"),
        ([0.0, 0.0, 0.0], "zero for every input"),
        ([1.0, 1.0], "sample_weight has 2 values but there are 3"),
    ],
)
@pytest.mark.parametrize("params", STRATEGY_PARAMS)
def test_bad_sample_weight_is_refused(params, weights, match):
    """Weights must be finite, non-negative, not all zero, one per input."""
    with pytest.raises(ValueError, match=match):
        ThresholdSelector(**params).select(
            [0.1, 0.5, 0.9], [0, 1, 1], [1, 1, 1], sample_weight=weights
        )


def test_scores_too_wide_for_a_density_are_an_error():
    """Scores near the float64 limit cannot be smoothed: say so, no NaN threshold."""
    with pytest.raises(ValueError, match="too wide a range"):
        ThresholdSelector().select([-1.7e308, 1.7e308, 0.0, 1.0], [0, 1, 0, 1])
