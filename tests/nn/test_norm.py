"""The operator norm of a conv layer, against LAPACK on the layer matrix, and its FFT engine."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg
from hypothesis import given
from hypothesis import strategies as st

from convmat import nn
from convmat.nn._fft import LayerFFT
from convmat.nn._layer import Layer

MODES = ("zeros", "circular", "reflect", "replicate")


def _weight(shape, complex_=False, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape)
    return w + 1j * rng.standard_normal(shape) if complex_ else w


def _layer_args(padding_mode, stride, padding, dilation, groups):
    return {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": padding_mode,
    }


@pytest.mark.parametrize("padding_mode", MODES)
@pytest.mark.parametrize(
    ("stride", "padding"),
    [(1, 0), (1, 1), (1, 2), (1, "same"), (2, 0), (2, 1), (2, 2)],  # torch: 'same' needs stride 1
    ids=str,
)
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("shape", [(6, 7, 5), (6, 13, 15)], ids=str)
def test_norm_equals_lapack(padding_mode, stride, padding, dilation, groups, shape):
    """Small layers take the dense SVD, larger ones Lanczos; circular 'same' the closed form."""
    w = _weight((4, 6 // groups, 3, 2))
    args = _layer_args(padding_mode, stride, padding, dilation, groups)
    try:
        matrix = nn.conv2d_matrix(w, shape, format="dense", **args)
    except ValueError as err:  # padding too large for the mode, or an empty output
        with pytest.raises(ValueError, match=str(err)[:20]):
            nn.conv2d_spectral_norm(w, shape, **args)
        return
    ref = np.linalg.norm(matrix, 2)
    assert nn.conv2d_spectral_norm(w, shape, **args) == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("padding_mode", MODES)
def test_complex_weights(padding_mode):
    w = _weight((3, 2, 3, 3), complex_=True, seed=3)
    for shape in [(2, 6, 7), (2, 16, 17)]:
        matrix = nn.conv2d_matrix(w, shape, padding=1, padding_mode=padding_mode, format="dense")
        got = nn.conv2d_spectral_norm(w, shape, padding=1, padding_mode=padding_mode)
        assert got == pytest.approx(np.linalg.norm(matrix, 2), rel=1e-6)


def test_grouped_layer_is_the_largest_group():
    w = _weight((6, 1, 3, 3), seed=4)
    w[2:4] *= 5  # the second group dominates
    norm = nn.conv2d_spectral_norm(w, (3, 30, 30), padding=1, groups=3)
    alone = nn.conv2d_spectral_norm(w[2:4], (1, 30, 30), padding=1)
    assert norm == alone


def test_circular_closed_form_against_svds():
    w = _weight((8, 8, 3, 3), seed=5)
    matrix = nn.conv2d_matrix(w, (8, 24, 24), padding=1, padding_mode="circular")
    ref = scipy.sparse.linalg.svds(matrix, k=1, return_singular_vectors=False, tol=1e-12)[0]
    norm = nn.conv2d_spectral_norm(w, (8, 24, 24), padding=1, padding_mode="circular")
    assert norm == pytest.approx(ref, rel=1e-10)


def test_norm_exceeds_the_reshaped_weight_norm():
    w = _weight((16, 16, 3, 3), seed=6)
    norm = nn.conv2d_spectral_norm(w, (16, 32, 32), padding=1)
    assert norm > np.linalg.norm(w.reshape(16, -1), 2)


def test_zero_weights_and_no_mutation():
    assert nn.conv2d_spectral_norm(np.zeros((2, 2, 3, 3)), (2, 40, 40)) == 0.0
    w = _weight((2, 2, 3, 3))
    before = w.copy()
    nn.conv2d_spectral_norm(w, (2, 40, 40), padding=1)
    np.testing.assert_array_equal(w, before)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"rtol": 0.0}, ValueError, "`rtol`"),
        ({"stride": 0}, ValueError, "`stride`"),
        ({"groups": 4}, ValueError, "groups"),
        ({"padding_mode": "bad"}, ValueError, "`padding_mode`"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        nn.conv2d_spectral_norm(np.ones((2, 2, 3, 3)), (2, 8, 8), **kwargs)


def test_input_shape_needs_channels():
    with pytest.raises(ValueError, match="input_shape"):
        nn.conv2d_spectral_norm(np.ones((2, 2, 3, 3)), (8, 8))


@given(
    st.sampled_from(MODES),
    st.integers(1, 3),
    st.integers(0, 2),
    st.integers(1, 2),
    st.integers(4, 12),
    st.integers(4, 12),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_fft_engine_equals_the_layer_matrix(mode, stride, pad, dilation, h, w, complex_, seed):
    """The FFT engine's A and A^H against the sparse matrix, and the adjoint dot test."""
    weight = _weight((3, 2, 3, 2), complex_, seed)
    try:
        layer = Layer(weight, (2, h, w), stride, pad, dilation, 1, mode)
    except ValueError:
        return
    matrix = nn.conv2d_matrix(weight, (2, h, w), stride, pad, dilation, padding_mode=mode)
    engine = LayerFFT(layer, weight)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(matrix.shape[1])
    y = rng.standard_normal(matrix.shape[0])
    scale = np.abs(weight).sum() * 1e-12
    np.testing.assert_allclose(engine.forward(x), matrix @ x, atol=scale * np.abs(x).max())
    np.testing.assert_allclose(
        engine.adjoint(y), matrix.T.conj() @ y, atol=scale * np.abs(y).max() * 4
    )
    lhs, rhs = np.vdot(y, engine.forward(x)), np.vdot(engine.adjoint(y), x)
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-10)
    # the Gram products run channels last: the same operator with its coordinates permuted
    c_out, h_out, w_out = layer.output_shape
    last_in = x.reshape(2, h, w).transpose(1, 2, 0).ravel()
    last_out = y.reshape(c_out, h_out, w_out).transpose(1, 2, 0).ravel()
    gram_in = (matrix.T.conj() @ (matrix @ x)).reshape(2, h, w).transpose(1, 2, 0).ravel()
    gram_out = (matrix @ (matrix.T.conj() @ y)).reshape(c_out, h_out, w_out)
    bound = scale * np.abs(weight).sum() * max(np.abs(x).max(), np.abs(y).max()) * 8
    np.testing.assert_allclose(engine.gram(last_in, input_side=True), gram_in, atol=bound)
    np.testing.assert_allclose(
        engine.gram(last_out, input_side=False), gram_out.transpose(1, 2, 0).ravel(), atol=bound
    )


def test_working_set_is_refused_first(monkeypatch):
    import convmat

    monkeypatch.setattr("convmat._core.budget.machine_memory", lambda: 2**20)
    # Lanczos: the transfer matrices twice, 24 vectors of the smaller side and the
    # transforms of both sides, complex, on the padded grid of 68 x 68
    need = 2 * 64 * 68**2 * 16 + 24 * 8 * 64**2 * 16 + 4 * 16 * 68**2 * 16
    with pytest.raises(
        convmat.MatrixTooLargeError,
        match=rf"^Lanczos on a layer of \(8, 64, 64\) inputs needs about {need:,} bytes .*"
        r": use a smaller input_shape, or raise the budget with convmat\.set_max_working_bytes\(\)$",
    ):
        nn.conv2d_spectral_norm(np.ones((8, 8, 3, 3)), (8, 64, 64), padding=1)
    need = 3 * 8 * 8 * 64**2 * 16  # the folded kernels, their transform and its transpose
    with pytest.raises(
        convmat.MatrixTooLargeError,
        match=rf"^the per-frequency transfer matrices .* needs about {need:,} bytes .*"
        r": use a smaller input_shape, or raise the budget with convmat\.set_max_working_bytes\(\)$",
    ):
        nn.conv2d_spectral_norm(
            np.ones((8, 8, 3, 3)), (8, 64, 64), padding=1, padding_mode="circular"
        )


@pytest.mark.parametrize(
    "call",
    [
        lambda shape: nn.conv2d_spectral_norm(np.ones((2, 3, 3, 3)), shape),
        lambda shape: nn.conv2d_matrix(np.ones((2, 3, 3, 3)), shape),
    ],
)
def test_an_input_shape_with_a_batch_axis_is_refused_saying_what_it_holds(call):
    with pytest.raises(ValueError, match=r"3 entries \(C, H, W: .*without the batch axis\)"):
        call((8, 3, 16, 16))
    assert call((3, 16, 16)) is not None


def test_circular_closed_form_adds_the_taps_that_wrap_onto_one_position():
    """Dilation 2 on a grid of 4: taps 0 and 2 of each axis land on one position and add
    up in the transfer matrices (keeping only the last of them gives another norm)."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((2, 3, 3, 3)) + 0.5
    kwargs = {"padding": 2, "dilation": 2, "padding_mode": "circular"}
    dense = nn.conv2d_matrix(w, (3, 4, 4), format="dense", **kwargs)
    assert dense.shape == (2 * 16, 3 * 16)  # size-keeping: the closed form applies
    expected = np.linalg.norm(dense, 2)
    assert nn.conv2d_spectral_norm(w, (3, 4, 4), **kwargs) == pytest.approx(expected, rel=1e-12)


def test_circular_closed_form_reads_each_axis_with_its_own_dilation_and_size():
    """A non-square input and a dilation that differs per axis (3 on a side of 6: taps 0
    and 2 wrap onto one row): the closed form equals the dense matrix's norm (one axis's
    dilation or size used for the other gives another, or fails)."""
    w = np.random.default_rng(3).standard_normal((2, 3, 3, 3))
    kwargs = {"padding": (3, 1), "dilation": (3, 1), "padding_mode": "circular"}
    dense = nn.conv2d_matrix(w, (3, 6, 7), format="dense", **kwargs)
    assert dense.shape == (2 * 42, 3 * 42)  # size-keeping: the closed form applies
    expected = np.linalg.norm(dense, 2)
    assert nn.conv2d_spectral_norm(w, (3, 6, 7), **kwargs) == pytest.approx(expected, rel=1e-12)
