"""Private torch helpers of :class:`JointSeq2Seq`: encode, generate, count, train.

torch is imported at module level: import this module lazily.
"""

import copy
import hashlib

import numpy as np
import torch
from torch import nn

from elang_sk._fingerprint import fingerprint
from elang_sk._flops import count_flops


def model_digest(model, tokenizer, *extra):
    """Digest of a model's config and weights, its tokenizer and ``extra`` settings."""
    h = hashlib.blake2b(digest_size=16)
    for part in (fingerprint(model), fingerprint(tokenizer), repr(extra)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


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


def pad(ids, rows, pad_id, device, length=None):
    """Right-pad ``ids[rows]``; return ``(input_ids, attention_mask)`` tensors."""
    length = length or max(len(ids[i]) for i in rows)
    out = np.full((len(rows), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for j, i in enumerate(rows):
        out[j, : len(ids[i])] = ids[i]
        mask[j, : len(ids[i])] = 1
    return torch.from_numpy(out).to(device), torch.from_numpy(mask).to(device)


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
        input_ids, mask = pad(ids, rows, pad_id, device)
        hidden = encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        out[rows, : hidden.shape[1]] = hidden.float().cpu().numpy()
    return out


@torch.inference_mode()
def generate(model, tokenizer, ids, batch_size, device, generation_kwargs):
    """Generate and decode an output text for every row of ``ids``, in batches."""
    out = np.empty(len(ids), dtype=object)
    for rows in batches(ids, batch_size):
        input_ids, mask = pad(ids, rows, tokenizer.pad_token_id, device)
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
        input_ids, mask = pad(ids, rows, pad_id, device)
        labels, label_mask = pad(target_ids, rows, pad_id, device)
        decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels=labels)
        logits = model(
            input_ids=input_ids,
            attention_mask=mask,
            decoder_input_ids=decoder_input_ids,
        ).logits
        out[rows] = score(logits.double().cpu().numpy(), label_mask.cpu().numpy() > 0)
    return out


class SequenceEnergyHead(nn.Module):
    """``M`` position queries, one attention over the encoder, the tied LM head.

    Output position ``m`` has a learned query vector; one multi-head attention
    layer lets it read the encoder's last hidden states (padding masked), a
    residual connection and a LayerNorm follow, and the Swift's own output
    embedding (frozen) with a learned per-token bias turns the result into
    vocabulary logits.
    """

    def __init__(self, d_model, n_positions, output_weight, n_heads):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.queries = nn.Parameter(
            torch.randn(n_positions, d_model, generator=generator) * d_model**-0.5
        )
        self.attention = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        weight = output_weight.detach().float().clone()
        self.register_buffer("output_weight", weight)
        self.output_bias = nn.Parameter(torch.zeros(weight.shape[0]))
        with torch.no_grad():
            # Start with logits of unit scale whatever the norm of the embeddings.
            self.norm.weight.fill_(1.0 / float(weight.norm(dim=1).mean()))

    def forward(self, states, mask):
        queries = self.queries.expand(states.shape[0], -1, -1)
        attended, _ = self.attention(
            queries, states, states, key_padding_mask=~mask, need_weights=False
        )
        hidden = self.norm(queries + attended)
        return hidden @ self.output_weight.T + self.output_bias


def make_head(model, n_positions, random_state):
    """A fresh head for ``model``, seeded by ``random_state``."""
    torch.manual_seed(random_state)
    d_model = model.config.d_model
    n_heads = max(h for h in (8, 4, 2, 1) if d_model % h == 0)
    weight = model.get_output_embeddings().weight
    head = SequenceEnergyHead(d_model, n_positions, weight, n_heads)
    return head.to(weight.device)


def train_head(head, states, lengths, targets, *, epochs, lr, batch_size, seed):
    """Train the head with cross-entropy on the first ``M`` reference tokens.

    ``targets`` is an int array ``(n, M)`` with ``-100`` at padding positions.
    """
    device = head.output_weight.device
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(
        [p for p in head.parameters() if p.requires_grad], lr=lr, weight_decay=1e-2
    )
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    n = states.shape[0]
    head.train()
    for _ in range(epochs):
        for rows in torch.randperm(n, generator=generator).split(batch_size):
            rows = rows.numpy()
            x, mask = _state_batch(states, lengths, rows, device)
            logits = head(x, mask)
            y = torch.from_numpy(targets[rows]).to(device)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    head.eval()
    return head


def _state_batch(states, lengths, rows, device):
    length = int(lengths[rows].max())
    x = torch.from_numpy(np.ascontiguousarray(states[rows, :length])).to(device)
    mask = torch.arange(length)[None, :] < torch.from_numpy(lengths[rows])[:, None]
    return x, mask.to(device)


@torch.inference_mode()
def head_outputs(head, states, lengths, eos_id, batch_size, consume):
    """Run the head by batches; ``consume(rows, logits, mask)`` gets each batch.

    The mask keeps the positions up to the first one whose most likely token
    is the end-of-sequence token (included): the head's own length prediction.
    """
    device = head.output_weight.device
    for start in range(0, states.shape[0], batch_size):
        rows = np.arange(start, min(start + batch_size, states.shape[0]))
        x, mask = _state_batch(states, lengths, rows, device)
        logits = head(x, mask).double().cpu().numpy()
        consume(rows, logits, position_mask(logits.argmax(axis=-1), eos_id))


def position_mask(tokens, eos_id):
    """True up to and including the first ``eos_id`` of every row of ``tokens``."""
    is_eos = tokens == eos_id
    return (np.cumsum(is_eos, axis=1) - is_eos) == 0


def fit_polynomial(count, points, features):
    """Fit exact FLOP counts ``count(*point)`` on ``features(*point)``.

    FlopCounterMode counts matrix products, whose FLOPs are polynomial in the
    sequence lengths (linear layers ~ L, self-attention ~ L^2, cross-attention
    ~ L_src * L_tgt), so a few counts give the coefficients exactly.
    """
    A = np.array([features(*p) for p in points], dtype=float)
    b = np.array([count(*p) for p in points], dtype=float)
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    return coef


def encoder_flops_model(model, device):
    """Coefficients of encoder FLOPs in ``[1, L, L^2]`` (L: source length)."""
    encoder = model.get_encoder()

    def count(length):
        ids = torch.ones((1, length), dtype=torch.long, device=device)
        return count_flops(lambda: encoder(input_ids=ids))

    return fit_polynomial(count, [(2,), (5,), (9,)], _encoder_features)


def _encoder_features(length):
    return [1.0, length, length**2]


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

    points = [(2, 1), (2, 4), (2, 9), (7, 1), (7, 4), (13, 9)]
    return fit_polynomial(count, points, _decoder_features)


def _decoder_features(length, steps):
    return [1.0, steps, steps**2, length * steps, length]


def head_flops_model(head, device):
    """Coefficients of the energy head's FLOPs in ``[1, L]``."""
    d_model = head.queries.shape[1]
    # FlopCounterMode's module hooks fail on parameters that require grad
    # under inference mode: count on a frozen copy.
    head = copy.deepcopy(head).requires_grad_(False)

    def count(length):
        states = torch.zeros((1, length, d_model), device=device)
        mask = torch.ones((1, length), dtype=torch.bool, device=device)
        return count_flops(lambda: head(states, mask))

    return fit_polynomial(count, [(2,), (7,)], lambda L: [1.0, L])


def evaluate_polynomial(coef, rows):
    """FLOPs of every feature row in ``rows`` (a list of feature lists)."""
    return np.maximum(np.asarray(rows, dtype=float) @ coef, 0.0)
