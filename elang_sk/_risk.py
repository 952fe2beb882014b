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


def _rows_needed_cp(harm_rate, gain_rate, epsilon, delta, limit=2**40):
    """Fewest rows at which these observed rates would be certified (or inf).

    The counts are scaled to each row count tried; a bisection on the count.
    """
    if harm_rate - gain_rate >= epsilon:
        return np.inf

    def certified(n):
        bound = clopper_pearson_bound(
            np.array([harm_rate * n]), np.array([gain_rate * n]), n, delta
        )
        return bound[0] <= epsilon

    if not certified(limit):
        return np.inf
    low, high = 0, limit
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if certified(mid) else (mid, high)
    return float(high)


def _rows_needed_bernstein(mean, var, epsilon, delta):
    """Rows at which the empirical Bernstein bound would certify these moments.

    Maurer and Pontil's bound for a variable of range 2,
    ``mean + sqrt(2 var log(2/delta) / n) + 14 log(2/delta) / (3 (n - 1))``,
    is looser than the betting bound it stands in for here, so the count is an
    estimate from above, not a certificate.
    """
    gap = epsilon - mean
    if gap <= 0:
        return np.inf
    log_term = np.log(2 / delta)
    a, b = np.sqrt(2 * var * log_term), 14 * log_term / 3
    root = (-a + np.sqrt(a * a + 4 * b * gap)) / (2 * b)
    return float(np.ceil(1 / root**2) + 1)


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
        ``n_needed`` (None when something is certified; else the fewest
        calibration rows that would certify the first threshold of the
        sequence at its observed loss rates, inf if none would),
        ``n_calibration``, ``bound``, ``delta``, ``epsilon``.
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
    # the sequence (the best-scored inputs kept) at its observed loss rates.
    n_needed = None
    if best == 0 and thresholds.shape[0] > 1:
        if bound == "clopper_pearson":
            n_needed = _rows_needed_cp(harm[1] / n, gain[1] / n, epsilon, delta)
        else:
            first = diff[: last[0] + 1]
            n_needed = _rows_needed_bernstein(
                first.sum() / n,
                np.sum(first**2) / n - (first.sum() / n) ** 2,
                epsilon,
                delta,
            )

    return Bunch(
        threshold=float(thresholds[best]),
        certified=bool(best > 0),
        loss_bound=float(bounds[best]),
        empirical_loss=float(empirical[best]),
        n_certified=int(n_certified - 1),
        n_needed=n_needed,
        n_calibration=n,
        bound=bound,
        delta=float(delta),
        epsilon=float(epsilon),
    )


def warn_uncertified(result):
    """Warn that only the all-Super threshold is certified, and what would help."""
    needed = (
        f"about {int(result.n_needed)} calibration rows at the observed loss rates "
        "would certify keeping the best-scored inputs with the Swift"
        if result.n_needed is not None and np.isfinite(result.n_needed)
        else "no number of rows would at the observed loss rates: the Swift "
        "already loses at least epsilon on its best-scored inputs"
    )
    warnings.warn(
        f"No routing threshold keeps any input with the Swift while certifying a "
        f"loss of at most epsilon={result.epsilon:g} against the Super with "
        f"probability {1 - result.delta:g} on {result.n_calibration} calibration "
        f"rows; every input goes to the Super (threshold=inf). {needed[0].upper()}"
        f"{needed[1:]}. Add calibration data, or raise tol or delta.",
        CertificationWarning,
        stacklevel=4,
    )
