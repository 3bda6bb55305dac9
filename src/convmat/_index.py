"""Index maps of one axis of a convolution, the building block of every matrix.

Along one axis of length ``n`` convolved with a kernel of length ``m``, output
position ``o`` reads input position ``raw[o, j]`` through kernel tap ``j``
(``-1`` when that position lies in the zero/fill padding). An N-D convolution
matrix is the tensor product of these per-axis maps, so everything else in the
package is built from this module's :func:`axis_map`, cached by shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

import numpy as np
import scipy.sparse as sp

__all__: list[str] = []

_PAD_MODE: dict[str, Literal["wrap", "symmetric"]] = {"wrap": "wrap", "symm": "symmetric"}


@dataclass(frozen=True)
class AxisMap:
    """The structure of a 1-D convolution matrix of shape ``(length, n)``.

    Attributes
    ----------
    n, m, length, start
        Input length, kernel length, output length and the offset of output
        position 0 inside the 'full' output.
    raw
        ``(length, m)`` input index read by each tap, ``-1`` outside.
    cols
        ``(length, width)`` sorted distinct input indices of each row
        (the columns of the row's nonzeros), padded with 0.
    counts
        ``(length,)`` number of distinct columns of each row.
    slot
        ``(length, m)`` position in ``cols[o]`` that tap ``j`` adds to,
        ``-1`` outside.
    taps
        ``(length, width)`` the tap that fills each slot (meaningful only
        when not `folded`; padding slots hold 0).
    window
        ``(length + m - 1,)`` input index of each position of the extended
        input that the outputs read (``-1`` in the fill padding): output ``o``
        is ``sum_j k[j] * x_ext[window[o + m - 1 - j]]``.
    folded
        True when two taps of one row land on the same column (the symmetric
        boundary, or wrap with a kernel longer than the input), so that
        matrix entries are sums of kernel values.
    """

    n: int
    m: int
    length: int
    start: int
    raw: np.ndarray
    cols: np.ndarray
    counts: np.ndarray
    slot: np.ndarray
    taps: np.ndarray
    window: np.ndarray
    folded: bool

    @property
    def width(self) -> int:
        """Largest number of nonzeros in one row."""
        return int(self.cols.shape[1])

    @property
    def nnz(self) -> int:
        """Number of nonzeros of the 1-D matrix."""
        return int(self.counts.sum())

    @cached_property
    def reads(self) -> int:
        """Most outputs that read one input through one tap.

        1 for a plain convolution; more where a boundary ('wrap', 'symm', a
        padding mode) or a stride below the kernel brings an input back under
        the same tap. A transposed product sums at most ``reads`` terms per tap.
        """
        inside = self.raw >= 0
        if not inside.any():
            return 1
        pairs = (np.arange(self.m)[None, :] * self.n + self.raw)[inside]
        return int(np.bincount(pairs).max())

    def gather(self, dtype: np.dtype) -> sp.csr_array:
        """Return the ``(length * width, m)`` 0/1 matrix mapping taps to slots."""
        inside = self.slot >= 0
        rows = (np.arange(self.length)[:, None] * self.width + self.slot)[inside]
        taps = np.broadcast_to(np.arange(self.m), self.slot.shape)[inside]
        ones = np.ones(rows.size, dtype=dtype)
        return sp.csr_array(
            (ones, (rows, taps)), shape=(self.length * self.width, self.m), dtype=dtype
        )


def output_length(n: int, m: int, mode: str) -> int:
    """Length of the output along one axis (scipy.signal's rules)."""
    if mode == "full":
        return n + m - 1
    if mode == "same":
        return n
    return abs(n - m) + 1


def _start(n: int, m: int, mode: str, corr: bool) -> int:
    if mode == "full":
        return 0
    if mode == "same":
        # scipy centres convolution at (m - 1) // 2 and correlation at m // 2
        return m // 2 if corr else (m - 1) // 2
    return min(n, m) - 1


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


@lru_cache(maxsize=512)
def axis_map(
    n: int, m: int, mode: str, boundary: Literal["fill", "wrap", "symm"], corr: bool = False
) -> AxisMap:
    """Return the (cached, read-only) structure of one axis.

    `corr` selects correlation's 'same' centring (with the kernel already flipped).
    """
    length = output_length(n, m, mode)
    start = _start(n, m, mode, corr)
    if boundary == "fill" or mode == "valid":
        padded = np.pad(np.arange(n), m - 1, mode="constant", constant_values=-1)
    else:
        padded = np.pad(np.arange(n), m - 1, mode=_PAD_MODE[boundary])
    # full-output position i = o + start reads extended input i - j,
    # which sits at i - j + (m - 1) in the padded index array.
    pos = np.arange(length)[:, None] + (start + m - 1) - np.arange(m)[None, :]
    window = padded[start : start + length + m - 1].copy()
    return axis_from_raw(padded[pos], n, start=start, window=window)


def axis_from_raw(
    raw: np.ndarray, n: int, *, start: int = 0, window: np.ndarray | None = None
) -> AxisMap:
    """The structure of the 1-D matrix whose row ``o`` reads input ``raw[o, j]`` through tap ``j``.

    Any 1-D linear filter with one tap per (output, kernel index) fits: the
    convolutions of scipy.signal, and the strided, dilated, padded correlations
    of a CNN layer. ``-1`` in `raw` marks a tap that reads zero padding.
    """
    length, m = raw.shape
    order = np.argsort(raw, axis=1, kind="stable")
    sorted_raw = np.take_along_axis(raw, order, axis=1)
    inside = sorted_raw >= 0
    new = inside.copy()
    new[:, 1:] &= sorted_raw[:, 1:] != sorted_raw[:, :-1]
    slot_sorted = np.cumsum(new, axis=1) - 1
    slot_sorted[~inside] = -1
    counts = new.sum(axis=1)
    width = max(int(counts.max(initial=0)), 1)
    cols = np.zeros((length, width), dtype=np.int64)
    r, c = np.nonzero(new)
    cols[r, slot_sorted[r, c]] = sorted_raw[r, c]
    slot = np.empty_like(slot_sorted)
    np.put_along_axis(slot, order, slot_sorted, axis=1)
    taps = np.zeros((length, width), dtype=np.int64)
    r, c = np.nonzero(slot >= 0)
    taps[r, slot[r, c]] = c
    folded = bool((inside.sum(axis=1) != counts).any())
    return AxisMap(
        n=n,
        m=m,
        length=length,
        start=start,
        raw=_readonly(np.ascontiguousarray(raw)),
        cols=_readonly(cols),
        counts=_readonly(counts),
        slot=_readonly(slot),
        taps=_readonly(taps),
        window=_readonly(np.empty(0, dtype=np.int64) if window is None else window),
        folded=folded,
    )
