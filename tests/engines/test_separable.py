"""Rank-one kernels as a pass along each axis: the factors vouched for tap by tap, the
passes as accurate as a direct sum, forward and transpose, every mode and boundary."""

import numpy as np
import pytest

import convmat
from convmat._core.plan import make_plan
from convmat._engines import separable
from convmat._engines.engine import Engine
from helpers import BOUNDARIES, MODES

LONG = np.finfo(np.longdouble).eps < np.finfo(np.float64).eps / 2


def _gaussian(m: int, sigma: float) -> np.ndarray:
    t = np.arange(m) - (m - 1) / 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


KERNELS = {
    "gaussian 9x9": np.outer(_gaussian(9, 2.0), _gaussian(9, 2.0)),
    "gaussian 7x5": np.outer(_gaussian(7, 1.5), _gaussian(5, 1.0)),
    "box 5x5": np.ones((5, 5)),
    "binomial 5x5": np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(float),
    "sobel 5x5": np.outer([1, 4, 6, 4, 1], [-1, -2, 0, 2, 1]).astype(float),
    "signed 6x4": np.outer([1.5, -2, 0.25, 3, -1, 2], [2, -1, 0.5, 4]),
    # antisymmetric along the second axis: ndimage pairs the taps' entries
    "derivative 7x7": np.outer(_gaussian(7, 1.5), [-3.0, -2, -1, 0, 1, 2, 3]),
}


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rank_one_kernels_are_factored_tap_by_tap(name, dtype):
    k = KERNELS[name].astype(dtype)
    got = separable.factors(k)
    assert got is not None
    u, v = got
    assert u.dtype == v.dtype == k.dtype
    product = np.outer(u.astype(np.float64), v.astype(np.float64))
    eps = np.finfo(dtype).eps
    assert (np.abs(product - k) <= separable.FACTOR_ULPS * eps * np.abs(k)).all()
    assert (product[k == 0] == 0).all()


def test_other_kernels_are_not_factored():
    rng = np.random.default_rng(0)
    dog = np.outer(_gaussian(9, 1.0), _gaussian(9, 1.0)) - np.outer(
        _gaussian(9, 2.0), _gaussian(9, 2.0)
    )
    assert separable.factors(dog) is None  # rank two
    assert separable.factors(rng.standard_normal((5, 5))) is None
    assert separable.factors(np.ones((3, 3))) is None  # 3 + 3 + 5 terms > 9 taps: no gain
    assert separable.factors(np.ones((5, 5), dtype=np.int64)) is None  # integers stay exact
    assert separable.factors(np.ones((5, 5), dtype=np.complex128)) is None
    assert separable.factors(np.ones((4, 4, 4))) is None
    near = np.ones((5, 5))
    near[2, 2] += 1e-12  # rank one but for one tap, beyond a few ulps
    assert separable.factors(near) is None
    bad = np.ones((5, 5))
    bad[0, 0] = np.inf
    assert separable.factors(bad) is None


@pytest.mark.skipif(not LONG, reason="the reference needs a long double wider than float64")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize(
    "name", ["gaussian 9x9", "gaussian 7x5", "sobel 5x5", "signed 6x4", "derivative 7x7"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_passes_are_as_accurate_as_a_direct_sum(mode, boundary, name, dtype):
    k = KERNELS[name].astype(dtype)
    shape = (23, 17)
    plan = make_plan(shape, k.shape, mode, boundary)
    engine = Engine(k, plan)
    assert engine.separable is not None
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 23 * 17)) * 10.0 ** rng.uniform(-6, 6, (3, 23 * 17))).astype(dtype)
    a = np.asarray(convmat.conv_matrix(k.astype(np.longdouble), shape, mode, boundary))
    # the contract's scale, (|k| * |x|)(o) over the extended input: folded taps add up
    absa = np.asarray(convmat.conv_matrix(np.abs(k).astype(np.float64), shape, mode, boundary))
    eps = float(np.finfo(dtype).eps)
    terms = k.shape[0] + k.shape[1] + separable.FACTOR_ULPS + 1
    y = rng.standard_normal((3, plan.shape[0])).astype(dtype)
    for transpose, data, exact, scale in (
        (False, x, x.astype(np.longdouble) @ a.T, np.abs(x) @ absa.T),
        (True, y, y.astype(np.longdouble) @ a, np.abs(y) @ absa),
    ):
        got = engine.transpose(data, "shift") if transpose else engine.forward(data, "shift")
        err = np.abs(got.astype(np.longdouble) - exact).astype(np.float64)
        reads = engine.reads if transpose else 1
        bound = terms * reads * eps * scale.astype(np.float64)
        assert (err <= bound).all(), float((err / np.maximum(bound, 1e-300)).max())
        assert got.dtype == np.dtype(dtype)


def test_ndimage_runs_the_passes_it_keeps_the_bound_for():
    taps = np.ones(6)
    assert separable.ndimage_serves(np.dtype(np.float64), taps)
    assert separable.ndimage_serves(np.dtype(np.float32), taps.astype(np.float32))
    assert not separable.ndimage_serves(np.dtype(np.float64), np.ones(5))  # few taps
    assert not separable.ndimage_serves(np.dtype(np.longdouble), taps.astype(np.longdouble))
    assert not separable.ndimage_serves(np.dtype(np.complex128), taps)
    # the same sums as the passes one tap at a time, to their rounding, forward and in
    # strips; odd and even tap counts
    rng = np.random.default_rng(6)
    for m in (6, 7, 9):
        w = rng.standard_normal(m)
        a = rng.standard_normal((2, 30, 20))
        got = separable._pass(a, w, axis=1, length=30 - m + 1)
        ref = sum(w[j] * a[:, m - 1 - j : m - 1 - j + 30 - m + 1] for j in range(m))
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13 * np.abs(a).max() * m)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_the_transpose_is_the_adjoint(boundary):
    k = KERNELS["signed 6x4"]
    plan = make_plan((19, 14), k.shape, "same", boundary)
    engine = Engine(k, plan)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, plan.shape[1]))
    y = rng.standard_normal((2, plan.shape[0]))
    lhs = np.sum(engine.forward(x, "shift") * y)
    rhs = np.sum(x * engine.transpose(y, "shift"))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


def test_strips_change_no_result(monkeypatch):
    k = KERNELS["gaussian 9x9"]
    x = np.random.default_rng(5).standard_normal((2, 300, 41))
    plan = make_plan((300, 41), k.shape, "same", "symm")
    whole = Engine(k, plan).forward(x.reshape(2, -1), "shift")
    monkeypatch.setattr(separable, "STRIP_BYTES", 1)  # strips of 8 (m - 1) rows
    strips = Engine(k, plan).forward(x.reshape(2, -1), "shift")
    np.testing.assert_array_equal(strips, whole)


def test_public_functions_use_the_passes_and_match_scipy():
    import scipy.signal as ss

    k = KERNELS["binomial 5x5"] / 256
    x = np.random.default_rng(6).random((64, 80))
    for mode in MODES:
        got = convmat.convolve2d(x, k, mode, boundary="symm", method="shift")
        np.testing.assert_allclose(got, ss.convolve2d(x, k, mode, boundary="symm"), rtol=1e-13)
    op = convmat.ConvOperator(k, (64, 80), "same", "wrap", method="shift")
    assert op._engine(np.dtype(np.float64)).separable is not None
    np.testing.assert_allclose(op(x), ss.convolve2d(x, k, "same", boundary="wrap"), rtol=1e-13)


def test_the_cost_model_counts_the_passes():
    from convmat._engines.cost import method_costs

    k = KERNELS["gaussian 9x9"].astype(np.float32)
    rank_one = Engine(k, make_plan((1024, 1024), k.shape, "same", "symm"))
    perturbed = k.copy()
    perturbed[0, 0] *= 1.5
    full = Engine(perturbed, make_plan((1024, 1024), k.shape, "same", "symm"))
    assert rank_one.separable is not None
    assert full.separable is None
    cheap = method_costs(rank_one, 1, amortized=True)["shift"]
    dear = method_costs(full, 1, amortized=True)["shift"]
    assert cheap < dear / 3  # 9 + 9 passes (and the overlap of strips) against 81
