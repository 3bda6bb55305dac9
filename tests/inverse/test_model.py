"""One blur model: its operator and adjoint against the dense matrix, the solver each model
and prior take, and the grid the weight rules read."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from convmat._inverse.model import WEIGHT_FLOOR, BlurModel, solver_for
from convmat._inverse.restore import weight_scale
from helpers import BLUR_KERNELS, blur_matrix


@pytest.mark.parametrize(
    ("model", "name"),
    list(itertools.product(("unknown", "fill", "wrap", "symm"), BLUR_KERNELS)),
    ids="-".join,
)
def test_the_operator_and_its_adjoint_are_the_matrix_s(model, name):
    kernel = BLUR_KERNELS[name]
    blur = BlurModel(kernel, (7, 8), model, "gradient")
    a, scene = blur_matrix(kernel, (7, 8), model)
    assert blur.scene_shape == scene
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(scene), rng.standard_normal((7, 8))
    np.testing.assert_allclose(blur.forward(x).ravel(), a @ x.ravel(), atol=1e-12)
    np.testing.assert_allclose(blur.adjoint(y).ravel(), a.T @ y.ravel(), atol=1e-12)
    # a diagonal model's spectrum is the matrix's eigenvalues in its transform's basis
    expected = {"wrap": "fft", "symm": "dct" if name == "symmetric" else ""}.get(model, "")
    assert blur.diagonal == expected


def test_solver_names():
    assert solver_for("wrap", BLUR_KERNELS["asymmetric"]) == "fft"
    assert solver_for("symm", BLUR_KERNELS["symmetric"]) == "dct"
    assert solver_for("symm", BLUR_KERNELS["asymmetric"]) == "admm"
    assert solver_for("unknown", BLUR_KERNELS["symmetric"]) == "admm"
    assert solver_for("fill", BLUR_KERNELS["symmetric"], "identity") == "admm"
    assert solver_for("unknown", BLUR_KERNELS["symmetric"], "laplacian") == "admm"
    assert solver_for("symm", BLUR_KERNELS["symmetric"], "laplacian") == "dct"
    for model in ("unknown", "fill", "wrap", "symm"):
        assert solver_for(model, BLUR_KERNELS["symmetric"], "tv") == "admm"
        assert solver_for(model, BLUR_KERNELS["symmetric"], "tv", 100) == "admm"
    # small scenes of a quadratic prior are factorised, where no transform serves
    assert solver_for("unknown", BLUR_KERNELS["symmetric"], "gradient", 2048) == "direct"
    assert solver_for("unknown", BLUR_KERNELS["symmetric"], "laplacian", 2048) == "direct"
    assert solver_for("unknown", BLUR_KERNELS["symmetric"], "gradient", 2049) == "admm"
    assert solver_for("wrap", BLUR_KERNELS["asymmetric"], "gradient", 100) == "fft"
    assert solver_for("symm", BLUR_KERNELS["symmetric"], "identity", 100) == "dct"


def test_the_rules_read_a_fill_observation_s_interior_only():
    # 4 taps: 2 pixels read before an output and 1 after; 5 taps: 2 and 2
    kernel = np.outer([1.0, 3.0, 2.0, 1.0], [1.0, 2.0, 1.0, 1.0, 1.0])
    blur = BlurModel(kernel / kernel.sum(), (60, 70), "fill", "gradient")
    assert blur.window == (slice(2, 59), slice(2, 68))
    power, weights, data = blur.rule_inputs(np.ones((60, 70)))
    assert power.shape == weights.shape == data.shape == (57, 66)
    assert BlurModel(kernel, (3, 70), "fill", "gradient").window is None  # no interior row
    assert BlurModel(kernel, (60, 70), "unknown", "gradient").window is None


def test_a_rule_never_goes_below_the_floor():
    # a noiseless observation: GCV would pick a vanishing weight; the floor holds it up
    kernel = BLUR_KERNELS["symmetric"]
    blur = BlurModel(kernel, (16, 16), "symm", "gradient")
    scene = np.random.default_rng(1).random((16, 16))
    y = blur.forward(scene)
    floor = WEIGHT_FLOOR * weight_scale(blur.model_power, blur.model_weights)
    for how in ("gcv", "gml", "discrepancy"):
        reg = blur.weight(y, how, 1e-12, blur.rule_inputs(y), "gradient")
        assert reg >= floor
    assert blur.weight(y, "gcv", None, blur.rule_inputs(y), "gradient") == floor
