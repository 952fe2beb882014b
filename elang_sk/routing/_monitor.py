"""RoutingMonitor: watch a fitted joint model's routing on live traffic.

Two checks, each with a false-alarm rate controlled over the whole stream:

* **drift, without labels**: every full window of live routing scores (the
  first gate's) is compared with the calibration scores by a two-sample
  Kolmogorov-Smirnov test, and its Swift ratio with the calibration one by
  Fisher's exact test. Window ``j`` is tested at level
  ``alpha * 6 / (pi**2 * j**2)``, split equally between the two tests
  (Bonferroni); the levels sum to ``alpha`` over an endless stream, so the
  probability of *any* false alarm, ever, is at most ``alpha`` while the
  live inputs come from the calibration distribution.
* **audit**: a uniform random share ``audit_rate`` of the rows the Swift keeps
  is also sent to the Super, and their disagreements feed a betting confidence
  sequence (Waudby-Smith and Ramdas, 2024) for the disagreement rate of kept
  rows, valid at every time at once (Ville's inequality).

The monitor reads only public attributes of the joint model it watches
(``calibration_``, ``thresholds_``, ``threshold_selection_``,
``stage_names_``, ``route``, ``answer_stage``); it imports no estimator.
"""

import itertools
import math
import numbers

import numpy as np
from scipy.stats import fisher_exact, ks_2samp
from sklearn.utils import Bunch, _safe_indexing, check_random_state
from sklearn.utils.validation import check_is_fitted

from elang_sk._utils import n_samples
from elang_sk.routing._stage_thresholds import keeps


class BettingConfidenceSequence:
    """Anytime-valid confidence sequence for the mean of [0, 1] observations.

    The hedged capital process of Waudby-Smith and Ramdas (2024, JRSS-B,
    "Estimating means of bounded random variables by betting", section 4 and
    Theorem 3) with their predictable plug-in bets for a time-uniform
    sequence, ``lambda_t = sqrt(2 log(2 / alpha) / (sigma2_{t-1} t
    log(1 + t)))``, ``sigma2`` the regularised running variance, truncated at
    ``c / m`` (betting up) and ``c / (1 - m)`` (betting down) with
    ``c = 1/2``. For a candidate mean ``m`` the capital
    ``theta K+_t(m) + (1 - theta) K-_t(m)`` (``theta = 1/2``) is a
    non-negative martingale of initial value 1 when ``m`` is the true mean of
    observations with a constant conditional mean (i.i.d. ones), so by
    Ville's inequality it ever reaches ``1 / alpha`` with probability at most
    ``alpha``. The candidates are a grid of ``grid_size`` points of [0, 1]; a
    point is excluded for good once its capital has reached ``1 / alpha``
    (the running intersection, also valid), and the bounds are the excluded
    grid points next to the ones still in (conservative by a grid step).

    Unlike :func:`elang_sk.routing._risk.betting_bound`, whose bets use the
    calibration size ``n`` known in advance, this sequence does not need a
    horizon: its bounds may be read after every observation.

    Parameters
    ----------
    alpha : float in (0, 1)
        Probability that the true mean is ever outside the bounds.
    grid_size : int, default=2001
        Number of candidate means on [0, 1] (a step of 1/2000 by default).

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk.routing._monitor import BettingConfidenceSequence
    >>> cs = BettingConfidenceSequence(alpha=0.05)
    >>> cs.update(np.random.default_rng(0).random(2000) < 0.1)
    >>> low, high = cs.bounds()
    >>> bool(low < 0.1 < high), bool(high - low < 0.06)
    (True, True)
    """

    _chunk = 256  # rows per vectorised step: (chunk, grid_size) arrays

    def __init__(self, alpha, grid_size=2001):
        self.alpha = float(alpha)
        self.grid = np.linspace(0.0, 1.0, int(grid_size))
        self.n = 0
        self.total = 0.0
        self._squares = 0.0  # sum of (x_i - running mean_i) ** 2
        self._log_up = np.zeros(self.grid.size)
        self._log_down = np.zeros(self.grid.size)
        self.excluded = np.zeros(self.grid.size, dtype=bool)
        with np.errstate(divide="ignore"):
            self._cap_up = 0.5 / self.grid  # c / m, inf at m = 0
            self._cap_down = 0.5 / (1.0 - self.grid)  # c / (1 - m), inf at m = 1

    @property
    def mean(self):
        """Mean of the observations so far (NaN before the first)."""
        return self.total / self.n if self.n else float("nan")

    def update(self, values):
        """Add observations in [0, 1], in the order they came."""
        values = np.asarray(values, dtype=float).ravel()
        for start in range(0, values.size, self._chunk):
            self._update_chunk(values[start : start + self._chunk])

    def _update_chunk(self, x):
        t = self.n + np.arange(1, x.size + 1)
        means = (0.5 + self.total + np.cumsum(x)) / (t + 1)
        spreads = (0.25 + self._squares + np.cumsum((x - means) ** 2)) / (t + 1)
        # Each bet uses only the rows before it (predictable).
        before = np.r_[(0.25 + self._squares) / (self.n + 1), spreads[:-1]]
        bets = np.sqrt(2 * np.log(2 / self.alpha) / (before * t * np.log1p(t)))
        gap = x[:, None] - self.grid[None, :]
        up = np.minimum(bets[:, None], self._cap_up[None, :])
        down = np.minimum(bets[:, None], self._cap_down[None, :])
        log_up = self._log_up + np.cumsum(np.log1p(up * gap), axis=0)
        log_down = self._log_down + np.cumsum(np.log1p(-down * gap), axis=0)
        hedged = np.logaddexp(np.log(0.5) + log_up, np.log(0.5) + log_down)
        self.excluded |= (hedged >= np.log(1 / self.alpha)).any(axis=0)
        self._log_up, self._log_down = log_up[-1], log_down[-1]
        self.n += x.size
        self.total += float(x.sum())
        self._squares += float(np.sum((x - means) ** 2))

    def bounds(self):
        """The lower and upper confidence bounds on the mean, now.

        Returns
        -------
        lower, upper : float
            ``(0.0, 1.0)`` before the first observation.
        """
        inside = np.flatnonzero(~self.excluded)
        last = self.grid.size - 1
        if inside.size == 0:  # narrower than a grid step: the two points around
            position = self.mean * last
            return (
                float(self.grid[math.floor(position)]),
                float(self.grid[math.ceil(position)]),
            )
        return (
            float(self.grid[max(inside[0] - 1, 0)]),
            float(self.grid[min(inside[-1] + 1, last)]),
        )


def _check_number(name, value, low, high, closed, example):
    """A clear ValueError unless ``value`` is a real number in the interval."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = math.isfinite(value) and (
            (low < value or (closed[0] and value == low))
            and (value < high or (closed[1] and value == high))
        )
    if not ok:
        interval = (
            f"{'[' if closed[0] else '('}{low:g}, {high:g}{']' if closed[1] else ')'}"
        )
        raise ValueError(
            f"{name} must be a number in {interval}; got {value!r}. For example "
            f"{name}={example}."
        )
    return value


def _concat(chunks):
    """The rows of several chunks of inputs as one (array, sparse, or list)."""
    if all(isinstance(chunk, np.ndarray) for chunk in chunks):
        return np.concatenate(chunks, axis=0)
    if all(hasattr(chunk, "tocsr") for chunk in chunks):
        import scipy.sparse

        return scipy.sparse.vstack(chunks).tocsr()
    if all(hasattr(chunk, "iloc") for chunk in chunks):
        import pandas

        return pandas.concat(chunks, axis=0)
    return list(itertools.chain.from_iterable(chunks))


class RoutingMonitor:
    """Watch a fitted joint model on live traffic: drift and audited disagreement.

    Built on a fitted :class:`~elang_sk.JointClassifier`,
    :class:`~elang_sk.CascadeClassifier` or :class:`~elang_sk.JointSeq2Seq`,
    the monitor checks two things while the model serves:

    **Drift of the routing scores** (no labels, no Super calls). Live scores
    of the first gate are fed with :meth:`update`; every full ``window`` of
    them is compared with the calibration scores
    (``joint.calibration_.stage_scores[0]``) by a two-sample
    Kolmogorov-Smirnov test, and its Swift ratio (the share with
    ``score >= thresholds_[0]``) with the calibration one by Fisher's exact
    test. Window ``j`` (counting from 1) is tested at level
    ``alpha * 6 / (pi**2 j**2)``, half for each test: the levels sum to
    ``alpha``, so while the live inputs come from the calibration
    distribution the probability of a drift alarm, at any point of an endless
    stream, is at most ``alpha``. The price is power that decreases with
    ``j``: a drift that starts late is detected later than one that starts
    early; build a new monitor after a refit.

    **Audited disagreement with the Super.** :meth:`should_audit` draws a
    Bernoulli(``audit_rate``) sample of the rows the Swift (the first stage)
    keeps; those rows are also sent to the last stage, and
    :meth:`record_audit` feeds both answers. Since the sample is uniform
    among kept rows, the audited disagreements are i.i.d. with the kept
    rows' disagreement rate ``D`` (while the traffic is stationary), and a
    betting confidence sequence (``BettingConfidenceSequence``,
    Waudby-Smith and Ramdas 2024) bounds ``D`` at level ``delta``, valid at
    every time at once. The joint model's overall disagreement with the
    Super is ``kept_share * D``, ``kept_share`` being the Swift ratio of the
    rows fed to :meth:`update` (the calibration one before any); both are
    reported.

    **What the audit alarm means.** The promise it checks depends on what
    the joint model was calibrated on (``joint.calibrated_on_``):

    * calibrated **without labels** (``fit(X)``), ``"risk_control"``
      certified agreement: the joint model disagrees with the Super on at
      most ``tol`` of the inputs. The alarm fires when the lower confidence
      bound of the overall disagreement, ``kept_share * D_lower``, exceeds
      ``tol``: with confidence ``1 - delta`` the certified promise is broken
      on live traffic.
    * calibrated **on labels**, the certificate bounds the accuracy lost, not
      the disagreement, which may be well above ``tol`` on healthy traffic.
      The alarm then fires when the lower bound exceeds the calibration's
      own overall disagreement plus ``tol``: with confidence ``1 - delta``
      the Swift's answers moved away from the Super's by more than ``tol``
      since the certificate was made, so the calibration no longer supports
      it (the accuracy lost is at most the disagreement, so the promise may
      still hold: audit labels, or refit on :meth:`recalibration_set`).

    In both cases an upper bound ``<= tol`` confirms, on live traffic, that
    the joint model loses at most ``tol`` against the Super.
    ``calibration_disagreement`` in :meth:`status` is the share of kept
    calibration rows where the Swift and the Super disagree (exact without
    labels; with labels, where exactly one of the two is right: exact for
    two classes, a lower bound otherwise). With a cascade, the audit covers
    the first stage only; its share of the overall disagreement is a lower
    bound of the cascade's, so an alarm stays valid.

    Parameters
    ----------
    joint : fitted joint estimator
        The model being served. Its thresholds are read once, here.
    window : int, default=500
        Live scores per drift test (at least 20).
    alpha : float in (0, 1), default=0.01
        Probability of a drift false alarm over the whole stream.
    audit_rate : float in (0, 1], default=0.05
        Share of the Swift-kept rows also sent to the Super.
    tol : float in [0, 1], default=None
        The promised loss against the Super. None takes the certified one
        (``threshold_selection_.epsilon``) when the joint model's strategy is
        ``"risk_control"``; otherwise no audit alarm is raised (the bounds
        are still reported).
    delta : float in (0, 1), default=None
        Probability that the true disagreement rate is ever outside the
        audit bounds. None takes ``threshold_selection_.delta`` with
        ``"risk_control"``, else 0.1.
    quality : callable, default=None
        ``quality(swift_answer, super_answer) -> float in [0, 1]``, the
        agreement of one pair of answers (e.g. a sentence-level chrF for
        texts); the disagreement is ``1 - quality``. None counts answers that
        differ (labels, or exact string equality for texts).
    random_state : int, RandomState instance or None, default=0
        Seed of the audit draws.

    Attributes
    ----------
    threshold_ : float
        The first gate's threshold (``joint.thresholds_[0]``).
    calibration_scores_ : ndarray of shape (n_calibration,)
        The first gate's calibration scores.
    calibration_swift_ratio_ : float
        Share of calibration rows with ``score >= threshold_``.
    tol_, delta_ : float or None
        The tolerance and confidence level in use.
    calibrated_on_ : {"labels", "last_stage"}
        What the joint model was calibrated on (its ``calibrated_on_``).
    alarm_level_ : float or None
        The overall disagreement above which the audit alarms: ``tol_``
        without labels, the calibration's disagreement plus ``tol_`` with
        labels (see "What the audit alarm means"); None without ``tol``.
    drift_ : Bunch
        ``n_windows``, ``n_alarms``, ``alarm`` (any window alarmed),
        ``first_alarm_row`` (0-based index, in the rows fed, of the last
        row of the first alarming window; None before an alarm),
        ``first_alarm_window``, ``ks_pvalue``, ``ratio_pvalue``, ``level``
        and ``window_swift_ratio`` of the last window, and ``history``
        (one dict per window).
    n_rows_, n_kept_ : int
        Rows fed to :meth:`update`, and those the Swift kept.
    n_offered_ : int
        Kept rows offered to :meth:`should_audit`.

    See Also
    --------
    elang_sk.ThresholdSelector : the ``"risk_control"`` certificate checked.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from elang_sk import JointClassifier
    >>> from elang_sk.routing._monitor import RoutingMonitor
    >>> X, y = make_classification(n_samples=3000, random_state=0)
    >>> joint = JointClassifier(
    ...     LogisticRegression(C=0.01).fit(X[:500], y[:500]),
    ...     LogisticRegression().fit(X[:500], y[:500]), router="softmax",
    ... ).fit(X[500:1500], y[500:1500])
    >>> monitor = RoutingMonitor(joint, window=250, alpha=0.01, audit_rate=0.2)
    >>> routing = monitor.serve(X[1500:])  # route, feed the scores, audit
    >>> status = monitor.status()
    >>> status.windows, status.drift_alarm
    (6, False)
    >>> low, high = status.disagreement_lower, status.disagreement_upper
    >>> bool(low <= status.disagreement <= high)
    True
    >>> print(status.message)  # doctest: +SKIP
    >>> _ = monitor.update(joint.route(X[1500:] + 2.0, method=None).scores[0])
    >>> monitor.status().drift_alarm
    True
    """

    def __init__(
        self,
        joint,
        *,
        window=500,
        alpha=0.01,
        audit_rate=0.05,
        tol=None,
        delta=None,
        quality=None,
        random_state=0,
    ):
        check_is_fitted(
            joint,
            "calibration_",
            msg=(
                "This %(name)s is not fitted yet: fit it before building a "
                "RoutingMonitor on it (the monitor compares live traffic with "
                "its calibration data)."
            ),
        )
        if (
            isinstance(window, bool)
            or not isinstance(window, numbers.Integral)
            or window < 20
        ):
            raise ValueError(
                f"window must be an integer of at least 20 live scores per drift "
                f"test; got {window!r}. For example window=500."
            )
        self.joint = joint
        self.window = int(window)
        self.alpha = _check_number("alpha", alpha, 0, 1, (False, False), 0.01)
        self.audit_rate = _check_number(
            "audit_rate", audit_rate, 0, 1, (False, True), 0.05
        )
        self.tol = tol
        self.delta = delta
        if quality is not None and not callable(quality):
            raise TypeError(
                f"quality must be a callable quality(swift_answer, super_answer) "
                f"-> float in [0, 1], or None; got a {type(quality).__name__}."
            )
        self.quality = quality
        self.random_state = random_state

        self.stage_names_ = list(joint.stage_names_)
        self.threshold_ = float(joint.thresholds_[0])
        calibration = joint.calibration_
        self.calibration_scores_ = np.array(calibration.stage_scores[0], dtype=float)
        kept = keeps(self.calibration_scores_, self.threshold_)
        self.calibration_swift_ratio_ = float(kept.mean())
        right = np.asarray(calibration.stage_right, dtype=bool)
        self.calibration_disagreement_ = (
            float(np.mean(right[0][kept] != right[-1][kept]))
            if kept.any()
            else float("nan")
        )
        self.calibrated_on_ = getattr(joint, "calibrated_on_", "labels")
        selection = joint.threshold_selection_
        certified = "epsilon" in selection and "delta" in selection
        if tol is None:
            self.tol_ = float(selection["epsilon"]) if certified else None
        else:
            self.tol_ = _check_number("tol", tol, 0, 1, (True, True), 0.01)
        if delta is None:
            self.delta_ = float(selection["delta"]) if certified else 0.1
        else:
            self.delta_ = _check_number("delta", delta, 0, 1, (False, False), 0.1)

        self.alarm_level_ = None
        if self.tol_ is not None:
            at_calibration = self.calibration_swift_ratio_ * (
                self.calibration_disagreement_
                if np.isfinite(self.calibration_disagreement_)
                else 0.0
            )
            self.alarm_level_ = (
                self.tol_
                if self.calibrated_on_ == "last_stage"
                else min(1.0, at_calibration + self.tol_)
            )
        self._rng = check_random_state(random_state)
        self._pending_scores = np.empty(0)
        self._pending_kept = np.empty(0, dtype=bool)
        self.n_rows_ = 0
        self.n_kept_ = 0
        self.n_offered_ = 0
        self.drift_ = Bunch(
            n_windows=0,
            n_alarms=0,
            alarm=False,
            first_alarm_row=None,
            first_alarm_window=None,
            ks_pvalue=None,
            ratio_pvalue=None,
            level=None,
            window_swift_ratio=None,
            history=[],
        )
        self._sequence = BettingConfidenceSequence(self.delta_)
        self._audits = Bunch(index=[], swift=[], super=[], disagreement=[], X=[])
        self._n_with_X = 0
        self.audit_alarm_ = False
        self.first_audit_alarm_ = None

    def __repr__(self):
        return (
            f"RoutingMonitor({type(self.joint).__name__}, window={self.window}, "
            f"alpha={self.alpha:g}, audit_rate={self.audit_rate:g})"
        )

    # -- drift --------------------------------------------------------------------

    def _kept_from(self, served_by, n):
        """Whether the first stage answered each row, from ``served_by``."""
        served_by = np.asarray(served_by)
        if served_by.ndim != 1 or served_by.shape[0] != n:
            raise ValueError(
                f"served_by has shape {served_by.shape} for {n} scores: give one "
                "stage (name or index) per score, e.g. route(X).stage."
            )
        if served_by.dtype.kind in "iu":
            known = (served_by >= 0) & (served_by < len(self.stage_names_))
            first = served_by == 0
        else:
            served_by = served_by.astype(str)
            known = np.isin(served_by, self.stage_names_)
            first = served_by == self.stage_names_[0]
        if not known.all():
            bad = served_by[~known][0].item()
            raise ValueError(
                f"served_by holds {bad!r}, which is not a stage of this model: use "
                f"the names {self.stage_names_} or their indices."
            )
        return first

    def update(self, scores, served_by=None):
        """Feed live routing scores of the first gate; test every full window.

        Parameters
        ----------
        scores : array-like of shape (n_samples,)
            Finite routing scores, in serving order (``route(X).scores[0]``,
            or ``routing_scores(X)`` for a pair).
        served_by : array-like of shape (n_samples,), default=None
            The stage that answered each row (names or indices, as in
            ``route(X).served_by`` or ``.stage``); the Swift ratio counts the
            first stage's rows. None counts ``score >= threshold_``.

        Returns
        -------
        self : RoutingMonitor
        """
        try:
            values = np.asarray(scores, dtype=float)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"scores must be routing scores (numbers); got {error}."
            ) from None
        if values.ndim != 1:
            raise ValueError(
                f"scores must be 1-D, one score of the first gate per row; got "
                f"shape {values.shape}. For a cascade pass route(X).scores[0]."
            )
        if values.size == 0:
            raise ValueError("scores is empty: feed at least one routing score.")
        if not np.isfinite(values).all():
            bad = int(np.sum(~np.isfinite(values)))
            raise ValueError(
                f"scores holds {bad} NaN or infinite value(s): every row served "
                "has a finite first-gate score; check the scores fed."
            )
        if served_by is None:
            kept = keeps(values, self.threshold_)
        else:
            kept = self._kept_from(served_by, values.size)
        self._pending_scores = np.r_[self._pending_scores, values]
        self._pending_kept = np.r_[self._pending_kept, kept]
        start = self.n_rows_ - (self._pending_scores.size - values.size)
        self.n_rows_ += values.size
        self.n_kept_ += int(kept.sum())
        while self._pending_scores.size >= self.window:
            start += self.window
            self._test_window(
                self._pending_scores[: self.window],
                self._pending_kept[: self.window],
                last_row=start - 1,
            )
            self._pending_scores = self._pending_scores[self.window :]
            self._pending_kept = self._pending_kept[self.window :]
        self._check_audit_alarm()
        return self

    def _test_window(self, scores, kept, last_row):
        drift = self.drift_
        j = drift.n_windows + 1
        level = self.alpha * 6 / (math.pi**2 * j**2)
        ks = float(ks_2samp(scores, self.calibration_scores_).pvalue)
        n_cal = self.calibration_scores_.size
        k_cal = round(self.calibration_swift_ratio_ * n_cal)
        k = int(kept.sum())
        table = [[k, kept.size - k], [k_cal, n_cal - k_cal]]
        ratio = float(fisher_exact(table).pvalue)
        alarm = min(ks, ratio) <= level / 2
        drift.update(
            n_windows=j,
            ks_pvalue=ks,
            ratio_pvalue=ratio,
            level=level,
            window_swift_ratio=k / kept.size,
        )
        drift.history.append(
            dict(
                window=j,
                last_row=int(last_row),
                ks_pvalue=ks,
                ratio_pvalue=ratio,
                level=level,
                swift_ratio=k / kept.size,
                alarm=bool(alarm),
            )
        )
        if alarm:
            drift.n_alarms += 1
            if not drift.alarm:
                drift.alarm = True
                drift.first_alarm_row = int(last_row)
                drift.first_alarm_window = j

    # -- audit --------------------------------------------------------------------

    def should_audit(self, n):
        """Which of ``n`` Swift-kept rows to also send to the Super.

        Parameters
        ----------
        n : int
            Number of rows the Swift (first stage) kept in this batch.

        Returns
        -------
        mask : ndarray of bool of shape (n,)
            Independent Bernoulli(``audit_rate``) draws, seeded by
            ``random_state``.
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(
                f"n must be a number of kept rows (an integer >= 0); got {n!r}."
            )
        self.n_offered_ += int(n)
        return self._rng.random_sample(int(n)) < self.audit_rate

    def _disagreement(self, swift, super_):
        if self.quality is None:
            differ = swift != super_
            if differ.ndim > 1:
                differ = differ.reshape(differ.shape[0], -1).any(axis=1)
            return differ.astype(float)
        agreement = np.array(
            [self.quality(a, b) for a, b in zip(swift, super_, strict=True)],
            dtype=float,
        )
        if not (np.isfinite(agreement).all() and (0 <= agreement).all()):
            raise ValueError("quality must return numbers in [0, 1] for every pair.")
        if (agreement > 1).any():
            raise ValueError("quality must return numbers in [0, 1] for every pair.")
        return 1.0 - agreement

    def record_audit(self, swift_answers, super_answers, *, X=None, index=None):
        """Feed the Swift's and the Super's answers on audited rows.

        Parameters
        ----------
        swift_answers, super_answers : array-like of shape (n_audited, ...)
            The two answers on each audited row (labels, or texts).
        X : sequence or array-like of shape (n_audited, ...), default=None
            The audited inputs, kept for :meth:`recalibration_set`. Inputs
            are not stored unless given.
        index : array-like of shape (n_audited,), default=None
            Ids of the rows (e.g. their position in the stream); None numbers
            them in the order audited.

        Returns
        -------
        self : RoutingMonitor
        """
        swift = np.asarray(swift_answers)
        super_ = np.asarray(super_answers)
        if swift.ndim == 0 or super_.ndim == 0 or swift.shape[0] != super_.shape[0]:
            raise ValueError(
                f"swift_answers and super_answers must hold one answer per audited "
                f"row each; got shapes {swift.shape} and {super_.shape}."
            )
        n = swift.shape[0]
        if X is not None and n_samples(X) != n:
            raise ValueError(f"X has {n_samples(X)} rows for {n} audited answers.")
        done = self._sequence.n
        index = np.arange(done, done + n) if index is None else np.asarray(index)
        if index.shape != (n,):
            raise ValueError(f"index has shape {index.shape} for {n} audited rows.")
        if n == 0:
            return self
        disagreement = self._disagreement(swift, super_)
        self._audits.index.append(index)
        self._audits.swift.append(swift)
        self._audits.super.append(super_)
        self._audits.disagreement.append(disagreement)
        if X is not None:
            self._audits.X.append(X)
            self._n_with_X += n
        self._sequence.update(disagreement)
        self._check_audit_alarm()
        return self

    def _kept_share(self):
        if self.n_rows_:
            return self.n_kept_ / self.n_rows_
        return self.calibration_swift_ratio_

    def _check_audit_alarm(self):
        if self.audit_alarm_ or self.tol_ is None or not self._sequence.n:
            return
        lower, _ = self._sequence.bounds()
        if self._kept_share() * lower > self.alarm_level_:
            self.audit_alarm_ = True
            self.first_audit_alarm_ = Bunch(
                n_audited=self._sequence.n, n_rows=self.n_rows_
            )

    @property
    def audited_(self):
        """The audited rows: ``index``, ``swift_answers``, ``super_answers``,
        ``disagreement`` (arrays), and ``X`` (the inputs, or None when not
        passed)."""
        audits = self._audits
        if not audits.index:
            empty = np.empty(0)
            return Bunch(
                index=empty.astype(int),
                swift_answers=empty,
                super_answers=empty,
                disagreement=empty,
                X=None,
            )
        return Bunch(
            index=np.concatenate(audits.index),
            swift_answers=np.concatenate(audits.swift),
            super_answers=np.concatenate(audits.super),
            disagreement=np.concatenate(audits.disagreement),
            X=_concat(audits.X) if self._n_with_X == self._sequence.n else None,
        )

    def recalibration_set(self):
        """The audited inputs, labelled with the Super's answers.

        Refit on them with ``joint.fit(X_audit, y_super)``: pre-trained
        sub-models stay as they are, and the thresholds are chosen again on
        live inputs, the Super standing in for the labels (the refit then
        certifies the disagreement with the Super, which bounds the accuracy
        lost against it). The audited rows are kept rows only: to calibrate
        on the whole live distribution, also record an ``audit_rate`` sample
        of the rows that went to the Super (their answers are already paid
        for), with the Super's answer on both sides.

        Returns
        -------
        X_audit : array-like or list
            The inputs passed to :meth:`record_audit`, in order.
        y_super : ndarray of shape (n_audited,)
            The Super's answers on them.
        """
        if not self._sequence.n:
            raise ValueError("No audited rows yet: record_audit() feeds them.")
        if self._n_with_X != self._sequence.n:
            raise ValueError(
                f"Inputs were kept for {self._n_with_X} of the "
                f"{self._sequence.n} audited rows: pass X to record_audit() "
                "(or store_inputs=True to serve()) for every audited row."
            )
        return _concat(self._audits.X), np.concatenate(self._audits.super)

    def recalibrate(self, **params):
        """A new joint model calibrated on the audited live inputs, without labels.

        ``clone(joint).set_params(**params).fit(X_audit)``: the pre-trained
        sub-models are shared (clones keep fitted sub-models by reference),
        and the thresholds are chosen again on the audited inputs against
        the Super's answers (``calibrated_on_ == "last_stage"``; with a
        cache, the Super's answers on them are not computed again). Serve it
        with a new monitor.

        Parameters
        ----------
        **params : dict
            Parameters to set on the clone first, e.g. a
            ``threshold=ThresholdSelector("risk_control", tol=0.02)``.

        Returns
        -------
        joint : joint estimator
            The recalibrated model.

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier, RoutingMonitor
        >>> X, y = make_classification(n_samples=3000, random_state=0)
        >>> joint = JointClassifier(
        ...     LogisticRegression(C=0.01).fit(X[:500], y[:500]),
        ...     LogisticRegression().fit(X[:500], y[:500]), router="softmax",
        ... ).fit(X[500:1000], y[500:1000])
        >>> monitor = RoutingMonitor(joint, audit_rate=1.0)
        >>> _ = monitor.serve(X[1000:], store_inputs=True)
        >>> monitor.recalibrate().calibrated_on_
        'last_stage'
        """
        from sklearn.base import clone

        X_audit, _ = self.recalibration_set()
        return clone(self.joint).set_params(**params).fit(X_audit)

    # -- both ---------------------------------------------------------------------

    def serve(self, X, *, store_inputs=False):
        """Route ``X`` with the joint model, feed the scores, audit kept rows.

        One call of ``joint.route(X)``; the first-gate scores go to
        :meth:`update`, an :meth:`should_audit` sample of the rows the first
        stage answered is sent to the last stage (``joint.answer_stage``)
        and fed to :meth:`record_audit`.

        Parameters
        ----------
        X : sequence or array-like of shape (n_samples, ...)
            Inputs, in the form the joint model takes.
        store_inputs : bool, default=False
            Keep the audited inputs for :meth:`recalibration_set`.

        Returns
        -------
        routing : Bunch
            What ``joint.route(X)`` returned (``answers``, ``stage``,
            ``served_by``, ``scores``).
        """
        routing = self.joint.route(X)
        start = self.n_rows_
        self.update(routing.scores[0], served_by=routing.stage)
        kept = np.flatnonzero(routing.stage == 0)
        audited = kept[self.should_audit(kept.size)]
        if audited.size:
            X_audit = _safe_indexing(X, audited)
            super_answers = self.joint.answer_stage(X_audit, len(self.stage_names_) - 1)
            self.record_audit(
                np.asarray(routing.answers)[audited],
                super_answers,
                X=X_audit if store_inputs else None,
                index=start + audited,
            )
        return routing

    def status(self):
        """Where the monitored traffic stands, with a short message.

        Returns
        -------
        status : Bunch
            ``n_rows``, ``windows``, ``drift_alarm``, ``ks_pvalue`` and
            ``ratio_pvalue`` (last window; None before one), ``level`` (its
            level), ``first_alarm_row``, ``swift_ratio`` (all rows fed; None
            before any), ``window_swift_ratio``,
            ``calibration_swift_ratio``; ``n_offered``, ``n_audited``,
            ``audit_rate``, ``disagreement`` (kept rows; NaN before an
            audit) with ``disagreement_lower`` and ``disagreement_upper``
            (anytime-valid at level ``delta``), ``calibration_disagreement``,
            ``kept_share``, ``overall_disagreement`` with
            ``overall_lower`` and ``overall_upper`` (``kept_share`` times
            the above), ``tol``, ``alarm_level``, ``calibrated_on``,
            ``delta``, ``audit_alarm``, ``alarm`` (drift or audit) and
            ``message``.
        """
        drift = self.drift_
        cs = self._sequence
        lower, upper = cs.bounds()
        share = self._kept_share()
        result = Bunch(
            n_rows=self.n_rows_,
            windows=drift.n_windows,
            drift_alarm=drift.alarm,
            ks_pvalue=drift.ks_pvalue,
            ratio_pvalue=drift.ratio_pvalue,
            level=drift.level,
            first_alarm_row=drift.first_alarm_row,
            swift_ratio=self.n_kept_ / self.n_rows_ if self.n_rows_ else None,
            window_swift_ratio=drift.window_swift_ratio,
            calibration_swift_ratio=self.calibration_swift_ratio_,
            n_offered=self.n_offered_,
            n_audited=cs.n,
            audit_rate=self.audit_rate,
            disagreement=cs.mean,
            disagreement_lower=lower,
            disagreement_upper=upper,
            calibration_disagreement=self.calibration_disagreement_,
            kept_share=share,
            overall_disagreement=share * cs.mean,
            overall_lower=share * lower,
            overall_upper=share * upper,
            tol=self.tol_,
            alarm_level=self.alarm_level_,
            calibrated_on=self.calibrated_on_,
            delta=self.delta_,
            audit_alarm=self.audit_alarm_,
            alarm=bool(drift.alarm or self.audit_alarm_),
        )
        result.message = self._message(result)
        return result

    def _message(self, s):
        if not s.n_rows and not s.n_audited:
            return "No traffic yet: feed routing scores with update() or serve()."
        if not s.n_rows:
            parts = ["No scores fed yet (drift untested)."]
        elif not s.windows:
            parts = [f"{s.n_rows} rows, no full window of {self.window} yet."]
        elif s.drift_alarm:
            parts = [
                f"DRIFT from row {s.first_alarm_row}: the routing scores differ "
                f"from calibration (last window: KS p={s.ks_pvalue:.2g}, Swift "
                f"ratio {s.window_swift_ratio:.3f} vs {s.calibration_swift_ratio:.3f}"
                f", p={s.ratio_pvalue:.2g})."
            ]
        else:
            parts = [
                f"No drift in {s.windows} windows (Swift ratio {s.swift_ratio:.3f}"
                f" vs {s.calibration_swift_ratio:.3f} at calibration)."
            ]
        confidence = f"{1 - s.delta:.3g}"
        if not s.n_audited:
            parts.append("No audited rows yet.")
        else:
            found = (
                f"Disagreement with the Super {s.overall_disagreement:.3g} of inputs "
                f"(in [{s.overall_lower:.3g}, {s.overall_upper:.3g}] at "
                f"{confidence}, {s.n_audited} audited rows)"
            )
            if s.audit_alarm:
                parts.append(
                    f"AUDIT: the joint model disagrees with the Super on more than "
                    f"{s.alarm_level:.3g} of inputs (confidence {confidence}). "
                    f"{found}."
                )
                if s.calibrated_on != "last_stage":
                    parts.append(
                        f"That is more than tol={s.tol:g} above the disagreement "
                        "at calibration: the labelled certificate no longer "
                        "stands on this traffic; audit labels or refit."
                    )
            elif s.tol is None:
                parts.append(f"{found}; no tol to check.")
            elif s.overall_upper <= s.tol:
                parts.append(f"{found}: within tol={s.tol:g}.")
            else:
                parts.append(f"{found}: not yet conclusive against tol={s.tol:g}.")
        return " ".join(parts)
