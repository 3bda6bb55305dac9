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
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._budget import BLOCK_BYTES, MAP_BYTES_PER_ENTRY
from ._exact import SAFE, abs_max, exact_sum, fit, overflow
from ._index import AxisMap, axis_map, output_length
from ._validate import (
    Boundary,
    Mode,
    check_array,
    check_boundary,
    check_mode,
    check_nonempty,
    check_shape,
    check_valid_shapes,
)

__all__: list[str] = []


@dataclass(frozen=True, eq=False)
class Plan:
    """Shapes of one convolution matrix and the geometry of its axes.

    Everything the memory guard needs (shapes, bounds on the entries, the
    bytes of the maps) comes from the shapes alone, as Python ints. The
    axes (:class:`AxisMap`) cost O(n + m) each; their per-tap maps
    (``(length, m)`` index arrays) are built only by what builds a matrix,
    and refused first when they would not fit. `key` names the plan.
    """

    input_shape: tuple[int, ...]
    kernel_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    build_maps: Callable[[], tuple[AxisMap, ...]]
    key: tuple[object, ...] = ()

    @cached_property
    def maps(self) -> tuple[AxisMap, ...]:
        return self.build_maps()

    @cached_property
    def shape(self) -> tuple[int, int]:
        return math.prod(self.output_shape), math.prod(self.input_shape)

    @cached_property
    def nnz_bound(self) -> int:
        """At least the number of nonzeros: no row has more than ``min(n, m)`` per axis."""
        return math.prod(
            length * min(n, m)
            for length, n, m in zip(
                self.output_shape, self.input_shape, self.kernel_shape, strict=True
            )
        )

    @cached_property
    def map_bytes(self) -> int:
        """Peak bytes of building the per-axis maps."""
        return MAP_BYTES_PER_ENTRY * sum(
            length * m for length, m in zip(self.output_shape, self.kernel_shape, strict=True)
        )

    @cached_property
    def nnz(self) -> int:
        """The exact number of nonzeros (builds the per-tap maps)."""
        return math.prod(mp.nnz for mp in self.maps)

    @cached_property
    def nnz_estimate(self) -> int:
        """The nonzeros from the shapes: exact with zero padding, an upper bound otherwise."""
        return math.prod(mp.nnz_estimate for mp in self.maps)

    @cached_property
    def padded_size(self) -> int:
        return math.prod(mp.length * mp.width for mp in self.maps)

    @cached_property
    def folded(self) -> bool:
        return any(mp.folded for mp in self.maps)

    @property
    def builds_in_blocks(self) -> bool:
        """Whether its CSR matrix is built in blocks of rows (see :func:`row_blocks`)."""
        return True

    def index_dtype(self) -> type[np.signedinteger]:
        """int32 when every index and the nnz (bounded from the shapes) fit, int64 beyond."""
        big = max(self.nnz_bound, *self.shape)
        return np.int32 if big < 2**31 else np.int64


def make_plan(
    input_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    mode: Mode,
    boundary: Boundary,
    *,
    corr: bool = False,
) -> Plan:
    """Return the plan of a convolution with validated shapes, mode and boundary.

    With `corr`, 'same' mode is centred as scipy centres correlation (the
    caller passes the flipped, conjugated kernel). Nothing is allocated here.
    """
    canon = check_boundary(boundary)
    shape, kshape = tuple(input_shape), tuple(kernel_shape)

    def build() -> tuple[AxisMap, ...]:
        return tuple(axis_map(n, m, mode, canon, corr) for n, m in zip(shape, kshape, strict=True))

    out = tuple(output_length(n, m, mode) for n, m in zip(shape, kshape, strict=True))
    return Plan(shape, kshape, out, build, (shape, kshape, mode, canon, corr))


def checked_plan(
    kernel: object,
    input_shape: object,
    mode: object,
    boundary: object,
    *,
    ndim: int | None = None,
    shape_name: str = "input_shape",
) -> tuple[np.ndarray, Plan]:
    """Validate a kernel, an input shape, a mode and a boundary; return the kernel and its plan."""
    k = check_array(kernel, "kernel", ndim=ndim)
    check_nonempty(k.shape, "kernel")
    shape = check_shape(input_shape, shape_name, k.ndim)
    checked_mode = check_mode(mode)
    check_valid_shapes(checked_mode, shape, k.shape)
    return k, make_plan(shape, k.shape, checked_mode, check_boundary(boundary))


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype entries are computed in: exact integers, float16 as float32."""
    if dtype.kind in {"b", "i"}:
        return np.dtype(np.int64)
    if dtype.kind == "u":
        return np.dtype(np.uint64)
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype


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
            (*plan.key, "rows", lo, hi),
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


SMALL_AXIS = 2**20  # (length * m) entries below which an axis's 0/1 map is built outright


def _inside_sum(values: np.ndarray, mp: AxisMap, axis: int) -> np.ndarray:
    """Contract `axis` of `values` (the taps) with the axis's inside indicator -> outputs.

    Small axes use the ``(length, m)`` 0/1 map; long ones, whose taps inside
    form one run per output (zero padding only), use prefix sums: O(n + m).
    """
    run = mp.input_run
    if mp.length * mp.m <= SMALL_AXIS or run is None or not mp.convolution:
        inside = (mp.raw >= 0).astype(values.dtype)
        return np.moveaxis(np.tensordot(inside, values, axes=([1], [axis])), 0, axis)
    moved = np.moveaxis(values, axis, 0)
    prefix = np.concatenate([np.zeros((1, *moved.shape[1:]), moved.dtype), np.cumsum(moved, 0)])
    lo, hi = mp.tap_runs(np.arange(mp.length))
    return np.moveaxis(prefix[hi] - prefix[lo], 0, axis)


def inside_sum(values: np.ndarray, plan: Plan) -> np.ndarray:
    """For each output (shape ``plan.output_shape``), the sum of ``values[j]`` over the taps
    that read the input (not the fill padding). ``values`` has the kernel's shape."""
    inside = values
    for d, mp in enumerate(plan.maps):
        inside = _inside_sum(inside, mp, d)
    return np.asarray(inside)


def outside_sum(values: np.ndarray, plan: Plan) -> np.ndarray:
    """For each output, the sum of ``values[j]`` over taps that read the fill padding.

    ``values`` has the kernel's shape. The sum over all taps minus the sum over
    taps inside is a tensor contraction with one small map per axis.
    """
    total = values.sum()
    return np.asarray(total - inside_sum(values, plan)).reshape(-1)


def matrix_dtype(kernel_dtype: np.dtype) -> np.dtype:
    """The dtype of a matrix built from a kernel: the kernel's, bool as uint8."""
    return np.dtype(np.uint8) if kernel_dtype == np.bool_ else kernel_dtype


FOLDED = "matrix entries (sums of kernel taps folded by the boundary)"


def folded_sums(
    fold: Callable[[np.ndarray], np.ndarray], kernel: np.ndarray, taps: int
) -> np.ndarray:
    """``fold(kernel)`` for a map that adds up at most `taps` kernel entries per result.

    Integer sums are exact: computed in 64 bits when the magnitudes allow it,
    in limbs otherwise (see ``convmat._exact``), and refused by
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
