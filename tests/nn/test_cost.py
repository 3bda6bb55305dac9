"""The layer cost model: counts from shapes, and the choices that follow."""

from __future__ import annotations

import numpy as np
import pytest

from convmat.nn import _cost as lc
from convmat.nn._cost import choose_layer_method, layer_costs
from convmat.nn._layer import Layer

F64 = np.dtype(np.float64)


def _layer(c_in, c_out, size, k, *, stride=1, padding=1, groups=1):
    w = np.ones((c_out, c_in // groups, k, k))
    return Layer(w, (c_in, size, size), stride, padding, 1, groups, "zeros")


def test_depthwise_layers_are_offered_shift_and_3x3_stride_1_layers_winograd():
    both = {"matrix", "gemm", "shift", "winograd"}
    assert set(layer_costs(_layer(8, 8, 16, 3, groups=8), 2, F64)) == both
    assert set(layer_costs(_layer(8, 8, 16, 3, groups=4), 2, F64)) == {"matrix", "gemm", "winograd"}
    assert set(layer_costs(_layer(8, 8, 16, 3, stride=2), 2, F64)) == {"matrix", "gemm"}
    assert set(layer_costs(_layer(8, 8, 16, 5), 2, F64)) == {"matrix", "gemm"}


def test_winograd_is_offered_for_floats_only_and_in_float32_for_16_to_64_channels():
    """Its transforms round: never for integers; in float32 its error against torch's
    exceeded 2x on depthwise layers and at 256 channels and more (measured)."""
    assert "winograd" not in layer_costs(_layer(8, 8, 16, 3), 2, np.dtype(np.int64))
    f32 = np.dtype(np.float32)
    for channels, offered in ((1, False), (15, False), (16, True), (64, True), (65, False)):
        costs = layer_costs(_layer(channels, 8, 16, 3), 2, f32)
        assert ("winograd" in costs) == offered, channels
        assert "winograd" in layer_costs(_layer(channels, 8, 16, 3), 2, F64)
    assert "winograd" not in layer_costs(_layer(65, 8, 16, 3), 2, np.dtype(np.complex64))
    assert "winograd" not in layer_costs(_layer(8, 8, 16, 3, groups=8), 2, f32)  # depthwise
    # the adjoint's sum runs over the output channels
    assert "winograd" in layer_costs(_layer(65, 16, 16, 3), 2, f32, adjoint=True)


@pytest.mark.parametrize(
    "layer",
    [
        _layer(3, 64, 112, 7, stride=2, padding=3),
        _layer(256, 256, 14, 3),
        _layer(64, 256, 56, 1, padding=0),
        _layer(1, 1, 5, 3),  # tiny: the matrix's build costs more than the GEMM
    ],
)
def test_dense_channel_mixing_layers_take_gemm(layer):
    assert choose_layer_method(layer, 8, F64) == "gemm"
    assert choose_layer_method(layer, 8, F64, adjoint=True) == "gemm"


def test_depthwise_layers_take_shift_with_stride_1_and_the_matrix_strided_back():
    """Measured (benchmarks/layer_methods.py, two runs): a stride-1 depthwise layer's taps
    added plane by plane beat its one-row GEMMs both ways; a strided one's adjoint is fastest
    through the sparse matrix (3 to 4x faster than shift in float64), its float32 forward by
    GEMM."""
    layer = _layer(64, 64, 28, 3, groups=64)
    strided = _layer(96, 96, 56, 3, stride=2, groups=96)
    f32 = np.dtype(np.float32)
    for dtype in (F64, f32):
        costs = layer_costs(layer, 32, dtype, adjoint=True)
        assert costs["shift"] < costs["gemm"]
        assert choose_layer_method(layer, 32, dtype, adjoint=True) == "shift"
        assert choose_layer_method(strided, 8, dtype, adjoint=True) == "matrix"
    assert choose_layer_method(strided, 8, f32) == "gemm"
    dense = _layer(64, 64, 28, 3)
    assert "shift" not in layer_costs(dense, 8, F64)


def test_winograd_is_taken_on_large_images_and_left_on_small_ones():
    """Measured: F(2x2, 3x3) 10% to 35% faster on a 64-channel 56x56 layer, 1.3 to 4x slower
    with 256 channels at 14x14 or 512 at 7x7 (its transformed weights outweigh the tiles)."""
    large = _layer(64, 64, 56, 3)
    assert choose_layer_method(large, 1, F64) == "winograd"
    for small in (_layer(256, 256, 14, 3), _layer(512, 512, 7, 3)):
        assert choose_layer_method(small, 1, F64) == "gemm"
        assert choose_layer_method(small, 1, F64, adjoint=True) == "gemm"


def test_memory_bound_passes_cost_by_the_byte():
    layer = _layer(64, 64, 28, 3, groups=64)
    f64, f32 = layer_costs(layer, 32, F64), layer_costs(layer, 32, np.dtype(np.float32))
    assert f32["shift"] < 0.6 * f64["shift"]
    assert f32["gemm"] < 0.6 * f64["gemm"]


def test_blas_rate_by_dtype_and_shape():
    full = lc._blas_rate(F64, 64, 576)
    assert full == lc._BLAS_MACS_PER_UNIT
    assert lc._blas_rate(np.dtype(np.float32), 64, 576) == 2 * full
    # a complex multiply-add is four real ones
    assert lc._blas_rate(np.dtype(np.complex128), 64, 576) == full / 4
    assert lc._blas_rate(np.dtype(np.complex64), 64, 576) == full / 2
    # a GEMM of one-row (or four-term) products runs at 2/8 (5/8) of the full rate
    assert lc._blas_rate(F64, 1, 576) == full * 2 / lc._BLAS_FULL_RATE_SIDE
    assert lc._blas_rate(F64, 576, 4) == full * 5 / lc._BLAS_FULL_RATE_SIDE
    assert lc._blas_rate(F64, 7, 7) == full


def test_costs_grow_with_the_batch_and_the_adjoint_adds_back():
    layer = _layer(16, 16, 32, 3, stride=2)
    one, many = layer_costs(layer, 1, F64), layer_costs(layer, 16, F64)
    for method in one:
        assert one[method] < many[method] < 16 * one[method] + lc.CALL_UNITS * 1000
    # strided, the adjoint adds its columns back (col2im): two passes where the forward copies
    assert layer_costs(layer, 16, F64, adjoint=True)["gemm"] > many["gemm"]


def test_matrix_build_is_charged():
    layer = _layer(4, 4, 16, 3)
    cost = layer_costs(layer, 1, F64)["matrix"]
    assert cost >= lc._BUILD_UNITS_PER_ENTRY * layer.nnz_bound


def test_matrix_not_offered_beyond_memory(monkeypatch):
    monkeypatch.setattr(lc, "machine_memory", lambda: 2**20)
    costs = layer_costs(_layer(16, 16, 64, 3), 1, F64)
    assert "matrix" not in costs
    assert "gemm" in costs
