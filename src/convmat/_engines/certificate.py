"""The FFT's accuracy certified at every output, and direct sums for the outputs it leaves.

A :class:`Certificate` is held by each :class:`~convmat._engines.engine.Engine`
(its ``certificate``): it decides, output by output, whether an FFT product is
within the tolerance of 'auto' (:meth:`Certificate.fft_certified`), in which
precision to try it, and sums directly the outputs it does not certify
(:meth:`Certificate.direct_at`). It reads the engine's kernel, plan and FFT
geometry, copied when it is made, and calls back into the engine's FFT path
(:class:`FFTPath`) for a transform of ``|x|`` or the boundary's extension.
"""

from __future__ import annotations

import itertools
import math
import weakref
from functools import cached_property
from typing import Protocol

import numpy as np

from .._core.plan import Plan
from .._core.taps import inside_sum

__all__: list[str] = []

# The constants of the FFT's rounding bound, proved on the docs page "The FFT's rounding
# bound" (docs/guide/fft-bound.md) and measured by benchmarks/fft_error.py: a transform of
# size N computed in unit roundoff u errs by at most FORWARD_CONSTANT u log2(N) of its
# result's 2-norm, and an inverse one by at most INVERSE_CONSTANT u log2(N) of the mean
# magnitude of what it transforms, at every output.
FORWARD_CONSTANT = 8.0
INVERSE_CONSTANT = 8.0
PRODUCT_CONSTANT = math.sqrt(5.0)  # a rounded complex product (Brent, Percival, Zimmermann)


def rounding_factor(unit: float, size: int) -> float:
    """The FFT product's rounding, per unit of ``||k||_2 ||x||_2``, at every output.

    For transforms of `size` entries in unit roundoff `unit`:
    ``2 a + a**2 + r (1 + a)**2 + b (1 + r)(1 + a)**2`` with ``a`` and ``b``
    the forward and inverse constants times ``unit * log2(size)`` and ``r`` the
    complex product's (the proof: docs/guide/fft-bound.md).
    """
    log = math.log2(max(size, 2))
    a = FORWARD_CONSTANT * unit * log
    b = INVERSE_CONSTANT * unit * log
    r = PRODUCT_CONSTANT * unit
    return 2 * a + a * a + r * (1 + a) ** 2 + b * (1 + r) * (1 + a) ** 2


# The prices of the direct sums, in the cost model's units (convmat._engines.cost uses them)
CALL_UNITS = 1500.0  # a call into numpy or scipy
DIRECT_AT_UNITS = 28.0  # one gathered product of Certificate.direct_at: 18 to 45 measured
CONVOLVE_UNITS = 6.0  # one tap and output of numpy's convolve in a strip of the ring

DIRECT_AT_BOXES = 4096  # outputs per group of direct_at, summed by their boxes or every tap
DIRECT_AT_ENTRIES = 2**22  # gathered entries per block of direct_at
DIRECT_AT_RAGGED = 2**18  # products per block of the boxes' ragged gather (a few int64 each)
BOXED_WORTH = 256  # uncertified outputs up to which their boxes price a further bound
KEPT_TAP_SUMS = 2**18  # outputs up to which the window minimum's tap sums are kept (2 MiB)
CHUNK_ENTRIES = 2**20  # entries of a chunk of the certificate's passes over the outputs
THIN_ENTRIES = 2**22  # ring outputs up to which :meth:`Certificate.thin_outputs` looks
STRIP_OUTPUTS = 16  # outputs of one image from which the ring's strips may serve them
STRIP_DECISION_CALLS = 40  # numpy calls of deciding the ring's strips


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


class FFTPath(Protocol):
    """What a certificate reads of the engine whose products it certifies."""

    kernel: np.ndarray
    plan: Plan
    dtype: np.dtype
    window_shape: tuple[int, ...]
    fft_shape: tuple[int, ...]
    linear: bool
    blocking: tuple[int, tuple[int, ...]] | None

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


class Certificate:
    """The certificate of one engine's FFT products.

    The engine's kernel, plan and FFT geometry are read once, here; the engine
    itself is held by a weak reference (it holds its certificate), for the
    transforms of ``|x|`` and the boundary's extension.
    """

    def __init__(self, path: FFTPath) -> None:
        self.kernel = path.kernel
        self.plan = path.plan
        self.dtype = path.dtype
        self.window_shape = path.window_shape
        self.fft_shape = path.fft_shape
        self.linear = path.linear
        self.blocking = path.blocking
        self.reads = path.reads
        self.fft_size = path.fft_size
        self.fft_reads = path.fft_reads
        self._path = weakref.ref(path)
        self._kept_inside_taps: np.ndarray | None = None
        self._thin: dict[float, np.ndarray | None] = {}

    @property
    def path(self) -> FFTPath:
        """The engine whose products this certifies."""
        path = self._path()
        if path is None:  # pragma: no cover - the engine holds its certificate
            msg = "the engine of this certificate no longer exists"
            raise ReferenceError(msg)
        return path

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
        of even magnitude, :func:`rounding_factor` times ``sqrt(n) ||k||_2 /
        ||k||_1`` relative (``n`` the entries one transform reads: the input,
        or an overlap-save block), is within a quarter of what
        :meth:`fft_certified` allows, ``tol / 2`` (outputs near the edges of
        'same' and 'full' mode read fewer taps: a margin keeps most of them
        certified). When none is, the widest that is wider than the data; None
        when no precision is (double precision data on a platform whose long
        double is float64): the FFT is then not offered for `tol`. The choice
        depends on the shapes only; rows that the chosen precision does not
        certify are tried in the next wider one.
        """
        if transpose:
            size, n = math.prod(self.fft_shape), self.plan.shape[0]
        else:
            size, n = self.fft_size, self.fft_reads
        # rounding_factor is nearly linear in the unit roundoff: its value at unit 1/2 of
        # the machine epsilon, per unit of epsilon
        per_eps = rounding_factor(2.0**-60, size) * 2.0**59
        spread = self.kernel_norm2 / max(self.kernel_norm1, float(np.finfo(np.float64).tiny))
        scale = 8.0 * per_eps * math.sqrt(n) * spread  # 0 for a kernel of zeros
        return _precision_for(self.dtype, tol / scale if scale > 0 else math.inf)

    @cached_property
    def kernel_norm1(self) -> float:
        """``||k||_1`` in float64, rounded up (0 for a kernel of zeros; inf beyond range)."""
        absk = np.abs(self.kernel).astype(np.float64)
        with np.errstate(over="ignore"):
            total = float(absk.sum())
        return float(total * (1.0 + 2.0 * absk.size * float(np.finfo(np.float64).eps)))

    @cached_property
    def kernel_norm2(self) -> float:
        """``||k||_2`` in float64, rounded up: scaled by the largest tap where squares could
        leave float64's range (inf where the kernel does; 0 for zeros)."""
        absk = np.abs(self.kernel).astype(np.float64)
        peak = float(absk.max(initial=0.0))
        if peak == 0.0 or not math.isfinite(peak):
            return peak
        scaled = absk / peak  # exact up to the rounding of each quotient
        square = float(np.dot(scaled.ravel(), scaled.ravel()))
        grow = 1.0 + 4.0 * (absk.size + 2) * float(np.finfo(np.float64).eps)
        return math.sqrt(square * grow) * peak * (1.0 + 2.0 * float(np.finfo(np.float64).eps))

    def wider_precision(self, precision: np.dtype) -> np.dtype | None:
        """The next precision after `precision` in which the FFT may certify, if any."""
        later = [p for p in _PRECISIONS if p.itemsize > precision.itemsize]
        return later[0] if later else None

    def fft_certified(
        self, x: np.ndarray, y: np.ndarray, *, transpose: bool, tol: float, precision: np.dtype
    ) -> np.ndarray:
        """Which outputs of `y`, the FFT's product of `x` in `precision`, are within
        ``tol / 2`` of ``(|k| * |x|)(o)`` of the exact value.

        A bound on the FFT's rounding error, ``rounding_factor(u, N) ||k||_2
        ||x||_2`` (about ``24 u log2(N) ||k||_2 ||x||_2``; ``u`` the unit
        roundoff of `precision`, ``N`` the transform's size and ``||x||_2`` the
        norm of what it transforms: the window, or one overlap-save block of
        it), holds at every output it serves (proved on the docs page "The
        FFT's rounding bound"); an output
        passes when that is at most ``tol / 2`` times a lower bound of
        ``(|k| * |x|)(o)``. Lower bounds, cheapest first, each only for the
        rows the previous ones leave short: ``|y(o)|`` less the error (free:
        ``|k| * |x|`` is at least the exact value's magnitude); the least
        ``|x|`` under the window times the taps' sum (forward products, when
        it is likely to leave too few outputs for the next bound to pay); an
        FFT of ``|x|`` with ``|k|`` in
        float32 less its own error bound. Rows of long double data beyond float64's
        range (in which the bounds are computed) certify nothing.
        """
        k1 = self.kernel_norm1
        # real data: the peak and the squares need no |x|, which only the later lower
        # bounds read
        parts = self._bound_parts(x, transpose=transpose)
        if parts is None:
            # long double beyond float64's range, where these bounds are computed: nothing
            # is certified, and the direct sums serve every output
            return np.zeros(y.shape, dtype=bool)

        def bound(dtype: np.dtype) -> np.ndarray:
            return self._rounding(dtype, *parts, transpose=transpose)

        with np.errstate(over="ignore", invalid="ignore"):
            err = bound(precision)
            need = err / (0.5 * tol)  # the least (|k| * |x|)(o) at which the FFT's output passes
            # |y(o)| was rounded to y's dtype (a few ulps for a complex modulus)
            grow = 1.0 / (1.0 - 4.0 * float(np.finfo(y.dtype).eps))
            ok = self._at_least(y, (need + err) * grow, magnitude=True)
            rows = self._worth_a_bound(ok)
            magnitude = np.abs(x) if rows.any() else x
            if rows.any() and not transpose:
                hopeful = rows & self._window_minimum_may_pass(magnitude, need.max(axis=1) / k1, ok)
                if hopeful.any():
                    least = self._window_minimum_bound(magnitude[hopeful])
                    ok[hopeful] |= self._at_least(least, need[hopeful])
                rows = self._worth_a_bound(ok)
            if rows.any():
                # the scale needs only a lower bound: a float32 transform, less its error
                scale = self.path.fft(
                    magnitude if rows.all() else magnitude[rows],
                    transpose=transpose,
                    precision=np.dtype(np.float32),
                    absolute=True,
                )
                # an overflowed float32 scale is only known to exceed float32's largest value
                np.minimum(scale, np.finfo(scale.dtype).max, out=scale)
                ok[rows] |= self._at_least(scale, need[rows] + bound(np.dtype(np.float32))[rows])
        return np.asarray(ok)

    def rounding_bound(self, x: np.ndarray, *, transpose: bool, precision: np.dtype) -> np.ndarray:
        """At every output of :meth:`fft` of `x` in `precision` (shape ``(B, n_out)``), the
        bound of its rounding error that :meth:`fft_certified` uses; inf for rows of long
        double data beyond float64's range."""
        parts = self._bound_parts(x, transpose=transpose)
        n_out = self.plan.shape[1] if transpose else self.plan.shape[0]
        if parts is None:
            return np.full((x.shape[0], n_out), np.inf)
        err = self._rounding(precision, *parts, transpose=transpose)
        expand = self._per_output if not transpose else (lambda a: a)
        return np.asarray(np.broadcast_to(expand(err), (x.shape[0], n_out)))

    def _bound_parts(
        self, x: np.ndarray, *, transpose: bool
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Each row's peak ``(B, 1)`` and the norms of what its transforms read
        ``(B, blocks)``, in float64; None where a row lies beyond float64's range.
        Real `x` is read as it is (its squares are those of ``|x|``), complex `x` by its
        modulus."""
        values = np.abs(x) if x.dtype.kind == "c" else x
        peak_own = np.maximum(values.max(axis=1, initial=0), -values.min(axis=1, initial=0))
        if bool((peak_own > np.finfo(np.float64).max).any()):
            return None
        peak = peak_own.astype(np.float64)[:, None]
        return peak, self._fft_norms(values, peak[:, 0], transpose=transpose)

    def _rounding(
        self, dtype: np.dtype, peak: np.ndarray, norms: np.ndarray, *, transpose: bool
    ) -> np.ndarray:
        """The rounding (and, scaled to at most 1, underflow) of an FFT product in `dtype`,
        per transform ``(B, blocks)``: :func:`rounding_factor` times ``||k||_2`` and the
        norm of what the transform reads, plus ``2 N tiny ||k||_1`` of the row's peak."""
        size = math.prod(self.fft_shape) if transpose else self.fft_size
        info = np.finfo(dtype)
        with np.errstate(over="ignore"):
            rounding = rounding_factor(float(info.eps) / 2, size) * self.kernel_norm2 * norms
            tiny = 2.0 * size * float(info.tiny) * self.kernel_norm1 * peak
            return np.asarray(rounding + tiny)

    def _worth_a_bound(self, ok: np.ndarray) -> np.ndarray:
        """The rows whose uncertified outputs cost more to sum directly than another lower
        bound costs (a few passes over the row): a gather of every tap each, or, for
        few outputs under zero padding, of the taps in their boxes (the corners of 'full'
        mode read a handful each)."""
        n_out = ok.shape[1]
        failing = n_out - np.count_nonzero(ok, axis=1)
        worth = failing * self.kernel.size > n_out
        # boxes are counted only where they may settle it: few outputs, whose boxes
        # need not be a corner's handful each to cost less than a pass
        check = worth & (failing <= BOXED_WORTH) & (failing * self.kernel.size <= 16 * n_out)
        if self.linear and check.any():
            rows, outputs = np.nonzero(~ok[check])
            boxes = self._boxes(outputs, limit=False)
            if boxes is not None:
                products = np.bincount(rows, weights=boxes[0], minlength=int(check.sum()))
                worth[check] = products > n_out
        return np.asarray(worth)

    def _at_least(
        self, values: np.ndarray, per_block: np.ndarray, *, magnitude: bool = False
    ) -> np.ndarray:
        """``values >= t`` (``|values| >= t`` with `magnitude`) at every output, `t` the
        ``(B, blocks)`` thresholds of the transforms (:meth:`_per_output`), a chunk of
        :data:`CHUNK_ENTRIES` at a time: no output-sized temporary but the result."""
        batch, n_out = values.shape
        blocked = per_block.shape[1] > 1
        size = 1
        if blocked:
            assert self.blocking is not None
            size = self.blocking[0] * math.prod(self.plan.output_shape[1:])
        step = max(size, CHUNK_ENTRIES // max(batch, 1) // size * size)
        out = np.empty(values.shape, dtype=bool)
        for c0 in range(0, n_out, step):  # c0 is a multiple of `size`: a block's start
            c1 = min(n_out, c0 + step)
            part = np.abs(values[:, c0:c1]) if magnitude else values[:, c0:c1]
            if not blocked:
                np.greater_equal(part, per_block, out=out[:, c0:c1])
                continue
            first, whole = c0 // size, (c1 - c0) // size
            if whole:
                head = part[:, : whole * size].reshape(batch, whole, size)
                at = per_block[:, first : first + whole, None]
                out[:, c0 : c0 + whole * size] = (head >= at).reshape(batch, -1)
            if c0 + whole * size < c1:
                tail = part[:, whole * size :]
                out[:, c0 + whole * size : c1] = tail >= per_block[:, first + whole, None]
        return out

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
        if transpose:
            scaled = magnitude if in_range else magnitude / safe.astype(magnitude.dtype)
            square = np.square(scaled)  # in the data's precision, summed in float64
            energy = np.add.reduce(square, axis=1, dtype=np.float64, keepdims=True)
        else:
            # the energy of each input row along the first axis, the other axes' boundary
            # weighing each entry by how often the window holds it; the squares of a
            # chunk of rows at a time
            images = magnitude.reshape(batch, *self.plan.input_shape)
            n0 = self.plan.input_shape[0]
            row = math.prod(self.plan.input_shape[1:]) * batch
            step = max(1, CHUNK_ENTRIES // max(row, 1))
            e = np.concatenate(
                [
                    self._row_energy(images[:, r : r + step], None if in_range else safe)
                    for r in range(0, n0, step)
                ],
                axis=1,
            )
            first = self.plan.maps[0]
            run = first.input_run
            if self.blocking is None:
                # zero padding adds nothing to the energy
                rows = e if run is not None else self._window_rows(e)
                energy = np.add.reduce(rows, axis=1, dtype=np.float64, keepdims=True)
            else:
                block = self.blocking[0]
                span = block + first.m - 1
                starts = range(0, self.plan.output_shape[0], block)
                if run is not None:  # each block's rows of the input, read in place
                    cuts = [
                        (
                            min(max(lo, run.start), run.stop),
                            min(max(lo + span, run.start), run.stop),
                        )
                        for lo in starts
                    ]
                    parts = [e[:, a - run.start : b - run.start] for a, b in cuts]
                else:
                    rows = self._window_rows(e)
                    parts = [rows[:, lo : lo + span] for lo in starts]
                energy = np.stack(
                    [np.add.reduce(part, axis=1, dtype=np.float64) for part in parts], 1
                )
        n_in = magnitude.shape[1]
        terms = n_in * max(1, math.prod(self.window_shape) // max(n_in, 1))
        # each square rounded once, each sum of `terms` of them in float64; squares that
        # underflowed lost at most `tiny` each
        energy = energy + terms * tiny
        grow = (1.0 + float(info.eps)) * (1.0 + 2.0 * terms * float(np.finfo(np.float64).eps))
        return np.asarray(np.sqrt(energy * grow) * safe)

    def _row_energy(self, rows: np.ndarray, safe: np.ndarray | None) -> np.ndarray:
        """``(B, r)`` float64 sums of the squares of these rows ``(B, r, ...)`` of the
        input's magnitude (divided by `safe` per image), each entry weighed by how often
        the window holds it along the other axes."""
        if safe is not None:
            rows = rows / safe.reshape(-1, *[1] * (rows.ndim - 1)).astype(rows.dtype)
        e = np.square(rows)  # in the data's precision, summed in float64
        for mp in reversed(self.plan.maps[1:]):
            w = mp.window
            counts = np.bincount(w[w >= 0], minlength=mp.n)
            # every entry once (an upper bound where the window skips some), and again for
            # each further time the window holds it (the few near the edges)
            more = np.flatnonzero(counts > 1)
            extra = (
                e[..., more].astype(np.float64) @ (counts[more] - 1).astype(np.float64)
                if more.size
                else 0.0
            )
            e = np.add.reduce(e, axis=-1, dtype=np.float64) + extra
        return np.asarray(e, dtype=np.float64)

    def _window_rows(self, e: np.ndarray) -> np.ndarray:
        """Per-row energies ``(B, n)`` of the input laid along the first axis's window
        (zero where it reads padding), in float64."""
        window = self.plan.maps[0].window
        return np.asarray(np.where(window >= 0, e[:, np.maximum(window, 0)], 0.0))

    def thin_outputs(self, share: float) -> np.ndarray | None:
        """The outputs (flat, ascending) whose taps that read the input hold less than
        `share` of ``||k||_1``: under zero padding, the ring of 'full' and 'same' mode that
        reads mostly padding, where no lower bound of ``|k| * |x|`` can reach the FFT's
        rounding on data of even magnitude, and the direct sums serve. From the kernel and
        the shapes alone; none for the other boundaries (every output reads every tap);
        None where the ring holds more than :data:`THIN_ENTRIES` outputs.

        Each output's sum is a box of the kernel's ``|k|``, read from its table of
        partial sums; the ring is cut into disjoint grids, one per axis: the positions
        that read padding along that axis, and none along the axes before it.
        """
        key = float(share)
        kept = self._thin.get(key)
        if kept is not None or key in self._thin:
            return kept
        found = self._thin_outputs(key)
        self._thin[key] = found
        return found

    def _thin_outputs(self, share: float) -> np.ndarray | None:
        plan = self.plan
        empty = np.zeros(0, dtype=np.int64)
        absk = np.abs(self.kernel).astype(np.float64)
        total = float(absk.sum())
        if not self.linear or share <= 0 or not 0 < total < math.inf:
            return empty
        table = absk
        for axis in range(absk.ndim):
            table = np.cumsum(table, axis=axis)
        table = np.pad(table, [(1, 0)] * absk.ndim)  # a box's sum by inclusion-exclusion
        runs = [mp.tap_runs(np.arange(mp.length)) for mp in plan.maps]
        partial = [hi - lo < mp.m for (lo, hi), mp in zip(runs, plan.maps, strict=True)]
        grids = []
        for d in range(len(plan.maps)):
            along = [
                np.flatnonzero(~partial[e])
                if e < d
                else (np.flatnonzero(partial[e]) if e == d else np.arange(plan.maps[e].length))
                for e in range(len(plan.maps))
            ]
            size = math.prod(a.size for a in along)
            if size > THIN_ENTRIES:
                return None
            if size:
                grids.append(along)
        found = [empty]
        for along in grids:
            box = np.zeros([a.size for a in along])
            for corner in itertools.product((0, 1), repeat=len(along)):
                ends = zip(corner, along, strict=True)
                at = np.ix_(*[runs[e][c][a] for e, (c, a) in enumerate(ends)])
                sign = -1.0 if (len(along) - sum(corner)) % 2 else 1.0
                box += sign * table[at]
            thin = np.nonzero(box < share * total)
            coords = [a[c] for a, c in zip(along, thin, strict=True)]
            found.append(np.ravel_multi_index(coords, plan.output_shape).astype(np.int64))
        return np.sort(np.concatenate(found))

    def _window_minimum_may_pass(
        self, magnitude: np.ndarray, least: np.ndarray, ok: np.ndarray
    ) -> np.ndarray:
        """Per row, whether :meth:`_window_minimum_bound` is likely to leave so few
        outputs uncertified that no transform of ``|x|`` need follow (it costs about as
        much as one, measured: 0.7x to 3x): the outputs `ok` leaves, times the chance
        that a window of independent entries holds one below `least`, would cost less
        to sum directly than a pass over the row."""
        below = np.count_nonzero(magnitude < least[:, None].astype(magnitude.dtype), axis=1)
        # the chance of an entry below `least`, by the rule of succession: a sample
        # without one does not make it nil
        share = 1.0 - (below + 1.0) / (magnitude.shape[1] + 2.0)
        failing = ok.shape[1] - np.count_nonzero(ok, axis=1)
        left = failing * (1.0 - share**self.kernel.size)
        return np.asarray(left * self.kernel.size <= ok.shape[1])

    def _inside_taps(self) -> np.ndarray:
        """Per output, the sum of ``|k|`` over the taps that read the input (float64); kept
        for outputs of at most :data:`KEPT_TAP_SUMS` entries (a per-call cost on small
        images, an output-sized array on large ones)."""
        if self._kept_inside_taps is not None:
            return self._kept_inside_taps
        taps = np.asarray(inside_sum(np.abs(self.kernel).astype(np.float64), self.plan))
        if taps.size <= KEPT_TAP_SUMS:
            taps.flags.writeable = False
            self._kept_inside_taps = taps
        return taps

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
            taps = self._inside_taps()
        else:
            # every window position is an input position; the padded copy is ours to write
            ext = self.path.extend(images)
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

        With zero padding, in one and two dimensions, the outputs in the ring
        that reads the padding (the edges of 'full' and 'same' mode, where
        certificates fail most) are computed as strips, each a few calls of
        numpy's convolve over the input lines the strip reads
        (:meth:`_ring_strips`). Of the others, those that read the input through
        few taps sum only those, their boxes of taps gathered as one ragged run;
        the rest gather every tap at once. No loop runs per output.
        """
        out = np.empty(rows.size, dtype=np.result_type(x.dtype, self.dtype))
        left = np.ones(rows.size, dtype=bool)
        # the strips, decided for every image at once, then served image by image
        mine, last = np.zeros(0, dtype=np.int64), -1
        for image, axis, lo, hi in self._ring_strips_of(rows, outputs):
            if image != last:  # the strips come image by image
                mine, last = np.flatnonzero(rows == image), image
            values, inside = self._strip_values(x[image], (axis, lo, hi), outputs[mine])
            out[mine[inside]] = values
            left[mine[inside]] = False
        if not left.any():
            return out
        rows, outputs = rows[left], outputs[left]
        rest = np.empty(rows.size, dtype=out.dtype)
        # a group of outputs at a time, each by its boxes of taps where they are small
        for lo in range(0, rows.size, DIRECT_AT_BOXES):
            sl = slice(lo, lo + DIRECT_AT_BOXES)
            boxed = self._direct_at_boxes(x, rows[sl], outputs[sl])
            rest[sl] = (
                boxed if boxed is not None else self._direct_at_taps(x, rows[sl], outputs[sl])
            )
        out[left] = rest
        return out

    def _direct_at_taps(self, x: np.ndarray, rows: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        """:meth:`direct_at` by gathering every tap of each output, a block at a time."""
        plan = self.plan
        taps = self.kernel.size
        rest = np.empty(rows.size, dtype=np.result_type(x.dtype, self.dtype))
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
            rest[sl] = terms.reshape(terms.shape[0], -1).sum(axis=1)
        return rest

    def direct_at_work(self, outputs: np.ndarray) -> tuple[int, int]:
        """What :meth:`direct_at` does for these outputs (of one row): products summed and
        numpy calls made."""
        products = calls = 0
        left = np.ones(outputs.size, dtype=bool)
        for axis, lo, hi in self._ring_strips(outputs):
            left &= ~self._in_strip(outputs, axis, lo, hi)
            strip_products, strip_calls = self._strip_work(axis, lo, hi)
            products += strip_products
            calls += strip_calls
        rest = outputs[left]
        for lo in range(0, rest.size, DIRECT_AT_BOXES):  # the groups of direct_at
            group = rest[lo : lo + DIRECT_AT_BOXES]
            boxes = self._boxes(group)
            if boxes is None:
                products += group.size * self.kernel.size
                calls += 8
                continue
            total = int(boxes[0].sum())
            products += total
            calls += -(-total // DIRECT_AT_RAGGED) * (8 + 6 * len(self.plan.maps))
        return products, calls

    def box_sizes(self, outputs: np.ndarray) -> np.ndarray | None:
        """For zero padding, the taps each of these outputs reads the input through (the
        size of its box of taps); None for the other boundaries (every output reads every
        tap)."""
        if not self.linear:
            return None
        return self._tap_runs(outputs)[0]

    def _tap_runs(
        self, outputs: np.ndarray
    ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, ...]]:
        """For zero padding: the size of the box of taps each output reads through, the
        taps' runs per axis and the outputs' coordinates."""
        coords = np.unravel_index(outputs, self.plan.output_shape)
        runs = [mp.tap_runs(c) for mp, c in zip(self.plan.maps, coords, strict=True)]
        sizes = np.asarray(np.prod([hi - lo for lo, hi in runs], axis=0), dtype=np.int64)
        return sizes, runs, coords

    def _boxes(
        self, outputs: np.ndarray, *, limit: bool = True
    ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, ...]] | None:
        """For zero padding: the size of the box of taps each output reads through, the
        taps' runs per axis and the outputs' coordinates; None where the boxes hold a
        quarter of the taps or more in all (then a gather of every tap is faster), or
        (with `limit`) for more than :data:`DIRECT_AT_BOXES` outputs."""
        if not self.linear or (limit and outputs.size > DIRECT_AT_BOXES):
            return None
        sizes, runs, coords = self._tap_runs(outputs)
        if 4 * int(sizes.sum()) > outputs.size * self.kernel.size:
            return None
        return sizes, runs, coords

    def _direct_at_boxes(
        self, x: np.ndarray, rows: np.ndarray, outputs: np.ndarray
    ) -> np.ndarray | None:
        """:meth:`direct_at` by the box of taps each output reads, where :meth:`_boxes`
        gives them; else None. Every box's products are gathered at once, as one ragged
        run (each output's box laid out after the previous one's), and summed per output
        by ``np.add.reduceat``: a few calls, whatever the boxes' shapes."""
        plan = self.plan
        boxes = self._boxes(outputs)
        if boxes is None:
            return None
        sizes, runs, coords = boxes
        # tap j reads input c + start - j: the box of taps lo..hi-1 reads inputs from that
        # of hi - 1 on, and holds the reversed kernel's taps from m - hi on
        first = [
            c + mp.start - (hi - 1) for mp, c, (_, hi) in zip(plan.maps, coords, runs, strict=True)
        ]
        tap0 = [mp.m - hi for mp, (_, hi) in zip(plan.maps, runs, strict=True)]
        widths = [hi - lo for lo, hi in runs]
        images = x.reshape(x.shape[0], -1)
        flipped = self.kernel[(slice(None, None, -1),) * self.kernel.ndim].ravel()
        in_strides = np.cumprod([1, *plan.input_shape[:0:-1]])[::-1]
        k_strides = np.cumprod([1, *plan.kernel_shape[:0:-1]])[::-1]
        out = np.zeros(rows.size, dtype=np.result_type(x.dtype, self.dtype))
        nonempty = np.flatnonzero(sizes > 0)  # an output that reads no input sums to 0
        ends = np.cumsum(sizes[nonempty])
        lo = 0
        while lo < nonempty.size:
            # a block of outputs whose boxes hold at most DIRECT_AT_RAGGED products
            base = int(ends[lo - 1]) if lo else 0
            hi = max(lo + 1, int(np.searchsorted(ends, base + DIRECT_AT_RAGGED, "right")))
            members = nonempty[lo:hi]
            size = sizes[members]
            starts = np.cumsum(size) - size
            owner = np.repeat(np.arange(members.size), size)
            position = np.arange(int(size.sum())) - starts[owner]  # within the output's box
            at_x = np.zeros(position.size, dtype=np.int64)
            at_k = np.zeros(position.size, dtype=np.int64)
            step = np.ones(members.size, dtype=np.int64)  # the box's stride along the axis
            for d in reversed(range(len(plan.maps))):
                width = widths[d][members]
                along = (position // step[owner]) % width[owner]
                at_x += (first[d][members][owner] + along) * int(in_strides[d])
                at_k += (tap0[d][members][owner] + along) * int(k_strides[d])
                step = step * width
            terms = images[rows[members][owner], at_x] * flipped[at_k]
            out[members] = np.add.reduceat(terms, starts)
            lo = hi
        return out

    # -- the ring of outputs that reads the padding, by strips -------------------------
    def _ring_strips(self, outputs: np.ndarray) -> list[tuple[int, int, int]]:
        """Strips ``(axis, lo, hi)`` of outputs (positions ``lo <= o < hi`` along `axis`,
        every position along the other) that serve these outputs of one image more
        cheaply than a sum per output (:meth:`_ring_strips_of`)."""
        rows = np.zeros(outputs.size, dtype=np.int64)
        return [(axis, lo, hi) for _, axis, lo, hi in self._ring_strips_of(rows, outputs)]

    def _ring_strips_of(
        self, rows: np.ndarray, outputs: np.ndarray
    ) -> list[tuple[int, int, int, int]]:
        """Strips ``(image, axis, lo, hi)``, by image, axis and side: for each image, the
        strips of outputs (positions ``lo <= o < hi`` along `axis`, every position along
        the other) that serve its `outputs` more cheaply than a sum per output: zero
        padding, one or two axes, unit steps; decided for every image at once.

        Each output in the ring goes to the axis along which it lies nearest an edge;
        a side's strip reaches the image's deepest such output, and is kept where
        numpy's convolve over its lines costs less than the image's outputs' own boxes
        of taps (every tap each, where the boxes hold a quarter of them or more).
        """
        maps = self.plan.maps
        if not self._strips_apply() or outputs.size < STRIP_OUTPUTS:
            return []
        taps = self.kernel.size
        counts = np.bincount(rows)
        sizes, _, coords = self._tap_runs(outputs)
        total = np.bincount(rows, weights=sizes, minlength=counts.size)
        boxed = 4 * total <= counts * taps  # else every tap of each is gathered
        # strips save at most what the image's outputs cost by their boxes: where that is
        # less than the price of this decision or of the cheapest strip (one line's
        # convolve and two calls), the boxes serve them, undecided
        shape = self.plan.output_shape
        cheapest = min(
            CONVOLVE_UNITS * (math.prod(shape) // n + taps // mp.m) * (taps // mp.m)
            for n, mp in zip(shape, maps, strict=True)
        )
        floor = max(STRIP_DECISION_CALLS * CALL_UNITS, cheapest - DIRECT_AT_UNITS + 2 * CALL_UNITS)
        boxes_price = DIRECT_AT_UNITS * np.where(boxed, total, counts * taps)
        eligible = (counts >= STRIP_OUTPUTS) & (boxes_price > floor)
        if not eligible.any():
            return []
        weight = np.where(boxed[rows], sizes, taps)  # products of each output's sum
        # per axis, how far each output lies inside the ring's low and high side (inf: not)
        dist, low = [], []
        for mp, c in zip(maps, coords, strict=True):
            below = np.where(c < mp.pad_before, c, np.inf)  # reads padding below the input
            above = np.where(c >= mp.n - mp.start, mp.length - 1 - c, np.inf)  # and above
            dist.append(np.minimum(below, above))
            low.append(below <= above)
        nearest = np.stack(dist)
        owner = np.argmin(nearest, axis=0)  # the axis whose edge is nearest
        in_ring = np.isfinite(nearest.min(axis=0)) & eligible[rows]
        strips: list[tuple[int, int, int, int, int]] = []  # image, axis, side, lo, hi
        for d, mp in enumerate(maps):
            mine = in_ring & (owner == d)
            c = coords[d]
            # per image: the low side's strip up to its deepest output, the high side's
            # from its deepest
            deepest_low = np.full(counts.size, -1, dtype=np.int64)
            np.maximum.at(deepest_low, rows[mine & low[d]], c[mine & low[d]])
            deepest_high = np.full(counts.size, mp.length, dtype=np.int64)
            np.minimum.at(deepest_high, rows[mine & ~low[d]], c[mine & ~low[d]])
            for side, (lo, hi) in enumerate(
                (
                    (np.zeros_like(deepest_low), deepest_low + 1),
                    (deepest_high, np.full_like(deepest_high, mp.length)),
                )
            ):
                within = (c >= lo[rows]) & (c < hi[rows])
                box_products = np.bincount(
                    rows[within], weights=weight[within], minlength=counts.size
                )
                # each position of the strip reads at least one line
                worth = (hi > lo) & (DIRECT_AT_UNITS * box_products > 2 * CALL_UNITS * (hi - lo))
                for image in np.flatnonzero(worth).tolist():
                    a, b = int(lo[image]), int(hi[image])
                    strip_products, strip_calls = self._strip_work(d, a, b)
                    strip_units = DIRECT_AT_UNITS * strip_products + CALL_UNITS * strip_calls
                    if strip_units < DIRECT_AT_UNITS * box_products[image]:
                        strips.append((int(image), d, side, a, b))
        strips.sort()
        return [(image, d, a, b) for image, d, _, a, b in strips]

    def _strips_apply(self) -> bool:
        """Whether the ring's strips can serve any output: zero padding, one or two
        axes, unit steps."""
        maps = self.plan.maps
        return self.linear and len(maps) <= 2 and all(mp.convolution for mp in maps)

    def _strip_work(self, axis: int, lo: int, hi: int) -> tuple[int, int]:
        """What :meth:`_strip_values` does for one strip, as :meth:`direct_at_work`
        counts it: numpy's convolve over each line the strip reads (priced as gathered
        products, :data:`CONVOLVE_UNITS` against :data:`DIRECT_AT_UNITS`), and two calls
        a line."""
        lines = int(self._strip_lines(axis, lo, hi).sum())
        shape = self.plan.output_shape
        other = math.prod(shape) // max(shape[axis], 1)
        reach = self.kernel.size // self.plan.maps[axis].m
        convolved = lines * (other + reach) * reach
        return int(convolved * CONVOLVE_UNITS // DIRECT_AT_UNITS), 2 * lines

    def _in_strip(self, outputs: np.ndarray, axis: int, lo: int, hi: int) -> np.ndarray:
        c = np.unravel_index(outputs, self.plan.output_shape)[axis]
        return np.asarray((c >= lo) & (c < hi))

    def _strip_lines(self, axis: int, lo: int, hi: int) -> np.ndarray:
        """Per output position ``lo .. hi - 1`` along `axis`: the taps reading the input."""
        tap_lo, tap_hi = self.plan.maps[axis].tap_runs(np.arange(lo, hi))
        return np.asarray(tap_hi - tap_lo)

    def _strip_values(
        self, image: np.ndarray, strip: tuple[int, int, int], outputs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The direct sums of the outputs of one image (flat `image`) that lie in `strip`,
        and which of `outputs` those are: per output position along the strip's axis and
        tap reading the input, numpy's convolve of the input line it reads with that
        row of the kernel (in 1-D, one convolve of the input the strip reads)."""
        axis, lo, hi = strip
        plan = self.plan
        maps = plan.maps
        within = self._in_strip(outputs, axis, lo, hi)
        dtype = np.result_type(image.dtype, self.dtype)
        if len(maps) == 1:
            mp = maps[0]
            # output o reads inputs o + start - j, for the taps j that stay inside
            first = max(lo + mp.start - mp.m + 1, 0)
            last = min(hi - 1 + mp.start, mp.n - 1)
            full = np.convolve(image[first : last + 1], self.kernel)
            strip_out = full[lo + mp.start - first : hi + mp.start - first]
            return np.asarray(strip_out[outputs[within] - lo], dtype=dtype), within
        other = 1 - axis
        mp, mo = maps[axis], maps[other]
        img = image.reshape(plan.input_shape)
        block = np.zeros((hi - lo, mo.length), dtype=dtype)
        tap_lo, tap_hi = mp.tap_runs(np.arange(lo, hi))
        for v, (j0, j1) in enumerate(zip(tap_lo.tolist(), tap_hi.tolist(), strict=True)):
            for j in range(j0, j1):
                line = np.take(img, lo + v + mp.start - j, axis=axis)
                taps = np.take(self.kernel, j, axis=axis)
                block[v] += np.convolve(line, taps)[mo.start : mo.start + mo.length]
        coords = np.unravel_index(outputs[within], plan.output_shape)
        return block[coords[axis] - lo, coords[other]], within


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
