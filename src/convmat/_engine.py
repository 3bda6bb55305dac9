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
from collections.abc import Iterable
from typing import Literal

import numpy as np
import scipy.fft as sfft
import scipy.sparse as sp

from ._build import Plan, build_csr

__all__: list[str] = []

Method = Literal["sparse", "dense", "shift", "fft"]
METHODS: tuple[Method, ...] = ("sparse", "dense", "shift", "fft")
_CACHE_BYTES = 2**20  # batch block of the shift method


def _batched(index: Iterable[slice | None]) -> tuple[slice | None, ...]:
    """An index that keeps the batch axis and applies `index` to the others."""
    return (slice(None), *index)


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


class Engine:
    """Products with the matrix of `plan` and `kernel` (dtype = working dtype)."""

    def __init__(self, kernel: np.ndarray, plan: Plan) -> None:
        self.kernel = _readonly(np.array(kernel, copy=True))
        self.plan = plan
        self.dtype = self.kernel.dtype
        self._lock = threading.Lock()
        self._csr: sp.csr_array | None = None
        self._dense: np.ndarray | None = None
        self._spectra: dict[tuple[bool, bool], np.ndarray] = {}
        self._folds: list[sp.csr_array | slice | None] | None = None
        self.window_shape = tuple(mp.length + mp.m - 1 for mp in plan.maps)
        self.fft_shape = tuple(sfft.next_fast_len(w, real=True) for w in self.window_shape)

    @property
    def nbytes(self) -> int:
        """Bytes held: the kernel and every resource built so far."""
        total = self.kernel.nbytes
        if self._csr is not None:
            total += self._csr.data.nbytes + self._csr.indices.nbytes + self._csr.indptr.nbytes
        if self._dense is not None:
            total += self._dense.nbytes
        total += sum(s.nbytes for s in self._spectra.values())
        return total

    # -- resources, built once -------------------------------------------------
    def csr(self) -> sp.csr_array:
        with self._lock:
            if self._csr is None:
                csr = build_csr(self.kernel, self.plan)
                for arr in (csr.data, csr.indices, csr.indptr):
                    _readonly(arr)
                self._csr = csr
            return self._csr

    def dense(self) -> np.ndarray:
        csr = self.csr()
        with self._lock:
            if self._dense is None:
                self._dense = _readonly(csr.toarray())
            return self._dense

    def _spectrum(self, transpose: bool, real: bool) -> np.ndarray:
        key = (transpose, real)
        with self._lock:
            if key not in self._spectra:
                axes = tuple(range(len(self.fft_shape)))
                spec = (sfft.rfftn if real else sfft.fftn)(self.kernel, s=self.fft_shape, axes=axes)
                # conj(K) correlates: it is the spectrum of the adjoint A^H
                self._spectra[key] = _readonly(spec.conj() if transpose else spec)
            return self._spectra[key]

    def _fold_ops(self) -> list[sp.csr_array | slice | None]:
        """Per axis: how the window maps back onto the input (a slice, or a 0/1 matrix)."""
        with self._lock:
            if self._folds is None:
                folds: list[sp.csr_array | slice | None] = []
                for mp in self.plan.maps:
                    w = mp.window
                    inside = np.flatnonzero(w >= 0)
                    first = int(inside[0])
                    run = w[inside]
                    if (
                        run.size == mp.n
                        and np.array_equal(run, np.arange(mp.n))
                        and (inside[-1] - first + 1 == mp.n)
                    ):
                        folds.append(slice(first, first + mp.n))
                    else:
                        folds.append(
                            sp.csr_array(
                                (np.ones(inside.size), (inside, w[inside])),
                                shape=(w.size, mp.n),
                            )
                        )
                self._folds = folds
            return self._folds

    # -- extension of the input to the window, and its transpose ---------------
    def extend(self, x: np.ndarray) -> np.ndarray:
        """``(B, *input_shape)`` -> ``(B, *window_shape)``: the input the outputs read."""
        folds = self._fold_ops()
        if all(isinstance(f, slice) for f in folds):
            out = np.zeros((x.shape[0], *self.window_shape), dtype=x.dtype)
            out[_batched(folds)] = x
            return out
        for d, mp in enumerate(self.plan.maps):
            w = mp.window
            x = np.take(x, np.maximum(w, 0), axis=d + 1)
            if (w < 0).any():
                index: list[slice | np.ndarray] = [slice(None)] * x.ndim
                index[d + 1] = w < 0
                x[tuple(index)] = 0
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
            assert fold is not None
            moved = np.moveaxis(z, d + 1, -1)
            flat = moved.reshape(-1, moved.shape[-1])
            folded = np.asarray(flat @ fold.astype(z.dtype))
            z = np.moveaxis(folded.reshape(*moved.shape[:-1], fold.shape[1]), -1, d + 1)
        return z

    # -- the products -------------------------------------------------------------
    def forward(self, x: np.ndarray, method: Method) -> np.ndarray:
        """``A @ x`` for each row of ``x`` (shape ``(B, n_in)``), shape ``(B, n_out)``."""
        if method == "sparse":
            return np.asarray(np.asarray(self.csr() @ x.T).T)
        if method == "dense":
            return np.asarray(x @ self.dense().T)
        xw = self.extend(x.reshape(x.shape[0], *self.plan.input_shape))
        out = self._shift(xw) if method == "shift" else self._fft(xw, transpose=False)
        return out.reshape(x.shape[0], -1)

    def transpose(self, y: np.ndarray, method: Method) -> np.ndarray:
        """``A.T @ y`` for each row of ``y`` (shape ``(B, n_out)``), shape ``(B, n_in)``."""
        if method == "sparse":
            return np.asarray(np.asarray(self.csr().T @ y.T).T)
        if method == "dense":
            return np.asarray(y @ self.dense())
        ys = y.reshape(y.shape[0], *self.plan.output_shape)
        z = self._shift_t(ys) if method == "shift" else self._fft(ys, transpose=True)
        return self.fold(z).reshape(y.shape[0], -1)

    def _tap_slices(self) -> list[tuple[np.generic, tuple[slice, ...]]]:
        taps = []
        for j in np.ndindex(*self.kernel.shape):
            value = self.kernel[j]
            if value == 0:
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

    def _block(self, batch: int) -> int:
        per_item = (math.prod(self.window_shape) + math.prod(self.plan.output_shape)) * (
            self.dtype.itemsize
        )
        return max(1, min(batch, _CACHE_BYTES // max(per_item, 1)))

    def _shift(self, xw: np.ndarray) -> np.ndarray:
        batch = xw.shape[0]
        out = np.zeros((batch, *self.plan.output_shape), dtype=xw.dtype)
        tmp = np.empty((self._block(batch), *self.plan.output_shape), dtype=xw.dtype)
        taps = self._tap_slices()
        step = self._block(batch)
        for b0 in range(0, batch, step):
            blk = slice(b0, min(b0 + step, batch))
            o = out[blk]
            t = tmp[: o.shape[0]]
            for value, sl in taps:
                np.multiply(xw[_batched(sl)][blk], value, out=t)
                o += t
        return out

    def _shift_t(self, y: np.ndarray) -> np.ndarray:
        batch = y.shape[0]
        z = np.zeros((batch, *self.window_shape), dtype=y.dtype)
        step = self._block(batch)
        tmp = np.empty((step, *self.plan.output_shape), dtype=y.dtype)
        taps = self._tap_slices()
        for b0 in range(0, batch, step):
            blk = slice(b0, min(b0 + step, batch))
            yb = y[blk]
            t = tmp[: yb.shape[0]]
            zb = z[blk]
            for value, sl in taps:
                np.multiply(yb, value, out=t)
                zb[_batched(sl)] += t
        return z

    def _fft(self, a: np.ndarray, *, transpose: bool) -> np.ndarray:
        ndim = len(self.fft_shape)
        axes = tuple(range(1, ndim + 1))
        real = a.dtype.kind != "c" and self.dtype.kind != "c"
        complex_kernel = self.dtype.kind == "c"
        if transpose and complex_kernel:
            # A.T y = conj(A^H conj(y)); A^H is the correlation with conj(K)
            a = a.conj()
        if transpose:
            emb = np.zeros((a.shape[0], *self.fft_shape), dtype=a.dtype)
            emb[_batched(slice(mp.m - 1, mp.m - 1 + mp.length) for mp in self.plan.maps)] = a
            a = emb
        spec = self._spectrum(transpose, real)
        if real:
            prod = sfft.rfftn(a, s=self.fft_shape, axes=axes, workers=-1) * spec
            full = sfft.irfftn(prod, s=self.fft_shape, axes=axes, workers=-1)
        else:
            prod = sfft.fftn(a, s=self.fft_shape, axes=axes, workers=-1) * spec
            full = sfft.ifftn(prod, s=self.fft_shape, axes=axes, workers=-1)
        if transpose:
            out = full[_batched(slice(0, w) for w in self.window_shape)]
            return np.asarray(out.conj() if complex_kernel else out)
        window = _batched(slice(mp.m - 1, mp.m - 1 + mp.length) for mp in self.plan.maps)
        return np.asarray(full[window])
