"""conv2d, correlate2d and conv_transpose2d against scipy, and the adjoint identity."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import assume, given
from hypothesis import strategies as st

import convmat
from helpers import (
    BOUNDARIES,
    DTYPES,
    MODES,
    SCIPY_BOUNDARIES,
    arrays,
    assert_conv_equal,
    convolve2d_ref,
    correlate2d_ref,
    geometries,
    valid_ok,
)

shapes2 = st.tuples(st.integers(1, 7), st.integers(1, 7))
kshapes2 = st.tuples(st.integers(1, 9), st.integers(1, 9))
FILLS = {np.dtype(np.int64): [0, 3, -2], np.dtype(np.float32): [0, 1.5, -0.25]}


def _fills(dtype):
    return st.sampled_from(FILLS.get(np.dtype(dtype), [0, 1.5, -2.0]))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data(), n=shapes2, m=kshapes2)
def test_conv2d_matches_scipy(data, n, m, mode, boundary, dtype):
    assume(mode != "valid" or valid_ok(n, m))
    x = data.draw(arrays(dtype, n))
    k = data.draw(arrays(dtype, m))
    fill = data.draw(_fills(dtype))
    expected = convolve2d_ref(x, k, mode, boundary, fill)
    assert_conv_equal(convmat.conv2d(x, k, mode, boundary, fill), expected, x, k, fill)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data(), n=shapes2, m=kshapes2)
def test_correlate2d_matches_scipy(data, n, m, mode, boundary, dtype):
    assume(mode != "valid" or valid_ok(n, m))
    x = data.draw(arrays(dtype, n))
    k = data.draw(arrays(dtype, m))
    fill = data.draw(_fills(dtype))
    got = convmat.correlate2d(x, k, mode, boundary, fill)
    if mode == "valid" and np.dtype(dtype).kind == "c" and n != m and valid_ok(m, n):
        # scipy.signal.correlate2d is wrong here; scipy.signal.correlate is right
        expected = ss.correlate(x, k, "valid", method="direct")
    else:
        expected = correlate2d_ref(x, k, mode, boundary, fill)
    assert_conv_equal(got, expected, x, k, fill)


def test_correlate2d_valid_complex_swapped_is_a_block_of_full():
    x = np.array([[1 + 2j, 3 - 1j]])
    k = np.array([[1j, 2, 1 - 1j]])
    full = convmat.correlate2d(x, k, "full")
    valid = convmat.correlate2d(x, k, "valid")
    np.testing.assert_allclose(valid, full[:, 1:3])
    np.testing.assert_allclose(valid, ss.correlate(x, k, "valid"))
    assert not np.allclose(ss.correlate2d(x, k, "valid"), full[:, 1:3])


@given(data=st.data(), n=shapes2, m=kshapes2, batch=st.tuples(st.integers(0, 3), st.integers(1, 2)))
def test_batches_equal_per_image(data, n, m, batch):
    x = data.draw(arrays(np.float64, (*batch, *n)))
    k = data.draw(arrays(np.float64, m))
    mode = data.draw(st.sampled_from(["full", "same"]))
    boundary = data.draw(st.sampled_from(BOUNDARIES))
    got = convmat.conv2d(x, k, mode, boundary)
    single = convmat.conv2d(np.ones(n), k, mode, boundary)
    assert got.shape == (*batch, *single.shape)
    for idx in np.ndindex(*batch):
        assert_conv_equal(got[idx], convolve2d_ref(x[idx], k, mode, boundary), x[idx], k)


def _dot_test(op, adj, u, v, dtype):
    lhs = np.vdot(op(u), v)
    rhs = np.vdot(u, adj(v))
    eps = np.finfo(dtype).eps
    scale = np.abs(op(u)).sum() * np.abs(v).max() + np.abs(u).sum() * np.abs(adj(v)).max()
    np.testing.assert_allclose(
        lhs,
        rhs,
        rtol=0,
        atol=64 * eps * scale + 64 * np.finfo(dtype).tiny,
        err_msg=f"<Au, v> = {lhs}, <u, A^H v> = {rhs}",
    )


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data(), n=shapes2, m=kshapes2)
def test_transpose_dot_test(data, n, m, mode, boundary, dtype):
    assume(mode != "valid" or valid_ok(n, m))
    k = data.draw(arrays(dtype, m))
    u = data.draw(arrays(dtype, n))
    out_shape = convmat.conv2d(u, k, mode, boundary).shape
    v = data.draw(arrays(dtype, out_shape))

    def op(z):
        return convmat.conv2d(z, k, mode, boundary)

    def adj(z):
        got = convmat.conv_transpose2d(z.conj(), k, mode, boundary, input_shape=n)
        return got.conj()

    _dot_test(op, adj, u, v, dtype)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data(), n=shapes2, m=kshapes2)
def test_transpose_is_the_matrix_transpose(data, n, m, mode, boundary):
    assume(mode != "valid" or valid_ok(n, m))
    k = data.draw(arrays(np.int64, m))
    a = convmat.conv_matrix(k, n, mode, boundary)
    out_shape = convmat.conv2d(np.ones(n, dtype=np.int64), k, mode, boundary).shape
    y = data.draw(arrays(np.int64, (2, *out_shape)))
    got = convmat.conv_transpose2d(y, k, mode, boundary, input_shape=n)
    np.testing.assert_array_equal(got.reshape(2, -1), y.reshape(2, -1) @ a)


@pytest.mark.parametrize(("mode", "n"), [("full", (4, 5)), ("same", (4, 5)), ("valid", (4, 5))])
def test_transpose_infers_input_shape(mode, n):
    k = np.arange(6.0).reshape(2, 3)
    y = convmat.conv2d(np.ones(n), k, mode)
    assert convmat.conv_transpose2d(y, k, mode).shape == n


def test_transpose_rejects_inconsistent_shapes():
    k = np.ones((3, 3))
    with pytest.raises(ValueError, match=r"`output` must end in shape \(6, 6\)"):
        convmat.conv_transpose2d(np.ones((5, 5)), k, input_shape=(4, 4))
    with pytest.raises(ValueError, match="cannot come from a 'full' convolution"):
        convmat.conv_transpose2d(np.ones((2, 5)), k)


class TestNonFinite:
    @pytest.mark.parametrize("boundary", BOUNDARIES)
    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_stays_local_as_in_scipy(self, bad, mode, boundary):
        rng = np.random.default_rng(3)
        x = rng.standard_normal((7, 8))
        x[0, 0] = bad
        x[4, 5] = -bad
        k = rng.standard_normal((3, 2))
        k[1, 0] = 0.0  # zero taps still spread NaN, as in scipy
        k[0, 1] = -k[2, 1]  # opposite taps folded by symm: inf - inf
        got = convmat.conv2d(x, k, mode, boundary)
        with np.errstate(invalid="ignore"):
            expected = convolve2d_ref(x, k, mode, boundary)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
        finite = np.isfinite(expected)
        assert finite.sum() > 0
        np.testing.assert_allclose(got[finite], expected[finite], atol=1e-12)

    def test_folded_inf_with_opposite_taps(self):
        x = np.array([[np.inf, 1.0, 2.0]])
        k = np.array([[2.0, 1.0, -1.0]])
        with np.errstate(invalid="ignore"):
            expected = ss.convolve2d(x, k, "same", "symm")
        np.testing.assert_array_equal(convmat.conv2d(x, k, "same", "symm"), expected)

    @pytest.mark.parametrize("fill", [np.nan, np.inf])
    def test_nonfinite_fillvalue(self, fill):
        x = np.arange(12.0).reshape(3, 4)
        k = np.array([[1.0, -1.0], [0.0, 2.0]])
        with np.errstate(invalid="ignore"):
            expected = ss.convolve2d(x, k, "same", fillvalue=fill)
        np.testing.assert_array_equal(convmat.conv2d(x, k, "same", fillvalue=fill), expected)

    def test_nonfinite_kernel_with_zero_fill(self):
        x = np.ones((3, 3))
        k = np.array([[np.inf, 1.0], [1.0, 1.0]])
        with np.errstate(invalid="ignore"):
            expected = ss.convolve2d(x, k, "full")
        np.testing.assert_array_equal(convmat.conv2d(x, k, "full"), expected)

    def test_complex_nan_local(self):
        x = np.zeros((5, 5), dtype=complex)
        x[2, 2] = complex(np.nan, 0)
        got = convmat.conv2d(x, np.ones((3, 3), dtype=complex), "same", "symm")
        assert np.isnan(got).sum() == 9


class TestIntegers:
    @given(data=st.data(), n=shapes2, m=kshapes2)
    def test_exact(self, data, n, m):
        x = data.draw(arrays(np.int64, n))
        k = data.draw(arrays(np.int64, m))
        np.testing.assert_array_equal(
            convmat.conv2d(x, k, "same", "symm"), ss.convolve2d(x, k, "same", "symm")
        )

    def test_large_int64_exact(self):
        x = np.array([[2**40, -(2**40)], [3, 2**41]], dtype=np.int64)
        k = np.array([[2**20, 1], [-1, 2**21]], dtype=np.int64)
        np.testing.assert_array_equal(convmat.conv2d(x, k), ss.convolve2d(x, k))

    @pytest.mark.parametrize(
        ("dtype", "value"), [(np.int8, 100), (np.uint8, 200), (np.int64, 2**62), (np.uint64, 2**63)]
    )
    def test_overflow_refused_not_wrapped(self, dtype, value):
        x = np.full((2, 2), value, dtype=dtype)
        k = np.full((2, 2), 2, dtype=dtype)
        with pytest.raises(convmat.ResultOverflowError, match=np.dtype(dtype).name):
            convmat.conv2d(x, k)

    def test_near_the_top_of_int64_is_exact(self):
        x = np.array([[2**62, 2**62 - 1]], dtype=np.int64)
        k = np.array([[1, 1]], dtype=np.int64)
        got = convmat.conv2d(x, k, "valid")
        assert got.tolist() == [[2**63 - 1]]

    def test_transpose_overflow_refused(self):
        y = np.full((3, 3), 100, dtype=np.int8)
        with pytest.raises(convmat.ResultOverflowError):
            convmat.conv_transpose2d(y, np.ones((2, 2), dtype=np.int8))

    @pytest.mark.parametrize(
        ("a", "b"),
        [
            (np.int8, np.int8),
            (np.uint8, np.int8),
            (np.int16, np.float32),
            (np.int64, np.complex64),
            (np.bool_, np.int32),
        ],
    )
    def test_result_dtype_is_scipys(self, a, b):
        x = np.ones((3, 3), dtype=a)
        k = np.ones((2, 2), dtype=b)
        assert convmat.conv2d(x, k).dtype == ss.convolve2d(x, k).dtype
        assert convmat.correlate2d(x, k).dtype == ss.correlate2d(x, k).dtype

    def test_float16_computed_in_float32(self):
        x = np.arange(9, dtype=np.float16).reshape(3, 3)
        got = convmat.conv2d(x, np.ones((2, 2), dtype=np.float16))
        assert got.dtype == np.float16
        np.testing.assert_array_equal(
            got, ss.convolve2d(x.astype(np.float32), np.ones((2, 2))).astype(np.float16)
        )


def test_inputs_are_never_written():
    x = np.arange(12.0).reshape(3, 4)
    k = np.arange(4.0).reshape(2, 2)
    x.flags.writeable = False
    k.flags.writeable = False
    for func in (convmat.conv2d, convmat.correlate2d):
        func(x, k, "same", "symm", 1.0)
    convmat.conv_transpose2d(x, k)
    np.testing.assert_array_equal(x, np.arange(12.0).reshape(3, 4))


class TestBadInput:
    @pytest.mark.parametrize(
        ("image", "kernel", "kwargs", "exc", "match"),
        [
            (np.ones(3), np.ones((2, 2)), {}, ValueError, "`image` must have at least 2"),
            (np.ones((3, 3)), np.ones(2), {}, ValueError, "`kernel` must be 2-D"),
            (np.ones((3, 0)), np.ones((2, 2)), {}, ValueError, "`image` must not be empty"),
            (np.ones((3, 3)), np.ones((0, 2)), {}, ValueError, "`kernel` must not be empty"),
            (np.ones((3, 3)), np.ones((2, 2)), {"mode": "wide"}, ValueError, "`mode`.*'wide'"),
            (np.ones((3, 3)), np.ones((2, 2)), {"boundary": 0}, ValueError, "`boundary`.*0"),
            (np.array([["a"]]), np.ones((2, 2)), {}, TypeError, "`image`.*numeric.*<U1"),
            (np.ones((3, 3)), np.ones((2, 2), dtype=object), {}, TypeError, "`kernel`.*object"),
            (np.ma.ones((3, 3)), np.ones((2, 2)), {}, TypeError, "`image`.*masked"),
            (np.ones((3, 3), bool), np.ones((2, 2), bool), {}, TypeError, "two boolean"),
            (
                np.ones((3, 3)),
                np.ones((2, 2)),
                {"fillvalue": [1, 2]},
                ValueError,
                "`fillvalue`.*scalar.*\\[1, 2\\]",
            ),
            (np.ones((3, 3)), np.ones((2, 2)), {"fillvalue": "3"}, TypeError, "`fillvalue`"),
            (np.ones((3, 3)), np.ones((2, 2)), {"fillvalue": None}, TypeError, "`fillvalue`.*None"),
            (
                np.ones((3, 3)),
                np.ones((2, 2)),
                {"fillvalue": 1j},
                ValueError,
                "could not cast `fillvalue`.*float64: 1j",
            ),
            (
                np.ones((3, 3), int),
                np.ones((2, 2), int),
                {"fillvalue": 1.5},
                ValueError,
                "could not cast `fillvalue`.*int64: 1.5",
            ),
            (
                np.ones((3, 3), np.uint8),
                np.ones((2, 2), np.uint8),
                {"fillvalue": -1},
                ValueError,
                "uint8",
            ),
            (np.ones((2, 5)), np.ones((3, 3)), {"mode": "valid"}, ValueError, "For 'valid' mode"),
        ],
        ids=[
            "image-1d",
            "kernel-1d",
            "image-empty",
            "kernel-empty",
            "mode",
            "boundary",
            "image-str",
            "kernel-object",
            "masked",
            "bools",
            "fill-list",
            "fill-str",
            "fill-none",
            "fill-complex",
            "fill-fraction-int",
            "fill-negative-uint",
            "valid-mixed",
        ],
    )
    @pytest.mark.parametrize("func", [convmat.conv2d, convmat.correlate2d], ids=["conv", "corr"])
    def test_messages(self, func, image, kernel, kwargs, exc, match):
        if func is convmat.correlate2d:  # scipy's names: in1, in2
            match = match.replace("`image`", "`in1`").replace("`kernel`", "`in2`")
        with pytest.raises(exc, match=match):
            func(image, kernel, **kwargs)

    def test_zero_d_fillvalue_accepted(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = convmat.conv2d(np.ones((2, 2)), np.ones((2, 2)), fillvalue=np.array(2.0))
        np.testing.assert_array_equal(
            got, ss.convolve2d(np.ones((2, 2)), np.ones((2, 2)), fillvalue=2.0)
        )

    def test_transpose_bad_input_shape(self):
        with pytest.raises(ValueError, match=r"`input_shape`.*positive"):
            convmat.conv_transpose2d(np.ones((3, 3)), np.ones((2, 2)), input_shape=(0, 2))


class TestScipyErrorTypes:
    """Where scipy raises ValueError, code written for scipy catches ours too."""

    def test_scipy_fillvalue_errors(self):
        # scipy's TestConvolve2d.test_fillvalue_errors, with convmat.conv2d substituted
        with pytest.raises(ValueError, match="could not cast `fillvalue` directly to the output "):
            convmat.conv2d([[1]], [[1, 2]], fillvalue=1j)
        with pytest.raises(ValueError, match="`fillvalue` must be scalar or an array with "):
            convmat.conv2d([[1]], [[1, 2]], fillvalue=[1, 2])

    def test_scipy_fillvalue_empty(self):
        # scipy's TestConvolve2d.test_fillvalue_empty
        with pytest.raises(ValueError, match="`fillvalue` cannot be empty"):
            convmat.conv2d([[1]], [[1, 2]], fillvalue=[])

    @pytest.mark.parametrize(
        ("image", "kernel", "kwargs"),
        [
            (np.ones((3, 3), bool), np.ones((2, 2), bool), {}),
            (np.ones((3, 3), object), np.ones((2, 2)), {}),
            (np.ones((3, 3)), np.ones((2, 2), object), {}),
            (np.ones((3, 3)), np.ones((2, 2)), {"fillvalue": [1, 2]}),
            (np.ones((3, 3)), np.ones((2, 2)), {"fillvalue": []}),
            (np.ones((3, 3)), np.ones((2, 2)), {"fillvalue": np.zeros((2, 1))}),
        ],
        ids=["bool-bool", "object-image", "object-kernel", "fill-pair", "fill-empty", "fill-2d"],
    )
    @pytest.mark.parametrize("func", ["convolve2d", "correlate2d"])
    def test_value_error_where_scipy_raises_one(self, image, kernel, kwargs, func):
        scipy_func = getattr(ss, func)
        ours = convmat.conv2d if func == "convolve2d" else convmat.correlate2d
        with pytest.raises(ValueError):  # noqa: PT011 - the type is what is under test
            scipy_func(image, kernel, **kwargs)
        with pytest.raises(ValueError):  # noqa: PT011
            ours(image, kernel, **kwargs)

    @pytest.mark.parametrize("fill", [[3], np.array([3.0]), np.array([[3]])])
    def test_one_element_fillvalue_accepted_as_by_scipy(self, fill):
        x, k = np.arange(6.0).reshape(2, 3), np.ones((2, 2))
        np.testing.assert_array_equal(
            convmat.conv2d(x, k, fillvalue=fill), ss.convolve2d(x, k, fillvalue=fill)
        )


def test_minus_inf_fillvalue_as_scipy():
    x = np.arange(12.0).reshape(3, 4)
    k = np.array([[1.0, 0.0], [2.0, -1.0]])
    for mode in ("full", "same"):
        with np.errstate(invalid="ignore"):
            expected = ss.convolve2d(x, k, mode, fillvalue=-np.inf)
        np.testing.assert_array_equal(convmat.conv2d(x, k, mode, fillvalue=-np.inf), expected)


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_empty_batch_of_transposes(dtype):
    out = convmat.conv_transpose2d(np.zeros((0, 4, 5), dtype), np.ones((2, 2), dtype))
    assert out.shape == (0, 3, 4)
    assert out.dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: convmat.conv2d(x, np.ones((3, 3))),
        lambda x: convmat.correlate2d(x, np.ones((3, 3)), "same"),
        lambda x: convmat.convolve(x, np.ones(3)),
        lambda x: convmat.conv_transpose2d(x, np.ones((3, 3))),
        lambda x: convmat.ConvOperator(np.ones((3, 3)), x.shape)(x),
    ],
)
def test_a_result_that_cannot_fit_is_refused_from_the_shapes_before_the_input_is_read(call):
    """A 60000 x 60000 broadcast view: a copy and an output of 27 GiB each. Reading it
    would take seconds and end in numpy's bare MemoryError; the shapes say so first."""
    x = np.broadcast_to(np.float64(1.0), (60000, 60000))
    with pytest.raises(convmat.MatrixTooLargeError, match=r"GiB\).*pass fewer"):
        call(x)


class TestFillvalueAsScipyTakesIt:
    @pytest.mark.parametrize("boundary", ["wrap", "symm"])
    @pytest.mark.parametrize("fill", [-2, 300, 2.5, 1e300])
    def test_an_unused_fillvalue_is_not_cast(self, boundary, fill):
        """'wrap' and 'symm' never read the fillvalue: scipy accepts any number there."""
        x = np.arange(9, dtype=np.uint8).reshape(3, 3)
        k = np.ones((2, 2), np.uint8)
        with np.errstate(all="ignore"):
            expected = ss.convolve2d(x, k, "same", boundary, fill)
        np.testing.assert_array_equal(convmat.conv2d(x, k, "same", boundary, fill), expected)
        np.testing.assert_array_equal(
            convmat.convolve(x, k, "same", boundary=boundary, fillvalue=fill), expected
        )

    @pytest.mark.parametrize(
        ("dtype", "fill"),
        [(np.float32, 0.1), (np.float32, 2**24 + 1), (np.float64, 2**53 + 1), (np.float64, 0.1)],
    )
    def test_a_float_fillvalue_is_rounded_as_scipy_rounds_it(self, dtype, fill):
        x = np.ones((3, 4), dtype)
        k = np.array([[1.0, 2.0], [3.0, 4.0]], dtype)
        expected = ss.convolve2d(x, k, "full", "fill", fill)
        got = convmat.conv2d(x, k, "full", "fill", fill)
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(dtype).eps)
        # the padding holds the rounded value, whatever the method
        ref = convmat.conv2d(np.pad(x, 1, constant_values=dtype(fill)), k, "valid")
        np.testing.assert_allclose(got, ref, rtol=4 * np.finfo(dtype).eps)

    @pytest.mark.parametrize(
        ("dtype", "fill", "match"),
        [
            (np.float32, 1e300, "float32: 1e\\+300 is beyond its range"),
            (np.int64, 2.5, "int64: 2.5 cannot be represented exactly"),
            (np.uint8, -2, "uint8: -2 cannot be represented exactly"),
            (np.int64, 2**63, "cannot be represented exactly"),
        ],
    )
    def test_a_used_fillvalue_that_would_change_is_refused(self, dtype, fill, match):
        x = np.ones((3, 3), dtype)
        with pytest.raises(ValueError, match=match):
            convmat.conv2d(x, np.ones((2, 2), dtype), "same", "fill", fill)


class TestScipyDropIn:
    """``from convmat import convolve2d, correlate2d`` in place of scipy's, unchanged."""

    @given(geometry=geometries(6, SCIPY_BOUNDARIES), seed=st.integers(0, 2**16), ints=st.booleans())
    def test_scipys_signature_and_keywords(self, geometry, seed, ints):
        mode, boundary, n, m = geometry
        rng = np.random.default_rng(seed)
        x = rng.integers(-9, 9, n) if ints else rng.standard_normal(n)
        k = rng.integers(-9, 9, m) if ints else rng.standard_normal(m)
        for ours, theirs in (
            (convmat.convolve2d, ss.convolve2d),
            (convmat.correlate2d, ss.correlate2d),
        ):
            kwargs = {"in1": x, "in2": k, "mode": mode, "boundary": boundary, "fillvalue": 2}
            expected = theirs(**kwargs)
            got = ours(**kwargs)
            assert got.dtype == expected.dtype
            if ints:
                np.testing.assert_array_equal(got, expected)
            else:
                np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(ours(x, k, mode, boundary, 2), got)

    def test_the_parameter_names_are_scipys(self):
        for ours, theirs in (
            (convmat.convolve2d, ss.convolve2d),
            (convmat.correlate2d, ss.correlate2d),
        ):
            scipy_names = list(inspect.signature(theirs).parameters)
            assert list(inspect.signature(ours).parameters)[: len(scipy_names)] == scipy_names
        with pytest.raises(ValueError, match="`in2`"):
            convmat.convolve2d(np.ones((3, 3)), np.ones((0, 2)))

    @pytest.mark.parametrize("func", [convmat.convolve, convmat.correlate])
    def test_method_direct_is_a_direct_sum_where_scipy_takes_it(self, func):
        rng = np.random.default_rng(0)
        x, k = rng.standard_normal((96, 96)), rng.standard_normal((31, 31))
        name = func.__name__
        expected = getattr(ss, name)(x, k, "same", method="direct")
        np.testing.assert_allclose(func(x, k, "same", method="direct"), expected, atol=1e-10)
        op = convmat.ConvOperator(k, x.shape, "same", method="direct")
        assert op.method_for(1) != "fft"
        assert convmat.ConvOperator(k, x.shape, "same").method_for(1) == "fft"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["auto", "direct", "dense", "sparse", "shift", "fft"])
def test_a_sum_beyond_the_dtype_s_range_is_inf_without_a_warning(method, dtype):
    """As scipy's direct sum gives it: every method, forward, correlation and transpose
    (the test run turns any warning into an error)."""
    x = np.full((5, 6), np.finfo(dtype).max / 2, dtype=dtype)
    k = np.ones((3, 3), dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = ss.convolve2d(x, k)  # scipy's own cast may warn; ours must not
    for func in (convmat.conv2d, convmat.correlate2d):
        out = func(x, k, "full", method=method)
        assert out.dtype == dtype
        np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
    back = convmat.conv_transpose2d(x, k, method=method)
    assert back.dtype == dtype
    assert np.isposinf(back).any()
    op = convmat.ConvOperator(k, x.shape, method=method)
    assert np.isposinf(op @ x.ravel()).any()


def test_the_transpose_names_its_first_argument_output():
    """conv_transpose2d reads an output of the convolution: its messages say `output`."""
    with pytest.raises(ValueError, match=r"^`output` must not be empty, got shape \(0, 3\)"):
        convmat.conv_transpose2d(np.ones((0, 3)), np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"^`output` must have a numeric dtype"):
        convmat.conv_transpose2d(np.array([["a"]]), np.ones((2, 2)))


# -- scipy's minor conventions, and what scipy leaves unsaid ----------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.complex128])
def test_a_bool_fillvalue_is_taken_as_scipy_takes_it(dtype):
    x, k = np.ones((3, 3), dtype), np.ones((2, 2), dtype)
    for fill in (True, np.bool_(True), False):
        np.testing.assert_array_equal(
            convmat.conv2d(x, k, fillvalue=fill), ss.convolve2d(x, k, fillvalue=fill)
        )


def test_a_complex_fillvalue_on_real_data_is_called_complex():
    with pytest.raises(
        ValueError, match=r"`fillvalue`.*\(1\+2j\) is complex and the output is real"
    ):
        convmat.conv2d(np.ones((3, 3)), np.ones((2, 2)), fillvalue=1 + 2j)


@pytest.mark.parametrize(
    "rtol",
    [np.array(1e-6), np.array(1e-6, np.float32), np.float32(1e-6), np.int64(0), np.array(0)],
    ids=["0d-f64", "0d-f32", "f32", "i64", "0d-int"],
)
def test_numpy_scalars_and_0d_arrays_are_an_rtol(rtol):
    x, k = np.arange(30.0).reshape(5, 6), np.ones((3, 3))
    np.testing.assert_allclose(
        convmat.conv2d(x, k, rtol=rtol), convmat.conv2d(x, k, rtol=float(rtol)), rtol=0
    )


@pytest.mark.parametrize(
    ("rtol", "exc"),
    [(np.array([1e-6]), TypeError), (np.array(True), TypeError), (np.array(-1.0), ValueError)],
    ids=["1d", "bool", "negative"],
)
def test_arrays_that_are_no_rtol_are_refused(rtol, exc):
    with pytest.raises(exc, match="`rtol`"):
        convmat.conv2d(np.ones((3, 3)), np.ones((2, 2)), rtol=rtol)


FUNCS_2D = [convmat.conv2d, convmat.correlate2d, convmat.convolve, convmat.correlate]


@pytest.mark.parametrize("func", FUNCS_2D, ids=lambda f: f.__name__)
@pytest.mark.parametrize("method", ["auto", "sparse", "shift", "fft", "dense"])
def test_a_nonzero_fillvalue_keeps_the_accuracy_contract(func, method):
    """The padding's share is a sum of the taps that read it and nothing else: an output
    whose window reads only input gets none of it (the sum of all taps less those
    inside would leave its rounding there), each output stays within the direct sum's
    bound of ``|k| * |x|`` with the padding counted, as scipy computes it."""
    rng = np.random.default_rng(5)
    k = rng.standard_normal((5, 5)) + 0.3
    x = np.full((8, 8), 1e-20)
    kwargs = {"boundary": "fill", "fillvalue": 1.0, "method": method}
    got = func(x, k, "same", **kwargs)
    # scipy's 2-D reference of each (N-D correlation: the convolution with k reversed)
    ref, kk = {
        convmat.conv2d: (ss.convolve2d, k),
        convmat.convolve: (ss.convolve2d, k),
        convmat.correlate2d: (ss.correlate2d, k),
        convmat.correlate: (ss.convolve2d, k[::-1, ::-1]),
    }[func]
    want = ref(x, kk, "same", fillvalue=1.0)
    scale = ref(np.abs(x), np.abs(kk), "same", fillvalue=1.0)
    np.testing.assert_array_less(np.abs(got - want), 25 * np.finfo(float).eps * scale)
    np.testing.assert_allclose(got[2:6, 2:6], want[2:6, 2:6], rtol=1e-14, atol=0)


def test_a_long_signal_with_a_fillvalue_keeps_the_contract():
    """2·10^5 samples and a 301-tap kernel: the padding's share of each output is summed
    over the taps outside the signal, not as all taps less the others."""
    rng = np.random.default_rng(6)
    s, h = rng.standard_normal(200_000) * 1e-10, rng.standard_normal(301)
    for mode in ("full", "same"):
        got = convmat.convolve(s, h, mode, boundary="fill", fillvalue=1.0)
        want = ss.convolve2d(s[None], h[None], mode, fillvalue=1.0)[0]
        scale = ss.convolve2d(np.abs(s[None]), np.abs(h[None]), mode, fillvalue=1.0)[0]
        np.testing.assert_array_less(np.abs(got - want), 301 * np.finfo(float).eps * scale)


def test_torch_tensors_in_give_numpy_arrays_out():
    """The stated rule: arrays in, numpy arrays out, torch tensors included; the tensor is
    read, never written."""
    torch = pytest.importorskip("torch", reason="torch is optional (the CPU build)")
    t = torch.arange(20.0).reshape(4, 5)
    before = t.clone()
    k = torch.tensor([[1.0, -1.0], [2.0, 0.5]])
    for got in (
        convmat.conv2d(t, k, "same"),
        convmat.correlate2d(t, k),
        convmat.convolve(t, k, "same", boundary="mirror"),
        convmat.fftconvolve(t, k),
        convmat.ConvOperator(k, (4, 5)) @ t.reshape(-1),
    ):
        assert type(got) is np.ndarray
        assert got.dtype == np.float32
    np.testing.assert_array_equal(
        convmat.conv2d(t, k, "same"), convmat.conv2d(t.numpy(), k.numpy(), "same")
    )
    assert torch.equal(t, before)


@pytest.mark.parametrize(
    ("func", "subject"),
    [
        (convmat.conv2d, "convolution"),
        (convmat.correlate2d, "correlation"),
        (convmat.convolve, "convolution"),
        (convmat.correlate, "correlation"),
        (convmat.conv_transpose2d, "transposed convolution"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_a_refusal_names_what_was_asked_for(func, subject):
    with pytest.raises(TypeError, match=rf"^{subject} of two boolean arrays is not defined"):
        func(np.ones((3, 3), bool), np.ones((2, 2), bool))
