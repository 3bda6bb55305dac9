"""fftconvolve and oaconvolve against scipy's: shapes, dtypes, broadcasting, errors, and
the per-output certificate that scipy's FFT does not give."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given
from hypothesis import strategies as st

import convmat
from helpers import MODES

FUNCS = [(convmat.fftconvolve, ss.fftconvolve), (convmat.oaconvolve, ss.oaconvolve)]
IDS = ["fftconvolve", "oaconvolve"]

CASES = [
    ((30,), (7,), None),
    ((5, 30), (1, 7), 1),
    ((5, 30), (5, 7), 1),
    ((5, 30), (5, 7), -1),
    ((1, 30), (4, 7), 1),
    ((6, 7, 8), (3, 2, 3), None),
    ((6, 7, 8), (1, 2, 3), [1, 2]),
    ((6, 7, 8), (6, 1, 3), (0, 2)),
    ((4, 5), (6, 7), None),
    ((3, 1, 9), (1, 4, 2), 2),
    ((2, 3), (4, 1), []),
]


@pytest.mark.parametrize(("ours", "theirs"), FUNCS, ids=IDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("s1", "s2", "axes"), CASES, ids=str)
def test_equal_to_scipy_with_its_broadcasting(ours, theirs, mode, s1, s2, axes):
    rng = np.random.default_rng(len(s1) + len(s2))
    a, b = rng.standard_normal(s1), rng.standard_normal(s2)
    try:
        want = theirs(a, b, mode, axes)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc).split(":")[0][:30]):
            ours(a, b, mode, axes)
        return
    got = ours(a, b, mode, axes)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.abs(want).max(initial=1))


@pytest.mark.parametrize(("ours", "theirs"), FUNCS, ids=IDS)
@pytest.mark.parametrize(
    "dtype",
    [np.int8, np.int64, np.bool_, np.float16, np.float32, np.float64, np.complex64],
    ids=lambda d: np.dtype(d).name,
)
def test_dtypes_are_scipy_s(ours, theirs, dtype):
    a, b = np.ones(9, dtype), np.ones(4, dtype)
    got, want = ours(a, b), theirs(a, b)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize(("ours", "theirs"), FUNCS, ids=IDS)
def test_scalars_and_empty_arrays_as_scipy(ours, theirs):
    np.testing.assert_array_equal(ours(np.array(2.0), np.array(3.0)), 6.0)
    got, want = ours(np.ones(0), np.ones(3)), theirs(np.ones(0), np.ones(3))
    assert got.shape == want.shape == (0,)
    assert got.dtype == want.dtype


@pytest.mark.parametrize("func", [convmat.fftconvolve, convmat.oaconvolve], ids=IDS)
@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((np.ones((3, 4)), np.ones(3)), {}, ValueError, "same dimensionality"),
        ((np.ones((3, 4)), np.ones((2, 3))), {"axes": [1, 1]}, ValueError, "unique"),
        ((np.ones((3, 4)), np.ones((2, 3))), {"axes": 1}, ValueError, "incompatible shapes"),
        ((np.ones((3, 4)), np.ones((2, 3))), {"axes": 2}, ValueError, "exceeds dimensionality"),
        ((np.ones((3, 4)), np.ones((2, 3))), {"axes": 1.5}, TypeError, "`axes`"),
        ((np.ones((3, 4)), np.ones((2, 3))), {"mode": "wide"}, ValueError, "`mode`"),
        ((np.ones((3, 4)), np.ones((2, 5))), {"mode": "valid"}, ValueError, "For 'valid' mode"),
        ((np.ones((3, 4)), np.ones((2, 3))), {"rtol": -1.0}, ValueError, "`rtol`"),
        ((np.array(["a"]), np.ones(3)), {}, TypeError, "`in1`"),
    ],
    ids=[
        "ndim",
        "dup-axes",
        "broadcast",
        "axis-range",
        "axis-float",
        "mode",
        "valid",
        "rtol",
        "str",
    ],
)
def test_refusals(func, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        func(*args, **kwargs)


def test_small_outputs_beside_large_ones_keep_their_digits():
    """scipy's FFT error is relative to the largest output; each of ours is within the
    direct sum's bound of ``|in1| * |in2|`` at that output."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(4096) * 10.0 ** rng.integers(-8, 8, 4096)
    h = rng.standard_normal(65)
    got = convmat.fftconvolve(x, h)
    exact = ss.convolve(x.astype(np.longdouble), h.astype(np.longdouble), method="direct")
    scale = ss.convolve(np.abs(x).astype(np.longdouble), np.abs(h), method="direct")
    err = np.abs(got - exact)
    np.testing.assert_array_less(err, 1e-10 * scale + 1e-300)
    # scipy's own FFT misses the same bound: the certificate is what makes the difference
    assert (np.abs(ss.fftconvolve(x, h) - exact) > 1e-10 * scale).any()


@given(
    n=st.integers(1, 40),
    m=st.integers(1, 12),
    batch=st.integers(1, 3),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**16),
)
def test_float32_every_output_as_accurate_as_a_direct_sum(n, m, batch, mode, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((batch, n)) * 10.0 ** rng.integers(-3, 3, (batch, n))).astype(
        np.float32
    )
    h = rng.standard_normal((1, m)).astype(np.float32)
    if mode == "valid" and n < m:
        return
    got = convmat.fftconvolve(x, h, mode, axes=1)
    assert got.dtype == np.float32
    wide = np.longdouble
    exact = ss.convolve(x.astype(wide), h.astype(wide), mode, method="direct")
    scale = ss.convolve(np.abs(x).astype(wide), np.abs(h).astype(wide), mode, method="direct")
    bound = m * np.finfo(np.float32).eps * scale + np.finfo(np.float32).smallest_subnormal
    np.testing.assert_array_less(np.abs(got - exact), bound + 1e-45)
