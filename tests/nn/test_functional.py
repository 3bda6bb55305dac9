"""convmat.nn without torch: the layer matrix, its transpose, 1x1 layers, bad arguments."""

import numpy as np
import pytest
import scipy.signal as ss
import scipy.sparse as sp

from convmat import nn


def test_one_by_one_convolution_is_a_channel_matmul():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 6, 7))
    w = rng.standard_normal((4, 5, 1, 1))
    expected = np.einsum("oc,nchw->nohw", w[:, :, 0, 0], x)
    np.testing.assert_allclose(nn.conv2d(x, w), expected, atol=1e-12)
    m = nn.conv2d_matrix(w, (5, 6, 7), format="dense")
    np.testing.assert_allclose(m, np.kron(w[:, :, 0, 0], np.eye(42)), atol=0)


def test_single_channel_layer_is_scipy_correlation():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 8, 9))
    w = rng.standard_normal((1, 1, 3, 4))
    got = nn.conv2d(x, w, padding="valid")[0]
    np.testing.assert_allclose(got, ss.correlate2d(x[0], w[0, 0], "valid"), atol=1e-12)


@pytest.mark.parametrize("mode", ["zeros", "circular", "reflect", "replicate"])
def test_matrix_reproduces_the_layer_and_its_transpose(mode):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((4, 1, 3, 2))
    b = rng.standard_normal(4)
    x = rng.standard_normal((2, 2, 7, 6))
    m = nn.conv2d_matrix(
        w, (2, 7, 6), stride=(2, 1), padding=1, dilation=(1, 2), groups=2, padding_mode=mode
    )
    assert isinstance(m, sp.csr_array)
    got = nn.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2, padding_mode=mode)
    np.testing.assert_allclose(
        got.reshape(2, -1), x.reshape(2, -1) @ m.T + np.repeat(b, got[0, 0].size), atol=1e-12
    )
    y = rng.standard_normal(got.shape)
    out_pad = (7 - ((got.shape[2] - 1) * 2 - 2 + 2 + 1), 0)
    back = nn.conv_transpose2d(
        y,
        w,
        stride=(2, 1),
        padding=1,
        output_padding=out_pad,
        groups=2,
        dilation=(1, 2),
        padding_mode=mode,
    )
    assert back.shape == x.shape
    np.testing.assert_allclose(back.reshape(2, -1), y.reshape(2, -1) @ m, atol=1e-12)


def test_unbatched_input():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    np.testing.assert_allclose(
        nn.conv2d(x, w, padding="same"), nn.conv2d(x[None], w, padding="same")[0]
    )
    assert nn.conv_transpose2d(nn.conv2d(x, w), w).shape == (2, 5, 5)


@pytest.mark.parametrize("fmt", ["dense", "csc", "coo"])
def test_formats(fmt):
    w = np.ones((1, 1, 2, 2), dtype=np.float32)
    m = nn.conv2d_matrix(w, (1, 3, 3), format=fmt)
    dense = nn.conv2d_matrix(w, (1, 3, 3), format="dense")
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m if fmt == "dense" else m.toarray(), dense)


def test_integer_layers_are_exact():
    x = np.arange(2 * 4 * 4).reshape(1, 2, 4, 4)
    w = np.arange(2 * 2 * 2 * 2).reshape(2, 2, 2, 2)
    got = nn.conv2d(x, w, bias=[1, -1])
    assert got.dtype == np.int64
    expected = np.stack(
        [sum(ss.correlate2d(x[0, c], w[o, c], "valid") for c in range(2)) for o in range(2)]
    )
    np.testing.assert_array_equal(got[0], expected + np.array([1, -1])[:, None, None])


class TestBadArguments:
    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"stride": 0}, r"`stride` must be at least 1, got 0"),
            ({"dilation": (1, 0)}, r"`dilation` must be at least 1"),
            ({"padding": -1}, r"`padding` must be non-negative, got -1"),
            ({"padding": "full"}, r"`padding` must be an int, a pair of ints, 'same' or 'valid'"),
            ({"padding": "same", "stride": 2}, r"padding='same' is not supported for strided"),
            (
                {"groups": 2},
                r"Given groups=2, expected `weight` to be divisible by 2 at dimension 0",
            ),
            ({"padding_mode": "mirror"}, r"`padding_mode` must be one of"),
            ({"padding": 6, "padding_mode": "reflect"}, r"padding_mode 'reflect'"),
            ({"dilation": 4}, r"Output size is too small"),
        ],
        ids=[
            "stride",
            "dilation",
            "negative",
            "full",
            "same-strided",
            "groups",
            "mode",
            "reflect-wide",
            "empty",
        ],
    )
    def test_conv2d(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            nn.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), **kwargs)

    def test_channels(self):
        with pytest.raises(
            ValueError,
            match=r"Given groups=1, weight of size \[3, 2, 3, 3\], expected input with 2 channels, but got 4",
        ):
            nn.conv2d(np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)))

    @pytest.mark.parametrize(
        ("weight", "match"),
        [
            (np.ones((3, 2, 3)), "`weight` must be 4-D"),
            (np.ones((3, 0, 3, 3)), "must not be empty"),
        ],
    )
    def test_weight_shape(self, weight, match):
        with pytest.raises(ValueError, match=match):
            nn.conv2d(np.ones((1, 2, 5, 5)), weight)

    def test_input_shape(self):
        with pytest.raises(ValueError, match=r"`input` must be \(N, C, H, W\)"):
            nn.conv2d(np.ones((5, 5)), np.ones((1, 1, 3, 3)))

    def test_bias_shape(self):
        with pytest.raises(ValueError, match="`bias` must have 3 entries"):
            nn.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), bias=np.ones(2))

    def test_output_padding(self):
        with pytest.raises(
            ValueError, match="output padding must be smaller than either stride or dilation"
        ):
            nn.conv_transpose2d(
                np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), stride=2, output_padding=2
            )

    def test_transposed_channels(self):
        with pytest.raises(ValueError, match="expected input with 2 channels, but got 1"):
            nn.conv_transpose2d(np.ones((1, 1, 3, 3)), np.ones((2, 1, 3, 3)))

    def test_bool_type(self):
        with pytest.raises(TypeError, match="`groups` must be a positive int"):
            nn.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), groups=True)
        with pytest.raises(TypeError, match="`stride` must be an int or a pair"):
            nn.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), stride=1.5)


class TestLikeTorch:
    @pytest.mark.parametrize("dtype", [np.float64, np.int64])
    def test_empty_batch(self, dtype):
        w = np.ones((4, 2, 3, 3), dtype)
        out = nn.conv2d(np.zeros((0, 2, 5, 5), dtype), w, stride=2, padding=1)
        assert out.shape == (0, 4, 3, 3)
        assert out.dtype == np.dtype(dtype)
        back = nn.conv_transpose2d(np.zeros((0, 4, 5, 5), dtype), w, bias=np.ones(2, dtype))
        assert back.shape == (0, 2, 7, 7)
        assert back.dtype == np.dtype(dtype)

    def test_one_element_tuples_broadcast(self):
        x = np.arange(50.0).reshape(1, 2, 5, 5)
        w = np.ones((4, 2, 3, 3))
        np.testing.assert_array_equal(
            nn.conv2d(x, w, stride=(2,), padding=(1,), dilation=(1,)),
            nn.conv2d(x, w, stride=2, padding=1, dilation=1),
        )
        np.testing.assert_array_equal(
            nn.conv_transpose2d(x[:, :2], np.ones((2, 3, 3, 3)), stride=(2,), output_padding=(1,)),
            nn.conv_transpose2d(x[:, :2], np.ones((2, 3, 3, 3)), stride=2, output_padding=1),
        )

    @pytest.mark.parametrize(
        ("groups", "error"), [(1.5, TypeError), (True, TypeError), (0, ValueError), (3, ValueError)]
    )
    def test_groups_refused_alike_by_both_layers(self, groups, error):
        w = np.ones((4, 2, 3, 3))
        with pytest.raises(error, match="groups") as forward:
            nn.conv2d(np.ones((1, 2, 5, 5)), w, groups=groups)
        with pytest.raises(error, match="groups") as transposed:
            nn.conv_transpose2d(np.ones((1, 4, 5, 5)), w, groups=groups)
        assert type(forward.value) is type(transposed.value)
        assert str(forward.value) == str(transposed.value)

    def test_bool_layers_refused_as_value_errors_too(self):
        x = np.ones((1, 1, 3, 3), bool)
        with pytest.raises(ValueError, match="boolean"):
            nn.conv2d(x, np.ones((1, 1, 2, 2), bool))
        with pytest.raises(TypeError, match="boolean"):
            nn.conv_transpose2d(x, np.ones((1, 1, 2, 2), bool))

    def test_output_too_small_refused(self):
        with pytest.raises(ValueError, match="Output size is too small"):
            nn.conv_transpose2d(np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)), padding=1)

    @pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dense"])
    def test_matrix_format_is_the_one_asked_for(self, fmt):
        m = nn.conv2d_matrix(np.ones((2, 1, 3, 3)), (1, 5, 5), format=fmt)
        if fmt == "dense":
            assert isinstance(m, np.ndarray)
        else:
            assert m.format == fmt


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["auto", "gemm", "matrix", "shift"])
def test_a_sum_beyond_the_dtype_s_range_is_inf_without_a_warning(method, dtype):
    """As torch gives it, silently (the test run turns any warning into an error)."""
    x = np.full((1, 2, 5, 5), np.finfo(dtype).max / 2, dtype=dtype)
    w = np.ones((2, 1, 3, 3), dtype=dtype)  # depthwise: every method serves it
    out = nn.conv2d(x, w, bias=np.ones(2, dtype), padding=1, groups=2, method=method)
    assert out.dtype == dtype
    assert np.isposinf(out).all()
    back = nn.conv_transpose2d(out[:, :, 1:-1, 1:-1], w, groups=2, method=method)
    assert np.isposinf(back).all()


@pytest.mark.parametrize(
    ("mode", "pad", "accepted"),
    [("reflect", 3, True), ("reflect", 4, False), ("circular", 4, True), ("circular", 5, False)],
)
def test_padding_mode_limits_are_torch_s(mode, pad, accepted):
    """torch's limits on an input side of 4: 'reflect' pads less than the side, 'circular'
    wraps around at most once (a pad equal to the side is allowed)."""
    x = np.arange(32.0).reshape(1, 2, 4, 4)
    w = np.ones((1, 2, 1, 1))
    if accepted:
        assert nn.conv2d(x, w, padding=pad, padding_mode=mode).shape == (
            1,
            1,
            4 + 2 * pad,
            4 + 2 * pad,
        )
        return
    expected = {
        "reflect": rf"^padding_mode 'reflect': padding \({pad}, {pad}\) must be smaller than the "
        r"input dimension 4$",
        "circular": rf"^padding_mode 'circular': padding \({pad}, {pad}\) wraps around an input "
        r"dimension of 4 more than once$",
    }[mode]
    with pytest.raises(ValueError, match=expected):
        nn.conv2d(x, w, padding=pad, padding_mode=mode)


def test_weight_messages_name_the_weight():
    with pytest.raises(ValueError, match=r"^`weight` must be 4-D \(out_channels, in_channels"):
        nn.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3)))
    with pytest.raises(ValueError, match=r"^`weight` must not be empty"):
        nn.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 0, 3, 3)))


def test_layer_matrices_index_in_int32_while_they_can():
    """scipy's own choice for a matrix this size (its ``nnz`` is well above 62)."""
    m = nn.conv2d_matrix(np.ones((4, 3, 3, 3)), (3, 16, 16), padding=1)
    assert m.nnz > 2**6
    assert m.indices.dtype == np.int32
    assert m.indptr.dtype == np.int32


def test_an_integer_bias_past_2_53_is_added_exactly():
    """Partial sums below 2**53 and a bias that takes the result above it: exact (a float
    sum would round 3 * 2**52 + 1 to an even number)."""
    x = np.ones((1, 1, 1, 1), dtype=np.int64)
    w = np.full((1, 1, 1, 1), 2**53 - 1, dtype=np.int64)
    b = np.array([2**52 + 2], dtype=np.int64)
    out = nn.conv2d(x, w, bias=b)
    assert int(out[0, 0, 0, 0]) == 3 * 2**52 + 1


def test_non_finite_data_that_also_overflows_is_quiet():
    """NaN in the data and a sum beyond float64's range: NaN and inf, no warning."""
    x = np.full((1, 1, 4, 4), np.finfo(np.float64).max / 2)
    x[0, 0, 0, 0] = np.nan
    out = nn.conv2d(x, np.ones((1, 1, 2, 2)))
    assert np.isnan(out[0, 0, 0, 0])
    assert np.isposinf(out[0, 0, 2, 2])
