"""Behaviour that the mutation sample of the hardening and drop-in work found unpinned:
each test here fails with one of its surviving mutants active (``make mutation``)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss

import convmat
from convmat._core import csr
from convmat._core.plan import make_plan
from convmat._engines.cache import engine_for


def test_a_matrix_built_in_blocks_of_rows_keeps_its_index_dtype(monkeypatch):
    """Large matrices are built a block of rows at a time and stacked: the stacked
    matrix has the plan's index dtype, and is the matrix built whole."""
    k = np.arange(1.0, 7.0).reshape(2, 3)
    whole = convmat.conv_matrix(k, (9, 7), "same", "symm", format="csr")
    monkeypatch.setattr(csr, "BLOCK_BYTES", 1)  # one row of the first axis a block
    blocks = convmat.conv_matrix(k, (9, 7), "same", "symm", format="csr")
    assert blocks.indices.dtype == make_plan((9, 7), k.shape, "same", "symm").index_dtype()
    np.testing.assert_array_equal(blocks.toarray(), whole.toarray())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: convmat.conv2d(np.ones((3, 3), int), np.ones((2, 2), int), fillvalue=1.5),
            (
                r"cannot be represented exactly in it; pass a value of that dtype or convert "
                r"the arrays first$"
            ),
        ),
        (
            lambda: convmat.conv_transpose2d(np.ones((3, 3)), np.ones((2, 2)), input_shape=7),
            r"^`input_shape` must be a sequence of 2 positive integers, got 7$",
        ),
        (
            lambda: convmat.fftconvolve(np.ones((3, 4)), np.ones((2, 3)), axes=[True]),
            r"^`axes` must hold integers, got \[True\]$",
        ),
        (
            lambda: convmat.ConvOperator(np.ones((2, 2)), (3, 3))(np.ones((3, 3), dtype=object)),
            r"^`x` must have a numeric dtype",
        ),
    ],
    ids=["fillvalue-tail", "input-shape", "axes-bool", "operator-x"],
)
def test_messages_name_the_argument_and_the_value(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()


def test_an_fft_product_too_large_names_in1(monkeypatch):
    monkeypatch.setattr("convmat._core.budget.machine_memory", lambda: 2**20)
    with pytest.raises(convmat.MatrixTooLargeError, match=r"\(`in1`\).*pass fewer or smaller"):
        convmat.fftconvolve(np.ones((300, 300)), np.ones((3, 3)))


def test_a_working_set_refusal_gives_the_machine_s_memory(monkeypatch):
    monkeypatch.setattr("convmat._core.budget.machine_memory", lambda: 2**20)
    with pytest.raises(
        convmat.MatrixTooLargeError, match=r"than half of this machine's 1,048,576 bytes"
    ):
        convmat.spectral_norm([[1.0, 2.0], [3.0, 5.0]], (300, 300))


def test_apply_is_the_forward_product_by_default():
    op = convmat.ConvOperator(np.array([[1.0, 2.0, 0.5]]), (2, 4))  # (2, 6) outputs
    x = np.arange(8.0).reshape(2, 4)
    np.testing.assert_array_equal(op.apply(x), op(x))
    assert op.apply(x).shape == (2, 6)


def test_the_norms_a_transposed_float32_product_reads_are_bounded_from_above():
    """The 2-norm the certificate charges for a transpose's outputs is summed in float64:
    at least the exact norm of float32 data, where a float32 sum would lose the small
    squares beside a large one."""
    k = np.ones((3, 3), np.float32)
    plan = make_plan((400, 400), k.shape, "same", "fill")
    engine = engine_for(k, plan, np.dtype(np.float32))
    y = np.ones((1, 400 * 400), np.float32)
    y[0, 0] = 4096.0  # its square, 2**24, swallows the ones added to it in float32
    peak = np.abs(y).max(axis=1).astype(np.float64)
    norms = engine.certificate._fft_norms(np.abs(y), peak, transpose=True)
    exact = np.sqrt((y.astype(np.longdouble) ** 2).sum(axis=1))
    assert (norms[:, 0] >= exact).all()


def test_a_transpose_whose_outputs_cancel_keeps_the_contract():
    """A zero-sum kernel over nearly constant outputs: the transposed products cancel (the
    first lower bound fails) while every window holds entries near 1. The window-minimum
    bound serves forward products only; a 'full' transpose stays within the contract."""
    rng = np.random.default_rng(3)
    m = 7
    k = rng.standard_normal((m, m))
    k -= k.mean()
    y = 1.0 + 1e-6 * rng.standard_normal((70 + m - 1, 70 + m - 1))
    got = convmat.conv_transpose2d(y, k, "full")
    wide = np.longdouble
    exact = ss.correlate2d(y.astype(wide), k.astype(wide), "valid")
    scale = ss.correlate2d(np.abs(y).astype(wide), np.abs(k).astype(wide), "valid")
    assert (np.abs(got - exact) <= 1e-10 * scale).all()
