"""JointSeq2Seq on tiny T5 models built from configs (no network)."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("sacrebleu")

from builders import T5_SPECIALS, make_pairs, tiny_t5, tiny_tokenizer  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from elang_sk import EnergyRouter, EntropyScore, OutputCache  # noqa: E402
from elang_sk.hf._seq2seq_head import head_targets  # noqa: E402
from elang_sk.joint._seq2seq import JointSeq2Seq  # noqa: E402
from elang_sk.metrics import corpus_quality, sentence_chrf  # noqa: E402

WORDS = [f"w{i}" for i in range(12)]
VOCAB_SIZE = len(T5_SPECIALS) + len(WORDS)


def make_tokenizer(words=WORDS):
    return tiny_tokenizer(words, "t5")


def make_t5(d_model=32, seed=0):
    return tiny_t5(VOCAB_SIZE, seed=seed, d_model=d_model, num_layers=2)


class CountingGenerate:
    """Wraps a model's generate to record how many rows it was given."""

    def __init__(self, model):
        self.rows = 0
        self.original = model.generate
        model.generate = self

    def __call__(self, input_ids=None, **kwargs):
        self.rows += input_ids.shape[0]
        return self.original(input_ids=input_ids, **kwargs)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run faster on one thread, above all on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


@pytest.fixture(scope="module")
def pairs():
    return make_pairs(40)


def make_joint(tok, **params):
    params = {
        "tokenizer": tok,
        "head_positions": 6,
        "head_epochs": 3,
        "cv": 2,
        "costs": {"swift": 1.0, "super": 10.0, "router": 0.2},
        "generation_kwargs": {"max_new_tokens": 6},
        **params,
    }
    return JointSeq2Seq(make_t5(16, 0), make_t5(32, 1), **params)


@pytest.fixture(scope="module")
def fitted(tok, pairs):
    return make_joint(tok).fit(*pairs)


def test_head_logits_have_positions_by_vocab_shape(fitted, pairs):
    """The head gives (n, M, V) logits, a mask with >= 1 position, finite scores."""
    X, _ = pairs
    logits, mask = fitted.head_logits(X[:7])
    assert logits.shape == (7, 6, VOCAB_SIZE)
    assert mask.shape == (7, 6) and mask.any(axis=1).all()
    scores = fitted.routing_scores(X[:7])
    assert scores.shape == (7,) and np.all(np.isfinite(scores))
    assert fitted.calibration_.scores.shape == (len(X),)


def test_head_training_lowers_the_loss(tok, pairs):
    """More epochs fit the reference tokens better (the head learns)."""
    X, Y = pairs
    targets = head_targets(tok, Y, 6, 128)
    accuracies = []
    for epochs in (1, 40):
        joint = make_joint(tok, head_epochs=epochs, cv=None).fit(X, Y)
        logits, _ = joint.head_logits(X)
        valid = targets != -100
        accuracies.append(np.mean(logits.argmax(-1)[valid] == targets[valid]))
    assert accuracies[1] > accuracies[0] + 0.1


def test_each_model_decodes_only_its_rows(tok, pairs):
    """predict runs the Swift's generate on kept rows, the Super's on the rest."""
    X, Y = pairs
    joint = make_joint(tok).fit(X, Y)
    keep = joint.routing_scores(X) >= np.median(joint.routing_scores(X))
    joint.set_params(threshold=float(np.median(joint.routing_scores(X))))
    swift = CountingGenerate(joint.swift_model_)
    super_ = CountingGenerate(joint.super_model_)
    out = joint.predict(X)
    assert swift.rows == keep.sum() and super_.rows == (~keep).sum()
    assert 0 < swift.rows < len(X)
    alone = joint.calibration_
    np.testing.assert_array_equal(out[keep], alone.swift_outputs[keep])
    np.testing.assert_array_equal(out[~keep], alone.super_outputs[~keep])


def test_infinite_thresholds_serve_each_model(fitted, pairs):
    """threshold=-inf serves the Swift's outputs, +inf the Super's."""
    X, _ = pairs
    joint = clone(fitted).fit(*pairs)
    np.testing.assert_array_equal(
        joint.set_params(threshold=-np.inf).predict(X),
        fitted.calibration_.swift_outputs,
    )
    np.testing.assert_array_equal(
        joint.set_params(threshold=np.inf).predict(X), fitted.calibration_.super_outputs
    )
    assert set(joint.served_by(X)) == {"super"}


def test_threshold_knob_needs_no_refit(fitted, pairs):
    """set_params(threshold=...) changes threshold_ and routing without refitting."""
    X, _ = pairs
    joint = clone(fitted).fit(*pairs)
    head = joint.head_
    scores = joint.routing_scores(X)
    t = float(np.quantile(scores, 0.3))
    joint.set_params(threshold=t)
    assert joint.threshold_ == t and joint.head_ is head
    np.testing.assert_array_equal(joint.served_by(X) == "swift", scores >= t)
    joint.set_params(threshold="swift_ratio")
    with pytest.raises(ValueError, match="needs a target"):
        _ = joint.threshold_


@pytest.mark.parametrize(
    "params",
    [
        {"router": "energy", "routing_source": "decoder"},
        {"router": "softmax"},
        {"router": EntropyScore(), "aggregate": "min"},
        {"router": "random"},
        {"router": EnergyRouter(score_func="energy"), "aggregate": 0.25},
    ],
)
def test_every_score_routes(tok, pairs, params):
    """Energy (head and decoder), softmax, entropy and random scores all route."""
    X, Y = pairs
    joint = make_joint(tok, **params).fit(X, Y)
    scores = joint.routing_scores(X)
    assert scores.shape == (len(X),) and np.all(np.isfinite(scores))
    assert joint.predict(X[:5]).shape == (5,)
    assert joint.curve_.accuracy.shape == joint.curve_.thresholds.shape
    if params.get("aggregate") is not None:
        assert joint.score_.aggregate == params["aggregate"]


def test_decoder_source_decodes_every_input_with_the_swift(tok, pairs):
    """routing_source='decoder' makes the Swift decode every input."""
    X, Y = pairs
    joint = make_joint(tok, routing_source="decoder").fit(X, Y)
    assert joint.head_ is None
    swift = CountingGenerate(joint.swift_model_)
    joint.set_params(threshold=np.inf).predict(X)
    assert swift.rows == len(X)


def test_flops_count_encoder_head_and_decoding(tok, pairs):
    """FLOP costs follow eq. 17: router < Swift, and grow with the lengths."""
    X, Y = pairs
    joint = make_joint(tok, costs="flops", cv=None).fit(X[:12], Y[:12])
    assert joint.costs_.unit == "FLOPs"
    cal = joint.calibration_
    assert np.all(cal.router_cost < cal.swift_cost)
    flops = joint.flops(["w1", "w1 w2 w3 w4 w5"], ["w1", "w1 w2 w3"])
    assert flops.swift_encoder[1] > flops.swift_encoder[0] > 0
    assert flops.swift_decoder[1] > flops.swift_decoder[0] > 0
    assert np.all(flops.super_decoder == 0) and np.all(flops.head > 0)
    report = joint.set_params(threshold=np.inf).routing_report(X[:4], Y[:4])
    super_only = joint.flops(X[:4], None, report.y_pred)
    expected = np.mean(
        super_only.swift_encoder
        + super_only.head
        + super_only.super_encoder
        + super_only.super_decoder
    )
    assert report.cost_per_input == pytest.approx(expected)
    # The Super alone is counted on the same inputs: the speed-up of sending
    # everything to it is just under 1 (the router's cost), whatever their
    # lengths against the calibration's.
    long = [" ".join(f"w{i}" for i in range(1, 30))] * 4
    for inputs in (X[:4], long):
        report = joint.routing_report(inputs)
        alone = joint.flops(inputs, None, report.y_pred)
        super_alone = np.mean(alone.super_encoder + alone.super_decoder)
        assert report.super_cost_per_input == pytest.approx(super_alone)
        assert report.speedup == pytest.approx(super_alone / report.cost_per_input)
        assert 0.5 < report.speedup < 1
    # Everything to the Swift: the Swift alone is what it cost, bar the router.
    report = joint.set_params(threshold=-np.inf).routing_report(long)
    assert report.swift_cost_per_input < report.cost_per_input
    assert report.speedup > 1


def test_curve_uses_quality_and_crossing_uses_right_split(fitted):
    """curve_ accuracy is mean sentence chrF; swift_right compares qualities."""
    cal = fitted.calibration_
    assert fitted.curve_.accuracy[0] == pytest.approx(cal.super_quality.mean())
    assert fitted.curve_.accuracy[-1] == pytest.approx(cal.swift_quality.mean())
    np.testing.assert_array_equal(
        cal.swift_right, cal.swift_quality >= cal.super_quality
    )
    assert np.isfinite(fitted.threshold_) or np.isinf(fitted.threshold_)


def test_score_and_report_use_the_metric(fitted, pairs):
    """score is corpus BLEU of the joint output; routing_report agrees."""
    X, Y = pairs
    pred = fitted.predict(X)
    assert fitted.score(X, Y) == pytest.approx(corpus_quality(pred, Y, "bleu"))
    report = fitted.routing_report(X, Y)
    assert report.n_swift + report.n_super == len(X)
    assert report.quality == pytest.approx(corpus_quality(pred, Y, "bleu"))
    assert corpus_quality(["w1 w2"], ["w1 w2"], "exact_match") == 1.0


def test_memory_caches_generation(tok, pairs, tmp_path):
    """With memory, a refit reads encoder states and outputs from the cache."""
    X, Y = pairs
    joint = make_joint(tok, memory=OutputCache(tmp_path)).fit(X, Y)
    swift = CountingGenerate(joint.swift_model_)
    super_ = CountingGenerate(joint.super_model_)
    joint.fit(X, Y)
    assert swift.rows == 0 and super_.rows == 0
    np.testing.assert_array_equal(joint.predict(X), joint.predict(X))


def test_cache_key_ignores_the_tokenizers_call_state():
    """Tokenizing (which sets truncation on the backend) keeps the cache key."""
    from elang_sk._fingerprint import tokenizer_digest
    from elang_sk.hf._seq2seq_utils import model_digest

    tok, model = make_tokenizer(), make_t5(16, 0)
    before = model_digest(model, tok, 8)
    tok(["w1 w2 w3"], truncation=True, max_length=2)
    assert model_digest(model, tok, 8) == before
    assert tokenizer_digest(tok) != tokenizer_digest(make_tokenizer(WORDS[:-1]))


def test_clone_keeps_models_by_reference(fitted):
    """clone shares the pre-trained models and tokenizers, never copies them."""
    copy = clone(fitted)
    assert copy.swift_model is fitted.swift_model
    assert copy.tokenizer is fitted.tokenizer
    assert "T5ForConditionalGeneration" in repr(copy)


def test_bad_texts_raise(tok, pairs):
    """Empty strings, a single string and X/Y length mismatches are refused."""
    X, Y = pairs
    joint = make_joint(tok)
    with pytest.raises(ValueError, match=r"X\[1\] is an empty string"):
        joint.fit([X[0], "  "] + X[2:], Y)
    with pytest.raises(ValueError, match=r"Y\[0\] is an empty string"):
        joint.fit(X, [""] + Y[1:])
    with pytest.raises(ValueError, match="different lengths"):
        joint.fit(X, Y[:-1])
    with pytest.raises(TypeError, match="single string"):
        joint.fit("w1 w2", Y)
    with pytest.raises(TypeError, match="only texts"):
        joint.fit([1, 2], ["w1", "w2"])


def test_non_encoder_decoder_models_raise(tok, pairs):
    """A decoder-only Swift or Super is refused with a clear message."""
    config = transformers.GPT2Config(
        vocab_size=VOCAB_SIZE, n_embd=16, n_layer=1, n_head=2
    )
    gpt = transformers.GPT2LMHeadModel(config)
    with pytest.raises(ValueError, match="swift_model must be an encoder-decoder"):
        JointSeq2Seq(gpt, make_t5(), tokenizer=tok).fit(*pairs)
    with pytest.raises(ValueError, match="super_model must be an encoder-decoder"):
        JointSeq2Seq(make_t5(), gpt, tokenizer=tok).fit(*pairs)


def test_mismatched_tokenizers_raise(tok, pairs):
    """A tokenizer larger than its model's vocabulary is refused."""
    big = make_tokenizer(WORDS + [f"extra{i}" for i in range(20)])
    with pytest.raises(ValueError, match="super tokenizer does not match"):
        JointSeq2Seq(make_t5(), make_t5(), tokenizer=tok, super_tokenizer=big).fit(
            *pairs
        )
    with pytest.raises(ValueError, match="swift tokenizer does not match"):
        JointSeq2Seq(make_t5(), make_t5(), tokenizer=big).fit(*pairs)
    with pytest.raises(ValueError, match="tokenizer must be given"):
        JointSeq2Seq(make_t5(), make_t5()).fit(*pairs)


def test_bad_params_raise(tok, pairs):
    """Invalid costs and unfitted use give clear errors."""
    with pytest.raises(ValueError, match="needs one cost per stage"):
        make_joint(tok, costs={"swift": 1.0}).fit(*pairs)
    with pytest.raises(ValueError, match="routing_source"):
        make_joint(tok, routing_source="encoder").fit(*pairs)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        make_joint(tok).predict(["w1"])
    joint = make_joint(tok, routing_source="decoder").fit(*pairs)
    with pytest.raises(ValueError, match="has no energy head"):
        joint.head_logits(["w1"])


def test_sklearn_api_checks_that_apply(tok):
    """The data-free API checks pass; parametrize_with_checks skips them for text."""
    from sklearn.utils import estimator_checks

    joint = make_joint(tok)
    for name in (
        "check_estimator_tags_renamed",
        "check_valid_tag_types",
        "check_estimator_repr",
        "check_no_attributes_set_in_init",
        "check_get_params_invariance",
        "check_set_params",
        "check_parameters_default_constructible",
        "check_do_not_raise_errors_in_init_or_set_params",
        "check_mixin_order",
        "check_estimators_unfitted",
    ):
        getattr(estimator_checks, name)("JointSeq2Seq", joint)


def test_tags_describe_text_to_text():
    """Tags: 1-D string input, a required target (scikit-learn reads them)."""
    from sklearn.utils import get_tags

    tags = get_tags(make_joint(make_tokenizer(), device="cpu"))
    assert tags.input_tags.string and tags.input_tags.one_d_array
    assert not tags.input_tags.two_d_array
    assert tags.target_tags.required and not tags.non_deterministic


@parametrize_with_checks(
    [
        make_joint(make_tokenizer()),
        make_joint(
            make_tokenizer(), router=EnergyRouter(score_func="entropy"), threshold=0.0
        ),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    """scikit-learn's common checks, none expected to fail (text input: see tags)."""
    check(estimator)


@pytest.mark.parametrize("threshold", [np.nan, True, np.True_])
def test_nan_or_boolean_threshold_raises(tok, pairs, threshold):
    """A NaN or boolean threshold is refused in fit, before any model runs."""
    with pytest.raises(ValueError, match=r"threshold.*(nan|True)"):
        make_joint(tok, threshold=threshold).fit(*pairs)


@pytest.mark.parametrize("where", ["X", "Y"])
def test_dataframe_or_dict_texts_raise(tok, pairs, where):
    """A DataFrame or a dict as X or Y is refused, never iterated as names/keys."""
    pd = pytest.importorskip("pandas")
    X, Y = pairs
    for bad, match in (
        (pd.DataFrame({"text": X}), r"got a table \(DataFrame\)"),
        (dict(enumerate(X)), "iterating it would give its keys"),
    ):
        args = (bad, Y) if where == "X" else (X, bad)
        with pytest.raises(TypeError, match=match):
            make_joint(tok).fit(*args)


def test_fitted_model_refuses_bad_inputs(fitted, pairs):
    """predict, score and routing_report check X and Y like fit does."""
    X, Y = pairs
    with pytest.raises(ValueError, match=r"X\[0\] is an empty string"):
        fitted.predict([""])
    with pytest.raises(ValueError, match="different lengths"):
        fitted.score(X[:3], Y[:2])
    with pytest.raises(ValueError, match="different lengths"):
        fitted.routing_report(X[:3], Y[:2])
    with pytest.raises(TypeError, match="iterating it would give its keys"):
        fitted.routing_scores({"a": "w1"})


def test_router_params_can_be_searched(tok):
    """get_params(deep=True) lists router__ params; router__score_func sets a name."""
    joint = make_joint(tok, router=EnergyRouter(score_func="softmax"))
    params = joint.get_params(deep=True)
    assert params["router__score_func"] == "softmax"
    assert params["swift_model"] is joint.swift_model
    assert not any(key.startswith(("swift_model__", "tokenizer__")) for key in params)
    joint = make_joint(tok, router="energy").set_params(router__score_func="entropy")
    assert joint.router.score_func == "entropy"
    assert joint._make_score().__class__ is EntropyScore


@pytest.fixture(scope="module")
def served(fitted, pairs):
    """A copy of ``fitted`` whose threshold sends part of ``pairs`` to each model."""
    joint = copy.deepcopy(fitted)
    return joint.set_params(threshold=float(np.median(joint.routing_scores(pairs[0]))))


def test_route_stage_by_stage_reproduces_predict(served, pairs):
    """route_stage(X, 0) then route_stage on the rest rebuilds predict and route."""
    X = np.asarray(pairs[0], dtype=object)
    first = served.route_stage(X, 0)
    keep = first.keep
    assert 0 < keep.sum() < len(X)
    np.testing.assert_array_equal(first.scores, served.routing_scores(X))
    np.testing.assert_array_equal(keep, first.scores >= served.thresholds_[0])
    rest = served.route_stage(X[~keep], 1)
    assert rest.scores is None and rest.keep.all()
    rebuilt = np.empty(len(X), dtype=object)
    rebuilt[keep], rebuilt[~keep] = first.answers, rest.answers
    np.testing.assert_array_equal(rebuilt.astype(str), served.predict(X))
    routing = served.route(X)
    np.testing.assert_array_equal(routing.stage, np.where(keep, 0, 1))
    np.testing.assert_array_equal(routing.served_by, served.served_by(X))
    np.testing.assert_array_equal(routing.answers.astype(str), served.predict(X))
    assert served.route_stage(X, 0, method=None).answers is None


def test_answer_stage_runs_one_model_on_every_row(served, pairs):
    """answer_stage(X, 1) is the Super alone, answer_stage(X, 0) the Swift alone."""
    X, _ = pairs
    cal = served.calibration_
    np.testing.assert_array_equal(served.answer_stage(X, 1), cal.super_outputs)
    np.testing.assert_array_equal(served.answer_stage(X, 0), cal.swift_outputs)
    with pytest.raises(ValueError, match="stage=2 is not a stage"):
        served.answer_stage(X, 2)


def test_routing_report_keys_and_scorers(served, pairs):
    """routing_report lists what it accounts for; the joint scorers read it."""
    from test_every_joint import REPORT_KEYS

    from elang_sk.metrics import make_tradeoff_scorer, speedup_score, swift_ratio_score

    X, Y = pairs
    report = served.routing_report(X, Y)
    # The classifiers' keys, with the corpus quality and its metric for accuracy.
    assert set(report) == REPORT_KEYS - {"accuracy"} | {"quality", "metric"}
    assert report.n_samples == len(X) and 0 < report.swift_ratio < 1
    np.testing.assert_array_equal(report.y_pred, served.predict(X))
    assert swift_ratio_score(served, X) == pytest.approx(report.swift_ratio)
    assert speedup_score(served, X) == pytest.approx(report.speedup)
    relative = report.cost_per_input / report.super_cost_per_input
    expected = report.quality / 100 - 0.1 * relative  # BLEU, read as a fraction
    scorer = make_tradeoff_scorer(cost_weight=0.1)
    assert scorer(served, X, Y) == pytest.approx(expected)


def test_calibration_without_references(tok, pairs):
    """fit(X) calibrates against the Super's own outputs: the Super's quality
    is 1 on every input, the Swift's its chrF against the Super."""
    X, _ = pairs
    joint = make_joint(tok).fit(X)
    assert joint.calibrated_on_ == "last_stage"
    np.testing.assert_array_equal(joint.calibration_.super_quality, 1.0)
    outputs = joint.calibration_.super_outputs
    np.testing.assert_allclose(
        joint.calibration_.swift_quality,
        sentence_chrf(joint.calibration_.swift_outputs, [str(o) for o in outputs]),
    )
    assert joint.predict(X[:5]).shape == (5,)
    assert make_joint(tok).fit(*pairs).calibrated_on_ == "labels"
