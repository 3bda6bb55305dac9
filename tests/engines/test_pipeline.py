"""The request pipeline: validated once from shapes and dtypes, then planned, applied, trimmed."""

from __future__ import annotations

import numpy as np
import pytest

import convmat
from convmat._core.plan import make_plan
from convmat._engines import cache
from convmat._engines.engine import Engine
from convmat._engines.pipeline import check_fits, forward_request, run, transpose_request


def test_a_request_is_made_from_shapes_and_dtypes_alone():
    """No data exists: a request for a 10^6 x 10^6 image is planned, and its size refused."""
    k = np.ones((3, 3))
    request = forward_request(
        np.dtype(np.float32),
        (10**6, 10**6),
        k,
        "same",
        "fill",
        0,
        corr=False,
        method="auto",
        rtol=None,
        ndim=2,
    )
    assert request.plan.output_shape == (10**6, 10**6)
    assert request.dtype == np.float64
    with pytest.raises(convmat.MatrixTooLargeError, match=r"convmat\.dask"):
        check_fits(request, "image", advice="pass fewer images per call, or use convmat.dask")


def test_a_correlation_request_holds_the_reversed_conjugated_kernel():
    k = np.array([[1 + 2j, 3], [4, 5j]])
    options = {"corr": True, "method": "auto", "rtol": None}
    request = forward_request(np.dtype(complex), (4, 5), k, "same", "fill", 0, ndim=2, **options)
    np.testing.assert_array_equal(request.kernel, k[::-1, ::-1].conj())
    assert request.plan.corr  # correlate2d's 'same' centring
    nd = forward_request(np.dtype(complex), (4, 5), k, "same", "fill", 0, ndim=None, **options)
    assert not nd.plan.corr  # scipy.signal.correlate centres as convolve does


@pytest.mark.parametrize(
    ("ndim", "method", "fillvalue", "small"),
    [
        (2, "auto", 0, True),
        (None, "auto", 0, False),
        (2, "sparse", 0, False),
        (2, "auto", 1, False),
    ],
)
def test_only_2d_auto_calls_without_padding_products_may_take_the_small_method(
    ndim, method, fillvalue, small
):
    request = forward_request(
        np.dtype(float),
        (6, 7),
        np.ones((2, 2)),
        "same",
        "fill",
        fillvalue,
        corr=False,
        method=method,
        rtol=None,
        ndim=ndim,
    )
    assert (request.small_key is not None) is small


def test_a_transpose_request_infers_the_input_and_runs_as_conv_transpose():
    rng = np.random.default_rng(0)
    k = rng.standard_normal((3, 2))
    y = rng.standard_normal((2, 7, 6))
    request = transpose_request(
        y.dtype, y.shape, k, "valid", "symm", None, method="auto", rtol=None
    )
    assert request.plan.input_shape == (9, 7)
    assert request.batch_shape == (2,)
    np.testing.assert_array_equal(run(request, y), convmat.conv_transpose(y, k, "valid", "symm"))


def test_an_engine_handed_in_is_used_and_the_cache_left_alone():
    cache.clear()
    k = np.arange(1.0, 7.0).reshape(2, 3)
    x = np.arange(20.0).reshape(4, 5)
    request = forward_request(
        x.dtype, x.shape, k, "full", "wrap", 0, corr=False, method="sparse", rtol=None, ndim=None
    )
    engine = Engine(k, make_plan(x.shape, k.shape, "full", "wrap"))
    got = run(request, x, engine)
    assert engine._csr is not None  # the sparse method built its matrix in this engine
    assert len(cache._cache) == 0
    np.testing.assert_allclose(got, convmat.convolve(x, k, "full", boundary="wrap"), rtol=1e-14)
