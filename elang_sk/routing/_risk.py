"""Risk control for the routing threshold: a certified bound on the accuracy lost.

Learn-then-Test (Angelopoulos, Bates, Candes, Jordan and Lei, 2021): every
candidate threshold ``t`` is a hypothesis ``H_t: E[L(t)] > epsilon`` on the
paired per-input loss ``L_i(t) = super_i - joint_i(t)``, the Super's quality
minus the joint model's on input ``i`` (in {-1, 0, 1} for right/wrong, in
[-1, 1] for real qualities). The hypotheses are tested in a fixed sequence,
from the all-Super end towards the all-Swift end, each at level ``delta``, and
the sequence stops at the first one not rejected: every rejected threshold
then has ``E[L(t)] <= epsilon`` simultaneously with probability at least
``1 - delta`` over the calibration sample (fixed-sequence testing controls the
family-wise error), so the cheapest of them may be served.

Two upper confidence bounds, each valid at level ``delta`` for one threshold:

``"clopper_pearson"`` (0/1 qualities)
    ``L = harm - gain`` with ``harm`` (kept, Swift wrong, Super right) and
    ``gain`` (kept, Swift right, Super wrong) two Bernoulli variables. An exact
    Clopper-Pearson upper bound on the harm rate at level ``delta / 2`` minus
    an exact lower bound on the gain rate at level ``delta / 2`` (Bonferroni).
``"betting"`` (any qualities in [0, 1])
    The betting confidence bound of Waudby-Smith and Ramdas (2024, JRSS-B,
    "Estimating means of bounded random variables by betting"): the capital
    of a bettor against ``E[L] >= epsilon`` with the predictable plug-in bets
    of their fixed-``n`` rule; by Ville's inequality it exceeds ``1 / delta``
    with probability at most ``delta`` under the null. It adapts to the
    variance of ``L`` (mostly zeros), which Hoeffding-type bounds do not.
    The rows are bet on in a fixed pseudo-random order, independent of the
    data.
"""

import warnings

import numpy as np
from scipy.stats import beta
from sklearn.utils import Bunch

BOUNDS = ("auto", "clopper_pearson", "betting")


class CertificationWarning(UserWarning):
    """No threshold but the all-Super one could be certified on this data.

    Raised by ``ThresholdSelector("risk_control")`` when the calibration data
    are too few (or the Swift too weak) to certify any input kept with the
    Swift; the selection then sends every input to the Super and reports how
    many calibration rows would be needed.

    Examples
    --------
    >>> import warnings
    >>> from elang_sk import CertificationWarning
    >>> issubclass(CertificationWarning, UserWarning)
    True
    """


def _cp_upper(k, n, level):
    """Exact (Clopper-Pearson) upper bound on a binomial rate, counts may be real."""
    k = np.asarray(k, dtype=float)
    out = np.ones_like(k)
    inner = k < n
    out[inner] = beta.ppf(1 - level, k[inner] + 1, n - k[inner])
    return out


def _cp_lower(k, n, level):
    """Exact (Clopper-Pearson) lower bound on a binomial rate, counts may be real."""
    k = np.asarray(k, dtype=float)
    out = np.zeros_like(k)
    inner = k > 0
    out[inner] = beta.ppf(level, k[inner], n - k[inner] + 1)
    return out


def clopper_pearson_bound(harm, gain, n, delta):
    """Upper confidence bound on ``harm_rate - gain_rate`` at level ``delta``."""
    return _cp_upper(harm, n, delta / 2) - _cp_lower(gain, n, delta / 2)


def betting_rejects(loss, epsilon, delta, order=None):
    """Whether the betting test rejects ``E[loss] > epsilon`` at level ``delta``.

    ``loss`` lies in [-1, 1], one row per hypothesis when 2-d; it is mapped to
    ``y = (1 - loss) / 2`` in [0, 1], and the null becomes
    ``E[y] < m = (1 - epsilon) / 2``. The capital
    ``prod(1 + lambda_i (y_i - m))`` with predictable bets
    ``0 <= lambda_i <= 0.5 / m`` is a non-negative supermartingale under the
    null; the test rejects when its running maximum reaches ``1 / delta``
    (Ville's inequality).
    """
    y = (1 - np.atleast_2d(np.asarray(loss, dtype=float))) / 2
    if order is not None:
        y = y[:, order]
    n = y.shape[1]
    m = (1 - epsilon) / 2
    steps = np.arange(1, n + 1)
    # Waudby-Smith and Ramdas's plug-in bets for a fixed n: each uses the
    # rows before it only (regularised running mean and variance).
    mean = (0.5 + np.cumsum(y, axis=1)) / (steps + 1)
    spread = (0.25 + np.cumsum((y - mean) ** 2, axis=1)) / (steps + 1)
    previous = np.concatenate([np.full((y.shape[0], 1), 0.25), spread[:, :-1]], 1)
    bets = np.minimum(np.sqrt(2 * np.log(1 / delta) / (n * previous)), 0.5 / m)
    log_capital = np.cumsum(np.log1p(bets * (y - m)), axis=1)
    rejects = log_capital.max(axis=1, initial=0.0) >= np.log(1 / delta)
    return rejects if np.ndim(loss) == 2 else bool(rejects[0])


def betting_bound(loss, delta, order=None, tol=1e-5):
    """Upper confidence bound on ``E[loss]``: the largest rejected ``epsilon``'s edge.

    The set of ``epsilon`` the betting test does not reject is an interval
    ``[bound, 1]`` (larger ``epsilon`` means a lower ``m``, hence more
    capital); the bound is found by bisection to ``tol``.
    """
    low, high = -1.0, 1.0
    if not betting_rejects(loss, high - 1e-9, delta, order):
        return 1.0
    while high - low > tol:
        mid = (low + high) / 2
        if betting_rejects(loss, mid, delta, order):
            high = mid
        else:
            low = mid
    return high


def _is_binary(*arrays):
    return all(np.isin(a, (0.0, 1.0)).all() for a in arrays)


#: Largest calibration size :func:`rows_needed` tries with the betting bound
#: (each try bets on that many rows); CP tries up to 2**40 (closed form).
_BETTING_LIMIT = 2**20


def _first_step(losses, n, rows):
    """Paired losses of ``rows`` calibration rows whose best-scored group is
    like the observed one, ``losses`` (the first step of the sequence).

    A single best-scored row (continuous scores) stays one row: at any size
    the first step keeps the one best-scored input, with its own loss. A tied
    group (discrete scores) keeps its share ``len(losses) / n`` of the rows,
    with the observed losses repeated.
    """
    out = np.zeros(rows)
    if losses.size == 1:
        out[0] = losses[0]
    else:
        kept = min(rows, max(1, round(losses.size * rows / n)))
        out[:kept] = np.resize(losses, kept)
    return out


def _certifies(losses, n, rows, epsilon, delta, bound):
    """Whether the first step would be certified on ``rows`` such rows."""
    if bound == "clopper_pearson":
        if losses.size == 1:
            harm, gain = float(losses[0] > 0), float(losses[0] < 0)
        else:
            harm = np.sum(losses > 0) / n * rows
            gain = np.sum(losses < 0) / n * rows
        edge = clopper_pearson_bound(np.array([harm]), np.array([gain]), rows, delta)
        return bool(edge[0] <= epsilon)
    order = np.random.default_rng(0).permutation(rows)
    return betting_rejects(_first_step(losses, n, rows), epsilon, delta, order)


def rows_needed(losses, n, epsilon, delta, bound):
    """Fewest calibration rows that would certify the first step of the sequence.

    The first step keeps the best-scored inputs with the Swift; the search
    asks the same ``bound`` as :func:`certify`, on calibration sets of every
    size like this one (see :func:`_first_step`), for the smallest size at
    which that step is certified: a doubling search, then a bisection.

    Parameters
    ----------
    losses : ndarray of shape (n_first,)
        Paired losses ``super - swift`` of the rows the first step keeps.
    n : int
        Number of calibration rows.
    epsilon, delta : float
        The promised loss and the failure probability.
    bound : {"clopper_pearson", "betting"}
        The confidence bound in use.

    Returns
    -------
    n_needed : float
        The number of rows, or ``inf`` when no size up to the search limit
        (``2**40`` rows for Clopper-Pearson, ``2**20`` for betting)
        certifies it.
    reason : str
        ``"rows"`` (a number was found), ``"swift"`` (tied best-scored
        inputs on which the Swift already loses ``epsilon`` or more),
        ``"tol"`` (``epsilon=0``: a bound from finitely many rows stays above
        0) or ``"limit"`` (more rows than the search limit).

    Examples
    --------
    >>> import numpy as np
    >>> from elang_sk.routing._risk import rows_needed
    >>> rows_needed(np.array([0.0]), 100, 0.01, 0.1, "clopper_pearson")
    (299.0, 'rows')
    >>> rows_needed(np.array([0.0]), 100, 0.0, 0.1, "clopper_pearson")
    (inf, 'tol')
    """
    losses = np.asarray(losses, dtype=float)
    rate = losses.sum() / n
    if losses.size > 1 and rate > 0 and rate >= epsilon:
        return np.inf, "swift"
    if epsilon <= 0 and (losses.size == 1 or rate >= 0):
        return np.inf, "tol"
    limit = 2**40 if bound == "clopper_pearson" else _BETTING_LIMIT
    low, high = 1, 2
    while not _certifies(losses, n, high, epsilon, delta, bound):
        if high >= limit:
            return np.inf, "tol" if epsilon <= 0 else "limit"
        low, high = high, min(2 * high, limit)
    while high - low > 1:
        mid = (low + high) // 2
        if _certifies(losses, n, mid, epsilon, delta, bound):
            high = mid
        else:
            low = mid
    return float(high), "rows"


def certify(
    scores, swift_quality, super_quality, *, epsilon, delta, bound="auto", cost=None
):
    """Learn-then-Test with fixed-sequence testing over the routing thresholds.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
        Finite routing scores; the Swift keeps ``score >= threshold``.
    swift_quality, super_quality : ndarray of shape (n_samples,)
        Per-input quality in [0, 1] (0/1 for right/wrong).
    epsilon : float
        The quality the joint model may lose against the Super.
    delta : float
        The probability, over the calibration sample, that the guarantee fails.
    bound : {"auto", "clopper_pearson", "betting"}
        ``"auto"`` takes Clopper-Pearson for 0/1 qualities, betting otherwise.
    cost : ndarray of shape (n_thresholds,), default=None
        Mean cost of each candidate (as in the trade-off curve, starting with
        the all-Super point); the cheapest certified threshold is returned.
        None takes the one that keeps the most inputs.

    Returns
    -------
    result : Bunch
        ``threshold``, ``certified``, ``loss_bound`` (upper confidence bound
        on the expected loss at the chosen threshold), ``empirical_loss``,
        ``n_certified`` (thresholds certified beyond the all-Super one),
        ``n_needed`` (None when a threshold beyond the all-Super one is
        certified; else the fewest
        calibration rows that would certify the first threshold of the
        sequence, searched with ``bound`` by :func:`rows_needed`, inf if
        none would), ``n_needed_reason`` (its ``reason``, or None),
        ``n_first`` (rows the first threshold keeps: the best-scored input,
        or the inputs tied with it), ``n_calibration``, ``bound``,
        ``delta``, ``epsilon``.
    """
    scores = np.asarray(scores, dtype=float)
    swift_quality = np.asarray(swift_quality, dtype=float)
    super_quality = np.asarray(super_quality, dtype=float)
    n = scores.shape[0]
    binary = _is_binary(swift_quality, super_quality)
    if bound == "auto":
        bound = "clopper_pearson" if binary else "betting"
    if bound == "clopper_pearson" and not binary:
        raise ValueError(
            "bound='clopper_pearson' needs 0/1 qualities (right/wrong); these are "
            "real-valued. Use bound='betting' (or 'auto')."
        )
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    last = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    thresholds = np.r_[np.inf, sorted_scores[last]]
    diff = (super_quality - swift_quality)[order]
    empirical = np.r_[0.0, np.cumsum(diff)[last]] / n

    if bound == "clopper_pearson":
        harm = np.r_[0.0, np.cumsum(diff > 0)[last]]
        gain = np.r_[0.0, np.cumsum(diff < 0)[last]]
        bounds = clopper_pearson_bound(harm, gain, n, delta)
        bounds[0] = 0.0  # all-Super: the loss is identically zero
        passed = bounds <= epsilon
        passed[0] = True
        n_certified = int(np.argmin(passed)) if not passed.all() else passed.size
    else:
        # Bet on the rows in a fixed order that does not depend on the data.
        bet_order = np.random.default_rng(0).permutation(n)
        bounds = np.full(thresholds.shape[0], np.nan)
        bounds[0] = 0.0
        n_certified = thresholds.shape[0]
        rank = np.empty(n, dtype=int)
        rank[order] = np.arange(n)
        unsorted = super_quality - swift_quality
        # Blocks of thresholds at once; the sequence stops at the first failure.
        for start in range(1, thresholds.shape[0], 64):
            block = np.arange(start, min(start + 64, thresholds.shape[0]))
            kept = rank[None, :] <= last[block - 1][:, None]
            rejects = betting_rejects(
                np.where(kept, unsorted, 0.0), epsilon, delta, bet_order
            )
            if not rejects.all():
                n_certified = int(block[np.argmin(rejects)])
                break

    candidates = np.arange(n_certified)
    if cost is None:
        best = candidates[-1]
    else:
        best = candidates[np.argmin(np.asarray(cost)[:n_certified])]
    if bound == "betting":
        if best == 0:
            bounds[0] = 0.0
        else:
            kept = np.zeros(n)
            kept[order[: last[best - 1] + 1]] = 1.0
            bounds[best] = betting_bound(
                kept * (super_quality - swift_quality), delta, bet_order
            )

    # When nothing is certified: the rows that would certify the first step of
    # the sequence (the best-scored inputs kept), searched with the same bound.
    n_needed = reason = None
    if n_certified == 1 and thresholds.shape[0] > 1:
        n_needed, reason = rows_needed(diff[: last[0] + 1], n, epsilon, delta, bound)

    return Bunch(
        threshold=float(thresholds[best]),
        certified=bool(best > 0),
        loss_bound=float(bounds[best]),
        empirical_loss=float(empirical[best]),
        n_certified=int(n_certified - 1),
        n_needed=n_needed,
        n_needed_reason=reason,
        n_first=int(last[0] + 1),
        first_loss=float(empirical[1]) if thresholds.shape[0] > 1 else 0.0,
        n_calibration=n,
        bound=bound,
        delta=float(delta),
        epsilon=float(epsilon),
    )


def _advice(result):
    """What would certify something, as a sentence: from ``n_needed`` and why."""
    first = (
        "the best-scored input"
        if result.n_first == 1
        else f"the {result.n_first} best-scored inputs (tied at the top score)"
    )
    reason = result.get("n_needed_reason")
    if reason == "rows":
        return (
            f"About {int(result.n_needed)} calibration rows (there are "
            f"{result.n_calibration}) would certify keeping {first} with the Swift, "
            f"at the loss observed there, with the {result.bound} bound. Add "
            "calibration data, or raise tol or delta."
        )
    if reason == "swift":
        return (
            "No number of rows would at the observed loss rates: the Swift loses "
            f"{result.first_loss:.3g} of the Super's quality per calibration row on "
            f"{first}, at least tol={result.epsilon:g}. Use a better Swift or "
            "routing score, or raise tol."
        )
    if reason == "tol":
        return (
            f"No number of rows would certify tol={result.epsilon:g}: a confidence "
            "bound from finitely many rows stays above a loss of 0 even where the "
            "Swift is never worse than the Super. Raise tol, e.g. tol=0.01 (lose "
            "at most 1 point of the Super's quality)."
        )
    if reason is None:
        return "Add calibration data, or raise tol or delta."
    return (
        "The number of calibration rows that would certify it could not be "
        f"computed: more than the {result.bound} search tries. Raise tol or delta."
    )


def warn_uncertified(result):
    """Warn that only the all-Super threshold is certified, and what would help."""
    warnings.warn(
        f"No routing threshold keeps any input with the Swift while certifying a "
        f"loss of at most tol={result.epsilon:g} against the Super with "
        f"probability {1 - result.delta:g} on {result.n_calibration} calibration "
        f"rows; every input goes to the Super (threshold=inf). {_advice(result)}",
        CertificationWarning,
        stacklevel=4,
    )
