"""convmat.nn against torch.nn.functional on the CPU in float64, and torch autograd.

torch is optional: these tests skip with a reason where it is not installed,
and fail instead when CONVMAT_REQUIRE_TORCH is set (as CI sets it).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import convmat
from convmat import nn

try:
    import torch
except ImportError:
    if os.environ.get("CONVMAT_REQUIRE_TORCH"):
        raise
    pytest.skip(
        "torch is not installed (pip install torch==2.13.0 for the CPU build)",
        allow_module_level=True,
    )

import torch.nn.functional as F

MODES = ("zeros", "circular", "reflect", "replicate")


@st.composite
def layers(draw: st.DrawFn) -> dict:
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(
        st.one_of(
            st.integers(0, 3),
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
            st.sampled_from(["same", "valid"]),
        )
    )
    if padding == "same":
        stride = (1, 1)
    return {
        "groups": groups,
        "c_in": c_in,
        "c_out": c_out,
        "k": k,
        "size": size,
        "stride": stride,
        "dilation": dilation,
        "padding": padding,
        "mode": draw(st.sampled_from(MODES)),
        "bias": draw(st.booleans()),
        "batch": draw(st.integers(1, 2)),
        "seed": draw(st.integers(0, 2**16)),
        # 'shift' serves depthwise layers only: elsewhere it is drawn as 'gemm'
        "method": draw(st.sampled_from(["auto", "gemm", "shift", "matrix"]))
        if c_in == groups
        else draw(st.sampled_from(["auto", "gemm", "matrix"])),
    }


def _torch_conv(x, w, b, spec):
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    bt = None if b is None else torch.from_numpy(b)
    if spec["mode"] == "zeros":
        return F.conv2d(
            xt, wt, bt, spec["stride"], spec["padding"], spec["dilation"], spec["groups"]
        )
    layer = torch.nn.Conv2d(
        spec["c_in"],
        spec["c_out"],
        spec["k"],
        spec["stride"],
        spec["padding"],
        spec["dilation"],
        spec["groups"],
        b is not None,
        padding_mode=spec["mode"],
        dtype=torch.float64,
    )
    with torch.no_grad():
        layer.weight.copy_(wt)
        if b is not None:
            layer.bias.copy_(bt)
    return layer(xt)


def _torch_or_none(x: np.ndarray, w: np.ndarray, spec: dict) -> np.ndarray | None:
    """torch's layer without bias, or None where torch refuses it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's note on even 'same' kernels
            return _torch_conv(x, w, None, spec).detach().numpy()
    except RuntimeError:
        return None


@given(spec=layers())
def test_conv2d_matches_torch(spec):
    rng = np.random.default_rng(spec["seed"])
    x = rng.standard_normal((spec["batch"], spec["c_in"], *spec["size"]))
    w = rng.standard_normal((spec["c_out"], spec["c_in"] // spec["groups"], *spec["k"]))
    b = rng.standard_normal(spec["c_out"]) if spec["bias"] else None
    args = (spec["stride"], spec["padding"], spec["dilation"], spec["groups"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's note on even 'same' kernels
            expected = _torch_conv(x, w, b, spec).detach().numpy()
    except RuntimeError:
        # torch refuses (empty output, padding wider than the input): so must we
        with pytest.raises(ValueError, match=r"\w"):
            nn.conv2d(x, w, b, *args, padding_mode=spec["mode"], method=spec["method"])
        return
    got = nn.conv2d(x, w, b, *args, padding_mode=spec["mode"], method=spec["method"])
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@given(spec=layers(), extra=st.tuples(st.integers(0, 2), st.integers(0, 2)))
def test_conv_transpose2d_matches_torch(spec, extra):
    assume(spec["padding"] not in ("same", "valid"))
    rng = np.random.default_rng(spec["seed"])
    s, d = spec["stride"], spec["dilation"]
    out_pad = tuple(min(e, max(si, di) - 1) for e, si, di in zip(extra, s, d, strict=True))
    y = rng.standard_normal((spec["batch"], spec["c_in"], *spec["size"]))
    w = rng.standard_normal((spec["c_in"], spec["c_out"] // spec["groups"], *spec["k"]))
    b = rng.standard_normal(spec["c_out"]) if spec["bias"] else None
    args = (s, spec["padding"], out_pad, spec["groups"], d)
    # the transposed layer is depthwise when each group has one output channel
    depthwise = spec["c_out"] == spec["groups"]
    method = spec["method"] if depthwise or spec["method"] != "shift" else "gemm"
    bt = None if b is None else torch.from_numpy(b)
    try:
        expected = F.conv_transpose2d(torch.from_numpy(y), torch.from_numpy(w), bt, *args).numpy()
    except RuntimeError:
        with pytest.raises(ValueError, match=r"\w"):
            nn.conv_transpose2d(y, w, b, *args, method=method)
        return
    got = nn.conv_transpose2d(y, w, b, *args, method=method)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("stride", "padding", "dilation"), [(1, 1, 1), (2, 1, 1), ((2, 1), (2, 0), (1, 2))]
)
def test_transpose_is_the_input_gradient(mode, stride, padding, dilation):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 8, dtype=torch.float64, requires_grad=True)
    layer = torch.nn.Conv2d(
        4,
        6,
        3,
        stride,
        padding,
        dilation,
        groups=2,
        bias=False,
        padding_mode=mode,
        dtype=torch.float64,
    )
    out = layer(x)
    grad = torch.randn_like(out)
    out.backward(grad)
    s = (stride, stride) if isinstance(stride, int) else stride
    p = (padding, padding) if isinstance(padding, int) else padding
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    # the output_padding that gives back the input's size
    out_pad = tuple(
        x.shape[2 + a] - ((out.shape[2 + a] - 1) * s[a] - 2 * p[a] + d[a] * 2 + 1) for a in range(2)
    )
    got = nn.conv_transpose2d(
        grad.numpy(),
        layer.weight.detach().numpy(),
        stride=s,
        padding=p,
        output_padding=out_pad,
        groups=2,
        dilation=d,
        padding_mode=mode,
    )
    np.testing.assert_allclose(got, x.grad.numpy(), rtol=1e-12, atol=1e-12)


@given(
    spec=layers(),
    where=st.lists(
        st.tuples(st.booleans(), st.integers(0, 999), st.sampled_from([np.nan, np.inf, -np.inf])),
        min_size=1,
        max_size=2,
    ),
)
def test_non_finite_weights_and_inputs_land_where_torch_puts_them(spec, where):
    """Every method, 'matrix' included, sums every tap against every position, zero
    padding too: ``inf * 0`` is NaN, as in torch."""
    rng = np.random.default_rng(spec["seed"])
    x = rng.standard_normal((spec["batch"], spec["c_in"], *spec["size"]))
    w = rng.standard_normal((spec["c_out"], spec["c_in"] // spec["groups"], *spec["k"]))
    for in_weight, at, value in where:
        target = w if in_weight else x
        target.flat[at % target.size] = value
    args = (spec["stride"], spec["padding"], spec["dilation"], spec["groups"])
    expected = _torch_or_none(x, w, spec)
    if expected is None:
        return  # a layer torch refuses: test_conv2d_matches_torch pins the refusal
    got = nn.conv2d(x, w, None, *args, padding_mode=spec["mode"], method=spec["method"])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-12, atol=1e-12)


def test_an_infinite_weight_times_the_zero_padding_is_nan_with_the_matrix_method():
    w = np.ones((1, 1, 3, 3))
    w[0, 0, 0, 0] = np.inf
    x = np.ones((1, 1, 4, 4))
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    assert np.isnan(expected).sum() == 7  # the first row and column read the padding
    for method in ("matrix", "gemm", "auto"):
        got = nn.conv2d(x, w, padding=1, method=method)
        np.testing.assert_array_equal(got, expected)


GRAD_CALLS = {
    "conv2d image": lambda t: convmat.conv2d(t, np.ones((2, 2))),
    "conv2d kernel": lambda t: convmat.conv2d(np.ones((5, 5)), t),
    "convolve": lambda t: convmat.convolve(t, np.ones(2)),
    "nn.conv2d": lambda t: nn.conv2d(t[None, None], np.ones((1, 1, 2, 2))),
    "nn.conv2d weight": lambda t: nn.conv2d(np.ones((1, 1, 5, 5)), t[None, None]),
    "ConvOperator call": lambda t: convmat.ConvOperator(np.ones((2, 2)), (5, 5))(t),  # noqa: PLW0108
    "ConvOperator @": lambda t: convmat.ConvOperator(np.ones((2, 2)), (5, 5)) @ t.reshape(-1),
    "ConvOperator.T @": lambda t: convmat.ConvOperator(np.ones((2, 2)), (4, 4)).T @ t.reshape(-1),
    "ConvOperator kernel": lambda t: convmat.ConvOperator(t, (5, 5)),
    "deconvolve2d": lambda t: convmat.deconvolve2d(t, np.ones((2, 2)) / 4),
}


@pytest.mark.parametrize("call", GRAD_CALLS.values(), ids=GRAD_CALLS.keys())
def test_a_tensor_that_requires_grad_is_refused_naming_the_argument(call):
    t = torch.ones(5, 5, dtype=torch.float64, requires_grad=True)
    with pytest.raises(
        TypeError, match=r"`\w+` is a torch tensor that requires grad.*\.detach\(\)"
    ):
        call(t)
    call(t.detach())  # the way out the message gives works


def test_every_scipy_entry_point_of_an_operator_names_its_argument():
    op = convmat.ConvOperator(np.ones((2, 2)), (3, 3))
    column = torch.ones(9, 2, dtype=torch.float64, requires_grad=True)
    calls = (
        (op.matmat, "X"),
        (op.rmatmat, "X"),
        (op.matvec, "x"),
        (op.rmatvec, "x"),
        (op.dot, "x"),
    )
    for call, name in calls:
        arg = column if name == "X" else column[:, 0]
        if call in (op.rmatmat, op.rmatvec):
            arg = torch.ones(16, *arg.shape[1:], dtype=torch.float64, requires_grad=True)
        with pytest.raises(TypeError, match=rf"^`{name}` is a torch tensor that requires grad"):
            call(arg)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
@pytest.mark.parametrize("batched", [True, False])
def test_tensors_in_give_tensors_out_of_the_same_dtype(dtype, batched):
    """Tensors in, a CPU tensor out, equal to torch's; numpy in, numpy out."""
    torch.manual_seed(1)
    x = torch.randint(-3, 4, (2, 4, 9, 8)).to(dtype)
    w = torch.randint(-3, 4, (6, 2, 3, 3)).to(dtype)
    b = torch.randint(-3, 4, (6,)).to(dtype)
    x = x if batched else x[0]
    got = nn.conv2d(x, w, b, padding=1, groups=2)
    assert isinstance(got, torch.Tensor)
    assert got.dtype == dtype
    assert got.device.type == "cpu"
    if dtype != torch.int64:  # torch's CPU convolution has no integer kernel
        torch.testing.assert_close(got, F.conv2d(x, w, b, padding=1, groups=2))
    np.testing.assert_array_equal(
        got.numpy(), nn.conv2d(x.numpy(), w.numpy(), b.numpy(), padding=1, groups=2)
    )
    back = nn.conv_transpose2d(got, w, None, 1, 1, groups=2)
    assert isinstance(back, torch.Tensor)
    assert back.dtype == dtype
    assert tuple(back.shape) == tuple(x.shape)
    assert isinstance(nn.conv2d(x.numpy(), w, padding=1, groups=2), np.ndarray)


def test_a_tensor_result_shares_the_result_s_memory_and_the_input_is_read_in_place(monkeypatch):
    """No copy on the way in (numpy views the tensor) nor on the way out (from_numpy)."""
    from convmat.nn import _functional as fn

    x = torch.randn(2, 3, 6, 6)[:, :, ::2]  # a strided view, not contiguous
    w = torch.randn(4, 3, 1, 1)
    seen = {}
    apply = fn._apply_layer

    def spy(product, w_, x_, *args, **kwargs):
        seen["input"] = x_
        out = apply(product, w_, x_, *args, **kwargs)
        seen["output"] = out
        return out

    monkeypatch.setattr(fn, "_apply_layer", spy)
    x_before = x.clone()
    got = nn.conv2d(x, w)
    assert np.shares_memory(seen["input"], x.numpy())
    assert np.shares_memory(got.numpy(), seen["output"])
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)  # never written


@given(spec=layers())
def test_float32_layers_match_torch_to_single_precision(spec):
    """The parity of the float64 test, in float32, with a tolerance scaled by the sum's terms."""
    rng = np.random.default_rng(spec["seed"])
    x = rng.standard_normal((spec["batch"], spec["c_in"], *spec["size"])).astype(np.float32)
    w = rng.standard_normal((spec["c_out"], spec["c_in"] // spec["groups"], *spec["k"]))
    w = w.astype(np.float32)
    args = (spec["stride"], spec["padding"], spec["dilation"], spec["groups"])
    expected = _torch_or_none(x, w, spec)
    if expected is None:
        return  # a layer torch refuses: test_conv2d_matches_torch pins the refusal
    got = nn.conv2d(torch.from_numpy(x), w, None, *args, padding_mode=spec["mode"])
    assert got.dtype == torch.float32
    terms = w[0].size
    tol = 4 * terms * np.finfo(np.float32).eps * float(np.abs(x).max() * np.abs(w).max())
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=tol)


@given(spec=layers())
def test_winograd_matches_torch_both_ways(spec):
    """The layers of test_conv2d_matches_torch made 3x3, stride 1, undilated, by Winograd."""
    spec = {**spec, "k": (3, 3), "stride": (1, 1), "dilation": (1, 1)}
    rng = np.random.default_rng(spec["seed"])
    x = rng.standard_normal((spec["batch"], spec["c_in"], *spec["size"]))
    w = rng.standard_normal((spec["c_out"], spec["c_in"] // spec["groups"], 3, 3))
    b = rng.standard_normal(spec["c_out"]) if spec["bias"] else None
    expected = _torch_or_none(x, w, spec)
    if expected is None:
        return  # a layer torch refuses: test_conv2d_matches_torch pins the refusal
    args = (1, spec["padding"], 1, spec["groups"])
    got = nn.conv2d(x, w, b, *args, padding_mode=spec["mode"], method="winograd")
    if b is not None:
        expected = expected + b[:, None, None]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    pad = spec["padding"]
    if isinstance(pad, str):
        return  # conv_transpose2d takes integer padding only, as torch's
    y = rng.standard_normal(expected.shape)
    back = nn.conv_transpose2d(y, w, None, 1, pad, 0, spec["groups"], method="winograd")
    ref = F.conv_transpose2d(
        torch.from_numpy(y), torch.from_numpy(w), None, 1, pad, 0, spec["groups"]
    )
    np.testing.assert_allclose(back, ref.numpy(), rtol=1e-12, atol=1e-12)
