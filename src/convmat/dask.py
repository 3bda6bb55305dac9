"""Convolutions of dask arrays: exact, block by block, with halos exchanged between blocks.

:func:`conv2d`, :func:`correlate2d` and :func:`conv_transpose2d` take a
``dask.array.Array`` of shape ``(..., H, W)``, chunked in any way (the leading
axes are a batch; the image axes may be cut into pieces of any size, smaller
than the kernel too, and uneven), and return a lazy dask array equal to the
in-memory function of the same name in :mod:`convmat`: same shape, same
dtype, integers exact (or refused when the result overflows its dtype).

How: along each image axis the input is extended by its boundary at the true
image edges only (:mod:`convmat._halo`), each block borrows from its
neighbours exactly the ``m - 1`` rows and columns a 'valid' convolution of the
block reads (dask's overlap machinery, asymmetric where the mode needs it),
and each block is then one call of the in-memory 'valid' convolution: one
product per block, with one engine per distinct block shape per process
(the engine cache of :mod:`convmat.conv`). The transpose is the transposed
product on every block followed by folding the extension back onto the image
edges.

This module imports dask (``pip install ".[dask]"``); ``import convmat``
does not.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import dask.array as da
import numpy as np
import numpy.typing as npt
from dask.array.overlap import ensure_minimum_chunksize, overlap

from . import conv as _conv
from ._build import compute_dtype
from ._exact import fit
from ._halo import AxisHalo, axis_halo, fold_targets, output_chunks, window_chunks
from ._validate import (
    Boundary,
    MethodArg,
    Mode,
    check_array,
    check_boundary,
    check_fillvalue,
    check_method,
    check_method_axes,
    check_mode,
    check_nonempty,
    check_rtol,
    check_valid_shapes,
    keyword_only_hint,
    result_dtype,
)

if TYPE_CHECKING:
    from .linop import ConvOperator

__all__ = ["conv2d", "conv_transpose2d", "correlate2d"]

_AXES = (-2, -1)


# -- validation: everything is refused before the graph exists ------------------------
def _check_dask(value: object, name: str, min_ndim: int) -> da.Array:
    """Return `value` if it is a numeric dask array with known chunks and `min_ndim` axes."""
    if not isinstance(value, da.Array):
        msg = (
            f"`{name}` must be a dask array, got {type(value).__name__}: wrap it with "
            "`dask.array.from_array`, or call the in-memory function of `convmat`"
        )
        raise TypeError(msg)
    if isinstance(value._meta, np.ma.MaskedArray):
        msg = f"`{name}` must not be a masked dask array (its mask would be ignored)"
        raise TypeError(msg)
    check_array(np.empty(0, dtype=value.dtype), name)  # the dtype's rules, on no data
    if value.ndim < min_ndim:
        msg = f"`{name}` must have at least {min_ndim} dimension(s), got shape {value.shape}"
        raise ValueError(msg)
    if any(math.isnan(c) for chunks in value.chunks for c in chunks):
        msg = (
            f"`{name}` has unknown chunk sizes {value.chunks}: call "
            f"`{name}.compute_chunk_sizes()` first"
        )
        raise ValueError(msg)
    return value


def _check_kernel(kernel: object) -> np.ndarray:
    if isinstance(kernel, da.Array):
        msg = (
            "`kernel` must be an in-memory array, got a dask array: pass `kernel.compute()` "
            "(it is sent to every block)"
        )
        raise TypeError(msg)
    k = check_array(kernel, "kernel", ndim=2)
    check_nonempty(k.shape, "kernel")
    return k


# -- the window: the input extended at the true image edges ------------------------------
def _extend_axis(x: da.Array, halo: AxisHalo, axis: int, fill: np.generic) -> da.Array:
    """`x` extended along `axis` by the boundary: `before` positions, then `after`."""
    parts: list[da.Array | None] = []
    for source in (halo.source[: halo.before], halo.source[halo.before :]):
        if source.size == 0:
            parts.append(None)
            continue
        if bool((source < 0).all()):
            shape = list(x.shape)
            shape[axis] = source.size
            chunks = list(x.chunks)
            chunks[axis] = (source.size,)
            parts.append(da.full(tuple(shape), fill, dtype=x.dtype, chunks=tuple(chunks)))
        else:  # 'wrap' and 'symm' copy inputs; 'fill' never mixes with them
            parts.append(da.take(x, source, axis=axis))
    head, tail = parts
    pieces = [p for p in (head, x, tail) if p is not None]
    return da.concatenate(pieces, axis=axis) if len(pieces) > 1 else x


def _window(x: da.Array, halos: tuple[AxisHalo, AxisHalo], fill: np.generic) -> da.Array:
    """The extended image, chunked so that each block borrows only from its neighbours."""
    chunks = dict(enumerate(x.chunks))
    for axis, halo in zip(_AXES, halos, strict=True):
        edge = window_chunks(x.chunks[axis], halo)
        # a neighbour's share and one output per block; and two positions wherever the
        # window has two, so that a block is a single row or column only when the image
        # is (the in-memory functions sum single rows in numpy's own order)
        need = max(halo.left + 1, halo.right + 1, min(2, halo.span))
        chunks[x.ndim + axis] = ensure_minimum_chunksize(need, edge)
        x = _extend_axis(x, halo, axis, fill)
    return x.rechunk(tuple(chunks[d] for d in range(x.ndim)))


def _valid_block(
    block: np.ndarray, kernel: np.ndarray, *, corr: bool, method: str, rtol: float | None
) -> np.ndarray:
    """One block of the output: the in-memory 'valid' convolution of its window."""
    fn = _conv.correlate2d if corr else _conv.conv2d
    return fn(block, kernel, "valid", method=method, rtol=rtol)  # type: ignore[arg-type]


def _blocked(
    x: da.Array,
    k: np.ndarray,
    halos: tuple[AxisHalo, AxisHalo],
    fill: np.generic,
    dtype: np.dtype,
    *,
    corr: bool,
    method: str,
    rtol: float | None,
) -> da.Array:
    """The convolution of `x` block by block: window, halos, one 'valid' product each."""
    with np.errstate(invalid="ignore", over="ignore"):  # the images' dtype must hold it
        pad = cast("np.generic", np.asarray(fill).astype(x.dtype)[()])
        exact = bool(pad == fill) or bool(np.isnan(pad) and np.isnan(fill))
    if not exact or (x.dtype.kind not in "c" and np.iscomplexobj(fill)):
        x = x.astype(dtype)
        pad = fill
    window = _window(x, halos, pad)
    depth = {window.ndim + a: (h.left, h.right) for a, h in zip(_AXES, halos, strict=True)}
    blocks = overlap(window, depth=depth, boundary="none", allow_rechunk=False)
    out_chunks = list(window.chunks)
    for axis, halo in zip(_AXES, halos, strict=True):
        out_chunks[window.ndim + axis] = output_chunks(window.chunks[axis], halo)
    return da.map_blocks(
        partial(_valid_block, kernel=k, corr=corr, method=method, rtol=rtol),
        blocks,
        chunks=tuple(out_chunks),
        dtype=dtype,
        meta=np.empty((0,) * window.ndim, dtype=dtype),
    )


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
    what = "correlation" if corr else "convolution"
    x = _check_dask(image, "image", 2)
    k = _check_kernel(kernel)
    check_nonempty(x.shape[-2:], "image")
    checked_mode = check_mode(mode)
    canon = check_boundary(boundary)
    dtype = result_dtype(np.empty(0, x.dtype), k, what)
    how = check_method(method, dtype)
    check_method_axes(how, 2)
    tol = check_rtol(rtol)
    fill = check_fillvalue(fillvalue, dtype, used=canon == "fill")
    shape = (int(x.shape[-2]), int(x.shape[-1]))
    check_valid_shapes(checked_mode, shape, k.shape)
    halos = (
        axis_halo(shape[0], k.shape[0], checked_mode, canon, corr=corr),
        axis_halo(shape[1], k.shape[1], checked_mode, canon, corr=corr),
    )
    if checked_mode == "valid" and any(m > n for n, m in zip(shape, k.shape, strict=True)):
        # a kernel larger than the image: scipy swaps the arrays and reads no padding; the
        # image is smaller than the kernel, so each image is one block
        images = x.rechunk({x.ndim - 2: -1, x.ndim - 1: -1})
        out_shape = tuple(m - n + 1 for n, m in zip(shape, k.shape, strict=True))
        return da.map_blocks(
            partial(_valid_block, kernel=k, corr=corr, method=how, rtol=tol),
            images,
            chunks=(*images.chunks[:-2], (out_shape[0],), (out_shape[1],)),
            dtype=dtype,
            meta=np.empty((0,) * x.ndim, dtype=dtype),
        )
    pad = fill if canon == "fill" and checked_mode != "valid" else dtype.type(0)
    return _blocked(x, k, halos, pad, dtype, corr=corr, method=how, rtol=tol)


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
    boundary : {'fill', 'wrap', 'symm'}
        How the images are extended at their true edges (aliases 'pad',
        'circular', 'symmetric'); blocks inside an image read their neighbours.
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
    same order. With 'auto' the in-memory function may take a certified FFT
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


def _fold_axis(z: da.Array, halo: AxisHalo, axis: int) -> da.Array:
    """Transpose of the extension along `axis`: the window's extension added back onto
    the inputs it copies (for 'fill', dropped)."""
    core = _slice(z, axis, halo.before, halo.before + halo.n)
    if not bool((halo.source >= 0).any()):
        return core
    strips = da.concatenate(
        [_slice(z, axis, 0, halo.before), _slice(z, axis, halo.before + halo.n, halo.span)],
        axis=axis,
    ).rechunk({z.ndim + axis: -1})
    edge, matrix = fold_targets(halo)
    fold = matrix.astype(z.dtype)
    moved = da.moveaxis(strips, axis, -1)
    added = da.moveaxis(moved @ fold.T, -1, axis)  # (..., rows of `fold`, ...)
    if edge == halo.n:
        return core + added.rechunk(core.chunks)
    n = halo.n
    parts = [
        _slice(core, axis, 0, edge) + _slice(added, axis, 0, edge),
        _slice(core, axis, edge, n - edge),
        _slice(core, axis, n - edge, n) + _slice(added, axis, edge, 2 * edge),
    ]
    return da.concatenate(parts, axis=axis).rechunk(core.chunks)


def _slice(x: da.Array, axis: int, start: int, stop: int) -> da.Array:
    index: list[slice] = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def _fit_block(block: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The exact result cast to its dtype: integers refused when outside its range."""
    return fit(block, dtype, "the exact transposed convolution")


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
    y = _check_dask(output, "output", 2)
    k = _check_kernel(kernel)
    checked_mode = check_mode(mode)
    canon = check_boundary(boundary)
    dtype = result_dtype(np.empty(0, y.dtype), k, "transposed convolution")
    how = check_method(method, dtype)
    check_method_axes(how, 2)
    tol = check_rtol(rtol)
    check_nonempty(y.shape[-2:], "output")
    shape = _conv._transpose_input_shape(tuple(y.shape), k.shape, checked_mode, input_shape)
    halos = (
        axis_halo(shape[0], k.shape[0], checked_mode, canon, corr=False),
        axis_halo(shape[1], k.shape[1], checked_mode, canon, corr=False),
    )
    # every sum is taken exactly (integers in 64 bits) or in the working precision, and
    # rounded to `dtype` once, after the extension is folded back
    work = compute_dtype(dtype)
    flipped = np.ascontiguousarray(k[::-1, ::-1])
    # the transpose of each block's 'valid' product is a 'full' convolution with the
    # flipped kernel: the window's values, then the extension folded back
    full = (
        axis_halo(halos[0].length, k.shape[0], "full", "fill", corr=False),
        axis_halo(halos[1].length, k.shape[1], "full", "fill", corr=False),
    )
    z = _blocked(
        y.astype(work), flipped, full, work.type(0), work, corr=False, method=how, rtol=tol
    )
    for axis, halo in zip(_AXES, halos, strict=True):
        z = _fold_axis(z, halo, axis)
    if work == dtype:
        return z
    if dtype.kind in "biu":
        return da.map_blocks(partial(_fit_block, dtype=dtype), z, dtype=dtype)
    return z.astype(dtype)


# -- ConvOperator on dask batches ----------------------------------------------------------
def _operator_block(
    block: np.ndarray, op: ConvOperator, *, name: str, transpose: bool, conjugate: bool
) -> np.ndarray:
    return op._apply_shaped(block, name, transpose=transpose, conjugate=conjugate)


def _apply_operator(
    op: ConvOperator, x: Any, *, name: str, transpose: bool, conjugate: bool
) -> da.Array:
    """``op`` (or its transpose or conjugate) applied to a dask batch, one block per chunk
    of the batch axes; the trailing axes are joined into one chunk each."""
    shape_in, shape_out = (
        (op.output_shape, op.input_shape) if transpose else (op.input_shape, op.output_shape)
    )
    nd = len(shape_in)
    arr = _check_dask(x, name, nd)
    if tuple(arr.shape[arr.ndim - nd :]) != shape_in:
        msg = f"`{name}` must end in shape {shape_in}, got shape {arr.shape}"
        raise ValueError(msg)
    dtype = result_dtype(np.empty(0, arr.dtype), np.empty(0, op._kernel_dtype), "convolution")
    batch = arr.ndim - nd
    arr = arr.rechunk({batch + d: -1 for d in range(nd)})
    chunks = arr.chunks[:batch] + tuple((s,) for s in shape_out)
    return da.map_blocks(
        partial(_operator_block, op=op, name=name, transpose=transpose, conjugate=conjugate),
        arr,
        chunks=chunks,
        dtype=dtype,
        meta=np.empty((0,) * (batch + len(shape_out)), dtype=dtype),
    )
