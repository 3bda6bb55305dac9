"""The memory budget: sizes computed with Python ints, refused before allocating."""

from __future__ import annotations

import operator
import os
from functools import cache
from typing import Protocol

import numpy as np

from .errors import MatrixTooLargeError

__all__ = [
    "get_max_dense_bytes",
    "get_max_working_bytes",
    "set_max_dense_bytes",
    "set_max_working_bytes",
]


class MatrixSize(Protocol):
    """What the checks need to know of a matrix before it exists, from shapes alone."""

    @property
    def shape(self) -> tuple[int, int]: ...

    @property
    def nnz_bound(self) -> int: ...

    @property
    def map_bytes(self) -> int: ...

    def index_dtype(self) -> type[np.signedinteger]: ...


_DEFAULT_MAX_DENSE_BYTES = 2**30
_max_dense_bytes = _DEFAULT_MAX_DENSE_BYTES


def get_max_dense_bytes() -> int:
    """Return the largest dense matrix, in bytes, that :func:`conv_matrix` builds.

    Examples
    --------
    >>> import convmat
    >>> convmat.get_max_dense_bytes()
    1073741824
    """
    return _max_dense_bytes


def set_max_dense_bytes(nbytes: int | None) -> int:
    """Set the dense-matrix budget for the whole process; return the previous one.

    Parameters
    ----------
    nbytes : int or None
        The new budget in bytes (a non-negative integer), or None to restore
        the default of 1 GiB.

    Returns
    -------
    int
        The budget that was in force before the call.

    Examples
    --------
    >>> import convmat
    >>> previous = convmat.set_max_dense_bytes(1000)
    >>> convmat.conv_matrix([[1, 2], [3, 4]], (30, 30))
    Traceback (most recent call last):
    ...
    convmat.MatrixTooLargeError: a dense (961, 900) int64 matrix needs 6,919,200 bytes (6.6 MiB), over the budget of 1,000 bytes (1000 B); the sparse matrix has at most 3,844 nonzeros (45.0 KiB): pass format="csr" for a sparse matrix, or raise the budget with max_dense_bytes= or convmat.set_max_dense_bytes()
    >>> convmat.set_max_dense_bytes(previous)
    1000
    """
    global _max_dense_bytes  # noqa: PLW0603
    previous = _max_dense_bytes
    _max_dense_bytes = _DEFAULT_MAX_DENSE_BYTES if nbytes is None else _check_budget(nbytes)
    return previous


def _check_budget(nbytes: object, name: str = "max_dense_bytes") -> int:
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)):
        msg = f"`{name}` must be a non-negative integer or None, got {nbytes!r}"
        raise TypeError(msg)
    value = operator.index(nbytes)
    if value < 0:
        msg = f"`{name}` must be a non-negative integer or None, got {value}"
        raise ValueError(msg)
    return value


_max_working_bytes: int | None = None  # None: half of this machine's memory


def get_max_working_bytes() -> int:
    """Return the working-set budget, in bytes, of every convolution convmat computes.

    A call's result and the arrays its method allocates (extended copies,
    transforms, the certificate's passes) must fit in it: ``method="auto"``
    takes the fastest method that fits, and a call that nothing fits is
    refused with :class:`MatrixTooLargeError` before anything large is
    allocated. The default is half of this machine's physical memory.

    Examples
    --------
    >>> import convmat
    >>> convmat.get_max_working_bytes() > 0
    True
    """
    if _max_working_bytes is None:
        return machine_memory() // 2
    return _max_working_bytes


def set_max_working_bytes(nbytes: int | None) -> int:
    """Set the working-set budget for the whole process; return the previous one.

    Parameters
    ----------
    nbytes : int or None
        The new budget in bytes (a non-negative integer), or None to restore
        the default: half of this machine's physical memory.

    Returns
    -------
    int
        The budget that was in force before the call.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat
    >>> convmat.set_max_working_bytes(10**6) > 10**6  # the default: half of the memory
    True
    >>> convmat.conv2d(np.ones((1000, 1000)), np.ones((3, 3)), "same")
    Traceback (most recent call last):
    ...
    convmat.MatrixTooLargeError: a convolution of 1 image(s) of shape (1000, 1000) (`image`) needs at least 16,000,000 bytes (15.3 MiB) for its input copy and result, over the working-set budget of 1,000,000 bytes (976.6 KiB): pass fewer images per call, or wrap the image with dask.array and call convmat.dask's function of the same name, which works block by block, or raise the budget with convmat.set_max_working_bytes()
    >>> convmat.set_max_working_bytes(None)  # the default again
    1000000
    """
    global _max_working_bytes  # noqa: PLW0603
    previous = get_max_working_bytes()
    _max_working_bytes = None if nbytes is None else _check_budget(nbytes, "max_working_bytes")
    return previous


def _budget_words(limit: int) -> str:
    """The budget as a message names it."""
    if _max_working_bytes is None:
        return f"half of this machine's {2 * limit:,} bytes"
    return f"the working-set budget of {limit:,} bytes ({human_bytes(limit)})"


def human_bytes(nbytes: int) -> str:
    units = (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20))
    for unit, size in (*units, ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} B" if nbytes < 2**10 else f"{nbytes / 2**20:.1f} MiB"


BLOCK_BYTES = 64 * 2**20  # a matrix built in blocks of rows holds this much beyond its parts


def sparse_build_bytes(plan: MatrixSize, dtype: np.dtype) -> int:
    """Peak bytes of building a CSR matrix: its maps, the result, the padded values and columns.

    A plan built in blocks of rows holds one block's maps and padded entries
    at a time, and the blocks' matrices beside the result.
    """
    idx = np.dtype(plan.index_dtype()).itemsize
    final = plan.nnz_bound * (dtype.itemsize + idx) + (plan.shape[0] + 1) * idx
    working = plan.map_bytes + plan.nnz_bound * (dtype.itemsize + idx + 1)
    if getattr(plan, "builds_in_blocks", False) and working > BLOCK_BYTES:
        return 2 * final + BLOCK_BYTES
    return final + working


MAP_BYTES_PER_ENTRY = 64  # peak bytes per (output, tap) pair while one axis map is built


def check_axis_map_fits(length: int, taps: int) -> None:
    """Refuse the index maps of one axis that would take more than half of this machine's memory.

    Only the methods that build a matrix ('sparse', 'dense', the matrix
    functions) need them; 'shift' and 'fft' work from the shapes alone.
    """
    need = MAP_BYTES_PER_ENTRY * length * taps
    limit = machine_memory() // 2
    if need > limit:
        msg = (
            f"the index maps of one axis ({length:,} outputs by {taps:,} taps) need about "
            f"{need:,} bytes ({human_bytes(need)}) to build, more than half of this machine's "
            f"{2 * limit:,} bytes; a matrix this large cannot be built here: use a smaller "
            "input or kernel, or apply the convolution with method='shift' or 'fft', which "
            "need no matrix (convmat.ConvOperator(..., method='fft') is a LinearOperator)"
        )
        raise MatrixTooLargeError(msg)


def check_sparse_fits(plan: MatrixSize, dtype: np.dtype) -> None:
    """Refuse a sparse build that could not fit in this machine's memory, from shapes alone."""
    peak = sparse_build_bytes(plan, dtype)
    limit = machine_memory()
    if peak > limit:
        msg = (
            f"a sparse {plan.shape} matrix with up to {plan.nnz_bound:,} nonzeros needs about "
            f"{peak:,} bytes ({human_bytes(peak)}) to build, more than this machine's "
            f"{limit:,} bytes ({human_bytes(limit)}); use a smaller input or kernel, or "
            f"{NO_MATRIX_ADVICE}"
        )
        raise MatrixTooLargeError(msg)


CONV_MATRIX_ADVICE = (
    'pass format="csr" for a sparse matrix, or raise the budget with max_dense_bytes= '
    "or convmat.set_max_dense_bytes()"
)
# where no matrix can be held: the products need none
NO_MATRIX_ADVICE = (
    "apply the convolution without a matrix: convmat.ConvOperator(kernel, input_shape, "
    "mode, boundary) is a scipy LinearOperator for solvers and eigensolvers, and "
    "convmat.convolve and conv2d apply it directly"
)


def check_dense_fits(
    plan: MatrixSize,
    dtype: np.dtype,
    max_dense_bytes: int | None,
    advice: str = CONV_MATRIX_ADVICE,
) -> None:
    """Refuse a dense matrix over the budget, before anything is allocated.

    `advice` is the way out, in words the caller's function accepts.
    """
    budget = _max_dense_bytes if max_dense_bytes is None else _check_budget(max_dense_bytes)
    rows, cols = plan.shape
    need = rows * cols * dtype.itemsize
    if need > budget:
        sparse = plan.nnz_bound * (dtype.itemsize + np.dtype(plan.index_dtype()).itemsize)
        if advice == CONV_MATRIX_ADVICE and sparse_build_bytes(plan, dtype) > machine_memory():
            advice = f"the sparse one cannot be built here either: {NO_MATRIX_ADVICE}"
        msg = (
            f"a dense ({rows}, {cols}) {dtype} matrix needs {need:,} bytes ({human_bytes(need)}), "
            f"over the budget of {budget:,} bytes ({human_bytes(budget)}); the sparse matrix "
            f"has at most {plan.nnz_bound:,} nonzeros ({human_bytes(sparse)}): {advice}"
        )
        raise MatrixTooLargeError(msg)


def dense_fits(plan: MatrixSize, dtype: np.dtype) -> bool:
    """Whether a dense matrix of `plan` stays within the process budget."""
    return plan.shape[0] * plan.shape[1] * dtype.itemsize <= _max_dense_bytes


@cache
def machine_memory() -> int:
    """Total physical memory in bytes (16 GiB when the platform does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 16 * 2**30


def check_working_set(need: int, what: str, advice: str) -> None:
    """Refuse work whose arrays would exceed the working-set budget
    (:func:`get_max_working_bytes`: half of this machine's memory by default).

    `need` is computed from the shapes with Python integers before anything
    is allocated; `what` names the work, `advice` the way out.
    """
    _refuse_over_budget(need, f"{what} needs about", "of working arrays, more than", advice)


def check_result_fits(
    images: int, in_entries: int, out_entries: int, itemsize: int, what: str, advice: str
) -> None:
    """Refuse a product whose input copy and result (`images` of each, in entries of
    `itemsize` bytes) alone exceed the working-set budget, from the shapes alone, before
    the input is read: no method could then run within it."""
    need = images * (in_entries + out_entries) * itemsize
    _refuse_over_budget(
        need, f"{what} needs at least", "for its input copy and result, over", advice
    )


def _refuse_over_budget(need: int, head: str, middle: str, advice: str) -> None:
    """Raise :class:`MatrixTooLargeError` where `need` exceeds the working-set budget:
    ``{head} {need} ({human}) {middle} {the budget}: {advice}, or raise the budget ...``."""
    limit = get_max_working_bytes()
    if need > limit:
        msg = (
            f"{head} {need:,} bytes ({human_bytes(need)}) {middle} {_budget_words(limit)}: "
            f"{advice}, or raise the budget with convmat.set_max_working_bytes()"
        )
        raise MatrixTooLargeError(msg)
