"""Hugging Face transformers models as scikit-learn classifiers.

:class:`TransformerClassifier` wraps a pretrained language model so that it can
serve as the Swift or the Super model of E-LANG: it exposes raw per-class logits
(``predict_logits``, the input of the energy score, eq. 4 of the paper), the
pooled last hidden state of the encoder (``transform``, the input of the extra
energy head of encoder-decoder models, eq. 8), and the FLOPs each input costs
(``estimate_flops``).

The estimator only holds parameters and what ``fit`` decided; the work is done
by :mod:`elang_sk.hf._loading` (model, tokenizer, task, label mapping),
:mod:`elang_sk.hf._training` (head, fine-tuning, distillation) and
:mod:`elang_sk.hf._inference` (tokenization, batching, forward passes).
torch and transformers are imported at module level: :mod:`elang_sk` loads this
module lazily, on first use of :class:`TransformerClassifier`.
"""

import copy
import hashlib
import os
import warnings
from numbers import Integral, Real

import joblib
import numpy as np
import torch
from scipy.special import log_softmax, softmax
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from elang_sk._cache import OutputCache, resolve_cache
from elang_sk._fingerprint import tokenizer_digest
from elang_sk._repr import repr_with_short_objects
from elang_sk._validation import check_state_keys, check_texts
from elang_sk.hf._inference import HFForward, check_finite_outputs
from elang_sk.hf._loading import (
    TASKS,
    label_tokens,
    load_model,
    position_limit,
    sequence_columns,
)
from elang_sk.hf._torch_utils import BarProgress, resolve_device, resolve_dtype
from elang_sk.hf._training import fine_tune, fit_head, teacher_targets

_METHODS = ("predict", "predict_proba", "predict_logits", "transform")


class TransformerClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
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
        Inputs are truncated to this many tokens. A value above the number of
        positions the model can encode is capped at that number in ``fit``,
        with a warning (``max_length_`` holds the length used).
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
    progress : bool, "auto" or callable, default="auto"
        Show a tqdm progress bar (when tqdm is installed), named after the
        model and what it computes (``transform``, ``predict_logits``, or
        ``fine-tuning``, which counts training examples over all epochs).
        ``"auto"``: for runs of more than one batch when stderr is a terminal.
        A callable is called instead as ``progress(done, total)``: ``(0,
        total)`` when a run of forward passes starts, then after every batch
        with the inputs done (and its ``close()``, if any, when the run ends),
        e.g. to write progress lines to a log.
    random_state : int, RandomState instance or None, default=0
        Seeds head initialisation, dropout and shuffling when fine-tuning.
    trust_remote_code : bool, default=False
        Whether ``fit`` may run the Python code that a hub repository or a
        folder ships with its model (``from_pretrained(...,
        trust_remote_code=True)``). Off by default: such code runs with your
        rights when the model is loaded. Turn it on only for a source you
        trust. Weights given by id or path are always read from
        ``*.safetensors`` files (never from pickled ``.bin`` files); a
        loaded model object is used as given.

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
    max_length_ : int
        The truncation length used: ``max_length``, capped at the model's
        position limit.
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
    A tiny random BERT, saved to a folder and loaded from it by path:

    >>> import shutil, tempfile
    >>> import torch
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
    >>> from elang_sk import TransformerClassifier
    >>> words = ["[PAD]", "[UNK]", "good", "bad", "film", "plot"]
    >>> backend = Tokenizer(models.WordLevel(
    ...     {w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    >>> backend.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> tokenizer = PreTrainedTokenizerFast(
    ...     tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]")
    >>> _ = torch.manual_seed(0)
    >>> model = BertModel(BertConfig(
    ...     vocab_size=len(words), hidden_size=16, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=32,
    ...     max_position_embeddings=32))
    >>> folder = tempfile.mkdtemp()
    >>> model.save_pretrained(folder)
    >>> _ = tokenizer.save_pretrained(folder)
    >>> X = ["good film", "bad film", "good plot", "bad plot"]
    >>> clf = TransformerClassifier(folder, max_length=32, device="cpu")
    >>> clf = clf.fit(X, ["+", "-", "+", "-"])
    >>> clf.task_
    'encoder'
    >>> clf.predict_logits(X).shape
    (4, 2)
    >>> clf.transform(X).shape
    (4, 16)
    >>> clf.predict(X).tolist()
    ['+', '-', '+', '-']
    >>> shutil.rmtree(folder)
    """

    _parameter_constraints: dict = {
        "model": "no_validation",
        "tokenizer": "no_validation",
        "task": [StrOptions({"auto", *TASKS})],
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
        "progress": ["boolean", StrOptions({"auto"}), callable],
        "random_state": ["random_state"],
        "trust_remote_code": ["boolean"],
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
        trust_remote_code=False,
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
        self.trust_remote_code = trust_remote_code

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
        for name in ("columns_", "label_token_ids_", "coef_", "intercept_"):
            # A refit with another task must not keep the last fit's mapping.
            self.__dict__.pop(name, None)
        self._load()
        limit = position_limit(self.model_)
        self.max_length_ = self.max_length
        if limit is not None and self.max_length > limit:
            warnings.warn(
                f"max_length={self.max_length} is above the {limit} positions that "
                f"{type(self.model_).__name__} can encode; inputs are truncated to "
                f"{limit} tokens instead. Set max_length<={limit} to silence this "
                "warning.",
                UserWarning,
                stacklevel=3,
            )
            self.max_length_ = limit

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
        soft = None
        if self.distill_from is not None:
            soft = teacher_targets(
                self.distill_from, X, self.classes_, self.distill_temperature
            )

        targets = None
        if self.task_ == "sequence-classification":
            self.columns_ = sequence_columns(
                self.model_.config, self.classes_, self.label_words
            )
        elif self.task_ == "seq2seq":
            self.label_token_ids_, targets = label_tokens(
                self.tokenizer_, self.classes_, self.label_words, self.max_length_
            )

        distill = dict(
            soft=soft,
            distill_temperature=self.distill_temperature,
            distill_alpha=self.distill_alpha,
        )
        if self.fine_tune:
            coef, intercept = fine_tune(
                self._forward(),
                X,
                y_encoded,
                n_classes=self.n_classes_,
                label_targets=targets,
                epochs=self.epochs,
                learning_rate=self.learning_rate,
                batch_size=self.batch_size,
                random_state=self.random_state,
                progress=self._progress("fine-tuning"),
                **distill,
            )
            if coef is not None:
                self.coef_, self.intercept_ = coef, intercept
        elif self.task_ == "encoder":
            self.coef_, self.intercept_ = fit_head(
                self._transform(X),
                y_encoded,
                self.n_classes_,
                alpha=self.head_alpha,
                soft=soft,
                temperature=self.distill_temperature,
                distill_alpha=self.distill_alpha,
            )
        return self

    def _load(self):
        model, self.tokenizer_, self.task_ = load_model(
            self.model,
            self.tokenizer,
            task=self.task,
            fine_tune=self.fine_tune,
            classes=self.classes_,
            label_words=self.label_words,
            trust_remote_code=self.trust_remote_code,
        )
        self.device_ = resolve_device(self.device)
        self.dtype_ = resolve_dtype(self.dtype, self.device_, model.dtype)
        if model.device != self.device_ or model.dtype != self.dtype_:
            model.to(device=self.device_, dtype=self.dtype_)
        model.eval()
        self.model_ = model
        self._check_vocabulary()

    def _check_vocabulary(self):
        """Refuse a tokenizer that makes ids the model has no embedding for.

        torch would fail in the middle of a forward pass with "index out of
        range in self" (on a CPU) or a device-side assert (on a GPU).
        """
        try:
            rows = self.model_.get_input_embeddings().num_embeddings
        except (AttributeError, NotImplementedError):
            return
        size = len(self.tokenizer_)
        if size > rows:
            raise ValueError(
                f"The tokenizer makes token ids up to {size - 1}, but the model "
                f"({type(self.model_).__name__}) embeds only {rows} ids (0 to "
                f"{rows - 1}): the tokenizer is not the model's. Pass the "
                "model's own tokenizer (tokenizer=None loads it from the model's "
                "folder or hub id), or resize the model's embeddings first: "
                "model.resize_token_embeddings(len(tokenizer))."
            )

    def _progress(self, method):
        """``progress`` as :func:`run_batches` takes it: a bar names the model."""
        if callable(self.progress):
            return self.progress
        name = getattr(self.model_.config, "name_or_path", "") or ""
        name = os.path.basename(os.path.normpath(name)) if name else ""
        desc = f"{name or type(self.model_).__name__} {method}"
        return BarProgress(self.progress, desc, self.batch_size)

    def _forward(self):
        self._check_vocabulary()
        return HFForward(
            model=self.model_,
            tokenizer=self.tokenizer_,
            task=self.task_,
            pooling=self.pooling,
            max_length=self.max_length_,
            device=self.device_,
            columns=getattr(self, "columns_", None),
            label_token_ids=getattr(self, "label_token_ids_", None),
            coef=getattr(self, "coef_", None),
            intercept=getattr(self, "intercept_", None),
        )

    def _cached(self, method, X, compute, fingerprint):
        cache = resolve_cache(self.memory)
        if cache is None:
            return compute(X)
        values, _ = cache.get_or_compute(f"{fingerprint}/{method}", X, compute)
        # Outputs cached before non-finite values were refused.
        check_finite_outputs(values, X)
        return values

    def _transform(self, X):
        forward = self._forward()

        def compute(texts):
            return forward.run(
                texts,
                forward.features,
                batch_size=self.batch_size,
                progress=self._progress("transform"),
            )

        fingerprint = None if self.memory is None else self._encoder_fingerprint()
        return self._cached("transform", X, compute, fingerprint)

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

    def get_feature_names_out(self, input_features=None):
        """Names of the pooled features of :meth:`transform`.

        ``transformerclassifier0``, ``transformerclassifier1``, ... (one per
        hidden unit), as scikit-learn names the outputs of a transformer that
        makes new features: with them, ``set_output(transform="pandas")``
        makes :meth:`transform` return a DataFrame, in a
        :class:`~sklearn.pipeline.Pipeline` too.

        Parameters
        ----------
        input_features : None
            Unused: the inputs are texts, not named features.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per column of :meth:`transform`.
        """
        check_is_fitted(self)
        n_features = self.model_.config.hidden_size
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(n_features)], dtype=object)

    def set_output(self, *, transform=None):
        """Choose the container :meth:`transform` returns (scikit-learn's API).

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            ``"pandas"`` makes :meth:`transform` return a DataFrame whose
            columns are :meth:`get_feature_names_out`; ``"default"`` a NumPy
            array; None leaves it unchanged.

        Returns
        -------
        self : TransformerClassifier
        """
        return super().set_output(transform=transform)

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
        forward = self._forward()

        def compute(texts):
            return forward.run(
                texts,
                forward.logits,
                batch_size=self.batch_size,
                progress=self._progress("predict_logits"),
            )

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
        forward = self._forward()
        run = forward.features if kind == "transform" else forward.logits
        return forward.flops(X, run, self._flops_memo.setdefault(kind, {}))

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
            memo = self._tokenizer_memo = (key, tokenizer_digest(tokenizer))
        return self._forward().fingerprint(memo[1], self.dtype_)

    @property
    def n_classes(self):
        """Number of classes (``len(classes_)``)."""
        check_is_fitted(self)
        return len(self.classes_)

    # -- the fitted state, for save_joint / load_joint ----------------------------

    #: Fitted arrays a classifier may hold, by task: nothing else is restored.
    _FITTED_ARRAYS = ("columns_", "label_token_ids_", "coef_", "intercept_")

    def fitted_state(self):
        """The fitted state that :func:`save_joint` writes, as plain data.

        Returns
        -------
        state : dict
            ``model`` and ``tokenizer`` (the loaded transformers objects, saved
            with ``save_pretrained``), ``task``, ``dtype`` (a torch dtype name),
            ``max_length``, ``classes`` and ``arrays`` (the fitted head or
            label mapping, by attribute name).

        Examples
        --------
        >>> from elang_sk import TransformerClassifier
        >>> sorted(TransformerClassifier._FITTED_ARRAYS)
        ['coef_', 'columns_', 'intercept_', 'label_token_ids_']
        """
        check_is_fitted(self, "model_")
        return {
            "model": self.model_,
            "tokenizer": self.tokenizer_,
            "task": self.task_,
            "dtype": str(self.dtype_).removeprefix("torch."),
            "max_length": int(self.max_length_),
            "classes": np.asarray(self.classes_),
            "arrays": {
                name: np.asarray(getattr(self, name))
                for name in self._FITTED_ARRAYS
                if getattr(self, name, None) is not None
            },
        }

    def restore_fitted_state(self, state):
        """Make this estimator the fitted one ``state`` describes (see fitted_state).

        Checked as ``fit`` makes it: a known task, a torch dtype, a positive
        ``max_length``, at least one class, and only the fitted arrays a
        classifier has (an unknown array name is refused, not set).

        Parameters
        ----------
        state : dict
            As returned by :meth:`fitted_state`.

        Returns
        -------
        self : TransformerClassifier

        Examples
        --------
        >>> from elang_sk import TransformerClassifier
        >>> try:
        ...     TransformerClassifier("x").restore_fitted_state({"task": "x"})
        ... except ValueError as exc:
        ...     print(str(exc)[:40])
        The fitted state of a TransformerClassif
        """
        import torch

        from elang_sk.hf._loading import _AUTO_CLASSES

        keys = (
            "model",
            "tokenizer",
            "task",
            "dtype",
            "max_length",
            "classes",
            "arrays",
        )
        state = check_state_keys(state, keys, "TransformerClassifier")
        if state["task"] not in _AUTO_CLASSES:
            raise ValueError(
                f"Unknown task {state['task']!r}; expected one of "
                f"{list(_AUTO_CLASSES)}."
            )
        dtype = getattr(torch, str(state["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"{state['dtype']!r} is not a torch dtype.")
        max_length = state["max_length"]
        if (
            isinstance(max_length, bool)
            or not isinstance(max_length, int)
            or max_length < 1
        ):
            raise ValueError(f"max_length must be a positive int; got {max_length!r}.")
        classes = np.asarray(state["classes"])
        if classes.ndim != 1 or classes.size < 1:
            raise ValueError("The saved classes must be a non-empty 1-d array.")
        arrays = dict(state["arrays"])
        extra = sorted(set(arrays) - set(self._FITTED_ARRAYS))
        if extra:
            raise ValueError(
                f"The saved classifier holds arrays {extra} that a "
                "TransformerClassifier does not have; the folder was changed."
            )
        for name in self._FITTED_ARRAYS:
            self.__dict__.pop(name, None)
        for name, value in arrays.items():
            setattr(self, name, np.asarray(value))
        self.classes_ = classes
        self.n_classes_ = len(classes)
        self._flops_memo = {}
        self._tokenizer_memo = None
        self.task_ = state["task"]
        self.max_length_ = max_length
        self.tokenizer_ = state["tokenizer"]
        self.device_ = resolve_device(self.device)
        self.dtype_ = dtype
        self.model_ = state["model"].to(device=self.device_, dtype=dtype).eval()
        self._check_vocabulary()
        return self

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
        return repr_with_short_objects(self, ("model", "tokenizer"), N_CHAR_MAX)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags
