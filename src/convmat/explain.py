"""Explain a 2-D convolution matrix in text: its Toeplitz blocks, their layout, its size."""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.signal import convolve2d

from ._core.index import PAD_MODE, AxisMap
from ._core.plan import Plan, checked_plan, matrix_dtype
from ._core.validate import Boundary, Mode, check_boundary
from .toeplitz import conv_matrix, toeplitz_blocks

__all__ = ["explain", "parse_matrix"]

MAX_PRINTED = 60  # rows or columns of A (and of one block) printed in full
MAX_GRID = 24  # block rows or columns of the layout printed in full
EDGE = 4  # block rows or columns shown at each end of a larger layout
CORNER = 8  # rows and columns shown of a block too large to print


def parse_matrix(text: str, name: str = "matrix") -> np.ndarray:
    """Parse ``"1 2; 3 4"`` (rows split by ';', entries by spaces or commas).

    Integers give an int64 array; anything else that parses as a number, float64.

    Raises
    ------
    ValueError
        Empty text, ragged rows, or an entry that is not a number; the message
        names `name` and the text.

    Examples
    --------
    >>> from convmat.explain import parse_matrix
    >>> parse_matrix("1 2; 3 4")
    array([[1, 2],
           [3, 4]])
    >>> parse_matrix("0.5, -1")
    array([[ 0.5, -1. ]])
    """
    rows = [row.replace(",", " ").split() for row in text.split(";")]
    if not rows or not all(rows):
        msg = f"{name} {text!r} must be rows of numbers separated by ';', e.g. \"1 2; 3 4\""
        raise ValueError(msg)
    if len({len(row) for row in rows}) != 1:
        msg = f"{name} {text!r} has rows of different lengths {[len(r) for r in rows]}"
        raise ValueError(msg)
    try:
        ints = [[int(v) for v in row] for row in rows]
    except ValueError:
        pass
    else:
        if any(not -(2**63) <= v < 2**63 for row in ints for v in row):
            msg = (
                f"{name} {text!r} holds an integer outside the int64 range; "
                "write it as a float (e.g. 1e20) or use smaller values"
            )
            raise ValueError(msg)
        return np.array(ints, dtype=np.int64)
    try:
        values = np.array([[float(v) for v in row] for row in rows])
    except ValueError:
        msg = f"{name} {text!r} holds an entry that is not a number"
        raise ValueError(msg) from None
    if not np.isfinite(values).all():
        msg = f"{name} {text!r} must hold finite numbers"
        raise ValueError(msg)
    return values


def _format_blocks(matrix: np.ndarray, row_block: int, col_block: int) -> list[str]:
    """The matrix as text, with '|' between column blocks and a rule between row blocks."""
    cells = [[str(v) for v in row] for row in matrix.tolist()]
    width = max((len(c) for row in cells for c in row), default=1)
    lines = []
    n_col_blocks = matrix.shape[1] // col_block
    for r, row in enumerate(cells):
        if r and r % row_block == 0:
            lines.append(
                "-+-".join("-" * ((width + 1) * col_block - 1) for _ in range(n_col_blocks))
            )
        parts = [
            " ".join(c.rjust(width) for c in row[b * col_block : (b + 1) * col_block])
            for b in range(n_col_blocks)
        ]
        lines.append(" | ".join(parts))
    return lines


def _layout_names(rows: AxisMap, o_idx: list[int], p_idx: list[int]) -> list[list[str]]:
    """Names of the blocks at block rows `o_idx` and columns `p_idx` ('.' for a zero block)."""
    names = []
    for o in o_idx:
        taps = rows.raw[o]
        names.append(["+".join(f"T{j}" for j in np.flatnonzero(taps == p)) or "." for p in p_idx])
    return names


def _elided(count: int) -> list[int]:
    """Indices shown of `count`: all, or the first and last few with -1 for the gap."""
    if count <= MAX_GRID:
        return list(range(count))
    return [*range(EDGE), -1, *range(count - EDGE, count)]


def _block_corner(k_row: np.ndarray, cols: AxisMap, size: int) -> np.ndarray:
    """The top-left ``size x size`` corner of one Toeplitz block, folded taps summed."""
    rows, width = min(size, cols.length), min(size, cols.n)
    corner = np.zeros((rows, width), dtype=object)
    for o in range(rows):
        for t, p in enumerate(cols.raw[o].tolist()):
            if 0 <= p < width:
                corner[o, p] += k_row[t].item()
    return np.array(corner.tolist())  # int64 or float64 where the exact sums fit, for alignment


def _product(
    k: np.ndarray, x: np.ndarray, plan: Plan, mode: Mode, boundary: Boundary
) -> np.ndarray | None:
    """``A @ x.ravel()`` reshaped, from the CSR matrix; integers summed exactly, None when
    a sum leaves the result dtype (int64 arithmetic would wrap it)."""
    csr = cast("sp.csr_array", conv_matrix(k, plan.input_shape, mode, boundary, format="csr"))
    out_shape = plan.output_shape
    if np.result_type(x, k).kind not in "iub":
        with np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(csr @ x.ravel()).reshape(out_shape)
    flat = [int(v) for v in x.ravel().tolist()]
    sums = [
        sum(int(csr.data[i]) * flat[int(csr.indices[i])] for i in range(lo, hi))
        for lo, hi in zip(csr.indptr[:-1].tolist(), csr.indptr[1:].tolist(), strict=True)
    ]
    info = np.iinfo(np.result_type(x, k, np.int8))
    if any(not int(info.min) <= v <= int(info.max) for v in sums):
        return None
    return np.array(sums, dtype=np.result_type(x, k)).reshape(out_shape)


def _same(y: np.ndarray, ref: np.ndarray, tol: float) -> bool:
    """Equal up to `tol` where both are finite, and identical where either is not."""
    if y.dtype.kind in "iu":
        return bool(np.array_equal(y, ref))
    with np.errstate(invalid="ignore", over="ignore"):
        both_nan = np.isnan(y) & np.isnan(ref)
        identical = (y == ref) | both_nan
        finite = np.isfinite(y) & np.isfinite(ref)
        close = finite & (np.abs(y - ref) <= tol)
    return bool((identical | close).all())


def explain(
    kernel: npt.ArrayLike,
    image_shape: tuple[int, int],
    mode: Mode = "full",
    boundary: Boundary = "fill",
    *,
    image: npt.ArrayLike | None = None,
) -> str:
    """Describe the doubly blocked Toeplitz matrix of a 2-D kernel, for a learner.

    Parameters
    ----------
    kernel : array_like, 2-D
        The filter.
    image_shape : tuple of int
        ``(H, W)`` of the images.
    mode, boundary
        As in :func:`convmat.conv_matrix`.
    image : array_like, optional
        An image of `image_shape`; when given, ``A @ image.ravel()`` is shown
        next to ``scipy.signal.convolve2d``.

    Returns
    -------
    str
        The blocks (one per kernel row), their layout, the matrix with its
        blocks separated (up to 60 x 60), nnz, density and bytes dense vs CSR.
        Large cases are summarised: blocks larger than 60 x 60 show their
        top-left corner, a block grid beyond 24 x 24 its first and last rows
        and columns, and the matrix is not printed.

    Examples
    --------
    >>> from convmat.explain import explain
    >>> text = explain([[1, 2], [3, 4]], (2, 3))
    >>> print(text.splitlines()[0])
    convolution matrix of a (2, 2) kernel over (2, 3) images, mode 'full', boundary 'fill'
    >>> print("\\n".join(line for line in text.splitlines() if line.startswith("nnz")))
    nnz: 24 of 72 entries (density 33.3%)
    """
    k, plan = checked_plan(kernel, image_shape, mode, boundary, ndim=2, shape_name="image_shape")
    rows, cols = plan.maps
    lines = [
        (
            f"convolution matrix of a {k.shape} kernel over {plan.input_shape} images, "
            f"mode '{mode}', boundary '{boundary}'"
        ),
        (
            f"A: {plan.shape} = {rows.length} x {rows.n} blocks of "
            f"({cols.length}, {cols.n}); output shape {plan.output_shape}"
        ),
        "",
    ]
    lines += _toeplitz_lines(k, plan, mode, boundary)
    lines += _layout_lines(plan)
    lines += _matrix_lines(k, plan, mode, boundary)
    if image is not None:
        lines += _image_lines(np.asarray(image), k, plan, mode, boundary)
    return "\n".join(lines) + "\n"


def _toeplitz_lines(k: np.ndarray, plan: Plan, mode: Mode, boundary: Boundary) -> list[str]:
    """Each kernel row's Toeplitz block, whole or its top-left corner."""
    cols = plan.maps[1]
    small = max(cols.length, cols.n) <= MAX_PRINTED
    lines = ["Toeplitz blocks, one per kernel row (the 1-D convolution matrix of that row):"]
    shape = (plan.input_shape[0], plan.input_shape[1])
    blocks = toeplitz_blocks(k, shape, mode, boundary).blocks if small else None
    for j in range(k.shape[0]):
        lines.append(f"T{j} (kernel row {j}: {k[j].tolist()}):")
        if blocks is not None:
            block = np.array2string(blocks[j])
        else:
            lines.append(f"  ({cols.length} x {cols.n}); its top-left {CORNER} x {CORNER} corner:")
            block = np.array2string(_block_corner(k[j], cols, CORNER))
        lines += ["  " + line for line in block.splitlines()]
    return lines


def _layout_lines(plan: Plan) -> list[str]:
    """Which block sits where: block rows and columns, elided in the middle when many."""
    rows = plan.maps[0]
    lines = ["", "block layout (block row o, block column p; '.' = zero block, '+' = folded sum):"]
    o_idx, p_idx = _elided(rows.length), _elided(rows.n)
    names = _layout_names(rows, [o for o in o_idx if o >= 0], [p for p in p_idx if p >= 0])
    elided = 3 if -1 in p_idx else 0  # room for "..."
    width = max(*(len(n) for row in names for n in row), len(f"p{rows.n - 1}"), elided)
    label = max(len(f"o{rows.length - 1}"), 5)
    header = [f"p{p}" if p >= 0 else "..." for p in p_idx]
    lines.append(" " * (label + 1) + " ".join(h.rjust(width) for h in header))
    it = iter(names)
    for o in o_idx:
        if o < 0:
            lines.append("...")
            continue
        row = next(it)
        cells = iter(row)
        shown = [next(cells) if p >= 0 else "..." for p in p_idx]
        lines.append(f"o{o}".ljust(label) + " " + " ".join(n.rjust(width) for n in shown))
    return lines


def _matrix_lines(k: np.ndarray, plan: Plan, mode: Mode, boundary: Boundary) -> list[str]:
    """The matrix itself when small, then its nonzeros and storage."""
    cols = plan.maps[1]
    n_rows, n_cols = plan.shape
    dtype = matrix_dtype(k.dtype)
    lines = [""]
    if n_rows <= MAX_PRINTED and n_cols <= MAX_PRINTED:
        lines.append("matrix A (blocks separated):")
        dense = conv_matrix(k, plan.input_shape, mode, boundary)
        assert isinstance(dense, np.ndarray)
        lines += _format_blocks(dense, cols.length, cols.n)
    else:
        lines.append(
            f"matrix A ({n_rows} x {n_cols}) not printed: larger than {MAX_PRINTED} x "
            f"{MAX_PRINTED}; draw it with `convmat plot`"
        )
    idx = np.dtype(plan.index_dtype()).itemsize
    nnz = plan.nnz
    data, indices, indptr = nnz * dtype.itemsize, nnz * idx, (n_rows + 1) * idx
    return [
        *lines,
        "",
        f"nnz: {nnz} of {n_rows * n_cols} entries (density {100 * nnz / (n_rows * n_cols):.1f}%)",
        (
            f"bytes: dense {n_rows * n_cols * dtype.itemsize:,} ({dtype}), CSR "
            f"{data + indices + indptr:,} (data {data:,} + indices {indices:,} + indptr {indptr:,})"
        ),
    ]


def _scipy_reference(
    x: np.ndarray, k: np.ndarray, mode: Mode, boundary: Boundary
) -> tuple[np.ndarray, str]:
    """scipy's convolve2d of `x` (of `x` padded by numpy, for the boundaries scipy.signal
    does not have), and how it was called."""
    canon = check_boundary(boundary)
    if mode == "valid" or canon in ("fill", "wrap", "symm"):  # scipy.signal's own
        return convolve2d(x, k, mode, canon), "scipy.signal.convolve2d(x, kernel)"
    pad = PAD_MODE[canon]
    full = convolve2d(np.pad(x, [(m - 1, m - 1) for m in k.shape], mode=pad), k, "valid")
    if mode == "same":
        top, left = (k.shape[0] - 1) // 2, (k.shape[1] - 1) // 2
        full = full[top : top + x.shape[0], left : left + x.shape[1]]
    return full, f"scipy.signal.convolve2d of x padded by numpy's {pad!r} ('valid', cropped)"


def _image_lines(
    x: np.ndarray, k: np.ndarray, plan: Plan, mode: Mode, boundary: Boundary
) -> list[str]:
    """The product with an image, beside scipy's convolve2d, and whether they agree."""
    with np.errstate(over="ignore", invalid="ignore"):
        ref, name = _scipy_reference(x, k, mode, boundary)
        tol = 64 * np.finfo(float).eps * float(np.abs(x).max() * np.abs(k).sum())
    lines = ["", "image x:", np.array2string(x), "", "A @ x.ravel(), reshaped:"]
    y = _product(k, x, plan, mode, boundary)
    if y is None:  # integer sums beyond int64: never printed wrapped
        return [
            *lines,
            (
                f"  outside the {np.result_type(x, k)} range (convmat.conv2d raises "
                "ResultOverflowError); give float values (e.g. 1.0) for an approximate "
                "product"
            ),
            "",
            f"{name} (its integer sums wrap around):",
            np.array2string(ref),
            "equal: False",
        ]
    return [
        *lines,
        np.array2string(y),
        "",
        f"{name}:",
        np.array2string(ref),
        f"equal: {_same(y, ref, tol)}",
    ]
