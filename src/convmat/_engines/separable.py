"""Rank-one 2-D kernels as a pass along each axis: ``m + n`` taps instead of ``m n``.

Most kernels users blur with are outer products of two 1-D ones: Gaussians,
boxes, binomials, Sobel and Prewitt filters. :func:`factors` finds the two
factors of such a kernel, vouching for every tap: ``|k - u v^T|`` is within
:data:`FACTOR_ULPS` ulps of ``|k|`` at each tap, zeros exact. The shift method
then runs a pass along the second axis (``n`` taps) and one along the first
(``m`` taps) over strips of output rows that stay in cache
(:func:`forward`; each pass one call of ``scipy.ndimage.correlate1d`` for real
single and double precision data, measured 1x to 2.1x faster than a numpy
multiply-add per tap on 32² to 2000² images), and the transpose by the same
passes, scattered (:func:`transpose`).

The rounding of the two passes is that of a direct sum of ``m + n`` terms on
``|u| * |v| * |x|``, which is at most ``(1 + FACTOR_ULPS eps) (|k| * |x|)``:
the error is within ``(m + n + FACTOR_ULPS + 1) eps`` of ``(|k| * |x|)(o)``.
:func:`factors` offers the factors only where that is at most the direct
sum's own ``taps * eps``, so the shift method's bound stays a direct sum's.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .._core.index import AxisMap

__all__: list[str] = []

FACTOR_ULPS = 4  # the per-tap residual allowed, in ulps of the kernel's dtype
STRIP_BYTES = 2**20  # a strip of window rows (the first pass's input) fits about this


def factors(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(u, v)`` with ``kernel[i, j] == u[i] * v[j]`` to :data:`FACTOR_ULPS` ulps of the
    tap at every tap (exactly where the tap is 0), in the kernel's dtype; None where the
    kernel is not 2-D and real floating point, not rank one, or too small to gain
    (``m + n + FACTOR_ULPS + 1`` terms exceed its nonzero taps).

    The factors are a cross of the kernel through its largest tap ``k[p, q]``:
    ``u = k[:, q]``, ``v = k[p, :] / k[p, q]``, exact for a rank-one kernel up to the
    rounding of the quotient and the product (computed in float64, or in long double
    for a long double kernel)."""
    if kernel.ndim != 2 or kernel.dtype.kind != "f" or min(kernel.shape) < 2:
        return None
    m, n = kernel.shape
    nonzero = int(np.count_nonzero(kernel))
    if m + n + FACTOR_ULPS + 1 > nonzero or not np.isfinite(kernel).all():
        return None
    wide = np.promote_types(kernel.dtype, np.float64)
    k = kernel.astype(wide)
    p, q = np.unravel_index(int(np.argmax(np.abs(k))), k.shape)
    u = k[:, q].astype(kernel.dtype)
    v = (k[p, :] / k[p, q]).astype(kernel.dtype)
    with np.errstate(over="ignore", under="ignore"):
        product = np.outer(u.astype(wide), v.astype(wide))
    eps = float(np.finfo(kernel.dtype).eps)
    if not bool((np.abs(k - product) <= FACTOR_ULPS * eps * np.abs(k)).all()):
        return None
    return u, v


def forward(
    images: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    maps: tuple[AxisMap, AxisMap],
    output_shape: tuple[int, int],
) -> np.ndarray:
    """``(B, n0, n1)`` images -> ``(B, L0, L1)`` outputs: per strip of output rows, the
    window rows it reads (the boundary's rows, gathered), extended along the second
    axis, a pass of `v` along it, then a pass of `u` along the first axis.

    Tap ``j`` of an axis reads window position ``o + m - 1 - j``; every output sums its
    taps in the same order whatever the strip, so strips change no result."""
    batch = images.shape[0]
    mp0, mp1 = maps
    length0, length1 = output_shape
    dtype = np.result_type(images.dtype, u.dtype)
    out = np.empty((batch, length0, length1), dtype=dtype)
    row_bytes = batch * mp1.span * dtype.itemsize
    rows = max(8 * (mp0.m - 1), STRIP_BYTES // max(row_bytes, 1), 1)
    index0, index1 = mp0.window, mp1.window
    pad1 = index1 < 0
    columns = np.maximum(index1, 0)
    for r0 in range(0, length0, rows):
        r1 = min(length0, r0 + rows)
        reads = index0[r0 : r1 + mp0.m - 1]  # the window rows this strip reads
        inside = reads >= 0
        # rows of zero padding along the first axis pass as zeros: only the others run
        strip = np.take(images, reads[inside], axis=1).astype(dtype, copy=False)
        strip = np.take(strip, columns, axis=2)
        if pad1.any():
            strip[:, :, pad1] = 0
        if inside.all():
            across = _pass(strip, v, axis=2, length=length1)
        else:
            across = np.zeros((batch, reads.size, length1), dtype=dtype)
            if inside.any():
                across[:, inside] = _pass(strip, v, axis=2, length=length1)
        out[:, r0:r1] = _pass(across, u, axis=1, length=r1 - r0)
    return out


def _pass(a: np.ndarray, taps: np.ndarray, *, axis: int, length: int) -> np.ndarray:
    """``sum_j taps[j] * a[..., m - 1 - j : m - 1 - j + length, ...]`` along `axis`, the
    nonzero taps in order; by scipy.ndimage's ``correlate1d`` where it keeps the bound
    (:func:`ndimage_serves`)."""
    m = taps.size
    if ndimage_serves(a.dtype, taps):
        # ndimage's output p sums w[i] a[p + i] with origin -(m // 2): the reversed taps
        full = ndimage.correlate1d(
            a, taps[::-1], axis=axis, mode="constant", origin=-(m // 2), output=a.dtype
        )
        index_: list[slice] = [slice(None)] * a.ndim
        index_[axis] = slice(0, length)
        return np.asarray(full[tuple(index_)])
    index: list[slice] = [slice(None)] * a.ndim
    shape = list(a.shape)
    shape[axis] = length
    out = np.zeros(shape, dtype=a.dtype)
    tmp = np.empty(shape, dtype=a.dtype)
    for j, value in enumerate(taps.tolist()):
        if value == 0:
            continue
        index[axis] = slice(m - 1 - j, m - 1 - j + length)
        np.multiply(a[tuple(index)], value, out=tmp)
        out += tmp
    return out


NDIMAGE_TAPS = 6  # the fewest taps of a pass that scipy.ndimage runs


def ndimage_serves(dtype: np.dtype, taps: np.ndarray) -> bool:
    """Whether a pass of `taps` over data of `dtype` runs by ``scipy.ndimage.correlate1d``:
    real single or double precision data and taps, and at least :data:`NDIMAGE_TAPS`
    taps. ndimage sums each output in double precision, in order (within ``m eps`` of
    the sum of magnitudes), or, for symmetric or antisymmetric taps, adds the two entries
    a pair of equal taps reads first (``ceil(m / 2) + 2`` roundings, within ``m eps``
    from 4 taps on): either way the bound of the passes one tap at a time; single
    precision data are rounded to single once, at the end. Each output is summed in the
    same order whatever the strip or batch it is in."""
    return (
        dtype in (np.dtype(np.float32), np.dtype(np.float64))
        and taps.dtype in (np.dtype(np.float32), np.dtype(np.float64))
        and taps.size >= NDIMAGE_TAPS
    )


def transpose(
    outputs: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    window_shape: tuple[int, int],
) -> np.ndarray:
    """``(B, L0, L1)`` -> ``(B, W0, W1)``: the adjoint of the two passes, scattered onto
    the window (the caller folds it onto the input)."""
    batch, length0, length1 = outputs.shape
    m0, m1 = u.size, v.size
    across = np.zeros((batch, window_shape[0], length1), dtype=outputs.dtype)
    for i, value in enumerate(u.tolist()):
        if value != 0:
            across[:, m0 - 1 - i : m0 - 1 - i + length0] += outputs * value
    z = np.zeros((batch, *window_shape), dtype=outputs.dtype)
    for j, value in enumerate(v.tolist()):
        if value != 0:
            z[:, :, m1 - 1 - j : m1 - 1 - j + length1] += across * value
    return z


def pass_work(m0: int, m1: int, output_shape: tuple[int, int], nonzero: tuple[int, int]) -> int:
    """Multiply-adds of :func:`forward` per image: the second axis's pass over the strip
    rows (each strip reads ``m0 - 1`` rows more than it writes), then the first's."""
    length0, length1 = output_shape
    rows = max(8 * (m0 - 1), 1)
    overlap = (min(rows, length0) + m0 - 1) / max(min(rows, length0), 1)
    return math.ceil(nonzero[1] * length0 * length1 * overlap + nonzero[0] * length0 * length1)
