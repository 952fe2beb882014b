"""Shared fixtures: small text data and pre-trained sklearn text models."""

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

POSITIVE = "good great fine excellent superb nice lovely".split()
NEGATIVE = "bad awful poor terrible boring dull weak".split()
NEUTRAL = "the a film movie plot actor was is it this".split()


def make_texts(n_samples, n_classes=2, seed=0):
    """Sentences whose label shows in a few sentiment words, some of them noisy."""
    rng = np.random.default_rng(seed)
    labels = np.array(["negative", "positive", "neutral"][:n_classes])
    y = labels[rng.integers(0, n_classes, n_samples)]
    texts = []
    for label in y:
        words = list(rng.choice(NEUTRAL, 5))
        if label != "neutral":
            own = POSITIVE if label == "positive" else NEGATIVE
            words += list(rng.choice(own, rng.integers(1, 4)))
        words += list(rng.choice(POSITIVE + NEGATIVE, rng.integers(0, 3)))
        rng.shuffle(words)
        texts.append(" ".join(words))
    return texts, y


class CountingClassifier(ClassifierMixin, BaseEstimator):
    """A pre-trained classifier that records every input it is asked about."""

    def __init__(self, estimator):
        self.estimator = estimator

    def __sklearn_is_fitted__(self):
        return True

    @property
    def classes_(self):
        return self.estimator.classes_

    @property
    def seen(self):
        # Stored outside the parameters so that counting never changes the
        # fingerprint used by the output cache.
        return self.__dict__.setdefault("_seen", [])

    def elang_fingerprint(self):
        return joblib.hash(self.estimator)

    def fit(self, X, y):
        raise AssertionError("a pre-trained model must never be refit")

    @property
    def calls(self):
        """(method, input) pairs, one per input the model was asked about."""
        return self.__dict__.setdefault("_calls", [])

    def _record(self, method, X):
        self.seen.extend(X)
        self.calls.extend((method, x) for x in X)

    def predict(self, X):
        self._record("predict", X)
        return self.estimator.predict(X)

    def predict_proba(self, X):
        self._record("predict_proba", X)
        return self.estimator.predict_proba(X)

    def decision_function(self, X):
        self._record("decision_function", X)
        return self.estimator.decision_function(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


@pytest.fixture(scope="session")
def texts():
    """Train / dev / test splits of a 3-class toy sentiment task."""
    X, y = make_texts(1800, n_classes=3)
    return (X[:900], y[:900]), (X[900:1350], y[900:1350]), (X[1350:], y[1350:])


@pytest.fixture(scope="session")
def text_models(texts):
    """A pre-trained TF-IDF Swift and a richer, more accurate Super."""
    (X, y), _, _ = texts
    # The Swift saw little data, the Super all of it: the Super is more accurate.
    swift = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(X[:80], y[:80])
    super_ = make_pipeline(TfidfVectorizer(), LogisticRegression(C=3)).fit(X, y)
    return swift, super_
