"""Convolutions of dask arrays block by block: the window, the halos, one product per block."""

from __future__ import annotations

from functools import partial
from typing import cast

import dask.array as da
import numpy as np
from dask.array.overlap import ensure_minimum_chunksize, overlap

from .._core.exact import fit
from .._core.halo import AxisHalo, axis_halo, fold_targets, output_chunks, window_chunks
from .._core.plan import compute_dtype
from .._core.validate import (
    Extension,
    Mode,
)
from .._engines.pipeline import Request, forward

__all__: list[str] = []


AXES = (-2, -1)


# -- the window: the input extended at the true image edges ------------------------------
def extend_axis(x: da.Array, halo: AxisHalo, axis: int, fill: np.generic) -> da.Array:
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


def extended_window(x: da.Array, halos: tuple[AxisHalo, AxisHalo], fill: np.generic) -> da.Array:
    """The extended image, chunked so that each block borrows only from its neighbours."""
    chunks = dict(enumerate(x.chunks))
    for axis, halo in zip(AXES, halos, strict=True):
        edge = window_chunks(x.chunks[axis], halo)
        # a neighbour's share and one output per block; and two positions wherever the
        # window has two, so that a block is a single row or column only when the image
        # is (the in-memory functions sum single rows in numpy's own order)
        need = max(halo.left + 1, halo.right + 1, min(2, halo.span))
        chunks[x.ndim + axis] = ensure_minimum_chunksize(need, edge)
        x = extend_axis(x, halo, axis, fill)
    return x.rechunk(tuple(chunks[d] for d in range(x.ndim)))


def valid_block(
    block: np.ndarray, kernel: np.ndarray, *, corr: bool, method: str, rtol: float | None
) -> np.ndarray:
    """One block of the output: the in-memory 'valid' convolution of its window."""
    return forward(block, kernel, "valid", "fill", 0, corr=corr, method=method, rtol=rtol, ndim=2)


def blocked(
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
    window = extended_window(x, halos, pad)
    depth = {window.ndim + a: (h.left, h.right) for a, h in zip(AXES, halos, strict=True)}
    blocks = overlap(window, depth=depth, boundary="none", allow_rechunk=False)
    out_chunks = list(window.chunks)
    for axis, halo in zip(AXES, halos, strict=True):
        out_chunks[window.ndim + axis] = output_chunks(window.chunks[axis], halo)
    return da.map_blocks(
        partial(valid_block, kernel=k, corr=corr, method=method, rtol=rtol),
        blocks,
        chunks=tuple(out_chunks),
        dtype=dtype,
        meta=np.empty((0,) * window.ndim, dtype=dtype),
    )


def fold_axis(z: da.Array, halo: AxisHalo, axis: int) -> da.Array:
    """Transpose of the extension along `axis`: the window's extension added back onto
    the inputs it copies (for 'fill', dropped)."""
    core = slice_axis(z, axis, halo.before, halo.before + halo.n)
    if not bool((halo.source >= 0).any()):
        return core
    strips = da.concatenate(
        [slice_axis(z, axis, 0, halo.before), slice_axis(z, axis, halo.before + halo.n, halo.span)],
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
        slice_axis(core, axis, 0, edge) + slice_axis(added, axis, 0, edge),
        slice_axis(core, axis, edge, n - edge),
        slice_axis(core, axis, n - edge, n) + slice_axis(added, axis, edge, 2 * edge),
    ]
    return da.concatenate(parts, axis=axis).rechunk(core.chunks)


def slice_axis(x: da.Array, axis: int, start: int, stop: int) -> da.Array:
    index: list[slice] = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def fit_block(block: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The exact result cast to its dtype: integers refused when outside its range."""
    return fit(block, dtype, "the exact transposed convolution")


def blocked_forward(x: da.Array, kernel: np.ndarray, request: Request) -> da.Array:
    """The convolution of a request (or correlation, the plan's `corr`) of the dask
    array `x` with `kernel` as given: the window, the halos, one product per block."""
    plan, dtype = request.plan, request.dtype
    mode, boundary, corr = cast("Mode", plan.mode), cast("Extension", plan.boundary), plan.corr
    shape, k = plan.input_shape, kernel
    halos = (
        axis_halo(shape[0], k.shape[0], mode, boundary, corr=corr),
        axis_halo(shape[1], k.shape[1], mode, boundary, corr=corr),
    )
    how, tol = request.method, request.rtol
    if mode == "valid" and any(m > n for n, m in zip(shape, k.shape, strict=True)):
        # a kernel larger than the image: scipy swaps the arrays and reads no padding; the
        # image is smaller than the kernel, so each image is one block
        images = x.rechunk({x.ndim - 2: -1, x.ndim - 1: -1})
        out_shape = plan.output_shape
        return da.map_blocks(
            partial(valid_block, kernel=k, corr=corr, method=how, rtol=tol),
            images,
            chunks=(*images.chunks[:-2], (out_shape[0],), (out_shape[1],)),
            dtype=dtype,
            meta=np.empty((0,) * x.ndim, dtype=dtype),
        )
    pad = dtype.type(0) if request.fill is None else request.fill
    return blocked(x, k, halos, pad, dtype, corr=corr, method=how, rtol=tol)


def blocked_transpose(y: da.Array, kernel: np.ndarray, request: Request) -> da.Array:
    """The transpose ``A.T @ y`` of a request, block by block: each block's transposed
    'valid' product, then the extension folded back onto the image edges."""
    plan, dtype, k = request.plan, request.dtype, kernel
    mode, boundary = cast("Mode", plan.mode), cast("Extension", plan.boundary)
    shape = plan.input_shape
    halos = (
        axis_halo(shape[0], k.shape[0], mode, boundary, corr=False),
        axis_halo(shape[1], k.shape[1], mode, boundary, corr=False),
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
    method, rtol = request.method, request.rtol
    z = blocked(
        y.astype(work), flipped, full, work.type(0), work, corr=False, method=method, rtol=rtol
    )
    for axis, halo in zip(AXES, halos, strict=True):
        z = fold_axis(z, halo, axis)
    if work == dtype:
        return z
    if dtype.kind in "biu":
        return da.map_blocks(partial(fit_block, dtype=dtype), z, dtype=dtype)
    return z.astype(dtype)
