"""Zero-padded convolution by FFTs on a fast grid: the operator, its adjoint, its Gram.

With zero padding every mode is a crop of the linear convolution: 'full'
keeps all ``n + m - 1`` outputs, 'same' ``n`` from ``(m - 1) // 2``, 'valid'
``|n - m| + 1`` from ``min(n, m) - 1``. A periodic grid of at least
``n + m - 1`` per axis holds the linear convolution exactly, so any fast
length serves. For 'full' the Gram ``A^H A`` is one transform pair with
``|K|^2``; for the crops it is the operator and then its adjoint. The error
of these transforms scales with the whole array: for solvers and eigenvalue
iterations, not for exact references.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

__all__: list[str] = []


class FillBlur:
    """The zero-padded convolution of `kernel` over scenes of shape `scene`, in `mode`."""

    def __init__(self, kernel: np.ndarray, scene: tuple[int, ...], mode: str) -> None:
        self.scene = tuple(scene)
        self.real = kernel.dtype.kind != "c"
        self.axes = tuple(range(-len(self.scene), 0))
        pairs = list(zip(self.scene, kernel.shape, strict=True))
        self.grid = tuple(scipy.fft.next_fast_len(n + m - 1, real=self.real) for n, m in pairs)
        fft = scipy.fft.rfftn if self.real else scipy.fft.fftn
        self.spectrum = np.asarray(fft(kernel, self.grid))
        self.full = mode == "full"
        if mode == "full":
            starts, out = [0] * len(pairs), [n + m - 1 for n, m in pairs]
        elif mode == "same":
            starts, out = [(m - 1) // 2 for _, m in pairs], [n for n, _ in pairs]
        else:
            starts, out = [min(n, m) - 1 for n, m in pairs], [abs(n - m) + 1 for n, m in pairs]
        self.window = tuple(slice(a, a + n) for a, n in zip(starts, out, strict=True))
        self.crop = tuple(slice(0, n) for n in self.scene)

    def _full(self, x: np.ndarray, spectrum: np.ndarray) -> np.ndarray:
        """The circular convolution on the grid with `spectrum`."""
        if self.real:
            spec = scipy.fft.rfftn(x, self.grid, axes=self.axes) * spectrum
            return np.asarray(scipy.fft.irfftn(spec, self.grid, axes=self.axes))
        spec = scipy.fft.fftn(x, self.grid, axes=self.axes) * spectrum
        return np.asarray(scipy.fft.ifftn(spec, self.grid, axes=self.axes))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``A x`` of a scene."""
        return self._full(x, self.spectrum)[self.window]

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``A^H y`` of an output: its correlation with the kernel, on the scene."""
        spread = np.zeros(self.grid, dtype=np.result_type(y, self.spectrum.real))
        spread[self.window] = y
        # correlation on the grid: the conjugate spectrum reads back from where taps wrote
        return self._full(spread, self.spectrum.conj())[self.crop]

    def gram(self, x: np.ndarray) -> np.ndarray:
        """``A^H A x``: for 'full' one transform pair with ``|K|^2``."""
        if self.full:
            return self._full(x, np.abs(self.spectrum) ** 2)[self.crop]
        return self.adjoint(self.forward(x))

    def cogram(self, y: np.ndarray) -> np.ndarray:
        """``A A^H y``."""
        return self.forward(self.adjoint(y))
