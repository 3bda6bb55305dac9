"""Small deblurring problems solved exactly: the normal equations by a dense factorisation.

For a quadratic prior the estimate is the solution of
``(A^T A + reg L^T L) x = A^T y``. Where the scene has at most
:data:`DIRECT_PIXELS` pixels, :class:`Normal` builds ``A`` (the exact sparse
matrix of the boundary model) and ``L^T L`` (the differences inside the
scene), forms the matrix once per weight and solves it by a Cholesky
factorisation (LU where rounding leaves it indefinite): no iteration, no
tolerance, the minimiser to rounding.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .._core.csr import build_csr
from .._core.plan import make_plan
from .restore import Prior

__all__: list[str] = []

DIRECT_PIXELS = 2048  # scenes solved directly: a dense matrix of 2048^2 float64 is 32 MiB


def difference_gram(shape: tuple[int, int], prior: Prior) -> sp.csr_array:
    """``L^T L`` over scenes of `shape`: the identity, or ``D^T D`` with ``D`` the first
    differences of neighbours inside the scene along each axis ('gradient'), squared
    ('laplacian'), as :func:`~convmat._inverse.restore.apply_prior` applies it."""
    n = shape[0] * shape[1]
    if prior == "identity":
        return sp.csr_array(sp.identity(n, format="csr"))
    grams = []
    for axis, length in enumerate(shape):
        d = sp.diags_array(
            [-np.ones(length - 1), np.ones(length - 1)], offsets=[0, 1], shape=(length - 1, length)
        )
        dtd = (d.T @ d).tocsr()
        other = sp.identity(shape[1 - axis], format="csr")
        grams.append(sp.kron(dtd, other) if axis == 0 else sp.kron(other, dtd))
    gram = sp.csr_array(grams[0] + grams[1])
    return gram if prior == "gradient" else sp.csr_array(gram @ gram)


class Normal:
    """The normal equations of one model, kernel and quadratic prior on a small scene."""

    def __init__(
        self,
        kernel: np.ndarray,
        shape: tuple[int, int],
        scene_shape: tuple[int, int],
        model: str,
        prior: Prior,
    ) -> None:
        if model == "unknown":
            plan = make_plan(scene_shape, kernel.shape, "valid", "fill")
        else:
            plan = make_plan(shape, kernel.shape, "same", "symm" if model == "symm" else "fill")
        a = build_csr(kernel.astype(np.float64), plan)
        self.matrix = a
        self.blur_gram = (a.T @ a).toarray()
        self.prior_gram = difference_gram(scene_shape, prior).toarray()
        self.scene_shape = scene_shape
        self._kept: tuple[float, tuple[np.ndarray, tuple[np.ndarray, bool] | None]] | None = None

    def solve(self, rhs: np.ndarray, reg: float) -> np.ndarray:
        """``(A^T A + reg L^T L)^{-1} rhs`` for a scene-shaped `rhs`; the factorisation of
        the last weight is kept (the images of a batch with a given weight share it)."""
        if self._kept is None or self._kept[0] != reg:
            self._kept = (reg, self._factorise(reg))
        m, factor = self._kept[1]
        b = rhs.ravel()
        if factor is None:  # singular to rounding (no weight): the minimum-norm solution,
            # the rank as numpy's matrix_rank counts it
            cutoff = m.shape[0] * float(np.finfo(np.float64).eps)
            x = scipy.linalg.lstsq(m, b, cond=cutoff, check_finite=False)[0]
        else:
            x = scipy.linalg.cho_solve(factor, b, check_finite=False)
        return np.asarray(x).reshape(self.scene_shape)

    def _factorise(self, reg: float) -> tuple[np.ndarray, tuple[np.ndarray, bool] | None]:
        """The matrix of `reg` and its Cholesky factor, None where it is singular to
        rounding (not positive definite, or reciprocal condition below ``n eps``)."""
        m = self.blur_gram + reg * self.prior_gram
        try:
            factor = scipy.linalg.cho_factor(m, check_finite=False)
        except scipy.linalg.LinAlgError:  # not positive definite to rounding
            return m, None
        norm1 = float(np.abs(m).sum(axis=0).max())
        rcond, _ = scipy.linalg.lapack.dpocon(factor[0], norm1, uplo="L" if factor[1] else "U")
        return m, (None if rcond < m.shape[0] * np.finfo(np.float64).eps else factor)
