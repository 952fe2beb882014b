"""A reproducible English-Romanian Swift/Super translation pair, trained here.

No pretrained translation model is reachable offline, so :func:`fetch_en_ro_pair`
trains one, once, and keeps it in the data home: a BPE tokenizer trained on the
training split of :func:`~elang_sk.datasets.fetch_en_ro`, then two Marian-style
encoder-decoders (sinusoidal positions, shared and tied embeddings) from their
configs, a small **Swift** and a larger **Super** (``CONFIGS``)::

    <data home>/en_ro_pair_libreoffice/   (en_ro_pair: the machine's catalogs only)
        tokenizer/                the tokenizer (transformers folder)
        splits.json               the deduplicated train/dev/test pairs
        swift/epoch-0003/         model, optimizer, scheduler, RNG, state.json
        swift/best/               the model with the best dev chrF so far
        super/...
        log.jsonl                 one line per epoch: model, epoch, loss,
                                  dev BLEU/chrF, seconds

Checkpoints are written to a temporary folder and renamed, so an interrupted
run leaves either the previous checkpoint or the new one, never half of one.
Every checkpoint carries the SHA-256 of its files in ``state.json``; one that
does not verify (truncated, edited, partially copied) is moved aside to
``*.corrupt-<time>`` and training resumes from the newest checkpoint that
verifies (or from scratch). Asking for more epochs continues where it stopped.

**Splits.** ``fetch_en_ro`` already keeps each English string once, so no
exact source string is in two splits. The dev and test pairs whose
*normalised* source (case folded, punctuation and whitespace removed) occurs
in the training split (and test pairs whose normalised source is in dev) are
dropped as well, so that "File" in train and "file:" in test do not count as
generalisation.

torch, transformers, tokenizers and sacrebleu are imported when a function
needs them.
"""

import datetime
import json
import os
import re
import shutil
import time
import unicodedata
from numbers import Real

import numpy as np
from sklearn.utils._param_validation import validate_params

from elang_sk.datasets._archives import _sha256

PAIR_DIR = "en_ro_pair"
# The pair trained on the machine's catalogs plus LibreOffice's.
PAIR_DIRS = {False: PAIR_DIR, True: PAIR_DIR + "_libreoffice"}
SPECIALS = ["<pad>", "</s>", "<unk>"]
PAD, EOS, UNK = 0, 1, 2
MAX_TOKENS = 64

# Marian-style transformers from their configs. The Swift spends >= 4x fewer
# FLOPs per sentence than the Super (narrower, shallower, same vocabulary).
CONFIGS = {
    "swift": {
        "d_model": 96,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "encoder_attention_heads": 4,
        "decoder_attention_heads": 4,
        "encoder_ffn_dim": 384,
        "decoder_ffn_dim": 384,
        "dropout": 0.1,
    },
    "super": {
        "d_model": 256,
        "encoder_layers": 3,
        "decoder_layers": 3,
        "encoder_attention_heads": 4,
        "decoder_attention_heads": 4,
        "encoder_ffn_dim": 1024,
        "decoder_ffn_dim": 1024,
        "dropout": 0.1,
    },
}
TRAINING = {
    "swift": {"lr": 2e-3, "epochs": 10, "warmup": 200, "batch_tokens": 1200},
    "super": {"lr": 1e-3, "epochs": 19, "warmup": 200, "batch_tokens": 1200},
}
# Measured seconds per training pair and epoch (training and the dev check)
# on one thread of the 2-core AMD EPYC VM this project is built on: the
# a-priori estimate printed before training starts.
REFERENCE_SECONDS = {"swift": 2.6e-3, "super": 1.05e-2}
TINY = {
    "d_model": 16,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 32,
    "decoder_ffn_dim": 32,
    "dropout": 0.0,
}

_NORMALISE = re.compile(r"[\W_]+")


def normalise_source(text):
    """The deduplication key of a source string: case folded, letters only.

    Examples
    --------
    >>> normalise_source("  Save File: ")
    'save file'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NORMALISE.sub(" ", text).split())


def dedup_splits(splits):
    """Drop dev/test pairs whose normalised source is in an earlier split.

    Parameters
    ----------
    splits : dict
        ``{"train": (X, Y), "dev": (X, Y), "test": (X, Y)}``.

    Returns
    -------
    splits : dict
        The same keys; dev holds no normalised training source, test no
        normalised training or dev source.

    Examples
    --------
    >>> s = dedup_splits({"train": (["Open"], ["Deschide"]),
    ...                   "dev": (["open:", "Close"], ["deschide", "Închide"]),
    ...                   "test": (["close", "Quit"], ["închide", "Ieșire"])})
    >>> s["dev"][0], s["test"][0]
    (['Close'], ['Quit'])
    """
    seen = set()
    out = {}
    for name in ("train", "dev", "test"):
        X, Y = splits[name]
        keys = [normalise_source(x) for x in X]
        keep = [i for i, k in enumerate(keys) if name == "train" or k not in seen]
        out[name] = ([X[i] for i in keep], [Y[i] for i in keep])
        seen.update(keys[i] for i in keep)
    return out


def _atomic_write_json(path, obj):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_splits(
    root, locale_dir=None, max_train=None, libreoffice=False, data_home=None
):
    """The deduplicated splits, cached in ``root/splits.json``."""
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "splits.json")
    if os.path.exists(path) and max_train is None:
        try:
            with open(path, encoding="utf-8") as f:
                cached = json.load(f)
            return {k: (v[0], v[1]) for k, v in cached.items()}
        except (ValueError, KeyError, IndexError, TypeError):
            os.remove(path)  # corrupted cache: rebuilt below
    from elang_sk.datasets import fetch_en_ro

    splits = {}
    for name in ("train", "dev", "test"):
        b = fetch_en_ro(
            subset=name,
            locale_dir=locale_dir,
            libreoffice=libreoffice,
            data_home=data_home,
        )
        splits[name] = (b.data, b.target)
    splits = dedup_splits(splits)
    if max_train is not None:
        splits["train"] = tuple(s[:max_train] for s in splits["train"])
    else:
        _atomic_write_json(path, {k: list(v) for k, v in splits.items()})
    return splits


def train_tokenizer(texts, vocab_size):
    """A BPE tokenizer trained on `texts`; ``</s>`` is appended to every input.

    Parameters
    ----------
    texts : list of str
        Training texts (both languages for a shared vocabulary).
    vocab_size : int
        Target vocabulary size, special tokens included.

    Returns
    -------
    tokenizer : transformers.PreTrainedTokenizerFast
        Pad id 0, end-of-sequence id 1, unknown id 2. Characters not seen in
        training become ``<unk>``.

    Examples
    --------
    >>> tok = train_tokenizer(["a b c", "b c d"] * 5, 40)
    >>> tok("b c")["input_ids"][-1] == tok.eos_token_id
    True
    """
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.trainers import BpeTrainer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    trainer = BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=2
    )
    backend.train_from_iterator(texts, trainer)
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", EOS)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=MAX_TOKENS,
    )


def _load_or_train_tokenizer(root, X, Y, vocab_size):
    from transformers import PreTrainedTokenizerFast

    path = os.path.join(root, "tokenizer")
    if os.path.isdir(path):
        try:
            tok = PreTrainedTokenizerFast.from_pretrained(path)
            if tok.pad_token_id == PAD and tok.eos_token_id == EOS:
                return tok
        except Exception:  # any unreadable folder is rebuilt
            pass
        shutil.rmtree(path)
    tok = train_tokenizer(list(X) + list(Y), vocab_size)
    tmp = f"{path}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tok.save_pretrained(tmp)
    os.replace(tmp, path)
    return tok


def make_model(config, vocab_size, seed):
    """A Marian-style encoder-decoder from `config`, randomly initialised.

    Examples
    --------
    >>> model = make_model(TINY, 50, 0)
    >>> model.config.is_encoder_decoder
    True
    """
    import torch
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(seed)
    cfg = MarianConfig(
        vocab_size=vocab_size,
        decoder_vocab_size=vocab_size,
        pad_token_id=PAD,
        eos_token_id=EOS,
        decoder_start_token_id=PAD,
        forced_eos_token_id=EOS,
        max_position_embeddings=MAX_TOKENS + 8,
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        attention_dropout=0.0,
        activation_dropout=0.0,
        activation_function="gelu",
        **config,
    )
    model = MarianMTModel(cfg)
    model.generation_config.max_new_tokens = MAX_TOKENS
    model.generation_config.num_beams = 1
    model.generation_config.bad_words_ids = None
    return model


def _quiet(save):
    """``save`` without transformers' "Writing model shards" bar."""

    def quiet_save(*args, **kwargs):
        from elang_sk.hf._loading import quiet_loading

        with quiet_loading():
            return save(*args, **kwargs)

    return quiet_save


def _checkpoints(model_dir):
    """Epoch checkpoints in `model_dir`, newest first."""
    if not os.path.isdir(model_dir):
        return []
    names = [n for n in os.listdir(model_dir) if re.fullmatch(r"epoch-\d{4}", n)]
    return sorted(names, reverse=True)


def verify_checkpoint(path):
    """The checkpoint's ``state.json`` if every file matches its SHA-256, else None.

    Examples
    --------
    >>> verify_checkpoint("/nonexistent") is None
    True
    """
    try:
        with open(os.path.join(path, "state.json"), encoding="utf-8") as f:
            state = json.load(f)
        files = state["files"]
        if not files:
            return None
        for name, digest in files.items():
            if _sha256(os.path.join(path, name)) != digest:
                return None
        return state
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _quarantine(path):
    stamp = time.strftime("%Y%m%dT%H%M%S")
    os.replace(path, f"{path}.corrupt-{stamp}-{os.getpid()}")


def _save_folder(target, write, state):
    """Write a folder with ``write(tmp)``, hash it into state.json, rename."""
    parent = os.path.dirname(target)
    tmp = os.path.join(parent, f".tmp-{os.path.basename(target)}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    write(tmp)
    state = dict(state)
    state["files"] = {n: _sha256(os.path.join(tmp, n)) for n in sorted(os.listdir(tmp))}
    _atomic_write_json(os.path.join(tmp, "state.json"), state)
    old = None
    if os.path.exists(target):
        old = f"{target}.old-{os.getpid()}"
        os.replace(target, old)
    os.replace(tmp, target)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def _batches(src, tgt, batch_tokens, rng):
    """Length-bucketed batches of about `batch_tokens` source+target tokens."""
    lengths = np.array([len(s) + len(t) for s, t in zip(src, tgt, strict=True)])
    order = np.argsort(lengths + rng.random(len(lengths)), kind="stable")
    batches, current, longest = [], [], 0
    for i in order:
        longest = max(longest, lengths[i])
        if current and longest * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest = [], lengths[i]
        current.append(i)
    if current:
        batches.append(current)
    return [batches[k] for k in rng.permutation(len(batches))]


def _pad(seqs, value):
    import torch

    length = max(len(s) for s in seqs)
    out = np.full((len(seqs), length), value, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return torch.from_numpy(out)


def translate(model, tokenizer, texts, *, batch_size=64, max_new_tokens=MAX_TOKENS):
    """Greedy translations of `texts`, detokenized.

    Examples
    --------
    >>> tok = train_tokenizer(["a b", "b a"] * 5, 30)
    >>> len(translate(make_model(TINY, len(tok), 0), tok, ["a", " "]))
    2
    """
    import torch

    device = next(model.parameters()).device
    model.eval()
    order = np.argsort([len(t) for t in texts])
    out = [""] * len(texts)
    with torch.no_grad():
        for k in range(0, len(texts), batch_size):
            rows = order[k : k + batch_size]
            enc = tokenizer(
                [texts[i] for i in rows],
                truncation=True,
                max_length=MAX_TOKENS,
                padding=True,
                return_tensors="pt",
            ).to(device)
            gen = model.generate(
                **enc, max_new_tokens=max_new_tokens, num_beams=1, do_sample=False
            )
            for i, text in zip(
                rows, tokenizer.batch_decode(gen, skip_special_tokens=True), strict=True
            ):
                out[i] = text.strip()
    return out


def evaluate(model, tokenizer, X, Y):
    """Corpus BLEU and chrF (sacrebleu, detokenized) of greedy translations."""
    import sacrebleu

    hyp = translate(model, tokenizer, X)
    return {
        "bleu": sacrebleu.corpus_bleu(hyp, [Y]).score,
        "chrf": sacrebleu.corpus_chrf(hyp, [Y]).score,
    }


def train_model(
    root,
    name,
    config,
    tokenizer,
    splits,
    *,
    epochs,
    lr,
    warmup=400,
    batch_tokens=2048,
    label_smoothing=0.1,
    seed=0,
    n_dev_eval=400,
    deadline=None,
    device=None,
    log=print,
    progress=None,
):
    """Train (or resume) one model for `epochs` epochs, checkpointing each epoch.

    Parameters
    ----------
    root : str
        The pair folder; the model's checkpoints go to ``root/name/``.
    name : str
        ``"swift"``, ``"super"`` or any folder name.
    config : dict
        Marian config keywords (:func:`make_model`).
    tokenizer : transformers.PreTrainedTokenizerFast
        From :func:`train_tokenizer`.
    splits : dict
        ``{"train": (X, Y), "dev": (X, Y), ...}``.
    epochs : int
        Total epochs; a resumed run trains only the missing ones.
    lr : float
        Peak AdamW learning rate (linear warm-up over `warmup` steps, then
        inverse square root decay).
    deadline : float or None
        Unix time; no epoch is started that is expected to end after it.
    device : str or None
        Where to train; None means CUDA when available, else the CPU.
    log : callable
        Called with one message per event (resumed, epoch done with its dev
        scores and the time left, deadline).
    progress : callable or None
        ``progress(done, total)`` in training pairs over the epochs still to
        train (``done=0`` first).

    Returns
    -------
    model : transformers.MarianMTModel
        The best model by dev chrF (``root/name/best``).

    Examples
    --------
    >>> import tempfile
    >>> tok = train_tokenizer(["a b", "b a"] * 5, 30)
    >>> s = {"train": (["a b"] * 4, ["b a"] * 4), "dev": (["a"], ["b"])}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     m = train_model(d, "m", TINY, tok, s, epochs=1, lr=1e-3,
    ...                     log=lambda *a: None)
    >>> m.config.d_model
    16
    """
    import torch
    from transformers import MarianMTModel

    from elang_sk.hf._loading import quiet_loading

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model_dir = os.path.join(root, name)
    os.makedirs(model_dir, exist_ok=True)
    model = make_model(config, len(tokenizer), seed).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01
    )

    def schedule(step):
        step += 1
        return min(step / warmup, (warmup / step) ** 0.5)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    rng = np.random.default_rng(seed)
    start_epoch, best = 0, -1.0
    for ckpt in _checkpoints(model_dir):
        path = os.path.join(model_dir, ckpt)
        state = verify_checkpoint(path)
        if state is None:
            log(f"{name}: checkpoint {path} is corrupted or partial; moved aside")
            _quarantine(path)
            continue
        try:
            with quiet_loading():
                loaded = MarianMTModel.from_pretrained(path).to(device)
            model.load_state_dict(loaded.state_dict())
            extra = torch.load(
                os.path.join(path, "training.pt"),
                map_location=device,
                weights_only=False,
            )
            optimizer.load_state_dict(extra["optimizer"])
            scheduler.load_state_dict(extra["scheduler"])
            rng.bit_generator.state = extra["rng"]
            torch.set_rng_state(extra["torch_rng"])
        except Exception as exc:  # unreadable despite the hashes
            log(f"{name}: checkpoint {path} cannot be loaded ({exc}); moved aside")
            _quarantine(path)
            model = make_model(config, len(tokenizer), seed).to(device)
            continue
        start_epoch, best = state["epoch"], state.get("best_chrf", -1.0)
        log(f"{name}: resumed from {path} (epoch {start_epoch})")
        break
    best_dir = os.path.join(model_dir, "best")
    if start_epoch == 0 or verify_checkpoint(best_dir) is None:
        best = -1.0 if start_epoch == 0 else best
    X, Y = splits["train"]
    src = tokenizer(list(X), truncation=True, max_length=MAX_TOKENS)["input_ids"]
    tgt = tokenizer(text_target=list(Y), truncation=True, max_length=MAX_TOKENS)[
        "input_ids"
    ]
    X_dev, Y_dev = splits["dev"]
    X_dev, Y_dev = list(X_dev[:n_dev_eval]), list(Y_dev[:n_dev_eval])
    loss_fn = torch.nn.CrossEntropyLoss(
        ignore_index=-100, label_smoothing=label_smoothing
    )
    n_params = sum(p.numel() for p in model.parameters())
    last_seconds = None
    total = max(epochs - start_epoch, 0) * len(src)
    done = 0
    if progress is not None and total:
        progress(0, total)
    for epoch in range(start_epoch, epochs):
        if deadline is not None and last_seconds is not None:
            if time.time() + last_seconds > deadline:
                log(f"{name}: stopping before epoch {epoch + 1}: deadline")
                break
        t0 = time.perf_counter()
        model.train()
        losses, weights = [], []
        for rows in _batches(src, tgt, batch_tokens, rng):
            ids = _pad([src[i] for i in rows], PAD).to(device)
            labels = _pad([tgt[i] for i in rows], -100).to(device)
            decoder_in = torch.full_like(labels, PAD)
            decoder_in[:, 1:] = labels[:, :-1].clamp(min=0)
            logits = model(
                input_ids=ids,
                attention_mask=(ids != PAD).long(),
                decoder_input_ids=decoder_in,
            ).logits
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            weights.append(int((labels != -100).sum()))
            done += len(rows)
            if progress is not None:
                progress(done, total)
        train_seconds = time.perf_counter() - t0
        scores = evaluate(model, tokenizer, X_dev, Y_dev) if X_dev else {}
        seconds = time.perf_counter() - t0
        last_seconds = seconds
        chrf = scores.get("chrf", 0.0)
        record = {
            "model": name,
            "epoch": epoch + 1,
            "loss": float(np.average(losses, weights=weights)),
            "dev_bleu": scores.get("bleu"),
            "dev_chrf": scores.get("chrf"),
            "n_dev": len(X_dev),
            "seconds": seconds,
            "train_seconds": train_seconds,
            "lr": scheduler.get_last_lr()[0],
            "n_params": n_params,
            "device": str(device),
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        with open(os.path.join(root, "log.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        left = (epochs - epoch - 1) * seconds
        log(
            f"{name}: epoch {epoch + 1}/{epochs} in {seconds:.0f} s, loss "
            f"{record['loss']:.3f}, dev BLEU {scores.get('bleu', float('nan')):.1f} "
            f"chrF {chrf:.1f}" + (f"; about {left / 60:.0f} min left" if left else "")
        )
        if chrf > best:
            best = chrf
            _save_folder(
                best_dir,
                _quiet(model.save_pretrained),
                {"epoch": epoch + 1, "dev_chrf": chrf, "config": config},
            )

        def write(tmp):
            _quiet(model.save_pretrained)(tmp)
            torch.save(
                {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                },
                os.path.join(tmp, "training.pt"),
            )

        _save_folder(
            os.path.join(model_dir, f"epoch-{epoch + 1:04d}"),
            write,
            {"epoch": epoch + 1, "best_chrf": best, "config": config},
        )
        for old in _checkpoints(model_dir)[2:]:  # keep the two newest
            shutil.rmtree(os.path.join(model_dir, old), ignore_errors=True)
    if verify_checkpoint(best_dir) is None:
        return model.eval()
    with quiet_loading():
        return MarianMTModel.from_pretrained(best_dir).to(device).eval()


def _pair_root(data_home, libreoffice):
    from elang_sk.datasets._base import get_data_home

    return os.path.join(get_data_home(data_home), PAIR_DIRS[bool(libreoffice)])


def trained_epochs(root, name):
    """Epochs of the newest verified checkpoint of model `name` (0 if none).

    Examples
    --------
    >>> trained_epochs("/nonexistent", "swift")
    0
    """
    for ckpt in _checkpoints(os.path.join(root, name)):
        state = verify_checkpoint(os.path.join(root, name, ckpt))
        if state is not None:
            return int(state["epoch"])
    return 0


def load_pair(data_home=None, libreoffice=False):
    """The trained pair: ``(swift, super, tokenizer, splits)``, best by dev chrF.

    Raises
    ------
    OSError
        If the pair has not been trained (:func:`fetch_en_ro_pair` trains it).
    """
    from transformers import MarianMTModel, PreTrainedTokenizerFast

    from elang_sk.hf._loading import quiet_loading

    root = _pair_root(data_home, libreoffice)
    models = []
    for name in ("swift", "super"):
        path = os.path.join(root, name, "best")
        if verify_checkpoint(path) is None:
            raise OSError(
                f"No verified {name} checkpoint in {path}: the pair is not "
                "trained. Train it with elang_sk.datasets.fetch_en_ro_pair() or "
                "`elang-sk run --task translation` (about 75 min on one CPU "
                "thread, minutes on a GPU)."
            )
        with quiet_loading():
            models.append(MarianMTModel.from_pretrained(path).eval())
    with quiet_loading():
        tok = PreTrainedTokenizerFast.from_pretrained(os.path.join(root, "tokenizer"))
    return models[0], models[1], tok, load_splits(root, libreoffice=libreoffice)


def estimate_seconds(n_train, training=None, done=None):
    """A-priori seconds to train the pair on one CPU thread of the reference VM.

    Parameters
    ----------
    n_train : int
        Training pairs.
    training : dict or None
        Per model ``{"epochs": ...}``; None uses ``TRAINING``.
    done : dict or None
        Per model, epochs already trained.

    Returns
    -------
    seconds : float

    Examples
    --------
    >>> round(estimate_seconds(1000, {"swift": {"epochs": 10}}))
    26
    """
    training = TRAINING if training is None else training
    done = done or {}
    return float(
        sum(
            max(spec["epochs"] - done.get(name, 0), 0)
            * n_train
            * REFERENCE_SECONDS.get(name, REFERENCE_SECONDS["super"])
            for name, spec in training.items()
        )
    )


def train_pair(
    data_home=None,
    *,
    configs=None,
    training=None,
    vocab_size=6000,
    splits=None,
    deadline=None,
    models=("swift", "super"),
    seed=0,
    log=print,
    libreoffice=False,
    device=None,
    progress=None,
):
    """Train (or resume) the tokenizer, Swift and Super of the pair folder.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data home (:func:`elang_sk.datasets.get_data_home`).
    configs, training : dict or None
        Per model: Marian config keywords and ``{"lr", "epochs", ...}``
        (keywords of :func:`train_model`); None uses ``CONFIGS`` and
        ``TRAINING``.
    splits : dict or None
        ``{"train": (X, Y), "dev": (X, Y)}``; None loads the deduplicated
        :func:`elang_sk.datasets.fetch_en_ro` splits.
    progress : callable or None
        ``progress(name)`` returns the ``progress(done, total)`` callback of
        model `name` (:func:`train_model`).

    Returns
    -------
    root : str
        The pair folder.

    Examples
    --------
    >>> import tempfile
    >>> s = {"train": (["a b", "b"] * 4, ["b a", "a"] * 4), "dev": (["a"], ["b"])}
    >>> cfg = {"m": TINY}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     root = train_pair(d, configs=cfg, training={"m": {"lr": 1e-3, "epochs": 1}},
    ...                       vocab_size=30, splits=s, models=("m",),
    ...                       log=lambda *a: None)
    ...     sorted(os.listdir(root))
    ['log.jsonl', 'm', 'tokenizer']
    """
    configs = CONFIGS if configs is None else configs
    training = TRAINING if training is None else training
    root = _pair_root(data_home, libreoffice)
    os.makedirs(root, exist_ok=True)
    if splits is None:
        splits = load_splits(root, libreoffice=libreoffice, data_home=data_home)
    X, Y = splits["train"]
    tokenizer = _load_or_train_tokenizer(root, X, Y, vocab_size)
    for name in models:
        train_model(
            root,
            name,
            configs[name],
            tokenizer,
            splits,
            seed=seed,
            deadline=deadline,
            device=device,
            log=log,
            progress=None if progress is None else progress(name),
            **training[name],
        )
    return root


def _read_log(root):
    rows = []
    try:
        with open(os.path.join(root, "log.jsonl"), encoding="utf-8") as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:  # a line cut by a kill: skipped
                    continue
    except OSError:
        pass
    return rows


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "libreoffice": ["boolean"],
        "train_if_missing": ["boolean"],
        "device": [str, None],
        "deadline": [Real, None],
        "log": [callable, None],
        "progress": [callable, None],
    },
    prefer_skip_nested_validation=True,
)
def fetch_en_ro_pair(
    *,
    data_home=None,
    libreoffice=True,
    train_if_missing=True,
    device=None,
    deadline=None,
    log=None,
    progress=None,
):
    """Load the English-Romanian Swift/Super translation pair, training it once.

    A Marian-style **Super** (7.1M parameters, about 150M FLOPs per
    sentence) and **Swift** (1.1M parameters, about 6x fewer FLOPs), both
    trained from scratch with a BPE tokenizer (6,000 tokens) on the training
    split of :func:`fetch_en_ro` (software messages; with `libreoffice`, the
    machine's gettext catalogs and LibreOffice's), deduplicated against dev
    and test. The first call trains them (CUDA when available; on a CPU
    about 75 min on one thread) and keeps tokenizer, checkpoints, splits and
    the training log in the data home; later calls load them in seconds.
    Training resumes after an interruption; a corrupted or partial
    checkpoint is moved aside and rebuilt, never loaded.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data home (:func:`get_data_home`).
    libreoffice : bool, default=True
        Train on the machine's catalogs plus LibreOffice's
        (``<data home>/en_ro_pair_libreoffice``); False: the machine's only
        (``<data home>/en_ro_pair``). The two pairs have different splits.
    train_if_missing : bool, default=True
        Train (or finish training) a pair that is missing or has fewer
        epochs than ``TRAINING`` asks for. If False, a missing pair raises an
        OSError and a partly trained one is loaded as it is
        (``complete=False``).
    device : str or None, default=None
        Where to train: None means CUDA when available, else the CPU.
    deadline : float or None, default=None
        Unix time; no epoch is started that is expected to end after it.
    log : callable or None, default=None
        Called with one message per event (the time estimate, each epoch's
        dev scores and time left). None prints nothing.
    progress : callable or None, default=None
        ``progress(model_name)`` returns a ``progress(done, total)``
        callback, counting training pairs, for that model's training.

    Returns
    -------
    pair : :class:`~sklearn.utils.Bunch`
        ``swift``, ``super`` (``transformers.MarianMTModel``, best dev chrF,
        in eval mode, on the CPU), ``tokenizer`` (shared by both),
        ``splits`` (``{"train": (X, Y), "dev": (X, Y), "test": (X, Y)}``),
        ``epochs`` (epochs trained per model), ``complete`` (both trained
        for the epochs of ``TRAINING``), ``log`` (one dict per epoch) and
        ``root`` (the folder).

    Raises
    ------
    OSError
        If the pair is not trained and `train_if_missing` is False, or the
        corpus cannot be read (see :func:`fetch_en_ro`).

    Examples
    --------
    >>> from elang_sk.datasets import fetch_en_ro_pair
    >>> pair = fetch_en_ro_pair()  # doctest: +SKIP
    >>> pair.tokenizer.batch_decode(  # doctest: +SKIP
    ...     pair.super.generate(**pair.tokenizer(["Open file"], return_tensors="pt")),
    ...     skip_special_tokens=True)
    ['Deschide fișierul']
    >>> import tempfile
    >>> try:
    ...     fetch_en_ro_pair(data_home=tempfile.mkdtemp(), train_if_missing=False)
    ... except OSError as exc:
    ...     print(str(exc)[:30])
    No verified swift checkpoint i
    """
    from sklearn.utils import Bunch

    root = _pair_root(data_home, libreoffice)
    say = log or (lambda *a: None)
    done = {name: trained_epochs(root, name) for name in TRAINING}
    missing = {n: e for n, e in done.items() if e < TRAINING[n]["epochs"]}
    if missing and train_if_missing:
        splits = load_splits(root, libreoffice=libreoffice, data_home=data_home)
        n_train = len(splits["train"][0])
        minutes = estimate_seconds(n_train, done=done) / 60
        state = ", ".join(
            f"{n} epochs {e}/{TRAINING[n]['epochs']}" for n, e in done.items()
        )
        say(
            f"training the English-Romanian pair in {root} on {n_train} pairs "
            f"({state}): about {minutes:.0f} min on one CPU thread of a 2-core "
            "AMD EPYC VM, much less on a GPU"
        )
        train_pair(
            data_home,
            splits=splits,
            deadline=deadline,
            log=say,
            libreoffice=libreoffice,
            device=device,
            progress=progress,
        )
        done = {name: trained_epochs(root, name) for name in TRAINING}
    swift, super_, tokenizer, splits = load_pair(data_home, libreoffice)
    return Bunch(
        swift=swift,
        super=super_,
        tokenizer=tokenizer,
        splits=splits,
        epochs=done,
        complete=all(done[n] >= TRAINING[n]["epochs"] for n in TRAINING),
        log=_read_log(root),
        root=root,
    )
