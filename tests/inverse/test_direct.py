"""Small problems factorised: the prior's matrix and the normal equations against dense algebra."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import convmat
from convmat._inverse.direct import DIRECT_ARRAYS, EXACT_RULE_PIXELS, Normal, fits
from convmat._inverse.restore import apply_prior, gml

KERNEL = np.array([[0.5, 0.2, 0.1], [0.1, 0.3, 0.4]])


def _matrix(shape, model):
    if model == "unknown":
        scene = (shape[0] + KERNEL.shape[0] - 1, shape[1] + KERNEL.shape[1] - 1)
        return convmat.conv_matrix(KERNEL, scene, "valid"), scene
    return convmat.conv_matrix(KERNEL, shape, "same", model), shape


@pytest.mark.parametrize("model", ["unknown", "fill", "symm"])
@pytest.mark.parametrize("prior", ["identity", "gradient", "laplacian"])
def test_the_normal_equations_are_solved_to_rounding(model, prior):
    shape = (6, 9)
    a, scene = _matrix(shape, model)
    normal = Normal(KERNEL, shape, scene, model, prior)
    rng = np.random.default_rng(1)
    rhs = rng.standard_normal(scene)
    n = rhs.size
    ltl = apply_prior(np.eye(n).reshape(n, *scene), prior, periodic=False).reshape(n, n)
    expected = np.linalg.solve(a.T @ a + 0.03 * ltl, rhs.ravel())
    got = normal.solve(rhs, 0.03)
    assert got.shape == scene
    np.testing.assert_allclose(got.ravel(), expected, rtol=1e-10, atol=1e-12)


def test_a_singular_system_gets_the_least_squares_solution():
    """No weight and more unknowns than observations ('unknown'): ``A^T A`` is singular; the
    solution is the minimum-norm one, as the transform solvers give where a frequency is
    unconstrained."""
    shape = (5, 6)
    a, scene = _matrix(shape, "unknown")
    normal = Normal(KERNEL, shape, scene, "unknown", "gradient")
    y = np.random.default_rng(2).standard_normal(shape)
    rhs = (a.T @ y.ravel()).reshape(scene)
    got = normal.solve(rhs, 0.0)
    expected = np.linalg.pinv(a) @ y.ravel()
    np.testing.assert_allclose(got.ravel(), expected, rtol=1e-8, atol=1e-10)


def test_a_weight_s_factorisation_serves_every_image_that_uses_it(monkeypatch):
    """The images of a batch with one weight share its factorisation; another weight
    factorises again, and each solve equals a fresh one."""
    shape = (6, 7)
    _, scene = _matrix(shape, "fill")
    normal = Normal(KERNEL, shape, scene, "fill", "gradient")
    calls = []
    factorise = scipy.linalg.cho_factor
    monkeypatch.setattr(
        scipy.linalg, "cho_factor", lambda *a, **k: calls.append(1) or factorise(*a, **k)
    )
    rng = np.random.default_rng(3)
    rhs = [rng.standard_normal(scene) for _ in range(3)]
    got = [normal.solve(r, 0.1) for r in rhs]
    assert len(calls) == 1
    got.append(normal.solve(rhs[0], 0.2))
    assert len(calls) == 2
    for r, g, reg in zip([*rhs, rhs[0]], got, [0.1, 0.1, 0.1, 0.2], strict=True):
        fresh = Normal(KERNEL, shape, scene, "fill", "gradient").solve(r, reg)
        np.testing.assert_array_equal(g, fresh)


def test_a_scene_is_factorised_only_where_its_matrices_fit_the_budget():
    """Up to 2048 pixels, and the dense matrices within the working-set budget; below it,
    the same call runs the iterative solvers and reaches the same solution."""
    assert fits(2048)
    assert not fits(2049)
    y = np.random.default_rng(4).random((20, 22))
    exact, info = convmat.deconvolve2d(y, KERNEL, boundary="fill", reg=0.05, return_info=True)
    assert info.solver == "direct"
    need = DIRECT_ARRAYS * 8 * (20 * 22) ** 2
    convmat.set_max_working_bytes(need)
    try:
        assert fits(20 * 22)
        convmat.set_max_working_bytes(need - 1)
        assert not fits(20 * 22)
        x, info = convmat.deconvolve2d(
            y, KERNEL, boundary="fill", reg=0.05, tol=1e-12, maxiter=5000, return_info=True
        )
    finally:
        convmat.set_max_working_bytes(None)  # the default again
    assert info.solver == "admm"
    np.testing.assert_allclose(x, exact, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("model", ["unknown", "fill", "symm"])
@pytest.mark.parametrize("prior", ["identity", "gradient", "laplacian"])
def test_the_exact_diagonal_model_gives_the_dense_residual_and_influence(model, prior):
    """In the generalised eigenbasis, the residual ``||(I - H) y||^2`` and the trace of
    ``I - H`` (``H = A (A^T A + reg L^T L)^{-1} A^T``) that the weight rules read equal
    the dense ones at the weights a rule may choose (at least 1e-4 of the scale: the
    directions A hardly sees, t < 1e-10, count as never fitted)."""
    shape = (5, 7)
    a, scene = _matrix(shape, model)
    normal = Normal(KERNEL, shape, scene, model, prior)
    y = np.random.default_rng(4).standard_normal(shape)
    blur, weights, data = normal.diagonal(y, (a.T @ y.ravel()).reshape(scene))
    assert blur.size == weights.size == data.size == y.size
    n = a.shape[1]
    ltl = apply_prior(np.eye(n).reshape(n, *scene), prior, periodic=False).reshape(n, n)
    for reg in (1e-4, 1e-3, 0.1, 10.0):
        hat = a @ np.linalg.solve(a.T @ a + reg * ltl, a.T)
        residual = y.ravel() - hat @ y.ravel()
        keep = reg * weights / (blur + reg * weights)
        np.testing.assert_allclose(np.sum(keep**2 * data), residual @ residual, rtol=1e-6)
        np.testing.assert_allclose(np.sum(keep), y.size - np.trace(hat), rtol=1e-6)


def test_the_exact_gml_maximises_the_dense_marginal_likelihood():
    """Identity prior, a proper Gaussian: y ~ N(0, s^2 (I + A A^T / reg)); with s^2
    profiled out, -2 log L = m log(y^T C^-1 y / m) + log det C. GML on the exact diagonal
    model picks the weight that minimises it."""
    shape = (6, 6)
    a, scene = _matrix(shape, "fill")
    normal = Normal(KERNEL, shape, scene, "fill", "identity")
    rng = np.random.default_rng(5)
    y = a @ rng.standard_normal(a.shape[1]) + 0.3 * rng.standard_normal(a.shape[0])
    best = gml(*normal.diagonal(y.reshape(shape), (a.T @ y).reshape(scene)))

    def minus_two_log_likelihood(reg):
        c = np.eye(y.size) + a @ a.T / reg
        _, logdet = np.linalg.slogdet(c)
        return y.size * np.log(y @ np.linalg.solve(c, y) / y.size) + logdet

    grid = np.logspace(-4, 3, 1401)
    dense = grid[np.argmin([minus_two_log_likelihood(g) for g in grid])]
    assert 1e-3 < dense < 1e2  # an interior optimum (noise 0.3 on a unit scene: near 0.09)
    np.testing.assert_allclose(best, dense, rtol=2e-2)


def test_larger_scenes_and_singular_pencils_have_no_exact_diagonal_model():
    rng = np.random.default_rng(6)
    side = int(np.sqrt(EXACT_RULE_PIXELS)) + 1
    big = Normal(np.ones((1, 1)), (side, side), (side, side), "fill", "identity")
    assert big.diagonal(rng.random((side, side)), rng.random((side, side))) is None
    # a kernel of zero sum does not see constants, nor does the gradient prior
    flat = Normal(np.array([[1.0, -1.0]]), (4, 5), (4, 5), "fill", "gradient")
    got = flat.diagonal(rng.random((4, 5)), rng.random((4, 5)))
    # 'fill' keeps the constant visible through the zero border: positive definite here
    assert got is not None
    wrapless = Normal(np.array([[1.0, -1.0]]), (4, 5), (4, 6), "unknown", "gradient")
    assert wrapless.diagonal(rng.random((4, 5)), rng.random((4, 6))) is None
