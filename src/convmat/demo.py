"""The demo: a 2-D convolution computed as one matrix product, step by step."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.signal import convolve2d

from .toeplitz import conv_matrix, toeplitz_blocks

__all__ = ["run_demo"]


def _show(title: str, arr: np.ndarray) -> str:
    body = np.array2string(arr, max_line_width=120, threshold=10_000)
    return f"{title}\n{body}\n"


def run_demo(seed: int = 0) -> tuple[str, bool]:
    """Return the demo's text and whether every result matched scipy.

    Parameters
    ----------
    seed : int
        Seed of the random second example.

    Returns
    -------
    text : str
        What ``convmat demo`` prints.
    ok : bool
        True when both examples equal ``scipy.signal.convolve2d``.

    Examples
    --------
    >>> from convmat.demo import run_demo
    >>> text, ok = run_demo()
    >>> ok
    True
    >>> print(text.splitlines()[0])
    Convolution as ONE matrix multiplication: y = A @ x
    """
    image = np.array([[1, 2, 3], [4, 5, 6]])
    kernel = np.array([[10, 20], [30, 40]])
    out = ["Convolution as ONE matrix multiplication: y = A @ x", ""]
    out.append(_show("input I (2x3):", image))
    out.append(_show("filter F (2x2):", kernel))
    blocks, _, layout = toeplitz_blocks(kernel, image.shape)
    for row, block in enumerate(blocks):
        out.append(_show(f"Toeplitz block T{row} (from filter row {row}: {kernel[row]}):", block))
    grid = "\n".join(" ".join(f"T{j}" if j >= 0 else " 0" for j in row) for row in layout.tolist())
    out.append(f"block layout (which block sits where; 0 = zero block):\n{grid}\n")
    matrix = conv_matrix(kernel, image.shape)
    out.append(_show(f"doubly blocked Toeplitz matrix A {matrix.shape}:", matrix))
    x = image.ravel()
    out.append(_show("vectorised input x = I.ravel():", x))
    y = matrix @ x
    out.append(_show("A @ x:", y))
    result = y.reshape(image.shape[0] + 1, image.shape[1] + 1)
    out.append(_show("reshaped to the 'full' output (3x4):", result))
    reference = convolve2d(image, kernel)
    out.append(_show("scipy.signal.convolve2d(I, F):", reference))
    first = bool(np.array_equal(result, reference))
    out.append(f"equal to scipy: {first}\n")

    rng = np.random.default_rng(seed)
    big_image = rng.standard_normal((10, 13))
    big_kernel = rng.standard_normal((30, 70))
    big = conv_matrix(big_kernel, big_image.shape, format="csr")
    assert isinstance(big, sp.csr_array)
    got = (big @ big_image.ravel()).reshape(39, 82)
    ref = convolve2d(big_image, big_kernel)
    diff = float(np.abs(got - ref).max())
    scale = float(np.abs(big_image).max() * np.abs(big_kernel).sum())
    tol = 64 * np.finfo(np.float64).eps * scale
    second = bool(diff <= tol)
    out.append("second example: random 10x13 image, random 30x70 filter, 'full' mode")
    out.append(f"A: {big.shape} CSR with {big.nnz} nonzeros; output {got.shape}")
    out.append(f"max |A @ x - convolve2d| = {diff:.3e} (tolerance {tol:.1e}): {second}")
    return "\n".join(out) + "\n", first and second
