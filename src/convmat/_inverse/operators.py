"""The blur operators the deblurring solvers apply, behind one interface.

Every model's operator has ``forward(x)`` (``A x`` of a scene) and
``adjoint(y)`` (``A^T y`` of an observation, on the scene's grid), in float64:
:class:`Circulant` for 'wrap' (the FFT diagonalises it), :class:`Cosine` for
'symm' with a kernel symmetric in each axis (the DCT-II does),
:class:`~convmat._engines.fillfft.FillBlur` for 'fill' and 'unknown' (zero
padding, by FFT on a grid that holds the whole convolution), and
:class:`Reflected` for 'symm' with any other kernel (the exact matrix by the
engine's FFT method).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.fft

from .._core.plan import make_plan
from .._engines.apply import apply
from .._engines.engine import Engine

__all__: list[str] = []


class Blur(Protocol):
    """What the solvers apply: the blur and its adjoint."""

    def forward(self, x: np.ndarray) -> np.ndarray: ...

    def adjoint(self, y: np.ndarray) -> np.ndarray: ...


def dct(x: np.ndarray) -> np.ndarray:
    """The orthonormal 2-D DCT-II."""
    return np.asarray(scipy.fft.dctn(x, type=2, norm="ortho"))


def idct(x: np.ndarray) -> np.ndarray:
    """Its inverse."""
    return np.asarray(scipy.fft.idctn(x, type=2, norm="ortho"))


class Circulant:
    """``A = F^H diag(spectrum) F``: a periodic blur by its first column's DFT."""

    def __init__(self, spectrum: np.ndarray) -> None:
        self.spectrum = spectrum

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(np.fft.ifft2(self.spectrum * np.fft.fft2(x)).real)

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(np.fft.ifft2(self.spectrum.conj() * np.fft.fft2(y)).real)


class Cosine:
    """``A = C^T diag(values) C``, with ``C`` the orthonormal DCT-II: symmetric."""

    def __init__(self, values: np.ndarray) -> None:
        self.spectrum = values

    def forward(self, x: np.ndarray) -> np.ndarray:
        return idct(self.spectrum * dct(x))

    adjoint = forward


class Reflected:
    """The exact 'same' convolution with symmetric extension, by the engine's FFT method."""

    def __init__(self, kernel: np.ndarray, scene: tuple[int, int]) -> None:
        self.scene = scene
        self.engine = Engine(
            kernel.astype(np.float64), make_plan(scene, kernel.shape, "same", "symm")
        )

    def _apply(self, x: np.ndarray, *, transpose: bool) -> np.ndarray:
        rows = np.asarray(x, dtype=np.float64).reshape(1, -1)
        out = apply(
            rows,
            self.engine,
            np.dtype(np.float64),
            transpose=transpose,
            method="fft",
            amortized=True,
            certify=False,
        )
        return out.reshape(self.scene)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._apply(x, transpose=False)

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        return self._apply(y, transpose=True)
