"""Per-output tap sums: the offset the fill padding adds."""

from __future__ import annotations

import numpy as np
import pytest

import convmat
from convmat._core.plan import make_plan
from convmat._core.taps import inside_sum, outside_sum


@pytest.mark.parametrize("mode", ["full", "same"])
def test_outside_sum_is_the_fill_offset(mode):
    """The per-output sum of the taps that read the zero padding: what a fillvalue of 1
    adds beyond the zero-padded convolution."""
    k = np.arange(1.0, 13.0).reshape(3, 4)
    plan = make_plan((5, 6), k.shape, mode, "fill")
    offset = outside_sum(k, plan)
    x = np.zeros((5, 6))
    expected = convmat.conv2d(x, k, mode, "fill", 1.0) - convmat.conv2d(x, k, mode)
    np.testing.assert_array_equal(offset.reshape(expected.shape), expected)


@pytest.mark.parametrize("boundary", ["wrap", "symm"])
def test_every_tap_reads_the_input_without_padding(boundary):
    """'wrap' and 'symm' extend the input itself: every tap reads it, none the padding."""
    k = np.arange(1.0, 7.0).reshape(2, 3)
    plan = make_plan((4, 5), k.shape, "same", boundary)
    np.testing.assert_array_equal(outside_sum(k, plan), np.zeros(20))
    np.testing.assert_array_equal(inside_sum(k, plan), np.full((4, 5), k.sum()))


def _outside_reference(values: np.ndarray, plan) -> np.ndarray:
    """The sum over the taps that read the padding, tap by tap (math.fsum: exact)."""
    import itertools
    import math

    raws = [mp.raw for mp in plan.maps]
    out = np.zeros(plan.output_shape)
    for o in itertools.product(*(range(n) for n in plan.output_shape)):
        terms = [
            values[j]
            for j in itertools.product(*(range(m) for m in values.shape))
            if any(raw[oi, ji] < 0 for raw, oi, ji in zip(raws, o, j, strict=True))
        ]
        out[o] = math.fsum(terms)
    return out.reshape(-1)


@pytest.mark.parametrize("small_axis", [2**20, 0], ids=["maps", "runs"])
@pytest.mark.parametrize(
    ("shape", "k_shape", "mode"),
    [
        ((7, 9), (3, 4), "full"),
        ((7, 9), (3, 4), "same"),
        ((3, 2), (5, 6), "full"),
        ((3, 2), (5, 6), "same"),
        ((11,), (4,), "full"),
        ((3,), (8,), "same"),
        ((4, 3, 5), (2, 3, 3), "same"),
    ],
)
def test_outside_sum_adds_only_the_taps_outside(monkeypatch, small_axis, shape, k_shape, mode):
    """Each output's offset is a sum of the taps that read padding and of nothing else:
    values that cancel in "all taps minus those inside" leave no trace, and an output
    that reads no padding gets exactly 0 (both the 0/1 maps and the long axes' runs)."""
    from convmat._core import taps

    monkeypatch.setattr(taps, "SMALL_AXIS", small_axis)
    rng = np.random.default_rng(len(shape) * 10 + sum(k_shape))
    # huge and tiny taps side by side: a difference of sums would lose the tiny ones
    values = rng.standard_normal(k_shape) * 10.0 ** rng.integers(-20, 20, k_shape)
    plan = make_plan(shape, k_shape, mode, "fill")
    got = outside_sum(values, plan)
    expected = _outside_reference(values, plan)
    scale = outside_sum(np.abs(values), plan)
    np.testing.assert_array_less(np.abs(got - expected), 8 * np.finfo(float).eps * scale + 1e-300)
    reads_none = scale == 0
    np.testing.assert_array_equal(got[reads_none], 0.0)
    ints = rng.integers(-(2**40), 2**40, k_shape)
    np.testing.assert_array_equal(
        outside_sum(ints, plan), _outside_reference(ints.astype(object), plan).astype(np.int64)
    )


@pytest.mark.parametrize("small_axis", [2**20, 0], ids=["maps", "runs"])
def test_inside_sum_of_runs_strictly_inside(monkeypatch, small_axis):
    """A kernel longer than the input: the middle outputs' runs start and end inside the
    kernel, and are summed directly (not as a difference of prefix sums)."""
    from convmat._core import taps

    monkeypatch.setattr(taps, "SMALL_AXIS", small_axis)
    values = np.array([1e20, 1.0, 2.0, 3.0, -1e20, 5.0, 7.0])
    plan = make_plan((2,), values.shape, "full", "fill")
    np.testing.assert_array_equal(
        inside_sum(values, plan), [1e20, 1e20 + 1, 3.0, 5.0, 3 - 1e20, -1e20, 12.0, 7.0]
    )
