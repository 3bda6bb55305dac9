"""Build the explicit matrix of a convolution: multilevel (doubly blocked) Toeplitz.

:func:`conv_matrix` returns ``A`` with ``A @ x.ravel() == convolve(x, kernel).ravel()``
for every mode and boundary of :func:`scipy.signal.convolve2d`, in any number
of dimensions. :func:`toeplitz_blocks` shows the 2-D matrix as what it is: a
block Toeplitz matrix whose blocks are the Toeplitz matrices of the kernel rows.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ._core.budget import (
    check_dense_fits,
    check_sparse_fits,
    get_max_dense_bytes,
    human_bytes,
    set_max_dense_bytes,
)
from ._core.csr import FOLDED, folded_sums, kernel_entries
from ._core.errors import MatrixTooLargeError
from ._core.exact import fit
from ._core.plan import checked_plan, compute_dtype, matrix_dtype
from ._core.validate import (
    Boundary,
    Format,
    Mode,
    check_format,
    compact_repr,
    keyword_only_hint,
)

__all__ = [
    "BlockStructure",
    "conv_matrix",
    "get_max_dense_bytes",
    "set_max_dense_bytes",
    "toeplitz_blocks",
]


@keyword_only_hint
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
    boundary : {'fill', 'wrap', 'symm', 'nearest', 'mirror'}
        How the input is extended. Ignored in 'valid' mode.

        ==========  =================================  ===================  ======================
        boundary    the input ``a b c d`` extended     scipy.ndimage name   numpy / torch pad mode
        ==========  =================================  ===================  ======================
        'fill'      ``0 0 | a b c d | 0 0``            'constant'           constant / zeros
        'wrap'      ``c d | a b c d | a b``            'grid-wrap'          wrap / circular
        'symm'      ``b a | a b c d | d c``            'reflect'            symmetric / (none)
        'nearest'   ``a a | a b c d | d d``            'nearest'            edge / replicate
        'mirror'    ``c b | a b c d | c b``            'mirror'             reflect / reflect
        ==========  =================================  ===================  ======================

        scipy.signal's aliases 'pad', 'circular' and 'symmetric' and the
        scipy.ndimage names of the table (and 'grid-constant',
        'grid-mirror') are accepted. ndimage's own 'wrap' is not the
        periodic extension: the name 'wrap' keeps scipy.signal's meaning.
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
    k, plan = checked_plan(kernel, input_shape, mode, boundary)
    fmt = check_format(format)
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

    Examples
    --------
    >>> import numpy as np
    >>> import convmat
    >>> s = convmat.toeplitz_blocks([[1, 2], [3, 4]], (2, 2))
    >>> s.blocks.shape, s.layout.tolist()
    ((2, 3, 2), [[0, -1], [1, 0], [-1, 1]])
    >>> A = sum(np.kron(s.placement[j], s.blocks[j]) for j in range(len(s.blocks)))
    >>> np.array_equal(A, convmat.conv_matrix([[1, 2], [3, 4]], (2, 2)))
    True
    """

    blocks: np.ndarray
    placement: np.ndarray
    layout: np.ndarray

    def __repr__(self) -> str:
        """The fields by shape and dtype (small ones written out), not their entries."""
        return compact_repr(
            "BlockStructure",
            {"blocks": self.blocks, "placement": self.placement, "layout": self.layout},
        )


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
    k, plan = checked_plan(kernel, input_shape, mode, boundary, ndim=2)
    shape = plan.input_shape
    dtype = matrix_dtype(k.dtype)
    rows, cols = plan.maps
    need = k.shape[0] * (cols.length * cols.n * dtype.itemsize + rows.length * rows.n * 8)
    budget = get_max_dense_bytes()
    if need > budget:
        msg = (
            f"the blocks and placement of a {k.shape} kernel over {shape} need {need:,} "
            f"bytes ({human_bytes(need)}), over the budget of {budget:,} bytes; use a smaller "
            "example or convmat.set_max_dense_bytes()"
        )
        raise MatrixTooLargeError(msg)
    o, j = np.nonzero(cols.raw >= 0)

    def fold(kk: np.ndarray) -> np.ndarray:
        out = np.zeros((kk.shape[0], cols.length, cols.n), dtype=kk.dtype)
        np.add.at(out, (slice(None), o, cols.raw[o, j]), kk[:, j])  # type: ignore[arg-type]
        return out

    blocks = folded_sums(fold, k.astype(compute_dtype(dtype)), cols.m)
    placement = np.zeros((k.shape[0], rows.length, rows.n), dtype=np.int64)
    o, j = np.nonzero(rows.raw >= 0)
    placement[j, o, rows.raw[o, j]] = 1
    per_position = placement.sum(axis=0)
    layout = np.where(per_position == 1, placement.argmax(axis=0), -1)
    layout[per_position > 1] = -2
    return BlockStructure(fit(blocks, dtype, FOLDED), placement, layout)
