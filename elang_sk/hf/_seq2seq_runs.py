"""Private model runs of one :class:`JointSeq2Seq` call, through the cache.

torch is imported at module level (by the helpers): import this module lazily.
"""

import numpy as np

from elang_sk._cache import hash_inputs, resolve_cache, timed_compute
from elang_sk.hf._seq2seq_models import (
    decoder_scores,
    encoder_states,
    generate,
    tokenize,
)
from elang_sk.hf._seq2seq_utils import model_digest


class Seq2SeqRuns:
    """The model runs of one call on one input set, cached per input.

    Encoder states, generated texts and decoder scores go through the
    ``memory`` cache (keyed by a digest of the model, tokenizer and settings)
    and are memoised for the call, so each model runs at most once per input.

    Parameters
    ----------
    X : list of str
        Source texts (already checked).
    models : dict
        ``{"swift": (model, tokenizer), "super": (model, tokenizer)}``.
    memory : None, str, joblib.Memory or OutputCache
        Where to cache outputs per input.
    max_length, batch_size : int
        Truncation length of the sources, rows per batch.
    device : torch.device
        Where the models run.
    generation_kwargs : dict
        Passed to both models' ``generate``.
    """

    def __init__(
        self, X, models, *, memory, max_length, batch_size, device, generation_kwargs
    ):
        self.X = X
        self.models = models
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.generation_kwargs = generation_kwargs
        self.cache = resolve_cache(memory)
        self.keys = hash_inputs(X) if self.cache is not None else None
        self.ids = {
            role: tokenize(tok, X, max_length) for role, (_, tok) in models.items()
        }
        self._memo = {}
        self._digests = {}

    def _digest(self, role, *extra):
        key = repr((role, extra))
        if key not in self._digests:
            model, tok = self.models[role]
            self._digests[key] = model_digest(model, tok, self.max_length, *extra)
        return self._digests[key]

    def _cached(self, name, rows, compute, digest):
        """``compute(rows)`` through the cache; ``digest()`` names the model."""
        rows = np.arange(len(self.X)) if rows is None else np.asarray(rows, np.intp)
        if self.cache is None:
            return timed_compute(compute, rows)
        # The cache hands compute() the texts; map them back to row numbers.
        position = {
            x: i
            for i, x in zip(rows[::-1], [self.X[r] for r in rows[::-1]], strict=True)
        }
        return self.cache.get_or_compute(
            f"JointSeq2Seq-{digest()}/{name}",
            [self.X[r] for r in rows],
            lambda texts: compute(np.array([position[t] for t in texts], np.intp)),
            keys=self.keys[rows],
        )

    def states(self):
        """Swift encoder states (n, L, d), source lengths, and seconds per input."""
        if "states" not in self._memo:
            model, tok = self.models["swift"]
            ids = self.ids["swift"]

            def compute(rows):
                return encoder_states(
                    model,
                    [ids[r] for r in rows],
                    tok.pad_token_id,
                    self.batch_size,
                    self.max_length,
                    self.device,
                )

            states, seconds = self._cached(
                "encoder_states", None, compute, lambda: self._digest("swift")
            )
            lengths = np.array([len(s) for s in ids], dtype=np.int64)
            self._memo["states"] = states[:, : lengths.max()], lengths, seconds
        return self._memo["states"]

    def generate(self, role, rows=None):
        """Output texts of ``role`` on ``rows`` (all when None), and seconds."""
        if role in self._memo:
            out, sec = self._memo[role]
            return (out, sec) if rows is None else (out[rows], sec[rows])
        model, tok = self.models[role]
        ids, kwargs = self.ids[role], self.generation_kwargs

        def compute(rows):
            return generate(
                model, tok, [ids[r] for r in rows], self.batch_size, self.device, kwargs
            )

        out, sec = self._cached(
            "generate",
            rows,
            compute,
            lambda: self._digest(role, sorted(kwargs.items())),
        )
        out = np.asarray(out).astype(str)
        if rows is None:
            self._memo[role] = out, sec
        return out, sec

    def decoder_scores(self, score):
        """``score`` of the Swift decoder's logits on its own outputs, and seconds.

        The seconds include those of generating the outputs.
        """
        model, tok = self.models["swift"]
        swift_out, gen_sec = self.generate("swift")
        ids = self.ids["swift"]
        targets = tokenize(tok, list(swift_out), 10**6, True)

        def compute(rows):
            return decoder_scores(
                model,
                [ids[r] for r in rows],
                [targets[r] for r in rows],
                tok.pad_token_id,
                self.batch_size,
                self.device,
                score,
            )

        scores, sec = self._cached(
            "decoder_scores",
            None,
            compute,
            lambda: self._digest(
                "swift", sorted(self.generation_kwargs.items()), repr(score)
            ),
        )
        return np.asarray(scores, dtype=float), sec + gen_sec
