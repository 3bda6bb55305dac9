"""Convolution, correlation and their transpose, N-D and batched, as one matrix product.

Each function applies the convolution matrix of its kernel (see
:func:`convmat.conv_matrix`) to every array of the batch at once, by the
method the cost model picks (the matrix, shift-and-add or a certified FFT).
Results equal :func:`scipy.signal.convolve` / :func:`~scipy.signal.correlate`
(N-D) and :func:`scipy.signal.convolve2d` / :func:`~scipy.signal.correlate2d`
(2-D, with their boundaries): same shapes, same dtype, NaN and inf in the
same places.

Dtype rule: the result has scipy's dtype, ``np.result_type(image, kernel)``
(float16 is computed in float32 and rounded once; two bool arrays are
refused, as in scipy). Integer results are accumulated in 64 bits and are
exact; one that does not fit the result dtype raises
:class:`convmat.ResultOverflowError` instead of wrapping as scipy does.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._core.validate import (
    Boundary,
    MethodArg,
    Mode,
    keyword_only_hint,
    scipy_order,
)
from ._engines.pipeline import forward, transpose

__all__ = [
    "conv2d",
    "conv_transpose",
    "conv_transpose2d",
    "convolve",
    "convolve2d",
    "correlate",
    "correlate2d",
]


@scipy_order
@keyword_only_hint
def convolve(
    in1: npt.ArrayLike,
    in2: npt.ArrayLike,
    mode: Mode = "full",
    method: MethodArg = "auto",
    *,
    boundary: Boundary = "fill",
    fillvalue: object = 0,
    rtol: float | None = None,
) -> np.ndarray:
    """Convolve N-D arrays with an N-D kernel as one matrix product, batched.

    With ``in2.ndim == in1.ndim``, boundary 'fill' and ``fillvalue=0``, equal
    to ``scipy.signal.convolve(in1, in2, mode)``: shape, dtype and values
    (integers exactly). A kernel with fewer axes is applied over the trailing
    axes of `in1`, the leading ones a batch; boundaries 'wrap' and 'symm' and
    a `fillvalue` extend the input as :func:`scipy.signal.convolve2d` does, in
    any number of dimensions.

    Parameters
    ----------
    in1 : array_like, shape (..., n_0, ..., n_{k-1})
        The input; axes before the kernel's are batch axes.
    in2 : array_like, shape (m_0, ..., m_{k-1})
        The kernel, with ``k <= in1.ndim`` axes (a scalar multiplies).
    mode : {'full', 'same', 'valid'}
        Output size, as in scipy: 'same' is centred like scipy's (for an
        even kernel, the extra tap before), 'valid' needs `in1` at least as
        large as `in2` in every axis, or the other way round.
    method : {'auto', 'direct', 'sparse', 'dense', 'shift', 'fft', 'banded'}
        How the product is computed, as in :class:`convmat.ConvOperator`
        (scipy's 'direct' and 'fft' included); 'auto' meets the accuracy
        `rtol` sets (see :func:`conv2d`'s Notes). The fourth positional
        argument, as in :func:`scipy.signal.convolve`.
    boundary : {'fill', 'wrap', 'symm', 'nearest', 'mirror'}
        How the input is extended, keyword-only (see
        :func:`convmat.conv_matrix` for the names scipy.ndimage uses).
    fillvalue : scalar
        The padding's value with boundary 'fill', keyword-only.
    rtol : float, optional
        The accuracy dial of ``method='auto'``, as in :func:`conv2d` (with
        ``|in1|`` for the image).

    Returns
    -------
    ndarray, shape ``(..., *output_shape)``
        Per kernel axis: 'full' ``n + m - 1``, 'same' ``n``, 'valid'
        ``|n - m| + 1``. Dtype ``np.result_type(in1, in2)`` (float16 computed
        in float32 and rounded once).

    Raises
    ------
    ValueError
        Bad mode, boundary, shapes or fillvalue; a kernel with more axes than
        `in1`; an empty kernel or input axis.
    TypeError
        Non-numeric or masked arrays; two bool arrays.
    ResultOverflowError
        An integer result outside its dtype's range (scipy wraps it).

    See Also
    --------
    correlate, conv_transpose, ConvOperator

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.signal
    >>> import convmat
    >>> convmat.convolve([1, 2, 3], [0, 1, 0.5])
    array([0. , 1. , 2.5, 4. , 1.5])
    >>> rng = np.random.default_rng(0)
    >>> vol, k = rng.integers(-9, 9, (6, 7, 8)), rng.integers(-9, 9, (3, 2, 3))
    >>> np.array_equal(convmat.convolve(vol, k, "same"),
    ...                scipy.signal.convolve(vol, k, "same"))
    True

    A 1-D kernel over the last axis of a batch of signals, wrapping around:

    >>> convmat.convolve(np.eye(3, 4), [1, 1], "same", boundary="wrap")
    array([[1., 1., 0., 0.],
           [0., 1., 1., 0.],
           [0., 0., 1., 1.]])
    """
    return forward(
        in1,
        in2,
        mode,
        boundary,
        fillvalue,
        corr=False,
        method=method,
        rtol=rtol,
        names=("in1", "in2"),
    )


@scipy_order
@keyword_only_hint
def correlate(
    in1: npt.ArrayLike,
    in2: npt.ArrayLike,
    mode: Mode = "full",
    method: MethodArg = "auto",
    *,
    boundary: Boundary = "fill",
    fillvalue: object = 0,
    rtol: float | None = None,
) -> np.ndarray:
    """Cross-correlate N-D arrays with an N-D template as one matrix product, batched.

    With ``in2.ndim == in1.ndim``, boundary 'fill' and ``fillvalue=0``, equal
    to ``scipy.signal.correlate(in1, in2, mode)``: the convolution with `in2`
    reversed in every axis and conjugated. 'same' is centred as scipy.signal.correlate
    centres it, like :func:`convolve` (:func:`correlate2d` follows
    scipy.signal.correlate2d, which for an even template starts one tap later).

    Parameters
    ----------
    in1 : array_like, shape (..., n_0, ..., n_{k-1})
        The input; axes before the template's are batch axes.
    in2 : array_like, shape (m_0, ..., m_{k-1})
        The template; conjugated when complex.
    mode, method, boundary, fillvalue, rtol
        As in :func:`convolve`.

    Returns
    -------
    ndarray
        Shapes and dtype as in :func:`convolve`.

    Raises
    ------
    ValueError, TypeError, ResultOverflowError
        As in :func:`convolve`.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.signal
    >>> import convmat
    >>> convmat.correlate([1, 2, 3, 4], [1, -1], "valid")
    array([-1, -1, -1])
    >>> x = np.arange(24.0).reshape(2, 3, 4)
    >>> t = np.ones((1, 2, 2))
    >>> np.array_equal(convmat.correlate(x, t, "same"), scipy.signal.correlate(x, t, "same"))
    True
    """
    return forward(
        in1,
        in2,
        mode,
        boundary,
        fillvalue,
        corr=True,
        method=method,
        rtol=rtol,
        names=("in1", "in2"),
    )


@keyword_only_hint
def conv2d(
    image: npt.ArrayLike,
    kernel: npt.ArrayLike,
    mode: Mode = "full",
    boundary: Boundary = "fill",
    fillvalue: object = 0,
    *,
    method: MethodArg = "auto",
    rtol: float | None = None,
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
    boundary : {'fill', 'wrap', 'symm', 'nearest', 'mirror'}
        How images are extended (scipy.signal's and scipy.ndimage's names:
        see :func:`convmat.conv_matrix`).
    fillvalue : scalar
        Value of the padding with boundary 'fill'; must be representable
        exactly in the result dtype.
    method : {'auto', 'direct', 'sparse', 'dense', 'shift', 'fft', 'banded'}
        How the product is computed, as in :class:`convmat.ConvOperator`.
        'auto' meets the accuracy `rtol` sets (see the Notes); an explicit
        'fft' is faster on large kernels but its rounding error scales with
        the whole image rather than with each output's neighbourhood.
    rtol : float, optional
        The accuracy dial of ``method='auto'``: every float output is within
        ``max(rtol, taps * eps) * (|kernel| * |image|)`` of the exact value at
        that output, and outputs whose window holds only zeros are exact
        zeros. None (the default) is 0 for half and single precision (a
        direct sum's bound) and ``1e-10`` for double precision; 0 is the
        strict bound for every dtype. Integers are exact whatever it says; an
        explicit `method` ignores it.

    Returns
    -------
    ndarray, shape ``(..., *output_shape)``
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
    ``max(rtol, taps * eps)`` of ``(|kernel| * |image|)`` at that output of the
    exact value (``taps`` the kernel's nonzero entries, ``eps`` the result
    dtype's; ``taps * eps`` is the bound of a direct sum). The FFT serves
    only the outputs where it certifies that bound, in float64 transforms
    for single precision and for double precision at the default
    ``rtol=1e-10``, in long double where a tighter `rtol` needs it; the
    others are summed directly.

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
    return forward(
        image, kernel, mode, boundary, fillvalue, corr=False, method=method, rtol=rtol, ndim=2
    )


@keyword_only_hint
def convolve2d(
    in1: npt.ArrayLike,
    in2: npt.ArrayLike,
    mode: Mode = "full",
    boundary: Boundary = "fill",
    fillvalue: object = 0,
    *,
    method: MethodArg = "auto",
    rtol: float | None = None,
) -> np.ndarray:
    """Convolve images with a 2-D kernel: :func:`conv2d` under scipy's name and signature.

    ``from convmat import convolve2d`` replaces ``from scipy.signal import
    convolve2d`` in a script unchanged: the same arguments, keywords
    (`in1`, `in2`, `mode`, `boundary`, `fillvalue`) and results, integers
    exactly; a batch of images too. :func:`conv2d` is the same function under
    torch's name; :func:`convmat.nn.conv2d` is torch's layer, a
    cross-correlation.

    Parameters
    ----------
    in1 : array_like, shape (..., H, W)
        One image or a batch; leading axes are batch axes.
    in2 : array_like, shape (kh, kw)
        The kernel.
    mode, boundary, fillvalue, method, rtol
        As in :func:`conv2d`.

    Returns
    -------
    ndarray, shape ``(..., *output_shape)``
        As in :func:`conv2d`.

    Raises
    ------
    ValueError, TypeError, ResultOverflowError
        As in :func:`conv2d`, naming `in1` and `in2`.

    See Also
    --------
    conv2d, correlate2d, convolve

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.signal
    >>> from convmat import convolve2d
    >>> x = np.arange(12).reshape(3, 4)
    >>> k = np.array([[1, -1], [2, 0]])
    >>> np.array_equal(convolve2d(x, k, boundary="symm", mode="same"),
    ...                scipy.signal.convolve2d(x, k, boundary="symm", mode="same"))
    True
    >>> convolve2d(in1=[[1.0, 2.0]], in2=[[1.0, 1.0]])
    array([[1., 3., 2.]])
    """
    return forward(
        in1,
        in2,
        mode,
        boundary,
        fillvalue,
        corr=False,
        method=method,
        rtol=rtol,
        ndim=2,
        names=("in1", "in2"),
    )


@keyword_only_hint
def correlate2d(
    in1: npt.ArrayLike,
    in2: npt.ArrayLike,
    mode: Mode = "full",
    boundary: Boundary = "fill",
    fillvalue: object = 0,
    *,
    method: MethodArg = "auto",
    rtol: float | None = None,
) -> np.ndarray:
    """Cross-correlate images with a 2-D kernel as one matrix product.

    Equal to ``scipy.signal.correlate2d(in1, in2, mode, boundary, fillvalue)``
    for each image of the batch, with scipy's signature and names: the
    convolution with `in2` flipped in both axes and conjugated, with
    correlation's own 'same' centring (offset ``m // 2`` inside 'full').

    Parameters
    ----------
    in1 : array_like, shape (..., H, W)
        One image or a batch.
    in2 : array_like, shape (kh, kw)
        The template; conjugated when complex.
    mode, boundary, fillvalue, method, rtol
        As in :func:`conv2d`.

    Returns
    -------
    ndarray, shape ``(..., *output_shape)``
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
    correct block, as ``scipy.signal.correlate(in1, in2, "valid")`` does.

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
    return forward(
        in1,
        in2,
        mode,
        boundary,
        fillvalue,
        corr=True,
        method=method,
        rtol=rtol,
        ndim=2,
        names=("in1", "in2"),
    )


@keyword_only_hint
def conv_transpose2d(
    output: npt.ArrayLike,
    kernel: npt.ArrayLike,
    mode: Mode = "full",
    boundary: Boundary = "fill",
    *,
    input_shape: tuple[int, int] | None = None,
    method: MethodArg = "auto",
    rtol: float | None = None,
) -> np.ndarray:
    """Apply the transpose of :func:`conv2d`'s matrix: ``A.T @ y``, batched.

    This is deep learning's "transposed convolution" ("deconvolution"); for
    real data it is the adjoint, so ``<conv2d(x), y> == <x, conv_transpose2d(y)>``.
    For complex data the adjoint is ``conv_transpose2d(y.conj(), k).conj()``.

    Parameters
    ----------
    output : array_like, shape ``(..., *output_shape)``
        Arrays shaped like :func:`conv2d`'s outputs; leading axes are batch axes.
    kernel : array_like, shape (kh, kw)
        The filter of the forward convolution.
    mode, boundary
        Those of the forward convolution.
    input_shape : tuple of int, optional
        The forward input's ``(H, W)``. Inferred when omitted: 'full' gives
        ``out - k + 1``, 'same' ``out``, 'valid' ``out + k - 1`` (the image
        containing the kernel; pass `input_shape` for the swapped case).
    method : {'auto', 'direct', 'sparse', 'dense', 'shift', 'fft', 'banded'}
        As in :func:`conv2d`.
    rtol : float, optional
        As in :func:`conv2d`, with ``|kernel|.T @ |output|`` for the scale and
        ``taps`` counting every product an input sums.

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
    return transpose(output, kernel, mode, boundary, input_shape, method=method, rtol=rtol, ndim=2)


@keyword_only_hint
def conv_transpose(
    output: npt.ArrayLike,
    kernel: npt.ArrayLike,
    mode: Mode = "full",
    boundary: Boundary = "fill",
    *,
    input_shape: tuple[int, ...] | None = None,
    method: MethodArg = "auto",
    rtol: float | None = None,
) -> np.ndarray:
    """Apply the transpose of :func:`convolve`'s matrix: ``A.T @ y``, N-D and batched.

    For real data the exact adjoint, ``<convolve(x, k), y> == <x, conv_transpose(y, k)>``,
    for every mode and boundary; for complex data the adjoint is
    ``conv_transpose(y.conj(), k).conj()``.

    Parameters
    ----------
    output : array_like, shape ``(..., *output_shape)``
        Arrays shaped like :func:`convolve`'s outputs; leading axes are batch axes.
    kernel : array_like, shape (m_0, ..., m_{k-1})
        The kernel of the forward convolution.
    mode, boundary
        Those of the forward convolution.
    input_shape : tuple of int, optional
        The forward input's trailing ``k`` axes, inferred when omitted as in
        :func:`conv_transpose2d`.
    method : {'auto', 'direct', 'sparse', 'dense', 'shift', 'fft', 'banded'}
        As in :func:`convolve`.
    rtol : float, optional
        As in :func:`conv_transpose2d`.

    Returns
    -------
    ndarray, shape ``(..., *input_shape)``
        Dtype ``np.result_type(output, kernel)``, with :func:`convolve`'s rules.

    Raises
    ------
    ValueError
        `output`'s shape does not match `mode`, `kernel` and `input_shape`;
        and the errors of :func:`convolve`.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat
    >>> convmat.conv_transpose([1, 1, 1, 1], [1, 2])
    array([3, 3, 3])
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((4, 5, 6)), rng.standard_normal((4, 5, 6))
    >>> k = rng.standard_normal((3, 3, 2))
    >>> lhs = np.vdot(convmat.convolve(x, k, "same", boundary="symm"), y)
    >>> rhs = np.vdot(x, convmat.conv_transpose(y, k, "same", "symm"))
    >>> bool(np.isclose(lhs, rhs))
    True
    """
    return transpose(output, kernel, mode, boundary, input_shape, method=method, rtol=rtol)
