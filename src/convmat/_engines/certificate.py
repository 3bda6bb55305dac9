"""The FFT's accuracy certified at every output, and direct sums for the outputs it leaves.

:class:`Certificate` is the part of :class:`~convmat._engines.engine.Engine`
that decides, output by output, whether an FFT product is within the
tolerance of 'auto' (:meth:`Certificate.fft_certified`), in which precision
to try it, and sums directly the outputs it does not certify
(:meth:`Certificate.direct_at`). It reads the engine's kernel, plan and FFT
geometry, declared here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .._core.plan import Plan
from .._core.taps import inside_sum

__all__: list[str] = []

DIRECT_AT_BOXES = 4096  # most outputs summed one by one over their boxes of taps
DIRECT_AT_ENTRIES = 2**22  # gathered entries per block of direct_at


_PRECISIONS = tuple(
    np.dtype(t)
    for t in (np.float32, np.float64, np.longdouble)
    if t is not np.longdouble or np.finfo(np.longdouble).eps < np.finfo(np.float64).eps / 2
)


def _precision_for(dtype: np.dtype, unit: float) -> np.dtype | None:
    """The narrowest precision no narrower than `dtype` whose machine epsilon is at most
    `unit`; else the widest one wider than `dtype`; else None."""
    data_eps = float(np.finfo(dtype).eps)
    usable = [p for p in _PRECISIONS if float(np.finfo(p).eps) <= data_eps]
    for p in usable:
        if float(np.finfo(p).eps) <= unit:
            return p
    wider = [p for p in usable if float(np.finfo(p).eps) < data_eps]
    return wider[-1] if wider else None


class Certificate:
    """The certificate of an engine's FFT products (a base of the engine)."""

    kernel: np.ndarray
    plan: Plan
    dtype: np.dtype
    window_shape: tuple[int, ...]
    fft_shape: tuple[int, ...]
    linear: bool
    blocking: tuple[int, tuple[int, ...]] | None

    if TYPE_CHECKING:

        @property
        def reads(self) -> int: ...

        @property
        def fft_size(self) -> int: ...

        @property
        def fft_reads(self) -> int: ...

        def extend(self, x: np.ndarray) -> np.ndarray: ...

        def fft(
            self, x: np.ndarray, *, transpose: bool, precision: np.dtype, absolute: bool = False
        ) -> np.ndarray: ...

    # -- the accuracy of the FFT, certified -----------------------------------------
    def tolerance(self, rtol: float, eps: float, *, transpose: bool) -> float:
        """The relative error 'auto' allows at each output: ``max(rtol, terms * eps)`` of
        ``(|k| * |x|)(o)``, ``terms`` the nonzero taps (times :attr:`reads` in a transpose):
        with ``rtol=0``, the bound of a direct sum of those products."""
        terms = max(int(np.count_nonzero(self.kernel)), 1) * (self.reads if transpose else 1)
        return max(rtol, terms * eps)

    def fft_precision(self, tol: float, *, transpose: bool) -> np.dtype | None:
        """The precision of the FFT that 'auto' tries for tolerance `tol`, if any.

        The narrowest of float32 (for single precision data), float64 and the
        platform's long double (where wider) whose rounding bound for an input
        of even magnitude, ``2.5 eps log2(N) sqrt(n)`` relative (``N`` the
        size of one transform, ``n`` the entries it reads: the input, or an
        overlap-save block), is within a quarter of what :meth:`fft_certified`
        allows, ``tol / 2`` (outputs near the edges of 'same' and 'full' mode
        read fewer taps: a margin keeps most of them certified). When none is, the widest that is wider than the data; None
        when no precision is (double precision data on a platform whose long
        double is float64): the FFT is then not offered for `tol`. The choice
        depends on the shapes only; rows that the chosen precision does not
        certify are tried in the next wider one.
        """
        if transpose:
            size, n = math.prod(self.fft_shape), self.plan.shape[0]
        else:
            size, n = self.fft_size, self.fft_reads
        return _precision_for(self.dtype, tol / (20.0 * math.log2(max(size, 2)) * math.sqrt(n)))

    def wider_precision(self, precision: np.dtype) -> np.dtype | None:
        """The next precision after `precision` in which the FFT may certify, if any."""
        later = [p for p in _PRECISIONS if p.itemsize > precision.itemsize]
        return later[0] if later else None

    def fft_certified(
        self, x: np.ndarray, y: np.ndarray, *, transpose: bool, tol: float, precision: np.dtype
    ) -> np.ndarray:
        """Which outputs of `y`, the FFT's product of `x` in `precision`, are within
        ``tol / 2`` of ``(|k| * |x|)(o)`` of the exact value.

        A bound on the FFT's rounding error, ``5 u log2(N) sum|k| ||x||_2``
        (``u`` the unit roundoff of `precision`, ``N`` the transform's size and
        ``||x||_2`` the norm of what it transforms: the window, or one
        overlap-save block of it), holds at every output it serves; an output
        passes when that is at most ``tol / 2`` times a lower bound of
        ``(|k| * |x|)(o)``. Lower bounds, cheapest first, each only for the
        rows the previous ones leave short: ``|y(o)|`` less the error (free:
        ``|k| * |x|`` is at least the exact value's magnitude); the least
        ``|x|`` under the window times the taps' sum (forward products, when
        the data make it likely to pass); an FFT of ``|x|`` with ``|k|`` in
        float32 less its own error bound. Rows of long double data beyond float64's
        range (in which the bounds are computed) certify nothing.
        """
        size = math.prod(self.fft_shape) if transpose else self.fft_size
        log = math.log2(max(size, 2))
        k1 = float(np.abs(self.kernel).astype(np.float64).sum())
        magnitude = np.abs(x)
        peak_own = magnitude.max(axis=1, initial=0)
        if bool((peak_own > np.finfo(np.float64).max).any()):
            # long double beyond float64's range, where these bounds are computed: nothing
            # is certified, and the direct sums serve every output
            return np.zeros(y.shape, dtype=bool)
        peak = peak_own.astype(np.float64)[:, None]
        norms = self._fft_norms(magnitude, peak[:, 0], transpose=transpose)  # (B, blocks)

        def bound(dtype: np.dtype) -> np.ndarray:
            # rounding (and, scaled to at most 1, underflow) of an FFT product in `dtype`
            info = np.finfo(dtype)
            rounding = 5.0 * float(info.eps) / 2 * log * k1 * norms
            return np.asarray(rounding + 2.0 * size * float(info.tiny) * k1 * peak)

        expand = self._per_output if not transpose else (lambda a: a)
        with np.errstate(over="ignore", invalid="ignore"):
            err = bound(precision)
            need = err / (0.5 * tol)  # the least (|k| * |x|)(o) at which the FFT's output passes
            # |y(o)| was rounded to y's dtype (a few ulps for a complex modulus)
            grow = 1.0 / (1.0 - 4.0 * float(np.finfo(y.dtype).eps))
            ok = np.abs(y) >= expand((need + err) * grow)
            rows = self._worth_a_bound(ok)
            if rows.any() and not transpose:
                hopeful = rows & self._window_minimum_may_pass(magnitude, need.max(axis=1) / k1)
                if hopeful.any():
                    least = self._window_minimum_bound(magnitude[hopeful])
                    ok[hopeful] |= least >= expand(need[hopeful])
                rows = self._worth_a_bound(ok)
            if rows.any():
                # the scale needs only a lower bound: a float32 transform, less its error
                scale = self.fft(
                    magnitude if rows.all() else magnitude[rows],
                    transpose=transpose,
                    precision=np.dtype(np.float32),
                    absolute=True,
                )
                # an overflowed float32 scale is only known to exceed float32's largest value
                np.minimum(scale, np.finfo(scale.dtype).max, out=scale)
                ok[rows] |= scale >= expand(need[rows] + bound(np.dtype(np.float32))[rows])
        return np.asarray(ok)

    def _worth_a_bound(self, ok: np.ndarray) -> np.ndarray:
        """The rows whose uncertified outputs cost more to sum directly (a gather of every
        tap each) than another lower bound costs (a few passes over the row)."""
        failing = ok.shape[1] - np.count_nonzero(ok, axis=1)
        return np.asarray(failing * self.kernel.size > ok.shape[1])

    def _per_output(self, per_block: np.ndarray) -> np.ndarray:
        """``(B, blocks)`` values of the forward transforms, spread to the outputs each
        serves: ``(B, 1)`` for one transform, ``(B, n_out)`` for overlap-save blocks."""
        if self.blocking is None:
            return per_block
        block = self.blocking[0]
        length = self.plan.output_shape[0]
        cells = math.prod(self.plan.output_shape[1:])
        return np.repeat(per_block, block * cells, axis=1)[:, : length * cells]

    def _fft_norms(self, magnitude: np.ndarray, peak: np.ndarray, *, transpose: bool) -> np.ndarray:
        """Upper bounds of the 2-norm of what each transform reads, ``(B, blocks)``: the
        window (the input extended by its boundary, each entry counted as often as it
        occurs there), each overlap-save block's rows of it, or a transpose's outputs.

        Computed in float64 with the entries scaled by the row's peak where squares
        could leave float64's range, and enlarged by more than the summation's rounding.
        """
        batch = magnitude.shape[0]
        info = np.finfo(magnitude.dtype)
        wide = np.finfo(np.float64)
        # squares and their float64 sums stay in both ranges: the exponent is an integer,
        # the narrower range's (long double's own would overflow a Python float)
        limit = 2.0 ** (min(info.maxexp, wide.maxexp) // 4)
        tiny = max(float(info.tiny), float(wide.tiny))
        in_range = bool(((peak < limit) & ((peak > 1 / limit) | (peak == 0))).all())
        safe = np.ones((batch, 1)) if in_range else np.where(peak > 0, peak, 1.0)[:, None]
        scaled = magnitude if in_range else magnitude / safe.astype(magnitude.dtype)
        square = np.square(scaled)  # in the data's precision, summed in float64
        if transpose:
            energy = np.add.reduce(square, axis=1, dtype=np.float64, keepdims=True)
        else:
            # the energy of each input row along the first axis, the other axes' boundary
            # weighing each entry by how often the window holds it
            e = square.reshape(batch, *self.plan.input_shape)
            for mp in reversed(self.plan.maps[1:]):
                w = mp.window
                counts = np.bincount(w[w >= 0], minlength=mp.n)
                if (counts == 1).all():
                    e = np.add.reduce(e, axis=-1, dtype=np.float64)
                else:
                    e = e.astype(np.float64, copy=False) @ counts.astype(np.float64)
            first = self.plan.maps[0]
            if first.input_run is not None:
                rows = np.zeros((batch, first.span))
                rows[:, first.input_run] = e
            else:
                rows = np.where(first.window >= 0, e[:, np.maximum(first.window, 0)], 0.0)
            if self.blocking is None:
                energy = rows.sum(axis=1, keepdims=True)
            else:
                block = self.blocking[0]
                span = block + first.m - 1
                starts = range(0, self.plan.output_shape[0], block)
                energy = np.stack([rows[:, lo : lo + span].sum(axis=1) for lo in starts], 1)
        terms = square.shape[1] * max(1, math.prod(self.window_shape) // max(square.shape[1], 1))
        # each square rounded once, each sum of `terms` of them in float64; squares that
        # underflowed lost at most `tiny` each
        energy = energy + terms * tiny
        grow = (1.0 + float(info.eps)) * (1.0 + 2.0 * terms * float(np.finfo(np.float64).eps))
        return np.asarray(np.sqrt(energy * grow) * safe)

    def _window_minimum_may_pass(self, magnitude: np.ndarray, least: np.ndarray) -> np.ndarray:
        """Per row, whether :meth:`_window_minimum_bound` is likely to certify most outputs:
        whether a window of independent entries would likely hold none below `least`."""
        share = (magnitude >= least[:, None].astype(magnitude.dtype)).mean(axis=1)
        return np.asarray(share**self.kernel.size >= 0.5)

    def _window_minimum_bound(self, magnitude: np.ndarray) -> np.ndarray:
        """A lower bound of ``(|k| * |x|)(o)`` for every output, in O(n) per axis: the least
        ``|x|`` the output reads, times the sum of ``|k|`` over the taps that read the input.

        The minimum over each output's window is a running minimum per axis (the fill
        padding counted as +inf); the tap sums are exact to a few ulps, and the product is
        lowered by more than their rounding.
        """
        batch = magnitude.shape[0]
        # |x| in its own precision: the minimum is exact in any
        images = magnitude.reshape(batch, *self.plan.input_shape)
        absk = np.abs(self.kernel).astype(np.float64)
        if self.linear:
            ext = np.full((batch, *self.window_shape), np.inf, dtype=images.dtype)
            inside: tuple[slice | None, ...] = (
                slice(None),
                *(mp.input_run for mp in self.plan.maps),
            )
            ext[inside] = images
            taps = inside_sum(absk, self.plan)
        else:
            # every window position is an input position; the padded copy is ours to write
            ext = self.extend(images)
            taps = np.full(self.plan.output_shape, absk.sum())
        least = ext
        for d, m in enumerate(self.kernel.shape):
            least = _running_min(least, d + 1, m)
        safety = 1.0 - 4.0 * (self.kernel.size + 2) * float(np.finfo(np.float64).eps)
        with np.errstate(invalid="ignore"):
            bound = least.astype(np.float64) * (taps * safety)
        return np.asarray(np.where(np.isnan(bound), 0.0, bound)).reshape(batch, -1)

    def direct_at(self, x: np.ndarray, rows: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        """Outputs ``(A @ x[row])[output]`` for the given pairs, each a direct sum of its taps.

        With zero padding, outputs that read the input through few taps (near the edges
        of 'full' and 'same' mode, where certificates fail most) sum only those, one
        output at a time; otherwise every tap of every output is gathered at once.
        """
        boxed = self._direct_at_boxes(x, rows, outputs)
        if boxed is not None:
            return boxed
        plan = self.plan
        taps = self.kernel.size
        out = np.empty(rows.size, dtype=np.result_type(x.dtype, self.dtype))
        step = max(1, DIRECT_AT_ENTRIES // taps)
        for lo in range(0, rows.size, step):
            sl = slice(lo, lo + step)
            coords = np.unravel_index(outputs[sl], plan.output_shape)
            index = np.zeros((coords[0].size, *plan.kernel_shape), dtype=np.int64)
            inside = np.ones(index.shape, dtype=bool)
            stride = 1
            for d in reversed(range(len(plan.maps))):
                shape = [coords[0].size] + [1] * len(plan.maps)
                shape[d + 1] = plan.maps[d].m
                raw = plan.maps[d].rows(coords[d]).reshape(shape)
                index = index + np.maximum(raw, 0) * stride
                inside = inside & (raw >= 0)
                stride *= plan.maps[d].n
            values = x[rows[sl].reshape(-1, *[1] * len(plan.maps)), index]
            terms = np.where(inside, values * self.kernel, 0)
            out[sl] = terms.reshape(terms.shape[0], -1).sum(axis=1)
        return out

    def direct_at_work(self, outputs: np.ndarray) -> tuple[int, int]:
        """What :meth:`direct_at` does for these outputs (of one row): products summed and
        numpy calls made."""
        boxes = self._boxes(outputs)
        if boxes is None:
            return outputs.size * self.kernel.size, 8
        sizes = boxes[0]
        return int(sizes.sum()), 3 * int(np.count_nonzero(sizes))

    def _boxes(
        self, outputs: np.ndarray
    ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, ...]] | None:
        """For zero padding and few outputs: the size of the box of taps each output reads
        through, the taps' runs per axis and the outputs' coordinates; None where the boxes
        hold a quarter of the taps or more in all (then a gather of every tap is faster)."""
        plan = self.plan
        if not self.linear or outputs.size > DIRECT_AT_BOXES:
            return None
        coords = np.unravel_index(outputs, plan.output_shape)
        runs = [mp.tap_runs(c) for mp, c in zip(plan.maps, coords, strict=True)]
        sizes = np.prod([hi - lo for lo, hi in runs], axis=0)
        if 4 * int(sizes.sum()) > outputs.size * self.kernel.size:
            return None
        return sizes, runs, coords

    def _direct_at_boxes(
        self, x: np.ndarray, rows: np.ndarray, outputs: np.ndarray
    ) -> np.ndarray | None:
        """:meth:`direct_at` by the box of taps each output reads, where :meth:`_boxes`
        gives them; else None."""
        plan = self.plan
        boxes = self._boxes(outputs)
        if boxes is None:
            return None
        sizes, runs, coords = boxes
        # tap j reads input c - j: the box of taps lo..hi-1 reads inputs from that of hi - 1
        starts = [
            mp.rows(c)[np.arange(c.size), np.maximum(hi - 1, 0)]
            for mp, c, (_, hi) in zip(plan.maps, coords, runs, strict=True)
        ]
        images = x.reshape(x.shape[0], *plan.input_shape)
        flipped = self.kernel[(slice(None, None, -1),) * self.kernel.ndim]
        out = np.zeros(rows.size, dtype=np.result_type(x.dtype, self.dtype))
        # per axis, as Python ints: where each box starts in the input and in the kernel
        first = [s.tolist() for s in starts]
        width = [(hi - lo).tolist() for lo, hi in runs]
        tap0 = [(mp.m - hi).tolist() for mp, (_, hi) in zip(plan.maps, runs, strict=True)]
        row = rows.tolist()
        for i in np.flatnonzero(sizes).tolist():
            box = (row[i], *(slice(f[i], f[i] + w[i]) for f, w in zip(first, width, strict=True)))
            taps = tuple(slice(t[i], t[i] + w[i]) for t, w in zip(tap0, width, strict=True))
            out[i] = (flipped[taps] * images[box]).sum()
        return out


def _running_min(a: np.ndarray, axis: int, m: int) -> np.ndarray:
    """The minimum of every `m` consecutive entries along `axis` (length shrinks by m - 1),
    by doubling the window: about log2(m) in-place passes of np.minimum over `a`."""
    width, length = 1, a.shape[axis]
    while width < m:
        step = min(width, m - width)
        lo: list[slice] = [slice(None)] * a.ndim
        hi: list[slice] = [slice(None)] * a.ndim
        lo[axis], hi[axis] = slice(0, length - step), slice(step, length)
        np.minimum(a[tuple(lo)], a[tuple(hi)], out=a[tuple(lo)])
        width, length = width + step, length - step
    keep: list[slice] = [slice(None)] * a.ndim
    keep[axis] = slice(0, length)
    return a[tuple(keep)]
