"""Forward passes of a loaded transformers model, as the classifier runs them.

:class:`HFForward` tokenizes the texts once, pads length-sorted batches, and
turns a batch into pooled encoder features or per-class logits; it also
counts FLOPs per input and fingerprints what its outputs depend on. It holds
what ``fit`` decided and is rebuilt cheaply whenever it is needed. torch is
imported at module level: import this module lazily.
"""

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch

from elang_sk.hf._flops import count_flops, flops_per_input
from elang_sk.hf._torch_utils import module_digest, pad_batch, run_batches

# On a CPU a batch costs its padded tokens whatever its size, so batches end
# where lengths drop below 80% of the longest (at most 25% padding per input);
# on a GPU full batches keep the device busy (measured by bench_serving.py).
CPU_BUCKET_RATIO = 0.8


@dataclass
class HFForward:
    """How a loaded model turns texts into features and logits.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The model, on ``device``.
    tokenizer : transformers tokenizer
        Its tokenizer.
    task : {"encoder", "sequence-classification", "seq2seq"}
        How the model is read.
    pooling : {"mean", "cls"}
        Pooling of the encoder's last hidden state.
    max_length : int
        Inputs are truncated to this many tokens.
    device : torch.device
        Where the model runs.
    columns : ndarray of shape (n_classes,), default=None
        ``"sequence-classification"``: output column of every class.
    label_token_ids : ndarray of shape (n_classes,), default=None
        ``"seq2seq"``: first token id of every class's label word.
    coef, intercept : ndarray, default=None
        ``"encoder"``: the linear head, ``(n_classes, hidden)`` and
        ``(n_classes,)``.
    """

    model: object
    tokenizer: object
    task: str
    pooling: str
    max_length: int
    device: torch.device
    columns: np.ndarray = None
    label_token_ids: np.ndarray = None
    coef: np.ndarray = None
    intercept: np.ndarray = None

    def tokenize(self, X):
        """Token ids of every text (no padding) and their lengths."""
        encodings = self.tokenizer(
            list(X),
            truncation=True,
            max_length=self.max_length,
            padding=False,
            return_attention_mask=False,
        )
        encodings = {k: v for k, v in encodings.items() if k != "attention_mask"}
        return encodings, [len(ids) for ids in encodings["input_ids"]]

    def pad(self, encodings, rows):
        """The batch of ``rows``, padded to its longest, on the device."""
        tokenizer = self.tokenizer
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        side = getattr(tokenizer, "padding_side", "right")
        return pad_batch(encodings, rows, pad, side, self.device)

    def features(self, batch):
        """Pooled last hidden state of the encoder (only the encoder runs)."""
        if self.task == "seq2seq":
            encoder = self.model.get_encoder()
        else:
            encoder = self.model.base_model
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"]
        if self.pooling == "cls":
            first = mask.argmax(dim=1)
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), first]
        mask = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)

    def logits(self, batch):
        """Per-class logits of a batch, one column per class."""
        if self.task == "encoder":
            features = self.features(batch)
            coef = torch.as_tensor(self.coef, device=features.device)
            intercept = torch.as_tensor(self.intercept, device=features.device)
            return features.to(coef.dtype) @ coef.T + intercept
        if self.task == "seq2seq":
            start = self.model.config.decoder_start_token_id
            if start is None:
                start = self.tokenizer.pad_token_id or 0
            n = batch["input_ids"].shape[0]
            decoder_input_ids = torch.full((n, 1), start, device=self.device)
            out = self.model(**batch, decoder_input_ids=decoder_input_ids)
            return out.logits[:, 0, torch.as_tensor(self.label_token_ids)]
        return self.model(**batch).logits[:, torch.as_tensor(self.columns)]

    def run(self, X, forward, *, batch_size, progress="auto"):
        """``forward`` over length-sorted batches of ``X``, rows in input order.

        Raises a ``ValueError`` if the model produces NaN or infinite values.
        """
        encodings, lengths = self.tokenize(X)

        def run_rows(rows):
            with torch.inference_mode():
                # Left on the device: run_batches copies every batch back at
                # the end, so the host pads batch k+1 while batch k runs.
                return forward(self.pad(encodings, rows)).float()

        values = run_batches(
            lengths,
            batch_size,
            run_rows,
            progress=progress,
            min_ratio=CPU_BUCKET_RATIO if self.device.type == "cpu" else 0.0,
        )
        check_finite_outputs(values, X)
        return values

    def flops(self, X, forward, memo):
        """FLOPs of ``forward`` on every input, counted per distinct length."""
        encodings, lengths = self.tokenize(X)
        example = {}
        for i, length in enumerate(lengths):
            example.setdefault(length, i)

        def flops_of_length(length):
            batch = self.pad(encodings, [example[length]])
            return count_flops(lambda: forward(batch))

        return np.asarray(
            flops_per_input(lengths, flops_of_length, memo), dtype=np.int64
        )

    def fingerprint(self, tokenizer_digest, dtype):
        """Digest of all that the encoder's outputs depend on.

        The task, model class, config, tokenizer (``tokenizer_digest``),
        ``max_length``, pooling, ``dtype`` and every weight.
        """
        config = self.model.config.to_dict()
        for key in ("_name_or_path", "transformers_version"):
            config.pop(key, None)
        h = hashlib.blake2b(digest_size=16)
        for part in (
            self.task,
            type(self.model).__name__,
            json.dumps(config, sort_keys=True, default=str),
            tokenizer_digest,
            str(self.max_length),
            self.pooling,
            str(dtype),
            module_digest(self.model),
        ):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()


def check_finite_outputs(values, texts):
    """Raise a ``ValueError`` naming the texts whose outputs are NaN or inf.

    Parameters
    ----------
    values : ndarray of shape (n_samples, ...)
        Model outputs, one row per text.
    texts : sequence of str
        The texts, to name the first bad one.
    """
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"The model produced non-finite outputs (NaN or inf) for "
            f"{int(bad.sum())} of {len(values)} texts, e.g. {texts[first]!r:.60}. "
            "Check the model's weights for NaN or inf values, and run it in "
            "float32 (dtype='float32') if it overflows in half precision."
        )
