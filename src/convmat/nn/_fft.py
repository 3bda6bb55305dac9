"""A conv layer and its adjoint applied by FFTs, one image at a time: for iterative spectra.

The layer pads its input (numpy's pad for the four padding modes), correlates
each output channel with the dilated kernels of all input channels, and keeps
every `stride`-th output. On a periodic grid at least as large as the padded
input, the correlation is a product per frequency of the ``(C_out, C_in)``
transfer matrix with the input's channel vector, and ``A^H`` runs the same
steps backwards with the conjugate transposed transfer. Results equal the
layer matrix's products to rounding (the FFT's error scales with the whole
image, which is what an eigenvalue solver needs, not an exact reference).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

from .._core.spectra import seeded_start, windowed_wave
from ._layer import Layer

__all__: list[str] = []


class LayerFFT:
    """``A`` and ``A^H`` of one group's layer (``groups == 1``) on flattened single images."""

    def __init__(self, layer: Layer, weight: np.ndarray) -> None:
        (pt, pb), (pl, pr) = layer.pads
        self.layer, self.real = layer, weight.dtype.kind != "c"
        self.padded = layer.padded
        self.extent = tuple(
            d * (k - 1) + 1 for d, k in zip(layer.dilation, layer.kernel, strict=True)
        )
        self.grid = tuple(scipy.fft.next_fast_len(n, real=self.real) for n in self.padded)
        c_out, c_in, _kh, _kw = weight.shape
        dilated = np.zeros((c_out, c_in, *self.extent), dtype=weight.dtype)
        dilated[:, :, :: layer.dilation[0], :: layer.dilation[1]] = weight
        flipped = dilated[:, :, ::-1, ::-1]  # correlation is convolution with the flipped kernel
        fft = scipy.fft.rfft2 if self.real else scipy.fft.fft2
        # (freq_h, freq_w, C_out, C_in): one transfer matrix per frequency
        self.transfer = np.ascontiguousarray(fft(flipped, self.grid).transpose(2, 3, 0, 1))
        self.adjoint_transfer = np.ascontiguousarray(self.transfer.conj().swapaxes(2, 3))
        self.keep = tuple(
            slice(e - 1, e - 1 + (n_out - 1) * s + 1, s)
            for e, n_out, s in zip(self.extent, layer.output_shape[1:], layer.stride, strict=True)
        )
        self.inside = layer.inside
        self.pad_width = ((0, 0), (pt, pb), (pl, pr))
        self.pad_mode = layer.pad_mode
        self.sources = layer.pad_sources  # which input each padded position reads, per axis

    def _spectral(self, arr: np.ndarray, transfer: np.ndarray) -> np.ndarray:
        """Apply per-frequency `transfer` to the channels (last axis) of `arr`, periodically."""
        fft, ifft = (
            (scipy.fft.rfft2, scipy.fft.irfft2) if self.real else (scipy.fft.fft2, scipy.fft.ifft2)
        )
        spec = fft(arr, self.grid, axes=(0, 1))[..., None]
        return np.asarray(ifft(np.matmul(transfer, spec)[..., 0], self.grid, axes=(0, 1)))

    def _forward(self, image: np.ndarray) -> np.ndarray:
        """``A`` on an ``(H, W, C_in)`` image: ``(H_out, W_out, C_out)``."""
        pads = (*self.pad_width[1:], (0, 0))
        padded = np.pad(image, pads, mode=self.pad_mode)
        return self._spectral(padded, self.transfer)[self.keep[0], self.keep[1]]

    def _adjoint(self, out: np.ndarray) -> np.ndarray:
        """``A^H`` on an ``(H_out, W_out, C_out)`` output: ``(H, W, C_in)``."""
        spread = np.zeros((*self.grid, out.shape[2]), dtype=out.dtype)
        spread[self.keep[0], self.keep[1]] = out
        back = self._spectral(spread, self.adjoint_transfer)
        # the circular correlation's adjoint reads the padded input's positions
        padded = back[: self.padded[0], : self.padded[1]]
        if self.sources is None:
            return padded[self.inside[0], self.inside[1]]
        _, h, w = self.layer.input_shape
        rows = np.zeros((self.padded[0], h))
        rows[np.arange(self.padded[0]), self.sources[0]] = 1
        cols = np.zeros((self.padded[1], w))
        cols[np.arange(self.padded[1]), self.sources[1]] = 1
        return np.asarray(np.einsum("ih,ijc,jw->hwc", rows, padded, cols))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``A @ x`` for one flattened image ``(C_in * H * W,)``, C order."""
        image = x.reshape(self.layer.input_shape).transpose(1, 2, 0)
        return np.asarray(self._forward(image).transpose(2, 0, 1)).ravel()

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``A^H @ y`` for one flattened output ``(C_out * H_out * W_out,)``, C order."""
        out = y.reshape(self.layer.output_shape).transpose(1, 2, 0)
        return np.asarray(self._adjoint(out).transpose(2, 0, 1)).ravel()

    def gram(self, v: np.ndarray, *, input_side: bool) -> np.ndarray:
        """``A^H A v`` (or ``A A^H v``) with `v` flattened channels last, as Lanczos needs.

        The singular values do not depend on how coordinates are ordered, and
        channels last spares the transposes around each transform.
        """
        _, h, w = self.layer.input_shape
        c_out, h_out, w_out = self.layer.output_shape
        if input_side:
            return np.asarray(self._adjoint(self._forward(v.reshape(h, w, -1)))).ravel()
        return np.asarray(self._forward(self._adjoint(v.reshape(h_out, w_out, c_out)))).ravel()

    def start(self) -> np.ndarray:
        """A windowed plane wave at the frequency and channel mix where the transfer peaks."""
        _c_in, h, w = self.layer.input_shape
        # the Frobenius norm picks the frequency: cheap, and only a start is needed
        norms = np.einsum("abij,abij->ab", self.transfer, self.transfer.conj()).real
        where = np.unravel_index(int(np.argmax(norms)), norms.shape)
        mix = np.linalg.svd(self.transfer[where])[2][0].conj()  # top right singular vector there
        freq = tuple(2 * math.pi * i / g for i, g in zip(where, self.grid, strict=True))
        wave = mix[:, None, None] * windowed_wave((h, w), freq)
        return seeded_start(wave, complex_=not self.real)
