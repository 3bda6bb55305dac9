"""Singular values and the spectral norm of a convolution, for every mode and boundary.

The 2-norm of a convolution matrix is how much the convolution can amplify
an input; its singular values tell how ill-posed undoing it is. Both are
computed here without forming the matrix where a structure allows:

* 'wrap' boundary in 'same' mode: the matrix is circulant (block circulant
  in N-D), and its singular values are ``|DFT|`` of the kernel folded onto
  the input grid. Exact, ``O(N log N)``.
* A separable kernel (an outer product of 1-D kernels, to rounding): the
  matrix is the Kronecker product of 1-D convolution matrices, and its
  singular values are the products of theirs.
* Small matrices: the dense matrix and LAPACK (:func:`scipy.linalg.svdvals`).
* Otherwise: Lanczos on the Gram operator ``A^H A`` applied by FFTs (the
  plain recurrence for the norm, ARPACK for several values), started from a windowed plane wave at the frequency where the
  kernel's response peaks. With zero padding the circulant on the
  ``n + m - 1`` grid bounds the norm from above; the result never exceeds it.
"""

from __future__ import annotations

import math
import numbers
from typing import cast

import numpy as np
import numpy.typing as npt
import scipy.fft

from ._core.budget import check_dense_fits, check_working_set, dense_fits
from ._core.plan import Plan, checked_plan
from ._core.spectra import (
    Gram,
    check_rtol,
    circulant_values,
    peak_frequency,
    plane_wave,
    rank_one_factors,
    top_eigenvalues,
)
from ._core.validate import Boundary, Mode, check_boundary, keyword_only_hint
from ._engines.fillfft import FillBlur
from .linop import ConvOperator
from .toeplitz import conv_matrix

__all__ = ["singular_values", "spectral_norm"]

_DENSE_SIDE = 400  # the dense SVD is used up to this many columns (or rows)
_DENSE_AXIS = 2048  # a separable kernel's 1-D factors use the dense SVD up to this length
_BUDGET_ADVICE = "raise the budget with convmat.set_max_dense_bytes()"
_ALL_ADVICE = (
    "pass `k` for the k largest singular values by Lanczos, without the matrix, or "
    + _BUDGET_ADVICE
)


@keyword_only_hint
def spectral_norm(
    kernel: npt.ArrayLike,
    input_shape: tuple[int, ...] | list[int],
    mode: Mode = "full",
    boundary: Boundary = "fill",
    *,
    rtol: float = 1e-6,
) -> float:
    """The 2-norm (largest singular value) of the convolution matrix of `kernel`.

    Equal to ``np.linalg.norm(convmat.conv_matrix(kernel, input_shape, mode,
    boundary), 2)`` to relative accuracy `rtol` (closed forms and the dense
    SVD: to rounding), without forming the matrix when it is large.

    Parameters
    ----------
    kernel : array_like
        The filter, of any number of dimensions; real or complex.
    input_shape : tuple of int
        Shape of the inputs; one entry per kernel axis.
    mode, boundary
        As in :func:`convmat.conv_matrix` ('valid' ignores the boundary).
    rtol : float
        Relative accuracy of an iterative estimate, in (0, 1).

    Returns
    -------
    float
        ``max ||A x|| / ||x||``; 0.0 for a zero kernel.

    Raises
    ------
    ValueError
        Bad mode, boundary, shapes or `rtol`; an empty kernel.
    TypeError
        A non-numeric kernel.

    See Also
    --------
    singular_values : all of them, or the k largest.
    convmat.nn.conv2d_spectral_norm : the norm of a CNN layer.

    Notes
    -----
    'wrap' in 'same' mode: the largest ``|DFT|`` of the kernel folded onto the
    input grid (exact). Separable kernels: the product of the 1-D norms.
    Otherwise, up to 400 columns or rows the dense SVD; beyond, Lanczos on
    ``A^H A`` applied by FFTs, stopped when the Ritz value's residual is
    below a tenth of `rtol` times the value (so the norm is within
    ``rtol / 20`` of a singular value, and within `rtol` of the largest
    unless the start vector missed it). With zero padding the circulant on the ``n + m - 1``
    grid is an upper bound (``A`` is a block of it), and the result is capped
    by it.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat
    >>> k = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> A = convmat.conv_matrix(k, (6, 5), "same", "symm")
    >>> bool(np.isclose(convmat.spectral_norm(k, (6, 5), "same", "symm"), np.linalg.norm(A, 2)))
    True

    Periodic boundaries have a closed form, the largest ``|DFT|`` of the kernel:

    >>> convmat.spectral_norm([1.0, -1.0], (8,), "same", "wrap")
    2.0
    """
    k, plan, canon = _checked(kernel, input_shape, mode, boundary)
    return float(_largest(k, plan, canon, 1, check_rtol(rtol))[0])


@keyword_only_hint
def singular_values(
    kernel: npt.ArrayLike,
    input_shape: tuple[int, ...] | list[int],
    mode: Mode = "full",
    boundary: Boundary = "fill",
    *,
    k: int | None = None,
    rtol: float = 1e-6,
) -> np.ndarray:
    """Singular values of the convolution matrix of `kernel`, in descending order.

    Parameters
    ----------
    kernel : array_like
        The filter, of any number of dimensions; real or complex.
    input_shape : tuple of int
        Shape of the inputs; one entry per kernel axis.
    mode, boundary
        As in :func:`convmat.conv_matrix` ('valid' ignores the boundary).
    k : int, optional
        How many of the largest to return; all ``min(A.shape)`` of them when
        None.
    rtol : float
        Relative accuracy of iterative estimates (with `k`), in (0, 1).

    Returns
    -------
    ndarray of float64, shape (min(A.shape),) or (k,)
        Like :func:`scipy.linalg.svdvals`: descending, non-negative.

    Raises
    ------
    ValueError
        Bad mode, boundary, shapes, `k` or `rtol`; an empty kernel.
    TypeError
        A non-numeric kernel.
    MatrixTooLargeError
        All singular values of an operator without a closed form need the
        dense matrix; refused when it is over the dense budget (pass `k`).

    See Also
    --------
    spectral_norm : the largest one.
    scipy.sparse.linalg.svds : the same on any operator.

    Notes
    -----
    'wrap' in 'same' mode: ``|DFT|`` of the kernel folded onto the input grid
    (exact). Separable kernels: sorted products of the 1-D factors' singular
    values. Otherwise all values come from the dense SVD, and the `k`
    largest of a large operator from Lanczos (see :func:`spectral_norm`).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.linalg
    >>> import convmat
    >>> k = np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]])
    >>> s = convmat.singular_values(k, (4, 5), "valid")
    >>> np.allclose(s, scipy.linalg.svdvals(convmat.conv_matrix(k, (4, 5), "valid")))
    True
    >>> convmat.singular_values([1.0, 1.0], (4,), "same", "wrap").round(6)
    array([2.      , 1.414214, 1.414214, 0.      ])
    """
    kern, plan, canon = _checked(kernel, input_shape, mode, boundary)
    count = None if k is None else _check_count(k, min(plan.shape))
    return _largest(kern, plan, canon, count, check_rtol(rtol))


def _checked(
    kernel: npt.ArrayLike, input_shape: object, mode: object, boundary: object
) -> tuple[np.ndarray, Plan, str]:
    k, plan = checked_plan(kernel, input_shape, mode, boundary)
    canon = "fill" if mode == "valid" else check_boundary(boundary)
    return k.astype(np.complex128 if k.dtype.kind == "c" else np.float64), plan, canon


def _check_count(k: object, most: int) -> int:
    if not isinstance(k, numbers.Integral) or isinstance(k, (bool, np.bool_)):
        msg = f"`k` must be a positive int or None, got {k!r}"
        raise TypeError(msg)
    if not 1 <= int(k) <= most:
        msg = f"`k` must be between 1 and min(A.shape) = {most}, got {k!r}"
        raise ValueError(msg)
    return int(k)


def _largest(
    kernel: np.ndarray, plan: Plan, boundary: str, count: int | None, rtol: float
) -> np.ndarray:
    """The `count` largest singular values (all when None), descending."""
    total = min(plan.shape)
    want = total if count is None else count
    mode = cast("Mode", plan.mode)
    if not kernel.any():
        return np.zeros(want)
    if boundary == "wrap" and mode == "same":
        values = circulant_values(kernel, plan.input_shape).ravel()
        return _top(values, total, want)
    factors = rank_one_factors(kernel) if kernel.ndim > 1 else None
    if factors is not None and all(n <= _DENSE_AXIS for n in plan.input_shape):
        per_axis = [
            _dense(f, (n,), mode, boundary) for f, n in zip(factors, plan.input_shape, strict=True)
        ]
        values = per_axis[0]
        for axis in per_axis[1:]:
            values = np.multiply.outer(values, axis).ravel()
        return _top(values, total, want)
    lanczos_serves = count is not None and count < total - 1
    if not lanczos_serves or (total <= _DENSE_SIDE and dense_fits(plan, kernel.dtype)):
        advice = _BUDGET_ADVICE if lanczos_serves or count is not None else _ALL_ADVICE
        check_dense_fits(plan, kernel.dtype, None, advice)
        return _dense(kernel, plan.input_shape, mode, boundary)[:want]
    values = np.sqrt(_lanczos(kernel, plan, mode, boundary, want, rtol))
    if boundary == "fill":  # A is a block of the circulant on the full grid
        grid = tuple(n + m - 1 for n, m in zip(plan.input_shape, plan.kernel_shape, strict=True))
        values = np.minimum(values, np.abs(np.asarray(scipy.fft.fftn(kernel, grid))).max())
    return np.asarray(values)


def _top(values: np.ndarray, total: int, want: int) -> np.ndarray:
    """The `want` largest of `values` padded with zeros to `total`, descending."""
    out = np.zeros(total)
    top = np.sort(values)[::-1][:total]
    out[: top.size] = top
    return out[:want]


def _dense(kernel: np.ndarray, shape: tuple[int, ...], mode: Mode, boundary: str) -> np.ndarray:
    import scipy.linalg  # on first use: importing convmat stays light

    matrix = conv_matrix(kernel, shape, mode, boundary)  # type: ignore[arg-type]
    return np.asarray(scipy.linalg.svdvals(np.asarray(matrix), check_finite=False))


def _lanczos(
    kernel: np.ndarray, plan: Plan, mode: Mode, boundary: str, count: int, rtol: float
) -> np.ndarray:
    """The `count` largest eigenvalues of the smaller Gram operator, by Lanczos."""
    rows, cols = plan.shape
    side = plan.input_shape if cols <= rows else plan.output_shape
    grid = tuple(n + m - 1 for n, m in zip(side, plan.kernel_shape, strict=True))
    # ARPACK keeps max(2 k + 1, 20) vectors; the products hold a few transforms of the grid
    vectors = max(2 * count + 1, 20) + 4
    check_working_set(
        vectors * math.prod(side) * kernel.dtype.itemsize + 6 * math.prod(grid) * 16,
        f"Lanczos on the Gram operator of a {plan.input_shape} input",
        "use a smaller input_shape (with zero padding the largest |DFT| of the kernel "
        "on the full grid bounds the norm from above)",
    )
    gram: Gram
    if boundary == "fill":  # crops of the linear convolution, by FFTs
        blur = FillBlur(kernel, plan.input_shape, mode)
        if cols <= rows:

            def gram(v: np.ndarray) -> np.ndarray:
                return blur.gram(v.reshape(side)).ravel()
        else:

            def gram(v: np.ndarray) -> np.ndarray:
                return blur.cogram(v.reshape(side)).ravel()
    else:
        op = ConvOperator(kernel, plan.input_shape, mode, boundary, method="fft")  # type: ignore[arg-type]
        if cols <= rows:

            def gram(v: np.ndarray) -> np.ndarray:
                return np.asarray(op.H @ (op @ v))
        else:

            def gram(v: np.ndarray) -> np.ndarray:
                return np.asarray(op @ (op.H @ v))

    start = plane_wave(
        side,
        peak_frequency(scipy.fft.fftn(kernel, grid)),
        complex_=kernel.dtype.kind == "c",
    )
    return top_eigenvalues(gram, math.prod(side), kernel.dtype, count, rtol, start)
