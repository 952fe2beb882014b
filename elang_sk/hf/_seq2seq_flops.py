"""Private FLOP counts of the parts of :class:`JointSeq2Seq`, per input.

Every part is counted with :class:`torch.utils.flop_counter.FlopCounterMode`
on a few lengths, and the counts of the other lengths follow from the exact
polynomial law of matrix products in the sequence lengths: the encoder and
the energy head depend on the source length ``L`` only (the quadratic law of
:func:`elang_sk.hf._flops.flops_per_input`), decoding on ``L`` and the generated
length ``T`` (``[1, T, T^2, L T, L]``, fitted by :func:`fit_polynomial`).
torch is imported at module level: import this module lazily.
"""

import copy

import numpy as np
import torch
from sklearn.utils import Bunch

from elang_sk.hf._flops import count_flops, flops_per_input
from elang_sk.hf._seq2seq_models import tokenize

# Source and generated lengths (L, T) at which decoding is counted.
_DECODER_POINTS = [(2, 1), (2, 4), (2, 9), (7, 1), (7, 4), (13, 9)]


def fit_polynomial(count, points, features):
    """Fit exact FLOP counts ``count(*point)`` on ``features(*point)``.

    FlopCounterMode counts matrix products, whose FLOPs are polynomial in the
    sequence lengths (linear layers ~ L, self-attention ~ L^2, cross-attention
    ~ L_src * L_tgt), so a few counts give the coefficients exactly.

    Examples
    --------
    >>> from elang_sk.hf._seq2seq_flops import fit_polynomial
    >>> fit_polynomial(lambda x: 3 + 2 * x * x, [(1,), (2,), (5,)],
    ...                lambda x: [1.0, x, x * x]).round(6) + 0.0
    array([3., 0., 2.])
    """
    A = np.array([features(*p) for p in points], dtype=float)
    b = np.array([count(*p) for p in points], dtype=float)
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    return coef


def encoder_flops(model, lengths, device, memo):
    """Encoder FLOPs of every source length in ``lengths``, through ``memo``."""
    encoder = model.get_encoder()

    def count(length):
        ids = torch.ones((1, length), dtype=torch.long, device=device)
        return count_flops(lambda: encoder(input_ids=ids))

    return np.asarray(flops_per_input(lengths, count, memo), dtype=float)


def head_flops(head, lengths, device, memo):
    """Energy-head FLOPs of every source length in ``lengths``."""
    d_model = head.queries.shape[1]
    # FlopCounterMode's module hooks fail on parameters that require grad
    # under inference mode: count on a frozen copy.
    head = copy.deepcopy(head).requires_grad_(False)

    def count(length):
        states = torch.zeros((1, length, d_model), device=device)
        mask = torch.ones((1, length), dtype=torch.bool, device=device)
        return count_flops(lambda: head(states, mask))

    return np.asarray(flops_per_input(lengths, count, memo), dtype=float)


def decoder_flops_model(model, device):
    """Coefficients of decoding FLOPs in ``[1, T, T^2, L*T, L]``.

    Counted on one teacher-forced decoder pass over ``T`` tokens against an
    encoder output of ``L`` positions, LM head included: the same products as
    ``T`` steps of cached incremental decoding (which compute the
    self-attention scores of step ``t`` against ``t`` keys: ``T^2 / 2`` in
    all, where the teacher-forced pass counts ``T^2``).
    """
    d_model = model.config.d_model

    def count(length, steps):
        states = torch.zeros((1, length, d_model), device=device)
        decoder_ids = torch.zeros((1, steps), dtype=torch.long, device=device)
        return count_flops(
            lambda: model(
                encoder_outputs=(states,),
                attention_mask=torch.ones((1, length), device=device),
                decoder_input_ids=decoder_ids,
            )
        )

    return fit_polynomial(count, _DECODER_POINTS, _decoder_features)


def _decoder_features(length, steps):
    return [1.0, steps, steps**2, length * steps, length]


def joint_flops(
    X, models, outputs, head, *, max_length, generation_kwargs, device, memo
):
    """FLOPs per input of every part of joint inference.

    Parameters
    ----------
    X : list of str
        Source texts.
    models : dict
        ``{"swift": (model, tokenizer), "super": (model, tokenizer)}``.
    outputs : dict
        ``{"swift": texts or None, "super": texts or None}``: each model's
        outputs, for its decoding FLOPs (zero when None).
    head : SequenceEnergyHead or None
        The energy head (zero FLOPs when None).
    max_length : int
        Truncation length of the sources.
    generation_kwargs : dict
        Its ``num_beams`` multiplies the decoding FLOPs.
    device : torch.device
        Where to count.
    memo : dict
        Counts and laws of earlier calls, filled in place.

    Returns
    -------
    flops : Bunch
        Arrays of shape ``(n_samples,)``: ``swift_encoder``, ``head``,
        ``swift_decoder``, ``super_encoder``, ``super_decoder``.
    """
    out = Bunch()
    for role, (model, tok) in models.items():
        L = [len(s) for s in tokenize(tok, X, max_length)]
        out[f"{role}_encoder"] = encoder_flops(
            model, L, device, memo.setdefault(f"{role}_encoder", {})
        )
        if role == "swift":
            out.head = (
                np.zeros(len(X))
                if head is None
                else head_flops(head, L, device, memo.setdefault("head", {}))
            )
        if outputs[role] is None:
            out[f"{role}_decoder"] = np.zeros(len(X))
            continue
        if f"{role}_decoder" not in memo:
            memo[f"{role}_decoder"] = decoder_flops_model(model, device)
        beams = generation_kwargs.get("num_beams") or (
            getattr(model.generation_config, "num_beams", None) or 1
        )
        T = [len(s) for s in tokenize(tok, list(outputs[role]), 10**6, True)]
        features = np.array(
            [_decoder_features(a, b) for a, b in zip(L, T, strict=True)], dtype=float
        )
        out[f"{role}_decoder"] = beams * np.maximum(
            features @ memo[f"{role}_decoder"], 0.0
        )
    return out


def _stage_costs(router, swift, super_, routing_source, unit):
    """Per-stage, per-input costs (router and full) of a Swift/Super pair.

    The router pays the Swift's encoder and head; the decoder ablation reads
    its score off the Swift's decoding, so there every input pays the whole
    Swift.
    """
    router = np.asarray(router, dtype=float)
    swift = np.asarray(swift, dtype=float)
    super_ = np.asarray(super_, dtype=float)
    if routing_source == "decoder":
        router = swift
    return Bunch(
        router=np.stack([router, super_]), full=np.stack([swift, super_]), unit=unit
    )


def seconds_costs(router_seconds, swift_seconds, super_seconds, routing_source):
    """Measured per-input costs: the router, the whole Swift, the Super."""
    router = np.asarray(router_seconds, dtype=float)
    swift = router + np.asarray(swift_seconds, dtype=float)
    return _stage_costs(router, swift, super_seconds, routing_source, "seconds")


def flop_costs(flops, routing_source):
    """Per-input FLOP costs from :func:`joint_flops`' parts."""
    router = flops.swift_encoder + flops.head
    return _stage_costs(
        router,
        router + flops.swift_decoder,
        flops.super_encoder + flops.super_decoder,
        routing_source,
        "FLOPs",
    )
