"""Hugging Face transformers models as scikit-learn classifiers.

:class:`TransformerClassifier` wraps a pretrained language model so that it can
serve as the Swift or the Super model of E-LANG: it exposes raw per-class logits
(``predict_logits``, the input of the energy score, eq. 4 of the paper), the
pooled last hidden state of the encoder (``transform``, the input of the extra
energy head of encoder-decoder models, eq. 8), and the FLOPs each input costs
(``estimate_flops``).

torch and transformers are imported at module level: :mod:`elang_sk` loads this
module lazily, on first use of :class:`TransformerClassifier`.
"""

import copy
import hashlib
import json
import os
from numbers import Integral, Real

import joblib
import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import log_softmax, logsumexp, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state

from elang_sk._cache import OutputCache, resolve_cache
from elang_sk._flops import count_flops, flops_per_input
from elang_sk._torch_utils import (
    module_digest,
    pad_batch,
    resolve_device,
    resolve_dtype,
    run_batches,
)
from elang_sk._validation import check_texts

_TASKS = ("sequence-classification", "encoder", "seq2seq")
_METHODS = ("predict", "predict_proba", "predict_logits", "transform")


class _ShortRepr:
    """Stand-in shown by ``repr`` instead of a model's module tree."""

    def __init__(self, obj):
        name = getattr(obj, "name_or_path", "") or ""
        self.text = f"{type(obj).__name__}({name!r})" if name else type(obj).__name__

    def __repr__(self):
        return self.text


class TransformerClassifier(ClassifierMixin, BaseEstimator):
    """A Hugging Face transformers model as a text classifier.

    Wraps one of three kinds of model, picked by ``task``:

    - ``"sequence-classification"``: a model with a classification head (any
      ``AutoModelForSequenceClassification``), used as it is or fine-tuned. Its
      own output logits are the logits.
    - ``"encoder"``: a pretrained encoder without a head (``BertModel``,
      ``MPNetModel``, sentence encoders). Its last hidden state is pooled and a
      linear softmax head is trained on the pooled features (fast: the encoder
      runs once per input, and the features are cached), or the encoder and the
      head are fine-tuned together (``fine_tune=True``).
    - ``"seq2seq"``: an encoder-decoder (T5-like) used as a classifier through
      one target word per class (``label_words``). The logit of a class is the
      decoder's first-step logit of the first token of its word.

    Parameters
    ----------
    model : str, path-like or transformers.PreTrainedModel
        A hub id, a local folder, or an already loaded model. A loaded model is
        used in place (``fit`` moves it to ``device`` and ``dtype`` and puts it
        in eval mode) and is never copied by :func:`~sklearn.base.clone`; with
        ``fine_tune=True`` it is copied first, so the object passed stays as it
        was.
    tokenizer : str, path-like, transformers tokenizer or None, default=None
        The tokenizer; ``None`` loads it from ``model`` (which must then be an
        id or a path).
    task : {"auto", "sequence-classification", "encoder", "seq2seq"}, \
            default="auto"
        How the model is used. ``"auto"``: ``"seq2seq"`` for an encoder-decoder,
        ``"sequence-classification"`` for a ``*ForSequenceClassification``
        model, else ``"encoder"``.
    pooling : {"mean", "cls"}, default="mean"
        How ``transform`` (and the ``"encoder"`` task) pools the last hidden
        state: masked mean over the tokens, or the first token.
    label_words : dict or None, default=None
        The model's own name for every class, ``{class: name}``. For
        ``"seq2seq"`` (required) the target word of each class. For
        ``"sequence-classification"`` the label in ``model.config.id2label``
        or the output column (int) of each class; ``None`` maps classes to
        ``id2label`` names when they all match, else integer classes to the
        columns of the same index. Unused by ``"encoder"``.
    fine_tune : bool, default=False
        Train the model's weights in ``fit`` (AdamW, ``epochs`` passes). With
        ``False``, ``"encoder"`` trains only its linear head, and the other
        tasks use the model as given.
    epochs : int, default=3
        Passes over the data when fine-tuning.
    learning_rate : float, default=2e-5
        AdamW learning rate when fine-tuning.
    head_alpha : float, default=1e-3
        L2 penalty on the weights of the linear head of the ``"encoder"`` task
        when it is fitted on frozen features (L-BFGS).
    distill_from : fitted classifier or None, default=None
        A teacher with ``predict_logits`` or ``predict_proba`` and the same
        classes. Training then mixes the cross-entropy with the hard labels and
        the distillation loss of Sanh et al. (2019) on the teacher's
        temperature-softened outputs. Needs something to train: the
        ``"encoder"`` task or ``fine_tune=True``. Kept by reference by ``clone``.
    distill_temperature : float, default=2.0
        Softmax temperature of the distillation loss.
    distill_alpha : float, default=0.5
        Weight of the distillation loss; ``1 - distill_alpha`` weighs the hard
        labels.
    max_length : int, default=128
        Inputs are truncated to this many tokens.
    batch_size : int, default=32
        Inputs per forward pass. Inputs are sorted by length and padded per
        batch; on a CUDA out-of-memory error the batch is halved and the run
        goes on.
    device : str or torch.device, default="auto"
        ``"auto"`` picks CUDA when available, else the CPU.
    dtype : {"auto", "float32", "float16", "bfloat16"} or torch.dtype, \
            default="auto"
        Precision of the weights. ``"auto"`` keeps the model's own (float32
        for models loaded from an id or a path), except half precision on a
        CPU, which becomes float32. Asking for half precision on a CPU raises
        a ``ValueError``.
    memory : None, str, path-like, joblib.Memory or OutputCache, default=None
        Per-input disk cache of model outputs, keyed by the
        :meth:`elang_fingerprint`, the method and the input text: reused
        across ``fit``, predictions, cross-validation folds and processes.
    progress : bool or "auto", default="auto"
        Show a tqdm progress bar (when tqdm is installed). ``"auto"``: for runs
        of more than 10 batches when stderr is a terminal.
    random_state : int, RandomState instance or None, default=0
        Seeds head initialisation, dropout and shuffling when fine-tuning.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels; the columns of ``predict_logits`` follow this order.
    n_classes_ : int
        Number of classes.
    model_ : transformers.PreTrainedModel
        The model used for predictions.
    tokenizer_ : transformers tokenizer
        The tokenizer used.
    task_ : str
        The resolved task.
    device_ : torch.device
        Where the model runs.
    dtype_ : torch.dtype
        Precision of the model's weights.
    columns_ : ndarray of shape (n_classes,)
        ``"sequence-classification"`` only: output column of every class.
    label_token_ids_ : ndarray of shape (n_classes,)
        ``"seq2seq"`` only: first token id of every class's label word.
    coef_ : ndarray of shape (n_classes, hidden_size)
        ``"encoder"`` only: weights of the linear head.
    intercept_ : ndarray of shape (n_classes,)
        ``"encoder"`` only: biases of the linear head.

    See Also
    --------
    elang_sk.OutputCache : The per-input cache used by ``memory``.

    Notes
    -----
    Half precision on a CPU raises rather than silently falling back: CPU
    kernels for float16 are slow or missing, and a silent switch would make
    the cached outputs and the fingerprint disagree with what was asked for.

    Examples
    --------
    >>> import torch
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
    >>> from elang_sk._transformers import TransformerClassifier
    >>> words = ["[PAD]", "[UNK]", "good", "bad", "film", "plot"]
    >>> backend = Tokenizer(models.WordLevel(
    ...     {w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    >>> backend.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> tokenizer = PreTrainedTokenizerFast(
    ...     tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]")
    >>> _ = torch.manual_seed(0)
    >>> model = BertModel(BertConfig(
    ...     vocab_size=len(words), hidden_size=16, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=32))
    >>> X = ["good film", "bad film", "good plot", "bad plot"]
    >>> clf = TransformerClassifier(model, tokenizer).fit(X, ["+", "-", "+", "-"])
    >>> clf.task_
    'encoder'
    >>> clf.predict_logits(X).shape
    (4, 2)
    >>> clf.transform(X).shape
    (4, 16)
    >>> clf.predict(X).tolist()
    ['+', '-', '+', '-']
    """

    _parameter_constraints: dict = {
        "model": "no_validation",
        "tokenizer": "no_validation",
        "task": [StrOptions({"auto", *_TASKS})],
        "pooling": [StrOptions({"mean", "cls"})],
        "label_words": [dict, None],
        "fine_tune": ["boolean"],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "head_alpha": [Interval(Real, 0, None, closed="left")],
        "distill_from": [
            HasMethods(["predict_logits"]),
            HasMethods(["predict_proba"]),
            None,
        ],
        "distill_temperature": [Interval(Real, 0, None, closed="neither")],
        "distill_alpha": [Interval(Real, 0, 1, closed="both")],
        "max_length": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "dtype": [StrOptions({"auto", "float32", "float16", "bfloat16"}), torch.dtype],
        "memory": [None, str, os.PathLike, joblib.Memory, OutputCache],
        "progress": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        model,
        tokenizer=None,
        *,
        task="auto",
        pooling="mean",
        label_words=None,
        fine_tune=False,
        epochs=3,
        learning_rate=2e-5,
        head_alpha=1e-3,
        distill_from=None,
        distill_temperature=2.0,
        distill_alpha=0.5,
        max_length=128,
        batch_size=32,
        device="auto",
        dtype="auto",
        memory=None,
        progress="auto",
        random_state=0,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.task = task
        self.pooling = pooling
        self.label_words = label_words
        self.fine_tune = fine_tune
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.head_alpha = head_alpha
        self.distill_from = distill_from
        self.distill_temperature = distill_temperature
        self.distill_alpha = distill_alpha
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.memory = memory
        self.progress = progress
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Load the model and fit what ``task`` and ``fine_tune`` ask for.

        Parameters
        ----------
        X : sequence of str
            Training texts.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : TransformerClassifier
            The fitted classifier.
        """
        X = check_texts(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(
                f"y must be 1-d with one label per text; got shape {y.shape} for "
                f"{len(X)} texts."
            )
        check_classification_targets(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        self.n_classes_ = len(self.classes_)
        self._flops_memo = {}
        self._tokenizer_memo = None
        self._load()

        trains = self.task_ == "encoder" or self.fine_tune
        if self.distill_from is not None and not trains:
            raise ValueError(
                f"distill_from needs something to train, but task={self.task_!r} "
                "with fine_tune=False trains nothing. Set fine_tune=True, or use "
                "task='encoder' to distil into a linear head."
            )
        if trains and self.n_classes_ < 2:
            raise ValueError(
                "Training needs samples of at least 2 classes; got only class "
                f"{self.classes_[0]!r}."
            )
        soft = self._teacher_targets(X) if self.distill_from is not None else None

        if self.task_ == "sequence-classification":
            self.columns_ = self._sequence_columns(self.model_.config)
        elif self.task_ == "seq2seq":
            self.label_token_ids_, self._label_targets = self._label_tokens()

        if self.fine_tune:
            self._fine_tune(X, y_encoded, soft)
        elif self.task_ == "encoder":
            features = self._transform(X)
            self.coef_, self.intercept_ = _fit_linear_head(
                features.astype(np.float64),
                y_encoded,
                self.n_classes_,
                soft=soft,
                temperature=self.distill_temperature,
                distill_alpha=self.distill_alpha,
                alpha=self.head_alpha,
            )
        self.model_.eval()
        return self

    def _load(self):
        import transformers

        fine_tune = self.fine_tune
        if isinstance(self.model, str | os.PathLike):
            config = transformers.AutoConfig.from_pretrained(self.model)
            task = self._resolve_task(config, type_name=None)
            auto = {
                "sequence-classification": (
                    transformers.AutoModelForSequenceClassification
                ),
                "encoder": transformers.AutoModel,
                "seq2seq": transformers.AutoModelForSeq2SeqLM,
            }[task]
            kwargs = {}
            if task == "sequence-classification" and fine_tune:
                try:
                    self._sequence_columns(config)
                except ValueError:
                    # Fine-tuning on new classes: start from a fresh head.
                    names = [str(c) for c in self.classes_]
                    kwargs = dict(
                        num_labels=len(names),
                        id2label=dict(enumerate(names)),
                        label2id={n: i for i, n in enumerate(names)},
                        ignore_mismatched_sizes=True,
                    )
            model = auto.from_pretrained(self.model, dtype=torch.float32, **kwargs)
            tokenizer = self.model if self.tokenizer is None else self.tokenizer
        elif isinstance(self.model, transformers.PreTrainedModel):
            task = self._resolve_task(self.model.config, type(self.model).__name__)
            # Training changes weights in place: never on the caller's object.
            model = copy.deepcopy(self.model) if fine_tune else self.model
            if self.tokenizer is None:
                raise ValueError(
                    "tokenizer must be given when model is a loaded model object; "
                    "pass the tokenizer object, or its hub id or folder."
                )
            tokenizer = self.tokenizer
        else:
            raise TypeError(
                "model must be a hub id, a local folder or a transformers "
                f"PreTrainedModel; got {type(self.model).__name__}."
            )
        if isinstance(tokenizer, str | os.PathLike):
            tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer)

        self.task_ = task
        self.device_ = resolve_device(self.device)
        self.dtype_ = resolve_dtype(self.dtype, self.device_, model.dtype)
        if model.device != self.device_ or model.dtype != self.dtype_:
            model.to(device=self.device_, dtype=self.dtype_)
        model.eval()
        self.model_ = model
        self.tokenizer_ = tokenizer

    def _resolve_task(self, config, type_name):
        is_seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        names = [type_name] if type_name else list(config.architectures or [])
        has_head = any(n.endswith("ForSequenceClassification") for n in names)
        if self.task == "auto":
            if is_seq2seq:
                return "seq2seq"
            return "sequence-classification" if has_head else "encoder"
        if self.task == "seq2seq" and not is_seq2seq:
            raise ValueError(
                "task='seq2seq' needs an encoder-decoder model (config."
                f"is_encoder_decoder=True); got {names or config.model_type}."
            )
        if self.task == "sequence-classification" and type_name and not has_head:
            raise ValueError(
                "task='sequence-classification' needs a *ForSequenceClassification "
                f"model; got {type_name}. Use task='encoder' to train a head."
            )
        return self.task

    def _sequence_columns(self, config):
        n_outputs = config.num_labels
        id2label = {int(k): str(v) for k, v in config.id2label.items()}
        by_name = {name: col for col, name in id2label.items()}
        if self.label_words is not None:
            targets = [_lookup(self.label_words, c) for c in self.classes_]
        elif all(str(c) in by_name for c in self.classes_):
            targets = [str(c) for c in self.classes_]
        elif all(isinstance(c, Integral) and 0 <= c < n_outputs for c in self.classes_):
            targets = [int(c) for c in self.classes_]
        else:
            raise ValueError(
                f"Cannot map the classes {self.classes_.tolist()} to the "
                f"{n_outputs} outputs of the model (id2label={id2label}): they are "
                "neither id2label names nor column indices. Pass "
                "label_words={class: id2label name or column}."
            )
        columns = []
        for c, target in zip(self.classes_, targets, strict=True):
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

    def _label_tokens(self):
        if self.label_words is None:
            raise ValueError(
                "label_words is required for task='seq2seq': give the target word "
                "of every class, e.g. {'neg': 'negative', 'pos': 'positive'}."
            )
        words = [_lookup(self.label_words, c) for c in self.classes_]
        targets = [
            self.tokenizer_(str(w), max_length=self.max_length, truncation=True)[
                "input_ids"
            ]
            for w in words
        ]
        first = [
            self.tokenizer_(str(w), add_special_tokens=False)["input_ids"][:1]
            for w in words
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

    def _teacher_targets(self, X):
        teacher = self.distill_from
        check_is_fitted(teacher)
        if hasattr(teacher, "predict_logits"):
            logits = np.asarray(teacher.predict_logits(X), dtype=np.float64)
        else:
            proba = np.asarray(teacher.predict_proba(X), dtype=np.float64)
            logits = np.log(np.clip(proba, 1e-12, None))
        teacher_classes = np.asarray(teacher.classes_)
        if set(teacher_classes.tolist()) != set(self.classes_.tolist()):
            raise ValueError(
                f"distill_from has classes {teacher_classes.tolist()}, but y has "
                f"{self.classes_.tolist()}; they must be the same."
            )
        order = [teacher_classes.tolist().index(c) for c in self.classes_.tolist()]
        return softmax(logits[:, order] / self.distill_temperature, axis=1)

    # ------------------------------------------------------------ fine-tune

    def _fine_tune(self, X, y_encoded, soft):
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        devices = [self.device_] if self.device_.type == "cuda" else []
        encodings, _ = self._tokenize(X)
        y_t = torch.as_tensor(y_encoded, device=self.device_)
        soft_t = None if soft is None else torch.as_tensor(soft, device=self.device_)
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            head = None
            if self.task_ == "encoder":
                hidden = self.model_.config.hidden_size
                head = torch.nn.Linear(hidden, self.n_classes_)
                head.to(device=self.device_, dtype=self.dtype_)
            parameters = list(self.model_.parameters())
            parameters += [] if head is None else list(head.parameters())
            optimizer = torch.optim.AdamW(parameters, lr=self.learning_rate)
            self.model_.train()
            for _ in range(self.epochs):
                order = rng.permutation(len(X))
                for start in range(0, len(X), self.batch_size):
                    rows = order[start : start + self.batch_size]
                    batch = self._pad(encodings, rows)
                    loss = self._training_loss(batch, rows, head, y_t, soft_t)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        self.model_.eval()
        if head is not None:
            self.coef_ = head.weight.detach().double().cpu().numpy()
            self.intercept_ = head.bias.detach().double().cpu().numpy()

    def _training_loss(self, batch, rows, head, y_t, soft_t):
        functional = torch.nn.functional
        rows_t = torch.as_tensor(rows, device=self.device_)
        if self.task_ == "seq2seq":
            targets = [self._label_targets[i] for i in y_t[rows_t].tolist()]
            width = max(len(t) for t in targets)
            labels = torch.full((len(rows), width), -100, device=self.device_)
            for j, t in enumerate(targets):
                labels[j, : len(t)] = torch.as_tensor(t)
            out = self.model_(**batch, labels=labels)
            hard = out.loss
            logits = out.logits[:, 0, torch.as_tensor(self.label_token_ids_)]
        else:
            if self.task_ == "encoder":
                logits = head(self._features_tensor(batch))
            else:
                logits = self.model_(**batch).logits[:, torch.as_tensor(self.columns_)]
            hard = functional.cross_entropy(logits.float(), y_t[rows_t])
        if soft_t is None:
            return hard
        temperature = self.distill_temperature
        log_student = functional.log_softmax(logits.float() / temperature, dim=1)
        distill = functional.kl_div(
            log_student, soft_t[rows_t].float(), reduction="batchmean"
        ) * (temperature**2)
        return self.distill_alpha * distill + (1 - self.distill_alpha) * hard

    # ------------------------------------------------------------ inference

    def _tokenize(self, X):
        encodings = self.tokenizer_(
            list(X),
            truncation=True,
            max_length=self.max_length,
            padding=False,
            return_attention_mask=False,
        )
        encodings = {k: v for k, v in encodings.items() if k != "attention_mask"}
        lengths = [len(ids) for ids in encodings["input_ids"]]
        return encodings, lengths

    def _pad(self, encodings, rows):
        tokenizer = self.tokenizer_
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        return pad_batch(
            encodings,
            rows,
            pad,
            getattr(tokenizer, "padding_side", "right"),
            self.device_,
        )

    def _encoder_module(self):
        if self.task_ == "seq2seq":
            return self.model_.get_encoder()
        return self.model_.base_model

    def _features_tensor(self, batch):
        out = self._encoder_module()(**batch)
        hidden = out.last_hidden_state
        mask = batch["attention_mask"]
        if self.pooling == "cls":
            first = mask.argmax(dim=1)
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), first]
        mask = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)

    def _logits_tensor(self, batch):
        if self.task_ == "encoder":
            features = self._features_tensor(batch)
            coef = torch.as_tensor(self.coef_, device=features.device)
            intercept = torch.as_tensor(self.intercept_, device=features.device)
            return features.to(coef.dtype) @ coef.T + intercept
        if self.task_ == "seq2seq":
            start = self.model_.config.decoder_start_token_id
            if start is None:
                start = self.tokenizer_.pad_token_id or 0
            n = batch["input_ids"].shape[0]
            decoder_input_ids = torch.full((n, 1), start, device=self.device_)
            out = self.model_(**batch, decoder_input_ids=decoder_input_ids)
            return out.logits[:, 0, torch.as_tensor(self.label_token_ids_)]
        return self.model_(**batch).logits[:, torch.as_tensor(self.columns_)]

    def _run(self, X, forward):
        encodings, lengths = self._tokenize(X)

        def run_rows(rows):
            with torch.inference_mode():
                out = forward(self._pad(encodings, rows))
            return out.float().cpu().numpy()

        return run_batches(lengths, self.batch_size, run_rows, progress=self.progress)

    def _cached(self, method, X, compute, fingerprint):
        cache = resolve_cache(self.memory)
        if cache is None:
            return compute(X)
        values, _ = cache.get_or_compute(f"{fingerprint}/{method}", X, compute)
        return values

    def _transform(self, X):
        def compute(texts):
            return self._run(texts, self._features_tensor)

        fingerprint = None if self.memory is None else self._encoder_fingerprint()
        return self._cached("transform", X, compute, fingerprint)

    # --------------------------------------------------------- public API

    def transform(self, X):
        """Pooled last hidden state of the encoder.

        For an encoder-decoder model only the encoder runs. This is what the
        extra energy head of E-LANG is trained on (eq. 8 of the paper).

        Parameters
        ----------
        X : sequence of str
            Texts.

        Returns
        -------
        features : ndarray of shape (n_samples, hidden_size)
            Mean or first-token pooled features, float32.
        """
        check_is_fitted(self)
        return self._transform(check_texts(X))

    def predict_logits(self, X):
        """Raw per-class logits, one column per class of ``classes_``.

        Parameters
        ----------
        X : sequence of str
            Texts.

        Returns
        -------
        logits : ndarray of shape (n_samples, n_classes)
            The model's logits (``"sequence-classification"``), the linear head
            on the pooled features (``"encoder"``), or the decoder's first-step
            logits of the label words (``"seq2seq"``).
        """
        check_is_fitted(self)
        X = check_texts(X)
        if self.task_ == "encoder":
            features = self._transform(X).astype(np.float64)
            return features @ self.coef_.T + self.intercept_

        def compute(texts):
            return self._run(texts, self._logits_tensor)

        fingerprint = None if self.memory is None else self.elang_fingerprint()
        logits = self._cached("predict_logits", X, compute, fingerprint)
        return np.asarray(logits, dtype=np.float64)

    def predict_proba(self, X):
        """Class probabilities: the softmax of :meth:`predict_logits`.

        Parameters
        ----------
        X : sequence of str
            Texts.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return softmax(self.predict_logits(X), axis=1)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed stably from the logits.

        Parameters
        ----------
        X : sequence of str
            Texts.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return log_softmax(self.predict_logits(X), axis=1)

    def predict(self, X):
        """Class of highest logit.

        Parameters
        ----------
        X : sequence of str
            Texts.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted class labels.
        """
        logits = self.predict_logits(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def estimate_flops(self, X, method="predict"):
        """Floating-point operations that ``method`` spends on every input.

        Counted with :class:`torch.utils.flop_counter.FlopCounterMode` on a
        batch of one input, once per distinct tokenized length (memoised), so
        the count grows with the length of each input.

        Parameters
        ----------
        X : sequence of str
            Texts.
        method : {"predict", "predict_proba", "predict_logits", "transform"}, \
                default="predict"
            ``"transform"`` counts the encoder and the pooling only; the others
            count the full model as used for predictions.

        Returns
        -------
        flops : ndarray of shape (n_samples,)
            FLOPs per input, int64.
        """
        check_is_fitted(self)
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
        X = check_texts(X)
        kind = "transform" if method == "transform" else "predict"
        forward = self._features_tensor if kind == "transform" else self._logits_tensor
        encodings, lengths = self._tokenize(X)
        example = {}
        for i, length in enumerate(lengths):
            example.setdefault(length, i)
        memo = self._flops_memo.setdefault(kind, {})

        def flops_of_length(length):
            batch = self._pad(encodings, [example[length]])
            return count_flops(lambda: forward(batch))

        return np.asarray(
            flops_per_input(lengths, flops_of_length, memo), dtype=np.int64
        )

    def elang_fingerprint(self):
        """Fingerprint of everything that changes this classifier's outputs.

        Covers the weights (a hash of every parameter and buffer, memoised per
        tensor on its version counter, so repeated calls are cheap and an
        in-place change is seen), the config, the tokenizer, ``max_length``,
        ``pooling``, the dtype, the task, the classes and their mapping, and
        the trained head. Used as the cache key of ``memory``.

        Returns
        -------
        fingerprint : str
            Hex digest; equal fingerprints mean equal outputs.
        """
        check_is_fitted(self)
        h = hashlib.blake2b(digest_size=16)
        h.update(self._encoder_fingerprint().encode())
        h.update(repr(self.classes_.tolist()).encode())
        h.update(repr(self.label_words).encode())
        for name in ("columns_", "label_token_ids_", "coef_", "intercept_"):
            value = getattr(self, name, None)
            if value is not None:
                h.update(name.encode())
                h.update(np.ascontiguousarray(value).tobytes())
        return h.hexdigest()

    def _encoder_fingerprint(self):
        config = self.model_.config.to_dict()
        for key in ("_name_or_path", "transformers_version"):
            config.pop(key, None)
        h = hashlib.blake2b(digest_size=16)
        for part in (
            self.task_,
            type(self.model_).__name__,
            json.dumps(config, sort_keys=True, default=str),
            self._tokenizer_digest(),
            str(self.max_length),
            self.pooling,
            str(self.dtype_),
            module_digest(self.model_),
        ):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()

    def _tokenizer_digest(self):
        # Serialising a large vocabulary costs ~0.1 s: memoise it, keyed on what
        # a tokenizer change (added tokens, sides) would alter.
        tokenizer = self.tokenizer_
        key = (
            id(tokenizer),
            len(tokenizer),
            getattr(tokenizer, "padding_side", None),
            getattr(tokenizer, "truncation_side", None),
        )
        memo = getattr(self, "_tokenizer_memo", None)
        if memo is None or memo[0] != key:
            memo = self._tokenizer_memo = (key, _tokenizer_digest(tokenizer))
        return memo[1]

    @property
    def n_classes(self):
        """Number of classes (``len(classes_)``)."""
        check_is_fitted(self)
        return len(self.classes_)

    # ------------------------------------------------------- sklearn glue

    def __sklearn_clone__(self):
        # Like FrozenEstimator: pretrained models and fitted teachers are shared,
        # never deep-copied (a deep copy of a large model is slow and doubles
        # memory; a clone of a fitted teacher would be unfitted).
        params = self.get_params(deep=False)
        shared = {k: params.pop(k) for k in ("model", "tokenizer", "distill_from")}
        params = {k: clone(v, safe=False) for k, v in params.items()}
        new = type(self)(**params, **shared)
        if hasattr(self, "_metadata_request"):
            new._metadata_request = copy.deepcopy(self._metadata_request)
        if hasattr(self, "_sklearn_output_config"):
            new._sklearn_output_config = copy.deepcopy(self._sklearn_output_config)
        return new

    def __repr__(self, N_CHAR_MAX=700):
        shown = copy.copy(self)
        for name in ("model", "tokenizer"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | os.PathLike):
                setattr(shown, name, _ShortRepr(value))
        return BaseEstimator.__repr__(shown, N_CHAR_MAX=N_CHAR_MAX)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def _lookup(mapping, cls):
    for key in (cls, str(cls)):
        if key in mapping:
            return mapping[key]
    raise ValueError(
        f"label_words has no entry for class {cls!r}; it must name every class of "
        f"y. Got keys {list(mapping)}."
    )


def _tokenizer_digest(tokenizer):
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


def _fit_linear_head(
    features, y, n_classes, *, soft, temperature, distill_alpha, alpha
):
    """Multinomial logistic regression (optionally distilled) by L-BFGS.

    Minimises the mean cross-entropy with the hard labels (weight
    ``1 - distill_alpha`` when ``soft`` is given) plus ``distill_alpha`` times
    ``temperature ** 2`` times the KL divergence to the soft targets at that
    temperature, plus ``alpha / 2 * ||coef||^2``. Always ``n_classes`` rows of
    weights, so binary problems give two logit columns.
    """
    n, d = features.shape
    onehot = np.eye(n_classes)[y]
    hard_weight = 1.0 if soft is None else 1 - distill_alpha

    def loss_grad(theta):
        coef = theta[: n_classes * d].reshape(n_classes, d)
        intercept = theta[n_classes * d :]
        logits = features @ coef.T + intercept
        log_p = logits - logsumexp(logits, axis=1, keepdims=True)
        loss = -hard_weight * np.sum(onehot * log_p) / n
        grad_logits = hard_weight * (np.exp(log_p) - onehot) / n
        if soft is not None:
            log_s = log_softmax(logits / temperature, axis=1)
            kl = np.sum(soft * (np.log(np.clip(soft, 1e-300, None)) - log_s)) / n
            loss += distill_alpha * temperature**2 * kl
            grad_logits += distill_alpha * temperature * (np.exp(log_s) - soft) / n
        loss += 0.5 * alpha * np.sum(coef**2)
        grad_coef = grad_logits.T @ features + alpha * coef
        return loss, np.concatenate([grad_coef.ravel(), grad_logits.sum(axis=0)])

    theta0 = np.zeros(n_classes * (d + 1))
    result = minimize(
        loss_grad, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 1000}
    )
    coef = result.x[: n_classes * d].reshape(n_classes, d)
    return coef, result.x[n_classes * d :]
