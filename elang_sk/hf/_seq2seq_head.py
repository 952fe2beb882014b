"""Private sequence energy head of :class:`JointSeq2Seq` (eq. 9 of E-LANG).

The head, its targets, its training (plain and cross-fitted), and the
routing scores it gives. torch is imported at module level: import this
module lazily.
"""

from numbers import Integral

import numpy as np
import torch
from sklearn.model_selection import KFold, check_cv
from torch import nn

from elang_sk.hf._seq2seq_models import tokenize


class SequenceEnergyHead(nn.Module):
    """``M`` position queries, one attention over the encoder, the tied LM head.

    Output position ``m`` has a learned query vector; one multi-head attention
    layer lets it read the encoder's last hidden states (padding masked), a
    residual connection and a LayerNorm follow, and the Swift's own output
    embedding (frozen) with a learned per-token bias turns the result into
    vocabulary logits.

    Parameters
    ----------
    d_model : int
        Width of the encoder states.
    n_positions : int
        Number ``M`` of output positions.
    output_weight : torch.Tensor of shape (vocab_size, d_model)
        The Swift's output embedding, copied and frozen.
    n_heads : int
        Attention heads; must divide ``d_model``.

    Examples
    --------
    >>> import torch
    >>> from elang_sk.hf._seq2seq_head import SequenceEnergyHead
    >>> head = SequenceEnergyHead(8, 3, torch.randn(5, 8), n_heads=2)
    >>> states, mask = torch.zeros(2, 4, 8), torch.ones(2, 4, dtype=torch.bool)
    >>> head(states, mask).shape
    torch.Size([2, 3, 5])
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


def head_targets(tokenizer, Y, n_positions, max_length):
    """The first ``M`` tokens of each reference, ``-100`` as padding.

    Examples
    --------
    >>> from elang_sk.hf._seq2seq_head import head_targets
    >>> def tok(text_target, truncation, max_length):
    ...     return {"input_ids": [[3, 4, 1], [5, 1]]}
    >>> tok.eos_token_id = 1
    >>> head_targets(tok, ["a b", "c"], 4, 16)
    array([[   3,    4,    1, -100],
           [   5,    1, -100, -100]])
    """
    targets = np.full((len(Y), n_positions), -100, dtype=np.int64)
    for i, ids in enumerate(tokenize(tokenizer, Y, max_length, True)):
        targets[i, : min(n_positions, len(ids))] = ids[:n_positions]
    return targets


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


def fit_head(model, states, lengths, targets, *, epochs, lr, batch_size, seed):
    """A fresh head for ``model`` (seeded by ``seed``), trained on the states."""
    head = make_head(model, targets.shape[1], seed)
    return train_head(
        head,
        states,
        lengths,
        targets,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
    )


def cross_fit_head(model, states, lengths, targets, score, eos_id, cv, **train):
    """Out-of-fold routing scores, and the head trained on all the data.

    With ``cv=None`` the head is trained once and scores its own training
    data. ``train`` holds the keyword arguments of :func:`fit_head`.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
    head : SequenceEnergyHead
    """
    batch_size = train["batch_size"]
    head = fit_head(model, states, lengths, targets, **train)
    if cv is None:
        return head_scores(head, states, lengths, eos_id, batch_size, score), head
    if isinstance(cv, Integral):
        cv = KFold(min(cv, len(states)), shuffle=True, random_state=train["seed"])
    scores = np.empty(len(states))
    for fold, rest in check_cv(cv).split(states):
        fold_head = fit_head(model, states[fold], lengths[fold], targets[fold], **train)
        scores[rest] = head_scores(
            fold_head, states[rest], lengths[rest], eos_id, batch_size, score
        )
    return scores, head


def _state_batch(states, lengths, rows, device):
    length = int(lengths[rows].max())
    x = torch.from_numpy(np.ascontiguousarray(states[rows, :length])).to(device)
    mask = torch.arange(length)[None, :] < torch.from_numpy(lengths[rows])[:, None]
    return x, mask.to(device)


@torch.inference_mode()
def head_outputs(head, states, lengths, eos_id, batch_size):
    """The head's logits and position masks, by batches of rows.

    Yields ``(rows, logits, mask)``. The mask keeps the positions up to the
    first one whose most likely token is the end-of-sequence token
    (included): the head's own length prediction.
    """
    device = head.output_weight.device
    for start in range(0, states.shape[0], batch_size):
        rows = np.arange(start, min(start + batch_size, states.shape[0]))
        x, mask = _state_batch(states, lengths, rows, device)
        logits = head(x, mask).double().cpu().numpy()
        yield rows, logits, position_mask(logits.argmax(axis=-1), eos_id)


def head_scores(head, states, lengths, eos_id, batch_size, score):
    """Routing score of every row: ``score`` of the head's masked logits."""
    scores = np.empty(len(states))
    for rows, logits, mask in head_outputs(head, states, lengths, eos_id, batch_size):
        scores[rows] = score(logits, mask)
    return scores


def position_mask(tokens, eos_id):
    """True up to and including the first ``eos_id`` of every row of ``tokens``.

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk.hf._seq2seq_head import position_mask
    >>> position_mask(np.array([[5, 1, 7], [4, 6, 3]]), eos_id=1)
    array([[ True,  True, False],
           [ True,  True,  True]])
    """
    is_eos = tokens == eos_id
    return (np.cumsum(is_eos, axis=1) - is_eos) == 0


def head_state(head):
    """A fitted head as plain data: its shape (``spec``) and its ``tensors``.

    The inverse of :func:`head_from_state`; :func:`elang_sk.save_joint`
    writes the tensors with safetensors and the spec as JSON.
    """
    return {
        "spec": {
            "d_model": int(head.queries.shape[1]),
            "n_positions": int(head.queries.shape[0]),
            "vocab_size": int(head.output_weight.shape[0]),
            "n_heads": int(head.attention.num_heads),
        },
        "tensors": {
            k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()
        },
    }


def head_from_state(state, device):
    """The head :func:`head_state` describes, its tensors checked exactly."""
    spec = state["spec"]
    head = SequenceEnergyHead(
        spec["d_model"],
        spec["n_positions"],
        torch.ones(spec["vocab_size"], spec["d_model"]),  # loaded below
        spec["n_heads"],
    )
    head.load_state_dict(state["tensors"], strict=True)
    return head.to(device).eval()
