"""The small-image method of conv2d and correlate2d: scipy's results, whatever ran before."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given
from hypothesis import strategies as st

import convmat
from convmat._engines import cache as _plans
from convmat._engines import small as _small
from helpers import BOUNDARIES, MODES, convolve2d_ref, correlate2d_ref, valid_ok

PAIRS = ((convmat.conv2d, convolve2d_ref), (convmat.correlate2d, correlate2d_ref))


@st.composite
def cases(draw: st.DrawFn):
    shape = (draw(st.integers(2, 12)), draw(st.integers(2, 12)))
    kshape = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    mode = draw(st.sampled_from(MODES))
    if mode == "valid" and not valid_ok(shape, kshape):
        mode = "same"
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    pair = draw(st.sampled_from(PAIRS))
    seed = draw(st.integers(0, 2**16))
    return shape, kshape, mode, draw(st.sampled_from(BOUNDARIES)), dtype, pair, seed


@given(case=cases())
def test_scipy_results_and_the_same_bits_cold_and_warm(case):
    shape, kshape, mode, boundary, dtype, (ours, theirs), seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    k = rng.standard_normal(kshape).astype(dtype)
    _plans.clear()
    cold = ours(x, k, mode, boundary)
    warm = ours(x, k, mode, boundary)
    expected = theirs(x, k, mode, boundary)
    assert cold.dtype == expected.dtype
    assert cold.shape == expected.shape
    assert cold.flags.c_contiguous
    eps = np.finfo(dtype).eps
    scale = (np.abs(x).max() * np.abs(k).sum()) * k.size * eps
    np.testing.assert_allclose(cold, expected, rtol=0, atol=scale)
    np.testing.assert_array_equal(warm, cold)  # the method never depends on the cache


def test_small_images_take_the_small_method():
    _plans.clear()
    x, k = np.ones((32, 32)), np.ones((3, 3))
    convmat.conv2d(x, k, "same", "symm")
    assert list(_small._cache) == [
        ((32, 32), (3, 3), *[np.dtype(float).str] * 2, "same", "symm", False)
    ]
    assert len(_plans._cache) == 0  # no engine was built
    assert _small.lookup(x, k, "same", "symm", 0, "auto", corr=False) is not None


@pytest.mark.parametrize(
    ("image", "kernel", "kwargs"),
    [
        (np.ones((2, 8, 8)), np.ones((3, 3)), {}),  # a batch
        (np.ones((8, 8), np.int64), np.ones((3, 3), np.int64), {}),  # exact integers
        (np.ones((8, 8), np.float32), np.ones((3, 3)), {}),  # mixed dtypes
        (np.ones((8, 8), np.complex128), np.ones((3, 3)), {}),
        (np.ones((8, 8)), np.ones((3, 3)), {"fillvalue": 2.0}),
        (np.ones((8, 8)), np.ones((3, 3)), {"method": "shift"}),
        (np.ones((1, 40)), np.ones((1, 5)), {}),  # a single row: numpy's convolve, as 1-D
        (np.ones((400, 400)), np.ones((3, 3)), {}),  # large: the cost model's methods
    ],
)
def test_other_calls_take_the_general_path(image, kernel, kwargs):
    _plans.clear()
    out = convmat.conv2d(image, kernel, "same", **kwargs)
    assert not _small._cache
    fill = kwargs.get("fillvalue", 0)
    if image.ndim == 2:
        np.testing.assert_allclose(out, ss.convolve2d(image, kernel, "same", fillvalue=fill))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["image", "kernel"])
def test_non_finite_values_spread_as_scipy_spreads_them(bad, where):
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((9, 10)), rng.standard_normal((3, 4))
    k[1, 1] = 0.0
    convmat.conv2d(x, k, "same")  # the geometry is cached: the warm path must check values
    if where == "image":
        x[4, 2] = bad
    else:
        k[2, 0] = bad
    for mode in MODES:
        got, expected = convmat.conv2d(x, k, mode), ss.convolve2d(x, k, mode)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], atol=1e-12)
        np.testing.assert_array_equal(got[~finite], expected[~finite])


def test_validation_is_not_skipped_by_the_cache():
    x, k = np.ones((8, 8)), np.ones((3, 3))
    convmat.conv2d(x, k, "same")
    with pytest.raises(ValueError, match="mode"):
        convmat.conv2d(x, k, "sam")
    with pytest.raises(ValueError, match="boundary"):
        convmat.conv2d(x, k, "same", "edge")
    with pytest.raises(ValueError, match="method"):
        convmat.conv2d(x, k, "same", method="fast")
    with pytest.raises(ValueError, match="mode"):
        convmat.conv2d(x, k, ["same"])  # unhashable: never looked up
    np.testing.assert_allclose(
        convmat.conv2d(x, k, "same", fillvalue=1), ss.convolve2d(x, k, "same", fillvalue=1)
    )


def test_kernel_values_are_never_cached_and_inputs_never_written():
    rng = np.random.default_rng(1)
    x, k = rng.standard_normal((7, 9)), rng.standard_normal((3, 3))
    x0, k0 = x.copy(), k.copy()
    first = convmat.correlate2d(x, k, "full", "wrap")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(k, k0)
    k[0, 0] += 1.0  # mutated in place: same shapes, same key
    np.testing.assert_allclose(
        convmat.correlate2d(x, k, "full", "wrap"), ss.correlate2d(x, k, "full", "wrap")
    )
    assert not np.array_equal(convmat.correlate2d(x, k, "full", "wrap"), first)


def test_non_contiguous_and_read_only_inputs():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((20, 30))
    x = base[::2, ::-3]
    x.flags.writeable = False
    k = np.asfortranarray(rng.standard_normal((4, 3)))
    for _ in range(2):
        np.testing.assert_allclose(
            convmat.conv2d(x, k, "same", "symm"), ss.convolve2d(x, k, "same", "symm"), atol=1e-12
        )


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(_small, "MAX_ENTRIES", 4)
    _small.clear()
    for n in range(3, 13):
        convmat.conv2d(np.ones((n, 5)), np.ones((2, 2)))
    assert 1 <= len(_small._cache) <= 4


@pytest.mark.parametrize("lead", [(1,), (1, 1)])
def test_a_batch_of_one_is_one_image(lead):
    rng = np.random.default_rng(3)
    x, k = rng.standard_normal((*lead, 20, 24)), rng.standard_normal((3, 5))
    _plans.clear()
    got = convmat.conv2d(x, k, "same", "wrap")
    assert got.shape == (*lead, 20, 24)
    assert len(_small._cache) == 1
    assert len(_plans._cache) == 0
    np.testing.assert_allclose(
        got.reshape(20, 24), ss.convolve2d(x.reshape(20, 24), k, "same", "wrap")
    )
    np.testing.assert_array_equal(convmat.conv2d(x, k, "same", "wrap"), got)  # warm, same bits


def test_big_endian_images_never_take_a_native_images_cache_entry():
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((9, 9)), rng.standard_normal((3, 3))
    _plans.clear()
    first = convmat.conv2d(x.astype(">f8"), k)
    convmat.conv2d(x, k)  # a native call of the same shapes fills the cache
    np.testing.assert_array_equal(convmat.conv2d(x.astype(">f8"), k), first)
    np.testing.assert_array_equal(
        convmat.conv2d(x, k.astype(">f8")), convmat.conv2d(x, k.astype(">f8"))
    )
    assert _small.key(x.astype(">f8"), k, "full", "fill", False) != _small.key(
        x, k, "full", "fill", False
    )
