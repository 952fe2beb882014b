"""Private FLOP counting with :class:`torch.utils.flop_counter.FlopCounterMode`."""

from fractions import Fraction

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn):
    """FLOPs of one call of ``fn()`` (matrix products and attention).

    The fused CPU attention kernels are not known to the FLOP counter, so the
    call runs with the "math" attention backend, which computes the same thing
    through plain matrix products that the counter sees.
    """
    with (
        torch.inference_mode(),
        sdpa_kernel(SDPBackend.MATH),
        FlopCounterMode(display=False) as counter,
    ):
        fn()
    return int(counter.get_total_flops())


def _quadratic_through(points):
    """Exact quadratic (Lagrange form, rationals) through three (x, y) points."""
    (x0, y0), (x1, y1), (x2, y2) = points

    def value(x):
        return (
            Fraction(y0 * (x - x1) * (x - x2), (x0 - x1) * (x0 - x2))
            + Fraction(y1 * (x - x0) * (x - x2), (x1 - x0) * (x1 - x2))
            + Fraction(y2 * (x - x0) * (x - x1), (x2 - x0) * (x2 - x1))
        )

    return value


def flops_per_input(lengths, flops_of_length, memo):
    """FLOPs of every input, from a few counted lengths.

    The matrix products of a transformer cost ``a + b L + c L^2`` FLOPs for
    ``L`` tokens (projections and feed-forward layers are linear in ``L``,
    attention is quadratic). Counting four lengths fixes the three
    coefficients and checks them on the fourth; every other length is then
    computed exactly. If a model does not follow that law (the check fails),
    every distinct length is counted.

    Parameters
    ----------
    lengths : sequence of int
        Tokenized length of every input.
    flops_of_length : callable
        ``flops_of_length(length)`` counts the FLOPs of one input of that length.
    memo : dict
        ``length -> flops`` and the fitted law under ``"quadratic"``; filled in
        place so later calls reuse the counts.

    Returns
    -------
    flops : list of int
    """
    distinct = sorted(set(lengths))
    missing = [length for length in distinct if length not in memo]
    if missing and "quadratic" not in memo:
        counted = sorted(k for k in memo if isinstance(k, int))
        spread = sorted(set(np.linspace(0, len(missing) - 1, 4).round().astype(int)))
        for i in spread:
            if len(counted) >= 4:
                break
            memo[missing[i]] = flops_of_length(missing[i])
            counted = sorted(k for k in memo if isinstance(k, int))
        if len(counted) >= 4:
            law = _quadratic_through([(x, memo[x]) for x in counted[:3]])
            exact = all(law(x) == memo[x] for x in counted[3:])
            memo["quadratic"] = law if exact else None
    law = memo.get("quadratic")
    for length in missing:
        if length not in memo:
            memo[length] = int(law(length)) if law else flops_of_length(length)
    return [memo[length] for length in lengths]
