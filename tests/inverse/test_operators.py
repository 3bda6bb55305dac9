"""The deblurring solvers' operators: each is its model's exact matrix, and its adjoint."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

import convmat
from convmat._engines.fillfft import FillBlur
from convmat._inverse.operators import Circulant, Cosine, Reflected, dct, idct

SHAPE = (6, 7)


def _kernel(symmetric: bool) -> np.ndarray:
    rng = np.random.default_rng(3)
    k = rng.random((3, 3))
    return (k + k[::-1] + k[:, ::-1] + k[::-1, ::-1]) if symmetric else k


def _column(kernel: np.ndarray, boundary: str) -> np.ndarray:
    delta = np.zeros(SHAPE)
    delta[0, 0] = 1
    return convmat.conv2d(delta, kernel, "same", boundary)


def _operators() -> list[tuple[str, object, np.ndarray, tuple[int, int]]]:
    """(name, operator, its dense matrix, scene shape) for every model."""
    k, sym = _kernel(False), _kernel(True)
    delta = np.zeros(SHAPE)
    delta[0, 0] = 1
    cosine = dct(_column(sym, "symm")) / dct(delta)
    scene = (SHAPE[0] + 2, SHAPE[1] + 2)
    return [
        (
            "wrap",
            Circulant(np.asarray(scipy.fft.fft2(_column(k, "wrap")))),
            convmat.conv_matrix(k, SHAPE, "same", "wrap"),
            SHAPE,
        ),
        (
            "symm, symmetric kernel",
            Cosine(cosine),
            convmat.conv_matrix(sym, SHAPE, "same", "symm"),
            SHAPE,
        ),
        ("symm", Reflected(k, SHAPE), convmat.conv_matrix(k, SHAPE, "same", "symm"), SHAPE),
        ("fill", FillBlur(k, SHAPE, "same"), convmat.conv_matrix(k, SHAPE, "same"), SHAPE),
        ("unknown", FillBlur(k, scene, "valid"), convmat.conv_matrix(k, scene, "valid"), scene),
    ]


@pytest.mark.parametrize(
    ("name", "op", "matrix", "scene"), _operators(), ids=[case[0] for case in _operators()]
)
def test_each_operator_is_its_models_matrix(name, op, matrix, scene):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(scene)
    y = rng.standard_normal(matrix.shape[0])
    np.testing.assert_allclose(op.forward(x).ravel(), matrix @ x.ravel(), rtol=1e-12, atol=1e-12)
    got = op.adjoint(y.reshape(op.forward(x).shape))
    np.testing.assert_allclose(got.ravel(), matrix.T @ y, rtol=1e-12, atol=1e-12)
    # the dot test: <A x, y> == <x, A^T y>
    lhs = float(np.vdot(op.forward(x).ravel(), y))
    rhs = float(np.vdot(x.ravel(), got.ravel()))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_the_dct_pair_is_orthonormal():
    x = np.random.default_rng(1).standard_normal(SHAPE)
    np.testing.assert_allclose(idct(dct(x)), x, rtol=1e-13, atol=1e-13)
    assert float(np.sum(dct(x) ** 2)) == pytest.approx(float(np.sum(x**2)), rel=1e-13)
