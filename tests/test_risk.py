"""The confidence bounds behind ThresholdSelector('risk_control')."""

import warnings

import numpy as np
import pytest

from elang_sk import ThresholdSelector
from elang_sk.routing._risk import (
    CertificationWarning,
    betting_bound,
    betting_rejects,
    certify,
    clopper_pearson_bound,
)


def _trinomial(rng, n, p_harm, p_gain, size):
    u = rng.random((size, n))
    return (u < p_harm).sum(axis=1), (u > 1 - p_gain).sum(axis=1)


def test_clopper_pearson_bound_covers_the_true_loss():
    """The harm-minus-gain bound covers p_harm - p_gain >= 1 - delta of the time."""
    rng = np.random.default_rng(0)
    n, p_harm, p_gain, delta = 400, 0.03, 0.01, 0.1
    harm, gain = _trinomial(rng, n, p_harm, p_gain, 4000)
    bounds = clopper_pearson_bound(harm, gain, n, delta)
    coverage = np.mean(bounds >= p_harm - p_gain)
    assert coverage >= 1 - delta
    # Exact and split in two, not vacuous: most bounds stay well below 1.
    assert np.median(bounds) < p_harm - p_gain + 0.03


def test_clopper_pearson_bound_matches_the_beta_quantiles():
    """No harm and no gain: the bound is 1 - (delta/2)**(1/n), the exact CP edge."""
    n, delta = 250, 0.1
    bound = clopper_pearson_bound(np.array([0.0]), np.array([0.0]), n, delta)[0]
    assert bound == pytest.approx(1 - (delta / 2) ** (1 / n))
    assert clopper_pearson_bound(np.array([n]), np.array([0.0]), n, delta)[0] == 1


def test_betting_bound_covers_a_real_valued_loss():
    """The betting bound covers the mean of a loss in [-1, 1] often enough."""
    rng = np.random.default_rng(1)
    n, delta, reps = 300, 0.1, 150
    values = np.array([-0.7, 0.0, 0.4, 1.0])
    probs = np.array([0.05, 0.8, 0.1, 0.05])
    mean = values @ probs
    losses = rng.choice(values, p=probs, size=(reps, n))
    covered = [betting_bound(loss, delta) >= mean for loss in losses]
    assert np.mean(covered) >= 1 - delta


def test_betting_bound_adapts_to_a_small_variance():
    """Mostly-zero losses: the betting bound beats Hoeffding's by a wide margin."""
    rng = np.random.default_rng(2)
    n, delta = 2000, 0.1
    loss = np.where(rng.random(n) < 0.02, 1.0, 0.0)
    hoeffding = loss.mean() + 2 * np.sqrt(np.log(1 / delta) / (2 * n))
    bound = betting_bound(loss, delta)
    assert loss.mean() < bound < loss.mean() + 0.4 * (hoeffding - loss.mean())


def test_betting_rejects_is_monotone_in_epsilon():
    """A larger promised loss is easier to certify, never harder."""
    rng = np.random.default_rng(3)
    loss = np.where(rng.random(500) < 0.03, 1.0, 0.0)
    decisions = [betting_rejects(loss, eps, 0.1) for eps in np.linspace(0, 0.2, 41)]
    assert decisions == sorted(decisions)
    assert not decisions[0] and decisions[-1]


def test_certify_refuses_clopper_pearson_on_real_qualities():
    """Clopper-Pearson needs 0/1 qualities; the error names the fix."""
    scores = np.arange(5.0)
    with pytest.raises(ValueError, match="bound='betting'"):
        certify(
            scores,
            np.full(5, 0.5),
            np.ones(5),
            epsilon=0.1,
            delta=0.1,
            bound="clopper_pearson",
        )


@pytest.mark.parametrize("bound", ["clopper_pearson", "betting"])
def test_rows_needed_are_enough(bound):
    """Too few rows: nothing certified; n_needed copies of the same rows certify."""
    rng = np.random.default_rng(4)
    scores = rng.normal(size=100)
    swift = (scores > -0.5).astype(float)
    super_ = np.ones(100)
    small = certify(scores, swift, super_, epsilon=0.01, delta=0.1, bound=bound)
    assert not small.certified and small.threshold == np.inf
    assert 100 < small.n_needed < 10**5
    copies = int(np.ceil(small.n_needed / 100))
    big = certify(
        np.tile(scores, copies) + np.repeat(np.arange(copies), 100) * 1e-9,
        np.tile(swift, copies),
        np.tile(super_, copies),
        epsilon=0.01,
        delta=0.1,
        bound=bound,
    )
    assert big.certified and big.loss_bound <= 0.01


def test_uncertified_selection_warns_and_sends_everything_to_the_super():
    """Nothing certifiable: CertificationWarning, threshold inf, certified=False."""
    scores = np.linspace(0, 1, 50)
    swift = np.r_[np.zeros(25, bool), np.ones(25, bool)]
    with pytest.warns(CertificationWarning, match="every input goes to the Super"):
        selection = ThresholdSelector("risk_control", tol=0.005).select(
            scores, swift, np.ones(50, bool)
        )
    assert selection.threshold == np.inf and selection.swift_ratio == 0
    assert not selection.certified and selection.n_needed > 50


def test_hopeless_swift_says_no_row_count_would_do():
    """A Swift wrong on its best-scored input at tol 0: n_needed is inf, said so."""
    scores = np.arange(10.0)
    swift = np.r_[np.ones(9, bool), False]
    with pytest.warns(CertificationWarning, match="No number of rows would"):
        selection = ThresholdSelector("risk_control", tol=0.0).select(
            scores, swift, np.ones(10, bool)
        )
    assert selection.n_needed == np.inf


def test_risk_control_refuses_unequal_weights():
    """The guarantee is for equally weighted inputs: unequal weights are refused."""
    scores = np.arange(4.0)
    with pytest.raises(ValueError, match="cannot use unequal sample_weight"):
        ThresholdSelector("risk_control").select(
            scores, [1, 1, 0, 1], [1, 1, 1, 1], sample_weight=[1, 2, 1, 1]
        )


def test_risk_control_needs_the_super():
    """Without super_correct (or super_quality) there is no loss to bound."""
    with pytest.raises(ValueError, match="needs super_correct"):
        ThresholdSelector("risk_control").select([0.1, 0.2], [True, False])


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(delta=0.0), "delta"),
        (dict(delta=1.0), "delta"),
        (dict(bound="hoeffding"), "bound"),
    ],
)
def test_risk_control_parameters_are_validated(params, match):
    """delta in (0, 1) and a known bound, checked before any data is seen."""
    with pytest.raises(ValueError, match=match):
        ThresholdSelector("risk_control", **params).check_params()


def test_equal_weights_are_accepted():
    """Constant sample_weight changes nothing."""
    rng = np.random.default_rng(5)
    scores = rng.normal(size=3000)
    swift, super_ = scores > -1, np.ones(3000, bool)
    selector = ThresholdSelector("risk_control", tol=0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = selector.select(scores, swift, super_)
        weighted = selector.select(
            scores, swift, super_, sample_weight=np.full(3000, 2)
        )
    assert plain.threshold == weighted.threshold
