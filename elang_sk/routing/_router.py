"""EnergyRouter: the decision-making module of E-LANG."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from elang_sk.routing._head import fit_linear_head
from elang_sk.routing._scores import SCORES, BaseScore, get_score


class EnergyRouter(BaseEstimator):
    """Score how well each input fits the Swift model; higher means "keep it".

    The router turns what the Swift exposes into one routing score per input.
    It works in one of two modes:

    * **logits** (``head=False``): ``X`` are the Swift's own logits and the
      score is computed from them directly (eq. 4 and 7 of the E-LANG paper,
      for encoder classifiers such as BERT).
    * **energy head** (``head=True``): ``X`` are frozen Swift features (for
      T5-like models the last hidden state of the encoder; for a scikit-learn
      :class:`~sklearn.pipeline.Pipeline` the output of every step but the
      last) and ``fit`` trains a linear ``C``-class head on them with the
      labels ``y``; the score is computed from the head's logits (eq. 8).
      The Swift itself is never retrained.

    .. note::
       What a linear head trained by cross-entropy cannot learn is the *sum*
       of its logits: the gradient of the cross-entropy with respect to the
       logits sums to zero over the classes, and the L2 penalty pulls the
       weights' class-sum to zero. With two classes the logits are therefore
       ``c +- d/2`` and the energy ``c + log(2 cosh(d/2))`` ranks inputs
       exactly like the softmax confidence. With more classes energy and
       softmax differ (logsumexp weighs every logit, softmax only the
       largest). Logits whose sum carries information come from models whose
       features were trained with their head, e.g. a fine-tuned Swift's own
       ``predict_logits``.

    Inside a :class:`JointClassifier` the mode is chosen from what the Swift
    exposes (see :class:`JointClassifier`); used alone, ``head="auto"`` trains
    a head exactly when ``y`` is passed to :meth:`fit`.

    Parameters
    ----------
    score_func : {"energy", "softmax", "entropy", "random"} or BaseScore, \
            default="energy"
        The routing score. A string is a shortcut for the score object with
        default parameters, e.g. ``EnergyScore(temperature=1.0)``. (Named like
        :class:`~sklearn.feature_selection.SelectKBest`'s ``score_func``: a
        parameter never takes the name of an estimator method.)
    head : bool or "auto", default="auto"
        Whether to train an energy head on features (True) or read ``X`` as
        logits (False); ``"auto"`` trains a head when ``y`` is given.
    alpha : float, default=1e-4
        L2 penalty of the energy head's weights.
    max_iter : int, default=500
        Maximum L-BFGS iterations of the energy head.

    Attributes
    ----------
    score_ : BaseScore
        The fitted copy of the score component.
    head_ : bool
        Whether an energy head was trained.
    classes_ : ndarray of shape (n_classes,)
        Labels of the head's logits (only when ``head_`` is True).
    coef_ : ndarray of shape (n_classes, n_features)
        Weights of the energy head (only when ``head_`` is True).
    intercept_ : ndarray of shape (n_classes,)
        Intercepts of the energy head (only when ``head_`` is True).
    n_features_in_ : int
        Number of logits or features seen during :meth:`fit`.

    See Also
    --------
    JointClassifier : Uses a router to split inputs between Swift and Super.
    ThresholdSelector : Chooses the threshold on the router's scores.

    Examples
    --------
    Route on the Swift's own logits:

    >>> import numpy as np
    >>> from elang_sk import EnergyRouter
    >>> logits = np.array([[4.0, -1.0], [0.2, 0.1], [-3.0, 5.0]])
    >>> EnergyRouter(score_func="energy").fit(logits).score_samples(logits).round(2)
    array([4.01, 0.84, 5.  ])

    Or train an energy head on frozen features:

    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> router = EnergyRouter(head=True).fit(X, y)
    >>> router.score_samples(X).shape
    (200,)
    """

    _parameter_constraints = {
        "score_func": [StrOptions(set(SCORES)), BaseScore],
        "head": ["boolean", StrOptions({"auto"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, score_func="energy", head="auto", alpha=1e-4, max_iter=500):
        self.score_func = score_func
        self.head = head
        self.alpha = alpha
        self.max_iter = max_iter

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the energy head (if any) and freeze the score component.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or \
                (n_samples, n_positions, n_classes)
            Swift features (head mode) or logits.
        y : array-like of shape (n_samples,), default=None
            Labels; required to train an energy head.

        Returns
        -------
        self : EnergyRouter
            The fitted router.
        """
        self.score_ = clone(get_score(self.score_func))
        head = y is not None if self.head == "auto" else bool(self.head)
        if head and y is None:
            raise ValueError(
                "EnergyRouter(head=True) requires y to be passed, but the target y "
                "is None: the energy head is trained on labels. Call fit(X, y), or "
                "use head=False to score X as logits."
            )
        self.head_ = head and self.score_.uses_logits
        if self.head_:
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse="csr",
                dtype=np.float64,
                ensure_all_finite=False,
            )
            _check_finite(X)
            check_classification_targets(y)
            self.classes_, y_index = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(
                    "The energy head needs at least two classes in y; got 1 class: "
                    f"{self.classes_.tolist()}."
                )
            coef, self.intercept_, self.n_iter_ = fit_linear_head(
                X,
                y_index,
                len(self.classes_),
                alpha=self.alpha,
                max_iter=self.max_iter,
            )
            self.coef_ = np.ascontiguousarray(coef.T)
        else:
            self._validate_logits(X, reset=True)
        return self

    def _validate_logits(self, X, reset):
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            allow_nd=True,
            dtype="numeric",
            reset=reset,
            ensure_all_finite=False,
        )
        # Logits are small and dense by nature; sparse input is densified.
        return _check_finite(X.toarray() if hasattr(X, "toarray") else X)

    def predict_logits(self, X):
        """Return the logits the score is computed from.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or \
                (n_samples, n_positions, n_classes)
            Swift features (head mode) or logits.

        Returns
        -------
        logits : ndarray of shape (n_samples, n_classes) or \
                (n_samples, n_positions, n_classes)
            The head's logits, or ``X`` itself in logits mode.
        """
        check_is_fitted(self)
        if self.head_:
            X = validate_data(
                self,
                X,
                accept_sparse="csr",
                dtype=np.float64,
                reset=False,
                ensure_all_finite=False,
            )
            return np.asarray(_check_finite(X) @ self.coef_.T) + self.intercept_
        return self._validate_logits(X, reset=False)

    # -- the router contract: what every router offers the joint estimators ----

    def input_score(self):
        """The score whose needs decide which Swift output this router reads.

        A joint estimator asks it, before fitting the router, whether the
        router needs real logits (energy), any per-class scores (softmax,
        entropy) or nothing (random).

        Returns
        -------
        score : BaseScore
            An unfitted score.

        Examples
        --------
        >>> from elang_sk import EnergyRouter
        >>> EnergyRouter("entropy").input_score()
        EntropyScore()
        """
        return get_score(self.score_func)

    def routing_target(self, y, swift_right, next_right):
        """What ``fit`` learns on the calibration data, or None.

        Every router is fitted by the joint estimators through this one
        method: a target means the router is trained on it (out of fold for
        the calibration scores, with ``cross_fit_scores``); None means it
        has nothing to learn and is fitted on its input alone.

        Parameters
        ----------
        y : ndarray of shape (n_samples,)
            The true labels of the calibration inputs.
        swift_right, next_right : ndarray of bool of shape (n_samples,)
            Whether the routed stage and the next one are right on each input.

        Returns
        -------
        target : ndarray of shape (n_samples,) or None
            ``y`` for an energy head (``head=True``), else None.

        Examples
        --------
        >>> from elang_sk import EnergyRouter
        >>> EnergyRouter(head=False).routing_target([0, 1], [True, False],
        ...                                         [True, True]) is None
        True
        """
        return np.asarray(y) if self.head is True else None

    def score_samples(self, X, mask=None):
        """Routing score of each input; the Swift keeps inputs with ``score >= t``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or \
                (n_samples, n_positions, n_classes)
            Swift features (head mode) or logits.
        mask : array-like of shape (n_samples, n_positions), default=None
            Real positions of 3-D per-position logits.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means the input fits the Swift better.
        """
        if mask is None and self._plain_rows(X):
            # Serving fast path, same arithmetic as predict_logits: its
            # validate_data and fitted checks cost more than scoring one
            # input. Anything unusual takes the checked path below.
            if self.head_:
                X = X @ self.coef_.T + self.intercept_
            return self.score_(X)
        check_is_fitted(self)
        if not self.score_.uses_logits:
            return self.score_(np.empty((len(_as_rows(X)), 1)))
        return self.score_(self.predict_logits(X), mask)

    def _plain_rows(self, X):
        """Whether ``X`` is a finite float64 matrix of the fitted router's width."""
        return (
            type(self).predict_logits is EnergyRouter.predict_logits
            and hasattr(self, "score_")
            and self.score_.uses_logits
            and isinstance(X, np.ndarray)
            and X.dtype == np.float64
            and X.ndim == 2
            and X.shape[1] == getattr(self, "n_features_in_", -1)
            and np.isfinite(X).all()
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = self.head is True
        return tags


def cross_fit_scores(router, X, y, cv):
    """Out-of-fold routing scores: each row scored by a router not fit on it.

    Parameters
    ----------
    router : estimator
        An unfitted router with ``fit(X, y)`` and ``score_samples(X)``.
    X : array-like of shape (n_samples, n_features)
        The router's input.
    y : array-like of shape (n_samples,)
        Its training target; folds are stratified on it.
    cv : int, cross-validation generator or None
        None (or fewer than two rows of the rarest target value) trains and
        scores on the same rows.

    Returns
    -------
    scores : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk import DeferralRouter
    >>> from elang_sk.routing._router import cross_fit_scores
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(60, 3))
    >>> target = (rng.random(60) < 0.3).astype(float)
    >>> cross_fit_scores(DeferralRouter(), logits, target, cv=3).shape
    (60,)
    """
    y = np.asarray(y)
    if isinstance(cv, Integral):
        # Every fold needs every target value; tiny data gets fewer folds.
        cv = min(cv, np.unique(y, return_counts=True)[1].min())
    if cv is None or (isinstance(cv, Integral) and cv < 2):
        return clone(router).fit(X, y).score_samples(X)
    scores = np.empty(len(y))
    classifier = type_of_target(y) in ("binary", "multiclass")
    for train, test in check_cv(cv, y, classifier=classifier).split(X, y):
        fold = clone(router).fit(_safe_indexing(X, train), y[train])
        scores[test] = fold.score_samples(_safe_indexing(X, test))
    return scores


def _check_finite(X):
    """``X`` itself if every value is finite, else a ValueError saying where."""
    values = X.data if hasattr(X, "data") and hasattr(X, "indptr") else X
    finite = np.isfinite(values)
    if not finite.all():
        rows = np.flatnonzero(~finite.reshape(len(values), -1).all(axis=1))
        if hasattr(X, "indptr"):  # sparse: map stored values back to rows
            rows = np.unique(np.searchsorted(X.indptr, rows, side="right") - 1)
        raise ValueError(
            f"The router's input contains NaN or infinite values in {rows.size} "
            f"row(s) (first: {rows[:5].tolist()}). These are the Swift's logits "
            "or features: check the Swift model (NaN weights, a float16 overflow; "
            "run it in float32) or drop the inputs it cannot score."
        )
    return X


def _as_rows(X):
    return X if hasattr(X, "shape") else np.asarray(X)
