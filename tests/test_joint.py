"""JointClassifier on scikit-learn models and raw text."""

import pickle

import numpy as np
import pytest
from conftest import CountingClassifier, make_texts
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from elang_sk import EnergyLogitsWarning, EnergyRouter, JointClassifier
from elang_sk.metrics import make_tradeoff_scorer


def test_text_pipelines_out_of_the_box(texts, text_models):
    """TF-IDF pipelines on raw text: the joint model sits between Swift and Super."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, y_test) = texts
    clf = JointClassifier(swift, super_, threshold="match_super").fit(X_dev, y_dev)
    # 3 classes: the Swift's own multi-column decision_function gives logits.
    assert clf.routing_method_ == "decision_function"
    report = clf.routing_report(X_test, y_test)
    assert 0 < report.swift_ratio < 1
    assert report.n_swift + report.n_super == len(X_test)
    assert report.accuracy > swift.score(X_test, y_test)
    assert report.speedup > 1 or report.cost_unit == "seconds"
    np.testing.assert_array_equal(clf.predict(X_test), report.y_pred)
    assert clf.score(X_test, y_test) == pytest.approx(report.accuracy)


def test_extreme_thresholds_reproduce_each_model(texts, text_models):
    """threshold=-inf serves everything by the Swift, +inf by the Super."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, _) = texts
    clf = JointClassifier(swift, super_, threshold=-np.inf).fit(X_dev, y_dev)
    np.testing.assert_array_equal(clf.predict(X_test), swift.predict(X_test))
    clf.set_params(threshold=np.inf)
    np.testing.assert_array_equal(clf.predict(X_test), super_.predict(X_test))
    np.testing.assert_allclose(clf.predict_proba(X_test), super_.predict_proba(X_test))


def test_super_sees_only_the_routed_inputs(texts, text_models):
    """At predict time the Super runs on exactly the inputs the router sends it."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, _) = texts
    counting_super = CountingClassifier(super_)
    clf = JointClassifier(swift, counting_super).fit(X_dev, y_dev)
    counting_super.seen.clear()
    served_by = clf.served_by(X_test)
    assert counting_super.seen == []  # served_by runs the Swift only
    clf.predict(X_test)
    routed = [x for x, who in zip(X_test, served_by, strict=True) if who == "super"]
    assert counting_super.seen == routed
    assert 0 < len(routed) < len(X_test)


def test_predict_proba_comes_from_the_serving_model(texts, text_models):
    """Kept inputs get the Swift's probabilities, routed ones the Super's."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, _) = texts
    clf = JointClassifier(swift, super_).fit(X_dev, y_dev)
    proba = clf.predict_proba(X_test)
    kept = clf.served_by(X_test) == "swift"
    np.testing.assert_allclose(proba[kept], swift.predict_proba(np.array(X_test)[kept]))
    np.testing.assert_allclose(
        proba[~kept], super_.predict_proba(np.array(X_test)[~kept])
    )
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_threshold_is_a_serving_knob(texts, text_models):
    """set_params(threshold=...) acts at once: no model runs for a refit."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, _) = texts
    counting_swift = CountingClassifier(swift)
    clf = JointClassifier(counting_swift, super_).fit(X_dev, y_dev)
    scores = clf.routing_scores(X_test)
    counting_swift.seen.clear()
    ratios = []
    for t in np.quantile(scores, [0.2, 0.5, 0.8]):
        clf.set_params(threshold=float(t))
        assert clf.threshold_ == float(t)
        ratios.append(clf.routing_report(X_test).swift_ratio)
    assert ratios[0] > ratios[1] > ratios[2]
    # Only predictions ran: three routings and the kept rows, never the dev set.
    assert not set(counting_swift.seen) & (set(X_dev) - set(X_test))


def test_selector_strategies_can_be_swapped_after_fit(texts, text_models):
    """A ThresholdSelector set on a fitted model chooses from the stored curve."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    clf = JointClassifier(swift, super_, threshold="crossing").fit(X_dev, y_dev)
    crossing = clf.threshold_
    clf.set_params(threshold="swift_ratio")
    with pytest.raises(ValueError, match="needs a target"):
        clf.predict(X_dev)
    from elang_sk import ThresholdSelector

    clf.set_params(threshold=ThresholdSelector("swift_ratio", target=0.9))
    assert np.mean(clf.calibration_.scores >= clf.threshold_) <= 0.9
    assert clf.threshold_ != crossing
    assert clf.curve_.accuracy.shape == clf.curve_.thresholds.shape


def test_gridsearch_runs_each_model_once_per_distinct_input(
    texts, text_models, tmp_path
):
    """With memory, a 20-threshold x 5-fold grid search plus refit runs each model
    at most once per distinct input."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    counting_swift, counting_super = (
        CountingClassifier(swift),
        CountingClassifier(super_),
    )
    clf = JointClassifier(counting_swift, counting_super, memory=tmp_path)
    clf.fit(X_dev, y_dev)
    grid = {"threshold": list(np.linspace(-1, 3, 20))}
    search = GridSearchCV(clf, grid, cv=5, scoring=make_tradeoff_scorer(0.05))
    search.fit(X_dev, y_dev)
    for model in (counting_swift, counting_super):
        # Each output (decision_function, predict) of each distinct input once.
        assert len(model.calls) == len(set(model.calls))
        assert {x for _, x in model.calls} == set(X_dev)
    assert len(counting_super.calls) == len(set(X_dev))


def test_gridsearch_with_tradeoff_scorer_does_not_route_everything_to_super(
    texts, text_models, tmp_path
):
    """The trade-off scorer picks a cheaper threshold than "all to the Super"."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    clf = JointClassifier(
        swift, super_, memory=tmp_path, costs={"swift": 1, "super": 20}
    )
    thresholds = [-1e9, 0.5, 1.0, 1.5, 2.0, 1e9]
    plain = GridSearchCV(clf, {"threshold": thresholds}, cv=3).fit(X_dev, y_dev)
    traded = GridSearchCV(
        clf, {"threshold": thresholds}, cv=3, scoring=make_tradeoff_scorer(0.05)
    ).fit(X_dev, y_dev)
    assert traded.best_params_["threshold"] < 1e9
    assert traded.best_params_["threshold"] <= plain.best_params_["threshold"]
    assert traded.best_estimator_.routing_report(X_dev).swift_ratio > 0


def test_clone_keeps_pretrained_models_by_reference(text_models):
    """Pre-trained sub-models are shared by clones, never copied or refit."""
    swift, super_ = text_models
    clf = JointClassifier(swift, super_, router=EnergyRouter(score_func="softmax"))
    copy = clone(clf)
    assert copy.swift_estimator is swift and copy.super_estimator is super_
    assert copy.router is not clf.router


def test_unfitted_sub_models_are_trained_on_a_split():
    """Unfitted models are fit on part of X, the router calibrated on the rest."""
    X, y = make_classification(n_samples=400, n_informative=5, random_state=0)
    swift, super_ = LogisticRegression(), RandomForestClassifier(random_state=0)
    clf = JointClassifier(swift, super_, router="softmax", calibration_size=0.25)
    clf.fit(X, y)
    assert clf.swift_estimator_ is not swift and clf.super_estimator_ is not super_
    assert not hasattr(swift, "coef_")
    assert clf.calibration_.scores.shape == (100,)
    copy = clone(clf)
    assert copy.swift_estimator is not swift


def test_pickle_round_trip(texts, text_models):
    """A fitted joint model pickles and predicts the same afterwards."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, _) = texts
    clf = JointClassifier(swift, super_).fit(X_dev, y_dev)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict(X_test), clf.predict(X_test))
    assert restored.threshold_ == clf.threshold_


def test_inside_a_pipeline_on_numeric_data():
    """The joint model works as the last step of a Pipeline."""
    X, y = make_classification(n_samples=600, n_informative=6, random_state=0)
    scaler = StandardScaler().fit(X[:300])
    swift = LogisticRegression().fit(scaler.transform(X[:300]), y[:300])
    super_ = RandomForestClassifier(random_state=0).fit(
        scaler.transform(X[:300]), y[:300]
    )
    with pytest.warns(EnergyLogitsWarning):
        pipe = make_pipeline(scaler, JointClassifier(swift, super_)).fit(
            X[300:450], y[300:450]
        )
    assert pipe.score(X[450:], y[450:]) > 0.7


def test_binary_pipeline_gets_an_energy_head():
    """A binary text Pipeline has no logits: an energy head is trained on its
    features, with out-of-fold calibration scores."""
    X, y = make_texts(600, n_classes=2, seed=1)
    swift = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(X[:100], y[:100])
    super_ = make_pipeline(TfidfVectorizer(), LogisticRegression(C=5)).fit(
        X[:300], y[:300]
    )
    clf = JointClassifier(swift, super_).fit(X[300:500], y[300:500])
    assert clf.routing_method_ == "features"
    assert clf.router_.head_ and clf.router_.coef_.shape[0] == 2
    in_sample = clf.router_.score_samples(swift[:-1].transform(X[300:500]))
    assert not np.allclose(clf.calibration_.scores, in_sample)


def test_binary_margin_without_features_warns_and_matches_softmax():
    """A binary decision_function becomes (-d/2, d/2): energy ranks like softmax."""
    X, y = make_classification(n_samples=400, random_state=0)
    swift = LogisticRegression().fit(X[:200], y[:200])
    super_ = RandomForestClassifier(random_state=0).fit(X[:200], y[:200])
    with pytest.warns(EnergyLogitsWarning, match="zero-sum pair"):
        energy = JointClassifier(swift, super_).fit(X[200:], y[200:])
    softmax = JointClassifier(swift, super_, router="softmax").fit(X[200:], y[200:])
    order_e = np.argsort(energy.routing_scores(X), kind="stable")
    order_s = np.argsort(softmax.routing_scores(X), kind="stable")
    np.testing.assert_array_equal(order_e, order_s)


def test_probability_only_swift():
    """Energy refuses probabilities; softmax and entropy use them."""
    X, y = make_classification(n_samples=300, random_state=0)
    swift = GaussianNB().fit(X[:150], y[:150])
    super_ = RandomForestClassifier(random_state=0).fit(X[:150], y[:150])
    with pytest.raises(ValueError, match="only exposes probabilities"):
        JointClassifier(swift, super_).fit(X[150:], y[150:])
    clf = JointClassifier(swift, super_, router="entropy").fit(X[150:], y[150:])
    assert clf.routing_method_ == "predict_proba"
    with pytest.raises(ValueError, match="no transform method"):
        JointClassifier(swift, super_, router=EnergyRouter(head=True)).fit(X, y)


def test_bad_inputs_get_clear_errors(texts, text_models):
    """Empty X, length mismatch, unseen labels, non-text and single strings."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    clf = JointClassifier(swift, super_)
    with pytest.raises(ValueError, match="X is empty"):
        clf.fit([], [])
    with pytest.raises(ValueError, match="different lengths: 450 inputs and 449"):
        clf.fit(X_dev, y_dev[:-1])
    y_bad = y_dev.astype(object)
    y_bad[0] = "sarcastic"
    with pytest.raises(ValueError, match=r"labels \['sarcastic'\] that no sub-model"):
        clf.fit(X_dev, y_bad)
    with pytest.raises(TypeError, match=r"X\[1\] is 3.5 of type float"):
        clf.fit(["fine", 3.5], ["positive", "negative"])
    fitted = clf.fit(X_dev, y_dev)
    with pytest.raises(TypeError, match="single string"):
        fitted.predict("a single review")
    with pytest.raises(NotFittedError):
        JointClassifier(swift, super_).predict(X_dev)


def test_sub_models_with_different_classes_are_refused(texts, text_models):
    """Swift and Super must predict the same classes."""
    swift, _ = text_models
    (X, y), (X_dev, y_dev), _ = texts
    keep = y != "neutral"
    other = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        np.array(X)[keep], y[keep]
    )
    with pytest.raises(ValueError, match="predict different classes"):
        JointClassifier(swift, other).fit(X_dev, y_dev)


def test_costs(texts, text_models):
    """Given costs drive the speed-up; bad cost settings are refused."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, y_test) = texts
    clf = JointClassifier(swift, super_, costs={"swift": 1.0, "super": 10.0})
    report = clf.fit(X_dev, y_dev).routing_report(X_test, y_test)
    expected = 1.0 + (1 - report.swift_ratio) * 10.0
    assert report.cost_per_input == pytest.approx(expected)
    assert report.speedup == pytest.approx(10.0 / expected)
    assert report.cost_unit == "given"
    timed = JointClassifier(swift, super_, costs="time").fit(X_dev, y_dev)
    assert timed.costs_.unit == "seconds" and timed.costs_.super > 0
    with pytest.raises(ValueError, match="needs one cost per stage"):
        JointClassifier(swift, super_, costs={"swift": 1.0}).fit(X_dev, y_dev)
    with pytest.raises(ValueError, match="non-negative number"):
        JointClassifier(swift, super_, costs={"swift": -1, "super": 2}).fit(
            X_dev, y_dev
        )
    with pytest.raises(ValueError, match="estimate_flops"):
        JointClassifier(swift, super_, costs="flops").fit(X_dev, y_dev)


@pytest.mark.parametrize("score", ["energy", "softmax", "entropy", "random"])
def test_every_score_is_interchangeable(texts, text_models, score):
    """All scores run through the same router and selector."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, y_test) = texts
    clf = JointClassifier(swift, super_, router=score, threshold="match_super")
    report = clf.fit(X_dev, y_dev).routing_report(X_test, y_test)
    assert report.n_samples == len(X_test)
    # match_super may keep nothing (inf) when no cheaper point matches the Super.
    assert clf.threshold_ in clf.curve_.thresholds
    assert report.accuracy >= swift.score(X_test, y_test) - 0.05
