"""Small deblurring problems solved exactly: the normal equations by a dense factorisation.

For a quadratic prior the estimate is the solution of
``(A^T A + reg L^T L) x = A^T y``. Where the scene has at most
:data:`DIRECT_PIXELS` pixels, :class:`Normal` builds ``A`` (the exact sparse
matrix of the boundary model) and ``L^T L`` (the differences inside the
scene), forms the matrix once per weight and solves it by a Cholesky
factorisation (LU where rounding leaves it indefinite): no iteration, no
tolerance, the minimiser to rounding. On scenes of at most
:data:`EXACT_RULE_PIXELS`, :meth:`Normal.diagonal` also writes the exact model
in the generalised eigenbasis of ``(A^T A, A^T A + L^T L)``, where the weight
rules of :mod:`~convmat._inverse.restore` see filter factors of the model
actually solved instead of its DCT approximation.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from .._core.budget import get_max_working_bytes
from .._core.csr import build_csr
from .._core.plan import make_plan
from .restore import Prior, apply_prior

__all__: list[str] = []

DIRECT_PIXELS = 2048  # scenes solved directly: a dense matrix of 2048^2 float64 is 32 MiB
# dense n x n float64 arrays at the peak of Normal's build and first solve, n the scene's
# pixels (tracemalloc on a 32x64 scene: 5.0 for the identity and gradient priors, 7.0 for
# the Laplacian, whose prior is applied twice to the unit scenes; 4 are kept)
DIRECT_ARRAYS = 7
# scenes whose weight rule runs on the exact model (a generalised symmetric eigenproblem of
# n x n: 0.23 s at n = 1024, 1.3 s at 2048 with 2 threads; the solve itself takes 0.02 s).
# On 8x8 and 16x16 observations with the edges unknown (Gaussian 13x13, box 7x7, motion 9;
# noise 1e-3 to 3e-2) GML on the exact model came out below the observation in 6 of 36 and
# 0 of 36 cases, on the DCT model in 9 of 36 and 1 of 36.
EXACT_RULE_PIXELS = 1024
EIGEN_CUTOFF = 1e-10


def fits(pixels: int) -> bool:
    """Whether a scene of `pixels` pixels is factorised: at most :data:`DIRECT_PIXELS`,
    and its dense matrices within the working-set budget (else the iterative solvers,
    whose arrays are the scene's size, serve it)."""
    return pixels <= DIRECT_PIXELS and DIRECT_ARRAYS * 8 * pixels * pixels <= (
        get_max_working_bytes()
    )


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
        self.blur_gram = (a.T @ a).toarray()
        n = scene_shape[0] * scene_shape[1]
        # L^T L column by column: the prior applied to every unit scene (symmetric)
        basis = np.eye(n).reshape(n, *scene_shape)
        self.prior_gram = apply_prior(basis, prior, periodic=False).reshape(n, n)
        self.scene_shape = scene_shape
        self._basis: tuple[np.ndarray, np.ndarray] | None = None
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

    def diagonal(
        self, image: np.ndarray, rhs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The model as a diagonal one, for the weight rules: (blur, prior, data) per
        coefficient of the observation `image`, with `rhs` its ``A^T y``.

        With ``A^T A v = t (A^T A + L^T L) v`` (``V^T (A^T A + L^T L) V = I``), the
        normal matrix is ``V^-T diag(t + reg (1 - t)) V^-1`` and the observation's
        coordinates along ``A v / sqrt(t)`` are ``z = V^T A^T y / sqrt(t)``: each is a
        coefficient with blur ``t``, prior ``1 - t`` and data ``z^2``. The
        observation's energy outside the range of ``A`` is spread over the
        ``m - rank`` coefficients left, with blur 0 and prior 1 (never fitted). None
        where ``A^T A + L^T L`` is singular (a kernel of zero sum with a difference
        prior) or the scene is larger than :data:`EXACT_RULE_PIXELS`.
        """
        if math.prod(self.scene_shape) > EXACT_RULE_PIXELS:
            return None
        if self._basis is None:
            try:
                values, vectors = scipy.linalg.eigh(
                    self.blur_gram, self.blur_gram + self.prior_gram, check_finite=False
                )
            except (scipy.linalg.LinAlgError, ValueError):  # not positive definite
                return None
            self._basis = (np.clip(values, 0.0, 1.0), vectors)
        values, vectors = self._basis
        # eigenvalues (in [0, 1]) within EIGEN_CUTOFF of 0: directions A hardly sees, whose
        # coordinates z would carry eigh's absolute error over sqrt(t); their energy joins
        # the never-fitted rest (a filter factor within t / reg of 1). Within it of 1: the
        # prior's null space.
        seen = values > EIGEN_CUTOFF
        blur = values[seen]
        z = (vectors[:, seen].T @ rhs.ravel()) / np.sqrt(blur)
        prior = np.where(1.0 - blur > EIGEN_CUTOFF, 1.0 - blur, 0.0)
        m = image.size
        left = max(m - blur.size, 0)
        rest = max(float(image.ravel() @ image.ravel()) - float(z @ z), 0.0)
        return (
            np.concatenate([blur, np.zeros(left)]),
            np.concatenate([prior, np.ones(left)]),
            np.concatenate([z * z, np.full(left, rest / max(left, 1))]),
        )
