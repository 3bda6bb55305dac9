"""Shared test helpers: references built from scipy and numpy, dtype-scaled checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.signal as ss
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import convmat

MODES = ("full", "same", "valid")
BOUNDARIES = ("fill", "wrap", "symm", "nearest", "mirror")
SCIPY_BOUNDARIES = ("fill", "wrap", "symm")  # scipy.signal's 2-D functions have these
DTYPES = (np.float32, np.float64, np.complex128, np.int64)
_PAD = {"wrap": "wrap", "symm": "symmetric", "nearest": "edge", "mirror": "reflect"}


def reference_nd(x: np.ndarray, k: np.ndarray, mode: str, boundary: str) -> np.ndarray:
    """N-D convolution with a boundary: numpy's pad, then scipy's direct 'valid'."""
    if mode == "valid" or boundary == "fill":
        return ss.convolve(x, k, mode, method="direct")
    pad = [(m - 1, m - 1) for m in k.shape]
    full = ss.convolve(np.pad(x, pad, mode=_PAD[boundary]), k, "valid", method="direct")
    if mode == "full":
        return full
    start = [(m - 1) // 2 for m in k.shape]
    return full[tuple(slice(s, s + n) for s, n in zip(start, x.shape, strict=True))]


def _padded_reference(x, k, mode, boundary, func, corr):
    """scipy.signal's 2-D function on the input padded by numpy (any boundary numpy pads
    with), cropped as scipy crops: 'same' at ``(m - 1) // 2`` (correlate2d: ``m // 2``)."""
    pad = [(m - 1, m - 1) for m in k.shape]
    full = func(np.pad(x, pad, mode=_PAD[boundary]), k, "valid")
    if mode == "full":
        return full
    start = [m // 2 if corr else (m - 1) // 2 for m in k.shape]
    return full[tuple(slice(s, s + n) for s, n in zip(start, x.shape, strict=True))]


def convolve2d_ref(x, k, mode="full", boundary="fill", fillvalue=0):
    """scipy.signal.convolve2d, extended to the boundaries it lacks ('nearest', 'mirror')."""
    if boundary in SCIPY_BOUNDARIES or mode == "valid":
        canon = boundary if boundary in SCIPY_BOUNDARIES else "fill"
        return ss.convolve2d(x, k, mode, canon, fillvalue)
    return _padded_reference(x, k, mode, boundary, ss.convolve2d, corr=False)


def correlate2d_ref(x, k, mode="full", boundary="fill", fillvalue=0):
    """scipy.signal.correlate2d, extended to the boundaries it lacks ('nearest', 'mirror')."""
    if boundary in SCIPY_BOUNDARIES or mode == "valid":
        canon = boundary if boundary in SCIPY_BOUNDARIES else "fill"
        return ss.correlate2d(x, k, mode, canon, fillvalue)
    return _padded_reference(x, k, mode, boundary, ss.correlate2d, corr=True)


def valid_ok(n: tuple[int, ...], m: tuple[int, ...]) -> bool:
    """Whether 'valid' mode accepts these shapes (one contains the other)."""
    return all(a >= b for a, b in zip(n, m, strict=True)) or all(
        a <= b for a, b in zip(n, m, strict=True)
    )


def geometries(
    side: int = 4, boundaries: tuple[str, ...] = BOUNDARIES
) -> st.SearchStrategy[tuple[str, str, tuple[int, int], tuple[int, int]]]:
    """(mode, boundary, image shape, kernel shape), sides 1 to `side`, 'valid' only where defined."""
    shape = st.tuples(st.integers(1, side), st.integers(1, side))
    return st.tuples(st.sampled_from(MODES), st.sampled_from(boundaries), shape, shape).filter(
        lambda g: g[0] != "valid" or valid_ok(g[2], g[3])
    )


def elements(dtype: type) -> st.SearchStrategy:
    """Moderate values of `dtype`: exact sums for integers, no cancellation blow-up."""
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        return st.integers(-50, 50) if dt.kind == "i" else st.integers(0, 50)
    if dt.kind == "c":
        part = st.floats(-4, 4, width=64)
        return st.builds(complex, part, part)
    return st.floats(-4, 4, width=32 if dt == np.float32 else 64)


def arrays(dtype: type, shape: tuple[int, ...]) -> st.SearchStrategy:
    return hnp.arrays(dtype, shape, elements=elements(dtype))


def assert_conv_equal(
    actual: np.ndarray,
    expected: np.ndarray,
    x: np.ndarray,
    k: np.ndarray,
    fill: complex = 0,
) -> None:
    """Exact for integers; for floats within a few eps of the largest partial sum."""
    np.testing.assert_equal(actual.shape, expected.shape)
    np.testing.assert_equal(actual.dtype, expected.dtype)
    if actual.dtype.kind in "iub":
        np.testing.assert_array_equal(actual, expected)
        return
    info = np.finfo(actual.dtype)
    scale = (np.abs(x).max(initial=0) + abs(fill)) * np.abs(k).sum()
    # a few eps of the largest partial sum, and a few of the smallest normal for subnormals
    atol = 16 * info.eps * float(scale) + 16 * float(info.tiny)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


def exact_conv(x: np.ndarray, k: np.ndarray, mode: str, boundary: str, fill: int = 0) -> np.ndarray:
    """The N-D convolution in Python integers (object arrays): exact whatever the magnitudes.

    scipy's rules: the input extended by ``m - 1`` per side by the boundary,
    'same' centred at ``(m - 1) // 2``, 'valid' swapping the arrays when the
    kernel is the larger one.
    """
    xo, ko = x.astype(object), k.astype(object)
    if mode == "valid":
        if not all(a >= b for a, b in zip(x.shape, k.shape, strict=True)):
            xo, ko = ko, xo
        boundary, fill = "fill", 0
    pad = [(m - 1, m - 1) for m in ko.shape]
    if boundary == "fill":
        ext = np.pad(xo, pad, mode="constant", constant_values=fill)
    else:
        ext = np.pad(xo, pad, mode=_PAD[boundary])
    full_shape = tuple(n + m - 1 for n, m in zip(xo.shape, ko.shape, strict=True))
    ext = np.frompyfunc(int, 1, 1)(ext)  # np.pad stores its padding as numpy scalars
    full = np.zeros(full_shape, dtype=object)
    for j in np.ndindex(*ko.shape):
        sl = tuple(
            slice(m - 1 - jd, m - 1 - jd + length)
            for m, jd, length in zip(ko.shape, j, full_shape, strict=True)
        )
        full = full + ko[j] * ext[sl]
    if mode == "full":
        return full
    if mode == "same":
        start = [(m - 1) // 2 for m in k.shape]
        out = x.shape
    else:
        start = [min(n, m) - 1 for n, m in zip(x.shape, k.shape, strict=True)]
        out = tuple(abs(n - m) + 1 for n, m in zip(x.shape, k.shape, strict=True))
    return full[tuple(slice(s, s + n) for s, n in zip(start, out, strict=True))]


def exact_matrix(k: np.ndarray, shape: tuple[int, ...], mode: str, boundary: str) -> np.ndarray:
    """The convolution matrix in Python integers: column ``i`` is the response to impulse ``i``."""
    cols = []
    for i in range(int(np.prod(shape))):
        e = np.zeros(int(np.prod(shape)), dtype=np.int64)
        e[i] = 1
        cols.append(exact_conv(e.reshape(shape), k, mode, boundary).reshape(-1))
    return np.stack(cols, axis=1)


def fits(values: np.ndarray, dtype: type) -> bool:
    """Whether every Python integer in `values` lies in the range of `dtype`."""
    info = np.iinfo(dtype)
    return all(info.min <= int(v) <= info.max for v in np.asarray(values).reshape(-1))


def precise_matrix(k: np.ndarray, shape: tuple[int, int], mode: str, boundary: str) -> np.ndarray:
    """The 2-D convolution matrix in long double (complex if `k` is): column ``i`` is the
    direct convolution of impulse ``i``, whose entries are sums of at most a few taps."""
    wide = np.clongdouble if k.dtype.kind == "c" else np.longdouble
    kk = k.astype(wide)
    cols = []
    for i in range(shape[0] * shape[1]):
        e = np.zeros(shape[0] * shape[1], dtype=wide)
        e[i] = 1
        cols.append(convolve2d_ref(e.reshape(shape), kk, mode, boundary).reshape(-1))
    return np.stack(cols, axis=1)


def assert_direct_sum_accuracy(
    got: np.ndarray, exact: np.ndarray, scale: np.ndarray, terms: int
) -> None:
    """The accuracy contract: ``|got - exact| <= terms * eps * scale`` at every output.

    `exact` and `scale` (``|k| * |x|`` at each output) are computed in a wider
    precision; `terms` is the most products one output sums (the kernel's
    nonzero taps; more in a transpose whose boundary reads an input several
    times), ``eps`` the result dtype's; one smallest subnormal covers results
    that underflow.
    """
    info = np.finfo(got.dtype)
    err = np.abs(got.astype(exact.dtype) - exact)
    bound = terms * float(info.eps) * scale.astype(np.longdouble) + float(info.smallest_subnormal)
    bad = err > bound
    if bad.any():
        worst = np.unravel_index(np.argmax(np.where(bad, err / bound, 0)), err.shape)
        msg = (
            f"{int(bad.sum())} of {bad.size} outputs beyond taps * eps * (|k| * |x|); worst at "
            f"{worst}: error {float(err[worst]):.3e}, bound {float(bound[worst]):.3e}, "
            f"scale {float(scale[worst]):.3e}"
        )
        raise AssertionError(msg)


# small deblurring kernels: symmetric in each axis (the DCT serves 'symm'), and not
BLUR_KERNELS = {
    "symmetric": np.outer([1.0, 2.0, 1.0], [1.0, 3.0, 1.0]) / 25,
    "asymmetric": np.array([[0.5, 0.2, 0.1], [0.1, 0.3, 0.4]]),
}


def blur_matrix(
    kernel: np.ndarray, shape: tuple[int, int], model: str
) -> tuple[Any, tuple[int, int]]:
    """The dense matrix of a deblurring model over observations of `shape`, and its
    scene's shape: 'valid' of a larger scene for 'unknown', else 'same' with the
    boundary."""
    if model == "unknown":
        scene = (shape[0] + kernel.shape[0] - 1, shape[1] + kernel.shape[1] - 1)
        return convmat.conv_matrix(kernel, scene, "valid"), scene
    return convmat.conv_matrix(kernel, shape, "same", model), shape
