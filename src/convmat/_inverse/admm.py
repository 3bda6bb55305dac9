"""Deblurring by ADMM with the mask splitting: every boundary model, quadratic or TV prior.

Every boundary model of :func:`convmat.deconvolve2d` is a crop of a circular
convolution on a larger grid: the scene (for 'unknown'), or the image placed
in the grid and extended by zeros ('fill') or by its mirror images ('symm');
'wrap' is the circular convolution itself. With ``H`` that circulant, ``M``
the crop to the observed window, ``D`` the periodic differences of the grid
(masked to the pairs inside the scene or image) and ``P`` the projection on
the scenes the model allows, the problem

    minimise  1/2 ||M H z - y||^2 + reg R(D z)   over z = P z

is split as ``v = H z``, ``w = D z`` (``z`` itself for the identity prior)
and ``s = z`` (Almeida and Figueiredo 2013, "Deconvolving images with
unknown boundaries using the alternating direction method of multipliers";
Matakos, Ramani and Fessler 2013). Each iteration then costs two real FFTs
and two inverse ones: ``z`` by a division per frequency, ``v`` by a mask,
``w`` by a shrinkage (``R`` the isotropic total variation) or a scaling
(``R = ||.||^2 / 2``, Tikhonov) and ``s`` by a projection. Unlike conjugate
gradients on the normal equations, whose iterates are poor until they have
converged when the weight is small, every iterate is a sane image: the
solver stops on the relative change of the estimate it returns (the field of
view for 'unknown': the unobserved border, which only the prior holds,
settles last and matters least; on ``coins`` under a 13x13 Gaussian, clean,
stopping on the whole scene took 102 iterations, against 41 for the field of
view, 0.05 dB apart and 0.05 dB from a 600-iteration estimate). The split
variables are over-relaxed (``RELAXATION``) where there is no projection
split.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import scipy.fft

from .restore import prior_weights

__all__: list[str] = []

Penalty = Literal["tikhonov", "tv"]
WORKERS = 1  # one thread per solve: no oversubscription when images run in parallel
# total variation's penalty over its weight: the shrinkage threshold is 1 / PRIOR_PENALTY
PRIOR_PENALTY = 30.0
# the same for the one-split solver (class Diagonal): measured on the benchmark's 'symm'
# cases (four images, noise 1e-3 to 3e-2), 15 took at most 52 iterations, against 73 for 30
# and 99 for 60, with PSNRs within 0.05 dB
DIAGONAL_PENALTY = 15.0
# over-relaxation (Eckstein and Bertsekas 1992; any value in (0, 2) converges): each split
# variable is moved past its proximal point before the z-update. Measured on the deblurring
# benchmark's hardest 'unknown' cases: 1.8 took 20-35% fewer iterations than plain ADMM
# (1.0), fewer than 1.4 and 1.6, with the same PSNR to 0.1 dB. Not for 'fill' and 'symm',
# whose projection split it slows (2x the iterations to the minimum on small problems)
RELAXATION = 1.8
Callback = Callable[[np.ndarray, int], object]


def _change(new: np.ndarray, old: np.ndarray) -> float:
    """The relative change ``||new - old|| / ||new||`` of one iteration (the stop test)."""
    step = new - old
    return math.sqrt(float(np.sum(step * step)) / max(float(np.sum(new * new)), 1e-300))


def _forward(z: np.ndarray, axis: int) -> np.ndarray:
    """The periodic first difference ``z[i + 1] - z[i]`` along `axis` (``np.roll``'s, without
    its copy)."""
    out = np.empty_like(z)
    front, back = np.moveaxis(z, axis, 0), np.moveaxis(out, axis, 0)  # views
    np.subtract(front[1:], front[:-1], out=back[:-1])
    np.subtract(front[0], front[-1], out=back[-1])
    return out


def _backward(p: np.ndarray, axis: int) -> np.ndarray:
    """The adjoint of :func:`_forward`: ``p[i - 1] - p[i]``, periodic."""
    out = np.empty_like(p)
    front, back = np.moveaxis(p, axis, 0), np.moveaxis(out, axis, 0)
    np.subtract(front[:-1], front[1:], out=back[1:])
    np.subtract(front[-1], front[0], out=back[0])
    return out


def _relax(u: np.ndarray, current: np.ndarray, factor: float) -> np.ndarray:
    """``factor * u + (1 - factor) * current``, in place in `u`."""
    if factor != 1.0:
        u -= current
        u *= factor
        u += current
    return u


class Splitting:
    """One boundary model, kernel and prior over observations of one shape.

    `model` is 'unknown', 'fill', 'symm' or 'wrap'; `prior` 'gradient'
    (first differences), 'laplacian' or 'identity'; `penalty` 'tikhonov'
    (``reg/2`` times the squared norm) or 'tv' (``reg`` times the isotropic
    total variation of the differences).

    The Laplacian splits as the gradient does, ``w = D z``, with the penalty
    ``reg/2 ||B w||^2``, ``B w = D^T (M w)`` (``M`` the masks of the pairs
    inside): ``B D z`` is the Laplacian with differences inside the scene or
    image, the prior's ``L``. Its proximal map ``(I + t B^T B)^-1`` is, by
    the Woodbury identity, ``I - t B^T (I + t B B^T)^-1 B``, and ``B B^T``
    is that Laplacian itself, which the orthonormal DCT-II of the region
    diagonalises: a transform pair of the region per iteration.
    """

    def __init__(
        self,
        kernel: np.ndarray,
        shape: tuple[int, int],
        model: str,
        prior: str,
        penalty: Penalty,
    ) -> None:
        (h, w), (kh, kw) = shape, kernel.shape
        self.prior, self.penalty, self.model = prior, penalty, model
        self.scene_shape = (h + kh - 1, w + kw - 1) if model == "unknown" else (h, w)
        if model == "wrap":
            # the circulant of scipy's 'wrap': its first column, on the image's own grid
            self.grid: tuple[int, int] = (h, w)
            column = np.zeros((h, w))
            rows = (np.arange(kh) - (kh - 1) // 2) % h
            cols = (np.arange(kw) - (kw - 1) // 2) % w
            np.add.at(column, (rows[:, None], cols[None, :]), kernel)
            self.spectrum = np.asarray(scipy.fft.rfft2(column))
            self.observed: tuple[slice, slice] = (slice(0, h), slice(0, w))
            self.region = (slice(0, h), slice(0, w))
        else:
            full = (h + kh - 1, w + kw - 1)
            self.grid = (
                scipy.fft.next_fast_len(full[0], real=True),
                scipy.fft.next_fast_len(full[1], real=True),
            )
            self.spectrum = np.asarray(scipy.fft.rfft2(kernel, self.grid))
            # the 'valid' outputs of the grid's circular convolution never wrap
            self.observed = (slice(kh - 1, kh - 1 + h), slice(kw - 1, kw - 1 + w))
            if model == "unknown":
                self.region = (slice(0, full[0]), slice(0, full[1]))
            else:  # the image where 'same' mode aligns it with the observation
                self.region = (slice(kh // 2, kh // 2 + h), slice(kw // 2, kw // 2 + w))
        self.power = np.abs(self.spectrum) ** 2
        inside = np.zeros(self.grid, bool)
        inside[self.region] = True
        periodic = model == "wrap"
        if prior == "identity":
            self.masks: tuple[np.ndarray, ...] = (inside,)
            self.prior_power = np.ones_like(self.power)
        else:  # first differences z[i + 1] - z[i], kept where both lie inside
            self.masks = tuple(inside if periodic else self._pairs(axis) for axis in (0, 1))
            freqs = [
                2 - 2 * np.cos(2 * math.pi * np.arange(n) / self.grid[i])
                for i, n in enumerate(self.power.shape)
            ]
            self.prior_power = freqs[0][:, None] + freqs[1][None, :]
        self.extension = self._extension(model, shape, kernel.shape)
        # the grid's part that deconvolve2d returns as the estimate: the field of view
        # ('same' alignment, from kernel.shape // 2 in the scene) or the image
        if model == "unknown":
            self.window = (slice(kh // 2, kh // 2 + h), slice(kw // 2, kw // 2 + w))
        else:
            self.window = self.region
        # the masks as 0/1 floats: the proximal maps multiply by them
        self.weights = tuple(m.astype(float) for m in self.masks)

    def _pairs(self, axis: int) -> np.ndarray:
        """Where ``z[i + 1] - z[i]`` along `axis` joins two pixels inside (never a wrap)."""
        pairs = np.zeros(self.grid, bool)
        window = list(self.region)
        window[axis] = slice(window[axis].start, window[axis].stop - 1)
        pairs[tuple(window)] = True
        return pairs

    @staticmethod
    def _extension(
        model: str, shape: tuple[int, int], kshape: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """For 'fill' and 'symm': the image pixel behind each scene pixel (-1: a zero)."""
        if model not in ("fill", "symm"):
            return None
        maps = []
        for n, m in zip(shape, kshape, strict=True):
            before, after = m // 2, m - 1 - m // 2
            index = np.arange(n)
            if model == "symm":
                maps.append(np.pad(index, (before, after), mode="symmetric"))
            else:
                maps.append(np.pad(index, (before, after), constant_values=-1))
        flat = np.where(
            (maps[0][:, None] >= 0) & (maps[1][None, :] >= 0),
            maps[0][:, None] * shape[1] + maps[1][None, :],
            -1,
        )
        copies = np.bincount(flat[flat >= 0], minlength=shape[0] * shape[1])
        return flat, copies.astype(float)

    # the operators of the grid
    def blur(self, spec: np.ndarray) -> np.ndarray:
        """``H z`` from the spectrum of ``z``."""
        return np.asarray(scipy.fft.irfft2(self.spectrum * spec, self.grid, workers=WORKERS))

    def differences(self, z: np.ndarray) -> tuple[np.ndarray, ...]:
        """``D z``: the periodic first differences (or ``z`` for the identity prior)."""
        if self.prior == "identity":
            return (z,)
        return _forward(z, 0), _forward(z, 1)

    def differences_adjoint(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        """``D^T`` of what :meth:`differences` returns."""
        if self.prior == "identity":
            return parts[0]
        out = _backward(parts[0], 0)
        out += _backward(parts[1], 1)
        return out

    def laplacian(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        """``B w = D^T (M w)``: for ``w = D z``, the Laplacian of ``z`` with differences
        inside the region (zero outside it)."""
        return self.differences_adjoint([p * m for p, m in zip(parts, self.weights, strict=True)])

    def _laplacian_prox(self, t: float) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
        """The proximal map of ``t/2 ||B w||^2``: ``w - t B^T (I + t B B^T)^-1 B w``, in
        place; ``B B^T`` solved on the region by its DCT-II (on the grid by its FFT for
        'wrap')."""
        region = self.region
        if self.model == "wrap":  # periodic differences: the grid's FFT basis
            eigenvalues = self.prior_power
        else:
            shape = (region[0].stop - region[0].start, region[1].stop - region[1].start)
            eigenvalues = prior_weights(shape, "gradient", periodic=False)
        gain = 1.0 / (1.0 + t * eigenvalues)

        def prox(targets: list[np.ndarray]) -> list[np.ndarray]:
            if t == 0.0:
                return targets
            b = self.laplacian(targets)
            if self.model == "wrap":
                spec = scipy.fft.rfft2(b, workers=WORKERS)
                spec *= gain
                q = np.asarray(scipy.fft.irfft2(spec, self.grid, workers=WORKERS))
            else:
                q = np.zeros(self.grid)
                coeffs = scipy.fft.dctn(b[region], type=2, norm="ortho", workers=WORKERS)
                coeffs *= gain
                q[region] = scipy.fft.idctn(coeffs, type=2, norm="ortho", workers=WORKERS)
            for target, part, m in zip(targets, self.differences(q), self.weights, strict=True):
                np.subtract(target, t * (m * part), out=target)
            return targets

        return prox

    def extend(self, image: np.ndarray) -> np.ndarray:
        """The grid of a scene of the model: the image and, for 'fill' and 'symm', its
        zeros or mirror copies around it."""
        out = np.zeros(self.grid)
        if self.extension is None:
            out[self.region] = image
            return out
        flat = self.extension[0]
        out[self.scene_window] = np.where(flat >= 0, image.ravel()[np.maximum(flat, 0)], 0.0)
        return out

    def project(self, z: np.ndarray) -> np.ndarray:
        """The nearest scene of the model: zeros outside for 'fill', mirror copies for 'symm'
        (each pixel the mean of its copies)."""
        if self.extension is None:
            return z
        flat, copies = self.extension
        scene = z[self.scene_window]
        sums = np.bincount(flat[flat >= 0], weights=scene[flat >= 0], minlength=copies.size)
        image = np.divide(sums, copies, out=np.zeros_like(sums), where=copies > 0)
        return self.extend(image.reshape(self.scene_shape))

    @property
    def scene_window(self) -> tuple[slice, slice]:
        """The grid's part that the blur of the observed window reads."""
        return (slice(0, self.observed[0].stop), slice(0, self.observed[1].stop))

    def estimate(self, z: np.ndarray) -> np.ndarray:
        """The scene of a grid iterate, as ``deconvolve2d`` returns it."""
        return np.array(self.project(z)[self.region], copy=True)

    def objective(self, scene: np.ndarray, y: np.ndarray, reg: float) -> float:
        """``1/2 ||A x - y||^2 + reg R(x)`` of a scene of the model."""
        z = self.extend(scene)
        residual = self.blur(np.asarray(scipy.fft.rfft2(z)))[self.observed] - y
        parts = [np.where(m, p, 0.0) for m, p in zip(self.masks, self.differences(z), strict=True)]
        if self.penalty == "tv":
            prior = float(np.sum(np.sqrt(sum(p**2 for p in parts))))
        elif self.prior == "laplacian":
            prior = 0.5 * float(np.sum(self.laplacian(parts) ** 2))
        else:
            prior = 0.5 * float(sum(np.sum(p**2) for p in parts))
        return 0.5 * float(np.sum(residual**2)) + reg * prior

    def start(self, y: np.ndarray) -> np.ndarray:
        """A first iterate: the observation, its edges repeated over the unknown border."""
        if self.model != "unknown":
            return self.extend(y)
        rows, cols = (n - m for n, m in zip(self.scene_shape, y.shape, strict=True))
        border = ((rows // 2, rows - rows // 2), (cols // 2, cols - cols // 2))
        return self.extend(np.pad(y, border, mode="edge"))

    def solve(
        self,
        y: np.ndarray,
        reg: float,
        *,
        maxiter: int,
        tol: float,
        callback: Callback | None = None,
    ) -> tuple[np.ndarray, int, bool]:
        """ADMM from :meth:`start`: (scene, iterations, converged)."""
        scale = float(np.max(self.power))
        relative = reg / scale if scale > 0 else reg
        # the penalties: measured over blurs and weights from 1e-8 to 3e-2 (data of peak 1),
        # the data term's grows as the weight's square root (6x: fewest iterations to the
        # default tol on 512x512 images, against 1.5x and 3x; 3x on 256x256 crops at a
        # fixed count)
        rho = 6.0 * math.sqrt(max(relative, 1e-12))
        # the Laplacian's too is `reg`: 0.25, 4 and 16 times it took 0.4% to 5.5% more
        # iterations on 256x256 crops (two images, two blurs, 'unknown' and 'fill')
        rho_prior = reg * PRIOR_PENALTY if self.penalty == "tv" else reg
        rho_scene = rho * scale / 10  # measured: 3x fewer iterations than rho * scale
        shrink = self._shrinkage(reg, rho_prior)
        relaxation = RELAXATION if self.extension is None else 1.0
        z = self.start(y)
        spec = np.asarray(scipy.fft.rfft2(z, workers=WORKERS))
        hz, dz = self.blur(spec), self.differences(z)
        d_v = np.zeros(self.grid)
        d_w = [np.zeros(self.grid) for _ in dz]
        d_s = np.zeros(self.grid)
        denominator = rho * self.power + rho_prior * self.prior_power
        if self.extension is not None:
            denominator = denominator + rho_scene
        # the z-update's division, zero where nothing constrains a frequency (minimum norm)
        inverse = np.divide(1.0, denominator, out=np.zeros_like(denominator), where=denominator > 0)
        data_gain = rho * np.conj(self.spectrum) * inverse
        observed = self.observed
        done = False
        k = 0
        for k in range(1, maxiter + 1):
            # v: the data term on the observed window, free elsewhere
            v = hz + d_v
            v[observed] = (y + rho * v[observed]) / (1 + rho)
            # w: the prior's proximal map on the pairs inside, free elsewhere
            w = shrink([p + d for p, d in zip(dz, d_w, strict=True)])
            # s: the nearest scene of the model
            s = None if self.extension is None else self.project(z + d_s)
            # each moved past its proximal point, away from the current z's (over-relaxation)
            _relax(v, hz, relaxation)
            for part, p in zip(w, dz, strict=True):
                _relax(part, p, relaxation)
            # z: a division per frequency
            total = self.differences_adjoint([a - d for a, d in zip(w, d_w, strict=True)])
            total *= rho_prior
            if s is not None:
                total += rho_scene * (s - d_s)
            spec = data_gain * scipy.fft.rfft2(v - d_v, workers=WORKERS)
            spec += inverse * scipy.fft.rfft2(total, workers=WORKERS)
            new = np.asarray(scipy.fft.irfft2(spec, self.grid, workers=WORKERS))
            change = _change(new[self.window], z[self.window])
            z = new
            hz, dz = self.blur(spec), self.differences(z)
            d_v += hz
            d_v -= v
            for d, p, part in zip(d_w, dz, w, strict=True):
                np.add(d, p - part, out=d)
            if s is not None:
                d_s += z
                d_s -= s
            if callback is not None:
                callback(self.estimate(z), k)
            if change <= tol:
                done = True
                break
        return self.estimate(z), k, done

    def _shrinkage(self, reg: float, rho: float) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
        """The prior's proximal map with weight ``reg / rho`` on the masked entries (free
        elsewhere), in place in the targets it is given."""
        if self.prior == "laplacian":
            return self._laplacian_prox(reg / rho if rho > 0 else 0.0)
        if self.penalty == "tikhonov":
            factor = rho / (reg + rho) if reg + rho > 0 else 1.0
            gains = [1.0 + (factor - 1.0) * m for m in self.weights]

            def scale(targets: list[np.ndarray]) -> list[np.ndarray]:
                for t, gain in zip(targets, gains, strict=True):
                    np.multiply(t, gain, out=t)
                return targets

            return scale
        threshold = reg / rho if rho > 0 else 0.0

        def shrink(targets: list[np.ndarray]) -> list[np.ndarray]:
            inside = [t * m for m, t in zip(self.weights, targets, strict=True)]
            keep = np.sqrt(sum(part * part for part in inside))
            np.maximum(keep, 1e-300, out=keep)
            np.divide(threshold, keep, out=keep)
            np.subtract(1.0, keep, out=keep)
            np.maximum(keep, 0.0, out=keep)
            keep -= 1.0
            for t, m in zip(targets, self.weights, strict=True):
                np.multiply(t, 1.0 + keep * m, out=t)
            return targets

        return shrink


class Diagonal:
    """Total variation on a model a transform diagonalises, by ADMM with one split.

    'wrap' (the FFT) and 'symm' with a kernel symmetric in each axis (the
    orthonormal DCT-II, with differences inside the image, whose ``D^T D``
    it diagonalises too): ``A = T^-1 diag(spectrum) T``. Splitting only
    ``w = D x`` leaves the data term in the x-update, a division per
    frequency (Wang, Yang, Yin and Zhang 2008), so an iteration is one
    transform pair, a shrinkage and the differences.
    """

    def __init__(self, spectrum: np.ndarray, *, periodic: bool) -> None:
        self.periodic = periodic
        self.shape: tuple[int, int] = (spectrum.shape[0], spectrum.shape[1])
        weights = prior_weights(self.shape, "gradient", periodic=periodic)
        if periodic:  # the real transform keeps half the frequencies
            half = self.shape[1] // 2 + 1
            self.spectrum = spectrum[:, :half]
            self.prior_power = weights[:, :half]
        else:
            self.spectrum = spectrum
            self.prior_power = weights
        self.power = np.abs(self.spectrum) ** 2

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.periodic:
            return np.asarray(scipy.fft.rfft2(x, workers=WORKERS))
        return np.asarray(scipy.fft.dctn(x, type=2, norm="ortho", workers=WORKERS))

    def inverse(self, c: np.ndarray) -> np.ndarray:
        if self.periodic:
            return np.asarray(scipy.fft.irfft2(c, self.shape, workers=WORKERS))
        return np.asarray(scipy.fft.idctn(c, type=2, norm="ortho", workers=WORKERS))

    def differences(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``D x``: periodic first differences, or inside the image (zero at the far edge)."""
        if self.periodic:
            return _forward(x, 0), _forward(x, 1)
        rows, cols = np.zeros_like(x), np.zeros_like(x)
        np.subtract(x[1:], x[:-1], out=rows[:-1])
        np.subtract(x[:, 1:], x[:, :-1], out=cols[:, :-1])
        return rows, cols

    def differences_adjoint(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if self.periodic:
            out = _backward(rows, 0)
            out += _backward(cols, 1)
            return out
        out = -rows - cols
        out[1:] += rows[:-1]
        out[:, 1:] += cols[:, :-1]
        return np.asarray(out)

    def objective(self, x: np.ndarray, y: np.ndarray, reg: float) -> float:
        """``1/2 ||A x - y||^2 + reg TV(x)``."""
        residual = self.inverse(self.spectrum * self.transform(x)) - y
        rows, cols = self.differences(x)
        return 0.5 * float(np.sum(residual**2)) + reg * float(np.sum(np.hypot(rows, cols)))

    def solve(
        self,
        y: np.ndarray,
        reg: float,
        *,
        maxiter: int,
        tol: float,
        callback: Callback | None = None,
    ) -> tuple[np.ndarray, int, bool]:
        """ADMM from the observation: (estimate, iterations, converged)."""
        rho = DIAGONAL_PENALTY * reg
        denominator = self.power + rho * self.prior_power
        inverse = np.divide(1.0, denominator, out=np.zeros_like(denominator), where=denominator > 0)
        # the x-update: T^-1 (data + gain T(D^T (w - d)))
        data = np.conj(self.spectrum) * self.transform(y) * inverse
        gain = rho * inverse
        x = np.array(y, dtype=float, copy=True)
        rows, cols = self.differences(x)
        d_rows, d_cols = np.zeros_like(x), np.zeros_like(x)
        threshold = reg / rho if rho > 0 else 0.0
        done = False
        k = 0
        for k in range(1, maxiter + 1):
            # w: the shrinkage of D x, moved past it (over-relaxation)
            w_rows, w_cols = rows + d_rows, cols + d_cols
            keep = np.hypot(w_rows, w_cols)
            np.maximum(keep, 1e-300, out=keep)
            np.divide(threshold, keep, out=keep)
            np.subtract(1.0, keep, out=keep)
            np.maximum(keep, 0.0, out=keep)
            w_rows *= keep
            w_cols *= keep
            _relax(w_rows, rows, RELAXATION)
            _relax(w_cols, cols, RELAXATION)
            # x: a division per frequency
            spread = self.differences_adjoint(w_rows - d_rows, w_cols - d_cols)
            coefficients = self.transform(spread)
            coefficients *= gain
            coefficients += data
            new = self.inverse(coefficients)
            change = _change(new, x)
            x = new
            rows, cols = self.differences(x)
            d_rows += rows
            d_rows -= w_rows
            d_cols += cols
            d_cols -= w_cols
            if callback is not None:
                callback(x.copy(), k)
            if change <= tol:
                done = True
                break
        return x, k, done
