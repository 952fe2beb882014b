"""Private cache key of :class:`JointSeq2Seq`'s model runs.

The rest of the joint model's torch helpers live in :mod:`elang_sk._seq2seq_models`,
:mod:`elang_sk._seq2seq_head`, :mod:`elang_sk._seq2seq_runs` and
:mod:`elang_sk._seq2seq_flops`.
"""

import hashlib

from elang_sk._fingerprint import fingerprint


def model_digest(model, tokenizer, *extra):
    """Digest of a model's config and weights, its tokenizer and ``extra`` settings."""
    h = hashlib.blake2b(digest_size=16)
    for part in (fingerprint(model), fingerprint(tokenizer), repr(extra)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()
