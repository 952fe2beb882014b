"""DeferralRouter: a routing score learned from where deferring pays.

Post-hoc deferral (Jitkrittum et al., "When Does Confidence-Based Cascade
Deferral Suffice?", NeurIPS 2023): instead of trusting one confidence score,
train a small model on statistics of the Swift's logits to predict, per input,
whether sending it to the larger model helps. Its calibration scores must be
out-of-fold (``cross_fit_scores``): a threshold chosen on the deferral
model's own training rows would be chosen on scores that are too good.
"""

import numpy as np
from sklearn.base import _fit_context, clone, is_classifier, is_regressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from elang_sk.routing._router import EnergyRouter, _check_finite
from elang_sk.routing._scores import EnergyScore, EntropyScore, SoftmaxScore

#: Names of the columns of :func:`logit_statistics`.
STATISTICS = ("max_softmax", "margin", "energy", "neg_entropy")


def logit_statistics(logits):
    """The Swift's confidence statistics per input: the deferral model's features.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        The Swift's logits (at least two classes).

    Returns
    -------
    statistics : ndarray of shape (n_samples, 4)
        Columns (``STATISTICS``): maximum softmax probability, margin
        between the two largest logits, energy (logsumexp) and negative
        entropy of the softmax.

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk import logit_statistics
    >>> logit_statistics(np.array([[2.0, 0.0], [0.0, 0.0]])).round(3)
    array([[ 0.881,  2.   ,  2.127, -0.365],
           [ 0.5  ,  0.   ,  0.693, -0.693]])
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(
            "logit_statistics needs 2-D logits with at least two classes, of shape "
            f"(n_samples, n_classes); got shape {logits.shape}."
        )
    top2 = np.sort(logits, axis=1)[:, -2:]
    return np.column_stack(
        [
            SoftmaxScore()(logits),
            top2[:, 1] - top2[:, 0],
            EnergyScore()(logits),
            EntropyScore()(logits),
        ]
    )


def _check_finite_target(y):
    """Refuse a deferral target with NaN or infinite values, naming the rows."""
    values = np.asarray(y)
    if values.dtype.kind != "f" or np.isfinite(values).all():
        return
    rows = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
    raise ValueError(
        f"DeferralRouter's y (the deferral target) has NaN or infinite values in "
        f"{rows.size} row(s) (first: {rows[:5].tolist()}). Build it with "
        "deferral_target(swift_right, super_right), or drop the rows whose "
        "qualities are missing."
    )


class DeferralRouter(EnergyRouter):
    """A learned routing score: predicts from the Swift's logits where deferring pays.

    A small model is trained on :func:`logit_statistics` of the Swift's
    logits to predict the *deferral target* of each input: whether the larger
    model fixes a Swift error (``target="fixes"``), or the paired gain
    ``super_right - swift_right`` in {-1, 0, 1} (``target="gain"``). The
    routing score is minus the predicted gain, so that, as for every score,
    the Swift keeps inputs with ``score >= threshold``. This is post-hoc
    deferral (Jitkrittum et al., NeurIPS 2023).

    It is interchangeable with :class:`EnergyRouter`: pass it as
    ``JointClassifier(router=...)`` or in ``CascadeClassifier(routers=...)``;
    they compute the target from both models' answers on the calibration data
    (:meth:`deferral_target`), train it on out-of-fold folds
    (``cross_fit_scores``) so that the threshold is chosen on scores of
    rows it was not trained on, and refit it on all of them for serving.
    Used alone, ``fit(logits, target)`` takes the target directly.

    Parameters
    ----------
    estimator : estimator or None, default=None
        The deferral model, trained on the four statistics. A classifier's
        score is ``-predict_proba @ classes_`` (minus the expected gain), a
        regressor's ``-predict``; anything else (e.g. a clusterer), or a
        classifier without ``predict_proba``, is refused by :meth:`fit`.
        None: standardised logistic regression for
        a discrete target, ridge regression for a real-valued one (e.g. a
        difference of per-input quality scores).
    target : {"fixes", "gain"}, default="fixes"
        The target :meth:`deferral_target` builds from the models' answers.
    head : bool, default=False
        Kept for the router interface: the deferral model reads the Swift's
        logits, so only False is supported.

    Attributes
    ----------
    estimator_ : estimator or None
        The fitted deferral model; None when the target took a single value.
    constant_ : float or None
        The gain predicted for every input when the target took one value.
    head_ : bool
        Always False.
    n_features_in_ : int
        Number of logit columns seen during :meth:`fit`.

    See Also
    --------
    EnergyRouter : The energy and confidence scores.
    logit_statistics : The deferral model's features.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from elang_sk import DeferralRouter, JointClassifier
    >>> X, y = make_classification(n_samples=1200, n_informative=6,
    ...                            n_classes=3, random_state=0)
    >>> swift = LogisticRegression().fit(X[:600], y[:600])
    >>> big = RandomForestClassifier(random_state=0).fit(X[:600], y[:600])
    >>> clf = JointClassifier(swift, big, router=DeferralRouter(),
    ...                       threshold="crossing").fit(X[600:900], y[600:900])
    >>> 0 < clf.routing_report(X[900:], y[900:]).swift_ratio < 1
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "target": [StrOptions({"fixes", "gain"})],
        "head": ["boolean"],
    }

    def __init__(self, estimator=None, *, target="fixes", head=False):
        self.estimator = estimator
        self.target = target
        self.head = head

    def deferral_target(self, swift_right, super_right):
        """The per-input target the router learns, from both models' correctness.

        Parameters
        ----------
        swift_right, super_right : array-like of bool of shape (n_samples,)
            Whether the Swift (the model that would keep the input) and the
            larger model are right on each input.

        Returns
        -------
        target : ndarray of float of shape (n_samples,)
            1 where the larger model fixes a Swift error (``"fixes"``), or
            ``super_right - swift_right`` (``"gain"``).

        Examples
        --------
        >>> from elang_sk import DeferralRouter
        >>> DeferralRouter(target="gain").deferral_target(
        ...     [True, False, True], [True, True, False]
        ... ).tolist()
        [0.0, 1.0, -1.0]
        """
        swift_right = np.asarray(swift_right, dtype=bool)
        super_right = np.asarray(super_right, dtype=bool)
        if self.target == "fixes":
            return (super_right & ~swift_right).astype(float)
        return super_right.astype(float) - swift_right.astype(float)

    def input_score(self):
        """The score whose needs decide which Swift output this router reads.

        The deferral model reads the Swift's per-class scores the way a
        confidence score does: logits, ``decision_function`` or
        log-probabilities (see :meth:`EnergyRouter.input_score`).

        Returns
        -------
        score : SoftmaxScore

        Examples
        --------
        >>> from elang_sk import DeferralRouter
        >>> DeferralRouter().input_score()
        SoftmaxScore()
        """
        return SoftmaxScore()

    def routing_target(self, y, swift_right, next_right):
        """The deferral target: what ``fit`` learns (see :meth:`deferral_target`).

        Parameters
        ----------
        y : ndarray of shape (n_samples,)
            True labels (unused: the target is where deferring pays).
        swift_right, next_right : ndarray of bool of shape (n_samples,)
            Whether the routed stage and the next one are right on each input.

        Returns
        -------
        target : ndarray of float of shape (n_samples,)

        Examples
        --------
        >>> from elang_sk import DeferralRouter
        >>> DeferralRouter().routing_target(None, [True, False], [True, True])
        array([0., 1.])
        """
        return self.deferral_target(swift_right, next_right)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Train the deferral model on the statistics of the Swift's logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_classes)
            The Swift's logits.
        y : array-like of shape (n_samples,)
            The numeric deferral target (see :meth:`deferral_target`);
            higher means deferring pays more.

        Returns
        -------
        self : DeferralRouter
            The fitted router.
        """
        if self.head:
            raise ValueError(
                "DeferralRouter(head=True) is not supported: the deferral model "
                "reads the Swift's logits. Use head=False."
            )
        if y is None:
            raise ValueError(
                "DeferralRouter requires y to be passed, but the target y is None: "
                "it learns the deferral target (e.g. deferral_target(swift_right, "
                "super_right))."
            )
        self._check_estimator()
        _check_finite_target(y)
        X, y = validate_data(
            self,
            X,
            y,
            dtype=np.float64,
            y_numeric=True,
            ensure_min_features=2,
            ensure_all_finite=False,  # _check_finite says which rows
        )
        if y.dtype.kind not in "biuf":
            raise ValueError(
                "DeferralRouter's y is the deferral target, a number per input "
                f"(e.g. 1.0 where the larger model fixes a Swift error); got dtype "
                f"{y.dtype}. Build it with deferral_target(swift_right, super_right)."
            )
        statistics = logit_statistics(_check_finite(X))
        self.head_ = False
        values = np.unique(y)
        if values.size == 1:
            # Nothing to learn: every input gets the same score.
            self.estimator_, self.constant_ = None, float(values[0])
            return self
        self.constant_ = None
        discrete = type_of_target(y) in ("binary", "multiclass")
        if self.estimator is not None:
            estimator = clone(self.estimator)
        elif discrete:
            estimator = make_pipeline(StandardScaler(), LogisticRegression())
        else:
            estimator = make_pipeline(StandardScaler(), Ridge())
        self.estimator_ = estimator.fit(statistics, y)
        return self

    def _check_estimator(self):
        """Refuse a deferral model whose predictions are not a gain.

        A classifier needs ``predict_proba``; a regressor is used as is;
        anything else (a clusterer's ``predict`` is a cluster number) is
        refused before any data is read.
        """
        est = self.estimator
        if est is None or is_regressor(est):
            return
        if not is_classifier(est):
            raise ValueError(
                f"DeferralRouter's estimator must be a classifier or a regressor; "
                f"got {type(est).__name__}, whose predict is not a deferral gain "
                "(e.g. a clusterer's cluster numbers). Pass e.g. "
                "LogisticRegression() or Ridge(), or estimator=None for the default."
            )
        if not hasattr(est, "predict_proba"):
            raise ValueError(
                f"DeferralRouter's classifier {type(est).__name__} has no "
                "predict_proba: the routing score is minus the expected gain "
                "predict_proba @ classes_. Use a classifier with predict_proba "
                "(e.g. LogisticRegression(), or CalibratedClassifierCV around "
                "this one), or a regressor."
            )

    def predict_logits(self, X):
        """The Swift's logits the router reads, validated (no transformation).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_classes)
            The Swift's logits.

        Returns
        -------
        logits : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "head_")
        X = validate_data(
            self, X, dtype=np.float64, reset=False, ensure_all_finite=False
        )
        return _check_finite(X)

    def predict_gain(self, X):
        """The predicted deferral target of each input.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_classes)
            The Swift's logits.

        Returns
        -------
        gain : ndarray of shape (n_samples,)
            For a classifier, the expected target ``predict_proba @ classes_``.
        """
        statistics = logit_statistics(self.predict_logits(X))
        if self.estimator_ is None:
            return np.full(len(statistics), self.constant_)
        if is_classifier(self.estimator_):
            classes = np.asarray(self.estimator_.classes_, dtype=np.float64)
            return self.estimator_.predict_proba(statistics) @ classes
        return np.asarray(self.estimator_.predict(statistics), dtype=np.float64)

    def score_samples(self, X, mask=None):
        """Routing score: minus the predicted gain; the Swift keeps ``score >= t``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_classes)
            The Swift's logits.
        mask : None
            Only 2-D logits are supported; kept for the router interface.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        if mask is not None:
            raise ValueError(
                "DeferralRouter scores 2-D logits of classifiers; a position mask "
                "is not supported. Use EnergyRouter for sequence outputs."
            )
        return -self.predict_gain(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.target_tags.required = True
        return tags
