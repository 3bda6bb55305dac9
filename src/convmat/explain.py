"""Explain a 2-D convolution matrix in text: its Toeplitz blocks, their layout, its size."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.signal import convolve2d

from ._validate import Boundary, Mode
from .toeplitz import conv_matrix, toeplitz_blocks

__all__ = ["explain", "parse_matrix"]

MAX_PRINTED = 60  # rows or columns of A printed in full


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
        return np.array([[int(v) for v in row] for row in rows], dtype=np.int64)
    except ValueError:
        pass
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

    Examples
    --------
    >>> from convmat.explain import explain
    >>> text = explain([[1, 2], [3, 4]], (2, 3))
    >>> print(text.splitlines()[0])
    convolution matrix of a (2, 2) kernel over (2, 3) images, mode 'full', boundary 'fill'
    >>> print("\\n".join(line for line in text.splitlines() if line.startswith("nnz")))
    nnz: 24 of 72 entries (density 33.3%)
    """
    k = np.asarray(kernel)
    blocks, placement, _ = toeplitz_blocks(k, image_shape, mode, boundary)
    csr = conv_matrix(k, image_shape, mode, boundary, format="csr")
    assert isinstance(csr, sp.csr_array)
    n_rows, n_cols = csr.shape
    block_rows, block_cols = blocks.shape[1], blocks.shape[2]
    out_shape = (n_rows // block_rows, block_rows)
    lines = [
        (
            f"convolution matrix of a {k.shape} kernel over {tuple(image_shape)} images, "
            f"mode '{mode}', boundary '{boundary}'"
        ),
        (
            f"A: {csr.shape} = {out_shape[0]} x {n_cols // block_cols} blocks of "
            f"({block_rows}, {block_cols}); output shape {out_shape}"
        ),
        "",
        "Toeplitz blocks, one per kernel row (the 1-D convolution matrix of that row):",
    ]
    for j, block in enumerate(blocks):
        lines.append(f"T{j} (kernel row {j}: {k[j].tolist()}):")
        lines += ["  " + line for line in np.array2string(block).splitlines()]
    lines += ["", "block layout (block row o, block column p; '.' = zero block, '+' = folded sum):"]
    names = []
    for o in range(placement.shape[1]):
        names.append(
            [
                "+".join(f"T{j}" for j in np.flatnonzero(placement[:, o, p])) or "."
                for p in range(placement.shape[2])
            ]
        )
    width = max(len(n) for row in names for n in row)
    header = " " * 6 + " ".join(f"p{p}".rjust(width) for p in range(placement.shape[2]))
    lines.append(header)
    lines += [f"o{o:<4} " + " ".join(n.rjust(width) for n in row) for o, row in enumerate(names)]
    lines.append("")
    if n_rows <= MAX_PRINTED and n_cols <= MAX_PRINTED:
        lines.append("matrix A (blocks separated):")
        lines += _format_blocks(csr.toarray(), block_rows, block_cols)
    else:
        lines.append(
            f"matrix A ({n_rows} x {n_cols}) not printed: larger than {MAX_PRINTED} x "
            f"{MAX_PRINTED}; draw it with `convmat plot`"
        )
    dense_bytes = n_rows * n_cols * csr.dtype.itemsize
    csr_bytes = csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes
    lines += [
        "",
        f"nnz: {csr.nnz} of {n_rows * n_cols} entries (density {100 * csr.nnz / (n_rows * n_cols):.1f}%)",
        (
            f"bytes: dense {dense_bytes:,} ({csr.dtype}), CSR {csr_bytes:,} "
            f"(data {csr.data.nbytes:,} + indices {csr.indices.nbytes:,} + indptr {csr.indptr.nbytes:,})"
        ),
    ]
    if image is not None:
        x = np.asarray(image)
        y = (csr @ x.ravel()).reshape(out_shape)
        ref = convolve2d(x, k, mode, boundary)
        lines += ["", "image x:", np.array2string(x), "", "A @ x.ravel(), reshaped:"]
        lines += [
            np.array2string(y),
            "",
            "scipy.signal.convolve2d(x, kernel):",
            np.array2string(ref),
        ]
        tol = 64 * np.finfo(float).eps * float(np.abs(x).max() * np.abs(k).sum())
        same = (
            np.array_equal(y, ref) if y.dtype.kind in "iu" else bool(np.abs(y - ref).max() <= tol)
        )
        lines.append(f"equal: {same}")
    return "\n".join(lines) + "\n"
