"""Private FLOP counting with :class:`torch.utils.flop_counter.FlopCounterMode`."""

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


def flops_per_input(lengths, flops_of_length, memo):
    """FLOPs of every input, counted once per distinct tokenized length.

    Parameters
    ----------
    lengths : sequence of int
        Tokenized length of every input.
    flops_of_length : callable
        ``flops_of_length(length)`` counts the FLOPs of one input of that length.
    memo : dict
        ``length -> flops``; filled in place so later calls reuse the counts.

    Returns
    -------
    flops : list of int
    """
    for length in sorted(set(lengths)):
        if length not in memo:
            memo[length] = flops_of_length(length)
    return [memo[length] for length in lengths]
