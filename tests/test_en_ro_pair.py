"""The trained English-Romanian pair: resumable training, its tokenizer in JointSeq2Seq.

Tiny Marian configs and a few dozen pairs, no network: seconds.
"""

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("sacrebleu")

from builders import tiny_pair_home  # noqa: E402

from elang_sk.datasets._en_ro import align_udhr  # noqa: E402
from elang_sk.joint._seq2seq import JointSeq2Seq  # noqa: E402

EN = ["open file", "close file", "save file", "open window", "close window"]
RO = ["deschide fișier", "închide fișier", "salvează fișier", "deschide fereastra"]
RO.append("închide fereastra")


@pytest.fixture(scope="module")
def pair():
    from elang_sk.datasets import _en_ro_pair

    return _en_ro_pair


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SPLITS = {"train": (EN * 4, RO * 4), "dev": (EN, RO)}


def _train(pair, home, epochs, messages, models=("swift",)):
    configs = {"swift": pair.TINY, "super": dict(pair.TINY, d_model=32)}
    training = {name: {"lr": 3e-3, "epochs": epochs, "warmup": 2} for name in configs}
    return pair.train_pair(
        home,
        configs=configs,
        training=training,
        vocab_size=60,
        splits=SPLITS,
        models=models,
        log=messages.append,
    )


def _log(root):
    with open(os.path.join(root, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_training_resumes_from_the_last_checkpoint(pair, tmp_path):
    messages = []
    root = _train(pair, tmp_path, 1, messages)
    assert [r["epoch"] for r in _log(root)] == [1]
    _train(pair, tmp_path, 3, messages)
    assert any("resumed from" in m and "epoch-0001" in m for m in messages)
    assert [r["epoch"] for r in _log(root)] == [1, 2, 3]
    # Only the two newest checkpoints are kept; each verifies.
    kept = sorted(n for n in os.listdir(os.path.join(root, "swift")) if "epoch" in n)
    assert kept == ["epoch-0002", "epoch-0003"]
    for name in kept + ["best"]:
        assert pair.verify_checkpoint(os.path.join(root, "swift", name)) is not None
    # Nothing more to do: a rerun trains no epoch.
    _train(pair, tmp_path, 3, messages)
    assert len(_log(root)) == 3


@pytest.mark.parametrize("damage", ["truncate", "state", "garbage"])
def test_a_corrupted_checkpoint_is_moved_aside_and_rebuilt(pair, tmp_path, damage):
    messages = []
    root = _train(pair, tmp_path, 2, messages)
    newest = os.path.join(root, "swift", "epoch-0002")
    if damage == "truncate":
        weights = os.path.join(newest, "model.safetensors")
        with open(weights, "r+b") as f:
            f.truncate(os.path.getsize(weights) // 2)
    elif damage == "state":
        os.remove(os.path.join(newest, "state.json"))
    else:
        with open(os.path.join(newest, "training.pt"), "wb") as f:
            f.write(b"not a checkpoint")
    # A half-written temporary folder from a killed run is ignored.
    os.makedirs(os.path.join(root, "swift", ".tmp-epoch-0003-999"))
    assert pair.verify_checkpoint(newest) is None
    _train(pair, tmp_path, 3, messages)
    assert any("corrupted or partial" in m for m in messages)
    assert any("resumed from" in m and "epoch-0001" in m for m in messages)
    names = os.listdir(os.path.join(root, "swift"))
    assert any(n.startswith("epoch-0002.corrupt-") for n in names)
    assert [r["epoch"] for r in _log(root)] == [1, 2, 2, 3]
    assert pair.verify_checkpoint(os.path.join(root, "swift", "epoch-0003"))
    # And later runs keep working.
    _train(pair, tmp_path, 4, messages)
    assert _log(root)[-1]["epoch"] == 4


def test_every_checkpoint_corrupted_restarts_from_scratch(pair, tmp_path):
    messages = []
    root = _train(pair, tmp_path, 1, messages)
    os.remove(os.path.join(root, "swift", "epoch-0001", "state.json"))
    _train(pair, tmp_path, 1, messages)
    assert [r["epoch"] for r in _log(root)] == [1, 1]


def test_a_damaged_tokenizer_is_retrained(pair, tmp_path):
    root = _train(pair, tmp_path, 1, [])
    with open(os.path.join(root, "tokenizer", "tokenizer.json"), "w") as f:
        f.write("{")
    _train(pair, tmp_path, 1, [])
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(os.path.join(root, "tokenizer"))
    assert tok("open file")["input_ids"][-1] == tok.eos_token_id


def test_dedup_splits_drops_normalised_training_sources(pair):
    splits = pair.dedup_splits(
        {
            "train": (["Save File"], ["Salvează fișierul"]),
            "dev": (["save file:", "Quit"], ["salvează fișierul", "Ieșire"]),
            "test": (["QUIT", "Help"], ["IEȘIRE", "Ajutor"]),
        }
    )
    assert splits["dev"] == (["Quit"], ["Ieșire"])
    assert splits["test"] == (["Help"], ["Ajutor"])


def test_align_udhr_by_article_and_sentence():
    en = (
        "<header><p>Whereas one.</p></header>"
        '<article data-number="1"><h2>Article 1</h2><p>All are free. They act.</p>'
        "</article>"
        '<article data-number="2"><ol><li>One.</li><li>Two.</li></ol></article>'
    )
    ro = (
        "<header><p>Considerând unu.</p></header>"
        '<article data-number="1"><h2>Articolul 1</h2><p>Toți sunt liberi. Ei '
        "acționează.</p></article>"
        '<article data-number="2"><p>Unu și doi.</p></article>'
    )
    pairs = align_udhr(en, ro)
    assert pairs[0] == ("Whereas one.", "Considerând unu.", "preamble")
    assert pairs[1:3] == [
        ("All are free.", "Toți sunt liberi.", "1"),
        ("They act.", "Ei acționează.", "1"),
    ]
    assert pairs[3] == ("One. Two.", "Unu și doi.", "2")


@pytest.fixture(scope="module")
def joint(pair, tmp_path_factory):
    tok = pair.train_tokenizer(EN + RO, 60)
    swift = pair.make_model(pair.TINY, len(tok), 0).eval()
    super_ = pair.make_model(dict(pair.TINY, d_model=32), len(tok), 1).eval()
    return JointSeq2Seq(
        swift,
        super_,
        tokenizer=tok,
        cv=2,
        head_epochs=1,
        head_positions=4,
        max_length=pair.MAX_TOKENS,
        generation_kwargs={"max_new_tokens": 5},
        costs="flops",
    ).fit(EN * 2, RO * 2)


EMPTY = ["", "   ", "\t\n"]
ODD = [
    "open file",
    "x",
    "open file.",
    "open " * 400,  # far longer than max_length tokens
    "日本語 🙂 Ωmega",  # characters the tokenizer never saw
    "open\x00file",
]


@pytest.mark.parametrize("router", ["energy", "softmax"])
@pytest.mark.parametrize("source", ["head", "decoder"])
def test_odd_inputs_through_joint_seq2seq(joint, router, source):
    joint = joint.set_params(router=router, routing_source=source).fit(EN * 2, RO * 2)
    for threshold in (-np.inf, np.inf, "crossing"):
        out = joint.set_params(threshold=threshold).predict(ODD)
        assert len(out) == len(ODD)
        assert all(isinstance(text, str) for text in out)
    scores = joint.routing_scores(ODD)
    assert scores.shape == (len(ODD),) and np.isfinite(scores).all()
    flops = joint.flops(ODD, joint.set_params(threshold=-np.inf).predict(ODD))
    # The over-long input is truncated: it costs no more than max_length tokens.
    assert flops.swift_encoder[3] == flops.swift_encoder.max()
    assert np.isfinite(flops.swift_encoder).all()


@pytest.mark.parametrize("empty", EMPTY)
def test_empty_sources_are_refused_by_index(joint, empty):
    joint = joint.set_params(router="energy", routing_source="head")
    for method in (joint.predict, joint.routing_scores):
        with pytest.raises(ValueError, match=r"X\[1\] is an empty string"):
            method(["open file", empty])
    with pytest.raises(ValueError, match="empty string"):
        joint.fit(["open file", empty] * 4, RO[:2] * 4)


def test_unknown_characters_become_unk(pair):
    tok = pair.train_tokenizer(EN + RO, 60)
    ids = tok("日本語")["input_ids"]
    assert tok.unk_token_id in ids and ids[-1] == tok.eos_token_id
    assert pair.translate(pair.make_model(pair.TINY, len(tok), 0), tok, ["", "日"])


# -- fetch_en_ro_pair: the public loader that trains once ---------------------


@pytest.fixture
def tiny_pair(pair, monkeypatch, tmp_path):
    """fetch_en_ro_pair with tiny models and the few pairs above, in tmp_path."""
    splits = dict(SPLITS, test=(EN[:2], RO[:2]))
    return tiny_pair_home(monkeypatch, tmp_path, splits, epochs=2)


def test_fetch_en_ro_pair_trains_once_then_loads(pair, tiny_pair):
    from elang_sk.datasets import fetch_en_ro_pair

    messages, calls = [], []

    def progress(name):
        return lambda done, total: calls.append((name, done, total))

    got = fetch_en_ro_pair(data_home=tiny_pair, log=messages.append, progress=progress)
    assert got.complete and got.epochs == {"swift": 2, "super": 2}
    assert "about" in messages[0] and "min on one CPU thread" in messages[0]
    assert any(m.startswith("swift: epoch 2/2") for m in messages)
    # Progress counts training pairs over the epochs, from 0 to the total.
    for name in ("swift", "super"):
        mine = [(d, t) for n, d, t in calls if n == name]
        assert mine[0][0] == 0 and mine[-1][0] == mine[-1][1] == 2 * len(EN) * 4
    assert [len(got.splits[k][0]) for k in ("train", "dev", "test")] == [20, 5, 2]
    out = got.tokenizer.batch_decode(
        got.super.generate(**got.tokenizer(["open file"], return_tensors="pt")),
        skip_special_tokens=True,
    )
    assert isinstance(out[0], str)
    # A second call trains nothing.
    again = fetch_en_ro_pair(data_home=tiny_pair, log=messages.append)
    assert len(again.log) == len(got.log) == 4


def test_fetch_en_ro_pair_missing_or_partial_without_training(pair, tiny_pair):
    from elang_sk.datasets import fetch_en_ro_pair

    with pytest.raises(OSError, match="not trained.*fetch_en_ro_pair"):
        fetch_en_ro_pair(data_home=tiny_pair, train_if_missing=False)
    fetch_en_ro_pair(data_home=tiny_pair)
    pair.TRAINING["super"]["epochs"] = 3  # asks for more than is trained
    partial = fetch_en_ro_pair(data_home=tiny_pair, train_if_missing=False)
    assert not partial.complete and partial.epochs["super"] == 2
    finished = fetch_en_ro_pair(data_home=tiny_pair)
    assert finished.complete and finished.epochs["super"] == 3


def test_fetch_en_ro_pair_survives_a_kill_during_training(pair, tiny_pair):
    from elang_sk.datasets import fetch_en_ro_pair

    class Killed(Exception):
        pass

    def progress(name):
        def report(done, total):
            if name == "super" and done > total // 2:
                raise Killed  # as a SIGKILL in the Super's second epoch

        return report

    with pytest.raises(Killed):
        fetch_en_ro_pair(data_home=tiny_pair, progress=progress)
    messages = []
    got = fetch_en_ro_pair(data_home=tiny_pair, log=messages.append)
    assert got.complete
    assert any("super: resumed from" in m for m in messages)
    assert not any(m.startswith("swift: epoch") for m in messages)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"libreoffice": "yes"}, "libreoffice"),
        ({"train_if_missing": None}, "train_if_missing"),
        ({"log": "print"}, "log"),
        ({"deadline": "soon"}, "deadline"),
    ],
)
def test_fetch_en_ro_pair_bad_arguments(kwargs, match):
    from elang_sk.datasets import fetch_en_ro_pair

    with pytest.raises(ValueError, match=match):
        fetch_en_ro_pair(**kwargs)
