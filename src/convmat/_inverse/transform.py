"""The exact solve where a transform diagonalises the model and the prior.

With 'wrap' (the FFT) or 'symm' and a kernel symmetric in each axis (the
orthonormal DCT-II), ``A^T A + reg L^T L`` is diagonal in the transform's
basis: the solution is one division per coefficient, exact up to the
transforms' rounding; nothing is iterated and nothing is left to certify.
"""

from __future__ import annotations

import numpy as np

from .operators import dct, idct

__all__: list[str] = []


def transform_solve(
    rhs: np.ndarray, power: np.ndarray, weights: np.ndarray, reg: float, *, periodic: bool
) -> np.ndarray:
    """``(A^T A + reg L^T L)^{-1} rhs`` with `power` the blur's ``|K|^2`` and `weights`
    the prior's, per coefficient of the FFT (`periodic`) or of the DCT: the minimum-norm
    solution where a coefficient's sum vanishes."""
    if periodic:
        spec = np.fft.fft2(rhs)
        return np.asarray(np.fft.ifft2(divide(spec, power + reg * weights)).real)
    return np.asarray(idct(divide(dct(rhs), power + reg * weights)))


def divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with zero where ``den`` vanishes (the minimum-norm solution there)."""
    den = np.asarray(den)
    safe = np.where(np.abs(den) > 0, den, 1.0)
    return np.asarray(np.where(np.abs(den) > 0, num / safe, 0.0))
