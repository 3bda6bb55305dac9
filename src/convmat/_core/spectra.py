"""Building blocks of singular values: closed forms, a Lanczos driver and its start vector.

The top singular values of ``A`` are the square roots of the top eigenvalues
of the Gram operator ``A^H A`` (or ``A A^H``, whichever is smaller), found by
Lanczos: the plain three-term recurrence for the largest alone (one product
and O(n) work per step), ARPACK (:func:`scipy.sparse.linalg.eigsh`) for
several. Convolutions have clustered top spectra (a smooth kernel's singular
values near the top differ by ``O(1 / n^2)``); the start is a plane wave at
the frequency where the kernel's response peaks, under a sine window that
vanishes at the edges (near the top singular vector of zero padding), plus a
seeded random tenth so that no direction is missing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np
import scipy.fft
from scipy.sparse.linalg import LinearOperator, eigsh

__all__: list[str] = []

Gram = Callable[[np.ndarray], np.ndarray]


def check_rtol(rtol: object) -> float:
    """`rtol` as a float in (0, 1)."""
    if not isinstance(rtol, numbers.Real) or isinstance(rtol, bool) or not 0 < float(rtol) < 1:
        msg = f"`rtol` must be a real number in (0, 1), got {rtol!r}"
        raise ValueError(msg)
    return float(rtol)


def peak_frequency(response: np.ndarray) -> tuple[float, ...]:
    """Angular frequency per axis (in radians per sample) where ``|response|`` peaks."""
    where = np.unravel_index(int(np.argmax(np.abs(response))), response.shape)
    return tuple(2 * math.pi * i / n for i, n in zip(where, response.shape, strict=True))


def plane_wave(shape: tuple[int, ...], freq: tuple[float, ...], *, complex_: bool) -> np.ndarray:
    """A sine-windowed plane wave on `shape` (flattened): ``window * exp(i freq . t)``.

    For real operators the real vector ``window * (cos + sin)(freq . t)``
    carries both phases of that frequency. A seeded random vector of a tenth
    of its norm is added (:func:`seeded_start`).
    """
    return seeded_start(windowed_wave(shape, freq), complex_=complex_)


def windowed_wave(shape: tuple[int, ...], freq: tuple[float, ...]) -> np.ndarray:
    """``window * exp(i freq . t)`` on `shape`, the window a product of half sines per axis."""
    phase = np.zeros(shape)
    window = np.ones(shape)
    for d, (n, w) in enumerate(zip(shape, freq, strict=True)):
        t = np.arange(n, dtype=float).reshape((-1,) + (1,) * (len(shape) - d - 1))
        phase = phase + w * t
        window = window * np.sin(math.pi * (t + 1) / (n + 1))
    return np.asarray(window * np.exp(1j * phase))


def seeded_start(wave: np.ndarray, *, complex_: bool) -> np.ndarray:
    """A Lanczos start from a complex `wave` (its real plus imaginary part for real
    operators), flattened, with a seeded random tenth of its norm added."""
    start = wave if complex_ else wave.real + wave.imag
    # a seeded random tenth, so that no singular vector is missing from the start
    # (the wave alone can be orthogonal to one of a nearly equal pair)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(start.shape)
    if complex_:
        noise = noise + 1j * rng.standard_normal(start.shape)
    noise *= 0.1 * np.linalg.norm(start) / np.linalg.norm(noise)
    return np.asarray(start + noise).ravel()


def top_eigenvalues(
    gram: Gram, size: int, dtype: np.dtype, count: int, rtol: float, start: np.ndarray
) -> np.ndarray:
    """The `count` largest eigenvalues of the Hermitian positive semidefinite `gram`, descending.

    Each returned Ritz value's residual is below a tenth of `rtol` times the
    value, so each lies within that relative distance of an eigenvalue (and
    the square roots, singular values, within half of it). The largest alone
    comes from :func:`largest_eigenvalue`; several from ARPACK.
    """
    if count == 1:
        top = largest_eigenvalue(gram, dtype, rtol / 10, start)
        if top is not None:
            return np.array([max(top, 0.0)])
    op = LinearOperator((size, size), matvec=gram, dtype=dtype)
    # a tenth of rtol: a Ritz value then lies within rtol of the top even between a close pair
    values, basis = eigsh(op, k=count, which="LA", tol=rtol / 10, v0=start)
    values = values.real
    # A Krylov space grown from one start vector holds one direction per eigenspace: a
    # repeated value (an isotropic kernel, a symmetric or periodic boundary) shows once.
    # The operator with the vectors found projected out holds its other copies: its
    # largest values join the top `count` until none is above the smallest of them.
    rng = np.random.default_rng(0)
    while basis.shape[1] + count < size - 1:
        floor = np.sort(values)[-count]

        def deflated(v: np.ndarray, basis: np.ndarray = basis) -> np.ndarray:
            w = gram(v - basis @ (basis.conj().T @ v))
            return np.asarray(w - basis @ (basis.conj().T @ w))

        v0 = rng.standard_normal(size).astype(dtype)
        v0 = v0 - basis @ (basis.conj().T @ v0)
        rest = LinearOperator((size, size), matvec=deflated, dtype=dtype)
        more, vectors = eigsh(rest, k=count, which="LA", tol=rtol / 10, v0=v0)
        new = more.real > floor * (1 + rtol / 10)
        if not new.any():
            break
        vectors = vectors[:, new] - basis @ (basis.conj().T @ vectors[:, new])
        q, _ = np.linalg.qr(vectors)
        values = np.append(values, more.real[new])
        basis = np.hstack([basis, q])
    return np.asarray(np.sort(np.maximum(values, 0.0))[::-1][:count])


def largest_eigenvalue(
    gram: Gram, dtype: np.dtype, tol: float, start: np.ndarray, maxiter: int = 1000
) -> float | None:
    """The largest eigenvalue by plain Lanczos, or None when it has not converged in `maxiter`.

    The three-term recurrence without reorthogonalisation costs one product
    and O(n) work per step. Lost orthogonality only repeats converged Ritz
    values (Paige), so the largest one and its residual bound
    ``beta_j |s_j|`` stay valid; it stops when that bound is below `tol`
    times the value.
    """
    import scipy.linalg  # on first use: importing convmat stays light

    q = (start / np.linalg.norm(start)).astype(dtype, copy=False)
    previous = np.zeros_like(q)
    alphas: list[float] = []
    betas: list[float] = []
    beta = 0.0
    for step in range(1, maxiter + 1):
        w = gram(q)
        alpha = float(np.vdot(q, w).real)
        w = w - alpha * q - beta * previous
        alphas.append(alpha)
        beta = float(np.linalg.norm(w))
        if step % 5 == 0 or beta == 0 or step == maxiter:
            values, vectors = scipy.linalg.eigh_tridiagonal(
                np.array(alphas), np.array(betas), select="i", select_range=(step - 1, step - 1)
            )
            top = float(values[0])
            if beta * abs(float(vectors[-1, 0])) <= tol * abs(top) or beta == 0:
                return top
        betas.append(beta)
        previous, q = q, w / beta
    return None


def circulant_values(kernel: np.ndarray, grid: tuple[int, ...]) -> np.ndarray:
    """``|DFT|`` of `kernel` folded onto the periodic `grid`: a circulant's singular values.

    Taps beyond the grid wrap around (a kernel longer than the period adds
    onto the same column), as periodic extension does.
    """
    folded = kernel
    for axis, n in enumerate(grid):  # pad to whole periods, then add the periods up
        periods = -(-folded.shape[axis] // n)
        pad = [(0, 0)] * folded.ndim
        pad[axis] = (0, periods * n - folded.shape[axis])
        wide = np.pad(folded, pad)
        shape = (*wide.shape[:axis], periods, n, *wide.shape[axis + 1 :])
        folded = wide.reshape(shape).sum(axis=axis)
    values: np.ndarray = np.abs(np.asarray(scipy.fft.fftn(folded)))
    return values


def rank_one_factors(kernel: np.ndarray) -> list[np.ndarray] | None:
    """1-D factors whose outer product is `kernel`, if it is separable to rounding; else None.

    A residual up to ``1e-13`` of the kernel's norm counts as rounding: it
    changes no singular value by more than that relative amount times
    ``sqrt(kernel.size)``.
    """
    factors: list[np.ndarray] = []
    rest = kernel
    while rest.ndim > 1:
        mat = rest.reshape(rest.shape[0], -1)
        u, s, vh = np.linalg.svd(mat, full_matrices=False)
        if s[0] == 0 or (s.size > 1 and s[1] > 1e-13 * s[0]):
            return None
        factors.append(u[:, 0] * s[0])
        rest = vh[0].reshape(rest.shape[1:])
    factors.append(rest)
    return factors
