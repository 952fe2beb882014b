"""Private cache key of :class:`JointSeq2Seq`'s model runs.

The rest of the joint model's torch helpers live in :mod:`elang_sk.hf._seq2seq_models`,
:mod:`elang_sk.hf._seq2seq_head`, :mod:`elang_sk.hf._seq2seq_runs` and
:mod:`elang_sk.hf._seq2seq_flops`. torch is imported at module level (by
:mod:`elang_sk.hf._inference`): import this module lazily.
"""

import hashlib

from elang_sk._fingerprint import fingerprint, tokenizer_digest


def model_digest(model, tokenizer, *extra):
    """Digest of a model's config and weights, its tokenizer and ``extra`` settings.

    The tokenizer is hashed by :func:`~elang_sk._fingerprint.tokenizer_digest`,
    as :class:`~elang_sk.TransformerClassifier` hashes it: from what it turns
    a text into, leaving out the truncation and padding state that every
    call sets on a fast tokenizer's backend.
    """
    h = hashlib.blake2b(digest_size=16)
    for part in (fingerprint(model), tokenizer_digest(tokenizer), repr(extra)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()
