"""Winograd's F(2x2, 3x3) layers against the layer matrix, the GEMM path and their rules."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convmat import nn
from convmat.nn import _winograd as lw
from convmat.nn._gemm import LayerGemm
from convmat.nn._layer import Layer, layer_matrix
from convmat.nn._winograd import LayerWinograd, winograd_serves

MODES = ("zeros", "circular", "reflect", "replicate")


@given(
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)) | st.sampled_from(["same", "valid"]),
    mode=st.sampled_from(MODES),
    groups=st.sampled_from([1, 2]),
    batch=st.integers(1, 3),
    rows=st.booleans(),
)
def test_forward_is_the_layer_matrix(size, padding, mode, groups, batch, rows):
    """Every size (odd outputs leave half tiles), padding, mode and group count; in blocks of
    images, or of one tile row each."""
    rng = np.random.default_rng(sum(size) + batch)
    w = rng.standard_normal((4, 4 // groups, 3, 3))
    try:
        layer = Layer(w, (4, *size), 1, padding, 1, groups, mode)
    except ValueError:  # torch refuses it too (empty output, padding wider than the input)
        return
    x = rng.standard_normal((batch, *layer.input_shape))
    engine = LayerWinograd(layer)
    if rows:
        lw.WINOGRAD_BYTES, saved = 1, lw.WINOGRAD_BYTES
        try:
            got = engine.forward(w, x)
        finally:
            lw.WINOGRAD_BYTES = saved
    else:
        got = engine.forward(w, x)
    m = layer_matrix(w, layer, w.dtype, "dense")
    assert got.shape == (batch, *layer.output_shape)
    np.testing.assert_allclose(got.reshape(batch, -1), x.reshape(batch, -1) @ m.T, atol=1e-12)


def test_row_blocks_cover_every_tile_row_once():
    layer = Layer(np.ones((2, 2, 3, 3)), (2, 11, 6), 1, 1, 1, 1, "zeros")
    engine = LayerWinograd(layer)
    lw_bytes = lw.WINOGRAD_BYTES
    try:
        lw.WINOGRAD_BYTES = engine.tile_bytes(8) // 3  # a third of an image per block
        spans = list(engine.blocks(2, 8))
    finally:
        lw.WINOGRAD_BYTES = lw_bytes
    rows = [(n0, i) for n0, _, i0, i1 in spans for i in range(i0, i1)]
    assert sorted(rows) == [(n, i) for n in range(2) for i in range(engine.tiles[0])]
    assert all(n1 == n0 + 1 for n0, n1, _, _ in spans)


@pytest.mark.parametrize("mode", MODES)
def test_adjoint_runs_as_the_transposed_layer_and_passes_the_dot_test(mode):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 2, 3, 3))
    layer = Layer(w, (4, 7, 6), 1, 1, 1, 2, mode)
    engine = LayerGemm(layer)
    x = rng.standard_normal((2, *layer.input_shape))
    y = rng.standard_normal((2, *layer.output_shape))
    fwd, adj = engine.forward(w, x, "winograd"), engine.adjoint(w, y, "winograd")
    m = layer_matrix(w, layer, w.dtype, "dense")
    np.testing.assert_allclose(adj.reshape(2, -1), y.reshape(2, -1) @ m, atol=1e-12)
    np.testing.assert_allclose(np.vdot(fwd, y), np.vdot(x, adj), rtol=1e-12)


def test_float32_error_stays_near_the_direct_sum_s():
    """Measured in float32 against float64 on a 64-channel layer: at most 1.5x the GEMM's error.

    (The layers guide's rule is against torch's error; benchmarks/speed.py measures that.)
    """
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 64, 20, 20))
    w = rng.standard_normal((32, 64, 3, 3)) / 24
    ref = nn.conv2d(x, w, padding=1, method="gemm")
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    ref32 = nn.conv2d(x32.astype(np.float64), w32.astype(np.float64), padding=1)

    def error(method: str) -> float:
        got = nn.conv2d(x32, w32, padding=1, method=method)
        assert got.dtype == np.float32
        return float(np.linalg.norm(got - ref32) / np.linalg.norm(ref))

    assert error("winograd") <= 1.5 * error("gemm")
    assert error("winograd") < 1e-6


def test_non_finite_data_take_the_direct_sum():
    """An inf spreads over Winograd's tile as NaN; torch's direct sum keeps it in place."""
    w = np.ones((1, 1, 3, 3))
    x = np.zeros((1, 1, 6, 6))
    x[0, 0, 2, 2] = np.inf
    got = nn.conv2d(x, w, padding=1, method="winograd")
    np.testing.assert_array_equal(got, nn.conv2d(x, w, padding=1, method="gemm"))
    assert np.isinf(got).sum() == 9
    assert not np.isnan(got).any()


class TestRefusals:
    def test_only_3x3_stride_1_undilated_layers(self):
        for kernel, stride, dilation in ((5, 1, 1), (3, 2, 1), (3, 1, 2)):
            w = np.ones((1, 1, kernel, kernel))
            with pytest.raises(ValueError, match=r"'winograd' serves 3x3 layers of stride 1"):
                nn.conv2d(
                    np.ones((1, 9, 9)), w, stride=stride, dilation=dilation, method="winograd"
                )
        layer = Layer(np.ones((1, 1, 3, 3)), (1, 9, 9), 1, 0, 1, 1, "zeros")
        assert winograd_serves(layer)
        with pytest.raises(ValueError, match="serves 3x3 layers of stride 1"):
            LayerWinograd(Layer(np.ones((1, 1, 3, 3)), (1, 9, 9), 2, 0, 1, 1, "zeros"))

    def test_integers_are_refused_naming_the_exact_ways(self):
        with pytest.raises(
            ValueError, match=r"float and complex layers .* got dtype int64.*'gemm'"
        ):
            nn.conv2d(np.ones((1, 5, 5), int), np.ones((1, 1, 3, 3), int), method="winograd")


def test_working_bytes_bound_what_a_call_allocates():
    rng = np.random.default_rng(5)
    layer = Layer(np.ones((16, 8, 3, 3)), (8, 40, 36), 1, 1, 1, 1, "reflect")
    w = rng.standard_normal((16, 8, 3, 3))
    x = rng.standard_normal((3, *layer.input_shape))
    y = rng.standard_normal((3, *layer.output_shape))
    engine = LayerGemm(layer)
    for run in (lambda: engine.forward(w, x, "winograd"), lambda: engine.adjoint(w, y, "winograd")):
        tracemalloc.start()
        run()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak <= engine.working_bytes(3, 8, "winograd")
