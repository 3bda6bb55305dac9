"""A linear operator applied to a dask batch: one product per chunk of its batch axes.

The operator is anything with ``input_shape``, ``output_shape`` and
``apply(x, transpose=, conjugate=)`` (:meth:`convmat.ConvOperator.apply`):
this module knows no operator type, so the operator's module may import it.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol

import dask.array as da
import numpy as np

from .checks import check_dask

__all__: list[str] = []


class BlockOperator(Protocol):
    """What a lazy batch needs of an operator."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    def apply(self, x: Any, *, transpose: bool = False, conjugate: bool = False) -> Any: ...


def operator_block(
    block: np.ndarray, op: BlockOperator, *, transpose: bool, conjugate: bool
) -> np.ndarray:
    return np.asarray(op.apply(block, transpose=transpose, conjugate=conjugate))


def apply_operator(op: BlockOperator, x: Any, *, transpose: bool, conjugate: bool) -> da.Array:
    """``op`` (or its transpose or conjugate) applied to a dask batch, one block per chunk
    of the batch axes; the trailing axes are joined into one chunk each."""
    name = "y" if transpose else "x"  # the operator's names: x for inputs, y for outputs
    shape_in, shape_out = (
        (op.output_shape, op.input_shape) if transpose else (op.input_shape, op.output_shape)
    )
    nd = len(shape_in)
    arr = check_dask(x, name, nd)
    if tuple(arr.shape[arr.ndim - nd :]) != shape_in:
        msg = f"`{name}` must end in shape {shape_in}, got shape {arr.shape}"
        raise ValueError(msg)
    # the result's dtype, from the operator itself on no data (and its refusals, now)
    empty = np.empty((0, *shape_in), dtype=arr.dtype)
    dtype = np.asarray(op.apply(empty, transpose=transpose, conjugate=conjugate)).dtype
    batch = arr.ndim - nd
    arr = arr.rechunk({batch + d: -1 for d in range(nd)})
    chunks = arr.chunks[:batch] + tuple((s,) for s in shape_out)
    return da.map_blocks(
        partial(operator_block, op=op, transpose=transpose, conjugate=conjugate),
        arr,
        chunks=chunks,
        dtype=dtype,
        meta=np.empty((0,) * (batch + len(shape_out)), dtype=dtype),
    )
