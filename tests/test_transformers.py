"""Tests of TransformerClassifier on tiny models built from configs (no network)."""

import atexit
import functools
import os
import pickle
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import torch
from builders import tiny_bert, tiny_t5, tiny_tokenizer
from scipy.special import softmax
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from transformers import RobertaConfig, RobertaModel

from elang_sk._cache import OutputCache
from elang_sk._validation import check_texts
from elang_sk.hf._transformers import TransformerClassifier

WORDS = (
    "good bad film plot great awful very the a movie acting boring fun not "
    "negative positive neutral okay"
).split()

X_TRAIN = [
    "good film",
    "great fun movie",
    "very good acting",
    "bad film",
    "awful boring plot",
    "very bad acting",
    "okay film",
    "the plot",
    "a movie",
]
Y_TRAIN = ["pos", "pos", "pos", "neg", "neg", "neg", "neu", "neu", "neu"]


def make_tokenizer(kind="bert"):
    """A WordLevel tokenizer over WORDS, BERT-style or T5-style (ends with </s>)."""
    if kind == "bert":
        return tiny_tokenizer(WORDS, pre_tokenizer="Whitespace")
    return tiny_tokenizer(
        WORDS,
        "t5",
        pre_tokenizer="Whitespace",
        append_eos=True,
        model_input_names=["input_ids", "attention_mask"],
    )


def make_bert(seed=0):
    """A randomly initialised tiny BertModel."""
    return tiny_bert(len(WORDS) + 4, seed=seed)


def make_bert_classifier(seed=0, **kwargs):
    """A randomly initialised tiny BertForSequenceClassification."""
    return tiny_bert(len(WORDS) + 4, seed=seed, head=True, **kwargs)


def make_t5(seed=0):
    """A randomly initialised tiny T5ForConditionalGeneration."""
    return tiny_t5(len(WORDS) + 3, seed=seed)


LABEL_WORDS = {"neg": "negative", "neu": "neutral", "pos": "positive"}
NOUNS = ("film", "plot", "movie", "acting")

# The tiny BERTs have 64 positions, below the default max_length=128: every fit
# says so. test_max_length_above_position_limit_is_capped checks that warning.
pytestmark = pytest.mark.filterwarnings("ignore:max_length=128 is above:UserWarning")


def encoder_clf(**kwargs):
    """A TransformerClassifier on a tiny BertModel."""
    return TransformerClassifier(make_bert(), make_tokenizer(), **kwargs)


def count_calls(module):
    """Count the forward calls of a module and the rows they saw."""
    calls = []
    module.register_forward_hook(
        lambda mod, args, kwargs, out: calls.append(1), with_kwargs=True
    )
    return calls


def test_encoder_fit_predict_shapes_and_order():
    """The encoder task gives C logit columns in classes_ order and fits the data."""
    clf = encoder_clf(head_alpha=1e-6).fit(X_TRAIN, Y_TRAIN)
    assert clf.task_ == "encoder"
    assert clf.classes_.tolist() == ["neg", "neu", "pos"]
    logits = clf.predict_logits(X_TRAIN)
    proba = clf.predict_proba(X_TRAIN)
    assert logits.shape == proba.shape == (9, 3)
    np.testing.assert_allclose(proba, softmax(logits, axis=1))
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(
        clf.predict(X_TRAIN), clf.classes_[logits.argmax(axis=1)]
    )
    assert clf.score(X_TRAIN, Y_TRAIN) == 1.0
    assert clf.transform(X_TRAIN).shape == (9, 32)
    assert clf.n_classes == clf.n_classes_ == 3


def test_binary_gives_two_logit_columns():
    """A binary problem still gets one real logit column per class."""
    clf = encoder_clf().fit(X_TRAIN[:6], Y_TRAIN[:6])
    logits = clf.predict_logits(X_TRAIN[:6])
    assert logits.shape == (6, 2)
    assert clf.coef_.shape == (2, 32)
    np.testing.assert_array_equal(
        clf.predict(X_TRAIN[:6]), clf.classes_[logits.argmax(axis=1)]
    )


def test_cls_pooling_uses_first_token():
    """pooling='cls' returns the first token's last hidden state."""
    model, tokenizer = make_bert(), make_tokenizer()
    clf = TransformerClassifier(model, tokenizer, pooling="cls").fit(X_TRAIN, Y_TRAIN)
    # fit moved the model to clf.device_ (CUDA when there is one): run it there.
    with torch.no_grad():
        inputs = tokenizer(["good film"], return_tensors="pt").to(clf.device_)
        expected = model(**inputs).last_hidden_state[0, 0].cpu().numpy()
    np.testing.assert_allclose(clf.transform(["good film"])[0], expected, atol=1e-5)


def test_sequence_classification_logits_equal_bare_forward():
    """Logits of a classification model are its own, reordered by id2label name."""
    id2label = {0: "pos", 1: "neg", 2: "neu"}
    model = make_bert_classifier(num_labels=3, id2label=id2label)
    tokenizer = make_tokenizer()
    clf = TransformerClassifier(model, tokenizer, batch_size=4).fit(X_TRAIN, Y_TRAIN)
    assert clf.task_ == "sequence-classification"
    assert clf.columns_.tolist() == [1, 2, 0]
    with torch.no_grad():
        bare = np.vstack(
            [
                model(**tokenizer([x], return_tensors="pt").to(clf.device_))
                .logits[0]
                .cpu()
                .numpy()
                for x in X_TRAIN
            ]
        )
    np.testing.assert_allclose(
        clf.predict_logits(X_TRAIN), bare[:, [1, 2, 0]], atol=1e-5
    )


def test_sequence_classification_integer_labels_map_to_columns():
    """Integer classes map to the output column of the same index."""
    clf = TransformerClassifier(make_bert_classifier(num_labels=3), make_tokenizer())
    clf.fit(X_TRAIN[:6], [2, 2, 2, 0, 0, 0])
    assert clf.columns_.tolist() == [0, 2]
    assert clf.predict_logits(X_TRAIN).shape == (9, 2)


def test_sequence_classification_label_words_map_classes():
    """label_words maps classes to id2label names for a classification model."""
    model = make_bert_classifier(num_labels=2, id2label={0: "NEG", 1: "POS"})
    clf = TransformerClassifier(
        model, make_tokenizer(), label_words={"neg": "NEG", "pos": "POS"}
    )
    clf.fit(X_TRAIN[:6], Y_TRAIN[:6])
    assert clf.columns_.tolist() == [0, 1]


def test_sequence_classification_unmappable_labels_raise():
    """Classes that are neither id2label names nor columns raise a ValueError."""
    clf = TransformerClassifier(make_bert_classifier(num_labels=2), make_tokenizer())
    with pytest.raises(ValueError, match="Cannot map the classes"):
        clf.fit(X_TRAIN, Y_TRAIN)


def test_sequence_classification_fine_tune_changes_a_copy():
    """fine_tune trains a copy: the given model keeps its weights."""
    model = make_bert_classifier(num_labels=3)
    before = model.classifier.weight.detach().clone()
    clf = TransformerClassifier(
        model, make_tokenizer(), fine_tune=True, epochs=1, learning_rate=1e-3
    )
    clf.fit(X_TRAIN, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert clf.model_ is not model
    torch.testing.assert_close(model.classifier.weight, before)
    assert not torch.equal(clf.model_.classifier.weight.cpu(), before)


def test_fine_tuning_reports_progress_over_every_epoch():
    """A progress callback sees fine-tuning, counted in examples over all epochs."""
    calls = []

    class Record:
        def __call__(self, done, total):
            calls.append((done, total))

        def close(self):
            calls.append("closed")

    clf = TransformerClassifier(
        make_bert_classifier(num_labels=3),
        make_tokenizer(),
        fine_tune=True,
        epochs=2,
        batch_size=4,
        learning_rate=1e-3,
        progress=Record(),
    )
    clf.fit(X_TRAIN, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    n = len(X_TRAIN)
    tuning = calls[: calls.index("closed")]
    assert tuning[0] == (0, 2 * n) and tuning[-1] == (2 * n, 2 * n)
    assert [done for done, _ in tuning] == sorted(done for done, _ in tuning)


def test_seq2seq_transform_runs_encoder_only():
    """For seq2seq, transform never runs the decoder and predict_logits does."""
    model = make_t5()
    tokenizer = make_tokenizer("t5")
    decoder_calls = count_calls(model.get_decoder())
    clf = TransformerClassifier(model, tokenizer, label_words=LABEL_WORDS)
    clf.fit(X_TRAIN, Y_TRAIN)
    assert clf.task_ == "seq2seq"
    assert clf.transform(X_TRAIN).shape == (9, 16)
    assert decoder_calls == []
    logits = clf.predict_logits(X_TRAIN)
    assert len(decoder_calls) > 0
    ids = [tokenizer.convert_tokens_to_ids(LABEL_WORDS[c]) for c in clf.classes_]
    assert clf.label_token_ids_.tolist() == ids
    with torch.no_grad():
        out = model(
            **tokenizer(["good film"], return_tensors="pt").to(clf.device_),
            decoder_input_ids=torch.zeros((1, 1), dtype=torch.long, device=clf.device_),
        )
    np.testing.assert_allclose(
        logits[0], out.logits[0, 0, ids].cpu().numpy(), atol=1e-5
    )


def test_seq2seq_fine_tune_learns_label_words():
    """Fine-tuning a seq2seq model on label words lowers its loss and fits them."""
    # One marker word per class, so that any seed (and any device's rounding)
    # can fit the data: on CPU, seeds 0-7 all reach accuracy 1.0 and cut the
    # log-loss by 4x or more.
    X = [f"{word} {noun}" for word in ("good", "bad", "okay") for noun in NOUNS]
    y = [label for label in ("pos", "neg", "neu") for _ in NOUNS]
    params = dict(label_words=LABEL_WORDS, batch_size=len(X), random_state=0)
    before = TransformerClassifier(make_t5(), make_tokenizer("t5"), **params)
    before.fit(X, y)
    clf = TransformerClassifier(
        make_t5(),
        make_tokenizer("t5"),
        fine_tune=True,
        epochs=30,
        learning_rate=1e-2,
        **params,
    ).fit(X, y)
    loss_before = log_loss(y, before.predict_proba(X), labels=before.classes_)
    loss_after = log_loss(y, clf.predict_proba(X), labels=clf.classes_)
    assert loss_after < 0.5 * loss_before
    assert clf.score(X, y) >= 0.8


def test_seq2seq_label_words_must_start_differently():
    """Label words sharing their first token raise a ValueError."""
    clf = TransformerClassifier(
        make_t5(),
        make_tokenizer("t5"),
        label_words={"neg": "not good", "pos": "not bad"},
    )
    with pytest.raises(ValueError, match="different tokens"):
        clf.fit(X_TRAIN[:6], Y_TRAIN[:6])


def test_batching_matches_unbatched_in_input_order():
    """Length-sorted batches give the same rows, in input order, as one by one."""
    X = ["good", "very very good acting film", "bad film", "a", "the plot okay"]
    clf = encoder_clf(batch_size=1).fit(X_TRAIN, Y_TRAIN)
    one_by_one = clf.transform(X)
    clf.set_params(batch_size=2)
    np.testing.assert_allclose(clf.transform(X), one_by_one, atol=1e-5)
    for i, x in enumerate(X):
        np.testing.assert_allclose(clf.transform([x])[0], one_by_one[i], atol=1e-5)


def test_cache_hit_skips_forward(tmp_path):
    """With memory, predicting on the training texts runs no new forward pass."""
    clf = encoder_clf(memory=tmp_path)
    calls = count_calls(clf.model)
    clf.fit(X_TRAIN, Y_TRAIN)
    n_fit = len(calls)
    assert n_fit > 0
    logits = clf.predict_logits(X_TRAIN)
    clone(clf).fit(X_TRAIN, Y_TRAIN)
    assert len(calls) == n_fit
    uncached = clone(clf).set_params(memory=None).fit(X_TRAIN, Y_TRAIN)
    np.testing.assert_allclose(uncached.predict_logits(X_TRAIN), logits, atol=1e-6)


def test_cache_recomputes_after_one_weight_change(tmp_path):
    """Changing one weight in place changes the fingerprint and forces recompute."""
    model = make_bert_classifier(num_labels=3)
    clf = TransformerClassifier(model, make_tokenizer(), memory=OutputCache(tmp_path))
    clf.fit(X_TRAIN, [0, 1, 2] * 3)
    before = clf.predict_logits(X_TRAIN)
    fingerprint = clf.elang_fingerprint()
    assert clf.elang_fingerprint() == fingerprint
    calls = count_calls(model)
    with torch.no_grad():
        model.classifier.bias[0] += 1.0
    assert clf.elang_fingerprint() != fingerprint
    after = clf.predict_logits(X_TRAIN)
    assert len(calls) > 0
    np.testing.assert_allclose(after[:, 0], before[:, 0] + 1.0, atol=1e-5)


def test_fingerprint_depends_on_settings():
    """max_length, pooling and the head all enter the fingerprint."""
    model, tokenizer = make_bert(), make_tokenizer()
    base = TransformerClassifier(model, tokenizer).fit(X_TRAIN, Y_TRAIN)
    fingerprints = {base.elang_fingerprint()}
    for params in ({"max_length": 8}, {"pooling": "cls"}, {"head_alpha": 1.0}):
        other = TransformerClassifier(model, tokenizer, **params).fit(X_TRAIN, Y_TRAIN)
        fingerprints.add(other.elang_fingerprint())
    assert len(fingerprints) == 4


def test_cache_ignores_leftover_tmp_file(tmp_path):
    """A half-written .tmp shard from an interrupted run is never read."""
    clf = encoder_clf(memory=tmp_path).fit(X_TRAIN, Y_TRAIN)
    folder = tmp_path / "elang_sk_outputs" / clf._encoder_fingerprint() / "transform"
    (folder / "interrupted.npz.tmp").write_bytes(b"not a shard")
    clf_fresh = clone(clf).set_params(memory=None).fit(X_TRAIN, Y_TRAIN)
    X = X_TRAIN + ["fun fun fun"]
    np.testing.assert_allclose(clf.transform(X), clf_fresh.transform(X), atol=1e-6)


def test_oom_halves_the_batch(monkeypatch):
    """A CUDA out-of-memory error halves the batch size and the run goes on."""
    clf = encoder_clf(batch_size=8).fit(X_TRAIN, Y_TRAIN)
    expected = clf.transform(X_TRAIN)
    forward = clf.model_.forward
    sizes = []

    def flaky_forward(input_ids=None, **kwargs):
        sizes.append(input_ids.shape[0])
        if input_ids.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(input_ids=input_ids, **kwargs)

    monkeypatch.setattr(clf.model_, "forward", flaky_forward)
    np.testing.assert_allclose(clf.transform(X_TRAIN), expected, atol=1e-5)
    assert sizes[:3] == [8, 4, 2]
    assert max(sizes[3:]) == 2


def test_estimate_flops_grows_with_length():
    """FLOPs grow with the tokenized length and are memoised per length."""
    clf = encoder_clf().fit(X_TRAIN, Y_TRAIN)
    flops = clf.estimate_flops(["good", "good film", "very good film plot", "bad"])
    assert flops.dtype == np.int64
    assert flops[0] < flops[1] < flops[2]
    assert flops[0] == flops[3]
    assert set(clf._flops_memo["predict"]) == {3, 4, 6}
    assert (clf.estimate_flops(["good"], method="transform") < flops[0]).all()


def test_estimate_flops_seq2seq_transform_below_predict():
    """For seq2seq, transform (encoder only) costs less than predict."""
    clf = TransformerClassifier(
        make_t5(), make_tokenizer("t5"), label_words=LABEL_WORDS
    ).fit(X_TRAIN, Y_TRAIN)
    transform = clf.estimate_flops(X_TRAIN, method="transform")
    predict = clf.estimate_flops(X_TRAIN, method="predict")
    assert (transform > 0).all()
    assert (transform < predict).all()
    with pytest.raises(ValueError, match="method must be one of"):
        clf.estimate_flops(X_TRAIN, method="score")


def test_distillation_changes_the_head():
    """distill_from trains the head on the teacher's soft labels too."""
    teacher = make_pipeline(CountVectorizer(), LogisticRegression(C=100))
    teacher.fit(X_TRAIN, Y_TRAIN[::-1])
    plain = encoder_clf().fit(X_TRAIN, Y_TRAIN)
    distilled = encoder_clf(distill_from=teacher, distill_alpha=0.9)
    distilled.fit(X_TRAIN, Y_TRAIN)
    assert not np.allclose(plain.coef_, distilled.coef_, atol=1e-3)
    agree = np.mean(distilled.predict(X_TRAIN) == teacher.predict(X_TRAIN))
    assert agree > np.mean(plain.predict(X_TRAIN) == teacher.predict(X_TRAIN))


def test_distillation_with_fine_tuning_runs():
    """Fine-tuning an encoder with distillation trains a copy and a head."""
    teacher = encoder_clf(head_alpha=1e-6).fit(X_TRAIN, Y_TRAIN)
    student = TransformerClassifier(
        make_bert(seed=1),
        make_tokenizer(),
        fine_tune=True,
        epochs=1,
        learning_rate=1e-3,
        distill_from=teacher,
    ).fit(X_TRAIN, Y_TRAIN)
    assert student.model_ is not student.model
    assert student.coef_.shape == (3, 32)
    assert student.predict_logits(X_TRAIN).shape == (9, 3)


def test_distillation_needs_something_to_train():
    """distill_from with a frozen classification model raises a ValueError."""
    teacher = encoder_clf().fit(X_TRAIN, Y_TRAIN)
    clf = TransformerClassifier(
        make_bert_classifier(num_labels=3), make_tokenizer(), distill_from=teacher
    )
    with pytest.raises(ValueError, match="distill_from needs something to train"):
        clf.fit(X_TRAIN, [0, 1, 2] * 3)


def test_distillation_teacher_classes_must_match():
    """A teacher with other classes raises a ValueError."""
    teacher = encoder_clf().fit(X_TRAIN[:6], Y_TRAIN[:6])
    with pytest.raises(ValueError, match="must be the same"):
        encoder_clf(distill_from=teacher).fit(X_TRAIN, Y_TRAIN)


def test_clone_does_not_copy_the_model():
    """clone keeps a loaded model and tokenizer by reference."""
    clf = encoder_clf(batch_size=4)
    cloned = clone(clf)
    assert cloned.model is clf.model
    assert cloned.tokenizer is clf.tokenizer
    assert cloned.get_params()["batch_size"] == 4
    assert not hasattr(cloned, "model_")


def test_pickle_round_trip():
    """A fitted classifier pickles and predicts the same after loading."""
    clf = encoder_clf().fit(X_TRAIN, Y_TRAIN)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(
        loaded.predict_logits(X_TRAIN), clf.predict_logits(X_TRAIN)
    )
    assert loaded.elang_fingerprint() == clf.elang_fingerprint()


def test_repr_is_short():
    """repr names the model class instead of printing its module tree."""
    text = repr(encoder_clf(batch_size=4))
    assert text.startswith("TransformerClassifier(")
    assert "model=BertModel," in text
    assert "batch_size=4" in text
    assert len(text) < 200


def test_model_from_local_folder(tmp_path):
    """A model saved to a folder loads by path, tokenizer included."""
    model = make_bert_classifier(num_labels=3, id2label={0: "neg", 1: "neu", 2: "pos"})
    model.save_pretrained(tmp_path)
    make_tokenizer().save_pretrained(tmp_path)
    clf = TransformerClassifier(str(tmp_path)).fit(X_TRAIN, Y_TRAIN)
    assert clf.task_ == "sequence-classification"
    direct = TransformerClassifier(model, make_tokenizer()).fit(X_TRAIN, Y_TRAIN)
    np.testing.assert_allclose(
        clf.predict_logits(X_TRAIN), direct.predict_logits(X_TRAIN), atol=1e-5
    )


def test_load_pretrained_reads_a_folder_offline(tmp_path):
    """The shared loader: a folder offline, its own tokenizer, clear errors."""
    from transformers import AutoModel

    from elang_sk.hf._loading import load_pretrained

    make_bert().save_pretrained(tmp_path)
    make_tokenizer().save_pretrained(tmp_path)
    seen = []

    def model_class(config):
        seen.append(config.model_type)
        return AutoModel, {}

    model, tokenizer = load_pretrained(
        tmp_path, None, model_class, local_files_only=True
    )
    assert seen == ["bert"] and type(model).__name__ == "BertModel"
    assert (
        tokenizer("good film")["input_ids"]
        == make_tokenizer()("good film")["input_ids"]
    )
    with pytest.raises(ValueError, match="when super_model is a loaded model"):
        load_pretrained(model, None, model_class, name="super_model")


def test_pad_batch_pads_either_side():
    """input_ids get the pad id, other fields 0; the mask marks real tokens."""
    from elang_sk.hf._torch_utils import pad_batch

    encodings = {"input_ids": [[5, 6, 7], [8]], "token_type_ids": [[1, 1, 1], [1]]}
    for side, ids, mask in [
        ("right", [[5, 6, 7], [8, 9, 9]], [[1, 1, 1], [1, 0, 0]]),
        ("left", [[5, 6, 7], [9, 9, 8]], [[1, 1, 1], [0, 0, 1]]),
    ]:
        batch = pad_batch(encodings, [0, 1], 9, side, torch.device("cpu"))
        assert batch["input_ids"].tolist() == ids
        assert batch["attention_mask"].tolist() == mask
        assert batch["token_type_ids"].tolist() == mask


def test_auto_dtype_on_cpu_falls_back_to_float32():
    """dtype='auto' runs a bfloat16 model in float32 on a CPU."""
    model = make_bert().to(torch.bfloat16)
    clf = TransformerClassifier(model, make_tokenizer(), device="cpu")
    clf.fit(X_TRAIN, Y_TRAIN)
    assert clf.dtype_ == torch.float32
    assert clf.model_.dtype == torch.float32


def test_progress_bar_when_asked(capsys):
    """progress=True shows the package's tqdm bar, over the inputs, on stderr."""
    encoder_clf(progress=True, batch_size=2).fit(X_TRAIN, Y_TRAIN)
    assert f"0/{len(X_TRAIN)}" in capsys.readouterr().err


class FakeDataFrame:
    """Stand-in for a pandas DataFrame (pandas is not a test dependency)."""

    ndim = 2
    columns = ["text"]
    shape = (2, 1)

    def __len__(self):
        return 2

    def __getitem__(self, key):
        return ["good film", "bad film"]

    def __iter__(self):
        return iter(self.columns)


BAD_TEXTS = [
    (["good", 3], TypeError, r"X\[1\] is 3 of type int"),
    ([], ValueError, "X is empty"),
    ("good film", TypeError, "single str"),
    (np.array([["good"]]), TypeError, "1-d sequence"),
    (["good", "bad \ud800 film"], ValueError, r"X\[1\] cannot be encoded as UTF-8"),
    ({"a": "good film", "b": "bad"}, TypeError, "would give its keys"),
    (FakeDataFrame(), TypeError, r"got a table \(DataFrame\).*df\['text'\]"),
]


@pytest.mark.parametrize("X, error, match", BAD_TEXTS)
def test_check_texts_bad_inputs(X, error, match):
    """check_texts refuses bad text collections with a message naming the fix."""
    with pytest.raises(error, match=match):
        check_texts(X)


def test_check_texts_surrogate_names_the_fix():
    """A lone surrogate error says where it is and how to replace it."""
    with pytest.raises(ValueError, match=r"position 4.*encode\('utf-8', 'replace'\)"):
        check_texts(["good", "bad \ud800"])


def test_check_texts_accepts_pandas_series_and_refuses_frames():
    """A pandas Series is a sequence of texts; its DataFrame is refused."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"text": ["good film", "bad film"], "label": [1, 0]})
    assert check_texts(frame["text"]) == ["good film", "bad film"]
    with pytest.raises(TypeError, match=r"df\['text'\]"):
        check_texts(frame)


@pytest.mark.parametrize("X, error, match", BAD_TEXTS)
def test_bad_texts_raise(X, error, match):
    """Bad text collections raise from fit and predict, naming the problem."""
    with pytest.raises(error, match=match):
        encoder_clf().fit(X, ["pos"] * len(X))
    fitted = encoder_clf().fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(error, match=match):
        fitted.predict(X)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"task": "regression"}, InvalidParameterError, "'task' parameter"),
        ({"task": "seq2seq"}, ValueError, "needs an encoder-decoder"),
        ({"dtype": "float16", "device": "cpu"}, ValueError, "half precision"),
        ({"tokenizer": None}, ValueError, "tokenizer must be given"),
        ({"model": 3}, TypeError, "model must be a hub id"),
    ],
)
def test_bad_params_raise(params, error, match):
    """Unknown task, wrong model kind, CPU half precision and no tokenizer raise."""
    clf = encoder_clf().set_params(**params)
    with pytest.raises(error, match=match):
        clf.fit(X_TRAIN, Y_TRAIN)


def test_max_length_above_position_limit_is_capped():
    """max_length above the position table is capped with a warning, and runs."""
    long_text = " ".join(["good"] * 80)
    clf = encoder_clf(max_length=100)
    with pytest.warns(UserWarning, match="max_length=100 is above the 64 positions"):
        clf.fit(X_TRAIN, Y_TRAIN)
    assert clf.max_length_ == 64
    capped = encoder_clf(max_length=64).fit(X_TRAIN, Y_TRAIN)
    np.testing.assert_allclose(
        clf.transform([long_text]), capped.transform([long_text]), atol=1e-6
    )
    assert clf.elang_fingerprint() == capped.elang_fingerprint()


def test_max_length_limit_counts_the_roberta_padding_offset():
    """RoBERTa numbers positions after its padding index: 34 rows allow 32 tokens."""
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=len(WORDS) + 4,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=34,
        pad_token_id=1,
    )
    clf = TransformerClassifier(RobertaModel(config).eval(), make_tokenizer())
    with pytest.warns(UserWarning, match="above the 32 positions"):
        clf.fit(X_TRAIN, Y_TRAIN)
    assert clf.max_length_ == 32
    assert clf.transform([" ".join(["good"] * 50)]).shape == (1, 32)


def nan_model(model):
    """The model with every weight set to NaN."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    return model


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_logits", "transform"]
)
def test_non_finite_outputs_raise_at_predict(method):
    """NaN model outputs raise a ValueError instead of class 0 / NaN probabilities."""
    model = nan_model(make_bert_classifier(num_labels=3))
    clf = TransformerClassifier(model, make_tokenizer()).fit(X_TRAIN, [0, 1, 2] * 3)
    with pytest.raises(ValueError, match="non-finite outputs .* for 9 of 9 texts"):
        getattr(clf, method)(X_TRAIN)


def test_non_finite_outputs_are_not_cached(tmp_path):
    """NaN outputs raise before they reach the cache; fixed weights then run."""
    model = make_bert_classifier(num_labels=3)
    weight = model.classifier.weight.detach().clone()
    clf = TransformerClassifier(model, make_tokenizer(), memory=tmp_path)
    clf.fit(X_TRAIN, [0, 1, 2] * 3)
    with torch.no_grad():
        model.classifier.weight.fill_(float("inf"))
    with pytest.raises(ValueError, match="non-finite outputs"):
        clf.predict_logits(X_TRAIN)
    assert list(tmp_path.rglob("*.npz")) == []
    with torch.no_grad():
        model.classifier.weight.copy_(weight)
    assert np.isfinite(clf.predict_logits(X_TRAIN)).all()
    assert len(list(tmp_path.rglob("*.npz"))) == 1


@pytest.mark.parametrize(
    "params, match",
    [
        ({}, "non-finite outputs"),
        ({"fine_tune": True, "epochs": 1}, "non-finite loss"),
    ],
)
def test_non_finite_outputs_raise_at_fit(params, match):
    """An encoder with NaN weights never trains a head on NaN features."""
    clf = TransformerClassifier(nan_model(make_bert()), make_tokenizer(), **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X_TRAIN, Y_TRAIN)
    assert not hasattr(clf, "coef_")


def test_seq2seq_requires_label_words():
    """A seq2seq model without label_words raises a ValueError."""
    clf = TransformerClassifier(make_t5(), make_tokenizer("t5"))
    with pytest.raises(ValueError, match="label_words is required"):
        clf.fit(X_TRAIN, Y_TRAIN)


def test_y_length_mismatch_raises():
    """y must hold one label per text."""
    with pytest.raises(ValueError, match="one label per text"):
        encoder_clf().fit(X_TRAIN, Y_TRAIN[:-1])


def test_unfitted_raises():
    """Predict-time methods need a fitted classifier."""
    from sklearn.exceptions import NotFittedError

    for method in ("predict", "predict_logits", "transform", "estimate_flops"):
        with pytest.raises(NotFittedError):
            getattr(encoder_clf(), method)(X_TRAIN)
    with pytest.raises(NotFittedError):
        encoder_clf().elang_fingerprint()


def test_tags_declare_string_input():
    """Tags say: classifier on strings, not on 2-d arrays."""
    from sklearn.utils import get_tags

    tags = get_tags(encoder_clf())
    assert tags.estimator_type == "classifier"
    assert tags.input_tags.string
    assert not tags.input_tags.two_d_array


def test_importing_elang_sk_does_not_import_torch():
    """Importing the package leaves torch and transformers unloaded."""
    code = (
        "import sys, elang_sk; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


@functools.cache
def tiny_model_folder(kind):
    """A tiny random BERT (or BERT classifier) and its tokenizer in a temp folder."""
    folder = tempfile.mkdtemp(prefix=f"elang_sk_tiny_{kind}_")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    if kind == "encoder":
        model = make_bert()
    else:
        model = make_bert_classifier(num_labels=2, id2label={0: "neg", 1: "pos"})
    model.save_pretrained(folder)
    make_tokenizer().save_pretrained(folder)
    return folder


# Built at collection: parametrize_with_checks needs the instances then.
SKLEARN_ESTIMATORS = [
    encoder_clf(),
    TransformerClassifier(tiny_model_folder("encoder"), max_length=64),
    TransformerClassifier(
        tiny_model_folder("sequence-classification"), max_length=64, batch_size=4
    ),
]


@parametrize_with_checks(SKLEARN_ESTIMATORS)
def test_sklearn_common_checks(estimator, check):
    """scikit-learn's common checks (most are skipped for text input)."""
    check(estimator)


@pytest.mark.parametrize("estimator", SKLEARN_ESTIMATORS[1:], ids=["encoder", "seq"])
def test_model_folder_estimators_fit_clone_and_predict(estimator):
    """The estimators of the common checks, loaded by path, fit and predict."""
    fitted = clone(estimator).fit(X_TRAIN[:6], Y_TRAIN[:6])
    assert fitted.predict(X_TRAIN).shape == (9,)
    assert set(fitted.predict(X_TRAIN)) <= {"neg", "pos"}
    assert not hasattr(estimator, "model_")


@pytest.mark.parametrize(
    "check",
    [
        estimator_checks.check_estimator_cloneable,
        estimator_checks.check_estimator_repr,
        estimator_checks.check_no_attributes_set_in_init,
        estimator_checks.check_do_not_raise_errors_in_init_or_set_params,
        estimator_checks.check_mixin_order,
        estimator_checks.check_valid_tag_types,
        estimator_checks.check_estimator_tags_renamed,
        estimator_checks.check_get_params_invariance,
        estimator_checks.check_set_params,
        estimator_checks.check_estimators_unfitted,
    ],
    ids=lambda check: check.__name__,
)
@pytest.mark.parametrize("estimator", SKLEARN_ESTIMATORS, ids=["obj", "enc", "seq"])
def test_sklearn_api_checks(check, estimator):
    """The API checks that need no numeric data pass."""
    check("TransformerClassifier", clone(estimator))


# -- issue 19: the first hour --------------------------------------------------

TEXTS = ["good film", "bad film", "good plot", "bad plot", "great movie", "awful plot"]
LABELS = ["pos", "neg", "pos", "neg", "pos", "neg"]


@pytest.fixture
def bert_folder(tmp_path):
    """A tiny BERT and its tokenizer, saved to a folder."""
    folder = tmp_path / "bert"
    make_bert(0).save_pretrained(folder)
    make_tokenizer("bert").save_pretrained(folder)
    return folder


def test_loading_draws_no_progress_bar(bert_folder, capfd):
    """transformers' "Loading weights" bars stay hidden in a library call,
    and their state is restored exactly as it was."""
    from transformers.utils import logging

    from elang_sk.hf._loading import load_pretrained

    def task_class(config):
        import transformers

        return transformers.AutoModel, {}

    capfd.readouterr()
    for enabled in (True, False):
        (logging.enable_progress_bar if enabled else logging.disable_progress_bar)()
        try:
            load_pretrained(str(bert_folder), None, task_class)
            assert logging.is_progress_bar_enabled() is enabled
        finally:
            logging.enable_progress_bar()
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out
    TransformerClassifier(str(bert_folder), device="cpu").fit(TEXTS, LABELS)
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out


def test_set_output_pandas_in_a_pipeline():
    """set_output(transform="pandas") names the pooled features, in a Pipeline."""
    pd = pytest.importorskip("pandas")
    clf = TransformerClassifier(make_bert(0), make_tokenizer(), device="cpu")
    pipe = make_pipeline(clf, LogisticRegression()).set_output(transform="pandas")
    pipe.fit(TEXTS, LABELS)
    assert pipe.predict(TEXTS).shape == (6,)
    features = pipe[0].transform(TEXTS)
    assert isinstance(features, pd.DataFrame)
    hidden = pipe[0].model_.config.hidden_size
    assert list(features.columns) == [
        f"transformerclassifier{i}" for i in range(hidden)
    ]
    assert list(pipe[0].get_feature_names_out()) == list(features.columns)
    plain = clone(clf).set_output(transform="default").fit(TEXTS, LABELS)
    plain = plain.transform(TEXTS)
    assert isinstance(plain, np.ndarray)
    np.testing.assert_allclose(features.to_numpy(), plain, rtol=1e-5)


def test_tokenizer_larger_than_the_vocabulary_is_refused():
    """Token ids the model cannot embed: a clear message, not an IndexError."""
    model = tiny_bert(4)  # embeds ids 0..3 only
    with pytest.raises(ValueError, match=r"embeds only 4 ids.*resize_token_embed"):
        TransformerClassifier(model, make_tokenizer(), device="cpu").fit(TEXTS, LABELS)


@pytest.mark.parametrize("device, name", [("cuda", "CUDA"), ("mps", "MPS")])
def test_unavailable_device_is_a_clear_error(device, name):
    """device="cuda"/"mps" on a torch without them: what to pass instead."""
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("MPS is available here")
    clf = TransformerClassifier(make_bert(0), make_tokenizer(), device=device)
    message = rf"device='{device}' asks for .*{name} is not available.*device='cpu'"
    with pytest.raises(ValueError, match=message):
        clf.fit(TEXTS, LABELS)


def test_resolve_device_messages():
    """A device that is not one, or a GPU index past the last, is named."""
    from elang_sk.hf._torch_utils import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"--device gpu is not a device: use"):
        resolve_device("gpu", name="--device")
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="GPU 99, but only"):
            resolve_device("cuda:99")


def test_run_batches_reports_progress_to_a_callback():
    """A callable progress sees (0, total), every batch, and its close()."""
    from elang_sk.hf._torch_utils import run_batches

    calls = []

    class Recorder:
        def __call__(self, done, total):
            calls.append((done, total))

        def close(self):
            calls.append("closed")

    out = run_batches([3, 1, 2, 5, 4], 2, lambda rows: np.asarray(rows)[:, None],
                      progress=Recorder())  # fmt: skip
    assert out[:, 0].tolist() == [0, 1, 2, 3, 4]
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5), "closed"]


def test_progress_callback_and_named_bars(monkeypatch):
    """The classifier hands its callable progress to the forward passes; its
    own bars name the model and what it computes."""
    from elang_sk.hf import _torch_utils

    seen = []
    clf = TransformerClassifier(
        make_bert(0),
        make_tokenizer(),
        device="cpu",
        batch_size=2,
        progress=lambda done, total: seen.append((done, total)),
    ).fit(TEXTS, LABELS)
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)
    names = []

    class Bar:
        n = 0

        def set_description_str(self, desc, refresh=True):
            names.append(desc)

        def update(self, n):
            self.n += n

        def close(self):
            pass

    monkeypatch.setattr(_torch_utils, "progress_bar", lambda *args: Bar())
    clf.set_params(progress=True).predict_logits(TEXTS)
    assert names == ["BertModel transform"]
