"""Diagonal models of a blur and choices of the regularisation weight.

A 'wrap' blur is diagonalised by the 2-D FFT, and a 'symm' blur with a kernel
symmetric in each axis (odd sizes) by the orthonormal 2-D DCT-II (Ng, Chan and
Tang 1999); so are the difference priors with the matching boundary
(periodic, or Neumann: differences inside the image only). On those, the
Tikhonov solution is a division per frequency. Every other model is solved
iteratively (``convmat._inverse.admm``, then conjugate gradients with the nearest
diagonal model as preconditioner, ``convmat._inverse.cg``).

The weight ``reg`` is chosen on a diagonal model of the observation (the
FFT model for 'wrap'; otherwise the DCT model, whose blur power is the
kernel's power at the DCT frequencies averaged over mirror images, exact for
symmetric kernels; or the exact model of a small scene written in its
generalised eigenbasis, ``convmat._inverse.direct``): by the marginal
likelihood (GML), by generalised cross-validation, or by the discrepancy
principle with a known or estimated noise level.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import scipy.fft

from .._core.spectra import circulant_values

__all__: list[str] = []

Prior = Literal["identity", "gradient", "laplacian", "tv"]


def symmetric(kernel: np.ndarray) -> bool:
    """Whether `kernel` has odd sizes and is symmetric in each axis (DCT-diagonal with 'symm')."""
    return all(m % 2 for m in kernel.shape) and all(
        np.array_equal(kernel, np.flip(kernel, axis)) for axis in range(kernel.ndim)
    )


def prior_weights(shape: tuple[int, int], prior: Prior, *, periodic: bool) -> np.ndarray:
    """Eigenvalues of ``L^T L`` on `shape`: FFT order if `periodic`, else DCT-II order."""
    if prior == "identity":
        return np.ones(shape)
    freqs = [np.arange(n) for n in shape]
    per_axis = [
        2 - 2 * np.cos((2 if periodic else 1) * math.pi * f / n)
        for f, n in zip(freqs, shape, strict=True)
    ]
    laplacian = per_axis[0][:, None] + per_axis[1][None, :]
    return np.asarray(laplacian if prior == "gradient" else laplacian**2)


def apply_prior(x: np.ndarray, prior: Prior, *, periodic: bool) -> np.ndarray:
    """``L^T L x`` on the last two axes: differences inside the image, or periodic ones."""
    if prior == "identity":
        return np.array(x, copy=True)
    out = np.zeros_like(x)
    for axis in (-2, -1):
        if periodic:
            d = np.roll(x, -1, axis) - x
            out += np.roll(d, 1, axis) - d
        else:  # D^T D x with D the differences of neighbours inside the image
            d = np.diff(x, axis=axis)
            head = [slice(None)] * x.ndim
            tail = [slice(None)] * x.ndim
            head[axis], tail[axis] = slice(None, -1), slice(1, None)
            out[tuple(head)] -= d
            out[tuple(tail)] += d
    return out if prior == "gradient" else apply_prior(out, "gradient", periodic=periodic)


def response(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The kernel's power at the DCT-II frequencies of `shape`, averaged over mirror images.

    A DCT basis image ``cos(w0 t0) cos(w1 t1)`` is half the plane wave
    ``(w0, w1)`` and half ``(w0, -w1)``, so the blur keeps on average
    ``(|K(w0, w1)|^2 + |K(w0, -w1)|^2) / 2`` of its energy, with
    ``w = pi f / n``. For a kernel symmetric in each axis both terms are
    ``K(w)^2``, the exact eigenvalue.
    """
    grid = tuple(2 * n for n in shape)
    power = np.abs(np.asarray(scipy.fft.fft2(kernel, grid))) ** 2
    mirrored = np.roll(power[:, ::-1], 1, axis=1)  # (w0, -w1)
    return np.asarray((power + mirrored)[: shape[0], : shape[1]] / 2)


def periodic_power(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``|DFT|^2`` of `kernel` folded onto the periodic grid `shape` (a circulant's ``A^T A``)."""
    return np.asarray(circulant_values(kernel, shape) ** 2)


def filtered_residual(blur: np.ndarray, prior: np.ndarray, data: np.ndarray, reg: float) -> float:
    """``||A x_reg - y||^2`` of the diagonal model (`data` = ``|y_hat|^2``)."""
    keep = reg * prior / (blur + reg * prior)
    return float(np.sum(keep**2 * data))


def _minimise(score: Callable[[float], float], scale: float) -> float:
    """The weight ``scale * 10**t`` minimising ``score(t)``: a grid of half decades from
    1e-14 to 1e2, then a bounded search between the best point's neighbours."""
    grid = np.arange(-14.0, 2.01, 0.5)
    best = int(np.argmin([score(g) for g in grid]))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    import scipy.optimize  # on first use: importing convmat stays light

    found = scipy.optimize.minimize_scalar(score, bounds=(lo, hi), method="bounded")
    return float(scale * 10.0 ** float(found.x))


def weight_scale(blur: np.ndarray, prior: np.ndarray) -> float:
    """``max(blur) / max(prior)``: the weight at which blur and prior weigh alike, the unit
    of the rules' searches and of the weight's floor."""
    return float(np.max(blur)) / max(float(np.max(prior)), 1e-300)


def gcv(blur: np.ndarray, prior: np.ndarray, data: np.ndarray) -> float:
    """The weight minimising generalised cross-validation on a diagonal model.

    With the filter factors ``f = reg p / (b + reg p)`` of the residual
    (`blur` b, `prior` p, `data` ``|y_hat|^2`` per coefficient, `n` of them),
    ``GCV = n sum(f^2 data) / sum(f)^2`` (Golub, Heath and Wahba 1979).
    """
    scale = weight_scale(blur, prior)

    def score(log_reg: float) -> float:
        reg = scale * 10.0**log_reg
        keep = reg * prior / (blur + reg * prior)
        return float(blur.size * np.sum(keep**2 * data) / max(np.sum(keep) ** 2, 1e-300))

    return _minimise(score, scale)


def gml(blur: np.ndarray, prior: np.ndarray, data: np.ndarray) -> float:
    """The weight maximising the marginal likelihood on a diagonal model (GML).

    Under the prior ``x ~ N(0, s^2 / reg (L^T L)^+)`` and white noise of
    variance ``s^2``, the observation's coefficients are independent with
    variances ``s^2 (b + reg p) / (reg p)``; profiling ``s^2`` out leaves
    ``GML = sum(f data) / prod(f)^(1/m)`` to minimise, with ``f = reg p / (b +
    reg p)`` over the ``m`` coefficients the prior penalises (``p > 0``; the
    others are the prior's null space, which every weight fits alike) (Wahba
    1985; Wahba and Wang 1993). It undersmooths less than GCV on small
    images (``benchmarks/deblur_weights.py``).
    """
    scale = weight_scale(blur, prior)
    free = prior > 0
    b, p, d = blur[free], prior[free], data[free]
    fixed = float(np.sum(data[~free & (blur == 0)]))  # unpenalised, unblurred: never fitted

    def score(log_reg: float) -> float:
        reg = scale * 10.0**log_reg
        keep = reg * p / (b + reg * p)
        fit = float(np.sum(keep * d)) + fixed
        return math.log(max(fit, 1e-300)) - float(np.mean(np.log(keep)))

    return _minimise(score, scale)


def discrepancy(blur: np.ndarray, prior: np.ndarray, data: np.ndarray, noise_std: float) -> float:
    """The weight whose residual equals the noise's energy (Morozov's discrepancy principle)."""
    target = blur.size * noise_std**2
    scale = weight_scale(blur, prior)

    def excess(log_reg: float) -> float:
        return filtered_residual(blur, prior, data, scale * 10.0**log_reg) - target

    import scipy.optimize  # on first use: importing convmat stays light

    lo, hi = -16.0, 4.0
    if excess(lo) >= 0:
        return float(scale * 10.0**lo)
    if excess(hi) <= 0:
        return float(scale * 10.0**hi)
    return float(scale * 10.0 ** float(scipy.optimize.brentq(excess, lo, hi, xtol=1e-3)))


def noise_level(image: np.ndarray) -> float:
    """Immerkaer's estimate of white noise's standard deviation (CVIU 1996).

    The mask is orthogonal to planes and quadrics' second differences
    cancel, so what it sees of a smooth (blurred) image is mostly noise.
    """
    if min(image.shape) < 3:
        return float(np.std(image))
    # the 'valid' filter with [[1, -2, 1], [-2, 4, -2], [1, -2, 1]], the outer product of the
    # second difference with itself: second differences along rows, then along columns
    rows = image[:-2] - 2 * image[1:-1] + image[2:]
    high = rows[:, :-2] - 2 * rows[:, 1:-1] + rows[:, 2:]
    return float(math.sqrt(math.pi / 2) * np.mean(np.abs(high)) / 6)


def tv_weight(blur: np.ndarray, prior: np.ndarray, data: np.ndarray, reg: float) -> float:
    """The total-variation weight matched to the Tikhonov weight `reg` of a diagonal model.

    Where the gradient prior's penalty ``reg |g|^2 / 2`` and total variation's
    ``weight |g|`` pull equally on a gradient of magnitude ``g``, ``weight =
    reg g``. With ``g`` the RMS gradient of the Tikhonov estimate (its
    energy ``sum(prior |x_hat|^2)`` per pixel, `data` = ``|y_hat|^2``) and
    twice that weight, total variation was at least as good as the Tikhonov
    estimate in 35 of 36 cases of 4 images x 3 blurs x noise 1e-3 to 3e-2, at
    most 0.26 dB below in the last (512x512 images, factors 1, 2 and 3
    measured: 2 was the best on average). It follows the image: smooth
    scenes get a larger weight than the noise level alone would give.
    """
    energy = float(np.sum(prior * data * blur / (blur + reg * prior) ** 2))
    return float(2.0 * reg * math.sqrt(energy / data.size))
