"""Per-output sums of kernel taps inside and outside the input: the offset the fill padding adds.

Both sums add only the taps they name, never "all taps minus the others", so
that a tap sum carries the rounding of a direct sum of those taps and no more:
an output that reads no padding gets exactly zero offset.
"""

from __future__ import annotations

import numpy as np

from .index import AxisMap
from .plan import Plan

__all__: list[str] = []


SMALL_AXIS = 2**20  # (length * m) entries below which an axis's 0/1 map is built outright


def _prefix_suffix(moved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``prefix[i]``, the sum of ``moved[:i]``, and ``suffix[i]``, the sum of ``moved[i:]``
    (axis 0, ``i`` from 0 to ``m``): each a direct sum of its own taps."""
    zero = np.zeros((1, *moved.shape[1:]), moved.dtype)
    prefix = np.concatenate([zero, np.cumsum(moved, 0)])
    suffix = np.concatenate([np.cumsum(moved[::-1], 0)[::-1], zero])
    return prefix, suffix


def _run_sums(moved: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per output, the sum of ``moved[lo:hi]`` (axis 0), each a direct sum of its own run.

    A run that starts at 0 is a prefix sum, one that ends at the axis's end a suffix
    sum; runs strictly inside (a kernel longer than the input) are summed by
    ``np.add.reduceat``. No run is a difference of two sums.
    """
    m = moved.shape[0]
    prefix, suffix = _prefix_suffix(moved)
    out = np.where(
        (lo == 0).reshape(-1, *[1] * (moved.ndim - 1)), prefix[hi], suffix[np.minimum(lo, m)]
    )
    inner = np.flatnonzero((lo > 0) & (hi < m) & (hi > lo))
    if inner.size:
        bounds = np.stack([lo[inner], hi[inner]], axis=1).reshape(-1)
        out[inner] = np.add.reduceat(moved, bounds, axis=0)[::2]
    out[hi <= lo] = 0
    return np.asarray(out)


def _axis_sum(values: np.ndarray, mp: AxisMap, axis: int, *, inside: bool) -> np.ndarray:
    """Contract `axis` of `values` (the taps) with the axis's inside (or outside)
    indicator -> outputs.

    Small axes use the ``(length, m)`` 0/1 map; long ones, whose taps inside
    form one run ``lo .. hi`` per output (zero padding only), use prefix and
    suffix sums: O(n + m).
    """
    run = mp.input_run
    if mp.length * mp.m <= SMALL_AXIS or run is None or not mp.convolution:
        chosen = (mp.raw >= 0) if inside else (mp.raw < 0)
        return np.moveaxis(
            np.tensordot(chosen.astype(values.dtype), values, ([1], [axis])), 0, axis
        )
    moved = np.moveaxis(values, axis, 0)
    lo, hi = mp.tap_runs(np.arange(mp.length))
    if inside:
        out = _run_sums(moved, lo, hi)
    else:  # the taps before the run, and those after it
        prefix, suffix = _prefix_suffix(moved)
        out = prefix[lo] + suffix[hi]
    return np.moveaxis(out, 0, axis)


def inside_sum(values: np.ndarray, plan: Plan) -> np.ndarray:
    """For each output (shape ``plan.output_shape``), the sum of ``values[j]`` over the taps
    that read the input (not the fill padding). ``values`` has the kernel's shape."""
    inside = values
    for d, mp in enumerate(plan.maps):
        inside = _axis_sum(inside, mp, d, inside=True)
    return np.asarray(inside)


def outside_sum(values: np.ndarray, plan: Plan) -> np.ndarray:
    """For each output (flattened), the sum of ``values[j]`` over taps that read the fill
    padding. ``values`` has the kernel's shape.

    A tap reads the padding when it falls outside the input in some axis; each
    such tap is counted once, under the first axis ``d`` in which it falls
    outside: inside in the axes before ``d``, outside in ``d``, anywhere in
    the axes after. The sum is of those disjoint pieces, one contraction with
    a small map per axis each.
    """
    maps = plan.maps
    total = np.zeros(plan.output_shape, dtype=values.dtype)
    for d in range(len(maps)):
        piece = values
        for e, mp in enumerate(maps):
            if e < d:
                piece = _axis_sum(piece, mp, e, inside=True)
            elif e == d:
                piece = _axis_sum(piece, mp, e, inside=False)
            else:
                piece = piece.sum(axis=e, keepdims=True)
        total = total + piece
    return total.reshape(-1)
