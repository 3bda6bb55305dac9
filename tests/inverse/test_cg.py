"""Conjugate gradients with a certified residual, against the dense normal equations."""

from __future__ import annotations

import math

import numpy as np
import pytest

import convmat
from convmat._inverse.cg import ConjugateGradients
from convmat._inverse.model import BlurModel
from convmat._inverse.restore import apply_prior

KERNEL = np.array([[0.5, 0.2, 0.1], [0.1, 0.3, 0.4]])


def _dense(model, prior, shape, reg):
    if model == "unknown":
        scene = (shape[0] + KERNEL.shape[0] - 1, shape[1] + KERNEL.shape[1] - 1)
        a = convmat.conv_matrix(KERNEL, scene, "valid")
    else:
        scene = shape
        a = convmat.conv_matrix(KERNEL, shape, "same", model)
    n = int(np.prod(scene))
    ltl = apply_prior(np.eye(n).reshape(n, *scene), prior, periodic=False).reshape(n, n)
    return a.T @ a + reg * ltl, scene


@pytest.mark.parametrize("model", ["unknown", "fill", "symm"])
@pytest.mark.parametrize("prior", ["identity", "gradient", "laplacian"])
def test_the_solve_stops_at_the_certified_residual(model, prior):
    shape, reg = (9, 10), 1e-3
    normal, scene = _dense(model, prior, shape, reg)
    blur = BlurModel(KERNEL, shape, model, prior)
    rhs = np.random.default_rng(3).random(scene)
    for tol in (1e-5, 1e-9):
        solver = ConjugateGradients(blur, prior, tol)
        x, steps, done = solver.solve(rhs, reg, None, maxiter=5000)
        assert done
        assert steps > 0
        true = np.linalg.norm(rhs.ravel() - normal @ x.ravel()) / np.linalg.norm(rhs)
        assert true <= tol
        # the FFT operators compute the same residual, to their rounding
        assert abs(solver.residual(rhs, x, reg) - true) <= 1e-12
    # stopped by maxiter: not certified, and the residual says why
    solver = ConjugateGradients(blur, prior, 1e-13)
    x, steps, done = solver.solve(rhs, reg, None, maxiter=2)
    assert not done
    assert steps == 2
    assert solver.residual(rhs, x, reg) > 1e-13


def test_the_callback_sees_every_iteration_counted_from_first():
    blur = BlurModel(KERNEL, (8, 8), "fill", "gradient")
    seen = []
    _, steps, _ = ConjugateGradients(blur, "gradient", 1e-8).solve(
        np.ones((8, 8)), 1e-2, lambda xk, k: seen.append((xk.shape, k)), maxiter=50, first=5
    )
    assert steps > 0
    assert seen == [((8, 8), 5 + i) for i in range(1, steps + 1)]


def test_the_residual_of_a_zero_right_hand_side():
    solver = ConjugateGradients(BlurModel(KERNEL, (6, 6), "fill", "identity"), "identity", 1e-6)
    zero = np.zeros((6, 6))
    assert solver.residual(zero, zero, 0.1) == 0.0
    assert solver.residual(zero, np.ones((6, 6)), 0.1) == math.inf
