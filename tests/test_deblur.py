"""deconvolve2d against the dense normal equations, on every boundary model and prior."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convmat
from convmat._inverse.restore import apply_prior

MODELS = ("unknown", "fill", "wrap", "symm")
PRIORS = ("identity", "gradient", "laplacian")
SYMMETRIC = np.outer([1.0, 2.0, 1.0], [1.0, 3.0, 1.0]) / 25
ASYMMETRIC = np.array([[0.5, 0.2, 0.1, 0.05], [0.1, 0.3, 0.2, 0.1], [0.0, 0.1, 0.3, 0.4]])
EVEN = np.array([[1.0, 2.0], [3.0, 1.5]]) / 7.5
# solved to rounding, to compare with the dense normal equations
SOLVED = {"tol": 1e-13, "maxiter": 200_000}


@pytest.fixture
def iterative(monkeypatch):
    """Small scenes solved by the iterative solvers, as large ones are (not factorised)."""
    monkeypatch.setattr("convmat._inverse.direct.DIRECT_PIXELS", 0)


def _checkerboard(model, square, noise, seed):
    """A 40x44 checkerboard of `square`-pixel squares, observed under `model` with white
    noise: (observation, the truth on its field)."""
    yy, xx = np.mgrid[:40, :44]
    scene = ((yy // square + xx // square) % 2).astype(float)
    if model == "unknown":
        y, truth = convmat.conv2d(scene, SYMMETRIC, "valid"), scene[1:-1, 1:-1]
    else:
        y, truth = convmat.conv2d(scene, SYMMETRIC, "same", model), scene
    return y + noise * np.random.default_rng(seed).standard_normal(y.shape), truth


def _dense_solution(y, kernel, model, prior, reg):
    """``(A^T A + reg L^T L)^{-1} A^T y`` from the explicit matrices."""
    if model == "unknown":
        shape = (y.shape[0] + kernel.shape[0] - 1, y.shape[1] + kernel.shape[1] - 1)
        a = convmat.conv_matrix(kernel, shape, "valid")
    else:
        shape = y.shape
        a = convmat.conv_matrix(kernel, shape, "same", model)
    n = int(np.prod(shape))
    basis = np.eye(n).reshape(n, *shape)
    ltl = apply_prior(basis, prior, periodic=model == "wrap").reshape(n, n)
    x = np.linalg.solve(a.T @ a + reg * ltl, a.T @ y.ravel())
    return x.reshape(shape)


@pytest.mark.parametrize(("model", "prior"), list(itertools.product(MODELS, PRIORS)), ids="-".join)
@pytest.mark.parametrize(
    "kernel", [SYMMETRIC, ASYMMETRIC, EVEN], ids=["symmetric", "asymmetric", "even"]
)
@pytest.mark.parametrize("direct", [True, False], ids=["factorised", "iterative"])
def test_equals_the_dense_normal_equations(model, prior, kernel, direct, monkeypatch):
    """Small scenes are factorised (solver 'direct'); the iterative solvers, which serve
    large ones, reach the same solution."""
    if not direct:
        monkeypatch.setattr("convmat._inverse.direct.DIRECT_PIXELS", 0)
    rng = np.random.default_rng(0)
    y = rng.random((2, 9, 11))
    reg = 1e-2
    x, info = convmat.deconvolve2d(
        y, kernel, boundary=model, reg=reg, prior=prior, return_info=True, **SOLVED
    )
    for i in range(2):
        ref = _dense_solution(y[i], kernel, model, prior, reg)
        np.testing.assert_allclose(info.scene[i], ref, rtol=0, atol=1e-6 * np.abs(ref).max())
        if model == "unknown":
            top, left = kernel.shape[0] // 2, kernel.shape[1] // 2
            np.testing.assert_array_equal(x[i], info.scene[i, top : top + 9, left : left + 11])
        else:
            np.testing.assert_array_equal(x[i], info.scene[i])
    np.testing.assert_array_equal(info.reg, [reg, reg])
    assert info.converged.all()
    expected = {"wrap": "fft"}.get(model, "direct" if direct else "admm")
    if model == "symm" and kernel is SYMMETRIC:
        expected = "dct"
    assert info.solver == expected
    assert (info.iterations > 0).all() == (expected == "admm")
    assert list(info.stopped) == ["tol" if expected == "admm" else "exact"] * 2


def test_the_unknown_boundary_fits_the_data_and_aligns_with_same_mode():
    """'valid' of the whole scene reproduces the data; the estimate sits at kernel.shape // 2,
    so that its 'same' convolution is the observation away from the edges."""
    rng = np.random.default_rng(1)
    scene = rng.random((20, 21))
    for kernel in (SYMMETRIC, EVEN, ASYMMETRIC):
        y = convmat.conv2d(scene, kernel, "valid")
        # at a weight of 1e-12 and a residual of 1e-10 the scene reproduces the data
        x, info = convmat.deconvolve2d(
            y, kernel, reg=1e-12, prior="laplacian", tol=1e-10, return_info=True
        )
        np.testing.assert_allclose(convmat.conv2d(info.scene, kernel, "valid"), y, atol=1e-6)
        mh, mw = kernel.shape
        inner = (slice(mh - 1, y.shape[0] - mh + 1), slice(mw - 1, y.shape[1] - mw + 1))
        np.testing.assert_allclose(convmat.conv2d(x, kernel, "same")[inner], y[inner], atol=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_automatic_weight_improves_a_noisy_blur(model):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:48, :52]
    scene = ((yy // 8 + xx // 8) % 2).astype(float)  # a checkerboard: edges everywhere
    kernel = np.outer(*[np.exp(-((np.arange(7) - 3) ** 2) / 4)] * 2)
    kernel /= kernel.sum()
    if model == "unknown":
        truth = scene[3:-3, 3:-3]
        y = convmat.conv2d(scene, kernel, "valid")
    else:
        truth = scene
        y = convmat.conv2d(scene, kernel, "same", model)
    y = y + 0.02 * rng.standard_normal(y.shape)
    for reg in ("auto", "gcv", "discrepancy"):
        x, info = convmat.deconvolve2d(y, kernel, boundary=model, reg=reg, return_info=True)
        assert 0 < float(info.reg) < np.inf
        assert np.mean((x - truth) ** 2) < 0.85 * np.mean((y - truth) ** 2)


def test_discrepancy_matches_the_noise_energy():
    """On the exact periodic model the residual's energy is the noise's, as asked."""
    rng = np.random.default_rng(4)
    scene = rng.random((40, 40))
    y = convmat.conv2d(scene, SYMMETRIC, "same", "wrap") + 0.05 * rng.standard_normal((40, 40))
    x = convmat.deconvolve2d(y, SYMMETRIC, boundary="wrap", reg="discrepancy", noise_std=0.05)
    residual = np.sum((convmat.conv2d(x, SYMMETRIC, "same", "wrap") - y) ** 2)
    assert residual == pytest.approx(40 * 40 * 0.05**2, rel=1e-2)


def test_batches_equal_single_images():
    rng = np.random.default_rng(5)
    y = rng.random((2, 3, 12, 13))
    batch = convmat.deconvolve2d(y, ASYMMETRIC, reg="gcv")
    for i, j in itertools.product(range(2), range(3)):
        np.testing.assert_allclose(
            batch[i, j], convmat.deconvolve2d(y[i, j], ASYMMETRIC, reg="gcv")
        )


def test_inputs_are_not_written_and_integers_are_accepted():
    y = np.arange(120).reshape(10, 12)
    k = SYMMETRIC.copy()
    before_y, before_k = y.copy(), k.copy()
    x = convmat.deconvolve2d(y, k, boundary="symm")
    np.testing.assert_array_equal(y, before_y)
    np.testing.assert_array_equal(k, before_k)
    assert x.dtype == np.float64


def test_maxiter_warns_and_reports(iterative):
    rng = np.random.default_rng(6)
    with pytest.warns(RuntimeWarning, match="maxiter=2"):
        _, info = convmat.deconvolve2d(
            rng.random((12, 12)), ASYMMETRIC, reg=1e-3, maxiter=2, return_info=True
        )
    assert not info.converged


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.ones((5, 5)), np.zeros((3, 3))), {}, ValueError, "`kernel` is all zeros"),
        ((np.full((5, 5), np.nan), np.ones((3, 3))), {}, ValueError, "`observed` must be finite"),
        ((np.ones((5, 5)), np.full((3, 3), np.inf)), {}, ValueError, "`kernel` must be finite"),
        ((np.ones((5, 5)), np.ones((3, 3))), {"reg": -1.0}, ValueError, "got -1.0"),
        ((np.ones((5, 5)), np.ones((3, 3))), {"reg": np.inf}, ValueError, "`reg`"),
        ((np.ones((5, 5)), np.ones((3, 3))), {"reg": "best"}, ValueError, "'best'"),
        ((np.ones((5, 5)), np.ones((3, 3))), {"reg": True}, TypeError, "`reg`"),
        ((np.ones((5, 5)), np.ones((3, 3))), {"prior": "tv2"}, ValueError, "`prior`.*'tv2'"),
        ((np.ones((5, 5)), np.ones((3, 3))), {"boundary": "edge"}, ValueError, "'unknown'.*'edge'"),
        ((np.ones((5, 5)), np.ones((3, 3))), {"noise_std": 0.0}, ValueError, "`noise_std`"),
        (
            (np.ones((5, 5)), np.ones((3, 3))),
            {"noise_std": "0.1"},
            TypeError,
            "`noise_std` must be a real number, got '0.1'",
        ),
        ((np.ones((5, 5)), np.ones((3, 3))), {"tol": 1.0}, ValueError, "`tol` must be in"),
        ((np.ones((5, 5)), np.ones((3, 3))), {"maxiter": 0}, ValueError, "`maxiter`"),
        ((np.ones((5, 5)), np.ones((3, 3))), {"return_info": 1}, TypeError, "`return_info`"),
        ((np.ones((5, 5)) * 1j, np.ones((3, 3))), {}, TypeError, "`observed` must be real"),
        ((np.ones((5, 5)), np.ones((3, 3, 1))), {}, ValueError, "kernel"),
        ((np.ones(5), np.ones((3, 3))), {}, ValueError, "observed"),
        ((np.ones((5, 5)), np.ones((3, 3))), {"channel_axis": 0}, ValueError, "`channel_axis`"),
        ((np.ones((2, 5, 5)), np.ones((3, 3))), {"channel_axis": 3}, ValueError, "got 3"),
        ((np.ones((2, 5, 5)), np.ones((3, 3))), {"channel_axis": 1.0}, TypeError, "`channel"),
        ((np.ones((5, 5)), np.ones((3, 3))), {"callback": 3}, TypeError, "`callback`"),
    ],
)
def test_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        convmat.deconvolve2d(*args, **kwargs)


def test_working_set_is_refused_first(monkeypatch):
    monkeypatch.setattr("convmat._core.budget.machine_memory", lambda: 2**20)
    with pytest.raises(convmat.MatrixTooLargeError, match=r"deconvolving 3 image\(s\).*tiles"):
        convmat.deconvolve2d(np.ones((3, 100, 100)), SYMMETRIC)


def test_empty_batches_keep_their_shape():
    x, info = convmat.deconvolve2d(np.ones((0, 3, 9, 10)), SYMMETRIC, return_info=True)
    assert x.shape == (0, 3, 9, 10)
    assert info.scene.shape == (0, 3, 11, 12)
    assert info.reg.shape == (0, 3)


@given(
    st.sampled_from(MODELS),
    st.sampled_from(("identity", "gradient", "laplacian")),
    st.tuples(st.integers(1, 5), st.integers(1, 5)),
    st.tuples(st.integers(3, 9), st.integers(3, 9)),
    st.floats(1e-3, 1.0),
    st.integers(0, 2**32 - 1),
)
def test_property_equals_the_dense_normal_equations(model, prior, kshape, shape, reg, seed):
    rng = np.random.default_rng(seed)
    kernel = rng.random(kshape) + 0.1
    y = rng.standard_normal(shape)
    x, info = convmat.deconvolve2d(
        y, kernel, boundary=model, reg=reg, prior=prior, return_info=True, **SOLVED
    )
    ref = _dense_solution(y, kernel, model, prior, reg)
    np.testing.assert_allclose(info.scene, ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    assert x.shape == y.shape


def test_auto_is_gml_and_differs_from_gcv_and_the_discrepancy_principle():
    rng = np.random.default_rng(7)
    y = convmat.conv2d(rng.random((30, 32)), SYMMETRIC, "valid") + 0.05 * rng.standard_normal(
        (28, 30)
    )
    regs = {
        how: float(convmat.deconvolve2d(y, SYMMETRIC, reg=how, return_info=True)[1].reg)
        for how in ("auto", "gml", "gcv", "discrepancy")
    }
    assert regs["auto"] == regs["gml"]
    assert regs["auto"] != pytest.approx(regs["gcv"], rel=1e-3)
    assert regs["auto"] != pytest.approx(regs["discrepancy"], rel=1e-3)
    # the identity prior: a white prior misfits the scene's spectrum, and GCV serves it
    auto, gcv, gml = (
        float(
            convmat.deconvolve2d(y, SYMMETRIC, prior="identity", reg=how, return_info=True)[1].reg
        )
        for how in ("auto", "gcv", "gml")
    )
    assert auto == gcv != pytest.approx(gml, rel=1e-3)


def test_info_types():
    _, info = convmat.deconvolve2d(np.ones((2, 9, 9)), ASYMMETRIC, reg=0.1, return_info=True)
    assert info.iterations.dtype.kind == "i"
    assert info.converged.dtype == bool
    assert info.reg.dtype == np.float64


def test_error_messages_name_the_argument():
    with pytest.raises(TypeError, match=r"^`noise_std` must be a real number, got 'a'$"):
        convmat.deconvolve2d(np.ones((5, 5)), SYMMETRIC, noise_std="a")
    with pytest.raises(ValueError, match=r"^`kernel` is all zeros"):
        convmat.deconvolve2d(np.ones((5, 5)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="`observed`"):
        convmat.deconvolve2d(np.ones((4, 0)), np.ones((3, 3)))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("factor", [1e160, 1e-160, 1e200, 1e-300, -3.0])
def test_scaling_the_observation_scales_the_estimate(model, factor):
    """Any finite factor: no overflow of the squares, no underflow, the same weight; the
    solves run on data of unit peak, and agree to rounding."""
    rng = np.random.default_rng(2)
    scene = rng.random((30, 34))
    y = convmat.conv2d(scene, SYMMETRIC, "valid") + 0.01 * rng.standard_normal((28, 32))
    x, info = convmat.deconvolve2d(y, SYMMETRIC, boundary=model, tol=1e-10, return_info=True)
    xc, info_c = convmat.deconvolve2d(
        factor * y, SYMMETRIC, boundary=model, tol=1e-10, return_info=True
    )
    assert np.isfinite(xc).all()
    np.testing.assert_allclose(xc / factor, x, rtol=0, atol=1e-11 * np.abs(x).max())
    np.testing.assert_allclose(info_c.reg, info.reg, rtol=1e-6)


def test_colour_images_are_deblurred_channel_by_channel():
    rng = np.random.default_rng(3)
    grey = convmat.conv2d(rng.random((24, 26)), SYMMETRIC, "valid")
    colour = np.stack([grey, 0.5 * grey, np.flipud(grey)], axis=-1)  # (22, 24, 3)
    with pytest.warns(UserWarning, match=r"colour channels, pass channel_axis=-1$"):
        convmat.deconvolve2d(colour, SYMMETRIC, reg=1e-3)
    x, info = convmat.deconvolve2d(colour, SYMMETRIC, reg=1e-3, channel_axis=-1, return_info=True)
    assert x.shape == colour.shape
    assert info.scene.shape == (24, 26, 3)
    for c in range(3):
        single = convmat.deconvolve2d(colour[..., c], SYMMETRIC, reg=1e-3)
        np.testing.assert_allclose(x[..., c], single, rtol=0, atol=1e-12)
    first = convmat.deconvolve2d(np.moveaxis(colour, -1, 0), SYMMETRIC, reg=1e-3, channel_axis=0)
    np.testing.assert_allclose(first, np.moveaxis(x, -1, 0), rtol=0, atol=1e-12)


@pytest.mark.parametrize("prior", ["gradient", "laplacian"])
def test_callback_sees_every_iteration_and_info_says_why_it_stopped(prior, iterative):
    """ADMM then conjugate gradients: one call per iteration, numbered from 1, as many as
    info counts."""
    rng = np.random.default_rng(4)
    y = rng.random((2, 14, 15))
    seen: list[tuple[tuple[int, ...], int]] = []
    _, info = convmat.deconvolve2d(
        y,
        ASYMMETRIC,
        reg=1e-2,
        prior=prior,
        callback=lambda xk, k: seen.append((xk.shape, k)),
        return_info=True,
    )
    assert info.solver == "admm"
    assert len(seen) == int(info.iterations.sum())
    assert [k for _, k in seen] == [
        *range(1, info.iterations[0] + 1),
        *range(1, info.iterations[1] + 1),
    ]
    assert {shape for shape, _ in seen} == {info.scene.shape[1:]}
    assert list(info.stopped) == ["tol", "tol"]
    with pytest.warns(RuntimeWarning):
        _, info = convmat.deconvolve2d(y[0], ASYMMETRIC, reg=1e-3, maxiter=2, return_info=True)
    assert info.stopped == "maxiter"
    _, info = convmat.deconvolve2d(y[0], SYMMETRIC, boundary="wrap", reg=1e-3, return_info=True)
    assert info.stopped == "exact"


@pytest.mark.parametrize(
    ("model", "prior"), list(itertools.product(MODELS, (*PRIORS, "tv"))), ids="-".join
)
@pytest.mark.parametrize("noise", [0.0, 1e-4])
def test_a_clean_observation_is_deblurred_not_destroyed(model, prior, noise):
    """No noise for the weight rules to see: the weight stays above the floor, and the
    estimate is closer to the truth than the observation (it was garbage: GCV chose
    1e-15 and conjugate gradients stopped on the warm start)."""
    y, truth = _checkerboard(model, 6, noise, seed=5)
    x, info = convmat.deconvolve2d(y, SYMMETRIC, boundary=model, prior=prior, return_info=True)
    assert np.mean((x - truth) ** 2) < 0.5 * np.mean((y - truth) ** 2)
    if prior == "tv":  # matched to the gradient prior's weight, which keeps its floor
        assert info.reg > 0
        return
    largest_weight = {"gradient": 8.0, "laplacian": 64.0, "identity": 1.0}[prior]
    assert info.reg >= 0.99 * 1e-4 * SYMMETRIC.sum() ** 2 / largest_weight


@pytest.mark.parametrize("model", MODELS)
def test_total_variation_keeps_edges_better_than_tikhonov(model):
    """A noisy checkerboard: the TV estimate is closer to the truth than the default's."""
    y, truth = _checkerboard(model, 8, 0.03, seed=8)
    tikhonov = convmat.deconvolve2d(y, SYMMETRIC, boundary=model)
    tv, info = convmat.deconvolve2d(y, SYMMETRIC, boundary=model, prior="tv", return_info=True)
    assert np.mean((tv - truth) ** 2) < 0.5 * np.mean((tikhonov - truth) ** 2)
    assert info.solver == "admm"
    assert info.stopped == "tol"
    # matched to a Tikhonov weight r as 2 r g, g the RMS gradient of a unit-peak estimate
    # (below 1): below twice the default's weight
    _, quadratic = convmat.deconvolve2d(y, SYMMETRIC, boundary=model, return_info=True)
    assert 0 < float(info.reg) < 2 * float(quadratic.reg)


def test_total_variation_batches_float32_weights_and_refusals():
    rng = np.random.default_rng(9)
    y = rng.random((2, 3, 12, 13)).astype(np.float32)
    # random pixels at a fixed weight: hundreds of iterations for some
    x, info = convmat.deconvolve2d(
        y, ASYMMETRIC, prior="tv", reg=1e-3, maxiter=5000, return_info=True
    )
    assert x.shape == y.shape
    assert x.dtype == np.float64
    assert info.reg.shape == info.iterations.shape == info.converged.shape == (2, 3)
    assert info.scene.shape == (2, 3, 14, 16)
    single = convmat.deconvolve2d(y[1, 2], ASYMMETRIC, prior="tv", reg=1e-3, maxiter=5000)
    np.testing.assert_allclose(x[1, 2], single, rtol=0, atol=1e-12)
    regs = {
        how: convmat.deconvolve2d(y[0, 0], ASYMMETRIC, prior="tv", reg=how, return_info=True)[1].reg
        for how in ("auto", "gml", "gcv", "discrepancy")
    }
    # random pixels: GML and GCV both choose the largest weight of their search
    assert regs["auto"] == regs["gml"] != regs["discrepancy"]
    with pytest.raises(ValueError, match="'tv', got 'TV'"):
        convmat.deconvolve2d(y, ASYMMETRIC, prior="TV")


@pytest.mark.skipif(
    "MUTANT_UNDER_TEST" in os.environ,
    reason="mutation testing calls every function through a trampoline outside convmat, "
    "which the stack walk cannot tell from the caller",
)
def test_warnings_point_at_the_callers_line(iterative):
    """Past deconvolve2d's keyword-only wrapper: the user's line, not convmat's."""
    rng = np.random.default_rng(6)
    with pytest.warns(UserWarning, match="channel_axis") as record:
        convmat.deconvolve2d(np.ones((6, 6, 3)), SYMMETRIC, reg=1e-3)
    assert record[0].filename == __file__
    with pytest.warns(RuntimeWarning, match="maxiter=2") as record:
        convmat.deconvolve2d(rng.random((12, 12)), ASYMMETRIC, reg=1e-3, maxiter=2)
    assert record[0].filename == __file__


@pytest.mark.parametrize("model", ["unknown", "wrap", "symm"])
@pytest.mark.parametrize("prior", ["gradient", "tv"])
def test_a_constant_image_is_its_own_estimate(model, prior):
    """The minimiser for any weight is the constant (these models blur it into itself, its
    differences vanish; zero padding darkens the edges, so 'fill' is left out): the
    estimate is that constant (it was -4.5 to 22.3)."""
    kernel = np.outer([1.0, 4, 6, 4, 1], [1.0, 4, 6, 4, 1]) / 256
    x, info = convmat.deconvolve2d(
        np.full((20, 20), 3.0), kernel, boundary=model, prior=prior, return_info=True
    )
    np.testing.assert_allclose(x, 3.0, rtol=1e-10)
    assert info.converged


@pytest.mark.parametrize("size", [5, 7])
def test_the_laplacian_prior_s_default_stop_is_near_the_solution(size, iterative):
    """A chosen (small) weight on a clean observation: at the default tol the estimate of
    a constant image is that constant to 1e-3 (it ran from -2.2 to 12.4 when conjugate
    gradients alone stopped at a relative residual of 1e-5)."""
    kernel = np.ones((size, size)) / size**2
    x, info = convmat.deconvolve2d(
        np.full((20, 20), 3.0), kernel, prior="laplacian", return_info=True
    )
    assert info.solver == "admm"
    np.testing.assert_allclose(x, 3.0, rtol=1e-3)


def test_the_laplacian_prior_s_default_call_is_certified_and_near_the_minimiser():
    """The default call on a clean 'unknown' scene too large to factorise: ADMM then
    conjugate gradients, stopped on the certified residual, the field of view within 1e-2
    of the solution at tol=1e-12 (2.6e-3 measured; 1.5e-2 when ADMM handed over at a
    change of 1e-3)."""
    yy, xx = np.mgrid[:64, :64]
    scene = 0.5 + 0.3 * np.sin(xx / 5) * np.cos(yy / 7) + 0.2 * ((yy // 16 + xx // 16) % 2)
    kernel = np.ones((7, 7)) / 49
    y = convmat.conv2d(scene, kernel, "valid")
    x, info = convmat.deconvolve2d(y, kernel, prior="laplacian", return_info=True)
    assert info.solver == "admm"
    assert str(info.stopped) == "tol"
    solved = convmat.deconvolve2d(
        y, kernel, prior="laplacian", reg=float(info.reg), tol=1e-12, maxiter=20_000
    )
    assert np.linalg.norm(x - solved) <= 1e-2 * np.linalg.norm(solved)


def test_callback_iterates_are_in_the_observation_s_units(iterative):
    """The solve runs on data of peak 1; the iterates handed to `callback` are scaled back:
    the last one is the scene returned."""
    rng = np.random.default_rng(10)
    y = 1000.0 * rng.random((14, 15))
    seen: list[np.ndarray] = []
    _, info = convmat.deconvolve2d(
        y, ASYMMETRIC, reg=1e-2, callback=lambda xk, k: seen.append(xk), return_info=True
    )
    np.testing.assert_allclose(seen[-1], info.scene, rtol=1e-12)


@pytest.mark.parametrize("channels", [3, 4])
def test_a_likely_colour_axis_warns_with_the_shapes_it_takes(channels):
    """RGB and RGBA: the warning gives the observation's shape and the image it reads."""
    expected = (
        rf"^`observed` has shape \(22, 24, {channels}\): its last two axes are taken as the "
        rf"image \(24 x {channels}\) and the leading ones as a batch; if the last axis holds "
        r"colour channels, pass channel_axis=-1$"
    )
    with pytest.warns(UserWarning, match=expected):
        convmat.deconvolve2d(np.ones((22, 24, channels)), SYMMETRIC, reg=1e-3)


@pytest.mark.parametrize(
    ("model", "prior"), list(itertools.product(MODELS, (*PRIORS, "tv"))), ids="-".join
)
def test_scaling_the_kernel_scales_the_estimate_inversely(model, prior):
    """A PSF written as integers (a box of ones, a binomial summing to 256) or scaled
    down: the solvers see the kernel at unit sum, so the automatic weight, the iterations
    and the stop are those of the normalised kernel, and the estimate divides by the
    scale (under a binomial of sum 256, total variation had come out below the
    observation)."""
    y, _ = _checkerboard(model, 6, 1e-2, seed=11)
    x, info = convmat.deconvolve2d(y, SYMMETRIC, boundary=model, prior=prior, return_info=True)
    degree = 1 if prior == "tv" else 2
    for c in (1 / 100, 25.0, 256.0):
        xc, info_c = convmat.deconvolve2d(
            y, c * SYMMETRIC, boundary=model, prior=prior, return_info=True
        )
        np.testing.assert_allclose(xc * c, x, rtol=0, atol=1e-6 * np.abs(x).max())
        np.testing.assert_allclose(info_c.reg, info.reg * c**degree, rtol=1e-6)
        np.testing.assert_array_equal(info_c.iterations, info.iterations)
        assert info_c.stopped == info.stopped


@pytest.mark.parametrize("model", MODELS)
def test_a_fixed_weight_keeps_its_objective_at_any_kernel_scale(model):
    """A given weight is the weight of the stated objective, whatever the kernel's scale:
    the dense normal equations with a kernel summing to 256 and to 1/100."""
    rng = np.random.default_rng(12)
    y = rng.random((8, 9))
    for c, reg in ((256.0, 30.0), (1 / 100, 1e-6)):
        kernel = c * ASYMMETRIC
        _, info = convmat.deconvolve2d(
            y, kernel, boundary=model, reg=reg, return_info=True, **SOLVED
        )
        ref = _dense_solution(y, kernel, model, "gradient", reg)
        np.testing.assert_allclose(info.scene, ref, rtol=0, atol=1e-6 * np.abs(ref).max())
        assert float(info.reg) == pytest.approx(reg, rel=1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_a_fixed_total_variation_weight_is_relative_to_the_peak(model):
    """``||A x - y||^2 / 2 + reg * max|y| * TV(x)``: the observation scaled by c with the
    same weight gives the estimate scaled by c; the kernel scaled by c with the weight
    scaled by c gives the estimate divided by c."""
    y, _ = _checkerboard(model, 6, 1e-2, seed=13)
    opts = {"boundary": model, "prior": "tv", "reg": 0.02, "tol": 1e-10, "maxiter": 20_000}
    x = convmat.deconvolve2d(y, SYMMETRIC, **opts)
    np.testing.assert_allclose(
        convmat.deconvolve2d(7.0 * y, SYMMETRIC, **opts) / 7.0, x, atol=1e-7 * np.abs(x).max()
    )
    scaled = {**opts, "reg": 0.02 * 25.0}
    np.testing.assert_allclose(
        convmat.deconvolve2d(y, 25.0 * SYMMETRIC, **scaled) * 25.0, x, atol=1e-7 * np.abs(x).max()
    )


def test_small_problems_of_the_issue_are_solved_exactly():
    """A 13x11 observation, identity prior, weight 0.05, 'fill', and a 24x24 crop with the
    edges unknown and weight 1e-5: at the default `tol` the estimates stopped 2e-3 and
    1.6e-2 from the solution. Small scenes are now factorised: the solution to rounding."""
    rng = np.random.default_rng(11)
    kernel = np.outer([1.0, 4, 6, 4, 1], [1.0, 4, 6, 4, 1]) / 256
    y = rng.random((13, 11))
    x, info = convmat.deconvolve2d(
        y, kernel, boundary="fill", reg=0.05, prior="identity", return_info=True
    )
    assert info.solver == "direct"
    assert info.stopped == "exact"
    ref = _dense_solution(y, kernel, "fill", "identity", 0.05)
    np.testing.assert_allclose(x, ref, rtol=1e-10, atol=1e-12)
    crop = convmat.conv2d(rng.random((28, 28)), kernel, "valid")
    x, info = convmat.deconvolve2d(crop, kernel, reg=1e-5, return_info=True)
    assert info.solver == "direct"
    ref = _dense_solution(crop, kernel, "unknown", "gradient", 1e-5)
    np.testing.assert_allclose(info.scene, ref, rtol=1e-8, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("model", ["unknown", "fill", "symm"])
@pytest.mark.parametrize("reg", [30.0, "auto"])  # 30: 1e-2 at the kernel's unit sum
def test_a_reported_convergence_is_certified_in_the_caller_s_units(model, reg):
    """A scene too large to factorise, any scale of kernel and data: where info says
    'tol', the normal equations' residual of the returned scene, from the dense matrix at
    the caller's scale and the weight reported, is within the default `tol` (1e-6)."""
    rng = np.random.default_rng(12)
    kernel = 25.0 * ASYMMETRIC  # not of unit sum; 'symm' with an asymmetric kernel runs ADMM
    shape = (46, 48)
    y = 300.0 * rng.random(shape)
    _, info = convmat.deconvolve2d(y, kernel, boundary=model, reg=reg, return_info=True)
    assert info.solver == "admm"
    assert info.stopped == "tol"
    if model == "unknown":
        scene = (shape[0] + kernel.shape[0] - 1, shape[1] + kernel.shape[1] - 1)
        a = convmat.conv_matrix(kernel, scene, "valid", format="csr")
    else:
        scene = shape
        a = convmat.conv_matrix(kernel, shape, "same", model, format="csr")
    assert info.scene.shape == scene
    n = int(np.prod(scene))
    x = info.scene
    prior = apply_prior(x, "gradient", periodic=False).ravel()
    lhs = a.T @ (a @ x.ravel()) + float(info.reg) * prior
    rhs = a.T @ y.ravel()
    residual = np.linalg.norm(rhs - lhs) / np.linalg.norm(rhs)
    assert residual <= 1e-6
    assert n > 2048


def test_verbose_prints_a_progress_line_when_one_is_due(iterative, monkeypatch, capsys):
    """A line to standard error per PROGRESS_SECONDS of a solve (here every iteration): the
    image, the iteration of maxiter, the solver; nothing without `verbose`; the callback
    still sees every iteration."""
    rng = np.random.default_rng(13)
    y = rng.random((2, 14, 15))
    seen: list[int] = []
    _, info = convmat.deconvolve2d(
        y, ASYMMETRIC, reg=1e-2, callback=lambda xk, k: seen.append(k), return_info=True
    )
    assert capsys.readouterr().err == ""
    monkeypatch.setattr("convmat.deblur.PROGRESS_SECONDS", 0.0)
    again: list[int] = []
    convmat.deconvolve2d(
        y, ASYMMETRIC, reg=1e-2, verbose=True, maxiter=400, callback=lambda xk, k: again.append(k)
    )
    assert again == seen
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == len(seen)
    first = info.iterations[0]
    assert lines[0].startswith("deconvolve2d: image 1/2, iteration 1/400 (admm), ")
    assert lines[first].startswith("deconvolve2d: image 2/2, iteration 1/400 (admm), ")
    assert lines[-1].startswith(f"deconvolve2d: image 2/2, iteration {info.iterations[1]}/400")
    with pytest.raises(TypeError, match="`verbose` must be a bool, got 'yes'"):
        convmat.deconvolve2d(y, ASYMMETRIC, verbose="yes")


def test_the_default_call_on_zero_padded_data_beats_the_observation():
    """A 'fill' observation (a dark, ramped border) at noise 1e-2: the default weight,
    chosen on the outputs no padding reaches, gives 33.4 dB against the observation's
    23.2; chosen on the whole observation it gave 17.4 dB, below it."""
    yy, xx = np.mgrid[:96, :96]
    scene = 0.6 + 0.3 * np.sin(xx / 7.0) * np.cos(yy / 9.0) + 0.1 * ((yy // 16 + xx // 16) % 2)
    g = np.exp(-((np.arange(9) - 4) ** 2) / 8)
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    rng = np.random.default_rng(0)
    rng.standard_normal(scene.shape)  # the first draw went to noise 1e-3, measured with it
    y = convmat.conv2d(scene, kernel, "same") + 1e-2 * rng.standard_normal(scene.shape)
    x = convmat.deconvolve2d(y, kernel, boundary="fill")

    def psnr(estimate):
        return -10 * np.log10(np.mean((estimate - scene) ** 2))

    assert psnr(x) > psnr(y) + 5
