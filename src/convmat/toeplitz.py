"""Build the explicit matrix of a convolution: multilevel (doubly blocked) Toeplitz.

:func:`conv_matrix` returns ``A`` with ``A @ x.ravel() == convolve(x, kernel).ravel()``
for every mode and boundary of :func:`scipy.signal.convolve2d`, in any number
of dimensions. :func:`toeplitz_blocks` shows the 2-D matrix as what it is: a
block Toeplitz matrix whose blocks are the Toeplitz matrices of the kernel rows.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ._build import Plan, build_csr, compute_dtype, machine_memory, make_plan
from ._errors import MatrixTooLargeError, ResultOverflowError
from ._validate import (
    Boundary,
    Format,
    Mode,
    check_array,
    check_format,
    check_mode,
    check_nonempty,
    check_shape,
    check_valid_shapes,
)

__all__ = [
    "BlockStructure",
    "conv_matrix",
    "get_max_dense_bytes",
    "set_max_dense_bytes",
    "toeplitz_blocks",
]

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
    convmat._errors.MatrixTooLargeError: a dense (961, 900) int64 matrix needs 6,919,200 bytes (6.6 MiB), over the budget of 1,000 bytes (1000 B); pass format="csr" for a sparse matrix with 3,600 nonzeros (about 0.0 MiB), or raise the budget with max_dense_bytes= or convmat.set_max_dense_bytes()
    >>> convmat.set_max_dense_bytes(previous)
    1000
    """
    global _max_dense_bytes  # noqa: PLW0603
    previous = _max_dense_bytes
    _max_dense_bytes = _DEFAULT_MAX_DENSE_BYTES if nbytes is None else _check_budget(nbytes)
    return previous


def _check_budget(nbytes: object) -> int:
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)):
        msg = f"`max_dense_bytes` must be a non-negative integer or None, got {nbytes!r}"
        raise TypeError(msg)
    value = operator.index(nbytes)
    if value < 0:
        msg = f"`max_dense_bytes` must be a non-negative integer or None, got {value}"
        raise ValueError(msg)
    return value


def _human(nbytes: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} B" if nbytes < 2**10 else f"{nbytes / 2**20:.1f} MiB"


def matrix_dtype(kernel_dtype: np.dtype) -> np.dtype:
    """The dtype of a matrix built from a kernel: the kernel's, bool as uint8."""
    return np.dtype(np.uint8) if kernel_dtype == np.bool_ else kernel_dtype


def check_sparse_fits(plan: Plan, dtype: np.dtype) -> None:
    """Refuse a sparse build that could not fit in this machine's memory."""
    idx = np.dtype(plan.index_dtype()).itemsize
    final = plan.nnz * (dtype.itemsize + idx) + (plan.shape[0] + 1) * idx
    # the build holds the padded values and columns next to the result
    peak = final + plan.padded_size * (dtype.itemsize + idx + 1)
    limit = machine_memory()
    if peak > limit:
        msg = (
            f"a sparse {plan.shape} matrix with {plan.nnz:,} nonzeros needs about "
            f"{peak:,} bytes ({_human(peak)}) to build, more than this machine's "
            f"{limit:,} bytes ({_human(limit)}); use a smaller input or kernel"
        )
        raise MatrixTooLargeError(msg)


def check_dense_fits(plan: Plan, dtype: np.dtype, max_dense_bytes: int | None) -> None:
    """Refuse a dense matrix over the budget, before anything is allocated."""
    budget = _max_dense_bytes if max_dense_bytes is None else _check_budget(max_dense_bytes)
    rows, cols = plan.shape
    need = rows * cols * dtype.itemsize
    if need > budget:
        sparse = plan.nnz * (dtype.itemsize + np.dtype(plan.index_dtype()).itemsize)
        msg = (
            f"a dense ({rows}, {cols}) {dtype} matrix needs {need:,} bytes ({_human(need)}), "
            f"over the budget of {budget:,} bytes ({_human(budget)}); pass format=\"csr\" "
            f"for a sparse matrix with {plan.nnz:,} nonzeros (about {sparse / 2**20:.1f} MiB), "
            "or raise the budget with max_dense_bytes= or convmat.set_max_dense_bytes()"
        )
        raise MatrixTooLargeError(msg)


def kernel_entries(kernel: np.ndarray, plan: Plan, dtype: np.dtype) -> sp.csr_array:
    """The CSR matrix, entries computed exactly and checked to fit `dtype`.

    The entries are of `dtype`, except float16, which scipy.sparse cannot
    store: those stay float32 (already rounded to float16 values).
    """
    work = compute_dtype(dtype)
    csr = build_csr(kernel.astype(work, copy=False), plan)
    if work != dtype:
        if dtype.kind in "iu" and csr.data.size:
            info = np.iinfo(dtype)
            low, high = csr.data.min(), csr.data.max()
            if low < info.min or high > info.max:
                msg = (
                    f"matrix entries (sums of kernel taps folded by the boundary) reach "
                    f"{high if high > info.max else low}, outside the range of the "
                    f"matrix dtype {dtype}; pass a kernel of a wider dtype"
                )
                raise ResultOverflowError(msg)
        csr.data = csr.data.astype(dtype).astype(
            np.float32 if dtype == np.float16 else dtype, copy=False
        )
    return csr


def conv_matrix(
    kernel: npt.ArrayLike,
    input_shape: tuple[int, ...] | list[int],
    mode: Mode = "full",
    boundary: Boundary = "fill",
    *,
    format: Format = "dense",  # noqa: A002
    max_dense_bytes: int | None = None,
) -> np.ndarray | sp.csr_array | sp.csc_array | sp.coo_array:
    """Return the matrix ``A`` of the convolution with `kernel` over inputs of `input_shape`.

    For every array ``x`` of shape `input_shape`, ``A @ x.ravel()`` (C order)
    equals ``scipy.signal.convolve2d(x, kernel, mode, boundary).ravel()`` in
    2-D, and ``scipy.signal.convolve(x, kernel, mode, method="direct").ravel()``
    in N-D, with the boundaries extended to N-D the natural way.

    Parameters
    ----------
    kernel : array_like
        The filter, of any number of dimensions (numeric dtype, non-empty).
    input_shape : tuple of int
        Shape of the inputs ``x``; one positive entry per kernel axis.
    mode : {'full', 'same', 'valid'}
        As in :func:`scipy.signal.convolve2d`: 'full' gives shape ``n + m - 1``
        per axis; 'same' the input's shape, centred as in scipy (offset
        ``(m - 1) // 2`` inside 'full'); 'valid' shape ``n - m + 1``, or
        ``m - n + 1`` when the kernel is at least as large as the input in
        every axis (the roles swap, as in scipy).
    boundary : {'fill', 'wrap', 'symm'}
        How the input is extended: zeros, periodically, or mirrored with the
        edge repeated (numpy's ``'symmetric'``). scipy's aliases 'pad',
        'circular' and 'symmetric' are accepted. Ignored in 'valid' mode.
    format : {'dense', 'csr', 'csc', 'coo'}
        A numpy array, or a ``scipy.sparse`` array in that format.
    max_dense_bytes : int, optional
        Budget for a dense matrix; defaults to :func:`get_max_dense_bytes`.

    Returns
    -------
    ndarray or sparse array
        Shape ``(prod(output_shape), prod(input_shape))``. The dtype is the
        kernel's (a bool kernel gives uint8). In sparse formats, the stored
        pattern is the kernel's footprint: zero taps are stored explicitly,
        so the pattern depends on the shapes only.

    Raises
    ------
    ValueError
        Unknown `mode`, `boundary` or `format`; a bad `input_shape`; an empty
        kernel; 'valid' with neither shape containing the other.
    TypeError
        A non-numeric or masked kernel; a float16 kernel in a sparse format
        (scipy.sparse does not store float16).
    MatrixTooLargeError
        A dense matrix over the budget, or a sparse one over the machine's
        memory; raised before any large allocation.
    ResultOverflowError
        Folded entries (sums of taps at a symmetric or wrapped boundary) that
        do not fit an integer kernel dtype.

    See Also
    --------
    toeplitz_blocks : the 2-D matrix as blocks of 1-D Toeplitz matrices.
    scipy.linalg.convolution_matrix : the 1-D, fill-only counterpart.

    Notes
    -----
    In 2-D, ``A`` is block Toeplitz with Toeplitz blocks ("doubly blocked
    Toeplitz"): with boundary 'fill', block ``(o, p)`` is the Toeplitz matrix of
    kernel row ``o - p``. Wrap makes both levels circulant; symm folds taps
    onto mirrored columns. The construction is vectorised and builds CSR
    directly; sizes are checked with Python integers before anything is
    allocated. In 1-D, 'same' with a kernel longer than the input keeps the
    input's length, as ``scipy.signal`` does (``scipy.linalg.convolution_matrix``
    keeps ``max(m, n)`` rows instead).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import convolve2d
    >>> import convmat
    >>> x = np.array([[1, 2, 3], [4, 5, 6]])
    >>> k = np.array([[10, 20], [30, 40]])
    >>> A = convmat.conv_matrix(k, x.shape)
    >>> A.shape
    (12, 6)
    >>> A[:4]
    array([[10,  0,  0,  0,  0,  0],
           [20, 10,  0,  0,  0,  0],
           [ 0, 20, 10,  0,  0,  0],
           [ 0,  0, 20,  0,  0,  0]])
    >>> (A @ x.ravel()).reshape(3, 4)
    array([[ 10,  40,  70,  60],
           [ 70, 230, 330, 240],
           [120, 310, 380, 240]])
    >>> np.array_equal(A @ x.ravel(), convolve2d(x, k).ravel())
    True
    >>> S = convmat.conv_matrix(k, (100, 100), "same", "symm", format="csr")
    >>> S.shape, S.nnz
    ((10000, 10000), 39601)
    """
    k = check_array(kernel, "kernel")
    check_nonempty(k.shape, "kernel")
    shape = check_shape(input_shape, "input_shape", k.ndim)
    mode = check_mode(mode)
    fmt = check_format(format)
    plan = make_plan(shape, k.shape, mode, boundary)
    check_valid_shapes(mode, shape, k.shape)
    dtype = matrix_dtype(k.dtype)
    if fmt == "dense":
        check_dense_fits(plan, dtype, max_dense_bytes)
    elif dtype == np.float16:
        msg = (
            f'`format` "{fmt}" cannot hold a float16 kernel (scipy.sparse has no float16); '
            'convert the kernel to float32 or pass format="dense"'
        )
        raise TypeError(msg)
    check_sparse_fits(plan, dtype)
    csr = kernel_entries(k, plan, dtype)
    if fmt == "dense":
        return csr.toarray().astype(dtype, copy=False)
    if fmt == "csr":
        return csr
    return csr.asformat(fmt)


class BlockStructure(NamedTuple):
    """The 2-D convolution matrix as a block matrix of Toeplitz blocks.

    ``A == sum(np.kron(placement[j], blocks[j]) for j in range(len(blocks)))``.

    Attributes
    ----------
    blocks : ndarray, shape (m0, L1, n1)
        ``blocks[j]`` is the 1-D convolution matrix of kernel row ``j`` along
        the second axis (a Toeplitz matrix; circulant-like with wrap).
    placement : ndarray of int, shape (m0, L0, n0)
        ``placement[j, o, p] == 1`` where block ``j`` sits at block position
        ``(o, p)``.
    layout : ndarray of int, shape (L0, n0)
        The kernel row whose block sits at each block position, ``-1`` for a
        zero block, ``-2`` where several rows fold onto one position (the sum
        of their blocks; only with boundary 'symm', or 'wrap' with a kernel
        taller than the input). With 'fill' this is the classic
        "doubly indices" table, 0-based, in C order.
    """

    blocks: np.ndarray
    placement: np.ndarray
    layout: np.ndarray


def toeplitz_blocks(
    kernel: npt.ArrayLike,
    input_shape: tuple[int, int] | list[int],
    mode: Mode = "full",
    boundary: Boundary = "fill",
) -> BlockStructure:
    """Return the Toeplitz blocks of a 2-D kernel and where they sit in the matrix.

    Parameters
    ----------
    kernel : array_like, 2-D
        The filter.
    input_shape : tuple of int
        ``(n0, n1)``, the shape of the images.
    mode, boundary
        As in :func:`conv_matrix`.

    Returns
    -------
    BlockStructure
        ``(blocks, placement, layout)``; see :class:`BlockStructure`.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat
    >>> k = np.array([[10, 20], [30, 40]])
    >>> blocks, placement, layout = convmat.toeplitz_blocks(k, (2, 3))
    >>> blocks[0]
    array([[10,  0,  0],
           [20, 10,  0],
           [ 0, 20, 10],
           [ 0,  0, 20]])
    >>> layout
    array([[ 0, -1],
           [ 1,  0],
           [-1,  1]])
    >>> A = sum(np.kron(placement[j], blocks[j]) for j in range(2))
    >>> np.array_equal(A, convmat.conv_matrix(k, (2, 3)))
    True
    """
    k = check_array(kernel, "kernel", ndim=2)
    check_nonempty(k.shape, "kernel")
    shape = check_shape(input_shape, "input_shape", 2)
    mode = check_mode(mode)
    plan = make_plan(shape, k.shape, mode, boundary)
    check_valid_shapes(mode, shape, k.shape)
    dtype = matrix_dtype(k.dtype)
    rows, cols = plan.maps
    need = k.shape[0] * (cols.length * cols.n * dtype.itemsize + rows.length * rows.n * 8)
    budget = _max_dense_bytes
    if need > budget:
        msg = (
            f"the blocks and placement of a {k.shape} kernel over {shape} need {need:,} "
            f"bytes ({_human(need)}), over the budget of {budget:,} bytes; use a smaller "
            "example or convmat.set_max_dense_bytes()"
        )
        raise MatrixTooLargeError(msg)
    work = compute_dtype(dtype)
    blocks = np.zeros((k.shape[0], cols.length, cols.n), dtype=work)
    o, j = np.nonzero(cols.raw >= 0)
    np.add.at(blocks, (slice(None), o, cols.raw[o, j]), k[:, j].astype(work))
    placement = np.zeros((k.shape[0], rows.length, rows.n), dtype=np.int64)
    o, j = np.nonzero(rows.raw >= 0)
    placement[j, o, rows.raw[o, j]] = 1
    per_position = placement.sum(axis=0)
    layout = np.where(per_position == 1, placement.argmax(axis=0), -1)
    layout[per_position > 1] = -2
    return BlockStructure(blocks.astype(dtype), placement, layout)
