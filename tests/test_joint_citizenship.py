"""JointClassifier as a scikit-learn citizen: decided in fit, X passed through,
pre-trained sub-models frozen, grids over the router, and its bad inputs."""

import numpy as np
import pandas as pd
import pytest
from conftest import make_texts
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from elang_sk import EnergyRouter, JointClassifier, ThresholdSelector
from elang_sk.metrics import make_tradeoff_scorer


@pytest.fixture(scope="module")
def fitted(texts, text_models):
    """A joint model fitted on the dev split with the crossing rule."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    return JointClassifier(swift, super_).fit(X_dev, y_dev)


def test_threshold_is_chosen_in_fit_not_at_predict(texts, fitted, monkeypatch):
    """predict reads the stored threshold: the selector never runs again."""
    _, _, (X_test, _) = texts
    chosen = fitted.threshold_

    def fail(*args, **kwargs):
        raise AssertionError("the threshold was selected again at predict time")

    monkeypatch.setattr(ThresholdSelector, "select", fail)
    fitted.predict(X_test[:5])
    fitted.served_by(X_test[:5])
    assert fitted.threshold_ == chosen
    assert fitted.threshold_selection_.threshold == chosen


def test_number_threshold_is_instant_and_strategy_is_kept(texts, fitted):
    """set_params(threshold=<float>) needs no refit; a new strategy is chosen once."""
    _, _, (X_test, _) = texts
    model = clone(fitted).fit(*texts[1])
    model.set_params(threshold=np.inf)
    assert (model.served_by(X_test) == "super").all()
    model.set_params(threshold=ThresholdSelector("swift_ratio", target=0.5))
    assert model.threshold_selection_.swift_ratio <= 0.5
    assert model.threshold_ == model.threshold_  # stored, same value on reread


def test_invalid_selector_fails_in_fit(texts, text_models):
    """A strategy that needs a target and has none fails in fit, not at predict."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    clf = JointClassifier(swift, super_, threshold=ThresholdSelector("swift_ratio"))
    with pytest.raises(ValueError, match="needs a target"):
        clf.fit(X_dev, y_dev)


@pytest.mark.parametrize("threshold", [np.nan, True, False, np.bool_(True)])
def test_nan_and_boolean_thresholds_are_refused(texts, text_models, threshold):
    """NaN or a boolean threshold is an error, at fit and on a fitted model."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, _) = texts
    with pytest.raises(ValueError, match="threshold"):
        JointClassifier(swift, super_, threshold=threshold).fit(X_dev, y_dev)
    model = JointClassifier(swift, super_).fit(X_dev, y_dev)
    model.set_params(threshold=threshold)
    with pytest.raises(ValueError, match="is not a routing threshold"):
        model.predict(X_test[:3])


class TextWrapper:
    """A user's own wrapper around a text pipeline: no sklearn tags, no base."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.classes_ = pipeline.classes_

    def fit(self, X, y):
        self.pipeline.fit(X, y)
        return self

    def predict(self, X):
        return self.pipeline.predict(X)

    def predict_proba(self, X):
        return self.pipeline.predict_proba(X)

    def decision_function(self, X):
        return self.pipeline.decision_function(X)


def test_user_wrapper_without_tags_gets_texts_passed_through(texts, text_models):
    """A plain wrapper of a text pipeline works: X is not validated as 2-D."""
    swift, super_ = text_models
    _, (X_dev, y_dev), (X_test, y_test) = texts
    clf = JointClassifier(TextWrapper(swift), TextWrapper(super_), router="softmax")
    clf.fit(X_dev, y_dev)
    report = clf.routing_report(X_test, y_test)
    assert report.accuracy > 0.5 and 0 < report.swift_ratio < 1


def test_dataframe_passes_through_to_a_column_transformer():
    """A DataFrame reaches a ColumnTransformer pipeline with its columns."""
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {"x": rng.normal(size=n), "colour": rng.choice(["red", "blue"], n)}
    )
    y = (frame.x + (frame.colour == "red") + rng.normal(0, 0.5, n) > 0.5).astype(int)

    def model(C):
        columns = ColumnTransformer(
            [("cat", OneHotEncoder(), ["colour"])], remainder="passthrough"
        )
        return make_pipeline(columns, LogisticRegression(C=C))

    swift = model(0.01).fit(frame[:200], y[:200])
    super_ = model(10.0).fit(frame[:400], y[:400])
    clf = JointClassifier(swift, super_).fit(frame[400:500], y[400:500])
    assert clf.predict(frame[500:]).shape == (100,)
    assert clf.predict_proba(frame[500:]).shape == (100, 2)
    assert list(clf.feature_names_in_) == ["x", "colour"]


def test_list_of_dicts_passes_through_to_a_dict_vectorizer():
    """Lists of dicts (DictVectorizer inputs) are routed row by row."""
    X, y = make_texts(500, seed=3)
    dicts = [{word: 1.0 for word in text.split()} for text in X]
    swift = make_pipeline(DictVectorizer(), LogisticRegression(C=0.05))
    super_ = make_pipeline(DictVectorizer(), LogisticRegression(C=5.0))
    swift.fit(dicts[:100], y[:100])
    super_.fit(dicts[:300], y[:300])
    clf = JointClassifier(swift, super_).fit(dicts[300:400], y[300:400])
    np.testing.assert_array_equal(
        clf.set_params(threshold=-np.inf).predict(dicts[400:]),
        swift.predict(dicts[400:]),
    )


def test_token_id_arrays_pass_through():
    """Integer token-id arrays reach numeric sub-models unchanged."""
    X, y = make_classification(n_samples=600, random_state=0)
    ids = np.abs(X * 10).astype(np.int64)
    swift = LogisticRegression(max_iter=50).fit(ids[:200], y[:200])
    super_ = RandomForestClassifier(random_state=0).fit(ids[:300], y[:300])
    clf = JointClassifier(swift, super_, router="softmax").fit(ids[300:450], y[300:450])
    assert set(clf.served_by(ids[450:])) <= {"swift", "super"}


def test_dataframe_given_to_a_text_model_is_refused(texts, text_models):
    """A DataFrame of texts is not read as its column names."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    frame = pd.DataFrame({"text": X_dev, "other": X_dev})
    with pytest.raises(TypeError, match="DataFrame"):
        JointClassifier(swift, super_).fit(frame, y_dev)


def test_wrapper_reading_x_differently_gets_a_clear_error(texts, text_models):
    """A sub-model returning a different number of rows than inputs is caught."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    frame = pd.DataFrame({"text": X_dev, "other": X_dev})
    clf = JointClassifier(TextWrapper(swift), TextWrapper(super_), router="softmax")
    with pytest.raises(ValueError, match=r"returned 2 rows for 450 inputs"):
        clf.fit(frame, y_dev)


@pytest.mark.parametrize(
    "X, error, match",
    [
        ({"a": 1}, TypeError, "is a dict"),
        ("one text", TypeError, "single string"),
        (iter(["a", "b"]), TypeError, "sequence of inputs"),
        ([], ValueError, "X is empty"),
    ],
)
def test_inputs_the_joint_model_cannot_index(texts, text_models, X, error, match):
    """Dicts, single strings, iterators and empty X get a clear error."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    with pytest.raises(error, match=match):
        JointClassifier(swift, super_).fit(X, y_dev[:1])
    fitted = JointClassifier(swift, super_).fit(X_dev, y_dev)
    with pytest.raises(error, match=match):
        fitted.predict(X)


def test_pretrained_sub_models_are_frozen(texts, text_models):
    """Setting a nested parameter of a pre-trained model raises, mutating nothing."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    C = swift.get_params()["logisticregression__C"]
    clf = JointClassifier(swift, super_)
    with pytest.raises(ValueError, match="pre-trained .* frozen"):
        clf.set_params(swift_estimator__logisticregression__C=0.1)
    assert swift.get_params()["logisticregression__C"] == C
    search = GridSearchCV(
        clf, {"swift_estimator__logisticregression__C": [0.1, 1.0]}, cv=2
    )
    with pytest.raises(ValueError, match="pre-trained .* frozen"):
        search.fit(X_dev, y_dev)
    assert swift.get_params()["logisticregression__C"] == C


def test_unfitted_sub_models_can_be_tuned(texts):
    """Nested parameters of unfitted sub-models are searched as usual."""
    (X, y), _, _ = texts
    swift = make_pipeline(TfidfVectorizer(), LogisticRegression())
    super_ = make_pipeline(TfidfVectorizer(), LogisticRegression(C=3))
    search = GridSearchCV(
        JointClassifier(swift, super_, router="softmax"),
        {"swift_estimator__logisticregression__C": [0.01, 1.0]},
        cv=2,
    ).fit(X[:400], y[:400])
    assert search.best_params_["swift_estimator__logisticregression__C"] in (0.01, 1.0)


@pytest.mark.parametrize(
    "router", [None, "softmax", EnergyRouter(score_func="entropy")]
)
def test_router_grid_works_whatever_form_router_takes(texts, text_models, router):
    """router__score_func can be searched with router given as None, str or object."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    search = GridSearchCV(
        JointClassifier(swift, super_, router=router, costs={"swift": 1, "super": 8}),
        {"router__score_func": ["energy", "softmax"]},
        scoring=make_tradeoff_scorer(cost_weight=0.5),
        cv=2,
    ).fit(X_dev, y_dev)
    best = search.best_estimator_.router_.score_func
    assert best in ("energy", "softmax")


def test_sample_weight_is_refused_clearly(texts, text_models):
    """fit(..., sample_weight=...) says it is not supported and what to do."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    with pytest.raises(TypeError, match=r"\['sample_weight'\].*Resample"):
        JointClassifier(swift, super_).fit(X_dev, y_dev, sample_weight=np.ones(450))


def test_energy_head_coef_has_sklearn_shape():
    """EnergyRouter.coef_ is (n_classes, n_features), like LogisticRegression."""
    X, y = make_classification(n_samples=200, n_features=7, random_state=0)
    router = EnergyRouter(head=True).fit(X, y)
    assert router.coef_.shape == (2, 7) and router.intercept_.shape == (2,)
    np.testing.assert_allclose(
        router.predict_logits(X), X @ router.coef_.T + router.intercept_
    )


class NaNSwift(TextWrapper):
    """A Swift whose scores overflowed."""

    def decision_function(self, X):
        scores = self.pipeline.decision_function(X)
        scores[0] = np.nan
        return scores


def test_non_finite_swift_logits_get_our_message(texts, text_models):
    """NaN Swift logits name the Swift, not scikit-learn's HistGradientBoosting."""
    swift, super_ = text_models
    _, (X_dev, y_dev), _ = texts
    with pytest.raises(ValueError, match=r"NaN or infinite values in 1 row\(s\)"):
        JointClassifier(NaNSwift(swift), super_).fit(X_dev, y_dev)
    with pytest.raises(ValueError, match="check the Swift model"):
        EnergyRouter().fit([[0.0, np.inf], [1.0, 2.0]])
