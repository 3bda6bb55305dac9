"""N-D convolve, correlate and conv_transpose against scipy.signal, numpy's padding and
Python integers; adjoint identities; the memory of long signals; bad input."""

from __future__ import annotations

import inspect
import tracemalloc

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import assume, given
from hypothesis import strategies as st

import convmat
from helpers import (
    BOUNDARIES,
    MODES,
    arrays,
    assert_conv_equal,
    exact_conv,
    fits,
    reference_nd,
    valid_ok,
)

DTYPES_ND = (np.float32, np.float64, np.complex128, np.int64, np.int8, np.uint8)


@st.composite
def geometry(draw: st.DrawFn, max_ndim: int = 4) -> tuple[tuple[int, ...], ...]:
    """(batch shape, input shape, kernel shape) with the kernel's 1 to 4 axes."""
    ndim = draw(st.integers(1, max_ndim))
    side = {1: 12, 2: 6, 3: 4, 4: 3}[ndim]
    n = tuple(draw(st.lists(st.integers(1, side), min_size=ndim, max_size=ndim)))
    m = tuple(draw(st.lists(st.integers(1, side), min_size=ndim, max_size=ndim)))
    batch = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    return batch, n, m


def _flip(k: np.ndarray) -> np.ndarray:
    return np.conj(k[(slice(None, None, -1),) * k.ndim])


@pytest.mark.parametrize("dtype", DTYPES_ND, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data(), geo=geometry())
def test_convolve_equals_scipy(data, geo, mode, dtype):
    batch, n, m = geo
    assume(mode != "valid" or valid_ok(n, m))
    x = data.draw(arrays(dtype, batch + n))
    k = data.draw(arrays(dtype, m))
    flat = x.reshape(-1, *n)
    expected = np.stack([ss.convolve(im, k, mode) for im in flat])
    if np.dtype(dtype).kind in "iu":
        # scipy wraps small integers; the exact sums decide
        exact = np.stack([exact_conv(im, k, mode, "fill") for im in flat])
        if not fits(exact, expected.dtype):
            with pytest.raises(convmat.ResultOverflowError):
                convmat.convolve(x, k, mode)
            return
        got = convmat.convolve(x, k, mode)
        assert got.dtype == expected.dtype
        assert got.shape == batch + expected.shape[1:]
        np.testing.assert_array_equal(got.reshape(exact.shape), exact.astype(got.dtype))
        return
    got = convmat.convolve(x, k, mode)
    assert got.shape == batch + expected.shape[1:]
    assert_conv_equal(got.reshape(expected.shape), expected, x, k)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.int64], ids=str)
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data(), geo=geometry())
def test_correlate_equals_scipy(data, geo, mode, dtype):
    batch, n, m = geo
    assume(mode != "valid" or valid_ok(n, m))
    x = data.draw(arrays(dtype, batch + n))
    k = data.draw(arrays(dtype, m))
    got = convmat.correlate(x, k, mode)
    expected = np.stack([ss.correlate(im, k, mode) for im in x.reshape(-1, *n)])
    assert_conv_equal(got.reshape(expected.shape), expected, x, k)
    assert got.shape == batch + expected.shape[1:]


@pytest.mark.parametrize("boundary", ["wrap", "symm"])
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data(), geo=geometry(max_ndim=3))
def test_boundaries_equal_numpy_padding(data, geo, mode, boundary):
    batch, n, m = geo
    assume(mode != "valid" or valid_ok(n, m))
    x = data.draw(arrays(np.float64, batch + n))
    k = data.draw(arrays(np.float64, m))
    images = x.reshape(-1, *n)
    expected = np.stack([reference_nd(im, k, mode, boundary) for im in images])
    got = convmat.convolve(x, k, mode, boundary=boundary)
    assert got.shape == batch + expected.shape[1:]
    assert_conv_equal(got.reshape(expected.shape), expected, x, k)
    corr = convmat.correlate(x, k, mode, boundary=boundary).reshape(expected.shape)
    expected_corr = np.stack([reference_nd(im, _flip(k), mode, boundary) for im in images])
    assert_conv_equal(corr, expected_corr, x, k)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data(), geo=geometry(max_ndim=3))
def test_conv_transpose_is_the_adjoint(data, geo, mode, boundary):
    batch, n, m = geo
    assume(mode != "valid" or valid_ok(n, m))
    x = data.draw(arrays(np.float64, batch + n))
    k = data.draw(arrays(np.float64, m))
    y_shape = convmat.convolve(x, k, mode, boundary=boundary).shape
    y = data.draw(arrays(np.float64, y_shape))
    lhs = np.vdot(convmat.convolve(x, k, mode, boundary=boundary), y)
    back = convmat.conv_transpose(y, k, mode, boundary, input_shape=n)
    assert back.shape == x.shape
    rhs = np.vdot(x, back)
    scale = np.abs(x).sum() * np.abs(k).sum() * np.abs(y).max(initial=0) + 1e-300
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=64 * np.finfo(float).eps * scale)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@given(data=st.data(), geo=geometry(max_ndim=3))
def test_integer_transpose_is_exactly_the_matrix_transpose(data, geo, boundary):
    _, n, m = geo
    k = data.draw(arrays(np.int64, m))
    y_shape = convmat.convolve(np.zeros(n, np.int64), k, "full", boundary=boundary).shape
    y = data.draw(arrays(np.int64, y_shape))
    a = convmat.conv_matrix(k, n, "full", boundary, format="csr")
    np.testing.assert_array_equal(
        convmat.conv_transpose(y, k, "full", boundary).reshape(-1), a.T @ y.reshape(-1)
    )


@pytest.mark.parametrize("method", ["sparse", "dense", "shift", "fft"])
def test_every_method_gives_the_same_signal(method):
    rng = np.random.default_rng(1)
    x, k = rng.standard_normal((3, 50)), rng.standard_normal(7)
    expected = np.stack([np.convolve(row, k, "same") for row in x])
    np.testing.assert_allclose(
        convmat.convolve(x, k, "same", method=method), expected, rtol=0, atol=1e-13
    )


def test_single_row_image_and_signal_agree():
    rng = np.random.default_rng(2)
    x, k = rng.standard_normal(300), rng.standard_normal(11)
    one_d = convmat.convolve(x, k, "same", boundary="symm")
    two_d = convmat.conv2d(x[None, :], k[None, :], "same", "symm")
    op = convmat.ConvOperator(k, (300,), "same", "symm")
    np.testing.assert_array_equal(two_d[0], one_d)
    np.testing.assert_allclose(op @ x, one_d, rtol=0, atol=1e-13)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_signal_stays_local(bad, mode, boundary):
    # a signal takes numpy's direct sum: zero taps spread NaN (0 * inf), as in scipy
    x = np.random.default_rng(3).standard_normal(40)
    x[5], x[30] = bad, -bad
    k = np.array([0.5, 0.0, -1.0, 2.0])
    with np.errstate(invalid="ignore"):
        expected = reference_nd(x, k, mode, boundary)
        op = convmat.ConvOperator(k, (40,), mode, boundary)
        for got in (convmat.convolve(x, k, mode, boundary=boundary), op @ x):
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
            np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
            finite = np.isfinite(expected)
            np.testing.assert_allclose(got[finite], expected[finite], rtol=0, atol=1e-13)
        back = convmat.conv_transpose(expected, k, mode, boundary, input_shape=(40,))
        assert np.isnan(back).any()


def test_scalar_kernel_multiplies():
    x = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(convmat.convolve(x, np.int64(3)), 3 * x)
    assert convmat.convolve(np.float64(2.0), np.float64(4.0)) == ss.convolve(2.0, 4.0)
    np.testing.assert_array_equal(convmat.conv_transpose(x, np.int64(3)), 3 * x)


class TestIntegers:
    @given(data=st.data(), geo=geometry(max_ndim=3))
    def test_exact_or_refused(self, data, geo):
        _, n, m = geo
        big = st.integers(-(2**62), 2**62)
        x = np.array(data.draw(st.lists(big, min_size=int(np.prod(n)), max_size=int(np.prod(n)))))
        k = np.array(data.draw(st.lists(big, min_size=int(np.prod(m)), max_size=int(np.prod(m)))))
        x, k = x.reshape(n).astype(np.int64), k.reshape(m).astype(np.int64)
        exact = exact_conv(x, k, "full", "fill")
        if fits(exact, np.int64):
            np.testing.assert_array_equal(convmat.convolve(x, k), exact.astype(np.int64))
        else:
            with pytest.raises(convmat.ResultOverflowError):
                convmat.convolve(x, k)

    def test_int8_refused_where_scipy_wraps(self):
        x, k = np.full(4, 100, np.int8), np.full(3, 2, np.int8)
        assert ss.convolve(x, k).dtype == np.int8  # scipy wraps: 600 -> 88
        with pytest.raises(convmat.ResultOverflowError):
            convmat.convolve(x, k)

    def test_bool_with_int_is_scipys_dtype(self):
        got = convmat.convolve(np.array([True, False, True]), np.array([1, 2], np.int8))
        expected = ss.convolve(np.array([True, False, True]), np.array([1, 2], np.int8))
        assert got.dtype == expected.dtype == np.int8
        np.testing.assert_array_equal(got, expected)


class TestLongSignals:
    def test_a_plan_for_a_long_axis_costs_no_index_maps(self):
        # 10^7 samples, 4097 taps: (length, m) maps would take 2.6 TB; the plan's
        # axes take nothing of that size, and the kernel's engine only its own arrays
        from convmat._core.plan import make_plan
        from convmat._engines.engine import Engine

        tracemalloc.start()
        try:
            plan = make_plan((10**7,), (4097,), "same", "fill")
            engine = Engine(np.ones(4097), plan)
            assert engine.linear
            assert engine.line == 0
            # every row holds 4097 taps but the 2048 at each end, which lose 1 to 2048
            assert plan.nnz_estimate == 10**7 * 4097 - 2048 * 2049
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 2**20

    def test_applying_a_long_signal_stays_near_its_size(self):
        n = 2 * 10**6
        x = np.random.default_rng(0).standard_normal(n)
        k = np.ones(1001) / 1001
        tracemalloc.start()
        try:
            got = convmat.convolve(x, k, "same")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        np.testing.assert_allclose(got, ss.convolve(x, k, "same"), rtol=0, atol=1e-12)
        # long double transforms (16 bytes a sample, twice that for a spectrum) and a
        # float32 bound: a few times the input and output, never the (n, 1001) maps
        assert peak < 16 * (x.nbytes + got.nbytes)

    def test_the_operator_of_the_issue_applies(self):
        op = convmat.ConvOperator(np.ones(1001), (1_000_000,), "same")
        x = np.random.default_rng(0).standard_normal(1_000_000)
        np.testing.assert_allclose(
            op @ x, ss.fftconvolve(x, np.ones(1001), "same"), rtol=0, atol=1e-9
        )


class TestBadInput:
    @pytest.mark.parametrize(
        ("in1", "in2", "kwargs", "exc", "match"),
        [
            (np.ones(3), np.ones((2, 2)), {}, ValueError, "`in2` has 2 axes, more than the 1"),
            (np.ones((3, 0)), np.ones(2), {}, ValueError, "`in1` must not be empty"),
            (np.ones(3), np.ones(0), {}, ValueError, "`in2` must not be empty"),
            (np.ones((3, 4)), np.ones((2, 5)), {"mode": "valid"}, ValueError, "valid"),
            (np.ones(3), np.ones(2), {"mode": "wide"}, ValueError, "`mode`.*'wide'"),
            (np.ones(3), np.ones(2), {"boundary": "wide"}, ValueError, "`boundary`"),
            (np.array(["a"]), np.ones(2), {}, TypeError, "`in1`.*numeric"),
            (np.ones(3), np.ones(2, bool), {"method": "fast"}, ValueError, "`method`"),
            (np.ones(3, bool), np.ones(2, bool), {}, TypeError, "two boolean"),
        ],
    )
    @pytest.mark.parametrize("func", [convmat.convolve, convmat.correlate])
    def test_messages(self, func, in1, in2, kwargs, exc, match):
        with pytest.raises(exc, match=match):
            func(in1, in2, **kwargs)

    def test_transpose_shapes(self):
        with pytest.raises(ValueError, match="`output` must end in shape"):
            convmat.conv_transpose(np.ones((4, 5)), np.ones((2, 2)), input_shape=(4, 4))
        with pytest.raises(ValueError, match="`input_shape` must have 2 entries"):
            convmat.conv_transpose(np.ones((4, 5)), np.ones((2, 2)), input_shape=(3,))

    def test_inputs_are_never_written(self):
        x, k = np.arange(10.0), np.array([1.0, -2.0, 0.5])
        x.flags.writeable = False
        k.flags.writeable = False
        for boundary in BOUNDARIES:
            convmat.convolve(x, k, "same", boundary=boundary)
            convmat.correlate(x, k, "full", boundary=boundary)
            convmat.conv_transpose(x, k, "same", boundary)


@pytest.mark.parametrize("func", [convmat.convolve, convmat.correlate], ids=lambda f: f.__name__)
class TestScipySignature:
    """``(in1, in2, mode="full", method="auto")`` as scipy.signal's, the rest keyword-only."""

    def test_the_fourth_positional_argument_is_method(self, func):
        x, k = np.arange(10.0), np.array([1.0, -2.0, 0.5])
        ref = ss.convolve if func is convmat.convolve else ss.correlate
        for method in ("direct", "fft", "auto"):
            np.testing.assert_allclose(
                func(x, k, "same", method), ref(x, k, "same", method), rtol=1e-12, atol=1e-12
            )
        params = list(inspect.signature(func).parameters)
        assert params[:4] == list(inspect.signature(ref).parameters)[:4]

    @pytest.mark.parametrize("boundary", ["symm", "wrap", "fill", "nearest", "reflect"])
    def test_a_boundary_where_method_goes_says_where_it_goes_now(self, func, boundary):
        x, k = np.arange(10.0), np.ones(3)
        with pytest.raises(
            ValueError, match=rf"fourth positional argument is `method`.*pass boundary='{boundary}'"
        ):
            func(x, k, "same", boundary)
        with pytest.raises(
            TypeError, match=rf"pass boundary='{boundary}', fillvalue=2\.0 as keywords"
        ):
            func(x, k, "same", boundary, 2.0)
