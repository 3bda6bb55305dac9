"""The exact solve of a diagonal model: one division per coefficient, against dense algebra."""

from __future__ import annotations

import numpy as np
import pytest

import convmat
from convmat._inverse.model import BlurModel
from convmat._inverse.restore import apply_prior
from convmat._inverse.transform import divide, transform_solve


@pytest.mark.parametrize("model", ["wrap", "symm"])
@pytest.mark.parametrize("prior", ["identity", "gradient", "laplacian"])
def test_the_division_solves_the_normal_equations(model, prior):
    kernel = np.outer([1.0, 2.0, 1.0], [1.0, 3.0, 1.0]) / 25
    shape = (7, 8)
    blur = BlurModel(kernel, shape, model, prior)
    a = convmat.conv_matrix(kernel, shape, "same", model)
    n = a.shape[1]
    ltl = apply_prior(np.eye(n).reshape(n, *shape), prior, periodic=model == "wrap")
    normal = a.T @ a + 0.05 * ltl.reshape(n, n)
    rhs = np.random.default_rng(2).standard_normal(shape)
    x = transform_solve(rhs, blur.model_power, blur.weights, 0.05, periodic=model == "wrap")
    np.testing.assert_allclose(x.ravel(), np.linalg.solve(normal, rhs.ravel()), atol=1e-10)


def test_a_vanishing_coefficient_gives_the_minimum_norm_solution():
    np.testing.assert_array_equal(
        divide(np.array([2.0, 3.0, 4.0]), np.array([4.0, 0.0, -2.0])), [0.5, 0.0, -2.0]
    )
    # no weight and a blur that erases the mean: the mean of the solution is 0, not inf
    power = np.array([[0.0, 1.0], [1.0, 1.0]])
    x = transform_solve(np.ones((2, 2)), power, np.zeros((2, 2)), 0.0, periodic=True)
    assert np.isfinite(x).all()
    assert x.sum() == pytest.approx(0.0, abs=1e-15)
