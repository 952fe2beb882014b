"""Private torch calls of encoder-decoder models for :class:`JointSeq2Seq`.

Loading and checking a model and its tokenizer, tokenizing, and the three
batched passes the joint model makes: encoder states, generation, and a
teacher-forced decoder pass whose logits are scored. torch and transformers
are imported at module level: import this module lazily.
"""

import os

import numpy as np
import torch
import transformers

from elang_sk.hf._torch_utils import pad_tensors


def load_model(
    model,
    tokenizer,
    role,
    device,
    fallback_tokenizer=None,
    *,
    trust_remote_code=False,
):
    """The ``(model, tokenizer)`` of one role, loaded if given by name, checked.

    A hub id or folder is loaded with ``AutoModelForSeq2SeqLM`` (and its
    tokenizer from the same place unless one is given), safely: weights from
    ``*.safetensors`` files only and, unless ``trust_remote_code=True``,
    without running Python code shipped with the model. A loaded model is
    used as given, moved to ``device`` and put in eval mode.

    Parameters
    ----------
    model : str, path-like or transformers.PreTrainedModel
        A hub id, a local folder or a loaded encoder-decoder model.
    tokenizer : str, path-like, tokenizer or None
        The tokenizer, or None for the one of ``model`` (or the fallback).
    role : {"swift", "super"}
        Which model this is, for the error messages.
    device : torch.device
        Where the model runs.
    fallback_tokenizer : tokenizer or None, default=None
        Used when ``tokenizer`` is None and ``model`` is an object.
    trust_remote_code : bool, default=False
        Passed to every ``from_pretrained``: True runs the model's own Python
        code from the hub or the folder. Only for sources you trust.

    Returns
    -------
    model : transformers.PreTrainedModel
    tokenizer : transformers tokenizer
    """
    from elang_sk.hf._loading import load_pretrained

    name = f"{role}_model"

    def seq2seq_class(config):
        check_encoder_decoder(config, name, config.model_type)
        return transformers.AutoModelForSeq2SeqLM, {}

    if not isinstance(model, str | os.PathLike):
        check_encoder_decoder(model.config, name, type(model).__name__)
        tokenizer = tokenizer if tokenizer is not None else fallback_tokenizer
    model, tokenizer = load_pretrained(
        model,
        tokenizer,
        seq2seq_class,
        name=name,
        trust_remote_code=trust_remote_code,
    )
    check_tokenizer(tokenizer, model, role)
    model.to(device)
    model.eval()
    return model, tokenizer


def check_encoder_decoder(config, role, name):
    """Refuse a model without an encoder for the energy head."""
    if not getattr(config, "is_encoder_decoder", False):
        raise ValueError(
            f"{role} must be an encoder-decoder model (config.is_encoder_decoder="
            f"True, e.g. T5, BART, Marian); got {name}. Decoder-only or "
            "encoder-only models have no encoder for the energy head."
        )


def check_tokenizer(tokenizer, model, role):
    """Refuse a tokenizer that does not fit its model's vocabulary."""
    vocab = len(tokenizer)
    if vocab > model.config.vocab_size:
        raise ValueError(
            f"The {role} tokenizer does not match the {role} model: it has {vocab} "
            f"tokens but the model's vocabulary has {model.config.vocab_size}. Pass "
            f"the tokenizer the model was trained with"
            + (" (super_tokenizer=...)." if role == "super" else ".")
        )
    for name in ("pad_token_id", "eos_token_id"):
        if getattr(tokenizer, name) is None:
            raise ValueError(
                f"The {role} tokenizer has no {name[:-3]} token; encoder-decoder "
                "generation and the energy head's targets need one."
            )


def tokenize(tokenizer, texts, max_length, target=False):
    """Token ids of every text (a list of lists), truncated to ``max_length``."""
    kwargs = {"text_target": texts} if target else {"text": texts}
    ids = tokenizer(**kwargs, truncation=True, max_length=max_length)["input_ids"]
    eos = tokenizer.eos_token_id
    if target:
        # Targets end with end-of-sequence, as the decoder generates them, even
        # with a tokenizer that does not append it (or a truncated reference).
        ids = [seq if seq and seq[-1] == eos else [*seq, eos] for seq in ids]
    return ids


def batches(ids, batch_size):
    """Length-sorted batches of row indices (longest first: less padding)."""
    order = np.argsort([-len(seq) for seq in ids], kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.inference_mode()
def encoder_states(model, ids, pad_id, batch_size, length, device):
    """Last hidden state of the encoder, zero-padded to ``length`` positions.

    Returns an array of shape ``(n, length, d_model)``; the padding is fixed so
    that rows computed in different calls can be cached and stacked together.
    """
    encoder = model.get_encoder()
    out = np.zeros((len(ids), length, model.config.d_model), dtype=np.float32)
    for rows in batches(ids, batch_size):
        input_ids, mask = pad_tensors(ids, rows, pad_id, device)
        hidden = encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        out[rows, : hidden.shape[1]] = hidden.float().cpu().numpy()
    return out


@torch.inference_mode()
def generate(model, tokenizer, ids, batch_size, device, generation_kwargs):
    """Generate and decode an output text for every row of ``ids``, in batches."""
    out = np.empty(len(ids), dtype=object)
    for rows in batches(ids, batch_size):
        input_ids, mask = pad_tensors(ids, rows, tokenizer.pad_token_id, device)
        sequences = model.generate(
            input_ids=input_ids, attention_mask=mask, **generation_kwargs
        )
        out[rows] = tokenizer.batch_decode(sequences, skip_special_tokens=True)
    return out.astype(str)


@torch.inference_mode()
def decoder_scores(model, ids, target_ids, pad_id, batch_size, device, score):
    """Routing score of the decoder's logits, teacher-forced on ``target_ids``.

    Every target position up to and including the end-of-sequence token is
    scored, and ``score`` aggregates them (eq. 9 applied to the decoder).
    """
    out = np.empty(len(ids))
    for rows in batches(ids, batch_size):
        input_ids, mask = pad_tensors(ids, rows, pad_id, device)
        labels, label_mask = pad_tensors(target_ids, rows, pad_id, device)
        decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels=labels)
        logits = model(
            input_ids=input_ids,
            attention_mask=mask,
            decoder_input_ids=decoder_input_ids,
        ).logits
        out[rows] = score(logits.double().cpu().numpy(), label_mask.cpu().numpy() > 0)
    return out
