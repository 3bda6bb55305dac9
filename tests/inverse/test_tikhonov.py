"""The Tikhonov solver of one blur model and quadratic prior: its solves against dense
algebra, its certified convergence and its weight."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import convmat
from convmat._inverse.model import solver_for
from convmat._inverse.restore import apply_prior
from convmat._inverse.tikhonov import Tikhonov
from convmat._inverse.tv import TotalVariation
from helpers import BLUR_KERNELS, blur_matrix


@pytest.mark.parametrize(
    ("model", "name"),
    list(itertools.product(("unknown", "fill", "wrap", "symm"), BLUR_KERNELS)),
    ids="-".join,
)
@pytest.mark.parametrize("prior", ["identity", "gradient", "laplacian"])
def test_operator_adjoint_and_solve(model, name, prior):
    kernel = BLUR_KERNELS[name]
    shape = (7, 8)
    problem = Tikhonov(kernel, shape, model, prior, maxiter=2000, tol=1e-12)
    a, scene = blur_matrix(kernel, shape, model)
    assert problem.scene_shape == scene
    assert problem.solver == solver_for(model, kernel, prior)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(scene), rng.standard_normal(shape)
    np.testing.assert_allclose(problem.forward(x).ravel(), a @ x.ravel(), atol=1e-12)
    np.testing.assert_allclose(problem.adjoint(y).ravel(), a.T @ y.ravel(), atol=1e-12)
    n = x.size
    ltl = apply_prior(np.eye(n).reshape(n, *scene), prior, periodic=model == "wrap")
    normal = a.T @ a + 0.05 * ltl.reshape(n, n)
    rhs = rng.standard_normal(scene)
    solved, _, ok = problem.solve(rhs, 0.05)
    assert ok
    np.testing.assert_allclose(solved.ravel(), np.linalg.solve(normal, rhs.ravel()), atol=1e-8)


@pytest.mark.parametrize("model", ["unknown", "fill", "symm"])
@pytest.mark.parametrize("prior", ["identity", "gradient", "laplacian"])
def test_converged_means_the_residual_is_certified(model, prior):
    """The iterative solves report convergence only where the normal equations' residual,
    recomputed from the estimate with the dense matrices, is within `tol` of ``A^T y``;
    stopped early, they say so and the residual is above it."""
    kernel = BLUR_KERNELS["asymmetric"]
    shape = (9, 10)
    a, scene = blur_matrix(kernel, shape, model)
    solver = "admm"
    n = int(np.prod(scene))
    ltl = apply_prior(np.eye(n).reshape(n, *scene), prior, periodic=False).reshape(n, n)
    y = np.random.default_rng(3).random(shape)
    reg = 1e-3

    def residual(x):
        r = a.T @ y.ravel() - (a.T @ a + reg * ltl) @ x.ravel()
        return np.linalg.norm(r) / np.linalg.norm(a.T @ y.ravel())

    for tol in (1e-4, 1e-7, 1e-10):
        problem = Tikhonov(kernel, shape, model, prior, maxiter=5000, tol=tol, solver=solver)
        x, steps, done = problem(y, reg)
        assert done
        assert steps > 0
        assert residual(x) <= tol
        # the FFT operators compute the same residual, to their rounding
        assert abs(problem.residual(problem.adjoint(y), x, reg) - residual(x)) <= 1e-12
    problem = Tikhonov(kernel, shape, model, prior, maxiter=2, tol=1e-12, solver=solver)
    x, steps, done = problem(y, reg)
    assert not done
    assert steps == 2
    assert residual(x) > 1e-12


def test_total_variation_is_not_a_quadratic_prior():
    with pytest.raises(ValueError, match="TotalVariation"):
        Tikhonov(BLUR_KERNELS["symmetric"], (6, 7), "fill", "tv", 10, 1e-6)


def _unit(kernel, shape, model, prior):
    if prior == "tv":
        return TotalVariation(kernel, shape, model, 10, 1e-6)
    return Tikhonov(kernel, shape, model, prior, 10, 1e-6, solver="admm")


@pytest.mark.parametrize("how", ["gml", "gcv", "discrepancy"])
@pytest.mark.parametrize("prior", ["gradient", "tv"])
def test_a_fill_observation_s_weight_is_chosen_on_its_interior(how, prior):
    """The zero border's dark ramp is no part of the DCT model: the rule reads the outputs
    that no padding reaches, as it would read the same pixels observed with edges unknown."""
    kernel = np.outer([1.0, 3.0, 2.0, 1.0], [1.0, 2.0, 1.0, 1.0, 1.0])
    kernel /= kernel.sum()
    rng = np.random.default_rng(9)
    y = convmat.conv2d(rng.random((60, 70)) + 1, kernel, "same") + 0.01 * rng.standard_normal(
        (60, 70)
    )
    fill = _unit(kernel, y.shape, "fill", prior)
    # rows 2..58 and columns 2..67 read no padding: 4 taps (2 before, 1 after), 5 (2 and 2)
    inner = y[2:59, 2:68]
    unknown = _unit(kernel, inner.shape, "unknown", prior)
    assert fill.choose(y, how, None) == unknown.choose(inner, how, None)
    assert fill.choose(y, how, 0.01) == unknown.choose(inner, how, 0.01)


def test_small_factorised_scenes_choose_on_the_exact_model(monkeypatch):
    """A scene within EXACT_RULE_PIXELS: the rule reads the generalised eigenbasis of the
    model actually solved, not its DCT approximation; above it, the DCT model."""
    from convmat._inverse import direct

    kernel = np.outer([1.0, 2.0, 1.0], [1.0, 1.0, 2.0])
    kernel /= kernel.sum()
    y = np.random.default_rng(10).random((12, 14))
    exact = Tikhonov(kernel, y.shape, "unknown", "gradient", 10, 1e-6, solver="direct")
    reg = exact.choose(y, "gml", None)
    monkeypatch.setattr(direct, "EXACT_RULE_PIXELS", 0)
    approximate = Tikhonov(kernel, y.shape, "unknown", "gradient", 10, 1e-6, solver="direct")
    assert approximate.choose(y, "gml", None) != pytest.approx(reg, rel=1e-2)
    assert approximate.choose(y, "gml", None) == Tikhonov(
        kernel, y.shape, "unknown", "gradient", 10, 1e-6, solver="admm"
    ).choose(y, "gml", None)
