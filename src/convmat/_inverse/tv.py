"""Total-variation deblurring of one blur model: ADMM, and its matched weight.

:class:`TotalVariation` runs ADMM (:mod:`~convmat._inverse.admm`) on every
model: with one split where the FFT or the DCT diagonalises it
(:class:`~convmat._inverse.admm.Diagonal`), else with the mask splitting. It
stops when the estimate changes by less than `tol` in an iteration, which
certifies no distance to the minimiser. Its weight is matched to the gradient
prior's Tikhonov weight on the same diagonal model
(:func:`~convmat._inverse.restore.tv_weight`).
"""

from __future__ import annotations

import numpy as np

from .admm import Callback, Diagonal, Splitting
from .model import BlurModel
from .restore import tv_weight

__all__: list[str] = []


class TotalVariation:
    """One boundary model and kernel over images of one shape, with the total-variation
    prior; its quadratic stand-in (the weight rules, the transform models) is the
    gradient prior."""

    prior = "tv"
    solver = "admm"

    def __init__(
        self, kernel: np.ndarray, shape: tuple[int, ...], model: str, maxiter: int, tol: float
    ) -> None:
        self.model = BlurModel(kernel, shape, model, "gradient")
        self.maxiter, self.tol = maxiter, tol
        self.scene_shape = self.model.scene_shape
        self.splitting: Splitting | Diagonal
        if self.model.diagonal:
            self.splitting = Diagonal(self.model.spectrum, periodic=self.model.periodic)
        else:
            self.splitting = Splitting(kernel, self.model.shape, model, "gradient", "tv")

    def choose(self, image: np.ndarray, how: str, sigma: float | None) -> float:
        """The weight matched (:func:`tv_weight`) to the gradient prior's weight by `how`
        on the FFT or DCT model of the observation (of its interior for 'fill')."""
        inputs = self.model.rule_inputs(image)
        reg = self.model.weight(image, how, sigma, inputs, self.prior)
        return tv_weight(*inputs, reg)

    def __call__(
        self, image: np.ndarray, reg: float, callback: Callback | None = None
    ) -> tuple[np.ndarray, int, bool]:
        """The estimate of one observation: (scene, iterations, whether the change per
        iteration fell below `tol` within `maxiter`)."""
        return self.splitting.solve(
            image, reg, maxiter=self.maxiter, tol=self.tol, callback=callback
        )
