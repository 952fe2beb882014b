"""JointSeq2Seq: E-LANG joint inference of a Swift and a Super encoder-decoder.

The estimator only: the models' batched passes live in
:mod:`elang_sk.hf._seq2seq_models`, the energy head in :mod:`elang_sk.hf._seq2seq_head`,
the cached runs of one call in :mod:`elang_sk.hf._seq2seq_runs` and the FLOP
counts in :mod:`elang_sk.hf._seq2seq_flops`; fitting, serving and the eq. 17
report are :class:`elang_sk.joint._base.BaseJoint`'s.
"""

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from elang_sk._cache import MEMORY_CONSTRAINTS, timed_compute
from elang_sk._repr import repr_with_short_objects
from elang_sk._validation import check_state_keys, check_texts
from elang_sk.hf._seq2seq_flops import flop_costs, joint_flops, seconds_costs
from elang_sk.hf._seq2seq_head import (
    cross_fit_head,
    head_from_state,
    head_outputs,
    head_scores,
    head_state,
    head_targets,
)
from elang_sk.hf._seq2seq_models import load_model
from elang_sk.hf._seq2seq_runs import Seq2SeqRuns
from elang_sk.hf._torch_utils import resolve_device
from elang_sk.joint._base import (
    CALIBRATION_STATE_KEYS,
    BaseJoint,
    make_router,
)
from elang_sk.metrics import QUALITY_METRICS, corpus_quality, sentence_chrf
from elang_sk.routing._router import EnergyRouter
from elang_sk.routing._scores import SCORES, BaseScore
from elang_sk.routing._threshold import STRATEGIES, ThresholdSelector

_SHARED = ("swift_model", "super_model", "tokenizer", "super_tokenizer")


class JointSeq2Seq(BaseJoint):
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
        ``score_func`` (its own head is for 2-D features only).
        ``router__score_func`` can be searched over when ``router`` is a
        name or an :class:`EnergyRouter`.
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
        The routing threshold, or how to choose it on the fitting data. A
        strategy is chosen once, in ``fit``. ``set_params(threshold=...)`` on
        a fitted model takes effect at once, without refitting. NaN and
        booleans are refused.
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
    trust_remote_code : bool, default=False
        Whether a model given as a name or folder may run the Python code it
        ships (transformers' ``trust_remote_code``). Off by default: loading
        then runs no code from the folder and reads safetensors weights only.
        Turn it on only for a folder whose code you have read.

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
        The threshold in use: ``threshold`` itself if it is a number, else the
        one selected on the calibration data in ``fit``.
    threshold_selection_ : Bunch
        How it was selected (:meth:`ThresholdSelector.select`).
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
    >>> from elang_sk import JointSeq2Seq
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
        "threshold": [
            Interval(Real, None, None, closed="both"),
            StrOptions(set(STRATEGIES)),
            ThresholdSelector,
        ],
        "quality_margin": [Interval(Real, 0, 1, closed="both")],
        "generation_kwargs": [None, dict],
        "metric": [StrOptions(set(QUALITY_METRICS))],
        "head_epochs": [Interval(Integral, 1, None, closed="left")],
        "head_lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_length": [Interval(Integral, 2, None, closed="left")],
        "device": [str],
        "memory": MEMORY_CONSTRAINTS,
        "costs": [StrOptions({"auto", "time", "flops"}), dict],
        "cv": ["cv_object"],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "trust_remote_code": ["boolean"],
    }
    _sub_models = ("swift_model", "super_model")
    _shared_params = ("tokenizer", "super_tokenizer")

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
        trust_remote_code=False,
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
        self.trust_remote_code = trust_remote_code

    # -- fitting ----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, Y=None):
        """Train the energy head and choose the threshold on held-out pairs.

        Parameters
        ----------
        X : sequence of str
            Source texts.
        Y : sequence of str, default=None
            Reference translations, one per source. None calibrates without
            references, against the Super's own outputs: the Swift's quality
            is its sentence chrF against the Super's output, the head learns
            to predict the Super's tokens, and ``"risk_control"`` certifies
            the quality lost against the Super. ``calibrated_on_`` says which.

        Returns
        -------
        self : JointSeq2Seq
            The fitted joint model.
        """
        self._check_params()
        X = self._check_inputs(X)
        if Y is not None:
            Y = _check_references(len(X), Y)
        self._load()
        self.score_ = self._make_score()
        self.generation_kwargs_ = dict(
            self.generation_kwargs or {"max_new_tokens": self.max_length}
        )
        self._flop_memo = {}
        run = self._start(X)
        swift_out, swift_sec = run.generate("swift")
        super_out, super_sec = run.generate("super")
        self.calibrated_on_ = "labels" if Y is not None else "last_stage"
        if Y is None:  # the Super's outputs are the references
            Y = [str(text) for text in super_out]
            swift_q, super_q = sentence_chrf(swift_out, Y), np.ones(len(X))
        else:
            swift_q, super_q = sentence_chrf(swift_out, Y), sentence_chrf(super_out, Y)

        self.head_ = None
        if self.routing_source == "head" and self.score_.uses_logits:
            states, lengths, router_sec = run.states()
            scores, self.head_ = cross_fit_head(
                self.swift_model_,
                states,
                lengths,
                head_targets(self.tokenizer_, Y, self.head_positions, self.max_length),
                self.score_,
                self.tokenizer_.eos_token_id,
                self.cv,
                epochs=self.head_epochs,
                lr=self.head_lr,
                batch_size=self.batch_size,
                seed=self.random_state,
            )
            head_sec = timed_compute(lambda s: self._head_scores(s, lengths), states)[1]
            router_sec = router_sec + head_sec
        else:
            scores, router_sec = self._scores_without_head(run)

        costs = self._given_costs(len(X))
        if costs is None:
            costs = self._measured_costs(run, router_sec, swift_sec, super_sec)
        self._finish_fit(
            np.asarray(scores, dtype=np.float64)[None, :],
            np.stack([swift_q, super_q]),
            np.stack([swift_q >= super_q - self.quality_margin, np.ones(len(X), bool)]),
            costs,
        )
        self.calibration_.update(swift_outputs=swift_out, super_outputs=super_out)
        return self

    def _load(self):
        self.device_ = resolve_device(self.device)
        self.swift_model_, self.tokenizer_ = load_model(
            self.swift_model,
            self.tokenizer,
            "swift",
            self.device_,
            trust_remote_code=self.trust_remote_code,
        )
        self.super_model_, self.super_tokenizer_ = load_model(
            self.super_model,
            self.super_tokenizer,
            "super",
            self.device_,
            fallback_tokenizer=self.tokenizer_,
            trust_remote_code=self.trust_remote_code,
        )

    def _make_score(self):
        if isinstance(self.router, BaseScore):
            score = clone(self.router)
        else:
            score = clone(make_router(self.router).input_score())
        if self.aggregate is not None and "aggregate" in score.get_params():
            score.set_params(aggregate=self.aggregate)
        return score

    def _models(self):
        return {
            "swift": (self.swift_model_, self.tokenizer_),
            "super": (self.super_model_, self.super_tokenizer_),
        }

    def _head_scores(self, states, lengths):
        return head_scores(
            self.head_,
            states,
            lengths,
            self.tokenizer_.eos_token_id,
            self.batch_size,
            self.score_,
        )

    def _scores_without_head(self, run):
        """Scores and seconds of the decoder ablation, or of a random score."""
        if not self.score_.uses_logits:
            return self.score_(np.zeros((len(run.X), 1))), np.zeros(len(run.X))
        return run.decoder_scores(self.score_)

    # -- costs ------------------------------------------------------------------

    def _measured_costs(self, run, router_sec, swift_sec, super_sec):
        """Per-input costs of the calibration run: seconds, or FLOPs."""
        if self.costs == "time":
            return seconds_costs(router_sec, swift_sec, super_sec, self.routing_source)
        swift_out, super_out = run.generate("swift")[0], run.generate("super")[0]
        return self._flop_costs(self.flops(run.X, swift_out, super_out))

    def _flop_costs(self, flops):
        return flop_costs(flops, self.routing_source)

    def flops(self, X, swift_outputs=None, super_outputs=None):
        """FLOPs per input of every part of joint inference.

        Counted with :class:`torch.utils.flop_counter.FlopCounterMode`. Every
        count is a polynomial in the lengths (linear layers grow with a
        length, attention with a product of two), so each part is counted on
        a few lengths once per fitted model and the exact coefficients are
        solved for: the encoder and the head in ``[1, L, L^2]`` of the source
        length ``L`` (checked on a fourth length, as
        :class:`TransformerClassifier` counts), decoding in
        ``[1, T, T^2, L T, L]`` with ``T`` the generated length (the output
        re-tokenized, end-of-sequence included), counted as one
        teacher-forced decoder pass (LM head included) and multiplied by
        ``num_beams``.

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
        check_is_fitted(self, "swift_model_")
        X = self._check_inputs(X)
        outputs = {
            "swift": _check_outputs(len(X), swift_outputs, "swift_outputs"),
            "super": _check_outputs(len(X), super_outputs, "super_outputs"),
        }
        return joint_flops(
            X,
            self._models(),
            outputs,
            self.head_,
            max_length=self.max_length,
            generation_kwargs=self.generation_kwargs_,
            device=self.device_,
            memo=self.__dict__.setdefault("_flop_memo", {}),
        )

    # -- the hooks of BaseJoint -------------------------------------------------

    def _stage_names(self):
        return ["swift", "super"]

    def _check_inputs(self, X):
        return check_texts(X, "X", allow_empty_strings=False)

    def _start(self, X):
        return Seq2SeqRuns(
            X,
            self._models(),
            memory=self.memory,
            max_length=self.max_length,
            batch_size=self.batch_size,
            device=self.device_,
            generation_kwargs=self.generation_kwargs_,
        )

    def _stage_scores(self, run, k, rows):
        # The Swift is the only gate, and the first stage sees every row.
        if self.head_ is not None:
            states, lengths, _ = run.states()
            scores = self._head_scores(states, lengths)
        else:
            scores = self._scores_without_head(run)[0]
        return scores if rows is None else scores[rows]

    def _stage_answer(self, run, k, rows, method):
        return run.generate(("swift", "super")[k], rows)[0]

    def _call_costs(self, run, stage, y_pred):
        if self.costs_.unit != "FLOPs":
            costs = self._mean_costs(len(stage))
            # Each model alone: the calibration means.
            costs.alone = self.costs_.stage_full
            return costs
        # One count serves the joint cost and each model alone. The joint
        # cost reads a model's decoding only on the inputs it answered (the
        # whole Swift with the decoder ablation), where these outputs are its
        # own: the lengths actually generated. Each model alone, for the
        # speed-up, is counted on these inputs: the encoders exactly, and a
        # decoder that did not run on an input on the length of the output it
        # was spared (the other model's), the closest guess of its own. The
        # calibration means would compare another set of inputs: longer
        # inputs than dev's would look slow.
        if self.routing_source == "decoder":
            swift_out = run.generate("swift")[0]
        else:
            swift_out = y_pred
        flops = self.flops(run.X, swift_out, y_pred)
        costs = self._flop_costs(flops)
        costs.alone = np.array(
            [
                float(np.mean(flops.swift_encoder + flops.swift_decoder)),
                float(np.mean(flops.super_encoder + flops.super_decoder)),
            ]
        )
        return costs

    def _report_quality(self, y_pred, Y):
        Y = _check_references(len(y_pred), Y)
        return {
            "quality": corpus_quality(list(y_pred), Y, self.metric),
            "metric": self.metric,
        }

    # -- serving ----------------------------------------------------------------

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
        return self._serve(X, "predict")[0].astype(str)

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
        report : RoutingReport
            ``y_pred``, ``served_by``, ``scores``, ``threshold``,
            ``n_samples``, ``n_swift``, ``n_super``, ``swift_ratio``,
            ``cost_per_input`` (eq. 17, from the lengths actually generated
            with FLOPs), ``swift_cost_per_input`` and ``super_cost_per_input``
            (each model alone on these inputs: with FLOPs the encoders
            exactly, and a decoder on the length of the other model's output
            where it did not decode; with other costs, the calibration
            means), ``speedup`` (``super_cost_per_input`` over
            ``cost_per_input``), ``cost_unit``, ``wall_time``, and, with
            ``Y``, ``quality`` (``metric``) and ``metric``.
        """
        return super().routing_report(X, Y)

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
        check_is_fitted(self, "calibration_")
        X = self._check_inputs(X)
        Y = _check_references(len(X), Y)
        return corpus_quality(list(self.predict(X)), Y, self.metric)

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
        check_is_fitted(self, "calibration_")
        if self.head_ is None:
            raise ValueError(
                "This JointSeq2Seq has no energy head: it routes with "
                f"routing_source={self.routing_source!r} and score "
                f"{self.score_!r}. Use routing_source='head' with a score that "
                "reads logits."
            )
        states, lengths, _ = self._start(self._check_inputs(X)).states()
        batches = list(
            head_outputs(
                self.head_,
                states,
                lengths,
                self.tokenizer_.eos_token_id,
                self.batch_size,
            )
        )
        return (
            np.concatenate([logits for _, logits, _ in batches]),
            np.concatenate([mask for _, _, mask in batches]),
        )

    # -- the fitted state, for save_joint / load_joint ------------------------------

    @classmethod
    def model_params(cls, models):
        """The constructor parameters that hold the loaded models and tokenizers.

        Parameters
        ----------
        models : dict
            ``{"swift": (model, tokenizer), "super": (model, tokenizer)}``.

        Returns
        -------
        params : dict

        Examples
        --------
        >>> from elang_sk import JointSeq2Seq
        >>> sorted(JointSeq2Seq.model_params({"swift": (1, 2), "super": (3, 4)}))
        ['super_model', 'super_tokenizer', 'swift_model', 'tokenizer']
        """
        (swift, tok), (big, super_tok) = models["swift"], models["super"]
        return {
            "swift_model": swift,
            "super_model": big,
            "tokenizer": tok,
            "super_tokenizer": super_tok,
        }

    def fitted_state(self):
        """The fitted state that :func:`save_joint` writes, as plain data.

        Returns
        -------
        state : dict
            ``models`` (``{"swift": (model, tokenizer), "super": ...}``),
            ``score`` (the fitted routing score), ``generation_kwargs``,
            ``head`` (None, or ``{"spec": ..., "tensors": ...}`` of the
            sequence energy head), ``calibration`` (the per-stage arrays),
            ``costs``, ``selection`` and ``outputs`` (each model's outputs
            on the calibration inputs).

        Examples
        --------
        >>> from elang_sk import JointSeq2Seq
        >>> JointSeq2Seq("swift", "super").fitted_state()
        Traceback (most recent call last):
        ...
        sklearn.exceptions.NotFittedError: ...
        """
        check_is_fitted(self, "calibration_")
        head = None if self.head_ is None else head_state(self.head_)
        return {
            "models": self._models(),
            "score": self.score_,
            "generation_kwargs": dict(self.generation_kwargs_),
            "head": head,
            "outputs": {
                role: np.asarray(self.calibration_[f"{role}_outputs"]).tolist()
                for role in ("swift", "super")
            },
            **self._calibration_state(),
        }

    def restore_fitted_state(self, state):
        """Make this estimator the fitted one ``state`` describes (see fitted_state).

        Checked as ``fit`` makes it: both models and tokenizers, a routing
        score, JSON generation arguments, a head whose tensors match its
        spec exactly, and a consistent calibration.

        Parameters
        ----------
        state : dict
            As returned by :meth:`fitted_state`.

        Returns
        -------
        self : JointSeq2Seq

        Examples
        --------
        >>> from elang_sk import JointSeq2Seq
        >>> try:
        ...     JointSeq2Seq("swift", "super").restore_fitted_state({})
        ... except ValueError as exc:
        ...     print(str(exc)[:33])
        The fitted state of a JointSeq2Se
        """
        keys = (
            "models",
            "score",
            "generation_kwargs",
            "head",
            "outputs",
            *CALIBRATION_STATE_KEYS,
        )
        state = check_state_keys(state, keys, "JointSeq2Seq")
        if sorted(state["models"]) != ["super", "swift"]:
            raise ValueError("The saved state needs a 'swift' and a 'super' model.")
        if not isinstance(state["score"], BaseScore):
            raise ValueError(
                f"The saved routing score is a {type(state['score']).__name__}, "
                "not a score."
            )
        self.device_ = resolve_device(self.device)
        (swift, tok), (big, super_tok) = (
            state["models"]["swift"],
            state["models"]["super"],
        )
        self.swift_model_, self.tokenizer_ = swift.to(self.device_).eval(), tok
        self.super_model_ = big.to(self.device_).eval()
        self.super_tokenizer_ = super_tok
        self.score_ = state["score"]
        self.generation_kwargs_ = dict(state["generation_kwargs"])
        self._flop_memo = {}
        self.head_ = None
        if state["head"] is not None:
            self.head_ = head_from_state(state["head"], self.device_)
        self._restore_calibration(state)
        n = self.calibration_.stage_scores.shape[1]
        for role in ("swift", "super"):
            outputs = np.asarray(state["outputs"][role], dtype=str)
            if outputs.shape != (n,):
                raise ValueError(
                    f"The saved {role} outputs are not one text per calibration input."
                )
            self.calibration_[f"{role}_outputs"] = outputs
        return self

    # -- scikit-learn protocol --------------------------------------------------

    def __repr__(self, N_CHAR_MAX=700):
        return repr_with_short_objects(self, _SHARED, N_CHAR_MAX=N_CHAR_MAX)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # X is a 1-d sequence of texts; Y (the references) is required.
        tags.input_tags.string = True
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = True
        tags.non_deterministic = self.device != "cpu"
        return tags


def _check_references(n, Y):
    Y = check_texts(Y, "Y", allow_empty_strings=False)
    if len(Y) != n:
        raise ValueError(
            f"X and Y have different lengths: {n} sources and {len(Y)} "
            "references. Pass one reference translation per source."
        )
    return Y


def _check_outputs(n, outputs, name):
    if outputs is None:
        return None
    outputs = check_texts(outputs, name)
    if len(outputs) != n:
        raise ValueError(
            f"X and {name} have different lengths: {n} sources and "
            f"{len(outputs)} outputs. Pass one output per source."
        )
    return outputs
