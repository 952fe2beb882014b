"""Cost accounting (eq. 17), the trade-off curve and the scorers."""

import numpy as np
import pytest

from elang_sk.metrics import joint_cost, make_tradeoff_scorer, tradeoff_curve


def _brute_force(scores, swift_correct, super_correct, swift, sup, router):
    rows = []
    for t in np.r_[np.inf, np.unique(scores)[::-1]]:
        keep = scores >= t
        accuracy = np.mean(np.where(keep, swift_correct, super_correct))
        cost = np.mean(router + np.where(keep, swift - router, sup))
        rows.append((t, accuracy, keep.mean(), cost))
    return np.array(rows)


def test_tradeoff_curve_equals_brute_force_with_ties_and_per_input_costs():
    """The one-pass curve equals thresholding at every distinct score."""
    rng = np.random.default_rng(0)
    n = 200
    scores = rng.integers(0, 40, n) / 4.0  # many ties
    swift_correct = rng.random(n) < 0.7
    super_correct = rng.random(n) < 0.9
    swift = rng.uniform(1, 2, n)
    router = swift * 0.3
    sup = rng.uniform(8, 12, n)
    curve = tradeoff_curve(
        scores,
        swift_correct,
        super_correct,
        swift_cost=swift,
        super_cost=sup,
        router_cost=router,
    )
    expected = _brute_force(scores, swift_correct, super_correct, swift, sup, router)
    np.testing.assert_allclose(curve.thresholds, expected[:, 0])
    np.testing.assert_allclose(curve.accuracy, expected[:, 1])
    np.testing.assert_allclose(curve.swift_ratio, expected[:, 2])
    np.testing.assert_allclose(curve.cost, expected[:, 3])
    np.testing.assert_allclose(curve.speedup, sup.mean() / expected[:, 3])


def test_joint_cost_is_eq_17():
    """All inputs pay the router; kept ones the rest of the Swift, others the Super."""
    kept = [True, False, True, False]
    cost = joint_cost(kept, swift_cost=2.0, super_cost=10.0, router_cost=0.5)
    assert cost == pytest.approx((2.0 + 10.5 + 2.0 + 10.5) / 4)
    assert joint_cost([True], 2.0, 10.0) == 2.0


def test_cost_validation():
    """Costs of the wrong length, negative or NaN are refused."""
    with pytest.raises(ValueError, match="one value per input"):
        joint_cost([True, False], [1.0, 2.0, 3.0], 10.0)
    with pytest.raises(ValueError, match="non-negative"):
        joint_cost([True, False], -1.0, 10.0)
    with pytest.raises(ValueError, match="non-negative"):
        tradeoff_curve([0.1], [1], [1], super_cost=np.nan)
    with pytest.raises(ValueError, match="same length"):
        tradeoff_curve([0.1, 0.2], [1, 0], [1])
    with pytest.raises(ValueError, match="at least one"):
        tradeoff_curve([], [], [])


class _FakeJoint:
    def __init__(self, accuracy, cost, super_cost):
        self.report = type(
            "R",
            (),
            dict(
                accuracy=accuracy, cost_per_input=cost, super_cost_per_input=super_cost
            ),
        )

    def routing_report(self, X, y=None):
        return self.report


def test_tradeoff_scorer_penalises_relative_cost_and_budget():
    """accuracy - w * relative cost, and over-budget settings rank last."""
    scorer = make_tradeoff_scorer(cost_weight=0.1)
    assert scorer(_FakeJoint(0.9, 5.0, 10.0), None, None) == pytest.approx(0.85)
    budget = make_tradeoff_scorer(max_relative_cost=0.5)
    within = budget(_FakeJoint(0.80, 4.0, 10.0), None, None)
    over = budget(_FakeJoint(0.99, 6.0, 10.0), None, None)
    assert within == pytest.approx(0.80)
    assert over < 0 < within
    with pytest.raises(ValueError, match="cost_weight"):
        make_tradeoff_scorer(cost_weight=-1)
    with pytest.raises(ValueError, match="max_relative_cost"):
        make_tradeoff_scorer(max_relative_cost=0)
