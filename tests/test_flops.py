"""FLOPs per input from a few counted lengths."""

import pytest

pytest.importorskip("torch")

from elang_sk.hf._flops import flops_per_input


def _counter(law):
    calls = []

    def count(length):
        calls.append(length)
        return law(length)

    return count, calls


def test_quadratic_law_counts_four_lengths_only():
    """A transformer-like cost law is fitted from 4 counts and is exact."""

    def law(n):
        return 1000 + 96 * n + 7 * n * n

    count, calls = _counter(law)
    lengths = list(range(3, 80)) + [5, 5, 9]
    memo = {}
    assert flops_per_input(lengths, count, memo) == [law(n) for n in lengths]
    assert len(calls) == 4
    assert flops_per_input([200, 3], count, memo) == [law(200), law(3)]
    assert len(calls) == 4


def test_other_laws_fall_back_to_counting_every_length():
    """When the fourth count disagrees with the fit, every length is counted."""

    def law(n):
        return n**3 + 1

    count, calls = _counter(law)
    lengths = list(range(1, 30))
    assert flops_per_input(lengths, count, {}) == [law(n) for n in lengths]
    assert sorted(calls) == lengths


def test_few_lengths_are_counted_directly():
    """Three distinct lengths or fewer are simply counted."""
    count, calls = _counter(lambda n: 10 * n)
    assert flops_per_input([4, 2, 4, 7], count, {}) == [40, 20, 40, 70]
    assert sorted(calls) == [2, 4, 7]
