"""The plan of one convolution matrix (shapes, mode, boundary, axis maps) and its dtypes.

A :class:`Plan` is what every later stage reads: the memory guards (sizes from
the shapes alone, as Python ints), the CSR assembly (the per-axis maps, built
on first use), the engines and their cache (its `key`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .budget import MAP_BYTES_PER_ENTRY
from .index import AxisMap, axis_map, output_length
from .validate import (
    Boundary,
    Extension,
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
    and refused first when they would not fit.

    `mode` and `boundary` are those of a convolution (None for a layer's
    plan, whose geometry `tag` names); `corr` centres 'same' as scipy centres
    a 2-D correlation. :attr:`key` names the plan in caches.
    """

    input_shape: tuple[int, ...]
    kernel_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    build_maps: Callable[[], tuple[AxisMap, ...]]
    mode: Mode | None = None
    boundary: Extension | None = None
    corr: bool = False
    tag: tuple[object, ...] = ()

    @cached_property
    def key(self) -> tuple[object, ...]:
        """What identifies the plan: shapes, mode, boundary, centring and tag."""
        return (self.input_shape, self.kernel_shape, self.mode, self.boundary, self.corr, *self.tag)

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
    return Plan(shape, kshape, out, build, mode, canon, corr)


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


def matrix_dtype(kernel_dtype: np.dtype) -> np.dtype:
    """The dtype of a matrix built from a kernel: the kernel's, bool as uint8."""
    return np.dtype(np.uint8) if kernel_dtype == np.bool_ else kernel_dtype
