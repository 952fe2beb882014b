"""LogitSource: which output of the Swift classifier the router reads.

One object decides, at fit time, where the routing score comes from; the joint
classifier and the Displays then only ask it. It owns the three questions
that used to be answered in several places:

* which output of the Swift the router reads (``method``),
* how that output becomes an ``(n, C)`` array of logits (:meth:`router_input`),
* what it costs on top of the Swift's own answer (:meth:`costs`).
"""

import warnings

import numpy as np
from scipy import sparse
from scipy.special import softmax
from sklearn.utils import Bunch

from elang_sk._utils import has_features


class EnergyLogitsWarning(UserWarning):
    """The Swift's scores are not a full set of logits; see :class:`EnergyRouter`.

    Raised when the energy has to be read off a binary ``decision_function``
    margin, under which it ranks inputs exactly like the softmax confidence.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from elang_sk import EnergyLogitsWarning, JointClassifier
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> swift = LogisticRegression().fit(X[:100], y[:100])
    >>> big = DecisionTreeClassifier(random_state=0).fit(X[:100], y[:100])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = JointClassifier(swift, big).fit(X[100:], y[100:])
    >>> any(issubclass(w.category, EnergyLogitsWarning) for w in caught)
    True
    """


class LogitSource:
    """Where the routing score of a Swift classifier reads its input.

    Parameters
    ----------
    method : {"predict_logits", "decision_function", "features", \
            "predict_proba"} or None
        The Swift output the router reads; None for a score that reads
        nothing (random routing).
    head : bool
        Whether an energy head is trained on that output (``"features"``).
    """

    def __init__(self, method, head):
        self.method = method
        self.head = head

    @classmethod
    def choose(cls, swift, n_classes, head, score):
        """Decide where the score reads from; see :class:`JointClassifier`.

        Parameters
        ----------
        swift : estimator
            The fitted Swift.
        n_classes : int
            Number of classes.
        head : bool or "auto"
            The router's ``head`` parameter.
        score : BaseScore
            The routing score.

        Returns
        -------
        source : LogitSource
        """
        if not score.uses_logits:
            return cls(None, False)
        if head is True:
            if not has_features(swift):
                raise ValueError(
                    f"router.head=True needs frozen features of the Swift, but "
                    f"{type(swift).__name__} has no transform method and is not a "
                    "Pipeline with several steps. Use head='auto' or False to "
                    "score its own logits."
                )
            return cls("features", True)
        if hasattr(swift, "predict_logits"):
            return cls("predict_logits", False)
        has_decision = hasattr(swift, "decision_function")
        if has_decision and n_classes > 2:
            return cls("decision_function", False)
        if head == "auto" and has_features(swift):
            return cls("features", True)
        if has_decision:
            if score.requires_logits:
                warnings.warn(
                    "The Swift's binary decision_function gives one margin d, not "
                    "two logits. elang_sk uses the zero-sum pair (-d/2, d/2), under "
                    "which the energy log(2 cosh(d/2)) ranks inputs exactly like "
                    "the softmax confidence. For a distinct energy, expose "
                    "per-class logits (a predict_logits method) or give the Swift "
                    "frozen features (a Pipeline or a transform method) for an "
                    "energy head.",
                    EnergyLogitsWarning,
                    stacklevel=4,
                )
            return cls("decision_function", False)
        if score.requires_logits:
            raise ValueError(
                f"The energy score needs logits, but {type(swift).__name__} only "
                "exposes probabilities: the logsumexp of log-probabilities is "
                "always 0, so their energy says nothing. Use "
                "router='softmax' or 'entropy', give the Swift a predict_logits "
                "or decision_function method, or wrap it in a Pipeline so that an "
                "energy head can be trained on its features."
            )
        if not hasattr(swift, "predict_proba"):
            raise ValueError(
                f"{type(swift).__name__} exposes neither logits, decision_function "
                "nor predict_proba: nothing to compute a routing score from. Use "
                "router='random' or a Swift with per-class scores."
            )
        return cls("predict_proba", False)

    @property
    def answers_from_logits(self):
        """Whether the Swift's forward pass that scores an input also answers it."""
        return self.method == "predict_logits"

    def router_input(self, swift_run, rows=None):
        """The router's input on ``rows`` of a call (all when None), and seconds."""
        if self.method is None:
            n = swift_run.n if rows is None else len(rows)
            return np.zeros((n, 1)), np.zeros(n)
        values, seconds = swift_run(self.method, rows)
        if sparse.issparse(values):
            return values, seconds
        values = np.asarray(values, dtype=np.float64)
        if self.method == "decision_function" and values.ndim == 1:
            values = np.column_stack([-values / 2, values / 2])
        elif self.method == "predict_proba":
            values = np.log(np.clip(values, np.finfo(np.float64).tiny, None))
        return values, seconds

    def answer(self, swift_run, method, classes, rows=None):
        """The Swift's ``method`` output on ``rows``, and its seconds per row.

        A Swift with ``predict_logits`` predicts ``classes[argmax(logits)]``
        with probabilities ``softmax(logits)``, so the forward pass that
        scored an input also answers it: the Swift runs once per input, and
        the answer costs nothing more.
        """
        if self.answers_from_logits and method in ("predict", "predict_proba"):
            logits, seconds = swift_run("predict_logits", rows)
            logits = np.asarray(logits, dtype=np.float64)
            if method == "predict":
                return classes[np.argmax(logits, axis=1)], np.zeros_like(seconds)
            return softmax(logits, axis=1), np.zeros_like(seconds)
        return swift_run(method, rows)

    def costs(self, router, swift):
        """Per-input costs of the router and the whole Swift (eq. 17).

        Parameters
        ----------
        router : ndarray of shape (n_samples,)
            Cost of the output the router reads (seconds or FLOPs).
        swift : ndarray of shape (n_samples,)
            Cost of the Swift's answer.

        Returns
        -------
        costs : Bunch
            ``router`` (what every input pays) and ``swift`` (what an input
            the Swift keeps pays in all).
        """
        router = np.asarray(router, dtype=float)
        swift = np.asarray(swift, dtype=float)
        if self.method is None:  # random routing runs no model
            return Bunch(router=np.zeros_like(swift), swift=swift)
        if self.method != "features":
            # The routing logits are the Swift's own forward pass.
            router = np.maximum(swift, router)
        return Bunch(router=router, swift=np.maximum(swift, router))

    def __repr__(self):
        return f"LogitSource(method={self.method!r}, head={self.head})"
