"""Deblurring with the exact boundary model: Tikhonov or total-variation deconvolution.

:func:`deconvolve2d` inverts the convolution matrix of a known blur under
the boundary model the user states, 'unknown' by default: the observation is
the 'valid' part of the blur of a larger scene, so no assumption about what
lies beyond the edges leaks into the estimate (Reeves 2005; Almeida and
Figueiredo 2013). Fast exact solvers serve the models a transform
diagonalises; the others, and total variation, are solved by ADMM with the
mask splitting (``convmat._inverse.admm``), and for the quadratic priors
finished by preconditioned conjugate gradients on the exact operator.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast, get_args

import numpy as np
import numpy.typing as npt

from ._core.budget import check_working_set
from ._core.validate import (
    caller_level,
    check_array,
    check_blur_model,
    check_callable,
    check_channel_axis,
    check_choice,
    check_finite,
    check_flag,
    check_fraction,
    check_nonempty,
    check_positive_int,
    check_positive_real,
    check_real,
    check_weight,
    compact_repr,
    keyword_only_hint,
)
from ._inverse.model import solver_for
from ._inverse.restore import Prior
from ._inverse.tikhonov import Tikhonov
from ._inverse.tv import TotalVariation

# The default certified residual of a quadratic prior's normal equations, relative to
# ||A^T y||. Measured on camera 512^2 with the edges unknown, weights by GCV: at 1e-6, 0.2
# to 0.8 s a solve; at 1e-7 up to 4.8 s (a 13x13 Gaussian at noise 1e-4, whose unobserved
# border converges slowest; docs/guide/deblurring.md gives the distances to the minimiser).
RESIDUAL_TOL = 1e-6
DEFAULT_MAXITER = 500
PROGRESS_SECONDS = 2.0  # between the progress lines of verbose=True

__all__ = ["DeconvolutionInfo", "deconvolve2d"]

DeblurBoundary = Literal["unknown", "fill", "wrap", "symm", "pad", "circular", "symmetric"]
RegChoice = Literal["auto", "gml", "gcv", "discrepancy"]
RULES: tuple[str, ...] = get_args(RegChoice)
PRIOR_NAMES = ("gradient", "laplacian", "identity", "tv")  # in the order the docs give


@dataclass(frozen=True)
class DeconvolutionInfo:
    """What :func:`deconvolve2d` did, per image of the batch.

    Attributes
    ----------
    reg : ndarray of float, shape (...)
        The regularisation weight used.
    iterations : ndarray of int, shape (...)
        ADMM and conjugate-gradient iterations (0 for the exact solvers).
    converged : ndarray of bool, shape (...)
        Whether the estimate is certified to `tol` (always True for the
        exact solvers).
    scene : ndarray, shape (..., H + kH - 1, W + kW - 1) or (..., H, W)
        The whole estimated scene: larger than the observation for boundary
        'unknown', the estimate itself otherwise.
    solver : str
        'fft', 'dct' or 'direct' (exact), or 'admm' (ADMM, then conjugate
        gradients for a quadratic prior).
    stopped : ndarray of str, shape (...)
        Why the solver stopped: 'exact' (an exact solver), 'tol' (the
        certificate of `tol` holds) or 'maxiter'.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat
    >>> observed = np.ones((3, 8, 9))                        # a batch of three images
    >>> psf = np.full((3, 3), 1 / 9)
    >>> _, info = convmat.deconvolve2d(observed, psf, reg=1e-2, return_info=True)
    >>> info.solver, info.reg.shape, info.scene.shape   # a small scene, factorised
    ('direct', (3,), (3, 10, 11))
    >>> info  # doctest: +ELLIPSIS
    DeconvolutionInfo(solver='direct', reg=[0.01, 0.01, 0.01], ..., scene=<array of shape (3, 10, 11), dtype float64>)
    """

    reg: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    scene: np.ndarray
    solver: str
    stopped: np.ndarray

    def __repr__(self) -> str:
        """The small fields written out; the scene (and large batches) by shape and dtype."""
        return compact_repr(
            "DeconvolutionInfo",
            {
                "solver": self.solver,
                "reg": self.reg,
                "iterations": self.iterations,
                "converged": self.converged,
                "stopped": self.stopped,
                "scene": self.scene,
            },
        )


@keyword_only_hint
def deconvolve2d(
    observed: npt.ArrayLike,
    kernel: npt.ArrayLike,
    *,
    boundary: DeblurBoundary = "unknown",
    reg: float | RegChoice = "auto",
    prior: Prior = "gradient",
    noise_std: float | None = None,
    maxiter: int | None = None,
    tol: float | None = None,
    channel_axis: int | None = None,
    callback: Callable[[np.ndarray, int], object] | None = None,
    verbose: bool = False,
    return_info: bool = False,
) -> np.ndarray | tuple[np.ndarray, DeconvolutionInfo]:
    """Estimate the scene behind a blurred, noisy observation, for a known kernel.

    Minimises ``||A x - y||^2 + reg * ||L x||^2`` per image, with ``A`` the
    exact convolution matrix of the boundary model and ``L`` the prior; with
    ``prior='tv'``, ``||A x - y||^2 / 2 + reg * max|y| * TV(x)`` with ``TV``
    the isotropic total variation, its weight relative to the image's peak
    magnitude. The solvers run on the kernel scaled to unit sum of
    magnitudes and each image to unit peak, the weight converted: any scale
    of either gives the same iterations, the same stopping and the same
    automatic weight, ``deconvolve2d(y, c * k)`` is ``deconvolve2d(y, k) / c``
    with the weight chosen by a rule (the weight reported scaled by ``c**2``,
    ``c`` for total variation).

    Parameters
    ----------
    observed : array_like, shape (..., H, W)
        The observations ``y``; leading axes are a batch. Real, finite.
    kernel : array_like, shape (kH, kW)
        The blur (point spread function), as in :func:`convmat.conv2d`.
    boundary : {'unknown', 'fill', 'wrap', 'symm'}
        The forward model. 'fill', 'wrap', 'symm' (and scipy's aliases):
        ``y = conv2d(x, kernel, 'same', boundary)`` with ``x`` of the
        observation's shape. 'unknown': ``y = conv2d(x, kernel, 'valid')``
        for a scene ``x`` larger by ``kernel.shape - 1``; the estimate
        returned is the part of it that 'same' mode aligns with ``y``
        (from offset ``kernel.shape // 2``), the whole scene is in the info.
    reg : float or {'auto', 'gml', 'gcv', 'discrepancy'}
        The weight, non-negative; or how to choose it per image: 'gml' by
        the marginal likelihood of the observation (Wahba's GML), 'gcv' by
        generalised cross-validation, 'discrepancy' so that the residual's
        energy equals the noise's (`noise_std`, or Immerkaer's estimate from
        the observation when it is None). 'auto' is GML, the best of the
        three in ``benchmarks/deblur_weights.py``, except with
        ``prior='identity'``, where it is GCV (measured there too). Each is
        kept at or above ``1e-4`` of ``max |K|^2 / max(L^T L)`` (a clean
        observation has no noise for them to see). With ``prior='tv'``, the
        rule chooses the gradient prior's Tikhonov weight ``r`` as above, and
        total variation gets ``2 * r * g`` with ``g`` the RMS gradient of that
        Tikhonov estimate on the diagonal model: where the two penalties pull
        equally on a typical gradient, doubled (measured in
        ``benchmarks/inverse.py``).
    prior : {'gradient', 'laplacian', 'identity', 'tv'}
        ``L``: first differences (the default), second differences (the
        discrete Laplacian), or the identity; 'tv': the isotropic total
        variation of the first differences, which keeps edges. The
        differences are periodic for 'wrap' and taken inside the scene
        otherwise.
    noise_std : float, optional
        The noise's standard deviation, for the discrepancy principle.
    maxiter : int, optional
        Most iterations per image (ADMM's and conjugate gradients'
        together): default 500.
    tol : float, optional
        In (0, 1). For the quadratic priors, the certified residual of the
        normal equations: a solve stops with ``stopped='tol'`` only when
        ``||A^T y - (A^T A + reg L^T L) x|| <= tol ||A^T y||``, recomputed
        from the estimate with the exact operators (ADMM brings the iterate
        near, conjugate gradients finish); default 1e-6.
        The distance to the minimiser that a residual certifies grows with
        the problem's conditioning: ``benchmarks/RESULTS.md`` gives it for
        the default on 256x256 crops. Scenes of at most 2048 pixels under
        'unknown', 'fill' or 'symm' are factorised instead (solver
        'direct'), exactly. With ``prior='tv'``, ADMM stops when the
        estimate (the field of view) changes by less than `tol` (relative,
        in the 2-norm) in one iteration; default 1e-4.
    channel_axis : int, optional
        The axis of `observed` that holds colour channels, as scikit-image
        spells it: each channel is deblurred as an image of its own, and the
        estimate keeps the axis where it was. None: the last two axes are
        the image (a trailing axis of 3 or 4 then warns that it is taken as
        the image's width).
    callback : callable, optional
        ``callback(xk, k)`` after each ADMM or conjugate-gradient iteration ``k`` with
        the current scene estimate ``xk`` (shape of ``info.scene``'s images),
        image by image of a batch; never called by the transform solvers.
    verbose : bool
        Print a progress line to standard error every few seconds of an
        iterative solve: the image of the batch, the iteration and
        `maxiter`, the solver and the time so far.
    return_info : bool
        Also return a :class:`DeconvolutionInfo`.

    Returns
    -------
    ndarray of float64, shape (..., H, W)
        The estimate; with `return_info`, ``(estimate, info)``. Scaling the
        observation scales the estimate: ``deconvolve2d(c * y, k)`` is
        ``c * deconvolve2d(y, k)`` to rounding for any finite ``c`` (each
        image is divided by its peak magnitude before the solve).

    Raises
    ------
    ValueError
        Bad names, a kernel of zeros, NaN or inf in the inputs, a negative
        or non-finite `reg`, a non-positive `noise_std`, `tol` outside (0, 1).
    TypeError
        Complex or non-numeric arrays, a kernel that is not 2-D.

    See Also
    --------
    convmat.conv2d : the forward model.
    skimage.restoration.wiener : periodic, with a hand-tuned balance.

    Notes
    -----
    Solvers: 'wrap' is diagonalised by the FFT and 'symm' with a kernel
    symmetric in each axis (odd sizes) by the orthonormal DCT-II, both
    together with a quadratic prior: a division per frequency, exact. Every
    other model with a quadratic prior and at most 2048 pixels in the scene
    is solved by a
    Cholesky factorisation of the normal equations ``(A^T A + reg L^T L) x
    = A^T y`` with the exact sparse matrix (solver 'direct'). Larger
    scenes, and total variation on every model, run ADMM: the model is the
    crop of a circular convolution of a larger grid (Almeida and Figueiredo
    2013), split so that each iteration is two FFT pairs, a mask and a
    shrinkage, and every iterate is a sane image; for a quadratic prior,
    conjugate gradients on the normal equations with the exact operator,
    preconditioned by the DCT (or periodic) model, start from ADMM's
    iterate and run until the residual is certified (for the Laplacian,
    whose differences of differences the splitting holds as a penalty on
    the differences, ADMM comes ten times nearer first). A solve that stops at
    `maxiter` before `tol` warns (``RuntimeWarning``) and says so in the
    info.

    The weight is chosen on the DCT model of the observation (the FFT model
    for 'wrap'; for 'fill', of the outputs that no padding reaches, since
    the dark ramp of a zero border is no part of that model): closed-form
    filter factors, so each rule costs one transform and a scalar search.
    A factorised scene of at most 1024 pixels is written exactly as a
    diagonal model instead (a generalised eigendecomposition of ``(A^T A,
    A^T A + L^T L)``), and the rule reads the model actually solved. Where
    the rules can fail: observations of 8x8 or 16x16 with the edges
    unknown, where most of the scene lies beyond the observation and no
    weight of the prior beats the observation by much: GML's estimate came
    out below the observation in 5 of 432 small cases of
    ``benchmarks/deblur_weights.py``, by at most 1.8 dB.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat
    >>> rng = np.random.default_rng(0)
    >>> yy, xx = np.mgrid[:40, :50]
    >>> scene = ((yy // 10 + xx // 10) % 2).astype(float)   # a checkerboard
    >>> k = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16
    >>> y = convmat.conv2d(scene, k, "valid") + 0.01 * rng.standard_normal((38, 48))
    >>> x, info = convmat.deconvolve2d(y, k, return_info=True)  # edges unknown, reg by GML
    >>> x.shape, info.scene.shape, info.solver, str(info.stopped)   # 2000 pixels: factorised
    ((38, 48), (40, 50), 'direct', 'exact')
    >>> truth = scene[1:-1, 1:-1]
    >>> bool(np.mean((x - truth) ** 2) < np.mean((y - truth) ** 2) / 2)
    True

    A reflexive boundary and a symmetric kernel are diagonalised by the DCT:

    >>> x, info = convmat.deconvolve2d(y, k, boundary="symm", return_info=True)
    >>> info.solver, info.scene.shape
    ('dct', (38, 48))

    Total variation keeps the checkerboard's edges sharper than the default prior:

    >>> x_tikhonov = convmat.deconvolve2d(y, k)
    >>> x_tv = convmat.deconvolve2d(y, k, prior="tv")
    >>> bool(np.mean((x_tv - truth) ** 2) < np.mean((x_tikhonov - truth) ** 2))
    True
    """
    y, k, channels = _checked_arrays(observed, kernel, channel_axis, callback)
    model = check_blur_model(boundary)
    reg_arg = check_weight(reg, "reg", RULES)
    checked_prior = cast("Prior", check_choice(prior, "prior", PRIOR_NAMES))
    sigma = None if noise_std is None else check_positive_real(noise_std, "noise_std")
    kern = k.astype(np.float64)
    h, w = y.shape[-2:]
    scene_shape = (h + k.shape[0] - 1, w + k.shape[1] - 1) if model == "unknown" else (h, w)
    solver = solver_for(model, kern, checked_prior, scene_shape[0] * scene_shape[1])
    iters, rtol = _stopping(maxiter, tol, tv=checked_prior == "tv")
    check_flag(verbose, "verbose")
    check_flag(return_info, "return_info")
    _check_work(y, k, scene_shape)

    images = y.astype(np.float64).reshape(-1, h, w)
    # the solvers see a kernel of unit l1 norm (and data of unit peak): their constants,
    # tolerances and weight rules then act alike for every scale of either
    gain = _gain(kern)
    power = 1 if checked_prior == "tv" else 2  # the weight's degree in the kernel's scale
    solve: Tikhonov | TotalVariation
    if checked_prior == "tv":
        solve = TotalVariation(kern / gain, (h, w), model, iters, rtol)
    else:
        solve = Tikhonov(kern / gain, (h, w), model, checked_prior, iters, rtol, solver=solver)
    # two divisions: a kernel's square may leave float64's range where the weight does not
    weight = reg_arg / gain / gain ** (power - 1) if isinstance(reg_arg, float) else reg_arg
    report = None if callback is None else _scaled(callback, 1.0 / gain)
    progress = _Progress(images.shape[0], iters, solver) if verbose else None
    scenes, regs, steps, done = _deconvolve_each(images, solve, weight, sigma, report, progress)
    scenes /= gain
    with np.errstate(over="ignore"):  # a weight beyond float64's range is reported as inf
        regs = regs * gain * gain ** (power - 1)
    batch = y.shape[:-2]
    whole = scenes.reshape(*batch, *scene_shape)
    if model == "unknown":
        top, left = k.shape[0] // 2, k.shape[1] // 2
        estimate = whole[..., top : top + h, left : left + w].copy()
    else:
        estimate = whole
    if channels is not None:
        whole = np.moveaxis(whole, -3, channels)
        estimate = np.moveaxis(estimate, -3, channels)
    if not done.all():
        warnings.warn(
            f"ADMM stopped at maxiter={iters} before tol={rtol} for "
            f"{int((~done).sum())} of {done.size} images; raise `maxiter` or `tol`",
            RuntimeWarning,
            stacklevel=caller_level(),
        )
    if not return_info:
        return np.asarray(estimate)
    iterative = solver == "admm"
    info = DeconvolutionInfo(
        reg=regs.reshape(batch),
        iterations=steps.reshape(batch),
        converged=done.reshape(batch),
        scene=whole,
        solver=solver,
        stopped=np.where(done, "tol" if iterative else "exact", "maxiter").reshape(batch),
    )
    return estimate, info


def _checked_arrays(
    observed: object, kernel: object, channel_axis: object, callback: object
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """The observations (channels moved before the image axes), the kernel and the channel
    axis, validated: non-empty, real."""
    y = check_array(observed, "observed", min_ndim=2)
    k = check_array(kernel, "kernel", ndim=2)
    channels = check_channel_axis(channel_axis, y.shape, "observed")
    check_callable(callback, "callback")
    if channels is not None:
        y = np.moveaxis(y, channels, -3)
    check_nonempty(y.shape[-2:], "observed")
    check_nonempty(k.shape, "kernel")
    check_real(y, "observed")
    check_real(k, "kernel")
    return y, k, channels


def _stopping(maxiter: object, tol: object, *, tv: bool) -> tuple[int, float]:
    """The iteration limit and tolerance: the arguments checked, or the defaults (a
    quadratic prior's certified residual; ADMM's change per iteration for total
    variation)."""
    iters = DEFAULT_MAXITER if maxiter is None else check_positive_int(maxiter, "maxiter")
    if tol is not None:
        rtol = check_fraction(tol, "tol")
    elif tv:
        rtol = 1e-4
    else:
        rtol = RESIDUAL_TOL
    return iters, rtol


def _check_work(y: np.ndarray, k: np.ndarray, scene_shape: tuple[int, int]) -> None:
    """Refuse a batch whose working set cannot fit, data that is not finite, a zero blur."""
    h, w = y.shape[-2:]
    scene_size = math.prod(scene_shape)
    n_images = math.prod(y.shape[:-2])
    # per image: about 24 float64 arrays of the scene (the solver's vectors, transforms and
    # spectra); for the batch: the input in float64, the estimates and the whole scenes
    check_working_set(
        8 * (24 * scene_size + n_images * (h * w * 2 + scene_size)),
        f"deconvolving {n_images} image(s) of {(h, w)}",
        "deblur fewer images per call, or tiles of the image (with boundary='unknown' each "
        "tile's observation is the 'valid' blur of its own larger scene, exactly)",
    )
    check_finite(y, "observed")
    check_finite(k, "kernel")
    if not k.any():
        msg = "`kernel` is all zeros: a zero blur erases the scene and cannot be inverted"
        raise ValueError(msg)


def _gain(kernel: np.ndarray) -> float:
    """``||kernel||_1`` (positive: a kernel of zeros is refused), scaled to stay finite."""
    peak = float(np.max(np.abs(kernel)))
    return float(np.abs(kernel / peak).sum()) * peak


def _deconvolve_each(
    images: np.ndarray,
    solve: Tikhonov | TotalVariation,
    reg: float | str,
    sigma: float | None,
    callback: Callable[[np.ndarray, int], object] | None,
    progress: _Progress | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each image's scene, weight, iterations and convergence, in the image's own units."""
    n_images = images.shape[0]
    scenes = np.zeros((n_images, *solve.scene_shape))
    regs, steps, done = np.zeros(n_images), np.zeros(n_images, int), np.ones(n_images, bool)
    for i, image in enumerate(images):
        # the solve sees data of peak magnitude 1 (no overflow of the squares, no
        # underflow), the same for any multiple of the image: the estimate scales with it
        peak = float(np.max(np.abs(image)))
        scale = peak if peak > 0 else 1.0
        data = image / scale
        level = None if sigma is None else sigma / scale
        regs[i] = reg if isinstance(reg, float) else solve.choose(data, reg, level)
        report = None if callback is None else _scaled(callback, scale)
        if progress is not None:
            report = progress.hook(i, report)
        scenes[i], steps[i], done[i] = solve(data, float(regs[i]), report)
        scenes[i] *= scale
    return scenes, regs, steps, done


class _Progress:
    """The progress lines of ``verbose=True``: one every :data:`PROGRESS_SECONDS` of a
    solve, to standard error."""

    def __init__(self, images: int, maxiter: int, solver: str) -> None:
        self.images, self.maxiter, self.solver = images, maxiter, solver
        self.start = self.last = time.monotonic()

    def hook(
        self, image: int, callback: Callable[[np.ndarray, int], object] | None
    ) -> Callable[[np.ndarray, int], object]:
        """`callback` (or nothing) preceded by a progress line when one is due."""

        def report(xk: np.ndarray, k: int) -> object:
            now = time.monotonic()
            if now - self.last >= PROGRESS_SECONDS:
                self.last = now
                print(
                    f"deconvolve2d: image {image + 1}/{self.images}, iteration "
                    f"{k}/{self.maxiter} ({self.solver}), {now - self.start:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
            return None if callback is None else callback(xk, k)

        return report


def _scaled(
    callback: Callable[[np.ndarray, int], object], scale: float
) -> Callable[[np.ndarray, int], object]:
    """`callback` fed the iterates in the observation's own units."""

    def report(xk: np.ndarray, k: int) -> object:
        return callback(xk * scale, k)

    return report
