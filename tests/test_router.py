"""EnergyRouter in logits mode and with an energy head."""

import numpy as np
import pytest
from scipy import sparse
from scipy.special import logsumexp
from sklearn.datasets import make_classification

from elang_sk import EnergyRouter, EntropyScore


def test_logits_mode_scores_the_given_logits():
    """Without a head the router scores X as the Swift's logits."""
    logits = np.random.default_rng(0).normal(size=(20, 4))
    router = EnergyRouter().fit(logits)
    assert router.head_ is False
    np.testing.assert_allclose(router.score_samples(logits), logsumexp(logits, axis=1))


def test_score_object_with_parameters():
    """A score object with parameters is used as given."""
    logits = np.random.default_rng(0).normal(size=(20, 4))
    router = EnergyRouter(score_func=EntropyScore()).fit(logits)
    np.testing.assert_allclose(router.score_samples(logits), EntropyScore()(logits))


def test_energy_head_has_one_logit_per_class_even_for_binary_tasks():
    """The head is trained on features and returns C logits, C >= 2."""
    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    router = EnergyRouter(head=True).fit(X, y)
    logits = router.predict_logits(X)
    assert logits.shape == (300, 2)
    assert np.mean(router.classes_[logits.argmax(1)] == y) > 0.8
    np.testing.assert_allclose(router.score_samples(X), logsumexp(logits, axis=1))


def test_energy_head_on_sparse_features():
    """Sparse features (e.g. TF-IDF) train the same head as their dense copy."""
    X, y = make_classification(n_samples=200, n_features=6, random_state=1)
    X[np.abs(X) < 0.5] = 0.0
    dense = EnergyRouter(head=True).fit(X, y).score_samples(X)
    sparse_scores = EnergyRouter(head=True).fit(sparse.csr_matrix(X), y)
    np.testing.assert_allclose(
        sparse_scores.score_samples(sparse.csr_matrix(X)), dense, rtol=1e-5
    )


def test_auto_head_follows_y():
    """head='auto' trains a head exactly when labels are given."""
    X, y = make_classification(n_samples=100, n_features=5, random_state=0)
    assert EnergyRouter().fit(X, y).head_ is True
    assert EnergyRouter().fit(X).head_ is False


def test_random_router_needs_no_head():
    """The random score ignores the features and trains nothing."""
    X, y = make_classification(n_samples=50, random_state=0)
    router = EnergyRouter(score_func="random", head=True).fit(X, y)
    assert router.head_ is False
    assert router.score_samples(X).shape == (50,)


def test_per_position_logits_and_mask():
    """3-D logits with a mask go through to the score's aggregation."""
    logits = np.random.default_rng(0).normal(size=(5, 3, 6))
    mask = np.ones((5, 3), bool)
    mask[0, 1:] = False
    router = EnergyRouter(head=False).fit(logits)
    scores = router.score_samples(logits, mask=mask)
    assert scores[0] == pytest.approx(logsumexp(logits[0, 0]))


def test_router_errors():
    """Missing labels, a single class and a wrong feature count are refused."""
    X, y = make_classification(n_samples=40, n_features=5, random_state=0)
    with pytest.raises(ValueError, match="requires y to be passed"):
        EnergyRouter(head=True).fit(X)
    with pytest.raises(ValueError, match="at least two classes"):
        EnergyRouter(head=True).fit(X, np.zeros(40))
    router = EnergyRouter(head=True).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        router.score_samples(X[:, :3])
    with pytest.raises(ValueError, match="head"):
        EnergyRouter(head="always").fit(X, y)
