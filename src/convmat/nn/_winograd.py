"""A 3x3, stride-1 conv layer by Winograd's minimal filtering F(2x2, 3x3): fewer multiplications.

Lavin and Gray ("Fast Algorithms for Convolutional Neural Networks", CVPR
2016): each 2x2 block of outputs is computed from the 4x4 tile of inputs that
covers it as ``A^T [(G g G^T) * (B^T d B)] A``, where ``g`` is a 3x3 kernel,
``*`` multiplies entrywise, and ``B^T`` and ``A^T`` hold only 0 and +-1. Summed
over the input channels, the entrywise products become 16 matrix products,
one per tile entry, of the ``(C_out / groups, C_in / groups)`` transformed
weights with the ``(C_in / groups, tiles)`` transformed inputs: 16 multiply-adds
per four outputs and channel pair, against 36 for the direct sum (2.25x
fewer). The tile transforms are linear in the tile's 16 entries, so each is one
BLAS product with a Kronecker matrix over every tile and channel at once:
``kron(B^T, B^T)`` (16 x 16) on the gathered tiles, ``kron(A^T, A^T)`` (4 x 16) on
the products. The weights are transformed in double precision and rounded
once.

Rounding: with ``B^T`` and ``A^T`` of entries 0 and +-1 and ``G`` of 0, 1/2 and
1, F(2x2, 3x3) is the Winograd variant of least error; its float32 error
against a float64 reference is measured beside torch's in
``benchmarks/layer_methods.py`` on every 3x3 layer of the speed section (the
layers guide gives the rule and the figures). Larger tiles
(F(4x4, 3x3), 4x fewer multiplications) have transforms with entries up to 8
and 1/24 and lose about an order of magnitude more: they are not offered.

Images are processed in blocks of images and tile rows whose gathered tiles
take at most ``WINOGRAD_BYTES``, so that memory stays the padded input and the
output plus one block. Integer layers never come here (the transforms are not
exact in integers), nor do inputs with NaN or inf (an inf spreads over the
tile as NaN, where a direct sum keeps it in place).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ._layer import Layer, image_blocks, write_phases

__all__: list[str] = []

WINOGRAD_BYTES = 2**20  # the gathered tiles of one block at most (measured: 1 to 16 MiB)
# in single precision, offered by the cost model only for this many input channels per group:
# against torch's float32 error (the layers guide's rule: at most 2x) it measured 0.77x at 16
# channels and 1.2x at 64, but 2.1x and 2.2x at 512 and 256 (its error grows with the sum's
# length) and 2.0x on depthwise layers (one channel: the transforms' rounding against a sum
# of nine), in benchmarks/layer_methods.py
WINOGRAD_FLOAT32_CHANNELS = range(16, 65)

_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
IN_TRANSFORM = np.kron(_BT, _BT)  # (16, 16): a tile's 16 entries to its transform
OUT_TRANSFORM = np.kron(_AT, _AT)  # (4, 16): the 16 products to the 2x2 outputs
WEIGHT_TRANSFORM = np.kron(_G, _G)  # (16, 9): a 3x3 kernel to its 4x4 transform


def winograd_serves(layer: Layer) -> bool:
    """Whether `layer` is one F(2x2, 3x3) computes: 3x3 taps, stride 1, no dilation."""
    return layer.kernel == (3, 3) and layer.stride == (1, 1) and layer.dilation == (1, 1)


class LayerWinograd:
    """``A`` of a 3x3, stride-1 layer on batches ``(N, C, H, W)`` by F(2x2, 3x3)."""

    def __init__(self, layer: Layer) -> None:
        if not winograd_serves(layer):
            msg = f"Winograd's F(2x2, 3x3) serves 3x3 layers of stride 1, got {layer.kernel}"
            raise ValueError(msg)
        self.layer = layer
        _, self.h_out, self.w_out = layer.output_shape
        self.tiles = (-(-self.h_out // 2), -(-self.w_out // 2))  # (T_h, T_w)
        self.wq = self.tiles[1] + 1  # a phase's row: the tiles' columns and one more

    @property
    def tile_count(self) -> int:
        """Tiles of one image on the wide grid: ``T_h * (T_w + 1)``."""
        return self.tiles[0] * self.wq

    def tile_bytes(self, itemsize: int) -> int:
        """Bytes of one image's gathered tiles (16 entries per tile and input channel)."""
        return 16 * self.layer.c_in * self.tile_count * itemsize

    def blocks(self, batch: int, itemsize: int) -> Iterator[tuple[int, int, int, int]]:
        """(n0, n1, i0, i1): images and tile rows whose tiles take at most ``WINOGRAD_BYTES``."""
        return image_blocks(batch, self.tiles[0], self.tile_bytes(itemsize), WINOGRAD_BYTES)

    def working_bytes(self, batch: int, itemsize: int) -> int:
        """Bytes a call allocates: the input's phases, the output, one block's four arrays.

        The phases hold the padded input once (plus a row and a column per
        phase); a block holds the gathered tiles and their transform (16
        entries per tile and input channel each), the products (16 per tile and
        output channel) and the 2x2 outputs (4 per tile and output channel).
        """
        layer = self.layer
        phases = batch * layer.c_in * 4 * (self.tiles[0] + 2) * self.wq
        padded = batch * layer.c_in * math.prod(layer.padded) if layer.pad_mode != "constant" else 0
        out = batch * layer.c_out * 4 * self.tiles[0] * self.tiles[1]
        fits = WINOGRAD_BYTES // (16 * layer.c_in * itemsize)  # tiles in one block
        block = max(self.wq, min(batch * self.tile_count, fits))
        return (phases + padded + out + block * (32 * layer.c_in + 20 * layer.c_out)) * itemsize

    def _phases(self, x: np.ndarray) -> np.ndarray:
        """``(2, 2, C, N, T_h + 2, T_w + 1)``: the padded input split by row and column parity.

        Entry ``(a, b)`` of tile ``(i, j)`` is phase ``(a % 2, b % 2)`` at
        ``(i + a // 2, j + b // 2)``: in the flattened phase, the tiles' entry
        ``(a, b)`` is one contiguous run. Zeros pad to whole tiles.
        """
        layer = self.layer
        out = np.zeros((2, 2, layer.c_in, x.shape[0], self.tiles[0] + 2, self.wq), dtype=x.dtype)
        write_phases(x, layer.pads, (2, 2), layer.pad_mode, out.swapaxes(2, 3))
        return out

    def weights(self, weight: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """``(16, groups, C_out / groups, C_in / groups)``: ``G g G^T`` per kernel, rounded once."""
        layer = self.layer
        wide = np.result_type(weight.dtype, np.float64)
        flat = weight.astype(wide, copy=False).reshape(layer.c_out * layer.c_group, 9)
        u = WEIGHT_TRANSFORM @ flat.T  # (16, C_out * C_in / groups)
        shape = (16, layer.groups, layer.c_out // layer.groups, layer.c_group)
        return np.asarray(u.reshape(shape).astype(dtype))

    def forward(self, weight: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` in the arrays' common (float) dtype."""
        layer = self.layer
        dtype = np.result_type(weight, x)
        batch, (th, tw), wq = x.shape[0], self.tiles, self.wq
        g, cg, c_out = layer.groups, layer.c_group, layer.c_out
        u = self.weights(weight, dtype)
        in_t, out_t = IN_TRANSFORM.astype(dtype), OUT_TRANSFORM.astype(dtype)
        flat = self._phases(x.astype(dtype, copy=False)).reshape(2, 2, layer.c_in, batch, -1)
        out = np.empty((batch, c_out, 2 * th, 2 * tw), dtype=dtype)
        for n0, n1, i0, i1 in self.blocks(batch, dtype.itemsize):
            nb, rows = n1 - n0, i1 - i0
            length = rows * wq
            gathered = np.empty((16, layer.c_in, nb, length), dtype=dtype)
            for a in range(4):
                for b in range(4):
                    start = (i0 + a // 2) * wq + b // 2
                    gathered[4 * a + b] = flat[a % 2, b % 2, :, n0:n1, start : start + length]
            v = (in_t @ gathered.reshape(16, -1)).reshape(16, g, cg, nb * length)
            m = np.matmul(u, v).reshape(16, -1)  # (16, C_out * tiles)
            y = (out_t @ m).reshape(2, 2, c_out, nb, rows, wq)
            block = out[n0:n1, :, 2 * i0 : 2 * i1].reshape(nb, c_out, rows, 2, tw, 2)
            for a in range(2):
                for b in range(2):
                    block[:, :, :, a, :, b] = y[a, b, :, :, :, :tw].swapaxes(0, 1)
        return out[:, :, : self.h_out, : self.w_out]
