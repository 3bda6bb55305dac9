"""The accuracy contract of 'auto': every float output as accurate as a direct sum.

Data of a wide dynamic range (values from 1e-6 to 1e6, exact zeros), every
mode and boundary, single, double and half precision, real and complex, through
every public path; references in long double.
"""

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import convmat
from convmat._engines.apply import apply
from convmat._engines.cache import engine_for
from helpers import (
    BOUNDARIES,
    MODES,
    assert_direct_sum_accuracy,
    convolve2d_ref,
    correlate2d_ref,
    exact_conv,
    geometries,
    precise_matrix,
    reference_nd,
)

FLOATS = [np.float16, np.float32, np.float64, np.complex64, np.complex128]


@st.composite
def ranged(draw: st.DrawFn, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """Magnitudes 10**-6 to 10**6 (10**-2 to 10**1.5 for float16) and zeros, random signs."""
    top = 1.5 if dtype is np.float16 else 6
    exponents = draw(hnp.arrays(np.float64, shape, elements=st.floats(-top, top)))
    signs = draw(hnp.arrays(np.int8, shape, elements=st.sampled_from([-1, 0, 1])))
    values = signs * 10.0**exponents
    if np.dtype(dtype).kind == "c":
        phase = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 2 * np.pi)))
        values = values * np.exp(1j * phase)
    return values.astype(dtype)


def _reference(x: np.ndarray, k: np.ndarray, mode: str, boundary: str) -> tuple[np.ndarray, ...]:
    """The exact product (to long double) and the scale ``|k| * |x|``, one row per image."""
    wide = np.clongdouble if np.result_type(x, k).kind == "c" else np.longdouble
    kk, ka = k.astype(wide), np.abs(k).astype(np.longdouble)
    images = x.reshape(-1, *x.shape[-2:])
    exact = [convolve2d_ref(xi.astype(wide), kk, mode, boundary).ravel() for xi in images]
    scale = [
        convolve2d_ref(np.abs(xi).astype(np.longdouble), ka, mode, boundary).ravel()
        for xi in images
    ]
    return np.stack(exact), np.stack(scale)


def _certify(engine, x: np.ndarray, eps: float, rtol: float = 0.0) -> np.ndarray:
    """The outputs 'auto' certifies for the rows of `x` at `rtol` (forward products)."""
    tol = engine.certificate.tolerance(rtol, eps, transpose=False)
    precision = engine.certificate.fft_precision(tol, transpose=False)
    y = engine.fft(x, transpose=False, precision=precision)
    return engine.certificate.fft_certified(x, y, transpose=False, tol=tol, precision=precision)


def _taps(k: np.ndarray) -> int:
    return max(int(np.count_nonzero(k)), 1)


@given(dtype=st.sampled_from(FLOATS), geometry=geometries(6), data=st.data())
def test_one_shot_functions_are_as_accurate_as_a_direct_sum(dtype, geometry, data):
    mode, boundary, n, m = geometry
    x = data.draw(ranged(dtype, (2, *n)))
    k = data.draw(ranged(dtype, m))
    exact, scale = _reference(x, k, mode, boundary)
    # rtol=0: a direct sum's bound for every dtype (double precision's default, 1e-10,
    # lets the FFT serve even tiny images, whose error is then within 1e-10 only)
    got = convmat.conv2d(x, k, mode, boundary, rtol=0)
    taps = _taps(k)
    assert_direct_sum_accuracy(got.reshape(2, -1), exact, scale, taps)
    op = convmat.ConvOperator(k, n, mode, boundary, rtol=0)
    assert_direct_sum_accuracy(op(x).reshape(2, -1), exact, scale, taps)


@given(dtype=st.sampled_from(FLOATS), geometry=geometries(6), data=st.data())
def test_transposes_are_as_accurate_as_a_direct_sum(dtype, geometry, data):
    mode, boundary, n, m = geometry
    k = data.draw(ranged(dtype, m))
    mat = precise_matrix(k, n, mode, boundary)
    out_shape = convmat.conv2d(np.zeros(n), np.ones(m), mode, boundary).shape
    y = data.draw(ranged(dtype, (2, *out_shape)))
    flat = y.reshape(2, -1).astype(mat.dtype)
    exact = flat @ mat
    scale = np.abs(flat) @ np.abs(precise_matrix(np.abs(k), n, mode, boundary))
    # an input of a transpose sums a tap once per output that reads it (several with wrap, symm)
    counts = precise_matrix((k != 0).astype(np.float64), n, mode, boundary)
    terms = max(int(counts.sum(axis=0).max()), 1)
    got = convmat.conv_transpose2d(y, k, mode, boundary, input_shape=n, rtol=0)
    assert_direct_sum_accuracy(got.reshape(2, -1), exact, scale, terms)
    op = convmat.ConvOperator(k, n, mode, boundary, rtol=0)
    assert_direct_sum_accuracy(op.T(y).reshape(2, -1), exact, scale, terms)


class TestTheFFTUnderAuto:
    """Shapes where 'auto' picks the FFT: it serves only what it certifies."""

    SHAPE = (96, 96)
    KERNEL = (31, 31)

    @pytest.mark.parametrize("dtype", FLOATS)
    @pytest.mark.parametrize("boundary", BOUNDARIES)
    def test_benign_data_goes_through_the_fft_and_meets_the_bound(self, dtype, boundary):
        rng = np.random.default_rng(0)
        # one image: batches of two or more may go to the banded GEMM instead
        x = (1 + rng.random((1, *self.SHAPE))).astype(dtype)
        k = (1 + rng.random(self.KERNEL)).astype(dtype)
        op = convmat.ConvOperator(k, self.SHAPE, "same", boundary)
        assert op.method_for(1) == "fft"
        engine = engine_for(k, op._plan, np.dtype(dtype))
        eps = float(np.finfo(dtype).eps)
        cert = _certify(engine, x.reshape(1, -1).astype(engine.dtype), eps)
        assert cert.all()
        exact, scale = _reference(x, k, "same", boundary)
        assert_direct_sum_accuracy(op(x).reshape(1, -1), exact, scale, _taps(k))

    @pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.float64])
    def test_wide_dynamic_range_falls_back_and_meets_the_bound(self, dtype):
        x = np.full((1, *self.SHAPE), 1e-3, dtype)
        x[0, 48, 48] = 1e6
        k = np.random.default_rng(1).random(self.KERNEL).astype(dtype)
        got = convmat.conv2d(x, k, "same")
        exact, scale = _reference(x, k, "same", "fill")
        assert_direct_sum_accuracy(got.reshape(1, -1), exact, scale, _taps(k))

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_exact_zeros_far_from_the_data_stay_zero(self, dtype):
        x = np.zeros((96, 96), dtype)
        x[:8, :8] = 1.0
        k = np.ones((15, 15), dtype)
        got = convmat.conv2d(x, k, "full")
        np.testing.assert_array_equal(got[40:, 40:], 0)


def test_huge_finite_values_stay_finite():
    x = np.full((256, 256), 1e305)
    k = np.ones((15, 15))
    expected = ss.convolve2d(x, k, "same")
    for method in ("auto", "fft"):
        got = convmat.conv2d(x, k, "same", method=method)
        np.testing.assert_allclose(got, expected, rtol=225 * np.finfo(float).eps)
        op = convmat.ConvOperator(k, (256, 256), "same", method=method)
        np.testing.assert_allclose(op(x), expected, rtol=225 * np.finfo(float).eps)


def test_issue_dynamic_range_example_within_the_contract():
    rng = np.random.default_rng(0)
    x = np.full((256, 256), 1e-3, np.float32)
    x[128, 128] = 1e6
    k = rng.random((15, 15)).astype(np.float32)
    got = convmat.conv2d(x, k, "same").astype(np.float64)
    exact = ss.convolve2d(x.astype(np.float64), k.astype(np.float64), "same")
    scale = ss.convolve2d(np.abs(x).astype(np.float64), np.abs(k).astype(np.float64), "same")
    assert (np.abs(got - exact) <= 225 * np.finfo(np.float32).eps * scale).all()
    far = np.abs(got[:64, :64] - exact[:64, :64]) / exact[:64, :64]
    assert far.max() < 1e-5  # the FFT in float32 gave 0.18 here


@pytest.mark.parametrize("func", ["conv2d", "correlate2d", "conv_transpose2d"])
def test_method_keyword_on_the_one_shot_functions(func):
    x = np.arange(64.0).reshape(8, 8)
    k = np.array([[1.0, 2.0], [3.0, 4.0]])
    f = getattr(convmat, func)
    results = [
        f(x, k, "same", "symm", method=m) for m in ("auto", "sparse", "dense", "shift", "fft")
    ]
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], rtol=1e-13, atol=1e-12)
    with pytest.raises(ValueError, match=r"`method`.*'fast'"):
        f(x, k, method="fast")
    with pytest.raises(ValueError, match="not exact for the integer"):
        f(x.astype(int), k.astype(int), method="fft")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_direct_sums_at_chosen_outputs_are_the_matrix_rows(dtype, boundary):
    rng = np.random.default_rng(3)
    k = rng.standard_normal((3, 4)).astype(dtype)
    engine = engine_for(k, convmat.ConvOperator(k, (5, 6), "full", boundary)._plan, np.dtype(dtype))
    x = rng.standard_normal((3, 30)).astype(dtype)
    rows = np.array([0, 2, 2, 1, 0])
    outputs = np.array([0, 5, 61, 33, 62])
    expected = (x @ convmat.conv_matrix(k, (5, 6), "full", boundary).T)[rows, outputs]
    got = engine.certificate.direct_at(x, rows, outputs)
    np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


def _normal_full_case(seed, batch, size, dtype=np.float64):
    """Normal data of `size`² and a normal 31x31 kernel in 'full' mode: the rows, the
    kernel and the engine."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, size, size)).astype(dtype)
    k = rng.standard_normal((31, 31)).astype(dtype)
    engine = engine_for(k, convmat.ConvOperator(k, (size, size), "full")._plan, np.dtype(dtype))
    return x.reshape(batch, -1), k, engine


def _watch_transforms(monkeypatch, engine):
    """Each transform the engine runs, as (whether of |x| with |k|, its result)."""
    seen = []
    real_fft = engine.fft

    def watched(*args, **kwargs):
        got = real_fft(*args, **kwargs)
        seen.append((bool(kwargs.get("absolute")), got))
        return got

    monkeypatch.setattr(engine, "fft", watched)
    return seen


def test_window_minimum_certifies_single_precision_without_a_second_transform(monkeypatch):
    # float32 data, float64 transforms: the least |x| under each window certifies every
    # output of random data, corners of 'full' mode included; no float32 transform runs
    x, _, engine = _normal_full_case(4, 2, 128, np.float32)
    seen = _watch_transforms(monkeypatch, engine)
    ok = _certify(engine, x, float(np.finfo(np.float32).eps))
    assert [absolute for absolute, _ in seen] == [False]
    assert ok.all()


def test_window_minimum_is_skipped_where_a_transform_of_x_would_follow_it(monkeypatch):
    # float64 data at the default rtol: about half the windows of normal data hold an
    # entry too small for the least |x| to certify their output; the window minimum (as
    # costly as a transform of |x|, measured) would leave a hundred outputs, so the
    # transform of |x| runs alone, and certifies all but a few
    x, _, engine = _normal_full_case(6, 1, 32)
    seen = _watch_transforms(monkeypatch, engine)

    def no_window_minimum(*args, **kwargs):
        msg = "the window minimum ran"
        raise AssertionError(msg)

    monkeypatch.setattr(engine.certificate, "_window_minimum_bound", no_window_minimum)
    ok = _certify(engine, x, float(np.finfo(np.float64).eps), rtol=1e-10)
    assert [absolute for absolute, _ in seen] == [False, True]  # the product, then |x| with |k|
    assert ok.mean() > 0.99


def test_fix_ups_are_written_into_the_transform_s_product(monkeypatch):
    # every row served by the transform: the outputs it leaves (the ring of 'full' mode)
    # are summed into its product, which is returned without a copy
    x, k, engine = _normal_full_case(7, 3, 32)
    seen = _watch_transforms(monkeypatch, engine)
    fixed = []
    real_direct_at = engine.certificate.direct_at

    def counted(*args):
        fixed.append(args[1].size)
        return real_direct_at(*args)

    monkeypatch.setattr(engine.certificate, "direct_at", counted)
    got = apply(x, engine, np.dtype(np.float64))
    assert len(fixed) == 1  # one group of outputs summed directly
    assert fixed[0] > 0
    products = [product for absolute, product in seen if not absolute]
    assert len(products) == 1
    assert np.shares_memory(got, products[0])
    exact = x @ convmat.conv_matrix(k, (32, 32), "full").T
    np.testing.assert_allclose(got, exact, rtol=0, atol=1e-10 * np.abs(exact).max())


def test_fix_ups_of_served_rows_beside_a_row_served_again(monkeypatch):
    # one row a bright spot on a faint ground (most of its outputs uncertified: served
    # again in a wider precision), two normal rows served with their ring's fix-ups
    x, k, engine = _normal_full_case(7, 3, 32)
    x[1] *= 1e-9
    x[1, 5 * 32 + 5] = 1e6
    fixed = []
    real_direct_at = engine.certificate.direct_at

    def counted(*args):
        fixed.append(np.unique(args[1]).tolist())
        return real_direct_at(*args)

    monkeypatch.setattr(engine.certificate, "direct_at", counted)
    got = apply(x, engine, np.dtype(np.float64))
    assert fixed[0] == [0, 2]
    exact = x @ convmat.conv_matrix(k, (32, 32), "full").T
    scale = np.abs(exact).max(axis=1, keepdims=True)  # each row to its own scale
    np.testing.assert_allclose(got / scale, exact / scale, rtol=0, atol=1e-10)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
def test_window_minimum_bound_is_a_lower_bound(mode, boundary):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 9, 7))
    x[1, 2:5, 1:4] = 0.0  # zeros under some windows: the bound must drop to 0 there
    k = rng.standard_normal((4, 3))
    k[0, 0] = 0.0
    op = convmat.ConvOperator(k, (9, 7), mode, boundary)
    engine = engine_for(k, op._plan, np.dtype(np.float64))
    bound = engine.certificate._window_minimum_bound(np.abs(x).reshape(3, -1))
    exact = np.stack([reference_nd(np.abs(im), np.abs(k), mode, boundary) for im in x])
    assert (bound <= exact.reshape(3, -1)).all()
    assert (bound > 0).any()
    assert (bound[1] == 0).any()


@pytest.mark.parametrize("dtype", [np.float64])
def test_full_mode_corners_are_fixed_up_not_the_whole_image(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 128, 128)).astype(dtype)
    k = rng.standard_normal((31, 31)).astype(dtype)
    op = convmat.ConvOperator(k, (128, 128), "full")
    assert op.method_for(1) == "fft"
    engine = engine_for(k, op._plan, np.dtype(dtype))
    ok = _certify(engine, x.reshape(1, -1), float(np.finfo(dtype).eps), rtol=0.0)
    assert 0 < (~ok).sum() < 0.25 * ok.size  # a few outputs, near the corners, fail
    exact, scale = _reference(x, k, "full", "fill")
    assert_direct_sum_accuracy(op(x).reshape(1, -1), exact, scale, _taps(k))


# -- the accuracy dial: rtol ------------------------------------------------------------------
def _contract(
    got: np.ndarray, exact: np.ndarray, scale: np.ndarray, terms: int, rtol: float
) -> None:
    """``|got - exact| <= max(rtol, terms * eps) * scale`` everywhere, and exact zeros where
    the scale is 0 (the output's window holds only zeros)."""
    info = np.finfo(got.dtype)
    tol = max(rtol, terms * float(info.eps))
    err = np.abs(got.astype(exact.dtype) - exact)
    bound = tol * scale.astype(np.longdouble) + float(info.smallest_subnormal)
    bad = err > bound
    assert not bad.any(), (
        f"{int(bad.sum())} of {bad.size} outputs beyond max(rtol, taps * eps) * (|k| * |x|); "
        f"worst ratio {float(np.max(err / bound)):.3g}"
    )
    np.testing.assert_array_equal(got[scale == 0], 0)


def _default_rtol(dtype: type) -> float:
    return 1e-10 if np.finfo(dtype).eps <= np.finfo(np.float64).eps else 0.0


BAD_RTOLS = [
    (-1e-3, ValueError),
    (np.nan, ValueError),
    (np.inf, ValueError),
    (1j, TypeError),
    ("1e-3", TypeError),
    (True, TypeError),
]


@pytest.mark.parametrize(("rtol", "error"), BAD_RTOLS)
@pytest.mark.parametrize(
    "call",
    [
        lambda r: convmat.conv2d(np.ones((4, 4)), np.ones((2, 2)), rtol=r),
        lambda r: convmat.correlate2d(np.ones((4, 4)), np.ones((2, 2)), rtol=r),
        lambda r: convmat.conv_transpose2d(np.ones((5, 5)), np.ones((2, 2)), rtol=r),
        lambda r: convmat.convolve(np.ones(8), np.ones(3), rtol=r),
        lambda r: convmat.correlate(np.ones(8), np.ones(3), rtol=r),
        lambda r: convmat.conv_transpose(np.ones(10), np.ones(3), rtol=r),
        lambda r: convmat.ConvOperator(np.ones(3), (8,), rtol=r),
    ],
    ids=[
        "conv2d",
        "correlate2d",
        "conv_transpose2d",
        "convolve",
        "correlate",
        "conv_transpose",
        "ConvOperator",
    ],
)
def test_a_bad_rtol_is_refused_naming_the_argument(call, rtol, error):
    with pytest.raises(error, match="`rtol`"):
        call(rtol)


def test_rtol_is_keyword_only():
    with pytest.raises(TypeError):
        convmat.conv2d(np.ones((4, 4)), np.ones((2, 2)), "full", "fill", 0, "auto", 1e-3)  # type: ignore[misc]


@given(
    dtype=st.sampled_from([np.float32, np.float64, np.complex64, np.complex128]),
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
    n=st.integers(3000, 8000),
    m=st.integers(300, 1000),
    strict=st.booleans(),
    data=st.data(),
)
def test_the_contract_holds_where_the_fft_runs(dtype, mode, boundary, n, m, strict, data):
    # long 1-D signals with long kernels: 'auto' takes the FFT (in blocks for the longest),
    # values from 1e-6 to 1e6 with zeros and runs of zeros
    x = data.draw(ranged(dtype, (n,)))
    gap = data.draw(st.integers(0, n - 1))
    x[gap : gap + data.draw(st.integers(0, 2 * m))] = 0
    k = data.draw(ranged(dtype, (m,)))
    rtol = 0.0 if strict else _default_rtol(dtype)
    got = convmat.convolve(x, k, mode, boundary=boundary, rtol=0.0 if strict else None)
    wide = np.clongdouble if np.dtype(dtype).kind == "c" else np.longdouble
    exact = reference_nd(x.astype(wide), k.astype(wide), mode, boundary)
    scale = reference_nd(
        np.abs(x).astype(np.longdouble), np.abs(k).astype(np.longdouble), mode, boundary
    )
    _contract(got, exact, scale, _taps(k), rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_bright_pixel_image_keeps_the_contract_where_scipy_does_not(dtype):
    # 1e-3 everywhere, one pixel of 1e6, and a zero region: scipy.signal.convolve takes its
    # FFT here and errs relative to the largest output
    x = np.full((256, 256), 1e-3, dtype)
    x[128, 128] = 1e6
    x[:, :64] = 0
    k = np.random.default_rng(7).random((15, 15)).astype(dtype)
    assert ss.choose_conv_method(x, k, "same") == "fft"
    exact = ss.convolve2d(x.astype(np.longdouble), k.astype(np.longdouble), "same")
    scale = ss.convolve2d(np.abs(x).astype(np.longdouble), k.astype(np.longdouble), "same")
    got = convmat.convolve(x, k, "same")
    _contract(got, exact, scale, _taps(k), _default_rtol(dtype))
    assert (scale[:, :56] == 0).all()  # windows that hold only zeros: exact zeros above
    theirs = ss.convolve(x, k, "same")
    tol = max(_default_rtol(dtype), _taps(k) * float(np.finfo(dtype).eps))
    assert (np.abs(theirs.astype(np.longdouble) - exact) > tol * scale).any()
    assert (theirs[:, :56] != 0).any()


def test_rtol_zero_keeps_the_direct_sum_bound_for_double_precision():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((128, 128))
    x[40:60] *= 1e-8  # a quiet band: a transform in float64 could not serve it
    k = rng.standard_normal((31, 31))
    exact, scale = _reference(x, k, "same", "fill")
    op = convmat.ConvOperator(k, (128, 128), "same", rtol=0)
    assert op.method_for(1) == "fft"
    _contract(op(x).reshape(1, -1), exact, scale, _taps(k), 0.0)
    _contract(convmat.conv2d(x, k, "same", rtol=0).reshape(1, -1), exact, scale, _taps(k), 0.0)


def test_a_loose_rtol_is_still_a_per_output_bound():
    rng = np.random.default_rng(9)
    x = rng.standard_normal(6000)
    x[2000:3000] *= 1e-9  # a quiet stretch: its outputs must stay within their own scale
    k = rng.standard_normal(301)
    exact = reference_nd(x.astype(np.longdouble), k.astype(np.longdouble), "same", "fill")
    scale = reference_nd(
        np.abs(x).astype(np.longdouble), np.abs(k).astype(np.longdouble), "same", "fill"
    )
    for rtol in (1e-6, 1e-12):
        _contract(convmat.convolve(x, k, "same", rtol=rtol), exact, scale, _taps(k), rtol)


def test_integers_stay_exact_whatever_rtol_says():
    rng = np.random.default_rng(10)
    x = rng.integers(-(2**40), 2**40, (120, 120))
    k = rng.integers(-100, 100, (31, 31))
    expected = exact_conv(x, k, "same", "fill").astype(np.int64)
    np.testing.assert_array_equal(convmat.conv2d(x, k, "same", rtol=0.5), expected)
    op = convmat.ConvOperator(k, (120, 120), "same", rtol=0.5)
    np.testing.assert_array_equal(op(x), expected)


def test_an_explicit_method_ignores_rtol():
    rng = np.random.default_rng(11)
    x, k = rng.standard_normal((64, 64)), rng.standard_normal((9, 9))
    for method in ("fft", "shift", "sparse"):
        np.testing.assert_array_equal(
            convmat.conv2d(x, k, "same", method=method, rtol=0.25),
            convmat.conv2d(x, k, "same", method=method),
        )


def test_the_precision_follows_the_tolerance():
    k = np.ones((31, 31))
    plan = convmat.ConvOperator(k, (512, 512), "same")._plan
    double = engine_for(k, plan, np.dtype(np.float64))
    eps64 = float(np.finfo(np.float64).eps)
    tol = double.certificate.tolerance(1e-10, eps64, transpose=False)
    assert double.certificate.fft_precision(tol, transpose=False) == np.float64
    strict = double.certificate.fft_precision(
        double.certificate.tolerance(0.0, eps64, transpose=False), transpose=False
    )
    wide = np.finfo(np.longdouble).eps < eps64 / 2
    assert strict == (np.dtype(np.longdouble) if wide else None)
    single = engine_for(k.astype(np.float32), plan, np.dtype(np.float32))
    eps32 = float(np.finfo(np.float32).eps)
    assert single.certificate.fft_precision(
        single.certificate.tolerance(0.0, eps32, transpose=False), transpose=False
    ) == (np.float64)
    assert single.certificate.fft_precision(0.5, transpose=False) == np.float32


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
def test_overlap_save_blocks_equal_one_transform(mode, boundary):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 70_000))
    k = rng.standard_normal(513)
    plan = convmat.ConvOperator(k, (70_000,), mode, boundary)._plan
    engine = engine_for(k, plan, np.dtype(np.float64))
    assert engine.blocking is not None
    blocked = engine.fft(x, transpose=False, precision=np.dtype(np.float64))
    whole = engine_for(k, plan, np.dtype(np.float64))
    whole.blocking = None
    one = whole.fft(x, transpose=False, precision=np.dtype(np.float64))
    scale = np.abs(k).sum() * np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(blocked, one, atol=float(scale.max()) * 1e-14)
    direct = convmat.convolve(x, k, mode, boundary=boundary, method="shift")
    np.testing.assert_allclose(blocked, direct.reshape(2, -1), atol=float(scale.max()) * 1e-14)


@pytest.mark.parametrize("shape", [(70_000,), (300, 300), (40, 40, 40)])
def test_the_fft_paths_never_write_the_callers_arrays(shape):
    rng = np.random.default_rng(13)
    x = rng.standard_normal(shape) * 2.0**300  # scaled by powers of two on the way
    k = rng.standard_normal((31,) * len(shape) if len(shape) < 3 else (9, 9, 9))
    x0, k0 = x.copy(), k.copy()
    x.flags.writeable = False
    k.flags.writeable = False
    for rtol in (None, 0.0):
        convmat.convolve(x, k, "same", rtol=rtol)
        convmat.conv_transpose(x, k, "same", rtol=rtol)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(k, k0)


# -- non-finite taps: scipy's direct sums, NaN and inf where they put them -------------------
NON_FINITE = st.sampled_from([np.nan, np.inf, -np.inf])
ALL_METHODS = ("auto", "sparse", "dense", "shift", "fft", "banded")


@st.composite
def _with_non_finite(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """Normal values, one or two of them NaN or infinite, maybe a zero."""
    arr = draw(hnp.arrays(np.float64, shape, elements=st.floats(-4, 4)))
    size = arr.size
    for _ in range(draw(st.integers(1, 2))):
        arr.flat[draw(st.integers(0, size - 1))] = draw(NON_FINITE)
    if size > 1 and draw(st.booleans()):
        arr.flat[draw(st.integers(0, size - 1))] = 0.0  # a zero tap times inf is NaN
    return arr


def assert_same_values(got: np.ndarray, expected: np.ndarray) -> None:
    """NaN, +inf and -inf where `expected` has them; the finite values to rounding."""
    assert got.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-12, atol=1e-12)


@given(
    geometry=geometries(5),
    method=st.sampled_from(ALL_METHODS),
    fill=st.sampled_from([0.0, 0.0, 2.0, -1.5]),
    finite_image=st.booleans(),
    data=st.data(),
)
def test_non_finite_taps_match_scipy_in_every_mode_boundary_and_method(
    geometry, method, fill, finite_image, data
):
    mode, boundary, n, m = geometry
    k = data.draw(_with_non_finite(m))
    if finite_image:
        x = data.draw(hnp.arrays(np.float64, n, elements=st.floats(-4, 4)))
    else:
        x = data.draw(_with_non_finite(n))
    with np.errstate(invalid="ignore", over="ignore"):
        expected = convolve2d_ref(x, k, mode, boundary, fill)
        expected_corr = correlate2d_ref(x, k, mode, boundary, fill)
    assert_same_values(convmat.conv2d(x, k, mode, boundary, fill, method=method), expected)
    assert_same_values(
        convmat.correlate2d(x, k, mode, boundary, fill, method=method), expected_corr
    )
    if not (mode == "full" and boundary == "fill" and fill == 0 and k.size > x.size):
        # (where scipy.signal.convolve swaps: test_full_mode_swaps_as_scipy_convolve_does)
        got = convmat.convolve(x, k, mode, boundary=boundary, fillvalue=fill, method=method)
        assert_same_values(got, expected)
    if fill == 0:
        op = convmat.ConvOperator(k, n, mode, boundary, method=method)
        assert_same_values(op(x), expected)
        assert_same_values(op @ x.ravel(), expected.ravel())


@given(
    ndim=st.integers(1, 3),
    mode=st.sampled_from(MODES),
    method=st.sampled_from(ALL_METHODS[:5]),
    data=st.data(),
)
def test_non_finite_taps_match_scipy_in_n_dimensions(ndim, mode, method, data):
    """scipy.signal.convolve: numpy's convolve for 1-D (no products with the padding),
    a direct sum over the zero padding beyond; a kernel larger than the input in 'valid'."""
    side = st.integers(1, 4)
    n = data.draw(st.tuples(*[side] * ndim))
    if mode == "valid" and data.draw(st.booleans()):  # the kernel at least as large
        m = tuple(a + data.draw(st.integers(0, 2)) for a in n)
    elif mode == "valid":
        m = tuple(data.draw(st.integers(1, a)) for a in n)
    else:
        m = data.draw(st.tuples(*[side] * ndim))
    k = data.draw(_with_non_finite(m))
    if data.draw(st.booleans()):
        x = data.draw(_with_non_finite(n))
    else:
        x = data.draw(hnp.arrays(np.float64, n, elements=st.floats(-4, 4)))
    with np.errstate(invalid="ignore", over="ignore"):
        expected = ss.convolve(x, k, mode, method="direct")
        expected_corr = ss.correlate(x, k, mode, method="direct")
    assert_same_values(convmat.convolve(x, k, mode, method=method), expected)
    assert_same_values(convmat.correlate(x, k, mode, method=method), expected_corr)
    if not (mode == "full" and ndim > 1 and k.size > x.size):
        # (ConvOperator sums over the taps, as convolve2d does; scipy.signal.convolve
        # swaps the arrays there: test_full_mode_swaps_as_scipy_convolve_does)
        assert_same_values(convmat.ConvOperator(k, n, mode, method=method)(x), expected)


def test_full_mode_swaps_as_scipy_convolve_does():
    """scipy.signal.convolve sums over the input's entries when the kernel has more:
    the kernel's padding, not the input's, multiplies; convolve2d never swaps."""
    x, k = np.array([[np.inf]]), np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(ss.convolve(x, k, method="direct"), [[np.inf, np.inf]])
    np.testing.assert_array_equal(convmat.convolve(x, k), [[np.inf, np.inf]])
    x, k = np.array([[1.0]]), np.array([[np.inf, 1.0]])
    np.testing.assert_array_equal(ss.convolve(x, k, method="direct"), [[np.inf, 1.0]])
    np.testing.assert_array_equal(convmat.convolve(x, k), [[np.inf, 1.0]])
    with np.errstate(invalid="ignore"):
        expected = ss.convolve2d(x, k)
    np.testing.assert_array_equal(expected, [[np.inf, np.nan]])
    np.testing.assert_array_equal(convmat.conv2d(x, k), expected)
    x = np.array([[np.inf, 1.0, 1.0]])
    k = np.ones((2, 2))
    np.testing.assert_array_equal(convmat.convolve(x, k), ss.convolve(x, k, method="direct"))


def test_a_kernel_larger_than_the_image_reads_no_padding_in_valid_mode():
    k = np.ones((3, 3))
    k[0, 0] = np.inf
    expected = np.array([[np.inf, 4.0], [4.0, 4.0]])  # scipy's: the arrays swapped
    np.testing.assert_array_equal(ss.convolve2d(np.ones((2, 2)), k, "valid"), expected)
    np.testing.assert_array_equal(convmat.conv2d(np.ones((2, 2)), k, "valid"), expected)
    np.testing.assert_array_equal(
        convmat.ConvOperator(k, (2, 2), "valid")(np.ones((2, 2))), expected
    )


def test_an_infinite_tap_times_a_nonzero_fillvalue_is_infinite():
    got = convmat.conv2d(np.ones((3, 3)), [[np.inf, 1.0]], "full", "fill", 2.0)
    np.testing.assert_array_equal(got, np.full((3, 4), np.inf))  # no NaN column
    got = convmat.correlate2d(np.ones((3, 3)), [[np.inf, 1.0]], "full", "fill", 2.0)
    np.testing.assert_array_equal(got, np.full((3, 4), np.inf))


def test_a_1d_non_finite_kernel_is_numpys_convolve():
    np.testing.assert_array_equal(
        convmat.convolve([1.0, 2, 3], [np.inf, 1.0]), np.convolve([1.0, 2, 3], [np.inf, 1.0])
    )
    np.testing.assert_array_equal(
        convmat.correlate([1.0, 2, 3], [np.inf, 1.0]),
        np.correlate([1.0, 2, 3], [np.inf, 1.0], "full"),
    )


# -- long double ----------------------------------------------------------------------------
@pytest.mark.parametrize("scale_exp", [0, 2000, -2000], ids=["unit", "beyond-f64", "below-f64"])
def test_long_double_through_the_certified_fft(scale_exp):
    """Long double data where 'auto' takes the certified FFT (a 200² image, a 31² kernel;
    an operator of 64² with 15²): no exception, and within the contract. Integer values
    scaled by a power of two make the exact product computable in long double, even beyond
    float64's exponent range (whose bounds would overflow a Python float)."""
    if np.finfo(np.longdouble).maxexp <= np.finfo(np.float64).maxexp and scale_exp:
        pytest.skip("long double is float64 on this platform: no range beyond float64's")
    rng = np.random.default_rng(31)
    power = np.ldexp(np.longdouble(1), scale_exp)
    x = rng.integers(-1000, 1000, (200, 200)).astype(np.longdouble) * power
    k = rng.integers(-1000, 1000, (31, 31)).astype(np.longdouble)
    got = convmat.conv2d(x, k)
    assert got.dtype == np.longdouble
    exact = ss.convolve2d(x, k)  # integer products below 2**64: exact in long double
    scale = ss.convolve2d(np.abs(x), np.abs(k))
    _contract(got.reshape(1, -1), exact.reshape(1, -1), scale.reshape(1, -1), 31 * 31, 1e-10)
    op = convmat.ConvOperator(k[:15, :15], (64, 64), "same")
    v = x[:64, :64]
    exact = ss.convolve2d(v, k[:15, :15], "same")
    scale = ss.convolve2d(np.abs(v), np.abs(k[:15, :15]), "same")
    _contract((op @ v.ravel())[None], exact.reshape(1, -1), scale.reshape(1, -1), 225, 1e-10)


def test_a_full_mode_transpose_takes_the_scale_of_its_own_orientation():
    """A transpose whose outputs need the third lower bound (an FFT of ``|y|`` with
    ``|k|``): that transform is of the transpose, on the transpose's shapes, and every
    output stays within the contract."""
    rng = np.random.default_rng(0)
    n, m = 80, 15
    k = rng.uniform(0.5, 1.0, (m, m))
    y = rng.uniform(0.5, 1.0, (n + m - 1, n + m - 1)) * 1e-6
    y[40, 40] = 1e9  # one bright pixel: the FFT's bound is too large for the others
    got = convmat.conv_transpose2d(y, k, "full", "fill")
    wide = np.longdouble
    exact = ss.correlate2d(y.astype(wide), k.astype(wide), "valid")
    scale = ss.correlate2d(np.abs(y).astype(wide), np.abs(k).astype(wide), "valid")
    _contract(got.reshape(1, -1), exact.reshape(1, -1), scale.reshape(1, -1), m * m, 1e-10)


# -- the working-set budget ----------------------------------------------------------------
@pytest.fixture
def budget():
    """Set the working-set budget inside a test; the default comes back afterwards."""
    convmat.set_max_working_bytes(None)
    yield convmat.set_max_working_bytes
    convmat.set_max_working_bytes(None)


def test_a_batch_beyond_the_budget_runs_in_parts(budget):
    from convmat._engines.cost import working_bytes

    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 256, 256))
    k = rng.standard_normal((31, 31))
    expected = convmat.convolve(x, k, "same")
    op = convmat.ConvOperator(k, (256, 256), "same", method="fft")
    engine = op._engine(np.dtype(np.float64))
    fixed, per_image = working_bytes(engine, "fft", rtol=1e-10)
    io = 256 * 256 * 8 * 2
    # room for the whole batch's result and two images' working sets, not six
    budget(fixed + 6 * io + 2 * per_image + 1000)
    np.testing.assert_allclose(convmat.convolve(x, k, "same"), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op(x), expected, rtol=1e-12, atol=1e-12)


def test_a_method_that_cannot_serve_one_image_is_refused_by_name(budget):
    x = np.ones((512, 512))
    k = np.ones((31, 31))
    budget(3 * x.nbytes)  # the input copy and the result fit; an FFT's working set does not
    assert convmat.choose_conv_method(x, k, "same").method != "fft"
    with pytest.raises(convmat.MatrixTooLargeError, match=r"method 'fft' needs about .*shift"):
        convmat.convolve(x, k, "same", method="fft")
    np.testing.assert_allclose(convmat.convolve(x, k, "same"), ss.convolve(x, k, "same"))
