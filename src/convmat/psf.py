"""Point-spread functions for deblurring: Gaussian blur, linear motion, defocus.

Each returns a kernel of nonnegative floats summing to 1 (to the rounding of
its dtype), centred on its middle entry (between the two middle entries
along an axis of even length), ready for :func:`convmat.deconvolve2d`,
:func:`convmat.convolve` or :class:`convmat.ConvOperator`. They follow the
conventions of MATLAB's ``fspecial``: ``gaussian`` samples the density at the
pixel centres, ``motion`` is a line segment of unit width, anti-aliased by
each pixel's distance to it, and ``disk`` is the fraction of each pixel that
a disk covers (a pillbox, the geometric model of defocus).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ._core.validate import check_positive_real, short_repr

__all__ = ["disk", "gaussian", "motion"]


def _float_dtype(dtype: npt.DTypeLike) -> np.dtype:
    """`dtype` as a real floating dtype, or a TypeError that names it."""
    try:
        out = np.dtype(dtype)
    except TypeError:
        out = None
    if out is None or out.kind != "f":
        msg = f"`dtype` must be a real floating dtype, got {short_repr(dtype)}"
        raise TypeError(msg)
    return out


def _normalised(kernel: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`kernel` (float64, nonnegative, nonzero sum) in `dtype`, divided by its sum there."""
    wide = kernel.astype(dtype)
    return np.asarray(wide / wide.sum(dtype=dtype))


def gaussian(
    shape: int | Sequence[int],
    sigma: float | Sequence[float],
    *,
    dtype: npt.DTypeLike = np.float64,
) -> np.ndarray:
    """A Gaussian blur: the normal density sampled at the pixel centres, summing to 1.

    Parameters
    ----------
    shape : int or sequence of int
        The kernel's shape; an int is a square (2-D) kernel. Any number of
        axes: ``(n,)`` is a 1-D kernel. A common choice covers three standard
        deviations each side: ``2 * ceil(3 * sigma) + 1``.
    sigma : float or sequence of float
        The standard deviation in pixels, > 0, one for every axis or one per
        axis.
    dtype : floating dtype, optional
        The kernel's dtype (float64 by default).

    Returns
    -------
    numpy.ndarray
        Shape `shape`, entries ``exp(-sum(d_i**2 / (2 sigma_i**2)))`` over the
        offsets ``d_i`` of each pixel from the centre, divided by their sum.

    Raises
    ------
    TypeError
        `shape` or `sigma` is not made of numbers, or `dtype` is not a
        floating dtype.
    ValueError
        A side is not a positive integer, a sigma is not finite and > 0, or
        `sigma` has neither one entry nor one per axis.

    See Also
    --------
    motion, disk : the other point-spread functions.
    convmat.deconvolve2d : deblurring with a known kernel.

    Notes
    -----
    The kernel is separable: it is the outer product of its 1-D profiles,
    which :func:`convmat.convolve` applies as two passes. As MATLAB's
    ``fspecial('gaussian', shape, sigma)``, the density is sampled, not
    integrated over each pixel: for ``sigma`` below about 0.5 the samples
    underweight the centre's neighbours against a pixel-integrated blur.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat import psf
    >>> k = psf.gaussian(5, 1.0)
    >>> k.shape, float(k.sum())
    ((5, 5), 1.0)
    >>> bool(np.allclose(k, k.T)), int(np.argmax(k))
    (True, 12)
    >>> psf.gaussian((3,), 0.5).round(4)
    array([0.1065, 0.787 , 0.1065])
    """
    sides = _shape(shape)
    sigmas = _per_axis(sigma, "sigma", len(sides))
    out_dtype = _float_dtype(dtype)
    kernel = np.ones((), dtype=np.float64)
    for n, s in zip(sides, sigmas, strict=True):
        d = np.arange(n) - (n - 1) / 2
        kernel = np.multiply.outer(kernel, np.exp(-(d**2) / (2 * s * s)))
    return _normalised(kernel, out_dtype)


def motion(
    length: float,
    angle: float = 0.0,
    *,
    dtype: npt.DTypeLike = np.float64,
) -> np.ndarray:
    """Linear motion blur: a line segment `length` pixels long at `angle` degrees.

    Parameters
    ----------
    length : float
        The length of the motion in pixels, >= 1: the distance between the
        centres of the first and last pixels a horizontal motion covers is
        ``length - 1``.
    angle : float, optional
        The direction in degrees, counterclockwise from the horizontal axis
        as an image is displayed (row 0 at the top): 0 blurs along the rows,
        90 along the columns.
    dtype : floating dtype, optional
        The kernel's dtype (float64 by default).

    Returns
    -------
    numpy.ndarray
        A 2-D kernel of odd sides, just large enough to hold the segment:
        each pixel weighs ``max(0, 1 - d)``, ``d`` its centre's distance to
        the segment in pixels, divided by the sum. A motion along the rows of
        an odd integer `length` is ``np.ones((1, length)) / length``.

    Raises
    ------
    TypeError
        `length` or `angle` is not a real number, or `dtype` is not a
        floating dtype.
    ValueError
        `length` is below 1 or not finite, or `angle` is not finite.

    See Also
    --------
    gaussian, disk : the other point-spread functions.

    Notes
    -----
    The segment runs through the kernel's centre, so that the blur does not
    shift the image. As MATLAB's ``fspecial('motion', len, theta)``, pixels
    near the segment share its weight by their distance to it; the sides
    are the smallest odd ones that hold every pixel of nonzero weight.

    Examples
    --------
    >>> from convmat import psf
    >>> psf.motion(5)
    array([[0.2, 0.2, 0.2, 0.2, 0.2]])
    >>> psf.motion(3, 90).ravel()
    array([0.33333333, 0.33333333, 0.33333333])
    >>> k = psf.motion(9, 30)
    >>> k.shape, round(float(k.sum()), 12)
    ((5, 9), 1.0)
    """
    size = check_positive_real(length, "length")
    if size < 1:
        msg = f"`length` must be a finite real number >= 1, got {short_repr(length)}"
        raise ValueError(msg)
    if isinstance(angle, (bool, np.bool_)) or not isinstance(angle, numbers.Real):
        msg = f"`angle` must be a real number of degrees, got {short_repr(angle)}"
        raise TypeError(msg)
    if not math.isfinite(float(angle)):
        msg = f"`angle` must be a finite number of degrees, got {short_repr(angle)}"
        raise ValueError(msg)
    out_dtype = _float_dtype(dtype)
    theta = math.radians(float(angle))
    half = (size - 1) / 2
    # the segment's direction in (row, column): up the screen is a decreasing row
    drow, dcol = -math.sin(theta), math.cos(theta)
    # half-sides reaching every pixel within one pixel of the segment; the border rows
    # and columns of zeros are dropped below, in pairs (the kernel is point-symmetric)
    reach_r = math.ceil(half * abs(drow) + 1)
    reach_c = math.ceil(half * abs(dcol) + 1)
    rows = np.arange(-reach_r, reach_r + 1, dtype=np.float64)[:, None]
    cols = np.arange(-reach_c, reach_c + 1, dtype=np.float64)[None, :]
    along = np.clip(rows * drow + cols * dcol, -half, half)  # the nearest point's position
    dist = np.hypot(rows - along * drow, cols - along * dcol)
    kernel = np.maximum(0.0, 1.0 - dist)
    kernel[np.abs(kernel) < 1e-12] = 0.0  # a pixel one pixel away: no weight, exactly
    while kernel.shape[0] > 1 and not kernel[0].any():
        kernel = kernel[1:-1]
    while kernel.shape[1] > 1 and not kernel[:, 0].any():
        kernel = kernel[:, 1:-1]
    return _normalised(kernel, out_dtype)


def disk(radius: float, *, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    """Defocus blur: the share of each pixel that a disk of `radius` pixels covers.

    Parameters
    ----------
    radius : float
        The disk's radius in pixels, >= 0 (0 is the identity kernel
        ``[[1.0]]``).
    dtype : floating dtype, optional
        The kernel's dtype (float64 by default).

    Returns
    -------
    numpy.ndarray
        A square kernel of side ``2 * ceil(radius - 0.5) + 1`` (the pixels
        the disk reaches), each entry the area of the pixel inside the disk
        centred on the middle pixel, divided by the disk's area.

    Raises
    ------
    TypeError
        `radius` is not a real number, or `dtype` is not a floating dtype.
    ValueError
        `radius` is negative or not finite.

    See Also
    --------
    gaussian, motion : the other point-spread functions.

    Notes
    -----
    A pillbox (uniform disk) is the geometric-optics model of an
    out-of-focus lens, as MATLAB's ``fspecial('disk', radius)``. Pixels wholly
    inside the disk weigh 1 before normalisation; pixels its rim crosses
    weigh the area inside, in closed form, so that the weights before
    normalisation sum to ``pi * radius**2``.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat import psf
    >>> psf.disk(0)
    array([[1.]])
    >>> k = psf.disk(2)
    >>> k.shape, round(float(k.sum()), 12), bool(np.allclose(k, k[::-1, ::-1]))
    ((5, 5), 1.0, True)
    >>> bool(k[2, 2] == k.max() and k[0, 0] < k[0, 2])
    True
    """
    r = check_positive_real(radius, "radius", zero=True)
    out_dtype = _float_dtype(dtype)
    reach = max(0, math.ceil(r - 0.5))
    centres = np.arange(-reach, reach + 1, dtype=np.float64)
    # per pixel, its nearest and farthest points from the disk's centre
    near_1d = np.maximum(np.abs(centres) - 0.5, 0.0)
    far_1d = np.abs(centres) + 0.5
    near = np.hypot(near_1d[:, None], near_1d[None, :])
    far = np.hypot(far_1d[:, None], far_1d[None, :])
    kernel = np.where(far <= r, 1.0, 0.0)
    for i, j in np.argwhere((near < r) & (far > r)).tolist():
        a, b = sorted((abs(float(centres[i])), abs(float(centres[j]))))
        kernel[i, j] = _pixel_area(r, a, b)  # in one order: the kernel is exactly symmetric
    if r == 0 or kernel.sum() == 0:
        kernel = np.ones((1, 1))  # a disk of no area: the identity
    return _normalised(kernel, out_dtype)


def _pixel_area(r: float, a: float, b: float) -> float:
    """The area of the unit pixel centred at ``(a, b)``, ``a, b >= 0``, inside the disk of
    radius `r` centred at the origin: by the disk's symmetry, a side that straddles an axis
    is its two halves folded into the first quadrant."""

    def pieces(c: float) -> list[tuple[float, float]]:
        return [(c - 0.5, c + 0.5)] if c >= 0.5 else [(0.0, 0.5 - c), (0.0, 0.5 + c)]

    return sum(_quadrant_area(r, x0, x1, y0, y1) for x0, x1 in pieces(a) for y0, y1 in pieces(b))


def _quadrant_area(r: float, x0: float, x1: float, y0: float, y1: float) -> float:
    """The area of ``[x0, x1] x [y0, y1]`` (in the first quadrant) inside the disk of radius
    `r` centred at the origin: the integral over ``x`` of the column ``[y0, min(y1, s(x))]``,
    ``s(x) = sqrt(r**2 - x**2)``, in closed form."""

    def primitive(x: float) -> float:  # the integral of s from 0 to x, x <= r
        x = min(x, r)
        return (x * math.sqrt(max(r * r - x * x, 0.0)) + r * r * math.asin(x / r)) / 2

    full_to = math.sqrt(max(r * r - y1 * y1, 0.0))  # s(x) >= y1 up to here
    some_to = math.sqrt(max(r * r - y0 * y0, 0.0))  # s(x) >= y0 up to here
    area = 0.0
    hi = min(x1, full_to)
    if hi > x0:
        area += (hi - x0) * (y1 - y0)
    lo, hi = max(x0, full_to), min(x1, some_to)
    if hi > lo:
        area += primitive(hi) - primitive(lo) - (hi - lo) * y0
    return area


def _shape(shape: object) -> tuple[int, ...]:
    """`shape` as a tuple of positive ints (an int: a square)."""
    if isinstance(shape, (numbers.Integral, np.integer)) and not isinstance(shape, bool):
        sides: tuple[object, ...] = (shape, shape)
    elif isinstance(shape, Sequence) and not isinstance(shape, str) and len(shape) > 0:
        sides = tuple(shape)
    else:
        msg = f"`shape` must be a positive int or a sequence of them, got {short_repr(shape)}"
        raise TypeError(msg)
    out = []
    for side in sides:
        if not isinstance(side, (numbers.Integral, np.integer)) or isinstance(side, bool):
            msg = f"`shape` must be a positive int or a sequence of them, got {short_repr(shape)}"
            raise TypeError(msg)
        if int(side) < 1:
            msg = f"`shape` must hold positive sides, got {short_repr(shape)}"
            raise ValueError(msg)
        out.append(int(side))
    return tuple(out)


def _per_axis(value: object, name: str, ndim: int) -> tuple[float, ...]:
    """`value` (a number or a sequence of them) as `ndim` finite floats > 0."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        values = tuple(value)
        if len(values) not in (1, ndim):
            msg = (
                f"`{name}` must hold one value or one per axis ({ndim}), "
                f"got {len(values)}: {short_repr(value)}"
            )
            raise ValueError(msg)
    else:
        values = (value,)
    out = tuple(check_positive_real(v, name) for v in values)
    return out * ndim if len(out) == 1 else out
