"""The defects matrix: bad inputs that used to pass silently or fail obscurely.

Each cell feeds one class of bad input to one entry point and asks for a clear
error that names the problem and the fix (or, for the risk-control defaults,
for an answer that is right): booleans as numbers in ``ThresholdSelector``,
the ``tol`` default and the rows-needed advice of ``"risk_control"``, missing
labels, a clusterer as deferral model, NaN logits, unsafe model loading, and
the batch sizes, empty texts and row ids of ``elang-sk predict``.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import InvalidParameterError

from elang_sk import (
    CertificationWarning,
    DeferralRouter,
    EnergyRouter,
    JointClassifier,
    ThresholdSelector,
)
from elang_sk._validation import check_batch_size, check_labels, check_row_ids
from elang_sk.routing._risk import certify

# -- 1. booleans are not numbers -------------------------------------------------

BOOLS = [True, False, np.True_, np.False_]


@pytest.mark.parametrize("value", BOOLS, ids=repr)
@pytest.mark.parametrize(
    "strategy, name",
    [
        ("match_super", "tol"),
        ("risk_control", "tol"),
        ("risk_control", "delta"),
        ("swift_ratio", "target"),
        ("budget", "target"),
    ],
)
def test_threshold_selector_refuses_bools(strategy, name, value):
    """tol=True once kept every input with the Swift: a bool is refused."""
    selector = ThresholdSelector(strategy, **{name: value})
    message = rf"{name} must be a number, got {value!r} \(a bool\).*{name}="
    with pytest.raises(ValueError, match=message):
        selector.check_params()
    with pytest.raises(ValueError, match=message):
        selector.select([0.1, 0.9], [True, False], [True, True])


# -- 2. risk_control: a tol that can be certified, advice that comes true ---------


def test_tol_default_is_the_strategys():
    """tol=None: 0.01 for risk_control, 0.0 for match_super; a given tol is kept."""
    assert ThresholdSelector().tol is None
    assert ThresholdSelector("risk_control").effective_tol() == 0.01
    assert ThresholdSelector("match_super").effective_tol() == 0.0
    assert ThresholdSelector("risk_control", tol=0.0).effective_tol() == 0.0
    assert ThresholdSelector("match_super", tol=0.02).effective_tol() == 0.02


def _separable(n, seed):
    """Two features, each enough for an always-right logistic regression."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    sign = 2 * y - 1
    X = np.c_[sign * (1 + rng.random(n)), sign * (2 + rng.random(n))]
    return X, y


@pytest.fixture(scope="module")
def always_right():
    """A Swift (first feature) and a Super (both) right on all 400 dev rows."""
    X, y = _separable(200, 0)
    swift = make_pipeline(
        make_column_transformer(("passthrough", [0])), LogisticRegression(C=100)
    ).fit(X, y)
    big = LogisticRegression(C=100).fit(X, y)
    X_dev, y_dev = _separable(400, 1)
    assert (swift.predict(X_dev) == y_dev).all() and (big.predict(X_dev) == y_dev).all()
    return swift, big, X_dev, y_dev


def test_joint_risk_control_default_certifies(always_right):
    """threshold='risk_control' keeps inputs with the Swift (tol=0 kept none)."""
    swift, big, X_dev, y_dev = always_right
    with warnings.catch_warnings():
        warnings.simplefilter("error", CertificationWarning)
        joint = JointClassifier(
            swift, big, threshold="risk_control", costs={"swift": 1, "super": 10}
        ).fit(X_dev, y_dev)
    selection = joint.threshold_selection_
    assert selection.certified and selection.epsilon == 0.01
    assert selection.swift_ratio == 1.0


def test_tol_zero_is_not_blamed_on_a_perfect_swift():
    """Both models always right, tol=0: no row count would do, and why; not the
    Swift's fault."""
    scores = np.random.default_rng(0).normal(size=400)
    right = np.ones(400, bool)
    with pytest.warns(CertificationWarning) as record:
        selection = ThresholdSelector("risk_control", tol=0.0).select(
            scores, right, right
        )
    message = str(record[0].message)
    assert "No number of rows would certify tol=0" in message
    assert "Raise tol, e.g. tol=0.01" in message
    assert "Swift loses" not in message and "Swift already" not in message
    assert selection.n_needed == np.inf and selection.n_needed_reason == "tol"


@pytest.mark.parametrize("bound", ["clopper_pearson", "betting"])
def test_rows_needed_come_true_for_a_perfect_swift(bound):
    """Too few rows of two always-right models: exactly n_needed rows certify."""
    rng = np.random.default_rng(1)
    quality = 1.0 if bound == "clopper_pearson" else 0.9
    with pytest.warns(CertificationWarning, match=r"About \d+ calibration rows"):
        small = ThresholdSelector("risk_control", bound=bound).select(
            rng.normal(size=100),
            np.ones(100, bool),
            swift_quality=np.full(100, quality),
            super_quality=np.full(100, quality),
        )
    n = int(small.n_needed)
    assert small.n_needed_reason == "rows" and 100 < n < 10**4

    def at(rows):
        return certify(
            rng.normal(size=rows),
            np.full(rows, quality),
            np.full(rows, quality),
            epsilon=0.01,
            delta=0.1,
            bound=bound,
        ).certified

    assert at(n) and not at(n - 1)


def _weak_swift(n, seed, real=False):
    """Continuous scores, a Swift right 85% of the time, a Super right 95%."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=n)
    swift = (rng.random(n) < 0.85).astype(float)
    big = (rng.random(n) < 0.95).astype(float)
    if real:
        swift = np.clip(0.8 * swift + 0.2 * rng.random(n), 0, 1)
        big = np.clip(0.8 * big + 0.2 * rng.random(n), 0, 1)
    return scores, swift, big


@pytest.mark.parametrize("real", [False, True], ids=["0/1", "real"])
@pytest.mark.parametrize("seed", range(4))
def test_rows_needed_do_not_grow_with_the_data(seed, real):
    """The advice stays put as rows are added, and that many new rows certify.

    It once followed the single best-scored row at its rate per calibration
    row (inf at 50 rows, 1146 at 200, met by 800).
    """
    needed = []
    for n in (50, 200):
        result = certify(*_weak_swift(n, seed, real), epsilon=0.01, delta=0.1)
        assert not result.certified and result.n_needed_reason == "rows"
        needed.append(result.n_needed)
    assert max(needed) < 800
    fresh = certify(
        *_weak_swift(int(max(needed)), seed + 100, real), epsilon=0.01, delta=0.1
    )
    assert fresh.certified


def test_a_swift_losing_on_tied_best_inputs_is_named():
    """Tied best-scored inputs the Swift loses on: no row count, and that's why."""
    swift = np.r_[np.zeros(10, bool), np.ones(40, bool)]
    with pytest.warns(CertificationWarning, match="the Swift loses 0.2") as record:
        selection = ThresholdSelector("risk_control").select(
            np.zeros(50), swift, np.ones(50, bool)
        )
    assert "the 50 best-scored inputs (tied at the top score)" in str(record[0].message)
    assert selection.n_needed_reason == "swift"


# -- 3. missing labels --------------------------------------------------------------

MISSING_LABELS = {
    "None among strings": (["neg", "pos", None, "neg"], [2]),
    "None in an object array": (np.array(["neg", None, "pos", None], object), [1, 3]),
    "NaN among strings": (["neg", "pos", float("nan"), "neg"], [2]),
    "NaN in float labels": (np.array([0.0, 1.0, np.nan, 1.0]), [2]),
    "inf in float labels": ([0.0, np.inf, 1.0, 0.0], [1]),
    "NaN in a Series": (pd.Series([1.0, None, 0.0, 1.0]), [1]),
    "pd.NA": (pd.Series(["neg", pd.NA, "pos", "neg"], dtype=object), [1]),
}


@pytest.mark.parametrize("case", sorted(MISSING_LABELS))
def test_missing_labels_name_their_rows(case):
    y, rows = MISSING_LABELS[case]
    with pytest.raises(ValueError, match=rf"missing label.*at row\(s\) \{rows}"):
        check_labels(4, y, "JointClassifier")


@pytest.mark.parametrize("kind", ["None", "NaN"])
def test_joint_fit_refuses_missing_labels(text_models, texts, kind):
    """numpy's "'<' not supported" (None) or sklearn's "contains NaN" no more."""
    swift, big = text_models
    _, (X, y), _ = texts
    X = X[:20]
    if kind == "None":
        y = y[:20].astype(object)
        y[[3, 7]] = None
    else:
        y = (y[:20] == "positive").astype(float)
        y[[3, 7]] = np.nan
    with pytest.raises(ValueError, match=r"2 missing label.*row\(s\) \[3, 7\].*Drop"):
        JointClassifier(swift, big).fit(X, y)


# -- 4. the deferral model and non-finite logits ------------------------------------


def _logits(n=60, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3))
    return logits, (rng.random(n) < 0.3).astype(float)


@pytest.mark.parametrize(
    "estimator, match",
    [
        (KMeans(2, n_init=1), "must be a classifier or a regressor; got KMeans"),
        (LinearSVC(), "LinearSVC has no predict_proba"),
    ],
    ids=["clusterer", "classifier without predict_proba"],
)
def test_deferral_router_refuses_estimators_without_a_gain(estimator, match):
    logits, target = _logits()
    with pytest.raises(ValueError, match=match):
        DeferralRouter(estimator).fit(logits, target)


def test_deferral_router_accepts_classifiers_and_regressors():
    logits, target = _logits()
    for estimator in (LogisticRegression(), LinearRegression()):
        scores = DeferralRouter(estimator).fit(logits, target).score_samples(logits)
        assert scores.shape == (60,) and np.isfinite(scores).all()


NAN_MESSAGE = r"router's input contains NaN or infinite values in 1 row\(s\)"


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize(
    "router",
    [DeferralRouter(), EnergyRouter(head=False), EnergyRouter("softmax", head=False)],
    ids=["deferral", "energy", "softmax"],
)
@pytest.mark.parametrize("where", ["fit", "score_samples"])
def test_non_finite_logits_name_the_rows(router, where, value):
    """Not scikit-learn's generic "Input X contains NaN": the rows and the fix."""
    logits, target = _logits()
    bad = logits.copy()
    bad[5, 1] = value
    y = target if isinstance(router, DeferralRouter) else None
    with pytest.raises(ValueError, match=NAN_MESSAGE + r" \(first: \[5\]\)"):
        if where == "fit":
            router.fit(bad, y)
        else:
            router.fit(logits, y).score_samples(bad)


def test_deferral_target_with_nan_names_the_rows():
    logits, target = _logits()
    target[[2, 9]] = np.nan
    with pytest.raises(ValueError, match=r"deferral target\) has NaN.*\[2, 9\]"):
        DeferralRouter().fit(logits, target)


# -- 5. loading transformers models safely ------------------------------------------


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    """A tiny random BERT encoder and its tokenizer, saved (safetensors)."""
    pytest.importorskip("transformers")
    import torch
    from test_transformers import make_bert, make_tokenizer

    folder = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    make_bert().save_pretrained(folder)
    make_tokenizer().save_pretrained(folder)
    return folder


def _spy(monkeypatch, cls, calls):
    original = cls.from_pretrained

    def from_pretrained(*args, **kwargs):
        calls.append((cls.__name__, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(cls, "from_pretrained", from_pretrained)


def _spy_all(monkeypatch, *names):
    import transformers

    calls = []
    for name in names:
        _spy(monkeypatch, getattr(transformers, name), calls)
    return calls


TEXTS = ["good film", "bad film", "good plot", "bad plot"]


@pytest.mark.parametrize("trust", [None, False, True], ids=["default", "off", "on"])
def test_transformer_classifier_loads_safely(bert_folder, monkeypatch, trust):
    """A saved folder loads; every from_pretrained has the opt-in, off by default,
    and model weights come from safetensors only."""
    from elang_sk import TransformerClassifier

    calls = _spy_all(monkeypatch, "AutoConfig", "AutoModel", "AutoTokenizer")
    params = {} if trust is None else {"trust_remote_code": trust}
    clf = TransformerClassifier(bert_folder, max_length=16, device="cpu", **params)
    assert clf.get_params()["trust_remote_code"] is bool(trust)
    clf.fit(TEXTS, ["+", "-", "+", "-"])
    assert clf.predict_logits(TEXTS).shape == (4, 2)
    assert {name for name, _ in calls} == {"AutoConfig", "AutoModel", "AutoTokenizer"}
    assert all(kwargs["trust_remote_code"] is bool(trust) for _, kwargs in calls)
    model_calls = [kwargs for name, kwargs in calls if name == "AutoModel"]
    assert all(kwargs["use_safetensors"] is True for kwargs in model_calls)


def test_trust_remote_code_is_validated(bert_folder):
    from elang_sk import TransformerClassifier

    clf = TransformerClassifier(bert_folder, trust_remote_code="yes", device="cpu")
    with pytest.raises(InvalidParameterError, match="trust_remote_code"):
        clf.fit(TEXTS, ["+", "-", "+", "-"])


@pytest.mark.parametrize("weights", ["pytorch_model.bin", "model.pt"])
def test_pickled_weights_only_are_refused(bert_folder, tmp_path, weights):
    """A folder with pickled weights and no safetensors: why, and how to convert."""
    from elang_sk import TransformerClassifier

    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((bert_folder / name).read_bytes())
    (tmp_path / weights).write_bytes(b"not read")
    clf = TransformerClassifier(tmp_path, device="cpu")
    with pytest.raises(ValueError, match=rf"pickled weights only \({weights}\)"):
        clf.fit(TEXTS, ["+", "-", "+", "-"])


@pytest.mark.parametrize("trust", [False, True])
def test_seq2seq_loader_loads_safely(tmp_path, monkeypatch, trust):
    """JointSeq2Seq's loader: trust_remote_code keyword (off by default), and
    safetensors weights."""
    pytest.importorskip("transformers")
    import torch
    from test_transformers import make_t5, make_tokenizer

    from elang_sk.hf._seq2seq_models import load_model

    make_t5().save_pretrained(tmp_path)
    make_tokenizer("t5").save_pretrained(tmp_path)
    names = ("AutoConfig", "AutoModelForSeq2SeqLM", "AutoTokenizer")
    calls = _spy_all(monkeypatch, *names)
    kwargs = {"trust_remote_code": True} if trust else {}
    model, tokenizer = load_model(
        tmp_path, None, "swift", torch.device("cpu"), **kwargs
    )
    assert model.config.is_encoder_decoder and tokenizer.eos_token_id is not None
    assert {name for name, _ in calls} == set(names)
    assert all(kw["trust_remote_code"] is trust for _, kw in calls)
    model_calls = [kw for name, kw in calls if name == "AutoModelForSeq2SeqLM"]
    assert all(kw["use_safetensors"] is True for kw in model_calls)


# -- 6. elang-sk predict: batch sizes, empty texts, row ids -------------------------


@pytest.mark.parametrize(
    "value, match",
    [
        (True, "got True of type bool"),
        (np.True_, "got True of type bool"),
        (0, "got 0: a batch needs at least one row"),
        (-4, "got -4: a batch needs at least one row"),
        (2.5, "got 2.5 of type float"),
        ("8", "got '8' of type str"),
        (None, "got None of type NoneType"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("name", ["batch_size", "super_batch_size"])
def test_check_batch_size(value, match, name):
    message = rf"{name} must be a positive integer.*{match}.*e\.g\. {name}=256"
    with pytest.raises(ValueError, match=message):
        check_batch_size(value, name)
    assert check_batch_size(np.int64(3), name) == 3


@pytest.fixture(scope="module")
def joint(text_models, texts):
    swift, big = text_models
    _, (X, y), _ = texts
    return JointClassifier(swift, big).fit(X[:200], y[:200])


def _predict(argv, *extra):
    from elang_sk.__main__ import main

    return main(["predict", "--model", "unused", *argv, "--quiet", *extra])


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many"])
@pytest.mark.parametrize("command", ["predict", "run"])
def test_cli_batch_size_is_a_usage_error(command, value, tmp_path, capsys):
    """Once: a negative size left routed rows unpredicted with exit 0, zero
    divided by zero. Now argparse refuses it (exit status 2)."""
    from elang_sk.__main__ import main

    argv = ["--input", "in.csv", "--output", "out.csv", "--model", "m"]
    argv = argv if command == "predict" else []
    with pytest.raises(SystemExit) as exit_info:
        main([command, *argv, "--batch-size", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --batch-size: --batch-size must be a positive integer" in err
    assert "--batch-size 256" in err


@pytest.fixture
def served(joint, monkeypatch):
    """``elang-sk predict`` with load_joint returning the fitted ``joint``."""
    pytest.importorskip("skops")
    import elang_sk._persist

    monkeypatch.setattr(elang_sk._persist, "load_joint", lambda folder: joint)
    return joint


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_cli_empty_texts_are_bad_rows(served, texts, tmp_path, capsys, suffix):
    """Empty text cells are recorded as bad rows (exit 1), not predicted as ''."""
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    _, _, (X, _) = texts
    X = list(X[:12])
    X[3], X[8] = "", "   "
    frame = pd.DataFrame({"text": X, "other": range(12)})
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        frame.to_csv(source, index=False)
    elif suffix == ".jsonl":
        frame.to_json(source, orient="records", lines=True)
    else:
        frame.to_parquet(source)
    output = tmp_path / "out.jsonl"
    assert _predict(["--input", str(source), "--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert "2 of 12 rows could not be predicted (first: row 3: ValueError: " in err
    assert "the text is empty" in err
    out = pd.read_json(output, lines=True)
    assert out["row_id"].tolist() == list(range(12))
    assert out["other"].tolist() == list(range(12))
    assert out["served_by"][[3, 8]].tolist() == ["error", "error"]
    assert out["prediction"][[3, 8]].isna().all()
    good = [i for i in range(12) if i not in (3, 8)]
    np.testing.assert_array_equal(
        out["prediction"][good], served.predict([X[i] for i in good])
    )
    assert out["error"][good].isna().all()


def test_cli_all_empty_texts(served, tmp_path, capsys):
    (tmp_path / "in.txt").write_text("\n \n")
    output = tmp_path / "out.csv"
    assert _predict(["--input", str(tmp_path / "in.txt"), "--output", str(output)]) == 1
    assert "2 of 2 rows could not be predicted" in capsys.readouterr().err
    assert pd.read_csv(output)["served_by"].tolist() == ["error", "error"]


ROW_IDS = {
    "duplicate": ([5, 3, 5, 1], r"unique ids.*first: \[5\], at rows \[0, 2\]"),
    "NaN": ([5.0, np.nan, 2.0, 1.0], r"1 missing id.*row\(s\) \[1\]"),
    "None": (["a", None, "c", "d"], r"1 missing id.*row\(s\) \[1\]"),
    "empty CSV cell": (["a", "b", "", "d"], r"1 missing id.*row\(s\) \[2\]"),
}


@pytest.mark.parametrize("case", sorted(ROW_IDS))
def test_check_row_ids(case):
    values, match = ROW_IDS[case]
    with pytest.raises(ValueError, match=match + ".*drop the row_id column"):
        check_row_ids(values)
    with pytest.raises(ValueError, match=match):
        check_row_ids(pd.Series(values))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("case", ["duplicate", "NaN"])
def test_cli_refuses_bad_row_ids(served, texts, tmp_path, capsys, case, suffix):
    """Duplicate or missing row ids would reorder the output: refused, exit 1."""
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    _, _, (X, _) = texts
    values, match = ROW_IDS[case]
    frame = pd.DataFrame({"text": X[:4], "row_id": values})
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        frame.to_csv(source, index=False)
    else:
        frame.to_parquet(source)
    output = tmp_path / "out.csv"
    assert _predict(["--input", str(source), "--output", str(output)]) == 1
    assert "elang-sk: error: The row_id column" in capsys.readouterr().err
    assert not output.exists()


def test_cli_keeps_unique_row_ids(served, texts, tmp_path):
    """Unique user ids: the output is sorted by them, as documented."""
    _, _, (X, _) = texts
    pd.DataFrame({"text": X[:4], "row_id": [30, 10, 40, 20]}).to_csv(
        tmp_path / "in.csv", index=False
    )
    output = tmp_path / "out.csv"
    argv = ["--input", str(tmp_path / "in.csv"), "--output", str(output)]
    assert _predict(argv, "--batch-size", "3") == 0
    out = pd.read_csv(output)
    assert out["row_id"].tolist() == [10, 20, 30, 40]
    np.testing.assert_array_equal(
        out["prediction"], served.predict([X[1], X[3], X[0], X[2]])
    )
