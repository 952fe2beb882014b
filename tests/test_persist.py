"""save_joint / load_joint: a folder without pickle, checked before use."""

import hashlib
import json

import numpy as np
import pytest
from builders import make_pairs, tiny_bert, tiny_t5, tiny_tokenizer
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline

pytest.importorskip("skops")

from elang_sk import (
    EnergyRouter,
    EnergyScore,
    JointClassifier,
    ModelFolderError,
    ThresholdSelector,
    load_joint,
    save_joint,
)

WORDS = "good bad film plot great awful very boring fun okay acting the".split()


def make_texts(n, seed=0):
    """Texts of 2-5 words and a label that a bag of words can learn, noisily."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, rng.integers(2, 6))) for _ in range(n)]
    y = np.array(
        [
            ("good" in t or "great" in t or "fun" in t) != (rng.random() < 0.15)
            for t in texts
        ]
    ).astype(int)
    return texts, y


def text_joint(**params):
    """A fitted JointClassifier of two TF-IDF + logistic regression pipelines."""
    X, y = make_texts(160)
    swift = make_pipeline(TfidfVectorizer(), LogisticRegression(C=0.3))
    big = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(C=30))
    swift.fit(X[:80], y[:80])
    big.fit(X[:80], y[:80])
    return JointClassifier(swift, big, **params).fit(X[80:], y[80:])


def assert_same_predictions(loaded, joint, X, rtol=0):
    np.testing.assert_allclose(
        loaded.routing_scores(X), joint.routing_scores(X), rtol=rtol, atol=0
    )
    np.testing.assert_array_equal(loaded.predict(X), joint.predict(X))
    np.testing.assert_array_equal(loaded.served_by(X), joint.served_by(X))


def test_pipelines_round_trip_exactly(tmp_path):
    """Sklearn pipelines, an energy head, a selector and a KFold come back whole."""
    joint = text_joint(
        router=EnergyRouter(score_func=EnergyScore(temperature=2.0)),
        threshold=ThresholdSelector("swift_ratio", target=0.6),
        cv=KFold(3),
    )
    folder = save_joint(joint, tmp_path / "m")
    # A KFold is not in skops' trusted defaults: the parameters say so.
    with pytest.raises(ModelFolderError, match=r"parameters.*\['sklearn\..*KFold'\]"):
        load_joint(folder)
    loaded = load_joint(folder, trusted=["sklearn.model_selection._split.KFold"])
    X, _ = make_texts(50, seed=1)
    assert_same_predictions(loaded, joint, X)
    np.testing.assert_array_equal(loaded.predict_proba(X), joint.predict_proba(X))
    assert loaded.threshold_ == joint.threshold_
    assert loaded.routing_method_ == joint.routing_method_ == "features"
    np.testing.assert_array_equal(loaded.router_.coef_, joint.router_.coef_)
    assert loaded.router.score_func.temperature == 2.0
    assert loaded.threshold.target == 0.6
    assert isinstance(loaded.cv, KFold) and loaded.cv.n_splits == 3
    for key, value in joint.calibration_.items():
        np.testing.assert_array_equal(loaded.calibration_[key], value)
    for key, value in joint.costs_.items():
        np.testing.assert_array_equal(loaded.costs_[key], value)
    # The serving knob still works: another strategy is chosen on the saved
    # calibration data, as on the original model.
    for model in (joint, loaded):
        model.set_params(threshold="match_super")
    assert loaded.threshold_ == joint.threshold_
    np.testing.assert_array_equal(loaded.predict(X), joint.predict(X))


def test_string_labels_and_report(tmp_path):
    """String classes round-trip, and routing_report agrees."""
    X, y = make_texts(160)
    labels = np.array(["neg", "pos"])[y]
    swift = make_pipeline(TfidfVectorizer(), LogisticRegression(C=0.3))
    big = make_pipeline(TfidfVectorizer(), LogisticRegression(C=30))
    swift.fit(X[:80], labels[:80])
    big.fit(X[:80], labels[:80])
    joint = JointClassifier(swift, big, router="entropy", threshold="crossing")
    joint.fit(X[80:], labels[80:])
    loaded = load_joint(save_joint(joint, tmp_path / "m"))
    assert loaded.classes_.tolist() == ["neg", "pos"]
    a, b = loaded.routing_report(X, labels), joint.routing_report(X, labels)
    assert a.accuracy == b.accuracy and a.swift_ratio == b.swift_ratio


def test_folder_lists_its_parts(tmp_path):
    """The folder holds JSON, safetensors and skops files, and a manifest of all."""
    folder = save_joint(text_joint(), tmp_path / "m")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        "joint.json",
        "joint.safetensors",
        "joint.skops",
        "stage-0/estimator.skops",
        "stage-1/estimator.skops",
    }
    state = json.loads((folder / "joint.json").read_text())
    assert state["format_version"] == 2 and state["class"] == "JointClassifier"
    assert state["logit_sources"] == [{"method": "features", "head": True}]
    assert "scikit-learn" in state["versions"]


def rehash(folder):
    """Rewrite the manifest as a forger who also rewrites it would."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256(
            (folder / name).read_bytes()
        ).hexdigest()
    path.write_text(json.dumps(manifest))


def test_tampered_folders_are_refused(tmp_path):
    """Changed, missing or added files, and other format versions, are refused."""
    folder = save_joint(text_joint(), tmp_path / "m")
    state = (folder / "joint.json").read_text()

    (folder / "joint.json").write_text(state.replace('"selection"', '"selection" '))
    with pytest.raises(ModelFolderError, match=r"SHA-256 mismatch.*joint\.json"):
        load_joint(folder)
    (folder / "joint.json").write_text(state)

    (folder / "stage-0" / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelFolderError, match=r"did not write.*pytorch_model\.bin"):
        load_joint(folder)
    (folder / "stage-0" / "pytorch_model.bin").unlink()

    skops_bytes = (folder / "stage-1" / "estimator.skops").read_bytes()
    (folder / "stage-1" / "estimator.skops").unlink()
    with pytest.raises(ModelFolderError, match=r"missing.*stage-1/estimator\.skops"):
        load_joint(folder)
    (folder / "stage-1" / "estimator.skops").write_bytes(skops_bytes)

    (folder / "joint.json").write_text(
        state.replace('"format_version": 2', '"format_version": 99')
    )
    rehash(folder)
    with pytest.raises(
        ModelFolderError, match="older format of elang_sk .format version 99"
    ):
        load_joint(folder)
    (folder / "joint.json").write_text(state)
    rehash(folder)
    load_joint(folder)  # intact again


def test_not_a_model_folder(tmp_path):
    """A folder without manifest, a damaged manifest, a file: clear errors."""
    with pytest.raises(ModelFolderError, match="No manifest.json"):
        load_joint(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelFolderError, match="manifest.json .* is damaged"):
        load_joint(tmp_path)
    with pytest.raises(ModelFolderError, match="is not a folder"):
        load_joint(tmp_path / "manifest.json")


class _Opaque(ClassifierMixin, BaseEstimator):
    """A user's own classifier: skops can save it, but does not trust it."""

    def fit(self, X, y):
        self.inner_ = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict(self, X):
        return self.inner_.predict(X)

    def predict_proba(self, X):
        return self.inner_.predict_proba(X)


def test_untrusted_types_need_to_be_named(tmp_path):
    """Types outside skops' defaults and elang_sk's are refused until named."""
    X, y = make_texts(120)
    swift = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(X[:60], y[:60])
    forest = RandomForestClassifier(n_estimators=3, random_state=0)
    big = make_pipeline(TfidfVectorizer(), forest).fit(X[:60], y[:60])
    joint = JointClassifier(swift, big, router="softmax").fit(X[60:], y[60:])
    folder = save_joint(joint, tmp_path / "forest")
    with pytest.raises(ModelFolderError, match=r"not trusted: \['sklearn.tree._tree"):
        load_joint(folder)
    loaded = load_joint(folder, trusted=["sklearn.tree._tree.Tree"])
    np.testing.assert_array_equal(loaded.predict(X), joint.predict(X))

    joint = JointClassifier(swift, _Opaque().fit(X[:60], y[:60]), router="softmax")
    folder = save_joint(joint.fit(X[60:], y[60:]), tmp_path / "opaque")
    with pytest.raises(ModelFolderError, match=r"test_persist\._Opaque"):
        load_joint(folder)


class _Unsavable(_Opaque):
    """Holds a generator, which skops cannot save."""

    def fit(self, X, y):
        super().fit(X, y)
        self.stream_ = (x for x in X)
        return self


def test_save_refuses_what_it_cannot_save(tmp_path):
    """Unfitted models, other objects, used folders, generators: clear errors."""
    with pytest.raises(TypeError, match="unfitted JointClassifier"):
        save_joint(
            JointClassifier(LogisticRegression(), LogisticRegression()), tmp_path
        )
    with pytest.raises(TypeError, match="got a LogisticRegression"):
        save_joint(LogisticRegression(), tmp_path)
    joint = text_joint()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(ValueError, match="not an empty folder; save_joint never"):
        save_joint(joint, tmp_path / "used")
    X, y = make_texts(120)
    swift = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(X, y)
    joint = JointClassifier(swift, _Unsavable().fit(X, y), router="softmax").fit(X, y)
    with pytest.raises(
        TypeError, match="Cannot save the .super. stage model with skops"
    ):
        save_joint(joint, tmp_path / "lambda")


# -- transformers -------------------------------------------------------------


def transformer_joint():
    """A JointClassifier of a tiny BERT (encoder head) and T5 (label words)."""
    pytest.importorskip("torch")
    from elang_sk import TransformerClassifier

    X, y = make_texts(40)
    labels = np.array(["neg", "pos"])[y]
    bert = tiny_bert(
        len(WORDS) + 4,
        seed=0,
        hidden_size=16,
        num_hidden_layers=1,
        intermediate_size=24,
        max_position_embeddings=32,
    )
    swift = TransformerClassifier(bert, tiny_tokenizer(WORDS, "bert"), max_length=16)
    big = TransformerClassifier(
        tiny_t5(len(WORDS) + 3, seed=1),
        tiny_tokenizer(WORDS, "t5"),
        label_words={"neg": "bad", "pos": "good"},
    )
    for model in (swift, big):
        model.set_params(progress=False).fit(X[:20], labels[:20])
    joint = JointClassifier(swift, big, threshold="match_super")
    return joint.fit(X[20:], labels[20:])


def test_transformer_classifiers_round_trip(tmp_path):
    """Tiny BERT (encoder head) and T5 (label words) classifiers come back exact."""
    joint = transformer_joint()
    folder = save_joint(joint, tmp_path / "m")
    assert (folder / "stage-0" / "model.safetensors").is_file()
    loaded = load_joint(folder, device="cpu")
    X, _ = make_texts(12, seed=5)
    assert_same_predictions(loaded, joint, X, rtol=1e-6)
    # float32 forward passes are reproducible to rounding only (thread schedule).
    np.testing.assert_allclose(
        loaded.predict_proba(X), joint.predict_proba(X), rtol=1e-6, atol=1e-7
    )
    assert loaded.costs_.unit == "FLOPs"
    swift, big = joint.swift_estimator_, joint.super_estimator_
    for name in ("coef_", "intercept_"):
        np.testing.assert_array_equal(
            getattr(loaded.swift_estimator_, name), getattr(swift, name)
        )
    np.testing.assert_array_equal(
        loaded.super_estimator_.label_token_ids_, big.label_token_ids_
    )
    assert loaded.swift_estimator_.max_length_ == 16
    np.testing.assert_array_equal(
        loaded.swift_estimator_.estimate_flops(X), swift.estimate_flops(X)
    )


def seq2seq_joint():
    """A JointSeq2Seq of two tiny T5s with an energy head."""
    pytest.importorskip("torch")
    pytest.importorskip("sacrebleu")
    from elang_sk import JointSeq2Seq

    words = [f"w{i}" for i in range(12)]
    X, Y = make_pairs(24)
    joint = JointSeq2Seq(
        tiny_t5(len(words) + 3, seed=0),
        tiny_t5(len(words) + 3, seed=1, d_model=32),
        tokenizer=tiny_tokenizer(words, "t5"),
        cv=2,
        head_epochs=2,
        head_positions=4,
        costs="time",
        generation_kwargs={"max_new_tokens": 4},
    )
    return joint.fit(X, Y)


def test_seq2seq_round_trip(tmp_path):
    """JointSeq2Seq with tiny T5s and its energy head comes back exact."""
    joint = seq2seq_joint()
    folder = save_joint(joint, tmp_path / "s2s")
    assert (folder / "head.safetensors").is_file()
    loaded = load_joint(folder)
    X_new, _ = make_pairs(10, seed=3)
    assert_same_predictions(loaded, joint, X_new)
    np.testing.assert_array_equal(loaded.thresholds_, joint.thresholds_)
    assert loaded.generation_kwargs_ == {"max_new_tokens": 4}
    assert loaded.calibration_.swift_outputs.tolist() == (
        joint.calibration_.swift_outputs.tolist()
    )
