"""Convolutions of dask arrays: exact, block by block, with halos exchanged between blocks.

:func:`conv2d`, :func:`correlate2d` and :func:`conv_transpose2d` take a
``dask.array.Array`` of shape ``(..., H, W)``, chunked in any way (the leading
axes are a batch; the image axes may be cut into pieces of any size, smaller
than the kernel too, and uneven), and return a lazy dask array equal to the
in-memory function of the same name in :mod:`convmat`: same shape, same
dtype, integers exact (or refused when the result overflows its dtype).

How: along each image axis the input is extended by its boundary at the true
image edges only (:mod:`convmat._core.halo`), each block borrows from its
neighbours exactly the ``m - 1`` rows and columns a 'valid' convolution of the
block reads (dask's overlap machinery, asymmetric where the mode needs it),
and each block is then one call of the in-memory 'valid' convolution: one
product per block, with one engine per distinct block shape per process
(the engine cache, :mod:`convmat._engines.cache`). The transpose is the transposed
product on every block followed by folding the extension back onto the image
edges.

This module imports dask (``pip install ".[dask]"``); ``import convmat``
does not.
"""

from __future__ import annotations

import dask.array as da
import numpy.typing as npt

from ._blocks.checks import check_dask, check_kernel
from ._blocks.window import blocked_forward, blocked_transpose
from ._core.validate import (
    Boundary,
    MethodArg,
    Mode,
    check_nonempty,
    keyword_only_hint,
)
from ._engines.pipeline import forward_request, transpose_request

__all__ = ["conv2d", "conv_transpose2d", "correlate2d"]


def _forward(
    image: object,
    kernel: object,
    mode: object,
    boundary: object,
    fillvalue: object,
    *,
    corr: bool,
    method: object,
    rtol: object,
) -> da.Array:
    """Validate (the request of the in-memory functions, from shapes and dtypes), then
    build the graph."""
    x = check_dask(image, "image", 2)
    k = check_kernel(kernel)
    check_nonempty(x.shape[-2:], "image")
    request = forward_request(
        x.dtype,
        tuple(x.shape),
        k,
        mode,
        boundary,
        fillvalue,
        corr=corr,
        method=method,
        rtol=rtol,
        ndim=2,
    )
    return blocked_forward(x, k, request)


# -- public functions ---------------------------------------------------------------------
@keyword_only_hint
def conv2d(
    image: da.Array,
    kernel: npt.ArrayLike,
    mode: Mode = "full",
    boundary: Boundary = "fill",
    fillvalue: object = 0,
    *,
    method: MethodArg = "auto",
    rtol: float | None = None,
) -> da.Array:
    """Convolve a dask array of images with a 2-D kernel, block by block, lazily.

    Equal to :func:`convmat.conv2d` on the computed array (and so to
    ``scipy.signal.convolve2d`` on each image): same shape, same dtype,
    integers exact.

    Parameters
    ----------
    image : dask.array.Array, shape (..., H, W)
        Images chunked in any way; the leading axes are a batch.
    kernel : array_like, shape (kh, kw)
        The filter, in memory (it is sent to every block).
    mode : {'full', 'same', 'valid'}
        Output size, as in scipy.
    boundary : {'fill', 'wrap', 'symm', 'nearest', 'mirror'}
        How the images are extended at their true edges (every name of
        :func:`convmat.conv_matrix`); blocks inside an image read their
        neighbours.
    fillvalue : scalar
        Value of the padding with boundary 'fill'; must be representable
        exactly in the result dtype.
    method : {'auto', 'direct', 'sparse', 'dense', 'shift', 'fft', 'banded'}
        How each block's product is computed, as in :func:`convmat.conv2d`.
    rtol : float, optional
        The accuracy of 'auto' in each block, as in :func:`convmat.conv2d`.

    Returns
    -------
    dask.array.Array, shape ``(..., *output_shape)``
        Lazy. Shapes and dtype as in :func:`convmat.conv2d`. Batch axes keep
        their chunks; in 'same' mode the image axes do too, unless a chunk
        is smaller than the halo it must lend (then dask's
        ``ensure_minimum_chunksize`` merges it with a neighbour). In 'full'
        and 'valid' mode the edge chunks grow or shrink by the kernel's reach.

    Raises
    ------
    TypeError
        `image` is not a dask array, or a masked one; `kernel` is a dask
        array; non-numeric dtypes or two bool arrays.
    ValueError
        Bad mode, boundary, shapes, fillvalue or method (when the graph is
        built); unknown chunk sizes.
    ResultOverflowError
        When computed: an integer result outside its dtype's range.

    See Also
    --------
    convmat.conv2d, correlate2d, conv_transpose2d

    Notes
    -----
    Values: integer results equal the in-memory ones exactly. Float results
    are each within the bound `rtol` sets, like the in-memory function's; with
    ``method='shift'`` (and ``fillvalue=0``) they are also bitwise equal to
    it, since each output is then the same sum of the same products in the
    same order (but for images of a single row or column with zero padding in
    'full' or 'same' mode, which the in-memory function sums with numpy's
    convolve: the last bit can differ at the ends). With 'auto' the in-memory function may take a certified FFT
    over the whole image where a block takes another method, so the last
    bits can differ.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import convmat
    >>> import convmat.dask
    >>> x = np.arange(48).reshape(6, 8)
    >>> k = np.array([[1, 2], [3, 4]])
    >>> lazy = convmat.dask.conv2d(da.from_array(x, chunks=(4, 3)), k, "same", "symm")
    >>> lazy.chunks
    ((4, 2), (3, 3, 2))
    >>> np.array_equal(lazy.compute(), convmat.conv2d(x, k, "same", "symm"))
    True
    """
    return _forward(image, kernel, mode, boundary, fillvalue, corr=False, method=method, rtol=rtol)


@keyword_only_hint
def correlate2d(
    image: da.Array,
    kernel: npt.ArrayLike,
    mode: Mode = "full",
    boundary: Boundary = "fill",
    fillvalue: object = 0,
    *,
    method: MethodArg = "auto",
    rtol: float | None = None,
) -> da.Array:
    """Cross-correlate a dask array of images with a 2-D kernel, block by block, lazily.

    Equal to :func:`convmat.correlate2d` on the computed array (and so to
    ``scipy.signal.correlate2d``), with its 'same' centring.

    Parameters
    ----------
    image : dask.array.Array, shape (..., H, W)
        Images chunked in any way.
    kernel : array_like, shape (kh, kw)
        The template, in memory; conjugated when complex.
    mode, boundary, fillvalue, method, rtol
        As in :func:`conv2d`.

    Returns
    -------
    dask.array.Array, shape ``(..., *output_shape)``
        Lazy; shapes, dtype and chunks as in :func:`conv2d`.

    Raises
    ------
    TypeError, ValueError, ResultOverflowError
        As in :func:`conv2d`.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import convmat.dask
    >>> from scipy.signal import correlate2d
    >>> x = np.arange(35.0).reshape(5, 7)
    >>> t = np.array([[1.0, 0.0, -1.0]])
    >>> lazy = convmat.dask.correlate2d(da.from_array(x, chunks=2), t, "valid")
    >>> np.array_equal(lazy.compute(), correlate2d(x, t, "valid"))
    True
    """
    return _forward(image, kernel, mode, boundary, fillvalue, corr=True, method=method, rtol=rtol)


@keyword_only_hint
def conv_transpose2d(
    output: da.Array,
    kernel: npt.ArrayLike,
    mode: Mode = "full",
    boundary: Boundary = "fill",
    *,
    input_shape: tuple[int, int] | None = None,
    method: MethodArg = "auto",
    rtol: float | None = None,
) -> da.Array:
    """Apply the transpose of :func:`conv2d`'s matrix to a dask array, lazily.

    Equal to :func:`convmat.conv_transpose2d` on the computed array: ``A.T @ y``
    for each image of the batch, the adjoint for real data.

    Parameters
    ----------
    output : dask.array.Array, shape ``(..., *output_shape)``
        Arrays shaped like :func:`conv2d`'s outputs, chunked in any way.
    kernel : array_like, shape (kh, kw)
        The filter of the forward convolution, in memory.
    mode, boundary
        Those of the forward convolution.
    input_shape : tuple of int, optional
        The forward input's ``(H, W)``, inferred when omitted as in
        :func:`convmat.conv_transpose2d`.
    method : {'auto', 'direct', 'sparse', 'dense', 'shift', 'fft', 'banded'}
        How each block's product is computed.
    rtol : float, optional
        The accuracy of 'auto' in each block, as in :func:`convmat.conv2d`.

    Returns
    -------
    dask.array.Array, shape (..., H, W)
        Lazy; dtype ``np.result_type(output, kernel)``. Batch axes keep their
        chunks.

    Raises
    ------
    TypeError, ValueError
        As in :func:`conv2d`, and an `output` whose shape does not match
        `mode`, `kernel` and `input_shape`, all when the graph is built.
    ResultOverflowError
        When computed: an integer result outside its dtype's range.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> import convmat.dask
    >>> k = np.array([[1, 2], [3, 4]])
    >>> y = da.ones((5, 6), dtype=int, chunks=2)
    >>> lazy = convmat.dask.conv_transpose2d(y, k, "same", "wrap")
    >>> A = convmat.conv_matrix(k, (5, 6), "same", "wrap")
    >>> np.array_equal(lazy.compute().ravel(), A.T @ np.ones(30, dtype=int))
    True
    """
    y = check_dask(output, "output", 2)
    k = check_kernel(kernel)
    check_nonempty(y.shape[-2:], "output")
    request = transpose_request(
        y.dtype, tuple(y.shape), k, mode, boundary, input_shape, method=method, rtol=rtol
    )
    return blocked_transpose(y, k, request)
