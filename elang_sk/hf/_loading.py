"""Loading a transformers model and deciding how it classifies.

What :class:`~elang_sk.TransformerClassifier` decides in ``fit`` before any
forward pass: which model and tokenizer to load (hub id, folder or object),
which task the model serves (``"encoder"``, ``"sequence-classification"`` or
``"seq2seq"``), how classes map to the model's outputs (columns or label
words), and how many tokens an input may have. torch and transformers are
imported at module level: import this module lazily.
"""

import contextlib
import copy
import os
from numbers import Integral

import numpy as np
import torch
import transformers

TASKS = ("sequence-classification", "encoder", "seq2seq")

_AUTO_CLASSES = {
    "sequence-classification": transformers.AutoModelForSequenceClassification,
    "encoder": transformers.AutoModel,
    "seq2seq": transformers.AutoModelForSeq2SeqLM,
}


def load_model(
    model,
    tokenizer,
    *,
    task,
    fine_tune,
    classes,
    label_words,
    trust_remote_code=False,
):
    """Load (or take) the model and the tokenizer, and resolve the task.

    A hub id or a folder is loaded by :func:`load_pretrained`, safely by
    default: weights from ``*.safetensors`` files only
    (``use_safetensors=True``: pickled ``.bin`` weights can run code when
    loaded) and without the Python code a hub repository may ship
    (``trust_remote_code=False``).

    Parameters
    ----------
    model : str, path-like or transformers.PreTrainedModel
        A hub id, a local folder or a loaded model. A loaded model is used in
        place, except with ``fine_tune=True``: then it is deep-copied.
    tokenizer : str, path-like, tokenizer or None
        ``None`` loads the tokenizer from ``model`` (an id or a path).
    task : {"auto", "sequence-classification", "encoder", "seq2seq"}
        The requested task.
    fine_tune : bool
        Whether the weights will be trained.
    classes : ndarray of shape (n_classes,)
        The classes of ``y``; a classification model loaded for fine-tuning on
        classes its head does not know gets a fresh head for them.
    label_words : dict or None
        ``{class: name}``, as :func:`sequence_columns` reads it.
    trust_remote_code : bool, default=False
        Passed to every ``from_pretrained``: True runs the model's own Python
        code from the hub or the folder. Only for sources you trust.

    Returns
    -------
    model : transformers.PreTrainedModel
    tokenizer : transformers tokenizer
    task : str
        The resolved task, one of :data:`TASKS`.
    """
    if isinstance(model, transformers.PreTrainedModel):
        task = resolve_task(task, model.config, type(model).__name__)
        # Training changes weights in place: never on the caller's object.
        model = copy.deepcopy(model) if fine_tune else model
    elif not isinstance(model, str | os.PathLike):
        raise TypeError(
            "model must be a hub id, a local folder or a transformers "
            f"PreTrainedModel; got {type(model).__name__}."
        )

    def task_class(config):
        nonlocal task
        task = resolve_task(task, config, type_name=None)
        kwargs = {"dtype": torch.float32}
        if task == "sequence-classification" and fine_tune:
            kwargs.update(_head_for(config, classes, label_words))
        return _AUTO_CLASSES[task], kwargs

    model, tokenizer = load_pretrained(
        model, tokenizer, task_class, trust_remote_code=trust_remote_code
    )
    return model, tokenizer, task


def _head_for(config, classes, label_words):
    """``from_pretrained`` arguments of a fresh head when ``classes`` are new."""
    try:
        sequence_columns(config, classes, label_words)
    except ValueError:
        # Fine-tuning on new classes: start from a fresh head.
        names = [str(c) for c in classes]
        return dict(
            num_labels=len(names),
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
            ignore_mismatched_sizes=True,
        )
    return {}


def load_pretrained(
    model,
    tokenizer,
    model_class,
    *,
    name="model",
    trust_remote_code=False,
    local_files_only=False,
):
    """The ``(model, tokenizer)`` objects that ``model`` and ``tokenizer`` name.

    The one loader of the package's transformers models. A hub id or folder
    is loaded safely: weights from ``*.safetensors`` files only
    (``use_safetensors=True``: pickled ``.bin`` weights can run code when
    loaded, and a folder with nothing else is refused, saying how to convert
    it) and, unless ``trust_remote_code=True``, without the Python code a hub
    repository may ship. A loaded model is returned as given.

    Parameters
    ----------
    model : str, path-like or transformers.PreTrainedModel
        A hub id, a local folder or a loaded model.
    tokenizer : str, path-like, tokenizer or None
        ``None`` loads the tokenizer from ``model`` when it is an id or a
        path, and is an error when it is a loaded model.
    model_class : callable
        ``model_class(config)`` -> ``(auto_class, kwargs)``: the transformers
        auto class that loads a named model and the other arguments of its
        ``from_pretrained``, chosen from (and checked against) its config.
    name : str, default="model"
        The parameter that gave ``model``, for the error messages.
    trust_remote_code : bool, default=False
        Passed to every ``from_pretrained``: True runs the model's own Python
        code from the hub or the folder. Only for sources you trust.
    local_files_only : bool, default=False
        Passed to every ``from_pretrained``: True never reaches the hub.

    Returns
    -------
    model : transformers.PreTrainedModel
    tokenizer : transformers tokenizer

    Raises
    ------
    ValueError
        If ``model`` is a folder with pickled weights only, or a loaded model
        without a tokenizer.
    """
    options = dict(
        trust_remote_code=bool(trust_remote_code),
        local_files_only=bool(local_files_only),
    )
    if isinstance(model, str | os.PathLike):
        check_safetensors_folder(model)
        with quiet_loading():
            config = transformers.AutoConfig.from_pretrained(model, **options)
            auto_class, kwargs = model_class(config)
            tokenizer = model if tokenizer is None else tokenizer
            model = auto_class.from_pretrained(
                model, use_safetensors=True, **options, **kwargs
            )
    if tokenizer is None:
        raise ValueError(
            f"tokenizer must be given when {name} is a loaded model object; "
            "pass the tokenizer object, or its hub id or folder."
        )
    if isinstance(tokenizer, str | os.PathLike):
        with quiet_loading():
            tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer, **options)
    return model, tokenizer


@contextlib.contextmanager
def quiet_loading():
    """Hide transformers' own progress bars ("Loading weights") while loading.

    A library call that loads a model should not draw bars of its own; the
    state of transformers' bars is restored afterwards, exactly as it was
    (on an error too). The download bars of ``huggingface_hub``, which
    ``disable_progress_bar`` turns off as well, stay as they were: a long
    download still shows.

    Examples
    --------
    >>> from transformers.utils import logging
    >>> from elang_sk.hf._loading import quiet_loading
    >>> before = logging.is_progress_bar_enabled()
    >>> with quiet_loading():
    ...     logging.is_progress_bar_enabled()
    False
    >>> logging.is_progress_bar_enabled() == before
    True
    """
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    hub_enabled = not hub_utils.are_progress_bars_disabled()
    logging.disable_progress_bar()
    if hub_enabled:
        hub_utils.enable_progress_bars()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()
        if hub_enabled:
            hub_utils.enable_progress_bars()
        else:
            hub_utils.disable_progress_bars()


def check_safetensors_folder(model):
    """Refuse a local model folder whose weights are pickled only, saying why.

    Weights are loaded from ``*.safetensors`` files only; a folder with
    ``pytorch_model.bin`` (or other ``.bin``/``.pt``/``.pth`` weights) and no
    safetensors file would otherwise fail with transformers' "no file named
    model.safetensors". Hub ids and folders without weights are left to
    ``from_pretrained``.

    Parameters
    ----------
    model : str or path-like
        A hub id or a local folder.

    Raises
    ------
    ValueError
        If ``model`` is a folder with pickled weights and no safetensors.

    Examples
    --------
    >>> import tempfile
    >>> from elang_sk.hf._loading import check_safetensors_folder
    >>> check_safetensors_folder(tempfile.mkdtemp())  # no weights: left as is
    """
    if not os.path.isdir(model):
        return
    names = os.listdir(model)
    pickled = sorted(n for n in names if n.endswith((".bin", ".pt", ".pth")))
    if pickled and not any(n.endswith(".safetensors") for n in names):
        raise ValueError(
            f"{os.fspath(model)!r} holds pickled weights only ({', '.join(pickled)})"
            ": they can run code when loaded, so only *.safetensors weights are "
            "read. Convert the folder once, where you trust it: "
            "AutoModel.from_pretrained(folder, use_safetensors=False)"
            ".save_pretrained(folder) (the default writes model.safetensors)."
        )


def resolve_task(task, config, type_name):
    """The task a model serves: ``task``, or the one ``"auto"`` picks.

    Parameters
    ----------
    task : {"auto", "sequence-classification", "encoder", "seq2seq"}
        The requested task.
    config : transformers.PretrainedConfig
        The model's config.
    type_name : str or None
        Class name of a loaded model; ``None`` reads ``config.architectures``.

    Returns
    -------
    task : str
    """
    is_seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    names = [type_name] if type_name else list(config.architectures or [])
    has_head = any(n.endswith("ForSequenceClassification") for n in names)
    if task == "auto":
        if is_seq2seq:
            return "seq2seq"
        return "sequence-classification" if has_head else "encoder"
    if task == "seq2seq" and not is_seq2seq:
        raise ValueError(
            "task='seq2seq' needs an encoder-decoder model (config."
            f"is_encoder_decoder=True); got {names or config.model_type}."
        )
    if task == "sequence-classification" and type_name and not has_head:
        raise ValueError(
            "task='sequence-classification' needs a *ForSequenceClassification "
            f"model; got {type_name}. Use task='encoder' to train a head."
        )
    return task


def sequence_columns(config, classes, label_words):
    """Output column of every class for a sequence-classification model.

    Parameters
    ----------
    config : transformers.PretrainedConfig
        The model's config (``num_labels`` and ``id2label``).
    classes : ndarray of shape (n_classes,)
        The classes of ``y``.
    label_words : dict or None
        ``{class: id2label name or column}``; ``None`` maps classes to
        ``id2label`` names when they all match, else integer classes to the
        columns of the same index.

    Returns
    -------
    columns : ndarray of shape (n_classes,)
    """
    n_outputs = config.num_labels
    id2label = {int(k): str(v) for k, v in config.id2label.items()}
    by_name = {name: col for col, name in id2label.items()}
    if label_words is not None:
        targets = [lookup_label(label_words, c) for c in classes]
    elif all(str(c) in by_name for c in classes):
        targets = [str(c) for c in classes]
    elif all(isinstance(c, Integral) and 0 <= c < n_outputs for c in classes):
        targets = [int(c) for c in classes]
    else:
        raise ValueError(
            f"Cannot map the classes {classes.tolist()} to the "
            f"{n_outputs} outputs of the model (id2label={id2label}): they are "
            "neither id2label names nor column indices. Pass "
            "label_words={class: id2label name or column}."
        )
    columns = []
    for c, target in zip(classes, targets, strict=True):
        if isinstance(target, Integral) and 0 <= target < n_outputs:
            columns.append(int(target))
        elif isinstance(target, str) and target in by_name:
            columns.append(by_name[target])
        else:
            raise ValueError(
                f"Class {c!r} maps to {target!r}, which is neither an "
                f"id2label name nor a column below {n_outputs}: {id2label}."
            )
    if len(set(columns)) != len(columns):
        raise ValueError(f"Two classes map to the same output column: {columns}.")
    return np.asarray(columns, dtype=np.intp)


def label_tokens(tokenizer, classes, label_words, max_length):
    """Token ids of the label word of every class, for a seq2seq model.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        The model's tokenizer.
    classes : ndarray of shape (n_classes,)
        The classes of ``y``.
    label_words : dict or None
        ``{class: target word}``; required.
    max_length : int
        Truncation length of the training targets.

    Returns
    -------
    first : ndarray of shape (n_classes,)
        First token id of every label word: the class is scored by it.
    targets : list of list of int
        Full target ids of every label word, for fine-tuning.
    """
    if label_words is None:
        raise ValueError(
            "label_words is required for task='seq2seq': give the target word "
            "of every class, e.g. {'neg': 'negative', 'pos': 'positive'}."
        )
    words = [lookup_label(label_words, c) for c in classes]
    targets = [
        tokenizer(str(w), max_length=max_length, truncation=True)["input_ids"]
        for w in words
    ]
    first = [
        tokenizer(str(w), add_special_tokens=False)["input_ids"][:1] for w in words
    ]
    if any(not ids for ids in first):
        raise ValueError(f"A label word tokenizes to nothing: {words}.")
    first = np.asarray([ids[0] for ids in first], dtype=np.intp)
    if len(set(first.tolist())) != len(first):
        raise ValueError(
            "The label words must start with different tokens, as classes are "
            f"scored by their first token; got {words} -> token ids "
            f"{first.tolist()}."
        )
    return first, targets


def lookup_label(mapping, cls):
    """``mapping[cls]``, or ``mapping[str(cls)]``, else a clear ValueError."""
    for key in (cls, str(cls)):
        if key in mapping:
            return mapping[key]
    raise ValueError(
        f"label_words has no entry for class {cls!r}; it must name every class of "
        f"y. Got keys {list(mapping)}."
    )


def position_limit(model):
    """Most tokens one input may have, or ``None`` when positions are unbounded.

    A learned absolute position table bounds the input length. RoBERTa-like
    models (RoBERTa, XLM-R, MPNet, ...) number positions from after their
    padding index, so ``padding_idx + 1`` rows of their table are never used
    by a token: ``max_position_embeddings=514`` allows 512 tokens.

    Parameters
    ----------
    model : transformers.PreTrainedModel

    Returns
    -------
    limit : int or None
    """
    encoder = model.get_encoder() if model.config.is_encoder_decoder else None
    base = encoder if encoder is not None else model.base_model
    table = getattr(getattr(base, "embeddings", None), "position_embeddings", None)
    if isinstance(table, torch.nn.Embedding):
        offset = 0 if table.padding_idx is None else table.padding_idx + 1
        return table.num_embeddings - offset
    limit = getattr(model.config, "max_position_embeddings", None)
    return limit if isinstance(limit, Integral) and limit > 0 else None
