"""Tikhonov deblurring of one blur model and quadratic prior, by the solver that fits.

:class:`Tikhonov` holds a :class:`~convmat._inverse.model.BlurModel` and a
quadratic prior (gradient, identity or Laplacian), chooses the weight
(:meth:`Tikhonov.choose`) and returns the estimate of one observation by one
of the solver units, each with its own stopping certificate:

* ``transform`` ('wrap', and 'symm' with a kernel symmetric in each axis): one
  division per frequency, exact;
* ``direct`` (small scenes): the normal equations factorised, exact;
* ``admm`` then ``cg`` (every other model): ADMM with the mask splitting brings
  the iterate near the solution, and conjugate gradients take it to the
  certified residual of the normal equations.

Total variation is :class:`~convmat._inverse.tv.TotalVariation`'s.
"""

from __future__ import annotations

import numpy as np

from .admm import Callback, Splitting
from .cg import ConjugateGradients
from .direct import Normal
from .model import BlurModel, RuleInputs, solver_for
from .restore import Prior
from .transform import transform_solve

__all__: list[str] = []

# ADMM's relative change per iteration at which a quadratic prior's solve hands its
# iterate to conjugate gradients, which certify the residual of the normal equations.
# The Laplacian's normal equations are worse conditioned, and its residual of 1e-6 left
# far from the solution unless ADMM came nearer first: on 256x256 crops (camera and
# coins, Gaussian and box blurs, 'unknown' and 'fill', noise 0 to 1e-2) a hand-off at
# 1e-3 stopped up to 2.5 dB below the estimate at a residual of 1e-8 (clean, box blur,
# 'unknown'), at 1e-4 at most 0.17 dB below the one at 1e-9, in 1.8x the gradient prior's
# time (median; 5.2x the worst)
ADMM_HANDOFF = 1e-3
ADMM_HANDOFF_LAPLACIAN = 1e-4


class Tikhonov:
    """One boundary model, kernel and quadratic prior over images of one shape."""

    def __init__(
        self,
        kernel: np.ndarray,
        shape: tuple[int, ...],
        model: str,
        prior: Prior,
        maxiter: int,
        tol: float,
        *,
        solver: str | None = None,
    ) -> None:
        if prior == "tv":
            msg = "total variation is not a quadratic prior: TotalVariation solves it"
            raise ValueError(msg)
        self.model = BlurModel(kernel, shape, model, prior)
        self.prior, self.maxiter, self.tol = prior, maxiter, tol
        self.scene_shape = self.model.scene_shape
        # `solver`: solver_for's answer where the caller has it already
        self.solver = solver_for(model, kernel, prior) if solver is None else solver
        self.normal_equations: Normal | None = None
        if self.solver == "direct":
            self.normal_equations = Normal(kernel, self.model.shape, self.scene_shape, model, prior)
        self.cg = ConjugateGradients(self.model, prior, tol)
        self.splitting: Splitting | None = None
        if self.solver == "admm":
            self.splitting = Splitting(kernel, self.model.shape, model, prior, "tikhonov")

    def choose(self, image: np.ndarray, how: str, sigma: float | None) -> float:
        """The weight by `how` ('auto': :data:`~convmat._inverse.model.AUTO_RULES`), never
        below the floor of the operator's scale. The rule sees the exact model where the
        scene is factorised and small (:meth:`Normal.diagonal`), else the FFT or DCT model
        of the observation (of its interior for 'fill')."""
        exact: RuleInputs | None = None
        if self.normal_equations is not None:
            exact = self.normal_equations.diagonal(image, self.adjoint(image))
        inputs = self.model.rule_inputs(image, exact)
        return self.model.weight(image, how, sigma, inputs, self.prior)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``A x`` of a scene."""
        return self.model.forward(x)

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``A^T y`` of an observation, on the scene's grid."""
        return self.model.adjoint(y)

    def __call__(
        self, image: np.ndarray, reg: float, callback: Callback | None = None
    ) -> tuple[np.ndarray, int, bool]:
        """The estimate of one observation: (scene, iterations, converged).

        The estimate is converged when the normal equations' residual is certified:
        ``||A^T y - (A^T A + reg L^T L) x|| <= tol ||A^T y||``, recomputed from the
        estimate with the exact operators (:meth:`residual`); 'direct' and the
        transform solvers are exact."""
        rhs = self.adjoint(image)
        if self.splitting is None:
            return self.solve(rhs, reg, callback)
        handoff = ADMM_HANDOFF_LAPLACIAN if self.prior == "laplacian" else ADMM_HANDOFF
        start, steps, _ = self.splitting.solve(
            image, reg, maxiter=self.maxiter, tol=handoff, callback=callback
        )
        x, more, done = self.cg.solve(
            rhs, reg, callback, start=start, first=steps, maxiter=self.maxiter - steps
        )
        return x, steps + more, done

    def residual(self, rhs: np.ndarray, x: np.ndarray, reg: float) -> float:
        """The certificate of an estimate (:meth:`ConjugateGradients.residual`)."""
        return self.cg.residual(rhs, x, reg)

    def solve(
        self, rhs: np.ndarray, reg: float, callback: Callback | None = None
    ) -> tuple[np.ndarray, int, bool]:
        """``(A^T A + reg L^T L)^{-1} rhs``: (solution, CG iterations, converged);
        `callback(iterate, iteration)` after each CG iteration."""
        model = self.model
        if self.solver in ("fft", "dct"):
            x = transform_solve(
                rhs, model.model_power, model.weights, reg, periodic=self.solver == "fft"
            )
            return x, 0, True
        if self.normal_equations is not None:
            return self.normal_equations.solve(rhs, reg), 0, True
        return self.cg.solve(rhs, reg, callback, maxiter=self.maxiter)
