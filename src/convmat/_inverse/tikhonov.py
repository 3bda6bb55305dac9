"""Solves for one blur model and prior: exact transforms, ADMM, or CG.

:class:`Tikhonov` holds a boundary model, kernel and prior over images of
one shape, chooses the weight (:meth:`Tikhonov.choose`) and returns the
estimate of one observation. A quadratic prior on 'wrap' (FFT) and on 'symm'
with a kernel symmetric in each axis (DCT) is one division per frequency;
every other model runs ADMM with the mask splitting (``convmat._inverse.admm``), and
the Laplacian prior there conjugate gradients on the exact normal equations
``(A^T A + reg L^T L) x = A^T y``, which :meth:`Tikhonov.solve` solves for
any right-hand side. Total variation runs ADMM on every model, with one
split where a transform diagonalises the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.fft
from scipy.sparse.linalg import LinearOperator, cg

from .._core.index import axis_map
from .._engines.fillfft import FillBlur
from .._engines.pipeline import forward
from . import direct as _direct
from .admm import Diagonal, Penalty, Splitting
from .direct import Normal
from .operators import Blur, Circulant, Cosine, Reflected, dct, idct
from .restore import (
    Prior,
    apply_prior,
    discrepancy,
    gcv,
    gml,
    noise_level,
    periodic_power,
    prior_weights,
    response,
    symmetric,
    tv_weight,
    weight_scale,
)

__all__: list[str] = []

# The smallest weight a rule may choose, relative to max |K|^2 / max (L^T L). A clean or
# nearly clean observation has no noise for GCV to see: it chose 1e-15 and returned
# garbage (4.7 dB against the observation's 23.5 on camera 256^2, Gaussian sigma 2).
# At 1e-4 the estimate was 27.7 dB in 32 iterations; at 1e-5, 23.6 dB at the default tol
# (conjugate gradients stop on the residual before the error is small); where the noise
# is 1e-3 or more the rules choose above the floor.
WEIGHT_FLOOR = 1e-4

# The rule of reg='auto' per prior: GML, but GCV for the identity prior. A white prior
# misfits natural images' spectra, and the likelihood follows it: on 128x128 crops
# (benchmarks/deblur_weights.py: four images, three blurs, noise 1e-3 to 3e-2, 'unknown',
# 'fill', 'symm'), the identity prior's estimate came out below the observation in 78 of
# 108 cases by GML and 35 by GCV; the Laplacian's in none by either (mean gain +5.75 and
# +5.63 dB)
AUTO_RULES = {"identity": "gcv"}
AUTO_DEFAULT = "gml"

# ADMM's relative change per iteration at which a quadratic prior's solve hands its
# iterate to conjugate gradients, which certify the residual of the normal equations
ADMM_HANDOFF = 1e-3
CG_MARGIN = 0.5  # conjugate gradients aim at this share of `tol` (their residual drifts)

Callback = Callable[[np.ndarray, int], object]


def solver_for(
    model: str, kernel: np.ndarray, prior: str = "gradient", pixels: int | None = None
) -> str:
    """'fft' or 'dct' where a transform diagonalises the model and a quadratic prior;
    'direct' for a quadratic prior on a scene of `pixels` that
    :func:`~convmat._inverse.direct.fits` (the normal equations factorised); else 'admm' (the mask splitting, then conjugate
    gradients to the certified residual; every model with total variation), or 'cg' for
    the Laplacian prior, which the splitting's differences do not hold."""
    if prior == "tv":
        return "admm"
    if model == "wrap":
        return "fft"
    if model == "symm" and symmetric(kernel):
        return "dct"
    if pixels is not None and _direct.fits(pixels):
        return "direct"
    return "cg" if prior == "laplacian" else "admm"


class Tikhonov:
    """One boundary model, kernel and prior over images of one shape."""

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
        h, w = shape
        self.kernel, self.model, self.prior = kernel, model, prior
        self.maxiter, self.tol = maxiter, tol
        self.shape = (h, w)
        unknown = model == "unknown"
        self.scene_shape = (h + kernel.shape[0] - 1, w + kernel.shape[1] - 1) if unknown else (h, w)
        # `solver`: solver_for's answer where the caller has it already
        self.solver = solver_for(model, kernel, prior) if solver is None else solver
        self.tv = prior == "tv"
        # the quadratic prior of the transform solvers, GCV and the preconditioner
        quadratic: Prior = "gradient" if self.tv else prior
        periodic = model == "wrap"
        self.periodic = periodic
        # the transforms that diagonalise the model, for the exact solvers and for total
        # variation with its one split
        diagonal = "fft" if periodic else ("dct" if model == "symm" and symmetric(kernel) else "")
        self.operator: Blur
        if diagonal == "fft":  # A is circulant: its first column's DFT is its spectrum
            self.spectrum = np.asarray(scipy.fft.fft2(self._column()))
            self.operator = Circulant(self.spectrum)
        elif diagonal == "dct":  # A = C^T diag(values) C with C the orthonormal DCT-II
            delta = np.zeros(self.shape)
            delta[0, 0] = 1
            self.spectrum = dct(self._column()) / dct(delta)
            self.operator = Cosine(self.spectrum)
        elif model in ("unknown", "fill"):  # the exact operator, for any right-hand side
            self.operator = FillBlur(kernel, self.scene_shape, "valid" if unknown else "same")
        else:  # 'symm' with a kernel that is not symmetric: the exact operator by FFT
            self.operator = Reflected(kernel, (h, w))
        self.splitting: Splitting | Diagonal
        self.normal_equations: Normal | None = None
        if self.solver == "direct":
            self.normal_equations = Normal(kernel, self.shape, self.scene_shape, model, prior)
        if self.tv and diagonal:
            self.splitting = Diagonal(self.spectrum, periodic=periodic)
        elif self.solver in ("admm", "cg"):
            if self.solver == "admm":
                penalty: Penalty = "tv" if self.tv else "tikhonov"
                self.splitting = Splitting(kernel, self.shape, model, quadratic, penalty)
            # the preconditioner: the DCT model for kernels symmetric in each axis, else
            # the periodic one (A^T A is nearly circulant, but not nearly DCT-diagonal)
            self.dct_model = symmetric(kernel)
            self.power = (
                response(kernel, self.scene_shape)
                if self.dct_model
                else periodic_power(kernel, self.scene_shape)
            )
            self.preconditioner_weights = prior_weights(
                self.scene_shape, quadratic, periodic=not self.dct_model
            )
        self.weights = prior_weights(self.scene_shape, quadratic, periodic=periodic)
        # the model the weight rules see: the observation's own grid; for 'fill', only the
        # interior the zero border does not reach (the dark, ramped edge is no part of the
        # DCT model: GCV read it as signal and chose weights 27 to 300 times below the best)
        self.window = _interior(kernel.shape, self.shape) if model == "fill" else None
        grid = self.shape if self.window is None else _window_shape(self.window)
        self.model_power = np.abs(self.spectrum) ** 2 if diagonal else response(kernel, grid)
        self.model_weights = prior_weights(grid, quadratic, periodic=periodic)

    def _column(self) -> np.ndarray:
        delta = np.zeros(self.shape)
        delta[0, 0] = 1
        return forward(
            delta, self.kernel, "same", self.model, 0, corr=False, method="auto", rtol=None, ndim=2
        )

    def choose(self, image: np.ndarray, how: str, sigma: float | None) -> float:
        """The weight by `how` ('auto': :data:`AUTO_RULES`), never below
        :data:`WEIGHT_FLOOR` of the operator's scale; for total variation, the one matched
        to that Tikhonov weight (:func:`tv_weight`). The rule sees the exact model where the scene is factorised
        and small (:meth:`Normal.diagonal`), else the FFT or DCT model of the
        observation (of its interior for 'fill')."""
        exact = None
        if self.normal_equations is not None and not self.tv:
            exact = self.normal_equations.diagonal(image, self.adjoint(image))
        seen = image if self.window is None else image[self.window]
        if exact is not None:
            blur, prior, data = exact
        else:
            coeffs = np.fft.fft2(seen, norm="ortho") if self.periodic else dct(seen)
            blur, prior, data = self.model_power, self.model_weights, np.abs(coeffs) ** 2
        if how == "auto":
            how = AUTO_RULES.get(self.prior, AUTO_DEFAULT)
        if how == "gml":
            chosen = gml(blur, prior, data)
        elif how == "gcv":
            chosen = gcv(blur, prior, data)
        else:
            level = noise_level(seen) if sigma is None else sigma
            chosen = discrepancy(blur, prior, data, level)
        reg = max(chosen, WEIGHT_FLOOR * weight_scale(self.model_power, self.model_weights))
        if self.tv:
            return tv_weight(blur, prior, data, reg)
        return reg

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``A x`` of a scene."""
        return self.operator.forward(x)

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``A^T y`` of an observation, on the scene's grid."""
        return self.operator.adjoint(y)

    def __call__(
        self, image: np.ndarray, reg: float, callback: Callback | None = None
    ) -> tuple[np.ndarray, int, bool]:
        """The estimate of one observation: (scene, iterations, converged).

        A quadratic prior's estimate is converged when the normal equations'
        residual is certified: ``||A^T y - (A^T A + reg L^T L) x|| <= tol
        ||A^T y||``, recomputed from the estimate with the exact operators
        (:meth:`residual`). ADMM brings the iterate near the solution, and
        preconditioned conjugate gradients, started there, take it to the
        certified residual; 'direct' and the transform solvers are exact."""
        if self.solver == "admm" and self.tv:
            return self.splitting.solve(
                image, reg, maxiter=self.maxiter, tol=self.tol, callback=callback
            )
        rhs = self.adjoint(image)
        if self.solver != "admm":
            return self.solve(rhs, reg, callback)
        start, steps, _ = self.splitting.solve(
            image, reg, maxiter=self.maxiter, tol=ADMM_HANDOFF, callback=callback
        )
        x, more, done = self._cg(
            rhs, reg, callback, start=start, first=steps, maxiter=self.maxiter - steps
        )
        return x, steps + more, done

    def normal(self, x: np.ndarray, reg: float) -> np.ndarray:
        """``(A^T A + reg L^T L) x`` of a scene, by the exact operators."""
        out = self.adjoint(self.forward(x)) + reg * apply_prior(x, self.prior, periodic=False)
        return np.asarray(out)

    def residual(self, rhs: np.ndarray, x: np.ndarray, reg: float) -> float:
        """The certificate of a quadratic prior's estimate: ``||rhs - (A^T A + reg L^T L)
        x|| / ||rhs||`` (0 where both vanish, inf where only `rhs` does)."""
        r = float(np.linalg.norm(rhs - self.normal(x, reg)))
        b = float(np.linalg.norm(rhs))
        if b == 0.0:
            return 0.0 if r == 0.0 else math.inf
        return r / b

    def solve(
        self, rhs: np.ndarray, reg: float, callback: Callback | None = None
    ) -> tuple[np.ndarray, int, bool]:
        """``(A^T A + reg L^T L)^{-1} rhs``: (solution, CG iterations, converged);
        `callback(iterate, iteration)` after each CG iteration."""
        if self.solver == "fft":
            spec = np.fft.fft2(rhs)
            return np.fft.ifft2(_divide(spec, self.model_power + reg * self.weights)).real, 0, True
        if self.solver == "dct":
            return idct(_divide(dct(rhs), self.model_power + reg * self.weights)), 0, True
        if self.normal_equations is not None:
            return self.normal_equations.solve(rhs, reg), 0, True
        return self._cg(rhs, reg, callback, maxiter=self.maxiter)

    def _cg(
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
        iterations: (solution, iterations, certified). The residual that stops scipy's
        CG is its own recurrence; the certificate is recomputed from the solution, and
        CG restarted from it while iterations remain."""
        shape = self.scene_shape
        size = math.prod(shape)

        def normal(v: np.ndarray) -> np.ndarray:
            return self.normal(v.reshape(shape), reg).ravel()

        denominator = self.power + reg * self.preconditioner_weights

        def precondition(r: np.ndarray) -> np.ndarray:
            if self.dct_model:
                return idct(_divide(dct(r.reshape(shape)), denominator)).ravel()
            spec = np.fft.rfft2(r.reshape(shape))
            half = denominator[:, : spec.shape[1]]
            return np.fft.irfft2(_divide(spec, half), shape).ravel()

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


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with zero where ``den`` vanishes (the minimum-norm solution there)."""
    den = np.asarray(den)
    safe = np.where(np.abs(den) > 0, den, 1.0)
    return np.where(np.abs(den) > 0, num / safe, 0.0)


def _interior(kernel_shape: tuple[int, ...], shape: tuple[int, int]) -> tuple[slice, slice] | None:
    """The outputs of a 'same' blur of `shape` that read no pixel beyond the image (None
    where the kernel leaves none in some axis)."""
    out = []
    for m, n in zip(kernel_shape, shape, strict=True):
        axis = axis_map(n, m, "same", "fill", False)  # the blur's own geometry
        before = axis.pad_before  # pixels read before and after an output
        after = axis.span - before - n
        if n - before - after < 1:
            return None
        out.append(slice(before, n - after))
    return out[0], out[1]


def _window_shape(window: tuple[slice, slice]) -> tuple[int, int]:
    return (window[0].stop - window[0].start, window[1].stop - window[1].start)
