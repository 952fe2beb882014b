"""Routing score components."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

from elang_sk import (
    EnergyScore,
    EntropyScore,
    RandomScore,
    SoftmaxScore,
    get_score,
)

LOGITS = np.array([[3.0, -1.0, 0.5], [0.1, 0.0, 0.2], [-2.0, 4.0, 1.0]])


def test_energy_is_logsumexp_of_logits():
    """The energy score is the negative free energy logsumexp(f) (eq. 4)."""
    np.testing.assert_allclose(EnergyScore()(LOGITS), logsumexp(LOGITS, axis=1))


def test_energy_temperature():
    """With temperature T the score is T * logsumexp(f / T)."""
    expected = 2.0 * logsumexp(LOGITS / 2.0, axis=1)
    np.testing.assert_allclose(EnergyScore(temperature=2.0)(LOGITS), expected)


def test_softmax_and_entropy_values():
    """Softmax is the max probability, entropy score is minus the entropy."""
    p = softmax(LOGITS, axis=1)
    np.testing.assert_allclose(SoftmaxScore()(LOGITS), p.max(axis=1))
    np.testing.assert_allclose(EntropyScore()(LOGITS), np.sum(p * np.log(p), axis=1))


@pytest.mark.parametrize("score", [EnergyScore(), SoftmaxScore(), EntropyScore()])
def test_confident_inputs_score_higher(score):
    """Higher means "the Swift keeps it": a peaked output beats a flat one."""
    peaked, flat = [[9.0, 0.0, 0.0]], [[1.0, 1.0, 1.0]]
    assert score(peaked)[0] > score(flat)[0]


def test_extreme_logits_stay_exact():
    """Logits of +-1e4 give exact, finite scores."""
    logits = np.array([[1e4, -1e4], [-1e4, -1e4]])
    np.testing.assert_allclose(EnergyScore()(logits), [1e4, -1e4 + np.log(2)])
    np.testing.assert_allclose(SoftmaxScore()(logits), [1.0, 0.5])
    np.testing.assert_allclose(EntropyScore()(logits), [0.0, -np.log(2)], atol=1e-12)


def test_float16_logits_are_scored_in_float64():
    """float16 logits give the same scores as their exact float64 values."""
    logits16 = np.array([[60000.0, 1.5], [-3.25, 2.0]], dtype=np.float16)
    expected = logsumexp(logits16.astype(np.float64), axis=1)
    np.testing.assert_allclose(EnergyScore()(logits16), expected, rtol=1e-15)
    assert np.isfinite(EnergyScore()(logits16)).all()


def _extreme_cases(big):
    """Rows of extreme logits and their exact max probability and -entropy."""
    return [
        ([big, -big], 1.0, 0.0),
        ([-big, big, 0.0], 1.0, 0.0),
        ([big, big], 0.5, -np.log(2)),
        ([-big, -big], 0.5, -np.log(2)),
        ([0.0, -big, -big], 1.0, 0.0),
    ]


@pytest.mark.parametrize(
    "dtype, big",
    [
        (np.float16, 1e4),
        (np.float16, 6e4),
        (np.float32, 1e4),
        (np.float32, 3e38),
        (np.float64, 1e4),
        (np.float64, 1e300),
        (np.float64, 1.7e308),
    ],
)
@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
def test_extreme_finite_logits_give_exact_finite_scores(dtype, big, temperature):
    """Logits up to the dtype's limit, alone or mixed, give exact finite scores."""
    big = float(dtype(big))
    for row, max_p, neg_entropy in _extreme_cases(big):
        logits = np.array([row, row], dtype=dtype)
        # The largest logit dominates, plus T log k for k tied maxima.
        n_top = np.sum(np.asarray(row) == max(row))
        energy = max(row) + temperature * np.log(n_top)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = {
                "energy": EnergyScore(temperature=temperature)(logits),
                "softmax": SoftmaxScore()(logits),
                "entropy": EntropyScore()(logits),
            }
        np.testing.assert_allclose(got["energy"], energy, rtol=1e-12)
        np.testing.assert_allclose(got["softmax"], max_p, rtol=1e-12)
        np.testing.assert_allclose(got["entropy"], neg_entropy, atol=1e-12)


def test_extreme_logits_per_position_are_averaged_without_overflow():
    """The mean over positions of energies near the float64 limit stays finite."""
    logits = np.full((1, 3, 2), 1.7e308)
    logits[0, :, 1] = -1.7e308
    np.testing.assert_allclose(EnergyScore()(logits), [1.7e308], rtol=1e-12)
    np.testing.assert_allclose(EntropyScore()(logits), [0.0], atol=1e-12)


@pytest.mark.parametrize("score", [EnergyScore(), SoftmaxScore(), EntropyScore()])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_logits_are_an_error(score, bad):
    """NaN or infinite logits raise an error that counts and locates them."""
    logits = LOGITS.copy()
    logits[1, 2] = bad
    with pytest.raises(ValueError, match=r"NaN or infinity .* index \(1, 2\)"):
        score(logits)
    per_position = np.zeros((2, 3, 4))
    per_position[1, 0, 3] = bad
    mask = np.array([[1, 1, 0], [1, 0, 0]], dtype=bool)
    with pytest.raises(ValueError, match=r"NaN or infinity .* index \(1, 0, 3\)"):
        score(per_position, mask)


def test_float16_overflow_is_reported_as_non_finite():
    """float16 logits that overflowed to inf say to run the model in float32."""
    logits = np.array([[np.inf, 0.0]], dtype=np.float16)
    with pytest.raises(ValueError, match="1 infinite values.*float32"):
        EnergyScore()(logits)


def test_non_numeric_and_bad_shapes_are_errors():
    """Texts, 1-D and empty arrays are rejected with what was wrong."""
    with pytest.raises(TypeError, match="numeric array"):
        EnergyScore()(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="shape"):
        EnergyScore()(np.zeros(3))
    with pytest.raises(ValueError, match="hold no values"):
        EnergyScore()(np.zeros((0, 2)))


def test_log_probabilities_have_constant_energy():
    """The pitfall energy must avoid: log-probabilities all have energy 0."""
    log_p = np.log(softmax(LOGITS, axis=1))
    np.testing.assert_allclose(EnergyScore()(log_p), 0.0, atol=1e-12)


def test_per_position_energy_is_averaged_over_real_positions():
    """3-D logits with a mask average the per-position energies (eq. 9)."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 5, 7))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1] * 5])
    per_position = logsumexp(logits, axis=2)
    expected = [per_position[i, mask[i] == 1].mean() for i in range(4)]
    np.testing.assert_allclose(EnergyScore()(logits, mask), expected)


@pytest.mark.parametrize(
    "aggregate, reduce",
    [
        ("min", np.min),
        ("median", np.median),
        (0.2, lambda v: np.quantile(v, 0.2)),
    ],
)
def test_other_aggregations(aggregate, reduce):
    """min, median and quantile aggregate only over the real positions."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 6, 4))
    mask = np.array([[1] * 6, [1, 1, 1, 0, 0, 0], [0, 1, 1, 1, 1, 0]], dtype=bool)
    per_position = np.max(softmax(logits, axis=2), axis=2)
    expected = [reduce(per_position[i, mask[i]]) for i in range(3)]
    np.testing.assert_allclose(
        SoftmaxScore(aggregate=aggregate)(logits, mask), expected
    )


def test_mask_errors():
    """A mask of the wrong shape, on 2-D logits, or with an empty row is refused."""
    logits = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="mask has shape"):
        EnergyScore()(logits, np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="only meaningful for 3-D"):
        EnergyScore()(np.zeros((2, 4)), np.ones((2, 1), bool))
    with pytest.raises(ValueError, match="selects no position"):
        EnergyScore()(logits, np.array([[1, 1, 0], [0, 0, 0]], bool))


@pytest.mark.parametrize(
    "mask", [[[1, 2, 0], [1, 0, 0]], [[0.5, 1, 0], [1, 0, 0]], [["a", "b"], ["c", ""]]]
)
def test_non_binary_mask_is_an_error(mask):
    """A mask of other values than booleans or 0/1 is refused, not cast to bool."""
    with pytest.raises(ValueError, match="mask must be boolean or 0/1"):
        EnergyScore()(np.zeros((2, 3, 4)), np.array(mask))


def test_zero_one_mask_equals_boolean_mask():
    """An integer or float 0/1 mask is the same as the boolean mask."""
    logits = np.random.default_rng(2).normal(size=(2, 3, 4))
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    expected = EnergyScore()(logits, mask.astype(bool))
    np.testing.assert_array_equal(EnergyScore()(logits, mask), expected)
    np.testing.assert_array_equal(EnergyScore()(logits, mask.astype(float)), expected)


def test_random_score_is_seeded():
    """The random baseline is reproducible with a seed and differs across seeds."""
    a = RandomScore(random_state=3)(np.zeros((50, 2)))
    b = RandomScore(random_state=3)(np.zeros((50, 2)))
    c = RandomScore(random_state=4)(np.zeros((50, 2)))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    with pytest.raises(ValueError, match="empty"):
        RandomScore()(np.zeros((0, 2)))


def test_get_score_shortcuts_and_objects():
    """Names map to score objects; objects pass through; unknown names fail."""
    assert isinstance(get_score("energy"), EnergyScore)
    assert isinstance(get_score("random"), RandomScore)
    custom = EnergyScore(temperature=3.0)
    assert get_score(custom) is custom
    with pytest.raises(ValueError, match="score"):
        get_score("confidence")


def test_invalid_parameters_are_rejected():
    """Temperature must be positive and aggregate a known name or quantile."""
    with pytest.raises(ValueError, match="temperature"):
        EnergyScore(temperature=0)(LOGITS)
    with pytest.raises(ValueError, match="aggregate"):
        EntropyScore(aggregate="max")(LOGITS)
