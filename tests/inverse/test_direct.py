"""Small problems factorised: the prior's matrix and the normal equations against dense algebra."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import convmat
from convmat._inverse.direct import DIRECT_ARRAYS, Normal, fits
from convmat._inverse.restore import apply_prior

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
