"""The zero-padded FFT convolution against the explicit matrix: operator, adjoint, Grams."""

from __future__ import annotations

import numpy as np
import pytest

import convmat
from convmat._engines.fillfft import FillBlur


@pytest.mark.parametrize("mode", ["valid", "same"])
@pytest.mark.parametrize("kshape", [(3, 3), (2, 5), (4, 1)])
def test_fill_blur_is_the_exact_operator(mode, kshape):
    rng = np.random.default_rng(1)
    k = rng.standard_normal(kshape)
    scene = (9, 11)
    blur = FillBlur(k, scene, mode)
    a = convmat.conv_matrix(k, scene, mode)
    x = rng.standard_normal(scene)
    y = blur.forward(x)
    np.testing.assert_allclose(y.ravel(), a @ x.ravel(), atol=1e-12)
    v = rng.standard_normal(y.shape)
    np.testing.assert_allclose(blur.adjoint(v).ravel(), a.T @ v.ravel(), atol=1e-12)
    assert np.vdot(v, y) == pytest.approx(np.vdot(blur.adjoint(v), x), rel=1e-12)
    np.testing.assert_allclose(blur.gram(x).ravel(), a.T @ a @ x.ravel(), atol=1e-12)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(
    ("scene", "kshape"),
    [((9,), (4,)), ((3,), (7,)), ((5, 6), (2, 3)), ((2, 3), (4, 5)), ((4, 3, 5), (2, 2, 3))],
    ids=str,
)
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_every_mode_and_rank_real_and_complex(mode, scene, kshape, complex_):
    """N-D, kernels larger than the scene ('valid' swaps roles), one-pair Gram of 'full'."""
    rng = np.random.default_rng(2)
    k = rng.standard_normal(kshape) + (1j * rng.standard_normal(kshape) if complex_ else 0)
    blur = FillBlur(k, scene, mode)
    a = convmat.conv_matrix(k, scene, mode)
    x = rng.standard_normal(scene) + (1j * rng.standard_normal(scene) if complex_ else 0)
    y = blur.forward(x)
    np.testing.assert_allclose(y.ravel(), a @ x.ravel(), atol=1e-12)
    v = rng.standard_normal(y.shape) + (1j * rng.standard_normal(y.shape) if complex_ else 0)
    ah = a.conj().T
    np.testing.assert_allclose(blur.adjoint(v).ravel(), ah @ v.ravel(), atol=1e-12)
    np.testing.assert_allclose(blur.gram(x).ravel(), ah @ (a @ x.ravel()), atol=1e-11)
    np.testing.assert_allclose(blur.cogram(v).ravel(), a @ (ah @ v.ravel()), atol=1e-11)


def test_the_adjoint_of_single_precision_outputs_runs_in_the_kernel_s_precision():
    """The adjoint of float32 (or complex64) outputs transforms them in the float64
    spectrum's precision: the same result as of the outputs cast to float64."""
    rng = np.random.default_rng(9)
    k = rng.standard_normal((5, 4))
    blur = FillBlur(k, (30, 20), "same")
    y = rng.standard_normal((30, 20)).astype(np.float32)
    got = blur.adjoint(y)
    want = blur.adjoint(y.astype(np.float64))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * np.abs(want).max())
