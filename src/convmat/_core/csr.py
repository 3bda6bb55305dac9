"""Assemble the CSR arrays of an N-D convolution matrix from per-axis maps.

The matrix of an N-D convolution is the tensor product of its axes' 1-D
structures: row ``(o_0, ..., o_{D-1})`` has a nonzero in column
``(p_0, ..., p_{D-1})`` exactly when every axis ``d`` has ``p_d`` among the
columns of row ``o_d``. Entries are laid out in a padded array of shape
``(L_0, ..., L_{D-1}, w_0, ..., w_{D-1})``, which in C order *is* CSR order;
dropping the padding gives ``data`` and ``indices`` without any sort.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from .budget import BLOCK_BYTES, MAP_BYTES_PER_ENTRY
from .exact import SAFE, abs_max, exact_sum, fit, overflow
from .index import AxisMap
from .plan import Plan, compute_dtype

__all__: list[str] = []


def _on_axis(arr: np.ndarray, ndim: int, d: int) -> np.ndarray:
    """Reshape a per-axis ``(rows, slots)`` array to broadcast in the padded layout.

    The padded layout has shape ``(L_0, ..., L_{D-1}, w_0, ..., w_{D-1})``;
    axis ``d``'s rows go to position ``d`` and its slots to ``ndim + d``.
    """
    shape = [1] * (2 * ndim)
    shape[d], shape[ndim + d] = arr.shape
    return arr.reshape(shape)


def padded_values(kernel: np.ndarray, plan: Plan) -> np.ndarray:
    """Entries in the padded layout ``(*lead, L_0, ..., w_0, ...)``.

    `kernel` has shape ``(*lead, m_0, ..., m_{D-1})``: leading axes hold
    several kernels (the channel pairs of a CNN layer) built at once.
    """
    ndim = len(plan.maps)
    lead = kernel.ndim - ndim
    if not plan.folded:
        index: tuple[Any, ...] = (Ellipsis,)
        index += tuple(_on_axis(mp.taps, ndim, d) for d, mp in enumerate(plan.maps))
        return np.asarray(kernel[index])
    arr = kernel
    for d, mp in enumerate(plan.maps):
        moved = np.moveaxis(arr, lead + d, 0)
        rest = moved.shape[1:]
        mixed = mp.gather(kernel.dtype) @ moved.reshape(mp.m, -1)
        arr = np.moveaxis(np.asarray(mixed).reshape(mp.length * mp.width, *rest), 0, lead + d)
    split = list(kernel.shape[:lead])
    for mp in plan.maps:
        split += [mp.length, mp.width]
    arr = arr.reshape(split)
    evens = [lead + 2 * d for d in range(ndim)]
    odds = [lead + 2 * d + 1 for d in range(ndim)]
    return np.asarray(arr.transpose([*range(lead), *evens, *odds]))


def padded_columns(plan: Plan, index_dtype: type[np.signedinteger]) -> np.ndarray:
    ndim = len(plan.maps)
    total: np.ndarray = np.zeros((1,) * (2 * ndim), dtype=index_dtype)
    stride = 1
    for d in reversed(range(ndim)):
        mp = plan.maps[d]
        total = total + _on_axis(mp.cols.astype(index_dtype) * stride, ndim, d)
        stride *= mp.n
    return total


def padding_mask(plan: Plan) -> np.ndarray | None:
    """Boolean mask of real entries in the padded layout, None if there is no padding."""
    if all(bool((mp.counts == mp.width).all()) for mp in plan.maps):
        return None
    ndim = len(plan.maps)
    mask: np.ndarray = np.ones((1,) * (2 * ndim), dtype=bool)
    for d, mp in enumerate(plan.maps):
        real = np.arange(mp.width)[None, :] < mp.counts[:, None]
        mask = mask & _on_axis(real, ndim, d)
    return mask


PADDED_BYTES_PER_ENTRY = 32  # values, columns, mask and their compressed copies


def block_rows(plan: Plan) -> int:
    """Rows of the first axis per block, so that one block's maps and padded entries take
    at most about BLOCK_BYTES (the whole axis when it fits)."""
    first = plan.maps[0]
    rest = math.prod(
        length * min(n, m)
        for length, n, m in zip(
            plan.output_shape[1:], plan.input_shape[1:], plan.kernel_shape[1:], strict=True
        )
    )
    per_row = MAP_BYTES_PER_ENTRY * first.m + PADDED_BYTES_PER_ENTRY * min(first.m, first.n) * rest
    return min(first.length, max(1, BLOCK_BYTES // per_row))


def row_blocks(plan: Plan) -> Iterator[Plan]:
    """The plan cut along its first axis into blocks of :func:`block_rows` rows, made one
    at a time (each block's maps are dropped with it)."""
    first, rows = plan.maps[0], block_rows(plan)
    for lo in range(0, first.length, rows):
        hi = min(lo + rows, first.length)
        yield Plan(
            plan.input_shape,
            plan.kernel_shape,
            (hi - lo, *plan.output_shape[1:]),
            _fixed((first.block(lo, hi), *plan.maps[1:])),
            plan.mode,
            plan.boundary,
            plan.corr,
            (*plan.tag, "rows", lo, hi),
        )


def _fixed(maps: tuple[AxisMap, ...]) -> Callable[[], tuple[AxisMap, ...]]:
    def build() -> tuple[AxisMap, ...]:
        return maps

    return build


def by_rows(plan: Plan, part: Callable[[Plan], sp.csr_array], dtype: np.dtype) -> sp.csr_array:
    """``part(plan)``, or, for a plan too large for one block, ``part`` of each block of
    rows (:func:`row_blocks`) stacked into one matrix of `dtype`."""
    if block_rows(plan) >= plan.output_shape[0]:
        return part(plan)
    return stack_rows(map(part, row_blocks(plan)), plan, dtype)


def stack_rows(parts: Iterable[sp.csr_array], plan: Plan, dtype: np.dtype) -> sp.csr_array:
    """The CSR matrix of `plan` from the CSR matrices of its blocks of rows, in order,
    each copied into arrays sized by the plan's nonzero bound as it comes."""
    idx = plan.index_dtype()
    bound = plan.nnz_bound
    data = np.empty(bound, dtype=dtype)
    indices = np.empty(bound, dtype=idx)
    indptr = np.zeros(plan.shape[0] + 1, dtype=idx)
    nnz = row = 0
    for part in parts:
        rows, stored = part.shape[0], part.nnz
        data[nnz : nnz + stored] = part.data
        indices[nnz : nnz + stored] = part.indices
        indptr[row + 1 : row + rows + 1] = part.indptr[1:] + nnz
        nnz, row = nnz + stored, row + rows
    out = sp.csr_array((data[:nnz], indices[:nnz], indptr), shape=plan.shape)
    out.has_sorted_indices = True
    out.has_canonical_format = True
    return out


def build_csr(kernel: np.ndarray, plan: Plan, values: np.ndarray | None = None) -> sp.csr_array:
    """Return the convolution matrix as CSR, entries of ``kernel.dtype``.

    The sparsity pattern is the kernel's footprint: taps whose value is zero
    are stored as explicit zeros, so that NaN and inf in the input spread to
    the same outputs as in a direct convolution. `values`, when given, are the
    entries in the padded layout, already computed. Without them, a large
    matrix is built in blocks of rows (see :func:`row_blocks`).
    """
    idx = plan.index_dtype()
    if values is not None:
        return _build_csr(kernel, plan, values, idx)
    return by_rows(plan, lambda block: _build_csr(kernel, block, None, idx), kernel.dtype)


def _build_csr(
    kernel: np.ndarray,
    plan: Plan,
    values: np.ndarray | None,
    idx: type[np.signedinteger],
) -> sp.csr_array:
    if values is None:
        values = padded_values(kernel, plan)
    columns = padded_columns(plan, idx)
    mask = padding_mask(plan)
    if mask is None:
        data = np.ascontiguousarray(values).reshape(-1)
        indices = np.broadcast_to(columns, values.shape).reshape(-1)
    else:
        data = values[mask]
        indices = np.broadcast_to(columns, mask.shape)[mask]
    # the matrix is the caller's to change (eliminate_zeros, sort, edit): its arrays are
    # writable and its own, never a broadcast view nor a view of the kernel
    if not indices.flags.writeable:
        indices = indices.copy()
    if not data.flags.writeable or np.may_share_memory(data, kernel):
        data = data.copy()
    counts = np.ones(1, dtype=np.int64)
    for mp in plan.maps:
        counts = np.multiply.outer(counts, mp.counts).reshape(-1)
    indptr = np.zeros(counts.size + 1, dtype=idx)
    np.cumsum(counts, out=indptr[1:])
    out = sp.csr_array((data, indices, indptr), shape=plan.shape)
    out.has_sorted_indices = True
    out.has_canonical_format = True
    return out


def build_unfolded_coo(kernel: np.ndarray, plan: Plan) -> sp.coo_array:
    """The matrix with one stored entry per tap (duplicates kept, not summed).

    Applying it adds ``k[j] * x[p]`` term by term, exactly as a direct
    convolution does, which matters only for inf in the input of a folded
    (symmetric or wrapped) matrix.
    """
    ndim = len(plan.maps)
    rows: np.ndarray = np.zeros((1,) * (2 * ndim), dtype=np.int64)
    cols: np.ndarray = np.zeros((1,) * (2 * ndim), dtype=np.int64)
    inside: np.ndarray = np.ones((1,) * (2 * ndim), dtype=bool)
    row_stride = col_stride = 1
    for d in reversed(range(ndim)):
        mp = plan.maps[d]
        rows = rows + _on_axis(np.arange(mp.length)[:, None] * row_stride, ndim, d)
        cols = cols + _on_axis(mp.raw * col_stride, ndim, d)
        inside = inside & _on_axis(mp.raw >= 0, ndim, d)
        row_stride *= mp.length
        col_stride *= mp.n
    full = [mp.length for mp in plan.maps] + [mp.m for mp in plan.maps]
    vals = np.broadcast_to(kernel.reshape([1] * ndim + list(kernel.shape)), full)[
        np.broadcast_to(inside, full)
    ]
    r = np.broadcast_to(rows, full)[np.broadcast_to(inside, full)]
    c = np.broadcast_to(cols, full)[np.broadcast_to(inside, full)]
    return sp.coo_array((vals, (r, c)), shape=plan.shape)


FOLDED = "matrix entries (sums of kernel taps folded by the boundary)"


def folded_sums(
    fold: Callable[[np.ndarray], np.ndarray], kernel: np.ndarray, taps: int
) -> np.ndarray:
    """``fold(kernel)`` for a map that adds up at most `taps` kernel entries per result.

    Integer sums are exact: computed in 64 bits when the magnitudes allow it,
    in limbs otherwise (see ``convmat._core.exact``), and refused by
    :class:`ResultOverflowError` when they leave the 64-bit range.
    """
    if kernel.dtype.kind not in "iu" or abs_max(kernel) * taps < SAFE:
        return fold(kernel)
    one = np.array(1, dtype=kernel.dtype)
    shape = np.shape(fold(np.zeros(kernel.shape, dtype=np.int64)))
    values, fits = exact_sum(
        [(lambda k, _: fold(k), kernel, one)], taps, shape, signed=kernel.dtype.kind == "i"
    )
    if not fits.all():
        overflow(kernel.dtype, FOLDED)
    return values


def kernel_entries(kernel: np.ndarray, plan: Plan, dtype: np.dtype) -> sp.csr_array:
    """The CSR matrix, entries computed exactly and checked to fit `dtype`.

    The entries are of `dtype`, except float16, which scipy.sparse cannot
    store: those stay float32 (already rounded to float16 values).
    """
    work = compute_dtype(dtype)
    k = kernel.astype(work, copy=False)
    taps = math.prod(mp.m for mp in plan.maps if mp.folded)

    idx = plan.index_dtype()

    def part(block: Plan) -> sp.csr_array:
        values = None
        if block.folded:
            values = folded_sums(lambda kk: padded_values(kk, block), k, taps)
        return _build_csr(k, block, values, idx)

    csr = by_rows(plan, part, work)
    if work != dtype:
        if dtype.kind in "iu":
            csr.data = fit(csr.data, dtype, FOLDED)
        csr.data = csr.data.astype(dtype).astype(
            np.float32 if dtype == np.float16 else dtype, copy=False
        )
    return csr
