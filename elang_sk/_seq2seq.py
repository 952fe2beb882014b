"""JointSeq2Seq: E-LANG joint inference of a Swift and a Super encoder-decoder."""

import os
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.model_selection import KFold, check_cv
from sklearn.utils import Bunch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from elang_sk._cache import OutputCache, hash_inputs, resolve_cache, timed_compute
from elang_sk._router import EnergyRouter
from elang_sk._scores import SCORES, BaseScore, get_score
from elang_sk._threshold import (
    STRATEGIES,
    ServingThresholdMixin,
    ThresholdSelector,
    as_selector,
)
from elang_sk._validation import check_texts
from elang_sk.metrics import joint_cost, tradeoff_curve

_MODELS = ("swift_model", "super_model")
_COST_KEYS = {"swift", "super", "router"}
_METRICS = ("bleu", "chrf", "exact_match")


class JointSeq2Seq(ServingThresholdMixin, MetaEstimatorMixin, BaseEstimator):
    """E-LANG for text-to-text: a Swift encoder-decoder first, the Super when in doubt.

    Every input is encoded by the Swift's encoder, and a small **sequence
    energy head** on the frozen encoder states gives ``M`` positions of
    vocabulary logits (eq. 9 of the E-LANG paper). Inputs whose routing score
    is ``>= threshold`` are decoded by the Swift; the others are translated,
    in one batched pass, by the Super (eq. 10). The Swift's decoder never
    runs on the inputs it forwards, and the Super never sees the inputs the
    Swift keeps.

    ``fit`` never trains the Swift or the Super: it trains the energy head and
    chooses the threshold on the given pairs, which should be held-out data
    such as a dev split.

    **The energy head.** Output position ``m = 0 .. M-1`` has a learned query
    vector. One multi-head attention layer lets each query read the Swift
    encoder's last hidden states (padding masked); a residual connection and a
    LayerNorm follow, and the Swift's own output embedding (its LM head,
    frozen, with a learned per-token bias) maps the result to vocabulary
    logits ``h_m(f_E(x))``. Queries rather than the ``m``-th encoder state are
    used because source and target positions do not align word for word
    (Romanian is longer than English, word order differs): attention lets
    each output position look wherever it needs. Reusing the LM head keeps
    the head small (``M d + 4 d^2 + 3 d + V`` trained numbers), quick to
    train on a CPU, and in the Swift's own output space. It is trained with
    cross-entropy against the first ``M`` tokens of each reference,
    tokenized with the Swift's tokenizer (end-of-sequence token included,
    padding ignored). The energy of an input is ``aggregate`` over the
    positions ``0 .. m*`` of the per-position negative free energy
    ``logsumexp_i h_{m,i}`` (eq. 9), where ``m*`` is the first position whose
    most likely token is end-of-sequence (``M - 1`` if there is none): the
    head's own prediction of the output length, so that positions it
    expects to be padding do not count.

    **"Right" and "wrong" for the threshold.** A translation is never just
    right or wrong, so every calibration input gets a quality per model: the
    sentence-level chrF (sacrebleu, divided by 100, in ``[0, 1]``) of the
    model's output against the reference. The Swift counts as *right* on an
    input when its quality is at least the Super's minus ``quality_margin``:
    keeping it loses (almost) nothing. This splits the inputs for the
    ``"crossing"`` rule; the trade-off curve (``curve_``, and the
    ``"budget"``, ``"match_super"`` and ``"swift_ratio"`` strategies) uses
    the qualities themselves, so its "accuracy" is the mean sentence chrF of
    the joint output.

    Parameters
    ----------
    swift_model : str, path-like or transformers.PreTrainedModel
        The small encoder-decoder (``config.is_encoder_decoder=True``), e.g. a
        ``T5ForConditionalGeneration``. A hub id or folder is loaded in
        ``fit`` with ``AutoModelForSeq2SeqLM``; a loaded model is used as
        given (moved to ``device``), never copied or retrained.
    super_model : str, path-like or transformers.PreTrainedModel
        The large encoder-decoder; same rules.
    tokenizer : str, path-like, tokenizer or None, default=None
        The Swift's tokenizer. None loads it from ``swift_model`` when that
        is a hub id or folder; it is required with a loaded model.
    super_tokenizer : str, path-like, tokenizer or None, default=None
        The Super's tokenizer. None loads it from ``super_model`` when that
        is an id or folder, and otherwise uses the Swift's. Only the Swift's
        tokenizer matters for the energy head (the targets are Swift tokens);
        a tokenizer is only checked against the model it feeds.
    router : {"energy", "softmax", "entropy", "random"}, BaseScore or \
            EnergyRouter, default="energy"
        The routing score, computed from the logits named by
        ``routing_source``. An :class:`EnergyRouter` contributes its
        ``score`` (its own head is for 2-D features only).
    routing_source : {"head", "decoder"}, default="head"
        Where the score reads logits from. ``"head"`` is E-LANG: the energy
        head on the encoder. ``"decoder"`` is the ablation that scores the
        Swift decoder's own logits, teacher-forced on its output (the output
        re-tokenized), over the positions up to its end-of-sequence token:
        it needs the Swift to **decode every input**, so forwarded inputs
        pay for the whole Swift and for the Super.
    head_positions : int, default=16
        Number ``M`` of output positions of the energy head.
    aggregate : {"mean", "min", "median"}, float in [0, 1] or None, \
            default=None
        Aggregation of the per-position scores; None keeps the score's own
        (``"mean"`` for the string shortcuts: eq. 9).
    threshold : float, str or ThresholdSelector, default="crossing"
        The routing threshold, or how to choose it on the fitting data.
        ``set_params(threshold=...)`` on a fitted model takes effect at once,
        without refitting.
    quality_margin : float, default=0.0
        The Swift counts as right when its sentence chrF (in ``[0, 1]``) is
        at least the Super's minus this margin.
    generation_kwargs : dict or None, default=None
        Passed to both models' ``generate`` (e.g. ``num_beams``,
        ``max_new_tokens``). None means ``{"max_new_tokens": max_length}``.
    metric : {"bleu", "chrf", "exact_match"}, default="bleu"
        Corpus metric of :meth:`score` and :meth:`routing_report`: sacrebleu's
        BLEU or chrF (0-100), or the fraction of exact matches.
    head_epochs : int, default=30
        Training epochs of the energy head.
    head_lr : float, default=3e-3
        AdamW learning rate of the energy head.
    batch_size : int, default=32
        Inputs per batch for the models and the head.
    max_length : int, default=128
        Sources and references are truncated to this many tokens.
    device : str, default="auto"
        Torch device; ``"auto"`` is CUDA when available, else the CPU.
    memory : None, str, joblib.Memory or OutputCache, default=None
        Per-input cache of encoder states, generated texts and decoder
        scores: refits and threshold changes never recompute them.
    costs : {"auto", "flops", "time"} or dict, default="auto"
        Cost per input of each part, for eq. 17. ``"flops"`` (and
        ``"auto"``) counts with :class:`torch.utils.flop_counter.FlopCounterMode`:
        encoder FLOPs as a function of the source length ``L``; decoding
        FLOPs as a function of ``L`` and the generated length ``T`` (the
        output re-tokenized, end-of-sequence included) from one
        teacher-forced decoder pass over ``T`` tokens, LM head included,
        times ``num_beams``. Both are exact polynomials in the lengths,
        fitted on a few counts (see :meth:`flops`). ``"time"`` uses measured
        seconds per input. A dict gives ``{"swift": ..., "super": ...}`` and
        optionally ``"router"`` (the encoder and head).
    cv : int, cross-validation generator or None, default=5
        Cross-fitting of the head: calibration scores are out-of-fold, so
        the threshold is not chosen on the head's training data.
    random_state : int, default=0
        Seed of the head's initialisation, batches and folds.

    Attributes
    ----------
    swift_model_, super_model_ : transformers.PreTrainedModel
        The models in use.
    tokenizer_, super_tokenizer_ : tokenizer
        Their tokenizers.
    score_ : BaseScore
        The routing score component.
    head_ : torch.nn.Module or None
        The trained sequence energy head (None for ``routing_source="decoder"``
        or a score that reads no logits).
    threshold_ : float
        The threshold in use.
    calibration_ : Bunch
        ``scores``, ``swift_quality``, ``super_quality``, ``swift_right``,
        ``swift_outputs``, ``super_outputs`` and per-input ``swift_cost``,
        ``super_cost``, ``router_cost`` on the fitting data.
    curve_ : Bunch
        Mean sentence chrF and cost for every threshold
        (:func:`elang_sk.metrics.tradeoff_curve`).
    costs_ : Bunch
        Mean cost per input of ``swift``, ``super``, ``router``, and ``unit``.
    device_ : torch.device
        Where the models and the head run.

    See Also
    --------
    JointClassifier : The same for classifiers.

    Examples
    --------
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> from transformers import (PreTrainedTokenizerFast, T5Config,
    ...                           T5ForConditionalGeneration)
    >>> from elang_sk._seq2seq import JointSeq2Seq
    >>> words = ["<pad>", "</s>", "<unk>", "a", "b", "c", "d"]
    >>> backend = Tokenizer(models.WordLevel(
    ...     {w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    >>> backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    >>> tok = PreTrainedTokenizerFast(tokenizer_object=backend,
    ...     pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    >>> def t5(d_model, seed):
    ...     import torch; torch.manual_seed(seed)
    ...     return T5ForConditionalGeneration(T5Config(
    ...         vocab_size=len(words), d_model=d_model, d_ff=2 * d_model,
    ...         d_kv=8, num_layers=1, num_heads=2, pad_token_id=0,
    ...         eos_token_id=1, decoder_start_token_id=0)).eval()
    >>> X = ["a b", "b c", "c d", "a d", "d b", "a c"] * 3
    >>> Y = ["b c", "c d", "d a", "b a", "a c", "b d"] * 3
    >>> joint = JointSeq2Seq(t5(16, 0), t5(32, 1), tokenizer=tok, cv=3,
    ...                      head_epochs=2, costs="time",
    ...                      generation_kwargs={"max_new_tokens": 3})
    >>> joint = joint.fit(X, Y)
    >>> len(joint.predict(["a b", "c d"]))
    2
    >>> joint.set_params(threshold=float("inf")).served_by(["a b"]).tolist()
    ['super']
    """

    _parameter_constraints = {
        "swift_model": [str, os.PathLike, HasMethods(["generate"])],
        "super_model": [str, os.PathLike, HasMethods(["generate"])],
        "tokenizer": [None, str, os.PathLike, HasMethods(["get_vocab"])],
        "super_tokenizer": [None, str, os.PathLike, HasMethods(["get_vocab"])],
        "router": [StrOptions(set(SCORES)), BaseScore, EnergyRouter],
        "routing_source": [StrOptions({"head", "decoder"})],
        "head_positions": [Interval(Integral, 1, None, closed="left")],
        "aggregate": [
            None,
            StrOptions({"mean", "min", "median"}),
            Interval(Real, 0, 1, closed="both"),
        ],
        "threshold": [Real, StrOptions(set(STRATEGIES)), ThresholdSelector],
        "quality_margin": [Interval(Real, 0, 1, closed="both")],
        "generation_kwargs": [None, dict],
        "metric": [StrOptions(set(_METRICS))],
        "head_epochs": [Interval(Integral, 1, None, closed="left")],
        "head_lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_length": [Interval(Integral, 2, None, closed="left")],
        "device": [str],
        "memory": [None, str, os.PathLike, HasMethods(["cache"]), OutputCache],
        "costs": [StrOptions({"auto", "time", "flops"}), dict],
        "cv": ["cv_object"],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        swift_model,
        super_model,
        *,
        tokenizer=None,
        super_tokenizer=None,
        router="energy",
        routing_source="head",
        head_positions=16,
        aggregate=None,
        threshold="crossing",
        quality_margin=0.0,
        generation_kwargs=None,
        metric="bleu",
        head_epochs=30,
        head_lr=3e-3,
        batch_size=32,
        max_length=128,
        device="auto",
        memory=None,
        costs="auto",
        cv=5,
        random_state=0,
    ):
        self.swift_model = swift_model
        self.super_model = super_model
        self.tokenizer = tokenizer
        self.super_tokenizer = super_tokenizer
        self.router = router
        self.routing_source = routing_source
        self.head_positions = head_positions
        self.aggregate = aggregate
        self.threshold = threshold
        self.quality_margin = quality_margin
        self.generation_kwargs = generation_kwargs
        self.metric = metric
        self.head_epochs = head_epochs
        self.head_lr = head_lr
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.memory = memory
        self.costs = costs
        self.cv = cv
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, Y):
        """Train the energy head and choose the threshold on held-out pairs.

        Parameters
        ----------
        X : sequence of str
            Source texts.
        Y : sequence of str
            Reference translations, one per source.

        Returns
        -------
        self : JointSeq2Seq
            The fitted joint model.
        """
        _check_costs(self.costs)
        X = check_texts(X, "X", allow_empty_strings=False)
        Y = check_texts(Y, "Y", allow_empty_strings=False)
        if len(X) != len(Y):
            raise ValueError(
                f"X and Y have different lengths: {len(X)} sources and {len(Y)} "
                "references. Pass one reference translation per source."
            )
        self._load()
        self.score_ = self._make_score()
        self.generation_kwargs_ = dict(
            self.generation_kwargs or {"max_new_tokens": self.max_length}
        )
        self._flop_models = {}
        run = self._runs(X)
        swift_out, swift_sec = run.generate("swift")
        super_out, super_sec = run.generate("super")
        swift_q, super_q = _sentence_chrf(swift_out, Y), _sentence_chrf(super_out, Y)
        swift_right = swift_q >= super_q - self.quality_margin

        self.head_ = None
        if self.routing_source == "decoder" or not self.score_.uses_logits:
            scores, router_sec = self._decoder_or_random_scores(run, swift_out)
        else:
            states, lengths, router_sec = run.states()
            targets = self._targets(Y)
            scores = self._out_of_fold_scores(states, lengths, targets)
            if self.cv is not None:
                self.head_ = self._train_head(states, lengths, targets)
            router_sec = (
                router_sec
                + timed_compute(lambda s: self._head_scores(s, lengths), states)[1]
            )

        costs = self._costs(
            run, swift_out, super_out, router_sec, swift_sec, super_sec, rows=None
        )
        self.costs_ = Bunch(
            swift=float(costs.swift.mean()),
            super=float(costs.super.mean()),
            router=float(costs.router.mean()),
            unit=costs.unit,
        )
        self.calibration_ = Bunch(
            scores=scores,
            swift_quality=swift_q,
            super_quality=super_q,
            swift_right=swift_right,
            swift_outputs=swift_out,
            super_outputs=super_out,
            swift_cost=costs.swift,
            super_cost=costs.super,
            router_cost=costs.router,
        )
        self.curve_ = tradeoff_curve(
            scores,
            swift_q,
            super_q,
            swift_cost=costs.swift,
            super_cost=costs.super,
            router_cost=costs.router,
        )
        return self

    def _load(self):
        import transformers

        from elang_sk._seq2seq_utils import model_digest  # noqa: F401 (torch check)
        from elang_sk._torch_utils import resolve_device

        self.device_ = resolve_device(self.device)
        loaded = {}
        for role, tok_param in (("swift", "tokenizer"), ("super", "super_tokenizer")):
            model = getattr(self, f"{role}_model")
            tokenizer = getattr(self, tok_param)
            if isinstance(model, str | os.PathLike):
                config = transformers.AutoConfig.from_pretrained(model)
                _check_encoder_decoder(config, f"{role}_model", config.model_type)
                model = transformers.AutoModelForSeq2SeqLM.from_pretrained(model)
                tokenizer = tokenizer or getattr(self, f"{role}_model")
            else:
                _check_encoder_decoder(
                    model.config, f"{role}_model", type(model).__name__
                )
            if tokenizer is None and role == "super":
                tokenizer = loaded["swift"][1]
            if tokenizer is None:
                raise ValueError(
                    "tokenizer must be given when swift_model is a loaded model "
                    "object; pass the tokenizer object, or its hub id or folder."
                )
            if isinstance(tokenizer, str | os.PathLike):
                tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer)
            _check_tokenizer(tokenizer, model, role)
            model.to(self.device_)
            model.eval()
            loaded[role] = model, tokenizer
        self.swift_model_, self.tokenizer_ = loaded["swift"]
        self.super_model_, self.super_tokenizer_ = loaded["super"]

    def _make_score(self):
        router = self.router
        if isinstance(router, EnergyRouter):
            router = router.score_func
        score = clone(get_score(router))
        if self.aggregate is not None and "aggregate" in score.get_params():
            score.set_params(aggregate=self.aggregate)
        return score

    def _targets(self, Y):
        """The first ``M`` Swift tokens of each reference, ``-100`` as padding."""
        from elang_sk._seq2seq_utils import tokenize

        M = self.head_positions
        targets = np.full((len(Y), M), -100, dtype=np.int64)
        for i, ids in enumerate(tokenize(self.tokenizer_, Y, self.max_length, True)):
            targets[i, : min(M, len(ids))] = ids[:M]
        return targets

    def _train_head(self, states, lengths, targets):
        from elang_sk._seq2seq_utils import make_head, train_head

        head = make_head(self.swift_model_, self.head_positions, self.random_state)
        return train_head(
            head,
            states,
            lengths,
            targets,
            epochs=self.head_epochs,
            lr=self.head_lr,
            batch_size=self.batch_size,
            seed=self.random_state,
        )

    def _out_of_fold_scores(self, states, lengths, targets):
        if self.cv is None:
            self.head_ = self._train_head(states, lengths, targets)
            return self._head_scores(states, lengths)
        cv = self.cv
        if isinstance(cv, Integral):
            cv = KFold(
                min(cv, len(states)), shuffle=True, random_state=self.random_state
            )
        scores = np.empty(len(states))
        for train, test in check_cv(cv).split(states):
            self.head_ = self._train_head(states[train], lengths[train], targets[train])
            scores[test] = self._head_scores(states[test], lengths[test])
        return scores

    def _head_scores(self, states, lengths):
        from elang_sk._seq2seq_utils import head_outputs

        scores = np.empty(len(states))

        def consume(rows, logits, mask):
            scores[rows] = self.score_(logits, mask)

        head_outputs(
            self.head_,
            states,
            lengths,
            self.tokenizer_.eos_token_id,
            self.batch_size,
            consume,
        )
        return scores

    def _decoder_or_random_scores(self, run, swift_out):
        if not self.score_.uses_logits:
            return self.score_(np.zeros((len(run.X), 1))), np.zeros(len(run.X))
        return run.decoder_scores(swift_out)

    # -- runs of the models ------------------------------------------------------

    def _runs(self, X):
        return _Runs(self, X)

    # -- costs ------------------------------------------------------------------

    def _costs(self, run, swift_out, super_out, router_sec, swift_sec, super_sec, rows):
        """Per-input costs: router (encoder + head), whole Swift, Super."""
        n = len(run.X)
        if isinstance(self.costs, dict):
            swift = np.full(n, float(self.costs["swift"]))
            router = np.full(n, float(self.costs.get("router", self.costs["swift"])))
            return Bunch(
                swift=np.maximum(swift, router),
                super=np.full(n, float(self.costs["super"])),
                router=router,
                unit="given",
            )
        if self.costs == "time":
            router = np.asarray(router_sec, dtype=float)
            swift = router + np.asarray(swift_sec, dtype=float)
            if self.routing_source == "decoder":
                router = swift
            return Bunch(
                swift=swift,
                super=np.asarray(super_sec, dtype=float),
                router=router,
                unit="seconds",
            )
        flops = self.flops(run.X, swift_out, super_out)
        return Bunch(
            swift=flops.swift_encoder + flops.head + flops.swift_decoder,
            super=flops.super_encoder + flops.super_decoder,
            router=(
                flops.swift_encoder + flops.swift_decoder
                if self.routing_source == "decoder"
                else flops.swift_encoder + flops.head
            ),
            unit="FLOPs",
        )

    def flops(self, X, swift_outputs=None, super_outputs=None):
        """FLOPs per input of every part of joint inference.

        Counted with :class:`torch.utils.flop_counter.FlopCounterMode`. Every
        count is a polynomial in the lengths (linear layers grow with a
        length, attention with a product of two), so each part is counted on
        a few lengths once per fitted model and the exact coefficients are
        solved for: the encoder in ``[1, L, L^2]`` of the source length
        ``L``, the head in ``[1, L]``, decoding in ``[1, T, T^2, L T, L]``
        with ``T`` the generated length (the output re-tokenized,
        end-of-sequence included), counted as one teacher-forced decoder pass
        (LM head included) and multiplied by ``num_beams``.

        Parameters
        ----------
        X : sequence of str
            Source texts.
        swift_outputs, super_outputs : sequence of str, default=None
            Each model's outputs on ``X``, for the decoding FLOPs; None
            leaves that part at zero.

        Returns
        -------
        flops : Bunch
            Arrays of shape ``(n_samples,)``: ``swift_encoder``, ``head``,
            ``swift_decoder``, ``super_encoder``, ``super_decoder``.
        """
        from elang_sk._seq2seq_utils import (
            _decoder_features,
            _encoder_features,
            decoder_flops_model,
            encoder_flops_model,
            evaluate_polynomial,
            head_flops_model,
            make_head,
            tokenize,
        )

        check_is_fitted(self, "swift_model_")
        X = check_texts(X, "X", allow_empty_strings=False)
        memo = self.__dict__.setdefault("_flop_models", {})
        out = Bunch()
        for role, model, tok, outputs in (
            ("swift", self.swift_model_, self.tokenizer_, swift_outputs),
            ("super", self.super_model_, self.super_tokenizer_, super_outputs),
        ):
            if role not in memo:
                memo[role] = (
                    encoder_flops_model(model, self.device_),
                    decoder_flops_model(model, self.device_),
                )
            enc, dec = memo[role]
            beams = self.generation_kwargs_.get("num_beams") or (
                getattr(model.generation_config, "num_beams", None) or 1
            )
            L = np.array([len(s) for s in tokenize(tok, X, self.max_length)])
            out[f"{role}_encoder"] = evaluate_polynomial(
                enc, [_encoder_features(v) for v in L]
            )
            if outputs is None:
                out[f"{role}_decoder"] = np.zeros(len(X))
            else:
                T = [len(s) for s in tokenize(tok, list(outputs), 10**6, True)]
                out[f"{role}_decoder"] = beams * evaluate_polynomial(
                    dec, [_decoder_features(a, b) for a, b in zip(L, T, strict=True)]
                )
            if role == "swift":
                if "head" not in memo:
                    head = self.head_ or make_head(model, self.head_positions, 0)
                    memo["head"] = head_flops_model(head, self.device_)
                used = self.head_ is not None
                out.head = (
                    evaluate_polynomial(memo["head"], [[1.0, v] for v in L])
                    if used
                    else np.zeros(len(X))
                )
        return out

    # -- serving ----------------------------------------------------------------

    @property
    def threshold_selection_(self):
        """How ``threshold_`` was chosen: a :meth:`ThresholdSelector.select` Bunch."""
        check_is_fitted(self)
        cal = self.calibration_
        # The curve holds per-input qualities (mean sentence chrF); crossing
        # reads the right/wrong split.
        return as_selector(self.threshold).select(
            cal.scores, cal.swift_right, curve=self.curve_
        )

    def _routing(self, run):
        if self.head_ is not None:
            states, lengths, _ = run.states()
            return self._head_scores(states, lengths)
        if not self.score_.uses_logits:
            return self._decoder_or_random_scores(run, None)[0]
        swift_out, _ = run.generate("swift")
        return run.decoder_scores(swift_out)[0]

    def _serve(self, X):
        check_is_fitted(self)
        X = check_texts(X, "X", allow_empty_strings=False)
        run = self._runs(X)
        scores = self._routing(run)
        keep = scores >= self.threshold_
        out = np.empty(len(X), dtype=object)
        seconds = np.zeros(len(X))
        for role, rows in (
            ("swift", np.flatnonzero(keep)),
            ("super", np.flatnonzero(~keep)),
        ):
            if rows.size:
                out[rows], seconds[rows] = run.generate(role, rows)
        return out.astype(str), keep, scores, run, seconds

    def predict(self, X):
        """Translate with the Swift where it is trusted and the Super elsewhere.

        Parameters
        ----------
        X : sequence of str
            Source texts.

        Returns
        -------
        Y_pred : ndarray of str of shape (n_samples,)
            The Swift's outputs for the inputs it keeps, the Super's for the
            others. Each model decodes only its own inputs, in batches.
        """
        return self._serve(X)[0]

    def routing_scores(self, X):
        """Routing score of each input; the Swift keeps ``score >= threshold_``.

        With ``routing_source="head"`` only the Swift's encoder and the head
        run; with ``"decoder"`` the Swift decodes every input.

        Parameters
        ----------
        X : sequence of str
            Source texts.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means the input fits the Swift better.
        """
        check_is_fitted(self)
        return self._routing(self._runs(check_texts(X, "X", allow_empty_strings=False)))

    def served_by(self, X):
        """Which model serves each input (runs no decoder with the head).

        Parameters
        ----------
        X : sequence of str
            Source texts.

        Returns
        -------
        served_by : ndarray of str of shape (n_samples,)
            ``"swift"`` or ``"super"``.
        """
        return np.where(self.routing_scores(X) >= self.threshold_, "swift", "super")

    def head_logits(self, X):
        """The energy head's per-position vocabulary logits and position mask.

        Parameters
        ----------
        X : sequence of str
            Source texts.

        Returns
        -------
        logits : ndarray of shape (n_samples, head_positions, vocab_size)
            ``h_{m,i}(f_E(x))`` of eq. 9.
        mask : ndarray of bool of shape (n_samples, head_positions)
            The positions that count: up to the head's first predicted
            end-of-sequence token, included.
        """
        from elang_sk._seq2seq_utils import head_outputs

        check_is_fitted(self)
        if self.head_ is None:
            raise ValueError(
                "This JointSeq2Seq has no energy head: it routes with "
                f"routing_source={self.routing_source!r} and score "
                f"{self.score_!r}. Use routing_source='head' with a score that "
                "reads logits."
            )
        states, lengths, _ = self._runs(
            check_texts(X, "X", allow_empty_strings=False)
        ).states()
        logits, masks = [], []

        def consume(rows, batch_logits, mask):
            logits.append(batch_logits)
            masks.append(mask)

        head_outputs(
            self.head_,
            states,
            lengths,
            self.tokenizer_.eos_token_id,
            self.batch_size,
            consume,
        )
        return np.concatenate(logits), np.concatenate(masks)

    def score(self, X, Y):
        """Corpus quality of the joint translations (``metric``).

        Parameters
        ----------
        X : sequence of str
            Source texts.
        Y : sequence of str
            Reference translations.

        Returns
        -------
        score : float
            sacrebleu's corpus BLEU or chrF (0-100), or the exact-match rate.
        """
        Y_pred = self.predict(X)
        return corpus_quality(Y_pred, _check_pairs(Y_pred, Y), self.metric)

    def routing_report(self, X, Y=None):
        """Translate and account for what it cost (eq. 17).

        Parameters
        ----------
        X : sequence of str
            Source texts.
        Y : sequence of str, default=None
            References, for the quality.

        Returns
        -------
        report : Bunch
            ``y_pred``, ``served_by``, ``scores``, ``threshold``,
            ``n_samples``, ``n_swift``, ``n_super``, ``swift_ratio``,
            ``cost_per_input`` (eq. 17, from the lengths actually generated
            with FLOPs), ``swift_cost_per_input`` and ``super_cost_per_input``
            (each model alone, the calibration means: the models did not
            decode every input), ``speedup``, ``cost_unit``, ``wall_time``,
            and, with ``Y``, ``quality`` (``metric``) and ``metric``.
        """
        start = time.perf_counter()
        y_pred, keep, scores, run, seconds = self._serve(X)
        wall_time = time.perf_counter() - start
        if self.costs_.unit == "FLOPs":
            swift_out = np.where(keep, y_pred, None)
            super_out = np.where(keep, None, y_pred)
            flops = self.flops(
                run.X,
                [s or "" for s in swift_out],
                [s or "" for s in super_out],
            )
            router = flops.swift_encoder + flops.head
            if self.routing_source == "decoder":
                router = router + flops.swift_decoder
            cost = float(
                np.mean(
                    router
                    + np.where(
                        keep,
                        flops.swift_decoder * (self.routing_source == "head"),
                        flops.super_encoder + flops.super_decoder,
                    )
                )
            )
        else:
            cost = joint_cost(
                keep, self.costs_.swift, self.costs_.super, self.costs_.router
            )
        report = Bunch(
            y_pred=y_pred,
            served_by=np.where(keep, "swift", "super"),
            scores=scores,
            threshold=self.threshold_,
            n_samples=int(keep.size),
            n_swift=int(keep.sum()),
            n_super=int((~keep).sum()),
            swift_ratio=float(keep.mean()),
            cost_per_input=cost,
            swift_cost_per_input=self.costs_.swift,
            super_cost_per_input=self.costs_.super,
            speedup=self.costs_.super / cost if cost > 0 else float("inf"),
            cost_unit=self.costs_.unit,
            wall_time=wall_time,
        )
        if Y is not None:
            report.quality = corpus_quality(
                y_pred, _check_pairs(y_pred, Y), self.metric
            )
            report.metric = self.metric
        return report

    # -- scikit-learn protocol --------------------------------------------------

    def __sklearn_clone__(self):
        # Pre-trained models and tokenizers are shared, never deep-copied (as
        # FrozenEstimator): a copy of a large model is slow and doubles memory.
        params = self.get_params(deep=False)
        shared = {
            k: params.pop(k)
            for k in ("swift_model", "super_model", "tokenizer", "super_tokenizer")
        }
        params = {k: clone(v, safe=False) for k, v in params.items()}
        return type(self)(**shared, **params)

    def get_params(self, deep=True):
        # Models and tokenizers are not estimators: never recurse into them.
        return super().get_params(deep=False)

    def __repr__(self, N_CHAR_MAX=700):
        shown = BaseEstimator.__new__(type(self))
        shown.__dict__.update(self.get_params())
        for name in ("swift_model", "super_model", "tokenizer", "super_tokenizer"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | os.PathLike):
                shown.__dict__[name] = _ShortRepr(value)
        return BaseEstimator.__repr__(shown, N_CHAR_MAX=N_CHAR_MAX)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = True
        tags.non_deterministic = self.device != "cpu"
        return tags


class _ShortRepr:
    def __init__(self, obj):
        self.name = type(obj).__name__

    def __repr__(self):
        return f"<{self.name}>"


class _Runs:
    """The model runs of one call on one input set, cached per input.

    Encoder states, generated texts and decoder scores go through the
    ``memory`` cache (keyed by a digest of the model, tokenizer and settings)
    and are memoised for the call, so each model runs at most once per input.
    """

    def __init__(self, joint, X):
        from elang_sk._seq2seq_utils import tokenize

        self.joint = joint
        self.X = X
        self.cache = resolve_cache(joint.memory)
        self.keys = hash_inputs(X) if self.cache is not None else None
        self.ids = {
            "swift": tokenize(joint.tokenizer_, X, joint.max_length),
            "super": tokenize(joint.super_tokenizer_, X, joint.max_length),
        }
        self._memo = {}
        self._digests = {}

    def _digest(self, role, *extra):
        from elang_sk._seq2seq_utils import model_digest

        j = self.joint
        key = repr((role, extra))
        if key not in self._digests:
            model = j.swift_model_ if role == "swift" else j.super_model_
            tok = j.tokenizer_ if role == "swift" else j.super_tokenizer_
            self._digests[key] = model_digest(model, tok, j.max_length, *extra)
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
        """Encoder states (n, L, d), source lengths, and seconds per input."""
        from elang_sk._seq2seq_utils import encoder_states

        if "states" not in self._memo:
            j, ids = self.joint, self.ids["swift"]

            def compute(rows):
                return encoder_states(
                    j.swift_model_,
                    [ids[r] for r in rows],
                    j.tokenizer_.pad_token_id,
                    j.batch_size,
                    j.max_length,
                    j.device_,
                )

            states, seconds = self._cached(
                "encoder_states", None, compute, lambda: self._digest("swift")
            )
            lengths = np.array([len(s) for s in ids], dtype=np.int64)
            self._memo["states"] = states[:, : lengths.max()], lengths, seconds
        return self._memo["states"]

    def generate(self, role, rows=None):
        """Output texts of ``role`` on ``rows`` (all when None), and seconds."""
        from elang_sk._seq2seq_utils import generate

        if role in self._memo:
            out, sec = self._memo[role]
            return (out, sec) if rows is None else (out[rows], sec[rows])
        j, ids = self.joint, self.ids[role]
        model = j.swift_model_ if role == "swift" else j.super_model_
        tok = j.tokenizer_ if role == "swift" else j.super_tokenizer_
        kwargs = j.generation_kwargs_

        def compute(rows):
            return generate(
                model, tok, [ids[r] for r in rows], j.batch_size, j.device_, kwargs
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

    def decoder_scores(self, swift_out):
        """Score of the Swift decoder's logits on its own outputs, and seconds."""
        from elang_sk._seq2seq_utils import decoder_scores, tokenize

        j, ids = self.joint, self.ids["swift"]
        targets = tokenize(j.tokenizer_, list(swift_out), 10**6, True)

        def compute(rows):
            return decoder_scores(
                j.swift_model_,
                [ids[r] for r in rows],
                [targets[r] for r in rows],
                j.tokenizer_.pad_token_id,
                j.batch_size,
                j.device_,
                j.score_,
            )

        scores, sec = self._cached(
            "decoder_scores",
            None,
            compute,
            lambda: self._digest(
                "swift", sorted(j.generation_kwargs_.items()), repr(j.score_)
            ),
        )
        _, gen_sec = self.generate("swift")
        return np.asarray(scores, dtype=float), sec + gen_sec


# -- validation and metrics ------------------------------------------------------


def _check_pairs(Y_pred, Y):
    Y = check_texts(Y, "Y", allow_empty_strings=False)
    if len(Y) != len(Y_pred):
        raise ValueError(
            f"X and Y have different lengths: {len(Y_pred)} sources and {len(Y)} "
            "references. Pass one reference translation per source."
        )
    return Y


def _check_encoder_decoder(config, role, name):
    if not getattr(config, "is_encoder_decoder", False):
        raise ValueError(
            f"{role} must be an encoder-decoder model (config.is_encoder_decoder="
            f"True, e.g. T5, BART, Marian); got {name}. Decoder-only or "
            "encoder-only models have no encoder for the energy head."
        )


def _check_tokenizer(tokenizer, model, role):
    vocab = len(tokenizer)
    if vocab > model.config.vocab_size:
        raise ValueError(
            f"The {role} tokenizer does not match the {role} model: it has {vocab} "
            f"tokens but the model's vocabulary has {model.config.vocab_size}. Pass "
            f"the tokenizer the model was trained with"
            + (" (super_tokenizer=...)." if role == "super" else ".")
        )
    for name in ("pad_token_id", "eos_token_id"):
        if getattr(tokenizer, name) is None:
            raise ValueError(
                f"The {role} tokenizer has no {name[:-3]} token; encoder-decoder "
                "generation and the energy head's targets need one."
            )


def _check_costs(costs):
    if isinstance(costs, dict):
        unknown = set(costs) - _COST_KEYS
        if unknown or not {"swift", "super"} <= set(costs):
            raise ValueError(
                "costs as a dict needs the keys 'swift' and 'super' (and "
                f"optionally 'router'); got {sorted(costs)}."
            )
        for key, value in costs.items():
            if not isinstance(value, Real) or not value >= 0:
                raise ValueError(
                    f"costs[{key!r}] must be a non-negative number; got {value!r}."
                )


def _sentence_chrf(hypotheses, references):
    """Sentence-level chrF of every output, in [0, 1]."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    return np.array(
        [
            chrf.sentence_score(h, [r]).score / 100.0
            for h, r in zip(hypotheses, references, strict=True)
        ]
    )


def corpus_quality(hypotheses, references, metric="bleu"):
    """Corpus BLEU or chrF (sacrebleu, 0-100) or exact-match rate (0-1).

    Parameters
    ----------
    hypotheses : sequence of str
        System outputs.
    references : sequence of str
        One reference per output.
    metric : {"bleu", "chrf", "exact_match"}, default="bleu"
        The metric.

    Returns
    -------
    quality : float

    Examples
    --------
    >>> from elang_sk._seq2seq import corpus_quality
    >>> corpus_quality(["a b c d"], ["a b c d"], "bleu")
    100.0
    >>> corpus_quality(["a", "b"], ["a", "c"], "exact_match")
    0.5
    """
    if metric == "exact_match":
        return float(
            np.mean(
                [
                    h.strip() == r.strip()
                    for h, r in zip(hypotheses, references, strict=True)
                ]
            )
        )
    import sacrebleu

    if metric == "bleu":
        return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)
    if metric == "chrf":
        return float(sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score)
    raise ValueError(f"metric must be one of {_METRICS}; got {metric!r}.")
