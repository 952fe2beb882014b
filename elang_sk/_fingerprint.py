"""One fingerprint for every model whose outputs are cached.

:func:`fingerprint` names what a model computes: two models with the same
fingerprint give the same outputs, so their outputs can share cache entries. It
is used for scikit-learn estimators (any picklable object), torch modules and
Hugging Face tokenizers; an object with a callable ``elang_fingerprint()`` names
itself.

**Never stale.** Nothing is memoised: every call reads the whole model, so any
change a user makes is seen, whatever way it was made (a refit, an optimizer
step, ``load_state_dict``, a write through ``p.data`` or under
``torch.no_grad()`` that leaves ``tensor._version`` unchanged, an in-place edit
of a fitted array such as ``clf.coef_[0, 0] += 1`` or of a fitted dict such as
a TF-IDF ``vocabulary_``).

- Python objects are hashed (BLAKE2b, 128 bits) from their pickle stream,
  written by the C pickler with protocol 5 so that numpy arrays are hashed in
  full from their own memory, without a copy. A scikit-learn estimator is
  hashed from its ``__getstate__`` less the per-process values listed in
  ``_PROCESS_LOCAL`` (``_stop_words_id = id(stop_words)`` of the text
  vectorizers), with its set attributes sorted, so that the same fitted model
  gets the same fingerprint in every process. A function is hashed from its
  module, name, bytecode, constants, defaults and closure.
- A torch tensor is reduced on its own device: its bytes are read as 64-bit
  words ``x_i`` and summed as ``sum_i w_i * x_i mod 2**64`` over chunks of
  2**20 words, with fixed odd pseudo-random weights ``w_i`` (SplitMix64). The
  chunk sums, the trailing bytes, the dtype and the shape are then hashed with
  BLAKE2b. Because every ``w_i`` is odd, a change of any single word always
  changes the sum; other accidental changes collide with probability about
  2**-64 per chunk. It is a checksum, not a cryptographic hash: a deliberate
  adversary can build a collision. Integer sums are exact modulo 2**64 in any
  order, so the result does not depend on the device or the thread count.
  A module is hashed from its class, its ``repr`` (the hyper-parameters of its
  layers), its Hugging Face ``config`` and ``generation_config`` when it has
  them, and every parameter and buffer (non-persistent buffers included).
- A Hugging Face tokenizer is hashed from
  :func:`elang_sk._fingerprint.tokenizer_digest` (its class, the JSON of its
  backend less the ``padding`` and ``truncation`` that every call with
  padding or truncation rewrites there, its sides and special tokens) and its
  pickled attributes (``model_max_length``, ``init_kwargs``, ...; file paths
  and the record of warnings already shown left out).

**Cost** (``python benchmarks/bench_fingerprint.py``, saved in
``benchmarks/results/bench_fingerprint.json``; 2-core CPU shared with several
other jobs while it ran, torch 2.13, random-weight float32 ``BertModel``s of
the real shapes, median of 5 calls): 0.061 s for 22.7M parameters (MiniLM-L6
shape) and 0.21 s for 109.5M (mpnet-base shape), against 0.31 s and 1.30 s for
BLAKE2b over the same bytes; a ``TfidfVectorizer(analyzer="char_wb",
ngram_range=(2, 5))`` + ``LogisticRegression`` pipeline with a 482,517-term
vocabulary takes 0.60 s (:func:`joblib.hash`: 9.4 s). The cost is paid once
per ``fit``/``predict`` call of an estimator with a ``memory``, not per input,
and never without one.

**Remaining limits.** What a model computes is seen through its state; a
change outside that state is not: the module-level globals and the other
functions a hashed function reads, a torch module's train/eval mode, forward
hooks or a replaced ``forward`` method, and any object whose pickled state
leaves out what changes its outputs. An object that cannot be pickled gets a
``TypeError`` that says to give it an ``elang_fingerprint()`` method.
"""

import hashlib
import json
import pickle
import re
import sys
import types

import numpy as np

_DIGEST_SIZE = 16
_CHUNK = 1 << 20
# Attributes holding per-process values (ids, addresses) or memos that do not
# change what an estimator computes; hashing them would make every process (or
# every model that has been read) miss: a vectorizer's stop-word id, the
# threshold selections, the first stage's input kind and the FLOP counts a
# joint model memoises when it is read, and the warning memo of a scikit-learn Bunch
# (pickle drops it, so a round trip would change the fingerprint).
_PROCESS_LOCAL = frozenset(
    {
        "_stop_words_id",
        "_selections",
        "_first_takes_text",
        "_flop_memo",
        "_deprecated_key_to_warnings",
    }
)
# Tokenizer attributes that do not change its outputs: where its files were read
# from (as do names ending in "_file"), the warnings it has shown, and the
# backend, hashed from its JSON.
_TOKENIZER_SKIP = frozenset(
    {"name_or_path", "_name_or_path", "deprecation_warnings", "_tokenizer"}
)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_WEIGHTS = {}


def fingerprint(obj):
    """Name what a model computes, for the output cache.

    Parameters
    ----------
    obj : object
        A scikit-learn estimator (or any picklable object), a torch
        ``nn.Module``, a Hugging Face tokenizer, or an object with a callable
        ``elang_fingerprint()`` method, whose result is then used.

    Returns
    -------
    fingerprint : str
        ``"<class name>-<hex digest>"``. Equal for two models that compute the
        same outputs, in any process; different as soon as anything in the
        model changes (see the module docstring for the exact limits).

    Raises
    ------
    TypeError
        If ``obj`` cannot be pickled and has no ``elang_fingerprint()``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from elang_sk._fingerprint import fingerprint
    >>> clf = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> before = fingerprint(clf)
    >>> before.startswith("LogisticRegression-")
    True
    >>> fingerprint(clf) == before
    True
    >>> clf.coef_[0, 0] += 1.0
    >>> fingerprint(clf) == before
    False
    """
    own = _own_fingerprint(obj)
    if own is not None:
        return f"{type(obj).__name__}-{own}"
    return f"{type(obj).__name__}-{_pickle_digest(obj).hex()}"


def _own_fingerprint(obj):
    if isinstance(obj, type):
        return None
    own = getattr(obj, "elang_fingerprint", None)
    return str(own()) if callable(own) else None


def _reduced(*parts):
    """Stand-in callable of the reductions below; never called."""


class _HashWriter:
    def __init__(self, h):
        self.write = h.update


class _Hasher(pickle.Pickler):
    """Pickler that feeds a hash and replaces models by their digests."""

    def __init__(self, h, buffers):
        super().__init__(_HashWriter(h), protocol=5, buffer_callback=self._buffer)
        self._buffers = buffers
        self._open = set()

    def _buffer(self, buffer):
        raw = buffer.raw()
        self._buffers.update(raw.nbytes.to_bytes(8, "little"))
        self._buffers.update(raw)
        # A false return value keeps the buffer out of band: hashed, not copied.

    def reducer_override(self, obj):
        if isinstance(obj, type):
            return _reduced, ("class", obj.__module__, obj.__qualname__)
        if isinstance(obj, types.FunctionType):
            return NotImplemented if obj is _reduced else self._function(obj)
        own = _own_fingerprint(obj)
        if own is not None:
            return _reduced, ("own", type(obj).__qualname__, own)
        torch = sys.modules.get("torch")
        if torch is not None:
            if isinstance(obj, torch.nn.Module):
                return _reduced, ("module", _module_digest(obj))
            if isinstance(obj, torch.Tensor):
                return _reduced, ("tensor", _tensor_digest(obj))
        if _is_tokenizer(obj):
            return _reduced, ("tokenizer", _tokenizer_digest(obj))
        sklearn_utils = sys.modules.get("sklearn.utils")
        if sklearn_utils is not None and type(obj) is sklearn_utils.Bunch:
            # Its items only: its warning memo does not survive a pickle.
            return _reduced, ("bunch", dict(obj))
        sklearn_base = sys.modules.get("sklearn.base")
        if sklearn_base is not None and isinstance(obj, sklearn_base.BaseEstimator):
            kind = ("estimator", type(obj).__module__, type(obj).__qualname__)
            return _reduced, kind, _clean_state(obj.__getstate__())
        return NotImplemented

    def _function(self, fn):
        name = (fn.__module__, fn.__qualname__)
        if id(fn) in self._open:  # a function whose closure holds itself
            return _reduced, ("function", *name)
        self._open.add(id(fn))
        try:
            closure = tuple(c.cell_contents for c in fn.__closure__ or ())
        except ValueError:  # an empty cell
            closure = None
        parts = (_code_digest(fn.__code__), fn.__defaults__, fn.__kwdefaults__)
        return _reduced, ("function", *name, *parts, closure)

    def dump(self, obj):
        self._open.clear()
        super().dump(obj)


def _clean_state(state):
    if not isinstance(state, dict):
        return state
    clean = {}
    for key, value in state.items():
        if key in _PROCESS_LOCAL:
            continue
        if isinstance(value, set | frozenset):
            # Set order follows the per-process string hash: sort it.
            try:
                value = ("set", sorted(value))
            except TypeError:
                value = ("set", sorted(value, key=repr))
        clean[key] = value
    return clean


def _code_digest(code):
    h = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    h.update(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, code.co_freevars)).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            h.update(_code_digest(const))
        else:
            h.update(_ADDRESS.sub("", repr(const)).encode())
    return h.digest()


def _pickle_digest(obj):
    h = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    buffers = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    try:
        _Hasher(h, buffers).dump(obj)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as exc:
        raise TypeError(
            f"Cannot fingerprint {type(obj).__name__}: it cannot be pickled "
            f"({exc}). Give it an elang_fingerprint() method that returns a "
            "string naming what it computes."
        ) from exc
    h.update(buffers.digest())
    return h.digest()


def _weights(device):
    """SplitMix64 odd weights, one per word of a chunk, cached per device."""
    weights = _WEIGHTS.get(device)
    if weights is None:
        import torch

        with np.errstate(over="ignore"):
            z = np.arange(1, _CHUNK + 1, dtype=np.uint64)
            z *= np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = (z ^ (z >> np.uint64(31))) | np.uint64(1)
        weights = torch.from_numpy(z.view(np.int64)).to(device)
        _WEIGHTS[device] = weights
    return weights


def _tensor_sums(tensor):
    """Chunk checksums of a tensor's bytes, as an int64 tensor on its device."""
    import torch

    data = tensor.detach()
    if data.layout != torch.strided:
        data = data.coalesce() if data.is_sparse else data.to_dense()
        if data.is_sparse:
            return torch.cat(
                [_tensor_sums(data.indices()), _tensor_sums(data.values())]
            )
    if data.is_quantized:
        data = data.int_repr()
    raw = data.contiguous().reshape(-1).view(torch.uint8)
    n_words = raw.numel() // 8
    words = raw[: n_words * 8]
    try:
        words = words.view(torch.int64)
    except RuntimeError:  # storage offset not a multiple of 8 bytes
        words = words.clone().view(torch.int64)
    weights = _weights(data.device)
    sums = []
    for start in range(0, n_words, _CHUNK):
        chunk = words[start : start + _CHUNK]
        w = weights[: chunk.numel()]
        # CPU has an integer dot product; elsewhere a product and a sum (both
        # wrap modulo 2**64, in any order).
        sums.append(torch.dot(chunk, w) if chunk.is_cpu else (chunk * w).sum())
    tail = raw[n_words * 8 :].to(torch.int64)
    return torch.cat([torch.stack(sums) if sums else tail[:0], tail])


def _tensor_digest(tensor):
    return _tensors_digest([("", tensor)])


def _tensors_digest(named):
    """Digest of named tensors, with one device-to-host copy per device."""
    import torch

    if not named:
        return hashlib.blake2b(b"", digest_size=_DIGEST_SIZE).digest()
    h = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    sums = []
    for name, tensor in named:
        h.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        if tensor.is_meta:
            sums.append(None)
            continue
        sums.append(_tensor_sums(tensor))
    by_device = {}
    for i, s in enumerate(sums):
        if s is not None:
            by_device.setdefault(s.device, []).append(i)
    host = [b"meta"] * len(sums)
    for indices in by_device.values():
        lengths = [sums[i].numel() for i in indices]
        flat = torch.cat([sums[i] for i in indices]).cpu().numpy()
        for i, part in zip(
            indices, np.split(flat, np.cumsum(lengths)[:-1]), strict=True
        ):
            host[i] = part.tobytes()
    for part in host:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()


def _module_digest(module):
    h = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    h.update(f"{type(module).__module__}.{type(module).__qualname__}\0".encode())
    h.update(_ADDRESS.sub("", repr(module)).encode())
    for attribute in ("config", "generation_config"):
        config = getattr(module, attribute, None)
        if callable(getattr(config, "to_dict", None)):
            config = config.to_dict()
            for key in ("_name_or_path", "transformers_version"):
                config.pop(key, None)
            h.update(json.dumps(config, sort_keys=True, default=str).encode())
    named = [
        *(("p." + n, t) for n, t in module.named_parameters()),
        *(("b." + n, t) for n, t in module.named_buffers()),
    ]
    h.update(_tensors_digest(named))
    return h.digest()


def tokenizer_digest(tokenizer):
    """Digest of what a tokenizer turns a text into.

    Parameters
    ----------
    tokenizer : transformers tokenizer

    Returns
    -------
    digest : str

    Examples
    --------
    >>> from elang_sk._fingerprint import tokenizer_digest
    >>> class Tok:  # any object with a vocabulary and special tokens
    ...     special_tokens_map = {"pad_token": "[PAD]"}
    ...     def get_vocab(self):
    ...         return {"[PAD]": 0, "good": 1}
    >>> tokenizer_digest(Tok()) == tokenizer_digest(Tok())
    True
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str())
        # Padding and truncation are per-call settings that transformers stores
        # on the backend; they do not change what a text tokenizes to here.
        state.pop("padding", None)
        state.pop("truncation", None)
        h.update(json.dumps(state, sort_keys=True).encode())
    else:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    settings = {
        "padding_side": getattr(tokenizer, "padding_side", None),
        "truncation_side": getattr(tokenizer, "truncation_side", None),
        "special": {k: str(v) for k, v in tokenizer.special_tokens_map.items()},
    }
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()


def _is_tokenizer(obj):
    transformers = sys.modules.get("transformers")
    base = getattr(transformers, "PreTrainedTokenizerBase", None)
    return base is not None and isinstance(obj, base)


def _tokenizer_digest(tokenizer):
    # What it turns a text into: the digest the model caches key on (class,
    # backend JSON less its per-call padding and truncation, sides, special
    # tokens), plus the tokenizer's own settings.
    h = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    h.update(tokenizer_digest(tokenizer).encode())
    state = {
        k: v
        for k, v in sorted(vars(tokenizer).items())
        if k not in _TOKENIZER_SKIP and not k.endswith("_file")
    }
    kwargs = state.get("init_kwargs")
    if isinstance(kwargs, dict):
        state["init_kwargs"] = {
            k: v
            for k, v in sorted(kwargs.items())
            if k not in _TOKENIZER_SKIP and not k.endswith("_file")
        }
    h.update(_pickle_digest(state))
    return h.digest()


def tensor_digest(tensor):
    """Digest of a tensor's dtype, shape and every byte, computed on its device.

    Parameters
    ----------
    tensor : torch.Tensor
        Any tensor; it stays on its device, only the chunk checksums (8 bytes
        per 2**20 words) are copied to the host.

    Returns
    -------
    digest : bytes
        16 bytes; see the module docstring for the checksum.

    Examples
    --------
    >>> import torch
    >>> from elang_sk._fingerprint import tensor_digest
    >>> t = torch.zeros(4)
    >>> before = tensor_digest(t)
    >>> t.data[0] = 1.0  # a .data write: tensor._version does not change
    >>> tensor_digest(t) == before
    False
    """
    return _tensor_digest(tensor)
