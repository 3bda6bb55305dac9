"""Per-output sums of kernel taps inside and outside the input: the offset the fill padding adds."""

from __future__ import annotations

import numpy as np

from .index import AxisMap
from .plan import Plan

__all__: list[str] = []


SMALL_AXIS = 2**20  # (length * m) entries below which an axis's 0/1 map is built outright


def _inside_sum(values: np.ndarray, mp: AxisMap, axis: int) -> np.ndarray:
    """Contract `axis` of `values` (the taps) with the axis's inside indicator -> outputs.

    Small axes use the ``(length, m)`` 0/1 map; long ones, whose taps inside
    form one run per output (zero padding only), use prefix sums: O(n + m).
    """
    run = mp.input_run
    if mp.length * mp.m <= SMALL_AXIS or run is None or not mp.convolution:
        inside = (mp.raw >= 0).astype(values.dtype)
        return np.moveaxis(np.tensordot(inside, values, axes=([1], [axis])), 0, axis)
    moved = np.moveaxis(values, axis, 0)
    prefix = np.concatenate([np.zeros((1, *moved.shape[1:]), moved.dtype), np.cumsum(moved, 0)])
    lo, hi = mp.tap_runs(np.arange(mp.length))
    return np.moveaxis(prefix[hi] - prefix[lo], 0, axis)


def inside_sum(values: np.ndarray, plan: Plan) -> np.ndarray:
    """For each output (shape ``plan.output_shape``), the sum of ``values[j]`` over the taps
    that read the input (not the fill padding). ``values`` has the kernel's shape."""
    inside = values
    for d, mp in enumerate(plan.maps):
        inside = _inside_sum(inside, mp, d)
    return np.asarray(inside)


def outside_sum(values: np.ndarray, plan: Plan) -> np.ndarray:
    """For each output, the sum of ``values[j]`` over taps that read the fill padding.

    ``values`` has the kernel's shape. The sum over all taps minus the sum over
    taps inside is a tensor contraction with one small map per axis.
    """
    total = values.sum()
    return np.asarray(total - inside_sum(values, plan)).reshape(-1)
