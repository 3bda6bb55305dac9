"""Conjugate gradients on the normal equations, stopped by a certified residual.

:class:`ConjugateGradients` solves ``(A^T A + reg L^T L) x = rhs`` for one
:class:`~convmat._inverse.model.BlurModel` and quadratic prior with scipy's
preconditioned CG (the preconditioner: the DCT model for kernels symmetric in
each axis, else the periodic one). Its stopping certificate is the residual
recomputed from the returned estimate with the exact operators
(:meth:`ConjugateGradients.residual`), not CG's own recurrence: CG is restarted
from its solution while the certificate fails and iterations remain.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
from scipy.sparse.linalg import LinearOperator, cg

from .admm import Callback
from .model import BlurModel
from .operators import dct, idct
from .restore import Prior, apply_prior, periodic_power, prior_weights, response, symmetric
from .transform import divide

__all__: list[str] = []

CG_MARGIN = 0.5  # conjugate gradients aim at this share of `tol` (their residual drifts)


class ConjugateGradients:
    """The certified conjugate-gradient solve of one model and quadratic `prior`, to a
    relative residual of `tol`."""

    def __init__(self, model: BlurModel, prior: Prior, tol: float) -> None:
        self.model, self.prior, self.tol = model, prior, tol
        # the preconditioner: the DCT model for kernels symmetric in each axis, else the
        # periodic one (A^T A is nearly circulant, but not nearly DCT-diagonal)
        self.dct_model = symmetric(model.kernel)

    @cached_property
    def _preconditioner(self) -> tuple[np.ndarray, np.ndarray]:
        """The blur's power and the prior's weights of the preconditioner's model, built
        on first use (the exact solvers never need them)."""
        kernel, shape = self.model.kernel, self.model.scene_shape
        power = response(kernel, shape) if self.dct_model else periodic_power(kernel, shape)
        return power, prior_weights(shape, self.prior, periodic=not self.dct_model)

    def normal(self, x: np.ndarray, reg: float) -> np.ndarray:
        """``(A^T A + reg L^T L) x`` of a scene, by the exact operators."""
        model = self.model
        out = model.adjoint(model.forward(x)) + reg * apply_prior(x, self.prior, periodic=False)
        return np.asarray(out)

    def residual(self, rhs: np.ndarray, x: np.ndarray, reg: float) -> float:
        """The certificate of an estimate: ``||rhs - (A^T A + reg L^T L) x|| / ||rhs||`` (0
        where both vanish, inf where only `rhs` does)."""
        r = float(np.linalg.norm(rhs - self.normal(x, reg)))
        b = float(np.linalg.norm(rhs))
        if b == 0.0:
            return 0.0 if r == 0.0 else math.inf
        return r / b

    def solve(
        self,
        rhs: np.ndarray,
        reg: float,
        callback: Callback | None,
        *,
        maxiter: int,
        start: np.ndarray | None = None,
        first: int = 0,
    ) -> tuple[np.ndarray, int, bool]:
        """Preconditioned conjugate gradients from `start` (else the preconditioned
        right-hand side) until :meth:`residual` is at most `tol`, within `maxiter`
        iterations: (solution, iterations, certified); `callback(iterate, first + k)` after
        the k-th."""
        shape = self.model.scene_shape
        size = math.prod(shape)

        def normal(v: np.ndarray) -> np.ndarray:
            return self.normal(v.reshape(shape), reg).ravel()

        power, weights = self._preconditioner
        denominator = power + reg * weights

        def precondition(r: np.ndarray) -> np.ndarray:
            if self.dct_model:
                return idct(divide(dct(r.reshape(shape)), denominator)).ravel()
            spec = np.fft.rfft2(r.reshape(shape))
            half = denominator[:, : spec.shape[1]]
            return np.fft.irfft2(divide(spec, half), shape).ravel()

        flat = rhs.ravel()
        x = precondition(flat) if start is None else start.ravel()
        steps = [0]

        def count(xk: np.ndarray) -> None:
            steps[0] += 1
            if callback is not None:
                callback(xk.reshape(shape), first + steps[0])

        matrix = LinearOperator((size, size), matvec=normal, dtype=np.float64)
        preconditioner = LinearOperator((size, size), matvec=precondition, dtype=np.float64)
        # the recurrence's residual drifts from the true one by rounding: aim below `tol`
        target = self.tol * CG_MARGIN
        certified = self.residual(rhs, x.reshape(shape), reg) <= self.tol
        while not certified and steps[0] < maxiter:
            before = steps[0]
            x, _ = cg(
                matrix,
                flat,
                x0=x,
                rtol=target,
                atol=0.0,
                maxiter=maxiter - steps[0],
                M=preconditioner,
                callback=count,
            )
            certified = self.residual(rhs, x.reshape(shape), reg) <= self.tol
            if steps[0] == before:  # no step taken: nothing more to gain
                break
            target /= 10  # a restart after a recurrence that stopped short of the truth
        return x.reshape(shape), steps[0], certified
