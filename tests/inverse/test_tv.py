"""Total variation of one blur model: the splitting it runs, its quadratic stand-in and its
weight."""

from __future__ import annotations

import numpy as np
import pytest

from convmat._inverse.admm import Diagonal, Splitting
from convmat._inverse.model import BlurModel
from convmat._inverse.restore import tv_weight
from convmat._inverse.tikhonov import Tikhonov
from convmat._inverse.tv import TotalVariation

KERNEL = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16


@pytest.mark.parametrize("model", ["unknown", "fill", "wrap", "symm"])
def test_total_variation_s_quadratic_stand_in_is_the_gradient_prior(model):
    """Where TV needs a quadratic prior (its transform models, the weight the rules pick),
    it is the gradient prior, whose weights TV's own scale follows."""
    tv = TotalVariation(KERNEL, (12, 10), model, 50, 1e-6)
    grad = BlurModel(KERNEL, (12, 10), model, "gradient")
    np.testing.assert_array_equal(tv.model.weights, grad.weights)
    np.testing.assert_array_equal(tv.model.model_weights, grad.model_weights)
    # one split where a transform diagonalises the model, the mask splitting elsewhere
    assert isinstance(tv.splitting, Diagonal if model in ("wrap", "symm") else Splitting)


@pytest.mark.parametrize("how", ["gml", "gcv"])
def test_the_weight_is_matched_to_the_gradient_prior_s(how):
    y = np.random.default_rng(6).random((20, 18))
    tv = TotalVariation(KERNEL, y.shape, "symm", 50, 1e-6)
    tikhonov = Tikhonov(KERNEL, y.shape, "symm", "gradient", 50, 1e-6)
    reg = tikhonov.choose(y, how, None)
    assert tv.choose(y, how, None) == tv_weight(*tv.model.rule_inputs(y), reg)


def test_the_estimate_is_the_splitting_s():
    y = np.random.default_rng(7).random((10, 12))
    tv = TotalVariation(KERNEL, y.shape, "fill", 200, 1e-6)
    x, steps, done = tv(y, 0.01)
    reference = Splitting(KERNEL, y.shape, "fill", "gradient", "tv").solve(
        y, 0.01, maxiter=200, tol=1e-6
    )
    np.testing.assert_array_equal(x, reference[0])
    assert (steps, done) == reference[1:]
