"""The geometry of one axis of a convolution, and its index maps, built only when needed.

Along one axis of length ``n`` convolved with a kernel of length ``m``, the
outputs read an extended input, the *window*: the input with its boundary
(zero padding, wrap-around or reflection) around it. Output ``o`` reads window
position ``out_step * o + tap_step * j + offset`` through kernel tap ``j``
(``o + m - 1 - j`` for a convolution; ``o * stride + j * dilation`` for a CNN
layer). An N-D convolution matrix is the tensor product of its axes.

What every method needs (lengths, where the input sits in the window, how
often one input is read through one tap) comes from the shapes in O(n + m).
The per-tap maps (``(length, m)`` index arrays) exist only for the methods
that build a matrix, and are refused first when they would not fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

import numpy as np
import scipy.sparse as sp

from .budget import check_axis_map_fits
from .validate import Extension

__all__: list[str] = []

PadMode = Literal["constant", "wrap", "symmetric", "reflect", "edge"]
PAD_MODE: dict[str, PadMode] = {
    "fill": "constant",
    "wrap": "wrap",
    "symm": "symmetric",
    "nearest": "edge",
    "mirror": "reflect",
}


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class _Structure:
    cols: np.ndarray
    counts: np.ndarray
    slot: np.ndarray
    taps: np.ndarray
    folded: bool


@dataclass(frozen=True, eq=False)
class AxisMap:
    """One axis of a convolution matrix of shape ``(length, n)``.

    Attributes
    ----------
    n, m, length, start
        Input length, kernel length, output length and the offset of output
        position 0 inside the 'full' output (0 for a layer).
    pad_mode, pad_before, span
        The window: the input extended by numpy's `pad_mode` (``'constant'``
        marks padding by ``-1``), starting `pad_before` positions before the
        input, `span` positions long.
    out_step, tap_step, offset
        Output ``o`` reads window position ``out_step * o + tap_step * j + offset``
        through tap ``j``.

    The per-tap maps, built on first use (see :attr:`raw`):

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
    """

    n: int
    m: int
    length: int
    start: int
    pad_mode: PadMode
    pad_before: int
    span: int
    out_step: int = 1
    tap_step: int = -1
    offset: int = 0

    @property
    def convolution(self) -> bool:
        """Whether output ``o`` reads window positions ``o .. o + m - 1`` (unit steps)."""
        return self.out_step == 1 and self.tap_step == -1

    # -- from the shapes alone ------------------------------------------------------
    @cached_property
    def input_run(self) -> slice | None:
        """Where the window holds the input, in order and once, if nothing but zero
        padding surrounds it (boundary 'fill', mode 'valid', or no padding at all)."""
        lo, hi = self.pad_before, self.pad_before + self.n
        if lo < 0 or hi > self.span:
            return None
        if self.pad_mode == "constant" or self.span == self.n:
            return slice(lo, hi)
        return None

    def extend(self, arr: np.ndarray, axis: int, fill: int = 0) -> np.ndarray:
        """`arr` (this axis's input along `axis`) extended to the window: padded by
        :attr:`pad_mode` (``fill`` in constant padding) and cut to :attr:`span`."""
        before, after = self.pad_before, self.span - self.pad_before - self.n
        widths = [(0, 0)] * arr.ndim
        widths[axis] = (max(before, 0), max(after, 0))
        if self.pad_mode == "constant":
            padded = np.pad(arr, widths, mode="constant", constant_values=fill)
        else:
            padded = np.pad(arr, widths, mode=self.pad_mode)
        first = widths[axis][0] - before
        index: list[slice] = [slice(None)] * arr.ndim
        index[axis] = slice(first, first + self.span)
        return np.asarray(padded[tuple(index)])

    @cached_property
    def window(self) -> np.ndarray:
        """``(span,)`` input index at each window position, ``-1`` in zero padding."""
        index = np.arange(self.n, dtype=np.int64)
        return _readonly(np.ascontiguousarray(self.extend(index, 0, fill=-1)))

    def tap_runs(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For a convolution with zero padding: the taps ``lo <= j < hi`` through which
        each output reads the input (the others read the padding)."""
        first = min(max(self.pad_before, 0), self.span)
        stop = min(max(self.pad_before + self.n, 0), self.span)
        # tap j reads window position o + m - 1 - j, inside for first <= it < stop
        # np.minimum/np.maximum: np.clip costs several times more on the few outputs of a
        # fix-up
        lo = np.minimum(np.maximum(outputs + (self.m - stop), 0), self.m)
        hi = np.maximum(np.minimum(np.maximum(outputs + (self.m - first), 0), self.m), lo)
        return lo, hi

    @cached_property
    def nnz_estimate(self) -> int:
        """The nonzeros of the 1-D matrix: exact with zero padding, an upper bound otherwise."""
        if self.convolution and self.input_run is not None:
            # pairs (o, p) of an output and an input position it reads, p - o = d in [0, m):
            # counted per d, in O(m), since the kernel is the short side of a long axis
            run = self.input_run
            d = np.arange(self.m, dtype=np.int64)
            inside = np.minimum(self.length, run.stop - d) - np.maximum(0, run.start - d)
            return int(np.maximum(inside, 0).sum())
        return self.length * min(self.m, self.n)

    @cached_property
    def _repeats(self) -> tuple[np.ndarray, np.ndarray]:
        """Window positions of the inputs that occur more than once, sorted by
        (input, position): the keys ``input * span + position``, and each one's input."""
        if self.input_run is not None:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        w = self.window
        inside = np.flatnonzero(w >= 0)
        occurs = np.bincount(w[inside], minlength=self.n)
        pos = inside[occurs[w[inside]] > 1]
        keys = np.sort(w[pos] * self.span + pos)
        return keys, keys // self.span

    @cached_property
    def folded(self) -> bool:
        """True when two taps of one row read the same input (the symmetric boundary,
        or wrap with a kernel longer than the input), so that matrix entries are sums
        of kernel values."""
        if not self.convolution:
            return self._structure.folded
        keys, values = self._repeats
        # two window positions of one input less than m apart share a row
        close = (np.diff(keys) < self.m) & (values[1:] == values[:-1])
        return bool(close.any())

    @cached_property
    def reads(self) -> int:
        """Most outputs that read one input through one tap.

        1 for a plain convolution; more where a boundary ('wrap', 'symm', a
        padding mode) or a stride below the kernel brings an input back under
        the same tap. A transposed product sums at most ``reads`` terms per tap.
        """
        if not self.convolution:
            inside = self.raw >= 0
            if not inside.any():
                return 1
            pairs = (np.arange(self.m)[None, :] * self.n + self.raw)[inside]
            return int(np.bincount(pairs).max())
        keys, values = self._repeats
        if keys.size == 0:
            return 1
        # tap j reads window positions [m - 1 - j, m - 1 - j + length): every run of
        # `length` positions; count the occurrences of one input in each such run,
        # taking runs that start at an occurrence or end at the window's end
        length, last = self.length, self.span - self.length
        pos = keys - values * self.span
        ends = np.searchsorted(keys, keys + length - 1, side="right")
        starting = np.where(pos <= last, ends - np.arange(keys.size), 0)
        tail = np.searchsorted(keys, values * self.span + self.span, side="left") - np.searchsorted(
            keys, values * self.span + last, side="left"
        )
        return max(1, int(starting.max()), int(tail.max()))

    # -- the per-tap maps ---------------------------------------------------------------
    def rows(self, outputs: np.ndarray) -> np.ndarray:
        """``(len(outputs), m)`` input index each tap of the given outputs reads, -1 outside."""
        pos = (
            self.out_step * np.asarray(outputs, dtype=np.int64)[:, None]
            + self.tap_step * np.arange(self.m, dtype=np.int64)[None, :]
            + self.offset
        )
        return np.asarray(self.window[pos])

    @cached_property
    def raw(self) -> np.ndarray:
        """``(length, m)`` input index read by each tap, ``-1`` outside; refused first
        when it (and the maps built from it) would not fit this machine's memory."""
        check_axis_map_fits(self.length, self.m)
        return _readonly(self.rows(np.arange(self.length)))

    def block(self, lo: int, hi: int) -> AxisMap:
        """The axis restricted to outputs ``lo .. hi - 1`` (a window starting further in)."""
        shift = self.out_step * lo
        return AxisMap(
            n=self.n,
            m=self.m,
            length=hi - lo,
            start=self.start + lo,
            pad_mode=self.pad_mode,
            pad_before=self.pad_before - shift,
            span=(hi - lo - 1) * self.out_step + (self.m - 1) * abs(self.tap_step) + 1,
            out_step=self.out_step,
            tap_step=self.tap_step,
            offset=self.offset,
        )

    @cached_property
    def _structure(self) -> _Structure:
        if self.convolution and (self.pad_mode == "constant" or self.input_run is not None):
            return self._run_structure()
        return self._sorted_structure()

    def _sorted_structure(self) -> _Structure:
        """The maps of any axis, from :attr:`raw`: each row's taps sorted by column."""
        raw = self.raw
        length = raw.shape[0]
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
        return _Structure(
            cols=_readonly(cols),
            counts=_readonly(counts),
            slot=_readonly(slot),
            taps=_readonly(taps),
            folded=bool((inside.sum(axis=1) != counts).any()),
        )

    def _run_structure(self) -> _Structure:
        """The maps of a convolution with zero padding, without sorting: the taps
        inside row ``o`` are one run ``lo .. hi``, reading columns in reverse order."""
        check_axis_map_fits(self.length, self.m)
        m, o = self.m, np.arange(self.length, dtype=np.int64)[:, None]
        lo, end = self.tap_runs(o)
        hi = end - 1  # the last tap inside
        counts = end - lo
        width = max(int(counts.max(initial=0)), 1)
        s = np.arange(width, dtype=np.int64)[None, :]
        real = s < counts
        taps = np.where(real, hi - s, 0)
        cols = np.where(real, o + m - 1 - taps - self.pad_before, 0)
        j = np.arange(m, dtype=np.int64)[None, :]
        slot = np.where((j >= lo) & (j <= hi), hi - j, -1)
        return _Structure(
            cols=_readonly(cols),
            counts=_readonly(counts.reshape(-1)),
            slot=_readonly(slot),
            taps=_readonly(taps),
            folded=False,
        )

    @property
    def cols(self) -> np.ndarray:
        return self._structure.cols

    @property
    def counts(self) -> np.ndarray:
        return self._structure.counts

    @property
    def slot(self) -> np.ndarray:
        return self._structure.slot

    @property
    def taps(self) -> np.ndarray:
        return self._structure.taps

    @property
    def width(self) -> int:
        """Largest number of nonzeros in one row."""
        return int(self.cols.shape[1])

    @property
    def nnz(self) -> int:
        """Number of nonzeros of the 1-D matrix."""
        return int(self.counts.sum())

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


@lru_cache(maxsize=512)
def axis_map(n: int, m: int, mode: str, boundary: Extension, corr: bool = False) -> AxisMap:
    """Return the (cached) geometry of one axis of a scipy.signal convolution.

    `corr` selects correlation's 'same' centring (with the kernel already flipped).
    Nothing of size ``length * m`` is built here.
    """
    length = output_length(n, m, mode)
    start = _start(n, m, mode, corr)
    pad: PadMode = "constant" if mode == "valid" else PAD_MODE[boundary]
    # full-output position i = o + start reads extended input i - j; the window
    # starts at extended position start - (m - 1)
    return AxisMap(
        n=n,
        m=m,
        length=length,
        start=start,
        pad_mode=pad,
        pad_before=m - 1 - start,
        span=length + m - 1,
        out_step=1,
        tap_step=-1,
        offset=m - 1,
    )
