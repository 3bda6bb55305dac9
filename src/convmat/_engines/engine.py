"""Apply one convolution matrix to batches by several exact methods.

An :class:`Engine` holds a kernel (in its working dtype) and a plan, and
computes ``A @ x`` and ``A.T @ y`` for batches of flattened arrays by:

``sparse``
    the CSR matrix (scipy.sparse), the reference;
``dense``
    the dense matrix and BLAS;
``shift``
    shift-and-add: ``sum_j k[j] * x_ext[window shifted by j]``, one vectorised
    pass per nonzero tap over the whole batch (blocked to stay in cache);
``fft``
    the Toeplitz product diagonalised by the FFT (as
    ``scipy.linalg.matmul_toeplitz`` does in 1-D), on the extended input,
    with the kernel's spectrum computed once; floats and complex only.

Every method computes the same product; only rounding differs. Resources are
built lazily, once, under a lock, and kept read-only.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Literal

import numpy as np
import scipy.fft as sfft
import scipy.sparse as sp

from .._core.budget import check_dense_fits, check_sparse_fits
from .._core.csr import build_csr
from .._core.plan import Plan
from . import banded as _banded
from . import separable as _separable
from .certificate import Certificate
from .pool import THREADS, split_batch

__all__: list[str] = []

Method = Literal["sparse", "dense", "shift", "fft", "banded"]
METHODS: tuple[Method, ...] = ("sparse", "dense", "shift", "fft", "banded")
METHOD_ADVICE = (
    "pass method='sparse', 'shift' or 'auto' (which never picks a matrix over the budget), "
    "or raise the budget with convmat.set_max_dense_bytes()"
)
CACHE_BYTES = 2**20  # batch block of the shift method


def _batched(index: Iterable[slice | None]) -> tuple[slice | None, ...]:
    """An index that keeps the batch axis and applies `index` to the others."""
    return (slice(None), *index)


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


class Engine:
    """Products with the matrix of `plan` and `kernel` (dtype = working dtype); its FFT
    products' accuracy is decided by its :attr:`certificate`."""

    def __init__(self, kernel: np.ndarray, plan: Plan) -> None:
        self.kernel = _readonly(np.array(kernel, copy=True))
        self.plan = plan
        self.dtype = self.kernel.dtype
        self._lock = threading.Lock()
        self._csr: sp.csr_array | None = None
        self._dense: np.ndarray | None = None
        self._spectra: dict[tuple[object, ...], tuple[np.ndarray, int]] = {}
        self._folds: list[sp.csr_array | slice] | None = None
        # the cost model's figures that depend on the shapes alone, kept per engine
        self.memo: dict[tuple[object, ...], object] = {}
        self.window_shape = tuple(mp.length + mp.m - 1 for mp in plan.maps)
        # a 1-D convolution (every other axis of length 1): shift-and-add runs as numpy's
        # convolve, a compiled direct sum, one signal at a time
        long_axes = [d for d, mp in enumerate(plan.maps) if mp.n > 1 or mp.m > 1]
        self.line: int | None = long_axes[0] if len(long_axes) == 1 else None
        # zero padding only (boundary 'fill', or mode 'valid'): the FFT needs no extended
        # input, only room for the full linear convolution, n + m - 1 per axis
        self.linear = all(mp.input_run is not None for mp in plan.maps)
        sizes = tuple(mp.n + mp.m - 1 for mp in plan.maps) if self.linear else self.window_shape
        self.fft_shape = tuple(sfft.next_fast_len(w, real=True) for w in sizes)
        # where the outputs sit in the FFT's result, and how long its input is
        self._fft_out = tuple(
            slice(start, start + mp.length)
            for mp, start in zip(
                plan.maps,
                (mp.start if self.linear else mp.m - 1 for mp in plan.maps),
                strict=True,
            )
        )
        self._fft_in = tuple(
            slice(0, w) for w in (plan.input_shape if self.linear else self.window_shape)
        )
        self.blocking = _blocking(plan, self.window_shape)
        self.certificate = Certificate(self)

    @property
    def nbytes(self) -> int:
        """Bytes held: the kernel and every resource built so far."""
        total = self.kernel.nbytes
        if self._csr is not None:
            total += self._csr.data.nbytes + self._csr.indices.nbytes + self._csr.indptr.nbytes
        if self._dense is not None:
            total += self._dense.nbytes
        total += sum(spec.nbytes for spec, _ in self._spectra.values())
        return total

    @property
    def built_csr(self) -> sp.csr_array | None:
        """The CSR matrix if it has been built, else None (nothing is built)."""
        return self._csr

    @cached_property
    def finite_kernel(self) -> bool:
        """Whether every tap is finite."""
        return bool(np.isfinite(self.kernel).all()) if self.dtype.kind in "fc" else True

    # -- resources, built once -------------------------------------------------
    def csr(self) -> sp.csr_array:
        """The CSR matrix, refused beyond the machine's memory before anything is built."""
        with self._lock:
            if self._csr is None:
                check_sparse_fits(self.plan, self.dtype)
                csr = build_csr(self.kernel, self.plan)
                for arr in (csr.data, csr.indices, csr.indptr):
                    _readonly(arr)
                self._csr = csr
            return self._csr

    def dense(self) -> np.ndarray:
        """The dense matrix, refused over the dense budget before anything is built."""
        check_dense_fits(self.plan, self.dtype, None, METHOD_ADVICE)
        csr = self.csr()
        with self._lock:
            if self._dense is None:
                self._dense = _readonly(csr.toarray())
            return self._dense

    def _spectrum(
        self,
        transpose: bool,
        real: bool,
        precision: np.dtype,
        absolute: bool,
        shape: tuple[int, ...],
    ) -> tuple[np.ndarray, int]:
        """The kernel's spectrum of size `shape` (of ``|kernel|`` with `absolute`), scaled
        by ``2**-shift``."""
        key = (transpose, real, precision.str, absolute, shape)
        with self._lock:
            if key not in self._spectra:
                k = np.abs(self.kernel) if absolute else self.kernel
                shift = int(_safe_exponents(k[None], precision)[0])
                k = _ldexp(k, -shift).astype(_wide(precision, k.dtype))
                spec = _padded_transform(k, shape, real=real)
                # conj(K) correlates: it is the spectrum of the adjoint A^H
                self._spectra[key] = (_readonly(spec.conj() if transpose else spec), shift)
            return self._spectra[key]

    def _fold_ops(self) -> list[sp.csr_array | slice]:
        """Per axis: how the window maps back onto the input (a slice, or a 0/1 matrix)."""
        with self._lock:
            if self._folds is None:
                folds: list[sp.csr_array | slice] = []
                for mp in self.plan.maps:
                    run = mp.input_run
                    if run is None:
                        w = mp.window
                        inside = np.flatnonzero(w >= 0)
                        run = sp.csr_array(
                            (np.ones(inside.size), (inside, w[inside])), shape=(w.size, mp.n)
                        )
                    folds.append(run)
                self._folds = folds
            return self._folds

    # -- extension of the input to the window, and its transpose ---------------
    def extend(self, x: np.ndarray) -> np.ndarray:
        """``(B, *input_shape)`` -> ``(B, *window_shape)``: the input the outputs read."""
        if self.linear:
            if self.window_shape == self.plan.input_shape:  # 'valid': the window is the input
                return x  # callers only read the window
            out = np.zeros((x.shape[0], *self.window_shape), dtype=x.dtype)
            out[_batched(mp.input_run for mp in self.plan.maps)] = x
            return out
        for d, mp in enumerate(self.plan.maps):
            x = mp.extend(x, d + 1)
        return x

    def fold(self, z: np.ndarray) -> np.ndarray:
        """Transpose of :meth:`extend`: ``(B, *window_shape)`` -> ``(B, *input_shape)``."""
        folds = self._fold_ops()
        if all(isinstance(f, slice) for f in folds):
            return z[_batched(folds)]
        for d, fold in enumerate(folds):
            if isinstance(fold, slice):
                index = [slice(None)] * z.ndim
                index[d + 1] = fold
                z = z[tuple(index)]
                continue
            moved = np.moveaxis(z, d + 1, -1)
            flat = moved.reshape(-1, moved.shape[-1])
            folded = np.asarray(flat @ fold.astype(z.dtype))
            z = np.moveaxis(folded.reshape(*moved.shape[:-1], fold.shape[1]), -1, d + 1)
        return z

    # -- the products -------------------------------------------------------------
    def forward(self, x: np.ndarray, method: Method) -> np.ndarray:
        """``A @ x`` for each row of ``x`` (shape ``(B, n_in)``), shape ``(B, n_out)``."""
        n_out = self.plan.shape[0]
        out_dtype = np.result_type(x.dtype, self.dtype)
        if method == "sparse":
            csr = self.csr()
            return split_batch(
                lambda b: np.asarray(csr @ b.T).T, x, n_out, out_dtype, self.plan.nnz * x.shape[0]
            )
        if method == "dense":
            return np.asarray(x @ self.dense().T)
        if method == "shift":
            taps = len(self._taps) * n_out * x.shape[0]
            return split_batch(self._shift_flat, x, n_out, out_dtype, taps)
        if method == "banded":
            xw = self.extend(x.reshape(x.shape[0], *self.plan.input_shape))
            flipped = self.kernel[::-1, ::-1]  # tap j reads window position o + m - 1 - j
            out = _banded.correlate(xw, flipped, self._plane(self.plan.output_shape))
            return out.reshape(x.shape[0], n_out)
        return self.fft(x, transpose=False, precision=FFT_PRECISION)

    @staticmethod
    def _plane(shape: tuple[int, ...]) -> tuple[int, int]:
        """A 2-D plan's shape, as the banded method takes it (it serves 2-D plans only)."""
        if len(shape) != 2:
            msg = f"method 'banded' serves 2-D kernels only, got a {len(shape)}-D plan"
            raise ValueError(msg)
        return shape[0], shape[1]

    @cached_property
    def separable(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The factors ``(u, v)`` of a rank-one 2-D float kernel, which the shift method
        applies as a pass along each axis (:mod:`convmat._engines.separable`); None for
        any other kernel."""
        if len(self.plan.maps) != 2 or not all(mp.convolution for mp in self.plan.maps):
            return None
        return _separable.factors(self.kernel)

    def _shift_flat(self, x: np.ndarray) -> np.ndarray:
        if self.line is not None:
            return self._line_forward(x)
        if self.separable is not None:
            u, v = self.separable
            mp0, mp1 = self.plan.maps
            shape = self.plan.output_shape
            images = x.reshape(x.shape[0], *self.plan.input_shape)
            out = _separable.forward(images, u, v, (mp0, mp1), (shape[0], shape[1]))
            return out.reshape(x.shape[0], -1)
        xw = self.extend(x.reshape(x.shape[0], *self.plan.input_shape))
        return self._shift(xw).reshape(x.shape[0], -1)

    def _line_forward(self, x: np.ndarray) -> np.ndarray:
        """:meth:`_line` forward; with zero padding, a slice of the full convolution of the
        input itself, with no extended copy."""
        assert self.line is not None
        mp = self.plan.maps[self.line]
        if mp.input_run is None:
            xw = self.extend(x.reshape(x.shape[0], *self.plan.input_shape))
            return self._line(xw.reshape(x.shape[0], -1), transpose=False)
        k = self.kernel.reshape(-1)
        # output o is entry start + o of the full convolution
        rows = [np.convolve(row, k, "full")[mp.start : mp.start + mp.length] for row in x]
        return rows[0][None] if len(rows) == 1 else np.stack(rows)

    def _shift_t_flat(self, y: np.ndarray) -> np.ndarray:
        if self.line is not None:
            z = self._line(y, transpose=True).reshape(y.shape[0], *self.window_shape)
        elif self.separable is not None:
            u, v = self.separable
            out = self.plan.output_shape
            window = (self.window_shape[0], self.window_shape[1])
            z = _separable.transpose(y.reshape(y.shape[0], out[0], out[1]), u, v, window)
        else:
            z = self._shift_t(y.reshape(y.shape[0], *self.plan.output_shape))
        return self.fold(z).reshape(y.shape[0], -1)

    def _line(self, rows: np.ndarray, *, transpose: bool) -> np.ndarray:
        """Shift-and-add of a 1-D convolution by numpy's convolve, signal by signal.

        Forward: the window's 'valid' convolution with the kernel. Transpose:
        the outputs' 'full' convolution with the reversed kernel, on the window.
        Every tap enters each sum (zeros too), as in a direct convolution.
        """
        k = self.kernel.reshape(-1)
        width = math.prod(self.window_shape) if transpose else self.plan.shape[0]
        out = np.empty((rows.shape[0], width), dtype=np.result_type(rows.dtype, k.dtype))
        for b in range(rows.shape[0]):
            if transpose:
                out[b] = np.convolve(rows[b], k[::-1], "full")
            else:
                out[b] = np.convolve(rows[b], k, "valid")
        return out

    def transpose(self, y: np.ndarray, method: Method) -> np.ndarray:
        """``A.T @ y`` for each row of ``y`` (shape ``(B, n_out)``), shape ``(B, n_in)``."""
        n_in = self.plan.shape[1]
        out_dtype = np.result_type(y.dtype, self.dtype)
        if method == "sparse":
            csc = self.csr().T
            return split_batch(
                lambda b: np.asarray(csc @ b.T).T, y, n_in, out_dtype, self.plan.nnz * y.shape[0]
            )
        if method == "dense":
            return np.asarray(y @ self.dense())
        if method == "shift":
            taps = len(self._taps) * self.plan.shape[0] * y.shape[0]
            return split_batch(self._shift_t_flat, y, n_in, out_dtype, taps)
        if method == "banded":
            outputs = y.reshape(y.shape[0], *self._plane(self.plan.output_shape))
            flipped = self.kernel[::-1, ::-1]
            z = _banded.transpose(outputs, flipped, self._plane(self.window_shape))
            return self.fold(z).reshape(y.shape[0], n_in)
        return self.fft(y, transpose=True, precision=FFT_PRECISION)

    @cached_property
    def reads(self) -> int:
        """Most outputs through which one tap reads one input: the terms of a transpose per tap."""
        return math.prod(mp.reads for mp in self.plan.maps)

    def _tap_list(self, zeros: bool) -> list[tuple[np.generic, tuple[slice, ...]]]:
        taps = []
        for j in np.ndindex(*self.kernel.shape):
            value = self.kernel[j]
            if value == 0 and not zeros:
                continue
            taps.append(
                (
                    value,
                    tuple(
                        slice(mp.m - 1 - jd, mp.m - 1 - jd + mp.length)
                        for mp, jd in zip(self.plan.maps, j, strict=True)
                    ),
                )
            )
        return taps

    @cached_property
    def _taps(self) -> list[tuple[np.generic, tuple[slice, ...]]]:
        """The nonzero taps and the window slice each one reads."""
        return self._tap_list(zeros=False)

    def direct(self, x: np.ndarray, *, transpose: bool) -> np.ndarray:
        """``A @ x`` (or ``A.T @ x``) tap by tap over every tap, zeros included: NaN and
        inf spread exactly as in a direct convolution (``0 * inf`` is NaN).

        The products of a tap with zero padding are left out, as numpy's
        convolve leaves them out: a non-finite tap adds nothing where it reads
        the padding. Where scipy counts them, the caller adds them
        (``convmat._engines.apply``'s padding offset).
        """
        batch = x.shape[0]
        with np.errstate(invalid="ignore", over="ignore"):
            if self.line is not None:
                return self._shift_t_flat(x) if transpose else self._shift_flat(x)
            taps = self._tap_list(zeros=True)
            if transpose:
                z = self._shift_t(x.reshape(batch, *self.plan.output_shape), taps)
                return self.fold(z).reshape(batch, -1)
            xw = self.extend(x.reshape(batch, *self.plan.input_shape))
            finite = [(v, sl) for v, sl in taps if np.isfinite(v)]
            out = self._shift(xw, finite)
            if len(finite) < len(taps):
                inside = self.extend(np.ones((1, *self.plan.input_shape), dtype=bool))[0]
                for value, sl in taps:
                    if not np.isfinite(value):
                        term = xw[_batched(sl)] * value
                        term[:, ~inside[sl]] = 0  # no product with the padding
                        out += term
            return out.reshape(batch, -1)

    @cached_property
    def image_bytes(self) -> int:
        """Bytes of one image's window and output: what one shift pass reads and writes."""
        cells = math.prod(self.window_shape) + math.prod(self.plan.output_shape)
        return cells * self.dtype.itemsize

    def block(self, batch: int) -> int:
        """Images per block of the shift method: a block of input and output fits 1 MiB."""
        return max(1, min(batch, CACHE_BYTES // max(self.image_bytes, 1)))

    def strip_rows(self, batch: int) -> int:
        """Rows of the first output axis per pass of the shift method: all of them, unless
        one image's input and output outgrow :data:`CACHE_BYTES`; then strips of a quarter
        of it, so that each tap's pass reads and writes the cache, not memory."""
        out = self.plan.output_shape
        if self.block(batch) > 1 or len(out) < 2 or self.image_bytes <= CACHE_BYTES:
            return out[0]
        row = math.prod(out[1:]) * self.dtype.itemsize
        return max(1, min(out[0], CACHE_BYTES // 4 // max(row, 1)))

    def _shift(
        self, xw: np.ndarray, taps: list[tuple[np.generic, tuple[slice, ...]]] | None = None
    ) -> np.ndarray:
        """Every output the sum of its taps' products, in tap order: blocks of images, and
        strips of rows of large images, change where the sums are taken, never their order."""
        batch = xw.shape[0]
        out = np.zeros((batch, *self.plan.output_shape), dtype=xw.dtype)
        step, rows = self.block(batch), self.strip_rows(batch)
        tmp = np.empty((step, rows, *self.plan.output_shape[1:]), dtype=xw.dtype)
        taps = self._taps if taps is None else taps
        for b0 in range(0, batch, step):
            blk = slice(b0, min(b0 + step, batch))
            for r0 in range(0, self.plan.output_shape[0], rows):
                r1 = min(r0 + rows, self.plan.output_shape[0])
                o = out[blk, r0:r1]
                t = tmp[: o.shape[0], : r1 - r0]
                for value, sl in taps:
                    first = slice(sl[0].start + r0, sl[0].start + r1)
                    np.multiply(xw[_batched((first, *sl[1:]))][blk], value, out=t)
                    o += t
        return out

    def _shift_t(
        self, y: np.ndarray, taps: list[tuple[np.generic, tuple[slice, ...]]] | None = None
    ) -> np.ndarray:
        batch = y.shape[0]
        z = np.zeros((batch, *self.window_shape), dtype=y.dtype)
        step = self.block(batch)
        tmp = np.empty((step, *self.plan.output_shape), dtype=y.dtype)
        taps = self._taps if taps is None else taps
        for b0 in range(0, batch, step):
            blk = slice(b0, min(b0 + step, batch))
            yb = y[blk]
            t = tmp[: yb.shape[0]]
            zb = z[blk]
            for value, sl in taps:
                np.multiply(yb, value, out=t)
                zb[_batched(sl)] += t
        return z

    def fft(
        self, x: np.ndarray, *, transpose: bool, precision: np.dtype, absolute: bool = False
    ) -> np.ndarray:
        """``A @ x`` (or ``A.T @ x``) of flat rows by the FFT, computed in `precision`.

        With `absolute`, ``|A| @ x`` for a non-negative `x` (the caller's
        ``|x|``): the scale that bounds the rounding of a direct sum at each
        output.
        """
        batch = x.shape[0]
        if transpose:
            ys = x.reshape(batch, *self.plan.output_shape)
            z = self._fft(ys, transpose=True, precision=precision, absolute=absolute)
            return (z if self.linear else self.fold(z)).reshape(batch, -1)
        images = x.reshape(batch, *self.plan.input_shape)
        if self.blocking is not None:
            return self._fft_blocked(images, precision=precision, absolute=absolute)
        xw = images if self.linear else self.extend(images)
        return self._fft(xw, transpose=False, precision=precision, absolute=absolute).reshape(
            batch, -1
        )

    @property
    def fft_size(self) -> int:
        """Entries of one transform of a forward product: a block's, or the whole image's."""
        return math.prod(self.fft_shape if self.blocking is None else self.blocking[1])

    @property
    def fft_count(self) -> int:
        """Transforms per image of a forward product: its overlap-save blocks, or one."""
        if self.blocking is None:
            return 1
        return -(-self.plan.output_shape[0] // self.blocking[0])

    @property
    def fft_reads(self) -> int:
        """Input entries one transform of a forward product reads (at most)."""
        if self.blocking is None:
            return self.plan.shape[1]
        rows = self.blocking[0] + self.plan.maps[0].m - 1
        return min(self.plan.shape[1], rows * math.prod(self.window_shape[1:]))

    def _fft_blocked(
        self, images: np.ndarray, *, precision: np.dtype, absolute: bool
    ) -> np.ndarray:
        """The forward FFT by overlap-save along the first axis: each block of
        ``rows`` outputs is the 'valid' part of the transform of the window rows it reads
        (``rows + m - 1``), in groups of blocks of at most :data:`FFT_GROUP_BYTES` in the
        transforms' precision (at least one block), each group transformed in one call
        and written into the result: the transforms' temporaries stay a group's, not the
        batch's. Every block is transformed as it would be alone, so the grouping does not
        change the result."""
        assert self.blocking is not None
        rows, shape = self.blocking
        batch, length = images.shape[0], self.plan.output_shape[0]
        count = -(-length // rows)
        span = rows + self.plan.maps[0].m - 1
        # the window, cut into overlapping slabs laid into the transforms' zero padding
        extent = (span, *self.window_shape[1:])  # the transforms pad it to `shape`
        wide = self._wide(images, precision, absolute)
        out_dtype = self._product_dtype(images.dtype, precision, absolute)
        cells = math.prod(self.plan.output_shape[1:])
        out = np.empty((batch, length, cells), dtype=out_dtype)
        # a block's transform in its precision, complex where the data are
        block_bytes = math.prod(shape) * wide.itemsize
        group_bytes = _group_bytes(images.nbytes)
        per_group = max(1, group_bytes // block_bytes)
        # whole images per group where their blocks fit, else blocks of one image
        image_step = max(1, per_group // count)
        block_step = min(count, per_group)
        if self.linear:
            # the input where the window holds it, zero padding elsewhere
            run = self.plan.maps[0].input_run
            assert run is not None
            inner: list[slice | int] = [mp.input_run or slice(None) for mp in self.plan.maps[1:]]
            start: int = run.start

            def window_rows(i0: int, i1: int, lo: int, hi: int) -> np.ndarray:
                return images[i0:i1, lo - start : hi - start]
        else:
            # each block's rows of the window extended from the input as the block is laid
            # out: no extended copy of the whole input
            run = slice(0, self.window_shape[0])
            inner = [slice(None)] * (len(self.window_shape) - 1)
            index = self.plan.maps[0].window

            def window_rows(i0: int, i1: int, lo: int, hi: int) -> np.ndarray:
                at = index[lo:hi]
                part = images[i0:i1, np.maximum(at, 0)]
                part[:, at < 0] = 0  # zero padding along the first axis
                for d, mp in enumerate(self.plan.maps[1:], start=2):
                    part = mp.extend(part, d)
                return part

        keep = tuple(
            slice(mp.m - 1, mp.m - 1 + n)
            for mp, n in zip(self.plan.maps, (rows, *self.plan.output_shape[1:]), strict=True)
        )

        def group(i0: int, i1: int, b0: int, b1: int) -> None:
            slabs = np.zeros((i1 - i0, b1 - b0, *extent), dtype=wide)
            for b in range(b0, b1):
                lo, hi = max(run.start, b * rows), min(run.stop, b * rows + span)
                if lo < hi:
                    at = [slice(None), b - b0, slice(lo - b * rows, hi - b * rows), *inner]
                    slabs[tuple(at)] = window_rows(i0, i1, lo, hi)
            got = self._transform(
                slabs.reshape((i1 - i0) * (b1 - b0), *extent),
                shape,
                transpose=False,
                absolute=absolute,
                out_dtype=images.dtype,
                keep=keep,
            )
            del slabs
            stop = min(length, b1 * rows)
            got = got.reshape(i1 - i0, (b1 - b0) * rows, cells)
            out[i0:i1, b0 * rows : stop] = got[:, : stop - b0 * rows]

        for i0 in range(0, batch, image_step):
            for b0 in range(0, count, block_step):
                group(i0, min(batch, i0 + image_step), b0, min(count, b0 + block_step))
        return out.reshape(batch, -1)

    def _fft(
        self,
        a: np.ndarray,
        *,
        transpose: bool,
        precision: np.dtype,
        absolute: bool,
    ) -> np.ndarray:
        """The product of the images `a` (the window, or the outputs in a transpose) by one
        transform each: `a` laid into the transform's zero padding in `precision`."""
        wide = self._wide(a, precision, absolute)
        keep = self._fft_in if transpose else self._fft_out
        shifts = _safe_exponents(a, precision)

        batch = a.shape[0]
        size = math.prod(self.fft_shape)
        # large real 2-D images transformed in a wider precision than their own: one axis
        # at a time in one padded half spectrum (measured against one multi-axis call:
        # 0.7x to 0.9x the time for float32 data, at half the memory; 1.1x to 1.3x the
        # time for double precision data and for volumes, which keep the one call)
        lean = (
            not transpose
            and wide.kind != "c"
            and len(self.fft_shape) == 2
            and wide.itemsize > a.dtype.itemsize
            and size * wide.itemsize >= LEAN_FFT_BYTES
        )

        def product(lo: int, hi: int) -> np.ndarray:
            if lean:
                return self._lean_product(
                    a[lo:hi], precision=precision, absolute=absolute, shifts=shifts[lo:hi]
                )
            if transpose:  # the outputs sit inside the transform, not at its start
                buf = np.zeros((hi - lo, *self.fft_shape), dtype=wide)
                buf[_batched(self._fft_out)] = a[lo:hi]
            else:  # the transforms pad the data at its end
                buf = a[lo:hi].astype(wide, copy=False)  # read, never written
            return self._transform(
                buf,
                self.fft_shape,
                transpose=transpose,
                absolute=absolute,
                out_dtype=a.dtype,
                keep=keep,
                shifts=shifts[lo:hi],
            )

        step = max(1, _group_bytes(a.nbytes) // (size * wide.itemsize))
        if step >= batch:
            return product(0, batch)
        # images in groups: the transforms' temporaries stay a group's, not the batch's
        first = product(0, step)
        out = np.empty((batch, *first.shape[1:]), dtype=first.dtype)
        out[:step] = first
        del first

        for lo in range(step, batch, step):
            out[lo : lo + step] = product(lo, min(batch, lo + step))
        return out

    def _lean_product(
        self, a: np.ndarray, *, precision: np.dtype, absolute: bool, shifts: np.ndarray
    ) -> np.ndarray:
        """:meth:`_transform` of real images `a` (the window, at the transform's start)
        with a real kernel, holding one padded half spectrum and the result: the real
        transforms along the last axis a chunk of rows at a time (each chunk cast to
        `precision` as it goes), the complex ones along the other axes in place, the
        inverse likewise, and only the kept outputs brought back to real."""
        batch, shape, ndim = a.shape[0], self.fft_shape, len(self.fft_shape)
        keep = self._fft_out
        spec, k_shift = self._spectrum(False, True, precision, absolute, shape)
        complex_ = np.result_type(precision, np.complex64)
        half = np.zeros((batch, *shape[:-1], shape[-1] // 2 + 1), dtype=complex_)
        out_dtype = self._product_dtype(a.dtype, precision, absolute)
        down = -shifts.reshape(-1, *[1] * ndim)
        line = math.prod(a.shape[2:]) * batch  # entries of one row along the first axis
        step = max(1, CHUNK_ROWS_BYTES // max(line * half.itemsize, 1))
        inner = tuple(slice(0, n) for n in a.shape[2:-1])
        for r in range(0, a.shape[1], step):
            rows = a[:, r : r + step].astype(precision)
            rows = _ldexp(rows, down)
            part = sfft.rfft(rows, n=shape[-1], axis=-1)
            at = (slice(None), slice(r, r + rows.shape[1]), *inner)
            half[at] = part
        # the other axes in place, forward, the kernel's spectrum, and back
        for axis in range(1, ndim):
            _in_place(sfft.fft, half, axis)
        half *= spec
        for axis in range(1, ndim):
            _in_place(sfft.ifft, half, axis)
        kept = half[_batched(keep[:-1])]
        out = np.empty((batch, *(k.stop - k.start for k in keep)), dtype=out_dtype)
        up = (shifts + k_shift).reshape(-1, *[1] * ndim)
        line = math.prod(kept.shape[2:]) * batch
        step = max(1, CHUNK_ROWS_BYTES // max(line * half.itemsize, 1))
        for r in range(0, kept.shape[1], step):
            real = sfft.irfft(kept[:, r : r + step], n=shape[-1], axis=-1)[..., keep[-1]]
            with np.errstate(over="ignore"):
                out[:, r : r + step] = _ldexp(real, up)
        return out

    def _product_dtype(self, data: np.dtype, precision: np.dtype, absolute: bool) -> np.dtype:
        """The dtype of a product of data of dtype `data` computed in `precision`: the
        data's with the kernel's, or (`absolute`, a bound's scale) the precision itself."""
        return precision if absolute else np.result_type(data, self.dtype)

    def _wide(self, a: np.ndarray, precision: np.dtype, absolute: bool) -> np.dtype:
        """The transforms' dtype: `precision`, complex when the data or the kernel is
        (the kernel's magnitude with `absolute`)."""
        complex_ = not absolute and (a.dtype.kind == "c" or self.dtype.kind == "c")
        return _wide(precision, np.dtype(np.complex64) if complex_ else precision)

    def _transform(
        self,
        buf: np.ndarray,
        shape: tuple[int, ...],
        *,
        transpose: bool,
        absolute: bool,
        out_dtype: np.dtype,
        keep: tuple[slice, ...],
        shifts: np.ndarray | None = None,
    ) -> np.ndarray:
        """The circular convolution of size `shape` of each image of `buf` (in the
        transform's precision, zero-padded at the end of each axis to `shape`; the
        caller's data may be `buf` itself, so it is never written, but conjugated in
        place for a complex kernel's transpose, whose `buf` is a fresh embedding) with the
        kernel, its `keep` part in `out_dtype`'s precision (with the kernel's); with
        `absolute` (``|k|`` on ``|x|``, a bound's scale) in the transform's own precision.
        `shifts`: :func:`_safe_exponents` of `buf`, when known.

        Where :func:`_prune` says so, one axis at a time: the forward transforms run only
        over the rows that hold data, the inverse ones only over the rows that are kept."""
        precision = np.empty(0, buf.dtype).real.dtype
        out_dtype = self._product_dtype(out_dtype, precision, absolute)
        ndim = len(shape)
        real = buf.dtype.kind != "c"
        complex_kernel = self.dtype.kind == "c" and not absolute
        if transpose and complex_kernel:
            # A.T y = conj(A^H conj(y)); A^H is the correlation with conj(K)
            np.conjugate(buf, out=buf)
        if shifts is None:
            shifts = _safe_exponents(buf, precision)
        if shifts.any():
            buf = _ldexp(buf, -shifts.reshape(-1, *[1] * ndim))
        spec, k_shift = self._spectrum(transpose, real, precision, absolute, shape)
        if _prune(buf.shape[1:], shape):
            prod = _padded_transform(buf, shape, real=real, batched=True)
            del buf
            prod *= spec
            out = _kept_inverse(prod, shape, keep, real=real)
        else:  # one multi-axis call each way: faster in 1-D and 2-D
            axes = tuple(range(1, ndim + 1))
            forward, inverse = (sfft.rfftn, sfft.irfftn) if real else (sfft.fftn, sfft.ifftn)
            prod = forward(buf, s=shape, axes=axes, workers=_workers(buf.size))
            del buf
            prod *= spec
            out = inverse(prod, s=shape, axes=axes, workers=_workers(prod.size), overwrite_x=True)
            out = out[_batched(keep)]
        del prod
        if transpose and complex_kernel:
            out = out.conj()
        scale = (shifts + k_shift).reshape(-1, *[1] * ndim)
        with np.errstate(over="ignore"):  # only a result beyond the dtype's range overflows
            return np.asarray(_ldexp(out, scale).astype(out_dtype, copy=False))


FFT_PRECISION = np.dtype(np.float64)  # an explicit method='fft' computes in float64


def _in_place(transform: Callable[..., np.ndarray], a: np.ndarray, axis: int) -> None:
    """`transform` (scipy.fft's fft or ifft) of `a` along `axis` (not the last), written
    into `a`: the leading axis's slices one at a time where `axis` is further in, so that
    no transform copies the whole array."""
    if axis == 1 or a.shape[1] == 1:
        done = transform(a, axis=axis, overwrite_x=True, workers=_workers(a.size))
        if not np.shares_memory(done, a):
            a[...] = done
        return
    for i in range(a.shape[1]):
        view = a[:, i]
        done = transform(view, axis=axis - 1, overwrite_x=True, workers=_workers(view.size))
        if not np.shares_memory(done, view):
            view[...] = done


def _group_bytes(data: int) -> int:
    """The bytes of a group of transforms for `data` bytes of input: a quarter of them,
    within :data:`MIN_GROUP_BYTES` and :data:`FFT_GROUP_BYTES` (measured: smaller groups
    pay their calls on small images, larger ones their temporaries on large ones). Each
    group's transforms take the threads their own size warrants: on a whole call's
    count, small transforms lost more to threading than they gained."""
    return min(FFT_GROUP_BYTES, max(MIN_GROUP_BYTES, data // 4))


def _workers(size: int) -> int:
    """Threads for a transform pass over `size` entries: all of them only on large ones."""
    return THREADS if size >= 2**18 else 1


def _padded_transform(
    k: np.ndarray, shape: tuple[int, ...], *, real: bool, batched: bool = False
) -> np.ndarray:
    """``rfftn(k, s=shape)`` (``fftn`` unless `real`) of an array zero-padded at the end of
    each axis to `shape` (over the axes after the first with `batched`): one axis at a time
    from the last, each transform over the rows that are not all zeros yet, instead of
    over the whole padded array."""
    lead = 1 if batched else 0
    out = k
    for axis in reversed(range(lead, k.ndim)):
        n = shape[axis - lead]
        transform = sfft.rfft if real and axis == k.ndim - 1 else sfft.fft
        size = out.size * n // max(out.shape[axis], 1)
        out = transform(out, n=n, axis=axis, workers=_workers(size), overwrite_x=out is not k)
    return np.asarray(out)


def _prune(extent: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Whether transforms of data of `extent` padded to `shape` go faster one axis at a time
    over the nonzero rows (:func:`_padded_transform`, :func:`_kept_inverse`) than as one
    multi-axis call: in three or more dimensions, or where the data fill under half of the
    rows (measured: 0.6x the time on 64^3 in 80^3, 1.2x on 512^2 in 576^2)."""
    rows = math.prod(extent[:-1]) / max(math.prod(shape[:-1]), 1)
    return len(shape) >= 3 or rows < 0.5


def _kept_inverse(
    spec: np.ndarray, shape: tuple[int, ...], keep: tuple[slice, ...], *, real: bool
) -> np.ndarray:
    """``irfftn(spec, s=shape)[:, *keep]`` (``ifftn`` unless `real`) over the axes after the
    first: one axis at a time from the first, each cut to its kept rows before the next
    axis is transformed, so that no transform runs over rows that are dropped."""
    out = spec
    for axis in range(1, spec.ndim):
        n = shape[axis - 1]
        size = out.size
        if real and axis == spec.ndim - 1:
            out = sfft.irfft(out, n=n, axis=axis, workers=_workers(size), overwrite_x=True)
        else:
            out = sfft.ifft(out, n=n, axis=axis, workers=_workers(size), overwrite_x=True)
        index: list[slice] = [slice(None)] * out.ndim
        index[axis] = keep[axis - 1]
        out = out[tuple(index)]
    return np.asarray(out)


BLOCK_ENTRIES = 2**14  # least entries of one block's transform (overlap-save)
BLOCK_OVERLAP = 8  # a block's transform spans at least this many times the kernel's rows
BLOCK_COUNT = 4  # least blocks of a window that is cut
# a group of overlap-save blocks transformed in one call, in the transforms' precision
FFT_GROUP_BYTES = 2**20
MIN_GROUP_BYTES = 2**19  # ... and at least this, or a quarter of the data if more
LEAN_FFT_BYTES = 2**20  # a real image's transform from which it runs one axis at a time
CHUNK_ROWS_BYTES = 2**20  # rows of a lean transform's real passes, in its spectrum's bytes


def _blocking(plan: Plan, window_shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]] | None:
    """Overlap-save blocks of a forward FFT along the first axis: the outputs per block
    and the block's transform shape, or None where one transform serves best.

    A block's transform spans at least ``8 (m - 1)`` rows (the overlap costs at most an
    eighth) and :data:`BLOCK_ENTRIES` entries; the window is cut only when it holds four
    such blocks or more. Small blocks stay in cache, run on every core as one batch, and
    bound the FFT's rounding by each block's own norm.
    """
    m0 = plan.maps[0].m
    rest = tuple(sfft.next_fast_len(w, real=True) for w in window_shape[1:])
    rows = max(BLOCK_OVERLAP * (m0 - 1), BLOCK_ENTRIES // max(math.prod(rest), 1), 1)
    first = sfft.next_fast_len(rows, real=not rest)
    if window_shape[0] < BLOCK_COUNT * first:
        return None
    return first - m0 + 1, (first, *rest)


def is_long_double(precision: np.dtype) -> bool:
    """Whether `precision` is wider than float64 (x86's 80-bit long double)."""
    return precision.itemsize > 8


def _wide(precision: np.dtype, dtype: np.dtype) -> np.dtype:
    """`precision`, complex when `dtype` is."""
    return np.result_type(precision, np.complex64) if dtype.kind == "c" else precision


def _ldexp(arr: np.ndarray, exps: np.ndarray | int) -> np.ndarray:
    """``arr * 2**exps``, exactly (but for overflow and underflow), real or complex.

    A product with a power of two rounds exactly as ``ldexp`` does; the powers
    (one per row) are built by ``ldexp`` when they are representable.
    """
    real = np.empty(0, arr.dtype).real.dtype
    e = np.asarray(exps)
    if not e.any():
        return arr
    info = np.finfo(real)
    if e.size and int(e.max()) < info.maxexp and int(e.min()) >= info.minexp:
        return np.asarray(arr * np.ldexp(np.ones(e.shape, real), e))
    if arr.dtype.kind == "c":
        return np.asarray(np.ldexp(arr.real, e) + 1j * np.ldexp(arr.imag, e)).astype(
            arr.dtype, copy=False
        )
    return np.asarray(np.ldexp(arr, e)).astype(arr.dtype, copy=False)


def _safe_exponents(a: np.ndarray, precision: np.dtype) -> np.ndarray:
    """Per row of `a`, the power of two to scale it by before a transform in `precision`:
    0 where its largest magnitude lies in ``[1/2, 2**(maxexp/4)]``, else the ``e`` with
    ``max|row| < 2**e``. No transform then overflows a finite input, and underflow stays
    below ``size * tiny`` of the row's largest magnitude, twice over."""
    exps = _exponents(a)
    limit = np.finfo(precision).maxexp // 4
    return np.where((exps >= 0) & (exps <= limit), 0, exps)


def _exponents(a: np.ndarray) -> np.ndarray:
    """Per row (first axis) of `a`, the ``e`` with ``max|row| < 2**e``: the power of two to
    scale by (0 for a row of zeros or with a non-finite value)."""
    rows = a.reshape(a.shape[0], -1)
    # in the data's own precision: a long double beyond float64's range keeps its exponent
    if rows.dtype.kind == "c":
        peak = np.abs(rows).max(axis=1, initial=0)
    else:  # two reductions, no temporary of |a|
        high = rows.max(axis=1, initial=0)
        peak = np.maximum(high, -rows.min(axis=1, initial=0))
    exps = np.frexp(peak)[1].astype(np.int64)
    return np.where((peak > 0) & np.isfinite(peak), exps, 0)
