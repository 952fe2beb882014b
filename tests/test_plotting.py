"""Tests of the trade-off and score-distribution displays."""

import importlib
import sys

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from elang_sk import (
    JointClassifier,
    ScoreDistributionDisplay,
    SoftmaxScore,
    ThresholdSelector,
    TradeoffDisplay,
)
from elang_sk.metrics import joint_cost, tradeoff_curve

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=600, n_features=10, n_informative=4, flip_y=0.05, random_state=0
    )
    return X[:200], y[:200], X[200:400], y[200:400], X[400:], y[400:]


@pytest.fixture(scope="module")
def joint(data):
    """A fitted joint model with an energy head on the Swift's scaled features."""
    X_train, y_train, X_cal, y_cal, _, _ = data
    swift = make_pipeline(StandardScaler(), LogisticRegression())
    big = RandomForestClassifier(n_estimators=30, random_state=0)
    return JointClassifier(
        swift.fit(X_train, y_train),
        big.fit(X_train, y_train),
        costs={"swift": 1.0, "super": 10.0},
        cv=2,
    ).fit(X_cal, y_cal)


def _synthetic(n=300, seed=0):
    rng = np.random.default_rng(seed)
    swift_correct = rng.random(n) < 0.75
    super_correct = rng.random(n) < 0.9
    energy = np.where(swift_correct, 1.0, -1.0) + rng.normal(size=n)
    return energy, rng.random(n), swift_correct, super_correct


class _FlopsLogisticRegression(LogisticRegression):
    def estimate_flops(self, X, method="predict"):
        return np.full(X.shape[0], 2.0 * self.coef_.size)


class _FlopsForest(RandomForestClassifier):
    def estimate_flops(self, X, method="predict"):
        return np.full(X.shape[0], 1000.0)


def test_import_does_not_import_matplotlib(monkeypatch):
    """The plotting module imports with matplotlib made unimportable."""
    import elang_sk

    blocked = [name for name in sys.modules if name.split(".")[0] == "matplotlib"]
    for name in {"matplotlib", *blocked}:
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    original = sys.modules["elang_sk._plotting"]
    monkeypatch.delitem(sys.modules, "elang_sk._plotting")
    monkeypatch.setattr(elang_sk, "_plotting", original)  # restored afterwards
    module = importlib.import_module("elang_sk._plotting")
    assert module is not original
    assert hasattr(module, "TradeoffDisplay")


def test_tradeoff_from_predictions_draws_each_curve():
    """Each curve's line holds the cost and accuracy of tradeoff_curve."""
    energy, random, swift_correct, super_correct = _synthetic()
    display = TradeoffDisplay.from_predictions(
        {"energy": energy, "random": random},
        swift_correct,
        super_correct,
        swift_cost=1.0,
        super_cost=8.0,
        router_cost=0.5,
    )
    assert list(display.lines_) == ["energy", "random"]
    for name, scores in (("energy", energy), ("random", random)):
        curve = tradeoff_curve(
            scores,
            swift_correct,
            super_correct,
            swift_cost=1.0,
            super_cost=8.0,
            router_cost=0.5,
        )
        line = display.lines_[name]
        np.testing.assert_allclose(line.get_xdata(), curve.cost)
        np.testing.assert_allclose(line.get_ydata(), curve.accuracy)
        np.testing.assert_allclose(display.curves[name].thresholds, curve.thresholds)
        assert line.get_label() == name
    assert display.selected == {}
    assert display.selected_markers_ == {}


def test_tradeoff_marks_swift_and_super_alone():
    """The Swift and Super alone are marked, labelled and annotated."""
    energy, _, swift_correct, super_correct = _synthetic()
    swift_cost = np.linspace(1.0, 2.0, energy.size)
    display = TradeoffDisplay.from_predictions(
        energy, swift_correct, super_correct, swift_cost=swift_cost, super_cost=9.0
    )
    assert display.swift_point == pytest.approx((1.5, swift_correct.mean()))
    assert display.super_point == pytest.approx((9.0, super_correct.mean()))
    np.testing.assert_allclose(
        display.swift_marker_.get_xydata(), [display.swift_point]
    )
    np.testing.assert_allclose(
        display.super_marker_.get_xydata(), [display.super_point]
    )
    assert display.swift_marker_.get_label() == "Swift alone"
    assert display.super_marker_.get_label() == "Super alone"
    assert [text.get_text() for text in display.ax_.texts] == ["Swift", "Super"]
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == ["joint", "Swift alone", "Super alone"]


def test_tradeoff_marks_the_selected_threshold():
    """A threshold is marked at its joint cost and accuracy, on its curve only."""
    energy, random, swift_correct, super_correct = _synthetic()
    display = TradeoffDisplay.from_predictions(
        {"energy": energy, "random": random},
        swift_correct,
        super_correct,
        super_cost=5.0,
        threshold={"energy": 0.3},
    )
    kept = energy >= 0.3
    expected = (
        joint_cost(kept, 1.0, 5.0),
        np.mean(np.where(kept, swift_correct, super_correct)),
    )
    assert list(display.selected_markers_) == ["energy"]
    assert display.selected["energy"] == pytest.approx(expected)
    marker = display.selected_markers_["energy"]
    np.testing.assert_allclose(marker.get_xydata(), [expected])
    assert marker.get_color() == display.lines_["energy"].get_color()


def test_tradeoff_plots_on_the_given_axes():
    """from_predictions draws on the axes it is given."""
    energy, _, swift_correct, super_correct = _synthetic()
    fig, ax = plt.subplots()
    display = TradeoffDisplay.from_predictions(
        energy, swift_correct, super_correct, name="energy", ax=ax
    )
    assert display.ax_ is ax
    assert display.figure_ is fig
    assert display.lines_["energy"] in ax.lines


def test_tradeoff_axis_labels_name_the_cost_unit():
    """The x label carries the cost unit, the y label says accuracy."""
    energy, _, swift_correct, super_correct = _synthetic()
    display = TradeoffDisplay.from_predictions(
        energy, swift_correct, super_correct, cost_unit="FLOPs"
    )
    assert display.ax_.get_xlabel() == "Cost per input (FLOPs)"
    assert display.ax_.get_ylabel() == "Accuracy"
    display = TradeoffDisplay.from_predictions(energy, swift_correct, super_correct)
    assert display.ax_.get_xlabel() == "Cost per input"


def test_tradeoff_curve_kwargs_apply_per_curve():
    """curve_kwargs is one dict for all curves or one per curve."""
    energy, random, swift_correct, super_correct = _synthetic()
    scores = {"energy": energy, "random": random}
    display = TradeoffDisplay.from_predictions(
        scores,
        swift_correct,
        super_correct,
        curve_kwargs=[{"color": "red"}, {"color": "blue", "label": "baseline"}],
    )
    assert display.lines_["energy"].get_color() == "red"
    assert display.lines_["random"].get_label() == "baseline"
    with pytest.raises(ValueError, match="one dict per curve"):
        display.plot(curve_kwargs=[{"color": "red"}])


def test_tradeoff_from_predictions_rejects_mismatched_lengths():
    """Arrays of different lengths raise a ValueError naming them."""
    energy, _, swift_correct, super_correct = _synthetic()
    with pytest.raises(ValueError, match=r"got lengths swift_correct: 300"):
        TradeoffDisplay.from_predictions(energy[:-1], swift_correct, super_correct)
    with pytest.raises(ValueError, match=r"super_correct: 299"):
        TradeoffDisplay.from_predictions(energy, swift_correct, super_correct[:-1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scores": {}}, "empty dict"),
        ({"name": "mine"}, "keys of the scores dict name the curves"),
        ({"threshold": 0.5}, "threshold must be a dict"),
        ({"threshold": {"softmax": 0.5}}, r"names curves \['softmax'\]"),
    ],
)
def test_tradeoff_from_predictions_rejects_bad_arguments(kwargs, match):
    """Inconsistent names and thresholds raise a ValueError saying what to do."""
    energy, random, swift_correct, super_correct = _synthetic()
    params = {"scores": {"energy": energy, "random": random}, **kwargs}
    with pytest.raises(ValueError, match=match):
        TradeoffDisplay.from_predictions(
            swift_correct=swift_correct, super_correct=super_correct, **params
        )


def test_tradeoff_from_estimator_matches_the_joint_model(joint, data):
    """The estimator's curve, Swift/Super points and selected point are its own."""
    *_, X_test, y_test = data
    display = TradeoffDisplay.from_estimator(joint, X_test, y_test)
    swift_correct = joint.swift_estimator_.predict(X_test) == y_test
    super_correct = joint.super_estimator_.predict(X_test) == y_test

    assert list(display.lines_) == ["energy", "softmax", "entropy", "random"]
    curve = tradeoff_curve(
        joint.routing_scores(X_test),
        swift_correct,
        super_correct,
        swift_cost=1.0,
        super_cost=10.0,
    )
    np.testing.assert_allclose(display.lines_["energy"].get_xdata(), curve.cost)
    np.testing.assert_allclose(display.lines_["energy"].get_ydata(), curve.accuracy)
    assert display.swift_point == pytest.approx((1.0, swift_correct.mean()))
    assert display.super_point == pytest.approx((10.0, super_correct.mean()))
    assert display.cost_unit is None  # costs given without a unit
    assert display.ax_.get_xlabel() == "Cost per input"

    report = joint.routing_report(X_test, y_test)
    assert list(display.selected) == ["energy"]
    assert display.selected["energy"] == pytest.approx(
        (report.cost_per_input, report.accuracy)
    )


def test_tradeoff_from_estimator_scores_share_the_routers_logits(joint, data):
    """Baseline scores are computed on the fitted router's (energy head) logits."""
    *_, X_test, y_test = data
    display = TradeoffDisplay.from_estimator(
        joint, X_test, y_test, scores=["softmax", SoftmaxScore(aggregate="min")]
    )
    features = joint.swift_estimator_[:-1].transform(X_test)
    softmax = SoftmaxScore()(joint.router_.predict_logits(features))
    curve = tradeoff_curve(
        softmax,
        joint.swift_estimator_.predict(X_test) == y_test,
        joint.super_estimator_.predict(X_test) == y_test,
        swift_cost=1.0,
        super_cost=10.0,
    )
    np.testing.assert_allclose(display.lines_["softmax"].get_ydata(), curve.accuracy)
    assert "SoftmaxScore(aggregate='min')" in display.lines_
    assert display.selected == {}


def test_tradeoff_from_estimator_uses_per_input_flops(data):
    """With FLOPs costs, each model's estimate_flops gives the x axis."""
    X_train, y_train, X_cal, y_cal, X_test, y_test = data
    joint = JointClassifier(
        _FlopsLogisticRegression().fit(X_train, y_train),
        _FlopsForest(n_estimators=10, random_state=0).fit(X_train, y_train),
        router="softmax",
    ).fit(X_cal, y_cal)
    display = TradeoffDisplay.from_estimator(
        joint, X_test, y_test, scores=["softmax", "random"]
    )
    assert display.cost_unit == "FLOPs"
    assert display.ax_.get_xlabel() == "Cost per input (kFLOPs)"
    assert display.swift_point[0] == pytest.approx(20.0)
    assert display.super_point[0] == pytest.approx(1000.0)
    report = joint.routing_report(X_test, y_test)
    assert display.selected["softmax"] == pytest.approx(
        (report.cost_per_input, report.accuracy)
    )


def test_tradeoff_from_estimator_random_router_has_no_logits(data):
    """A joint model routing at random plots the random curve, not logit scores."""
    X_train, y_train, X_cal, y_cal, X_test, y_test = data
    joint = JointClassifier(
        LogisticRegression().fit(X_train, y_train),
        RandomForestClassifier(n_estimators=10, random_state=0).fit(X_train, y_train),
        router="random",
        costs={"swift": 1.0, "super": 10.0},
    ).fit(X_cal, y_cal)
    display = TradeoffDisplay.from_estimator(joint, X_test, y_test, scores=["random"])
    assert list(display.selected) == ["random"]
    with pytest.raises(ValueError, match="'energy' score needs the Swift's logits"):
        TradeoffDisplay.from_estimator(joint, X_test, y_test, scores=["energy"])


def test_tradeoff_from_estimator_refuses_energy_of_probabilities(data):
    """The energy score is refused when the router reads log-probabilities."""
    X_train, y_train, X_cal, y_cal, X_test, y_test = data
    joint = JointClassifier(
        GaussianNB().fit(X_train, y_train),
        RandomForestClassifier(n_estimators=10, random_state=0).fit(X_train, y_train),
        router="softmax",
        costs={"swift": 1.0, "super": 10.0},
    ).fit(X_cal, y_cal)
    assert joint.routing_method_ == "predict_proba"
    with pytest.raises(ValueError, match="needs real logits"):
        TradeoffDisplay.from_estimator(joint, X_test, y_test)


def test_tradeoff_from_estimator_rejects_repeated_scores(joint, data):
    """A score named twice raises a ValueError."""
    *_, X_test, y_test = data
    with pytest.raises(ValueError, match="'energy' twice"):
        TradeoffDisplay.from_estimator(
            joint, X_test, y_test, scores=["energy", "energy"]
        )


@pytest.mark.parametrize("display", [TradeoffDisplay, ScoreDistributionDisplay])
def test_from_estimator_requires_a_fitted_joint_model(display, data):
    """An unfitted joint model raises NotFittedError."""
    *_, X_test, y_test = data
    joint = JointClassifier(LogisticRegression(), RandomForestClassifier())
    with pytest.raises(NotFittedError, match="not fitted"):
        display.from_estimator(joint, X_test, y_test)


@pytest.mark.parametrize("display", [TradeoffDisplay, ScoreDistributionDisplay])
def test_from_estimator_rejects_mismatched_labels(display, joint, data):
    """X and y of different lengths raise a ValueError."""
    *_, X_test, y_test = data
    with pytest.raises(ValueError, match="X and y have different lengths"):
        display.from_estimator(joint, X_test, y_test[:-1])


def test_score_distribution_threshold_defaults_to_the_crossing():
    """Without a threshold, the crossing strategy's threshold is drawn."""
    energy, _, swift_correct, _ = _synthetic()
    display = ScoreDistributionDisplay.from_predictions(
        energy, swift_correct, name="energy"
    )
    expected = ThresholdSelector("crossing").select(energy, swift_correct).threshold
    assert display.threshold == pytest.approx(expected)
    np.testing.assert_allclose(display.threshold_line_.get_xdata(), expected)
    assert display.threshold_line_.get_label() == f"t = {expected:.3g}"
    assert display.ax_.get_xlabel() == "Routing score (energy)"
    assert display.ax_.get_ylabel() == "Density"


def test_score_distribution_histograms_are_density_normalised():
    """Each group's bars are its density histogram on shared bins."""
    energy, _, swift_correct, _ = _synthetic()
    display = ScoreDistributionDisplay.from_predictions(
        energy, swift_correct, threshold=0.0, bins=12
    )
    edges = np.histogram_bin_edges(energy, bins=12)
    for group, rows in (("right", swift_correct), ("wrong", ~swift_correct)):
        heights = [bar.get_height() for bar in display.bars_[group]]
        expected, _ = np.histogram(energy[rows], bins=edges, density=True)
        np.testing.assert_allclose(heights, expected)


def test_score_distribution_densities_cross_at_the_threshold():
    """The KDE lines hold nearly all their mass on the observed range and are
    equal at the crossing threshold."""
    energy, _, swift_correct, _ = _synthetic(n=400, seed=1)
    display = ScoreDistributionDisplay.from_predictions(energy, swift_correct)
    grid = display.densities.grid
    for group in ("right", "wrong"):
        line = display.density_lines_[group]
        np.testing.assert_allclose(line.get_xdata(), grid)
        np.testing.assert_allclose(line.get_ydata(), display.densities[group])
        mass = np.trapezoid(display.densities[group], grid)
        assert 0.97 < mass < 1.0
        assert line.get_label().startswith(f"Swift {group} (n=")
    right, wrong = (
        np.interp(display.threshold, grid, display.densities[group])
        for group in ("right", "wrong")
    )
    assert right == pytest.approx(wrong, rel=0.02)


def test_score_distribution_with_one_group_and_no_finite_threshold():
    """A Swift that is never wrong gets one histogram and no threshold line."""
    energy, _, _, _ = _synthetic()
    display = ScoreDistributionDisplay.from_predictions(
        energy, np.ones(energy.size, bool)
    )
    assert display.threshold == -np.inf
    assert display.threshold_line_ is None
    assert list(display.bars_) == ["right"]
    assert display.densities.wrong is None


def test_score_distribution_plots_on_the_given_axes():
    """from_predictions draws on the axes it is given."""
    energy, _, swift_correct, _ = _synthetic()
    fig, ax = plt.subplots()
    display = ScoreDistributionDisplay.from_predictions(
        energy, swift_correct, threshold=0.0, ax=ax
    )
    assert display.ax_ is ax
    assert display.figure_ is fig
    assert display.threshold_line_ in ax.lines


def test_score_distribution_rejects_mismatched_lengths():
    """Scores and correctness of different lengths raise a ValueError."""
    energy, _, swift_correct, _ = _synthetic()
    with pytest.raises(ValueError, match=r"swift_correct: 300, scores: 299"):
        ScoreDistributionDisplay.from_predictions(energy[:-1], swift_correct)


def test_score_distribution_from_estimator_uses_its_scores(joint, data, monkeypatch):
    """The joint model's routing scores and threshold are drawn; no Super run."""
    *_, X_test, y_test = data

    def fail(X):
        raise AssertionError("the Super should not run")

    monkeypatch.setattr(joint.super_estimator_, "predict", fail)
    display = ScoreDistributionDisplay.from_estimator(joint, X_test, y_test)
    np.testing.assert_allclose(display.scores, joint.routing_scores(X_test))
    np.testing.assert_array_equal(
        display.swift_correct, joint.swift_estimator_.predict(X_test) == y_test
    )
    assert display.threshold == joint.threshold_
    assert display.ax_.get_xlabel() == "Routing score (energy)"


def test_score_distribution_densities_stay_within_the_observed_scores():
    """Binary energies are at least log 2: no density is drawn below it."""
    rng = np.random.default_rng(0)
    margin = rng.exponential(2.0, 500)
    logits = np.c_[margin, np.zeros(500)]  # the energy is logaddexp(m, 0) >= log 2
    energy = np.logaddexp(logits[:, 0], logits[:, 1])
    swift_correct = margin > 1.0
    display = ScoreDistributionDisplay.from_predictions(energy, swift_correct)
    for line in display.density_lines_.values():
        assert line.get_xdata().min() >= np.log(2)
        assert line.get_xdata().max() <= energy.max()
    assert display.densities.grid[0] == energy.min()


def test_tradeoff_names_coincident_curves_in_the_figure():
    """Curves that lie on top of each other say so in the legend."""
    energy, random, swift_correct, super_correct = _synthetic()
    display = TradeoffDisplay.from_predictions(
        {"energy": energy, "softmax": 2 * energy + 1, "random": random},
        swift_correct,
        super_correct,
    )
    assert display.coincident_ == [["energy", "softmax"]]
    labels = display.ax_.get_legend_handles_labels()[1]
    assert "softmax (same curve as energy)" in labels and "random" in labels
    title = display.ax_.get_legend().get_title().get_text()
    assert title.startswith("energy, softmax: identical curves")
    assert display.lines_["softmax"].get_linestyle() == "--"


def test_tradeoff_different_curves_get_no_note():
    """No note when every curve differs."""
    energy, random, swift_correct, super_correct = _synthetic()
    display = TradeoffDisplay.from_predictions(
        {"energy": energy, "random": random}, swift_correct, super_correct
    )
    assert display.coincident_ == []
    assert display.ax_.get_legend().get_title().get_text() == ""


@pytest.mark.parametrize(
    "unit, swift, super_, shown, factor",
    [
        ("seconds", 2e-6, 8e-5, "µs", 1e6),
        ("seconds", 2e-4, 3e-3, "ms", 1e3),
        ("seconds", 2.0, 30.0, "s", 1.0),
        ("FLOPs", 3.4e8, 2.2e10, "GFLOPs", 1e-9),
        ("FLOPs", 2e6, 9e7, "MFLOPs", 1e-6),
        ("FLOPs", 3.4e8, 3.06e9, "GFLOPs", 1e-9),
        ("FLOPs", 20.0, 1000.0, "kFLOPs", 1e-3),
        ("given", 1.0, 10.0, "given", 1.0),
    ],
)
def test_tradeoff_shows_costs_in_readable_units(unit, swift, super_, shown, factor):
    """Seconds and FLOPs are rescaled so that the axis needs no offset."""
    energy, _, swift_correct, super_correct = _synthetic()
    display = TradeoffDisplay.from_predictions(
        energy,
        swift_correct,
        super_correct,
        swift_cost=swift,
        super_cost=super_,
        cost_unit=unit,
    )
    assert display.ax_.get_xlabel() == f"Cost per input ({shown})"
    assert display.super_marker_.get_xdata()[0] == pytest.approx(super_ * factor)
    np.testing.assert_allclose(
        display.lines_["joint"].get_xdata(), display.curves["joint"].cost * factor
    )
    display.figure_.canvas.draw()
    assert display.ax_.xaxis.get_major_formatter().get_offset() == ""
    assert display.ax_.get_title() == "Accuracy against cost, one point per threshold"
