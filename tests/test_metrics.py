"""Cost accounting (eq. 17), the trade-off curve and the scorers."""

import itertools
import sys

import numpy as np
import pytest

from elang_sk.metrics import (
    corpus_quality,
    joint_cost,
    make_tradeoff_scorer,
    oracle_super_calls,
    performance_gap_recovered,
    sentence_chrf,
    tradeoff_curve,
)


def _brute_force(scores, swift_correct, super_correct, swift, sup, router, w=None):
    w = np.ones(len(scores)) if w is None else w
    rows = []
    for t in np.r_[np.inf, np.unique(scores)[::-1]]:
        keep = scores >= t
        accuracy = np.average(np.where(keep, swift_correct, super_correct), weights=w)
        cost = np.average(router + np.where(keep, swift - router, sup), weights=w)
        rows.append((t, accuracy, np.average(keep, weights=w), cost))
    return np.array(rows)


def _random_problem(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return dict(
        scores=rng.integers(0, 40, n) / 4.0,  # many ties
        swift_correct=rng.random(n) < 0.7,
        super_correct=rng.random(n) < 0.9,
        swift_cost=rng.uniform(1, 2, n),
        super_cost=rng.uniform(8, 12, n),
    )


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
    with pytest.raises(ValueError, match="super_correct has 1 values but there are 2"):
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


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_are_an_error(bad):
    """NaN or infinite scores are counted and located, never ranked."""
    scores = np.array([0.1, 0.2, bad, 0.3])
    n_nan = int(np.isnan(bad))
    with pytest.raises(
        ValueError, match=rf"{n_nan} NaN and {1 - n_nan} infinite .* at index 2"
    ):
        tradeoff_curve(scores, [1, 0, 1, 0], [1, 1, 1, 1])


def test_non_numeric_scores_are_an_error():
    """Scores given as texts are refused with a TypeError."""
    with pytest.raises(TypeError, match="numeric routing scores"):
        tradeoff_curve(["high", "low"], [1, 0], [1, 1])


@pytest.mark.parametrize(
    "bad, match",
    [
        (["yes", "no", "yes"], "boolean, 0/1 or a quality in"),
        ([2, 0, 1], "got values from 0 to 2"),
        ([0.5, -0.1, 1.0], "got values from -0.1 to 1"),
        ([1.0, np.nan, 0.0], "1 NaN values .* index 1"),
    ],
)
def test_bad_correctness_in_the_curve_is_an_error(bad, match):
    """Labels, values outside [0, 1] and NaN are refused as right/wrong."""
    with pytest.raises(ValueError, match=match):
        tradeoff_curve([0.1, 0.2, 0.3], bad, [1, 1, 1])
    with pytest.raises(ValueError, match=match.replace("swift", "super")):
        tradeoff_curve([0.1, 0.2, 0.3], [1, 1, 1], bad)


def test_per_input_qualities_give_the_mean_quality():
    """Real qualities in [0, 1] (sentence chrF) make accuracy the mean quality."""
    rng = np.random.default_rng(3)
    scores = rng.normal(size=50)
    swift_q, super_q = rng.random(50), rng.random(50)
    curve = tradeoff_curve(scores, swift_q, super_q, super_cost=4.0)
    ones = np.ones(50)
    expected = _brute_force(scores, swift_q, super_q, ones, 4 * ones, ones)
    np.testing.assert_allclose(curve.accuracy, expected[:, 1])


def test_integer_weights_equal_repeated_rows():
    """An integer sample weight counts like that many copies of the input."""
    problem = _random_problem(n=60, seed=1)
    weights = np.random.default_rng(2).integers(0, 4, 60)
    weighted = tradeoff_curve(**problem, sample_weight=weights)
    repeated = tradeoff_curve(
        **{key: np.repeat(value, weights) for key, value in problem.items()}
    )
    # Inputs of weight 0 keep their threshold points, at unchanged values.
    rows = np.isin(weighted.thresholds, repeated.thresholds)
    for key in ("thresholds", "accuracy", "swift_ratio", "cost", "speedup"):
        np.testing.assert_allclose(weighted[key][rows], repeated[key], rtol=1e-12)


def test_weighted_curve_equals_brute_force():
    """Real weights give the weighted means of accuracy, ratio and cost."""
    problem = _random_problem(n=80, seed=4)
    weights = np.random.default_rng(5).random(80)
    curve = tradeoff_curve(**problem, sample_weight=weights)
    expected = _brute_force(
        problem["scores"],
        problem["swift_correct"],
        problem["super_correct"],
        problem["swift_cost"],
        problem["super_cost"],
        problem["swift_cost"],
        weights,
    )
    np.testing.assert_allclose(curve.accuracy, expected[:, 1])
    np.testing.assert_allclose(curve.swift_ratio, expected[:, 2])
    np.testing.assert_allclose(curve.cost, expected[:, 3])


def test_uniform_weights_change_nothing():
    """Equal weights, of any value, give the unweighted curve."""
    problem = _random_problem(n=70, seed=6)
    unweighted = tradeoff_curve(**problem)
    for weight in (1, 0.3, 7.0):
        curve = tradeoff_curve(**problem, sample_weight=np.full(70, weight))
        for key in ("thresholds", "accuracy", "swift_ratio", "cost", "speedup"):
            np.testing.assert_allclose(curve[key], unweighted[key], rtol=1e-12)


@pytest.mark.parametrize(
    "weights, error, match",
    [
        ([1.0, -1.0, 1.0], ValueError, "finite and non-negative.*1 negative"),
        ([1.0, np.nan, 1.0], ValueError, "finite and non-negative.*1 NaN"),
        ([1.0, np.inf, 1.0], ValueError, "finite and non-negative"),
        ([0, 0, 0], ValueError, "zero for every input"),
        ([1.0, 1.0], ValueError, "sample_weight has 2 values but there are 3"),
        (["a", "b", "c"], TypeError, "sample_weight must be numeric"),
    ],
)
def test_bad_sample_weight_is_an_error(weights, error, match):
    """Weights must be numeric, finite, non-negative, not all 0, one per input."""
    with pytest.raises(error, match=match):
        tradeoff_curve([0.1, 0.2, 0.3], [1, 0, 1], [1, 1, 1], sample_weight=weights)


def test_joint_cost_refuses_non_binary_kept_and_bad_costs():
    """kept must be booleans or 0/1; costs numbers, finite and non-negative."""
    with pytest.raises(ValueError, match="kept must be boolean or 0/1"):
        joint_cost([0.7, 1.0], 1.0, 10.0)
    with pytest.raises(ValueError, match="kept must be boolean or 0/1"):
        joint_cost(["yes", "no"], 1.0, 10.0)
    with pytest.raises(ValueError, match="at least one input"):
        joint_cost([], 1.0, 10.0)
    with pytest.raises(ValueError, match="router_cost must be finite.*1 NaN or inf"):
        joint_cost([True, False], 1.0, 10.0, router_cost=[0.5, np.inf])
    with pytest.raises(TypeError, match="super_cost must be a number"):
        joint_cost([True, False], 1.0, "ten")
    assert joint_cost([1, 0], 1.0, 10.0) == joint_cost([True, False], 1.0, 10.0)


def test_tradeoff_scorer_refuses_nan_and_a_free_super():
    """A NaN weight or budget is refused; a Super of cost 0 cannot be divided by."""
    with pytest.raises(ValueError, match="cost_weight"):
        make_tradeoff_scorer(cost_weight=np.nan)
    with pytest.raises(ValueError, match="max_relative_cost"):
        make_tradeoff_scorer(max_relative_cost=np.nan)
    with pytest.raises(ValueError, match="Super's cost, which is 0"):
        make_tradeoff_scorer()(_FakeJoint(0.9, 1.0, 0.0), None, None)


@pytest.mark.parametrize("metric", ["bleu", "chrf"])
def test_corpus_quality_is_sacrebleu(metric):
    """BLEU and chrF are sacrebleu's corpus scores with default settings."""
    import sacrebleu

    hyp = ["the cat sat on the mat", "a dog barked loudly", ""]
    ref = ["the cat sat on a mat", "the dog barked", "nothing"]
    compute = {"bleu": sacrebleu.corpus_bleu, "chrf": sacrebleu.corpus_chrf}[metric]
    expected = compute(hyp, [ref]).score
    assert corpus_quality(hyp, ref, metric) == pytest.approx(expected)
    assert corpus_quality(tuple(hyp), np.array(ref), metric) == pytest.approx(expected)


def test_exact_match_ignores_surrounding_whitespace():
    """The exact-match rate compares stripped outputs and references."""
    assert corpus_quality([" a ", "b", "c"], ["a", "b", "d"], "exact_match") == 2 / 3


def test_sentence_chrf_is_sacrebleu_over_100():
    """Sentence chrF is sacrebleu's sentence score of each output over 100."""
    from sacrebleu.metrics import CHRF

    hyp, ref = ["the cat sat", "a dog", ""], ["the cat sat", "the cat", "x"]
    chrf = CHRF()
    expected = [
        chrf.sentence_score(h, [r]).score / 100 for h, r in zip(hyp, ref, strict=True)
    ]
    np.testing.assert_allclose(sentence_chrf(hyp, ref), expected)
    assert sentence_chrf(hyp, ref)[0] == 1.0


@pytest.mark.parametrize("func", [corpus_quality, sentence_chrf])
def test_text_quality_input_errors(func):
    """Mismatched lengths, a lone string, non-texts and empty inputs are refused."""
    with pytest.raises(ValueError, match="different lengths \\(2 and 1\\)"):
        func(["a", "b"], ["a"])
    with pytest.raises(TypeError, match="single string"):
        func("a b", ["a b"])
    with pytest.raises(TypeError, match="references\\[1\\] is 3"):
        func(["a", "b"], ["a", 3])
    with pytest.raises(ValueError, match="hypotheses is empty"):
        func([], [])


def test_unknown_quality_metric_is_an_error():
    """A metric other than bleu, chrf and exact_match is refused by name."""
    with pytest.raises(ValueError, match="metric"):
        corpus_quality(["a"], ["a"], metric="rouge")


@pytest.mark.parametrize("func", [corpus_quality, sentence_chrf])
def test_missing_sacrebleu_says_how_to_install_it(func, monkeypatch):
    """Without sacrebleu, BLEU and chrF say to pip install it; exact match works."""
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    with pytest.raises(ImportError, match="pip install sacrebleu"):
        func(["a"], ["a"])
    assert corpus_quality(["a"], ["a"], "exact_match") == 1.0


def _brute_force_calls(swift, super_, target):
    """Fewest Super calls reaching ``target``, by trying every subset."""
    n = len(swift)
    for size in range(n + 1):
        for sent in itertools.combinations(range(n), size):
            joint = swift.copy()
            joint[list(sent)] = super_[list(sent)]
            if joint.mean() >= target - 1e-12:
                return size
    return None


@pytest.mark.parametrize("seed", range(12))
def test_oracle_super_calls_matches_brute_force(seed):
    """The greedy oracle makes exactly the fewest calls, for 0/1 and real qualities."""
    rng = np.random.default_rng(seed)
    n = 8
    if seed % 2:
        swift, super_ = rng.random(n).round(2), rng.random(n).round(2)
    else:
        swift = (rng.random(n) < 0.6).astype(float)
        super_ = (rng.random(n) < 0.8).astype(float)
    best = np.maximum(swift, super_).mean()
    for target in (super_.mean(), swift.mean(), (swift.mean() + best) / 2, best):
        oracle = oracle_super_calls(swift, super_, target=target)
        assert oracle.n_calls == _brute_force_calls(swift, super_, target)
        assert oracle.sent.sum() == oracle.n_calls
        joint = np.where(oracle.sent, super_, swift)
        assert joint.mean() == pytest.approx(oracle.quality)
        assert oracle.quality >= target - 1e-12


def test_oracle_super_calls_refuses_an_unreachable_target():
    """A target above what the better model per input gives is refused."""
    with pytest.raises(ValueError, match="No routing reaches"):
        oracle_super_calls([1, 0, 0], [0, 1, 0], target=0.9)
    with pytest.raises(ValueError, match="at least one input"):
        oracle_super_calls([], [])


def _brute_force_pgr(scores, swift, super_, n_calls):
    """Expected joint quality with the n_calls lowest-scored inputs sent,
    ties broken uniformly at random (all orders of the inputs enumerated)."""
    values = []
    for perm in itertools.permutations(range(len(scores))):
        # Sort by score, ties in the order of this permutation.
        order = sorted(range(len(scores)), key=lambda i: (scores[i], perm.index(i)))
        joint = swift.copy()
        joint[order[:n_calls]] = super_[order[:n_calls]]
        values.append(joint.mean())
    return np.mean(values)


@pytest.mark.parametrize("seed", range(6))
def test_performance_gap_recovered_matches_brute_force(seed):
    """APGR and CPT against the expected quality at each integer number of calls."""
    rng = np.random.default_rng(seed)
    n = 6
    scores = rng.integers(0, 3, n).astype(float)  # many ties
    swift = (rng.random(n) < 0.4).astype(float)
    super_ = np.ones(n)
    if swift.mean() == 1:
        swift[0] = 0
    result = performance_gap_recovered(scores, swift, super_, levels=(0.5, 0.8))
    quality = np.array(
        [_brute_force_pgr(scores, swift, super_, k) for k in range(n + 1)]
    )
    pgr = (quality - swift.mean()) / (super_.mean() - swift.mean())
    calls = np.arange(n + 1) / n
    # Ties interpolate linearly: the exact curve at every integer count.
    np.testing.assert_allclose(np.interp(calls, result.call_fraction, result.pgr), pgr)
    assert result.apgr == pytest.approx(np.trapezoid(pgr, calls))
    for level, cpt in zip((0.5, 0.8), result.cpt, strict=True):
        fine = np.linspace(0, 1, 100001)
        curve = np.interp(fine, calls, pgr)
        assert cpt == pytest.approx(fine[np.argmax(curve >= level - 1e-12)], abs=2e-5)


def test_performance_gap_recovered_random_router_is_about_one_half():
    """A random score recovers the gap linearly: APGR near 0.5, CPT(50%) near 0.5."""
    rng = np.random.default_rng(0)
    n = 20000
    swift = rng.random(n) < 0.7
    super_ = rng.random(n) < 0.9
    result = performance_gap_recovered(rng.random(n), swift, super_)
    assert result.apgr == pytest.approx(0.5, abs=0.03)
    assert result.cpt[0] == pytest.approx(0.5, abs=0.05)
    perfect = performance_gap_recovered(swift.astype(float) - super_, swift, super_)
    assert perfect.apgr > 0.9


def test_performance_gap_recovered_errors():
    """No gap to recover, or levels outside (0, 1]: clear errors."""
    with pytest.raises(ValueError, match="no gap to recover"):
        performance_gap_recovered([0.1, 0.2], [1, 1], [1, 0])
    with pytest.raises(ValueError, match="levels are fractions"):
        performance_gap_recovered([0.1, 0.2], [0, 1], [1, 1], levels=(0.5, 1.5))
