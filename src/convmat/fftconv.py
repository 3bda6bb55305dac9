"""scipy.signal's ``fftconvolve`` and ``oaconvolve``, with a per-output accuracy certificate.

Same signatures, shapes, dtypes and broadcasting as scipy's: the convolution
runs over `axes`, and the other axes of the two arrays broadcast against each
other. The difference is the answer's quality: scipy's FFT product has an
error relative to the largest output, so small outputs beside large ones can
be all rounding; here every output is within ``max(rtol, taps * eps)`` of
``(|in1| * |in2|)(o)`` at that output (see :func:`convmat.conv2d`'s Notes). The
FFT serves the outputs its error bound certifies, and the others are summed
directly.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from ._core.validate import (
    Mode,
    check_array,
    check_mode,
    check_rtol,
    keyword_only_hint,
    short_repr,
)
from ._engines.pipeline import check_fits, forward_request, run

__all__ = ["fftconvolve", "oaconvolve"]


def _axes(axes: object, ndim: int) -> list[int]:
    """`axes` as sorted non-negative ints (None: all), refused with scipy's messages."""
    if axes is None:
        return list(range(ndim))
    if isinstance(axes, (str, bytes)) or not hasattr(axes, "__iter__"):
        items: list[object] = [axes]
    else:
        items = list(cast("Sequence[object]", axes))
    out = []
    for a in items:
        if isinstance(a, (bool, np.bool_)):
            msg = f"`axes` must hold integers, got {short_repr(axes)}"
            raise TypeError(msg)
        try:
            i = operator.index(a)  # type: ignore[arg-type]
        except TypeError:
            msg = f"`axes` must be None, an int or a sequence of ints, got {short_repr(axes)}"
            raise TypeError(msg) from None
        if not -ndim <= i < ndim:
            msg = f"axes exceeds dimensionality of input: `axes` {short_repr(axes)} for {ndim}-D arrays"
            raise ValueError(msg)
        out.append(i % ndim)
    if not out:
        msg = "when provided, axes cannot be empty"
        raise ValueError(msg)
    if len(set(out)) != len(out):
        msg = f"all axes must be unique, got `axes` {short_repr(axes)}"
        raise ValueError(msg)
    return sorted(out)


def _result_dtype(a: np.dtype, b: np.dtype) -> np.dtype:
    """scipy's: integers and bools give float64, float16 float32, the rest their type."""
    dtype = np.result_type(a, b)
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    return np.result_type(dtype, np.float32)


def _fft_product(
    in1: npt.ArrayLike, in2: npt.ArrayLike, mode: object, axes: object, rtol: object
) -> np.ndarray:
    x = check_array(in1, "in1", min_ndim=0)
    k = check_array(in2, "in2", min_ndim=0)
    checked_mode: Mode = check_mode(mode)
    tol = check_rtol(rtol)
    if x.ndim != k.ndim:
        msg = f"in1 and in2 should have the same dimensionality, got shapes {x.shape} and {k.shape}"
        raise ValueError(msg)
    dtype = _result_dtype(x.dtype, k.dtype)
    if x.ndim == 0:
        return np.asarray(x.astype(dtype) * k.astype(dtype))
    if x.size == 0 or k.size == 0:
        return np.array([], dtype=dtype)
    conv = _axes(axes, x.ndim)
    other = [d for d in range(x.ndim) if d not in conv]
    for d in other:
        if x.shape[d] != k.shape[d] and 1 not in (x.shape[d], k.shape[d]):
            msg = (
                f"incompatible shapes for in1 and in2: {x.shape} and {k.shape} "
                f"(axis {d} is not convolved, and its lengths neither match nor are 1)"
            )
            raise ValueError(msg)
    batch = tuple(max(x.shape[d], k.shape[d]) for d in other)
    order = other + conv
    xs = np.moveaxis(x, order, range(x.ndim)).astype(dtype, copy=False)
    ks = np.moveaxis(k, order, range(k.ndim)).astype(dtype, copy=False)
    k_batch = ks.shape[: len(other)]
    xs_shape = xs.shape[: len(other)]
    xs = np.broadcast_to(xs, batch + xs.shape[len(other) :])
    out: np.ndarray | None = None
    # one product per distinct kernel; each serves the images it broadcasts against
    for index in np.ndindex(*k_batch):
        select = tuple(i if n != 1 else slice(None) for i, n in zip(index, k_batch, strict=True))
        images = xs[select]
        kernel = ks[index]
        request = forward_request(
            images.dtype,
            images.shape,
            kernel,
            checked_mode,
            "fill",
            0,
            corr=False,
            method="fft",
            rtol=tol,
            ndim=None,
        )
        check_fits(request, "in1", advice="pass fewer or smaller arrays per call")
        part = run(request, images, certify=True)
        if out is None:
            if math.prod(k_batch) == 1:
                out = part
                break
            out = np.empty(batch + part.shape[len(images.shape) - kernel.ndim :], dtype=dtype)
        out[select] = part
    assert out is not None  # k_batch has at least one index
    if checked_mode == "same":
        # scipy crops 'same' to in1's shape in every axis, broadcast ones too (centred)
        out = out[
            tuple(
                slice((b - n) // 2, (b - n) // 2 + n) for b, n in zip(batch, xs_shape, strict=True)
            )
        ]
    return np.moveaxis(out, range(x.ndim), order)


@keyword_only_hint
def fftconvolve(
    in1: npt.ArrayLike,
    in2: npt.ArrayLike,
    mode: Mode = "full",
    axes: int | Sequence[int] | None = None,
    *,
    rtol: float | None = None,
) -> np.ndarray:
    """Convolve two N-dimensional arrays by FFT, as :func:`scipy.signal.fftconvolve`,
    every output certified.

    Same signature, shapes, dtype and broadcasting as scipy's: the product
    runs over `axes`; along the other axes the arrays' lengths must match or
    be 1, and broadcast. Unlike scipy's, whose FFT error is relative to the
    largest output, every output is within ``max(rtol, taps * eps)`` of
    ``(|in1| * |in2|)(o)``: the FFT serves the outputs its error bound
    certifies, direct sums the others (small outputs beside large ones, the
    corners of 'full' mode). NaN and inf stay where a direct convolution puts
    them instead of spreading over the whole result.

    Parameters
    ----------
    in1, in2 : array_like
        Arrays of the same number of dimensions.
    mode : {'full', 'same', 'valid'}
        As in :func:`scipy.signal.fftconvolve`: 'same' is centred on `in1`,
        'valid' needs one array at least as large as the other in every
        convolved axis.
    axes : int or sequence of int, optional
        The axes to convolve over (None: all).
    rtol : float, optional
        The accuracy dial, as in :func:`convmat.conv2d` (None: ``1e-10`` for
        double precision; for half and single precision, the transform runs
        in double and every output is as accurate as a direct sum).

    Returns
    -------
    ndarray
        scipy's shape and dtype: float64 for integer and bool inputs, float32
        for float16, otherwise ``np.result_type(in1, in2)``.

    Raises
    ------
    ValueError
        Arrays of different dimensionality, a bad mode or `axes`, shapes that
        neither match nor broadcast along the other axes, 'valid' with neither
        array the larger (scipy's messages).
    TypeError
        Non-numeric arrays; `axes` that are not integers.

    See Also
    --------
    oaconvolve, convmat.convolve, scipy.signal.fftconvolve

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.signal
    >>> import convmat
    >>> convmat.fftconvolve([1, 2, 3], [0, 1, 0.5])
    array([0. , 1. , 2.5, 4. , 1.5])

    Small outputs beside large ones keep their digits (scipy's FFT error is
    relative to the largest output):

    >>> x = np.array([1e12, 0.0, 0.0, 0.0, 1.0, 2.0])
    >>> convmat.fftconvolve(x, [1.0, 1.0])[-3:]
    array([1., 3., 2.])

    Along one axis of a batch, as scipy broadcasts:

    >>> rows = np.arange(12.0).reshape(3, 4)
    >>> y = convmat.fftconvolve(rows, np.array([[1.0, -1.0]]), "same", axes=1)
    >>> np.allclose(y, scipy.signal.fftconvolve(rows, [[1.0, -1.0]], "same", axes=1))
    True
    """
    return _fft_product(in1, in2, mode, axes, rtol)


@keyword_only_hint
def oaconvolve(
    in1: npt.ArrayLike,
    in2: npt.ArrayLike,
    mode: Mode = "full",
    axes: int | Sequence[int] | None = None,
    *,
    rtol: float | None = None,
) -> np.ndarray:
    """Convolve two N-dimensional arrays, as :func:`scipy.signal.oaconvolve`, every output
    certified.

    scipy's overlap-add and its plain FFT give the same result up to rounding,
    and so do these two: both take :func:`fftconvolve`'s certified product,
    whose engine splits a long first axis into overlap-save blocks where the
    cost model finds that cheaper (a long signal with a short kernel).
    Parameters, returns and errors as in :func:`fftconvolve`.

    See Also
    --------
    fftconvolve, scipy.signal.oaconvolve

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.signal
    >>> import convmat
    >>> rng = np.random.default_rng(0)
    >>> sig, h = rng.standard_normal(10_000), rng.standard_normal(101)
    >>> np.allclose(convmat.oaconvolve(sig, h, "same"), scipy.signal.oaconvolve(sig, h, "same"))
    True
    """
    return _fft_product(in1, in2, mode, axes, rtol)
