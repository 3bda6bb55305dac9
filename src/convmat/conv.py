"""Convolution, correlation and their transpose as one matmul, batched.

Each function builds the convolution matrix of its kernel (see
:func:`convmat.conv_matrix`) and applies it to every image of the batch in one
sparse matrix product. Results equal :func:`scipy.signal.convolve2d` and
:func:`scipy.signal.correlate2d`: same shapes, same dtype, NaN and inf in the
same places.

Dtype rule: the result has scipy's dtype, ``np.result_type(image, kernel)``
(float16 is computed in float32 and rounded once; two bool arrays are
refused, as in scipy). Integer results are accumulated in 64 bits and are
exact; one that does not fit the result dtype raises
:class:`convmat.ResultOverflowError` instead of wrapping as scipy does.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ._apply import apply
from ._build import make_plan
from ._index import output_length
from ._plans import engine_for, trim
from ._validate import (
    Boundary,
    MethodArg,
    Mode,
    check_array,
    check_boundary,
    check_fillvalue,
    check_method,
    check_mode,
    check_nonempty,
    check_shape,
    check_valid_shapes,
    result_dtype,
)

__all__ = ["conv2d", "conv_transpose2d", "correlate2d"]


def _forward(
    image: npt.ArrayLike,
    kernel: npt.ArrayLike,
    mode: Mode,
    boundary: Boundary,
    fillvalue: object,
    *,
    corr: bool,
    method: object,
) -> np.ndarray:
    what = "correlation" if corr else "convolution"
    x = check_array(image, "image", min_ndim=2)
    k = check_array(kernel, "kernel", ndim=2)
    check_nonempty(x.shape[-2:], "image")
    check_nonempty(k.shape, "kernel")
    mode = check_mode(mode)
    canon = check_boundary(boundary)
    dtype = result_dtype(x, k, what)
    how = check_method(method, dtype)
    fill = check_fillvalue(fillvalue, dtype)
    in_shape = x.shape[-2:]
    check_valid_shapes(mode, in_shape, k.shape)
    if corr:
        k = k[::-1, ::-1].conj() if k.dtype.kind == "c" else k[::-1, ::-1]
    plan = make_plan(in_shape, k.shape, mode, canon, corr=corr)
    batch = x.reshape(-1, math.prod(in_shape))
    use_fill = fill if canon == "fill" and mode != "valid" else None
    out = apply(batch, lambda work: engine_for(k, plan, work), dtype, fill=use_fill, method=how)
    trim()
    return out.reshape(*x.shape[:-2], *plan.output_shape)


def conv2d(
    image: npt.ArrayLike,
    kernel: npt.ArrayLike,
    mode: Mode = "full",
    boundary: Boundary = "fill",
    fillvalue: object = 0,
    *,
    method: MethodArg = "auto",
) -> np.ndarray:
    """Convolve images with a 2-D kernel as one matrix product.

    Equal to ``scipy.signal.convolve2d(image, kernel, mode, boundary, fillvalue)``
    for each image of the batch.

    Parameters
    ----------
    image : array_like, shape (..., H, W)
        One image or a batch; leading axes are batch axes.
    kernel : array_like, shape (kh, kw)
        The filter.
    mode : {'full', 'same', 'valid'}
        Output size, as in scipy (see :func:`convmat.conv_matrix`).
    boundary : {'fill', 'wrap', 'symm'}
        How images are extended (aliases 'pad', 'circular', 'symmetric').
    fillvalue : scalar
        Value of the padding with boundary 'fill'; must be representable
        exactly in the result dtype.
    method : {'auto', 'sparse', 'dense', 'shift', 'fft'}
        How the product is computed, as in :class:`convmat.ConvOperator`.
        'auto' is as accurate as a direct sum (see the Notes); an explicit
        'fft' is faster on large kernels but its rounding error scales with
        the whole image rather than with each output's neighbourhood.

    Returns
    -------
    ndarray, shape (..., *output_shape)
        'full': ``(H + kh - 1, W + kw - 1)``; 'same': ``(H, W)``; 'valid':
        ``(H - kh + 1, W - kw + 1)`` (or ``(kh - H + 1, kw - W + 1)`` when the
        kernel is the larger). Dtype: see the module's dtype rule.

    Raises
    ------
    ValueError
        Bad mode, boundary, shapes or fillvalue; see :func:`convmat.conv_matrix`.
    TypeError
        Non-numeric or masked arrays; two bool arrays.
    ResultOverflowError
        An integer result outside its dtype's range.

    Notes
    -----
    With ``fillvalue != 0`` the map is affine: ``A @ x + c``, where ``c`` sums
    ``kernel * fillvalue`` over the taps that fall in the padding.

    Accuracy: with ``method='auto'``, every float output is within
    ``taps * eps`` of ``(|kernel| * |image|)`` at that output of the exact
    value (``taps`` the kernel's nonzero entries, ``eps`` the result dtype's),
    the bound of a direct sum: the FFT is used only for images where it
    certifies that bound, computed in float64 for single precision and in
    long double for double precision.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import convolve2d
    >>> import convmat
    >>> x = np.array([[1, 2, 3], [4, 5, 6]])
    >>> k = np.array([[10, 20], [30, 40]])
    >>> convmat.conv2d(x, k)
    array([[ 10,  40,  70,  60],
           [ 70, 230, 330, 240],
           [120, 310, 380, 240]])
    >>> batch = np.stack([x, 2 * x, 3 * x])
    >>> convmat.conv2d(batch, k, "same", "symm").shape
    (3, 2, 3)
    >>> np.array_equal(convmat.conv2d(x, k, "same", fillvalue=1),
    ...                convolve2d(x, k, "same", fillvalue=1))
    True
    """
    return _forward(image, kernel, mode, boundary, fillvalue, corr=False, method=method)


def correlate2d(
    image: npt.ArrayLike,
    kernel: npt.ArrayLike,
    mode: Mode = "full",
    boundary: Boundary = "fill",
    fillvalue: object = 0,
    *,
    method: MethodArg = "auto",
) -> np.ndarray:
    """Cross-correlate images with a 2-D kernel as one matrix product.

    Equal to ``scipy.signal.correlate2d(image, kernel, mode, boundary, fillvalue)``
    for each image of the batch: the convolution with the kernel flipped in
    both axes and conjugated, with correlation's own 'same' centring (offset
    ``m // 2`` inside 'full').

    Parameters
    ----------
    image : array_like, shape (..., H, W)
        One image or a batch.
    kernel : array_like, shape (kh, kw)
        The template; conjugated when complex.
    mode, boundary, fillvalue, method
        As in :func:`conv2d`.

    Returns
    -------
    ndarray, shape (..., *output_shape)
        Shapes and dtype as in :func:`conv2d`.

    Raises
    ------
    ValueError, TypeError, ResultOverflowError
        As in :func:`conv2d`.

    Notes
    -----
    One deliberate difference: in 'valid' mode with complex inputs and an
    image smaller than the kernel, ``scipy.signal.correlate2d`` returns an
    array that is not a block of its own 'full' output (it swaps the inputs
    and reverses, but conjugates the wrong one). This function returns the
    correct block, as ``scipy.signal.correlate(image, kernel, "valid")`` does.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import correlate2d
    >>> import convmat
    >>> x = np.arange(12.0).reshape(3, 4)
    >>> t = np.array([[1.0, 0.0], [0.0, -1.0]])
    >>> convmat.correlate2d(x, t, "valid")
    array([[-5., -5., -5.],
           [-5., -5., -5.]])
    >>> np.array_equal(convmat.correlate2d(x, t, "same", "wrap"),
    ...                correlate2d(x, t, "same", "wrap"))
    True
    """
    return _forward(image, kernel, mode, boundary, fillvalue, corr=True, method=method)


def _infer_input_shape(
    out_shape: tuple[int, ...], k_shape: tuple[int, ...], mode: Mode
) -> tuple[int, ...]:
    if mode == "full":
        shape = tuple(o - m + 1 for o, m in zip(out_shape, k_shape, strict=True))
    elif mode == "same":
        shape = out_shape
    else:
        shape = tuple(o + m - 1 for o, m in zip(out_shape, k_shape, strict=True))
    if any(s <= 0 for s in shape):
        msg = (
            f"`output` of shape {out_shape} cannot come from a '{mode}' convolution with a "
            f"kernel of shape {k_shape}: each axis must be at least the kernel's"
        )
        raise ValueError(msg)
    return shape


def conv_transpose2d(
    output: npt.ArrayLike,
    kernel: npt.ArrayLike,
    mode: Mode = "full",
    boundary: Boundary = "fill",
    *,
    input_shape: tuple[int, int] | None = None,
    method: MethodArg = "auto",
) -> np.ndarray:
    """Apply the transpose of :func:`conv2d`'s matrix: ``A.T @ y``, batched.

    This is deep learning's "transposed convolution" ("deconvolution"); for
    real data it is the adjoint, so ``<conv2d(x), y> == <x, conv_transpose2d(y)>``.
    For complex data the adjoint is ``conv_transpose2d(y.conj(), k).conj()``.

    Parameters
    ----------
    output : array_like, shape (..., *output_shape)
        Arrays shaped like :func:`conv2d`'s outputs; leading axes are batch axes.
    kernel : array_like, shape (kh, kw)
        The filter of the forward convolution.
    mode, boundary
        Those of the forward convolution.
    input_shape : tuple of int, optional
        The forward input's ``(H, W)``. Inferred when omitted: 'full' gives
        ``out - k + 1``, 'same' ``out``, 'valid' ``out + k - 1`` (the image
        containing the kernel; pass `input_shape` for the swapped case).
    method : {'auto', 'sparse', 'dense', 'shift', 'fft'}
        As in :func:`conv2d`.

    Returns
    -------
    ndarray, shape (..., H, W)
        Dtype ``np.result_type(output, kernel)``, with :func:`conv2d`'s rules.

    Raises
    ------
    ValueError
        `output`'s shape does not match `mode`, `kernel` and `input_shape`; and
        the errors of :func:`conv2d`.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat
    >>> k = np.array([[1, 2], [3, 4]])
    >>> y = np.ones((3, 4), dtype=int)
    >>> convmat.conv_transpose2d(y, k)
    array([[10, 10, 10],
           [10, 10, 10]])
    >>> A = convmat.conv_matrix(k, (2, 3))
    >>> np.array_equal(convmat.conv_transpose2d(y, k).ravel(), A.T @ y.ravel())
    True
    """
    y = check_array(output, "output", min_ndim=2)
    k = check_array(kernel, "kernel", ndim=2)
    check_nonempty(y.shape[-2:], "output")
    check_nonempty(k.shape, "kernel")
    mode = check_mode(mode)
    canon = check_boundary(boundary)
    dtype = result_dtype(y, k, "transposed convolution")
    how = check_method(method, dtype)
    out_shape = y.shape[-2:]
    if input_shape is None:
        shape = _infer_input_shape(out_shape, k.shape, mode)
    else:
        shape = check_shape(input_shape, "input_shape", 2)
    check_valid_shapes(mode, shape, k.shape)
    expected = tuple(output_length(n, m, mode) for n, m in zip(shape, k.shape, strict=True))
    if expected != out_shape:
        msg = (
            f"`output` must end in shape {expected} for a '{mode}' convolution of "
            f"{shape} inputs with a {k.shape} kernel, got shape {y.shape}"
        )
        raise ValueError(msg)
    plan = make_plan(shape, k.shape, mode, canon)
    batch = y.reshape(-1, math.prod(out_shape))
    out = apply(batch, lambda work: engine_for(k, plan, work), dtype, transpose=True, method=how)
    trim()
    return out.reshape(*y.shape[:-2], *shape)
