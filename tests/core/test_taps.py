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
