"""Tiny tokenizers, transformers models, text pairs and catalogs for the tests.

Plain functions, imported as ``from builders import ...`` (pytest puts
``tests/`` on ``sys.path``, as for ``conftest``). Every model is randomly
initialised from a small config and put in eval mode; tokenizers are
word-level over a given vocabulary. torch, tokenizers and transformers are
imported inside the functions, so that importing this module needs none of
them.
"""

import struct

import numpy as np

#: Special tokens of a BERT-style tokenizer, ids 0 to 3.
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
#: Special tokens of a T5-style tokenizer, ids 0 to 2.
T5_SPECIALS = ("<pad>", "</s>", "<unk>")

_BERT_SIZES = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=37,
    max_position_embeddings=64,
)


def tiny_tokenizer(
    words,
    style="bert",
    *,
    pre_tokenizer="WhitespaceSplit",
    append_eos=False,
    model_input_names=None,
):
    """A fast word-level tokenizer over the special tokens, then ``words``.

    Parameters
    ----------
    words : sequence of str
        The vocabulary after the special tokens.
    style : {"bert", "t5"}, default="bert"
        ``"bert"``: :data:`BERT_SPECIALS`, and every text framed as
        ``[CLS] text [SEP]``; ``"t5"``: :data:`T5_SPECIALS` (pad, end of
        sequence, unknown).
    pre_tokenizer : {"WhitespaceSplit", "Whitespace"}, default="WhitespaceSplit"
        The ``tokenizers.pre_tokenizers`` class that splits a text into words
        (``"Whitespace"`` also splits off punctuation).
    append_eos : bool, default=False
        ``"t5"``: end every text with ``</s>``, as T5's own tokenizer does.
    model_input_names : list of str, default=None
        The tokenizer's outputs; None keeps the transformers default.

    Returns
    -------
    tokenizer : transformers.PreTrainedTokenizerFast
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    bert = style == "bert"
    specials = list(BERT_SPECIALS if bert else T5_SPECIALS)
    vocab = {w: i for i, w in enumerate(specials + list(words))}
    unk = "[UNK]" if bert else "<unk>"
    backend = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    if bert:
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
        )
        tokens = dict(pad_token="[PAD]", unk_token=unk)
        tokens.update(cls_token="[CLS]", sep_token="[SEP]")
    else:
        if append_eos:
            backend.post_processor = processors.TemplateProcessing(
                single="$A </s>", special_tokens=[("</s>", 1)]
            )
        tokens = dict(pad_token="<pad>", unk_token=unk, eos_token="</s>")
    if model_input_names is not None:
        tokens.update(model_input_names=list(model_input_names))
    backend.pre_tokenizer = getattr(pre_tokenizers, pre_tokenizer)()
    return PreTrainedTokenizerFast(tokenizer_object=backend, **tokens)


def tiny_bert(vocab_size, *, seed=0, head=False, pooling=True, **config):
    """A randomly initialised tiny BERT, in eval mode.

    Parameters
    ----------
    vocab_size : int
        Rows of the token embedding.
    seed : int or None, default=0
        ``torch.manual_seed`` before the weights are drawn; None draws them
        from the current global generator.
    head : bool, default=False
        A ``BertForSequenceClassification`` (its ``config`` gives
        ``num_labels``, ``id2label``, ...) instead of a ``BertModel``.
    pooling : bool, default=True
        ``BertModel``: whether it has its pooling layer.
    **config
        Other ``BertConfig`` settings; by default two layers of width 32, two
        heads, an intermediate size of 37 and 64 positions.

    Returns
    -------
    model : transformers.BertModel or transformers.BertForSequenceClassification
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    if seed is not None:
        torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, **{**_BERT_SIZES, **config})
    if head:
        return BertForSequenceClassification(config).eval()
    return BertModel(config, add_pooling_layer=pooling).eval()


def tiny_t5(vocab_size, *, seed=0, d_model=16, num_layers=1):
    """A randomly initialised tiny T5ForConditionalGeneration, in eval mode.

    Token 0 pads and starts decoding, token 1 ends a sequence (the order of
    :data:`T5_SPECIALS`); the feed-forward width is ``2 * d_model``.

    Parameters
    ----------
    vocab_size : int
        Rows of the token embedding.
    seed : int, default=0
        ``torch.manual_seed`` before the weights are drawn.
    d_model : int, default=16
        Width of the model.
    num_layers : int, default=1
        Layers of the encoder, and of the decoder.

    Returns
    -------
    model : transformers.T5ForConditionalGeneration
    """
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab_size,
        d_model=d_model,
        d_kv=8,
        d_ff=2 * d_model,
        num_layers=num_layers,
        num_heads=2,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    return T5ForConditionalGeneration(config).eval()


def make_pairs(n, seed=0):
    """Source and reference texts of a toy translation task.

    Parameters
    ----------
    n : int
        Number of pairs.
    seed : int, default=0
        Seed of the ``numpy`` generator that draws the sources.

    Returns
    -------
    X : list of str
        Sources of 2 to 5 words among ``w0`` ... ``w11``.
    Y : list of str
        References: every ``w<i>`` of the source becomes ``w<(i + 1) % 12>``.
    """
    rng = np.random.default_rng(seed)
    X, Y = [], []
    for _ in range(n):
        words = rng.integers(0, 12, rng.integers(2, 6))
        X.append(" ".join(f"w{i}" for i in words))
        Y.append(" ".join(f"w{(i + 1) % 12}" for i in words))
    return X, Y


def write_mo(path, messages, endian="<"):
    """Compile ``{msgid: msgstr}`` (str) into a GNU .mo file, as msgfmt does."""
    header = "Content-Type: text/plain; charset=UTF-8\n"
    items = sorted({"": header, **messages}.items())
    keys = [k.encode() for k, _ in items]
    values = [v.encode() for _, v in items]
    n = len(items)
    key_start = 28 + 16 * n
    value_start = key_start + sum(len(k) + 1 for k in keys)
    table, pos = [], key_start
    for k in keys:
        table += [len(k), pos]
        pos += len(k) + 1
    pos = value_start
    for v in values:
        table += [len(v), pos]
        pos += len(v) + 1
    head = struct.pack(endian + "7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    body = struct.pack(endian + f"{4 * n}I", *table)
    with open(path, "wb") as f:
        f.write(head + body + b"".join(s + b"\0" for s in keys + values))


def tiny_pair_home(monkeypatch, home, splits, epochs, libreoffice=(True,)):
    """A data home where ``fetch_en_ro_pair`` trains tiny models on `splits`.

    The pair's configs and training settings are patched to tiny ones of
    `epochs` epochs; the pair folder of each `libreoffice` value gets
    `splits` (``{"train": (X, Y), "dev": ..., "test": ...}``) as its cached
    ``splits.json``, so no corpus is read.
    """
    import json

    from elang_sk.datasets import _en_ro_pair as pair

    configs = {"swift": pair.TINY, "super": dict(pair.TINY, d_model=32)}
    training = {
        name: {"lr": 3e-3, "epochs": epochs, "warmup": 2, "batch_tokens": 64}
        for name in configs
    }
    monkeypatch.setattr(pair, "CONFIGS", configs)
    monkeypatch.setattr(pair, "TRAINING", training)
    for value in libreoffice:
        root = home / pair.PAIR_DIRS[value]
        root.mkdir()
        (root / "splits.json").write_text(
            json.dumps({k: list(map(list, v)) for k, v in splits.items()})
        )
    return home
