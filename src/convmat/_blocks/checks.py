"""Checks of dask arrays and of the kernel sent to every block, before a graph exists."""

from __future__ import annotations

import math

import dask.array as da
import numpy as np

from .._core.validate import (
    check_array,
    check_nonempty,
)

__all__: list[str] = []


# -- validation: everything is refused before the graph exists ------------------------
def check_dask(value: object, name: str, min_ndim: int) -> da.Array:
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


def check_kernel(kernel: object) -> np.ndarray:
    if isinstance(kernel, da.Array):
        msg = (
            "`kernel` must be an in-memory array, got a dask array: pass `kernel.compute()` "
            "(it is sent to every block)"
        )
        raise TypeError(msg)
    k = check_array(kernel, "kernel", ndim=2)
    check_nonempty(k.shape, "kernel")
    return k
