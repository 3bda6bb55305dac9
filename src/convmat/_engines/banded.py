"""The doubly blocked Toeplitz matrix as dense GEMMs: banded blocks times all image rows.

A 2-D convolution matrix is block Toeplitz: block ``a`` (kernel row ``a``) is
the banded Toeplitz matrix of that row's 1-D convolution along the width.
Output row ``i`` of every image is the sum over ``a`` of block ``a`` times
window row ``i + a``. Cut along the width into tiles of ``TILE`` outputs,
each block is a dense ``(TILE + kw - 1, TILE)`` band, the same for every
tile; stacking the ``kh`` blocks gives one ``(kh * (TILE + kw - 1), TILE)``
matrix, and the window rows each tile reads, laid out as the rows of a
matrix (a strided view copied one block of images at a time), times it is
every output of the batch in one GEMM. The band's zeros are multiplied too:
``(TILE + kw - 1) / kw`` times the direct sum's multiply-adds, at BLAS speed.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__: list[str] = []

TILE = 16  # outputs per tile (measured: 8 to 32 alike, 16 the best on most shapes)
# one block of gathered rows at most (measured: 256 KiB to 1 MiB alike, 4 MiB slower)
GATHER_BYTES = 2**20


def tile_width(out_width: int) -> int:
    return min(TILE, out_width)


def band(kernel: np.ndarray, tile: int) -> np.ndarray:
    """``(kh * (tile + kw - 1), tile)``: ``band[a, j + c, j] = kernel[a, c]``, stacked over ``a``."""
    kh, kw = kernel.shape
    out = np.zeros((kh, tile + kw - 1, tile), dtype=kernel.dtype)
    cols = np.arange(tile)
    for c in range(kw):
        out[:, cols + c, cols] = kernel[:, c : c + 1]
    return out.reshape(kh * (tile + kw - 1), tile)


def gathered_entries(out_shape: tuple[int, int], kernel_shape: tuple[int, int]) -> int:
    """Entries of one image's gathered rows (the GEMM's left operand)."""
    (ho, wo), (kh, kw) = out_shape, kernel_shape
    tile = tile_width(wo)
    return ho * math.ceil(wo / tile) * kh * (tile + kw - 1)


def correlate(window: np.ndarray, kernel: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """``out[b, i, j] = sum kernel[a, c] * window[b, i + a, j + c]``, ``(B, *out_shape)``."""
    batch = window.shape[0]
    (kh, kw), (ho, wo) = kernel.shape, out_shape
    tile = tile_width(wo)
    tiles = math.ceil(wo / tile)
    width = tiles * tile + kw - 1
    dtype = np.result_type(window, kernel)
    if window.shape[2] < width or window.dtype != dtype or not window.flags.c_contiguous:
        wide = np.zeros((batch, window.shape[1], max(width, window.shape[2])), dtype=dtype)
        wide[:, :, : window.shape[2]] = window
        window = wide
    sb, sh, sw = window.strides
    depth = kh * (tile + kw - 1)
    rows = as_strided(
        window,
        (batch, ho, tiles, kh, tile + kw - 1),
        (sb, sh, tile * sw, sh, sw),
        writeable=False,
    )
    matrix = band(kernel.astype(dtype, copy=False), tile)
    out = np.empty((batch, ho, tiles * tile), dtype=dtype)
    per_image = gathered_entries(out_shape, kernel.shape) * dtype.itemsize
    step = max(1, GATHER_BYTES // max(per_image, 1))
    for n0 in range(0, batch, step):
        n1 = min(batch, n0 + step)
        gathered = rows[n0:n1].reshape((n1 - n0) * ho * tiles, depth)
        out[n0:n1] = (gathered @ matrix).reshape(n1 - n0, ho, tiles * tile)
    return out[:, :, :wo]


def transpose(y: np.ndarray, kernel: np.ndarray, window_shape: tuple[int, int]) -> np.ndarray:
    """The adjoint of :func:`correlate`: ``(B, ho, wo)`` onto the window ``(B, *window_shape)``.

    It is the full convolution of `y` with `kernel`: the correlation of `y`,
    zero-padded by the kernel's extent less one, with the kernel reversed.
    """
    kh, kw = kernel.shape
    batch, ho, wo = y.shape
    padded = np.zeros((batch, ho + 2 * (kh - 1), wo + 2 * (kw - 1)), dtype=y.dtype)
    padded[:, kh - 1 : kh - 1 + ho, kw - 1 : kw - 1 + wo] = y
    return correlate(padded, kernel[::-1, ::-1], window_shape)
