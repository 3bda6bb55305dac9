"""The im2col / GEMM and tap-by-tap engines of a layer against its explicit matrix."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convmat import MatrixTooLargeError, nn
from convmat import ResultOverflowError as nn_overflow
from convmat.nn import _gemm as lg
from convmat.nn._gemm import LayerGemm, gemm_methods
from convmat.nn._layer import Layer, layer_matrix

MODES = ("zeros", "circular", "reflect", "replicate")


@st.composite
def layers(draw: st.DrawFn) -> tuple[Layer, np.ndarray, int]:
    """A valid layer of every argument torch takes, its float64 weight and a batch size."""
    while True:
        groups = draw(st.integers(1, 3))
        c_group, per_group = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        padding = draw(
            st.one_of(
                st.tuples(st.integers(0, 3), st.integers(0, 3)),
                st.sampled_from(["same", "valid"]),
            )
        )
        if padding == "same":
            stride = (1, 1)
        mode = draw(st.sampled_from(MODES))
        seed = draw(st.integers(0, 2**16))
        w = np.random.default_rng(seed).standard_normal((groups * per_group, c_group, *k))
        try:
            layer = Layer(w, (groups * c_group, *size), stride, padding, dilation, groups, mode)
        except ValueError:
            continue  # torch refuses this one too (test_nn_torch pins which)
        return layer, w, draw(st.integers(1, 3))


def _products(layer: Layer, w: np.ndarray, batch: int, method: lg.GemmMethod, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *layer.input_shape))
    y = rng.standard_normal((batch, *layer.output_shape))
    engine = LayerGemm(layer)
    return x, y, engine.forward(w, x, method), engine.adjoint(w, y, method)


@given(spec=layers(), data=st.data())
def test_every_method_is_the_layer_matrix_and_its_transpose(spec, data):
    layer, w, batch = spec
    method = data.draw(st.sampled_from(gemm_methods(layer)))
    x, y, fwd, adj = _products(layer, w, batch, method)
    m = layer_matrix(w, layer, w.dtype, "dense")
    assert fwd.shape == (batch, *layer.output_shape)
    assert adj.shape == (batch, *layer.input_shape)
    np.testing.assert_allclose(fwd.reshape(batch, -1), x.reshape(batch, -1) @ m.T, atol=1e-12)
    np.testing.assert_allclose(adj.reshape(batch, -1), y.reshape(batch, -1) @ m, atol=1e-12)


@given(spec=layers(), data=st.data())
def test_adjoint_dot_test(spec, data):
    layer, w, batch = spec
    method = data.draw(st.sampled_from(gemm_methods(layer)))
    x, y, fwd, adj = _products(layer, w, batch, method, seed=1)
    np.testing.assert_allclose(np.vdot(fwd, y), np.vdot(x, adj), rtol=1e-11)


@pytest.mark.parametrize(
    ("dtype", "rtol"),
    [(np.float32, 1e-5), (np.float16, 2e-3), (np.complex128, 1e-12), (np.complex64, 1e-5)],
)
@pytest.mark.parametrize("method", ["gemm", "shift", "matrix", "winograd"])
def test_dtypes_follow_torch_rule_and_round_once(dtype, rtol, method):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 9, 8)).astype(dtype)
    w = rng.standard_normal((8, 1, 3, 3)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(x.shape).astype(dtype)
        w = w + 1j * rng.standard_normal(w.shape).astype(dtype)
    wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    expected = nn.conv2d(x.astype(wide), w.astype(wide), padding=1, groups=4, method="matrix")
    got = nn.conv2d(x, w, padding=1, groups=4, method=method)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    back = nn.conv_transpose2d(expected.astype(dtype), w, padding=1, groups=4, method=method)
    reference = nn.conv_transpose2d(expected, w.astype(wide), padding=1, groups=4, method="matrix")
    assert back.dtype == dtype
    np.testing.assert_allclose(back, reference, rtol=rtol, atol=rtol * np.abs(reference).max())


_INT_ARGS = {"stride": (2, 1), "padding": 1, "groups": 3, "padding_mode": "reflect"}


def _exact(x: np.ndarray, w: np.ndarray, *, transpose: bool = False) -> np.ndarray:
    """The layer (or its transpose) in Python integers: the exact reference."""
    m = nn.conv2d_matrix(w.astype(np.float64), (3, 6, 7), **_INT_ARGS, format="dense")
    m = np.rint(m).astype(np.int64).astype(object)
    flat = np.array(x, dtype=object).reshape(x.shape[0], -1)
    out = flat @ m if transpose else flat @ m.T
    return out.reshape(x.shape[0], *((3, 6, 7) if transpose else (6, 3, 8)))


@pytest.mark.parametrize("method", ["gemm", "shift", "matrix"])
@pytest.mark.parametrize(
    ("dtype", "high", "taps"),
    [(np.int8, 3, 1), (np.uint16, 10_000, 1), (np.int64, 2**40, 3), (np.int64, 2**61, 3)],
)
def test_integers_exact_through_every_method(method, dtype, high, taps):
    """Sums below 2**53 run in float64 BLAS, larger ones in int64 or exact limbs."""
    rng = np.random.default_rng(3)
    low = 0 if np.dtype(dtype).kind == "u" else -high
    x = rng.integers(low, high, (2, 3, 6, 7), dtype=dtype, endpoint=True)
    w = rng.integers(0 if low == 0 else -taps, taps, (6, 1, 3, 2), endpoint=True).astype(dtype)
    expected = _exact(x, w)
    info = np.iinfo(dtype)
    if all(info.min <= v <= info.max for v in expected.ravel()):
        got = nn.conv2d(x, w, **_INT_ARGS, method=method)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.astype(object), expected)
    else:
        with pytest.raises(nn_overflow, match="refused rather than wrapped"):
            nn.conv2d(x, w, **_INT_ARGS, method=method)
    reach = max(1, high // 4)
    y = rng.integers(-reach if low else 0, reach, (2, 6, 3, 8), endpoint=True)
    y = y.astype(dtype)
    expected_t = _exact(y, w, transpose=True)
    if all(info.min <= v <= info.max for v in expected_t.ravel()):
        got_t = nn.conv_transpose2d(y, w, **_INT_ARGS, output_padding=(1, 0), method=method)
        np.testing.assert_array_equal(got_t.astype(object), expected_t)


def test_large_int64_sums_refused_or_exact():
    x = np.full((1, 3, 6, 7), 2**61, dtype=np.int64)
    w = np.ones((6, 1, 3, 2), dtype=np.int64)
    with pytest.raises(nn_overflow, match="refused rather than wrapped"):
        nn.conv2d(x, w, **_INT_ARGS, method="gemm")
    x[:, :, :, 1::2] = -(2**61)  # columns cancel in pairs under the (3, 2) kernel
    got = nn.conv2d(x, w, **_INT_ARGS, method="gemm")
    np.testing.assert_array_equal(got.astype(object), _exact(x, w))


@pytest.mark.parametrize("method", ["gemm", "shift"])
def test_blocks_over_batch_and_rows_change_nothing(monkeypatch, method):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 4, 13, 11))
    w = rng.standard_normal((8, 1, 3, 3))
    args = {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 4}
    whole = nn.conv2d(x, w, **args, method=method)
    back = nn.conv_transpose2d(whole, w, **args, output_padding=(0, 0), method=method)
    # one row of one image per block
    monkeypatch.setattr(lg, "COLUMN_BYTES", 1)
    monkeypatch.setattr(lg, "SHIFT_BYTES", 1)
    layer = Layer(w, (4, 13, 11), (2, 1), (1, 2), (1, 2), 4, "zeros")
    spans = list(LayerGemm(layer).blocks(5, 10**6, 1))
    assert len(spans) == 5 * layer.output_shape[1]
    np.testing.assert_allclose(nn.conv2d(x, w, **args, method=method), whole, rtol=1e-13)
    np.testing.assert_allclose(
        nn.conv_transpose2d(whole, w, **args, method=method), back, rtol=1e-13, atol=1e-13
    )


def test_batch_blocks_hold_whole_images():
    layer = Layer(np.ones((2, 1, 3, 3)), (1, 8, 8), 1, 1, 1, 1, "zeros")
    spans = list(LayerGemm(layer).blocks(10, 100, 300))
    assert spans == [(0, 3, 0, 8), (3, 6, 0, 8), (6, 9, 0, 8), (9, 10, 0, 8)]


@pytest.mark.parametrize("method", ["gemm", "shift", "matrix"])
def test_empty_batches_keep_their_shape(method):
    w = np.ones((4, 1, 3, 3))
    out = nn.conv2d(np.ones((0, 4, 6, 6)), w, groups=4, stride=2, method=method)
    assert out.shape == (0, 4, 2, 2)
    back = nn.conv_transpose2d(np.ones((0, 4, 2, 2)), w, groups=4, stride=2, method=method)
    assert back.shape == (0, 4, 5, 5)


@pytest.mark.parametrize("method", ["gemm", "shift"])
def test_non_contiguous_inputs_are_read_not_written(method):
    rng = np.random.default_rng(5)
    base = rng.standard_normal((3, 8, 14, 12))
    x = base[::-1, ::2, 1::1, ::-1]  # reversed, strided views
    w = np.asfortranarray(rng.standard_normal((4, 1, 3, 3)))
    before = base.copy()
    got = nn.conv2d(x, w, padding=1, groups=4, padding_mode="circular", method=method)
    expected = nn.conv2d(
        np.ascontiguousarray(x),
        np.ascontiguousarray(w),
        padding=1,
        groups=4,
        padding_mode="circular",
        method="matrix",
    )
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
    back = nn.conv_transpose2d(got[:, :, ::-1], w, padding=1, groups=4, method=method)
    ref = nn.conv_transpose2d(
        np.ascontiguousarray(got[:, :, ::-1]), w, padding=1, groups=4, method="matrix"
    )
    np.testing.assert_allclose(back, ref, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(base, before)


def test_working_set_refused_before_allocating(monkeypatch):
    monkeypatch.setattr("convmat._core.budget.machine_memory", lambda: 2**20)
    x = np.zeros((4, 8, 64, 64))
    with pytest.raises(MatrixTooLargeError, match=r"^a layer of \(8, 64, 64\) inputs on 4 images"):
        nn.conv2d(x, np.ones((8, 8, 3, 3)), method="gemm")
    with pytest.raises(MatrixTooLargeError, match="pass fewer images per call"):
        nn.conv_transpose2d(x, np.ones((8, 8, 3, 3)), method="gemm")


class TestMethodArgument:
    def test_unknown_method(self):
        with pytest.raises(ValueError, match=r"^`method` must be one of 'auto', .* got 'fft'"):
            nn.conv2d(np.ones((1, 4, 4)), np.ones((1, 1, 3, 3)), method="fft")

    def test_shift_for_depthwise_only(self):
        with pytest.raises(ValueError, match=r"depthwise layers only .* got 2 input channels"):
            nn.conv2d(np.ones((2, 4, 4)), np.ones((1, 2, 3, 3)), method="shift")
        with pytest.raises(ValueError, match="depthwise layers only"):
            nn.conv_transpose2d(np.ones((1, 4, 4)), np.ones((1, 2, 3, 3)), method="shift")


@pytest.mark.parametrize("groups", [1, 2])
def test_pointwise_layers_are_one_channel_matmul(groups):
    rng = np.random.default_rng(6)
    w = rng.standard_normal((6, 4 // groups, 1, 1))
    layer = Layer(w, (4, 5, 7), 1, 0, 3, groups, "reflect")
    engine = LayerGemm(layer)
    assert engine.pointwise
    assert not LayerGemm(Layer(w, (4, 5, 7), 2, 0, 1, groups, "zeros")).pointwise
    assert not LayerGemm(Layer(w, (4, 5, 7), 1, 1, 1, groups, "zeros")).pointwise
    x, y, fwd, adj = _products(layer, w, 3, "gemm")
    m = layer_matrix(w, layer, w.dtype, "dense")
    np.testing.assert_allclose(fwd.reshape(3, -1), x.reshape(3, -1) @ m.T, atol=1e-13)
    np.testing.assert_allclose(adj.reshape(3, -1), y.reshape(3, -1) @ m, atol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_stride_one_adjoint_runs_as_the_transposed_convolution(mode):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((6, 2, 3, 2))
    layer = Layer(w, (4, 7, 6), 1, (1, 1), (2, 1), 2, mode)
    engine = LayerGemm(layer)
    inner = engine.transposed.layer
    assert inner.input_shape == layer.output_shape
    # zero padding's border is never computed: the adjoint lands on the input's grid
    assert engine.transposed_inside == (mode == "zeros")
    assert inner.output_shape == ((4, 7, 6) if mode == "zeros" else (4, *engine.padded))
    _, y, _, adj = _products(layer, w, 2, "gemm")
    m = layer_matrix(w, layer, w.dtype, "dense")
    np.testing.assert_allclose(adj.reshape(2, -1), y.reshape(2, -1) @ m, atol=1e-12)


@pytest.mark.parametrize("method", ["gemm", "shift"])
def test_zero_padding_beyond_the_kernel_s_extent_is_folded(method):
    """Padding wider than the kernel reaches leaves padded positions the adjoint cannot skip."""
    rng = np.random.default_rng(9)
    w = rng.standard_normal((3, 1, 3, 2))
    layer = Layer(w, (3, 6, 5), 1, (3, 1), 1, 3, "zeros")
    assert not LayerGemm(layer).transposed_inside
    _, y, _, adj = _products(layer, w, 2, method)
    m = layer_matrix(w, layer, w.dtype, "dense")
    np.testing.assert_allclose(adj.reshape(2, -1), y.reshape(2, -1) @ m, atol=1e-12)


def test_shift_on_every_core_changes_nothing(monkeypatch):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((6, 4, 15, 13))
    w = rng.standard_normal((8, 1, 3, 3))
    layer = Layer(w, (4, 15, 13), 1, 1, 1, 4, "replicate")
    y = rng.standard_normal((6, *layer.output_shape))
    engine = LayerGemm(layer)
    alone = engine.forward(w, x, "shift"), engine.adjoint(w, y, "shift")
    monkeypatch.setattr("convmat._engines.pool.PARALLEL_WORK", 0)  # planes split over the threads
    monkeypatch.setattr(lg, "SHIFT_BYTES", 1)  # one plane per block
    shared = engine.forward(w, x, "shift"), engine.adjoint(w, y, "shift")
    for a, b in zip(alone, shared, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-14, atol=1e-14)
