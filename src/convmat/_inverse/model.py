"""One blur model over observations of one shape, and the weight its rules choose.

:class:`BlurModel` holds a boundary model and kernel: the exact operator and its
adjoint (:mod:`~convmat._inverse.operators`, or the engines' 'fill' blur), the
spectrum where the FFT ('wrap') or the DCT ('symm' with a kernel symmetric in
each axis) diagonalises it, and the diagonal model the weight rules read
(:meth:`BlurModel.rule_inputs`, :meth:`BlurModel.weight`). :func:`solver_for`
names the solver unit a model and prior take. The solvers themselves
(``transform``, ``direct``, ``cg``, ``admm``) and the two priors' drivers
(``tikhonov``, ``tv``) build on it.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from .._core.index import axis_map
from .._engines.fillfft import FillBlur
from .._engines.pipeline import forward
from . import direct as _direct
from .operators import Blur, Circulant, Cosine, Reflected, dct
from .restore import (
    Prior,
    discrepancy,
    gcv,
    gml,
    noise_level,
    prior_weights,
    response,
    symmetric,
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

# What a weight rule reads: the blur's power, the prior's weights and the data's power,
# per coefficient of one diagonal model
RuleInputs = tuple[np.ndarray, np.ndarray, np.ndarray]


def solver_for(
    model: str, kernel: np.ndarray, prior: str = "gradient", pixels: int | None = None
) -> str:
    """'fft' or 'dct' where a transform diagonalises the model and a quadratic prior;
    'direct' for a quadratic prior on a scene of `pixels` that
    :func:`~convmat._inverse.direct.fits` (the normal equations factorised); else 'admm'
    (the mask splitting, then conjugate gradients to the certified residual; every model
    with total variation)."""
    if prior == "tv":
        return "admm"
    if model == "wrap":
        return "fft"
    if model == "symm" and symmetric(kernel):
        return "dct"
    if pixels is not None and _direct.fits(pixels):
        return "direct"
    return "admm"


class BlurModel:
    """One boundary model and kernel over observations of `shape`, with a quadratic prior
    for the weight rules and the transform solves (total variation's stand-in: the
    gradient prior)."""

    def __init__(
        self, kernel: np.ndarray, shape: tuple[int, ...], model: str, quadratic: Prior
    ) -> None:
        h, w = shape
        self.kernel, self.model = kernel, model
        self.shape = (h, w)
        unknown = model == "unknown"
        self.scene_shape = (h + kernel.shape[0] - 1, w + kernel.shape[1] - 1) if unknown else (h, w)
        periodic = model == "wrap"
        self.periodic = periodic
        # the transform that diagonalises the model, if any: for the exact solvers and for
        # total variation with its one split
        self.diagonal = (
            "fft" if periodic else ("dct" if model == "symm" and symmetric(kernel) else "")
        )
        self.operator: Blur
        if self.diagonal == "fft":  # A is circulant: its first column's DFT is its spectrum
            self.spectrum = np.asarray(scipy.fft.fft2(self._column()))
            self.operator = Circulant(self.spectrum)
        elif self.diagonal == "dct":  # A = C^T diag(values) C, C the orthonormal DCT-II
            delta = np.zeros(self.shape)
            delta[0, 0] = 1
            self.spectrum = dct(self._column()) / dct(delta)
            self.operator = Cosine(self.spectrum)
        elif model in ("unknown", "fill"):  # the exact operator, for any right-hand side
            self.operator = FillBlur(kernel, self.scene_shape, "valid" if unknown else "same")
        else:  # 'symm' with a kernel that is not symmetric: the exact operator by FFT
            self.operator = Reflected(kernel, (h, w))
        self.weights = prior_weights(self.scene_shape, quadratic, periodic=periodic)
        # the model the weight rules see: the observation's own grid; for 'fill', only the
        # interior the zero border does not reach (the dark, ramped edge is no part of the
        # DCT model: GCV read it as signal and chose weights 27 to 300 times below the best)
        self.window = _interior(kernel.shape, self.shape) if model == "fill" else None
        grid = self.shape if self.window is None else _window_shape(self.window)
        self.model_power = np.abs(self.spectrum) ** 2 if self.diagonal else response(kernel, grid)
        self.model_weights = prior_weights(grid, quadratic, periodic=periodic)

    def _column(self) -> np.ndarray:
        delta = np.zeros(self.shape)
        delta[0, 0] = 1
        return forward(
            delta, self.kernel, "same", self.model, 0, corr=False, method="auto", rtol=None, ndim=2
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``A x`` of a scene."""
        return self.operator.forward(x)

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``A^T y`` of an observation, on the scene's grid."""
        return self.operator.adjoint(y)

    def rule_inputs(self, image: np.ndarray, exact: RuleInputs | None = None) -> RuleInputs:
        """What the weight rules read of `image`: `exact` where the caller has the exact
        model (a factorised scene), else the FFT or DCT model of the observation (of its
        interior for 'fill')."""
        if exact is not None:
            return exact
        seen = self._seen(image)
        coeffs = np.fft.fft2(seen, norm="ortho") if self.periodic else dct(seen)
        return self.model_power, self.model_weights, np.abs(coeffs) ** 2

    def weight(
        self, image: np.ndarray, how: str, sigma: float | None, inputs: RuleInputs, prior: str
    ) -> float:
        """The quadratic weight by `how` ('auto': :data:`AUTO_RULES` for `prior`) on
        `inputs` (:meth:`rule_inputs`), never below :data:`WEIGHT_FLOOR` of the operator's
        scale; `sigma` the noise level of the discrepancy rule (else estimated from
        `image`)."""
        blur, weights, data = inputs
        if how == "auto":
            how = AUTO_RULES.get(prior, AUTO_DEFAULT)
        if how == "gml":
            chosen = gml(blur, weights, data)
        elif how == "gcv":
            chosen = gcv(blur, weights, data)
        else:
            level = noise_level(self._seen(image)) if sigma is None else sigma
            chosen = discrepancy(blur, weights, data, level)
        return max(chosen, WEIGHT_FLOOR * weight_scale(self.model_power, self.model_weights))

    def _seen(self, image: np.ndarray) -> np.ndarray:
        return image if self.window is None else image[self.window]


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
