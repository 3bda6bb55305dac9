"""The argument checks shared by every public function: messages that name what they got."""

from __future__ import annotations

import numpy as np
import pytest

import convmat
from convmat._core.validate import (
    check_blur_model,
    check_callable,
    check_channel_axis,
    check_choice,
    check_finite,
    check_flag,
    check_fraction,
    check_positive_real,
    check_real,
    check_tensor,
    check_weight,
    is_tensor,
    keyword_only_hint,
    short_repr,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("a" * 58, repr("a" * 58)),  # 60 characters with the quotes: kept whole
        ("a" * 59, repr("a" * 59)[:57] + "..."),  # 61: cut to 57 and an ellipsis
        (list(range(40)), repr(list(range(40)))[:57] + "..."),
    ],
)
def test_a_long_value_is_cut_to_sixty_characters(value, text):
    assert short_repr(value) == text
    assert len(short_repr(value)) <= 60


def test_keyword_only_options_passed_positionally_are_named():
    @keyword_only_hint
    def blur(image, kernel, mode="full", *, method="auto", rtol=None):
        return image, kernel, mode, method, rtol

    assert blur(1, 2, "same", method="fft") == (1, 2, "same", "fft", None)
    with pytest.raises(TypeError) as info:
        blur(1, 2, "same", "fft")
    assert str(info.value).split("<locals>.")[-1] == (
        "blur() takes at most 3 positional arguments (image, kernel, mode), got 4: "
        "`method`, `rtol` are keyword-only; pass e.g. method='fft'"
    )


def test_a_method_counts_its_arguments_without_self():
    class Operator:
        @keyword_only_hint
        def __init__(self, kernel, shape, *, method="auto"):
            self.method = method

    assert Operator(1, 2, method="fft").method == "fft"
    with pytest.raises(TypeError) as info:
        Operator(1, 2, "fft")
    assert str(info.value).split("<locals>.")[-1] == (
        "Operator() takes at most 2 "
        "positional arguments (kernel, shape), got 3: `method` is keyword-only; "
        "pass e.g. method='fft'"
    )


def test_a_function_without_keyword_only_options_is_left_alone():
    def plain(a, b=1):
        return a + b

    assert keyword_only_hint(plain) is plain


def test_a_tensor_on_another_device_is_refused_with_the_way_to_pass_it():
    """Without a GPU: an object that looks to check_tensor like a CUDA tensor."""

    class Device:
        type = "cuda"

        def __str__(self) -> str:
            return "cuda:0"

    class Tensor:
        requires_grad = False
        device = Device()

    Tensor.__module__ = "torch.fake"
    with pytest.raises(
        convmat.DTypeError,
        match=r"^`image` is a torch tensor on device cuda:0, which numpy cannot read: "
        r"pass `image.cpu\(\)`$",
    ):
        check_tensor(Tensor(), "image")


class TestMessagesWithoutData:
    """Arrays and tensors are named by type, shape and dtype in messages, never printed."""

    def test_an_array_is_described_not_printed(self):
        from convmat._core.validate import short_repr

        text = short_repr(np.arange(10_000.0).reshape(100, 100))
        assert text == "numpy.ndarray of shape (100, 100) and dtype float64"
        assert short_repr(np.float64(2.5)) == "np.float64(2.5)"
        assert short_repr(np.array([3])) == "array([3])"  # one element: its value
        assert short_repr("x" * 100).endswith("...")

    def test_a_bfloat16_tensor_is_named_with_its_way_out(self):
        torch = pytest.importorskip("torch", reason="torch is optional (the CPU build)")
        t = torch.randn(40, 50, dtype=torch.bfloat16)
        with pytest.raises(
            TypeError,
            match=r"`image`.*torch.Tensor of shape \(40, 50\).*bfloat16.*pass `image.float\(\)`",
        ) as info:
            convmat.conv2d(t, np.ones((2, 2)))
        assert "tensor(" not in str(info.value)

    def test_reprs_fit_a_screen(self):
        s = convmat.toeplitz_blocks(np.ones((3, 3)), (200, 200))
        assert repr(s) == (
            "BlockStructure(blocks=<array of shape (3, 202, 200), dtype float64>, "
            "placement=<array of shape (3, 202, 200), dtype int64>, "
            "layout=<array of shape (202, 200), dtype int64>)"
        )
        small = convmat.toeplitz_blocks([[1, 2]], (1, 2))
        assert (
            repr(small)
            == "BlockStructure(blocks=[[[1, 0], [2, 1], [0, 2]]], placement=[[[1]]], layout=[[0]])"
        )
        _, info = convmat.deconvolve2d(
            np.ones((64, 64)), np.full((3, 3), 1 / 9), reg=1e-2, return_info=True
        )
        text = repr(info)
        assert text.startswith("DeconvolutionInfo(solver='admm', reg=0.01, ")
        assert "scene=<array of shape (66, 66), dtype float64>" in text
        assert len(text) < 250


class TestTooLargeAdvice:
    def test_a_sparse_way_out_only_where_the_sparse_matrix_fits(self):
        with pytest.raises(convmat.MatrixTooLargeError, match='pass format="csr"'):
            convmat.conv_matrix(np.ones((5, 5)), (4096, 4096), format="dense")
        with pytest.raises(convmat.MatrixTooLargeError) as info:
            convmat.conv_matrix(np.ones((5, 5)), (100_000, 100_000), format="dense")
        assert 'format="csr"' not in str(info.value)
        assert "the sparse one cannot be built here either" in str(info.value)
        assert "convmat.ConvOperator(kernel, input_shape, mode, boundary)" in str(info.value)

    def test_a_sparse_matrix_beyond_memory_names_the_operator(self):
        with pytest.raises(convmat.MatrixTooLargeError, match=r"convmat\.ConvOperator"):
            convmat.conv_matrix(np.ones((5, 5)), (100_000, 100_000), format="csr")


@pytest.mark.parametrize(
    ("value", "zero", "error", "match"),
    [
        (True, False, TypeError, "`x` must be a real number, got True"),
        ("1", False, TypeError, "`x` must be a real number, got '1'"),
        (1 + 0j, False, TypeError, "`x` must be a real number"),
        (0, False, ValueError, "`x` must be a finite real number > 0, got 0"),
        (-1.0, True, ValueError, "`x` must be a finite real number >= 0, got -1.0"),
        (float("inf"), False, ValueError, "> 0, got inf"),
        (float("nan"), True, ValueError, ">= 0, got nan"),
    ],
)
def test_a_positive_real_is_refused_with_its_name(value, zero, error, match):
    with pytest.raises(error, match=match):
        check_positive_real(value, "x", zero=zero)


def test_a_positive_real_comes_back_as_a_float():
    assert check_positive_real(np.float32(2.5), "x") == 2.5
    assert type(check_positive_real(3, "x")) is float
    assert check_positive_real(0, "x", zero=True) == 0.0


@pytest.mark.parametrize(
    ("check", "value", "error", "match"),
    [
        (
            lambda v: check_fraction(v, "tol"),
            1.0,
            ValueError,
            r"^`tol` must be in \(0, 1\), got 1.0$",
        ),
        (lambda v: check_fraction(v, "tol"), 0.0, ValueError, r"^`tol` must be a finite real"),
        (lambda v: check_fraction(v, "tol"), "x", TypeError, r"^`tol` must be a real number"),
        (lambda v: check_flag(v, "verbose"), 1, TypeError, r"^`verbose` must be a bool, got 1$"),
        (lambda v: check_callable(v, "callback"), 3, TypeError, r"^`callback` must be callable"),
        (
            lambda v: check_choice(v, "prior", ("a", "b")),
            "A",
            ValueError,
            r"^`prior` must be one of 'a', 'b', got 'A'$",
        ),
        (lambda v: check_choice(v, "prior", ("a", "b")), 1, ValueError, r"got 1$"),
        (
            lambda v: check_weight(v, "reg", ("auto", "gml")),
            "x",
            ValueError,
            r"^`reg` must be a non-negative number, 'auto' or 'gml', got 'x'$",
        ),
        (lambda v: check_weight(v, "reg", ("auto", "gml")), True, TypeError, r"^`reg` must be"),
        (
            lambda v: check_weight(v, "reg", ("auto", "gml")),
            -1.0,
            ValueError,
            r"non-negative finite",
        ),
        (lambda v: check_weight(v, "reg", ("auto",)), float("nan"), ValueError, r"got nan$"),
        (lambda v: check_channel_axis(v, (4, 5), "image"), 0, ValueError, r"at least 3-D"),
        (lambda v: check_channel_axis(v, (2, 4, 5), "image"), 3, ValueError, r"got 3 for shape"),
        (lambda v: check_channel_axis(v, (2, 4, 5), "image"), 1.0, TypeError, r"an int or None"),
        (
            lambda v: check_real(v, "kernel"),
            np.ones(2, complex),
            TypeError,
            r"^`kernel` must be real, got dtype complex128$",
        ),
        (
            lambda v: check_real(v, "kernel", purpose=" to be drawn"),
            np.ones(2, np.complex64),
            TypeError,
            r"^`kernel` must be real to be drawn, got dtype complex64$",
        ),
        (
            lambda v: check_finite(v, "observed"),
            np.array([1.0, np.inf]),
            ValueError,
            r"^`observed` must be finite, but it holds NaN or inf$",
        ),
        (lambda v: check_finite(v, "observed"), np.array([np.nan]), ValueError, r"NaN or inf"),
        (check_blur_model, "nearest", ValueError, r"^`boundary` must be one of"),
        (check_blur_model, 3, ValueError, r"'reflect'\), got 3$"),
    ],
)
def test_option_checks_name_the_argument_and_what_is_allowed(check, value, error, match):
    with pytest.raises(error, match=match):
        check(value)


def test_option_checks_return_the_value_they_accept():
    assert check_fraction(np.float32(0.5), "tol") == 0.5
    assert check_flag(np.bool_(True), "verbose") is True
    assert check_choice("b", "prior", ("a", "b")) == "b"
    assert check_weight(np.int64(2), "reg", ("auto",)) == 2.0
    assert check_weight("auto", "reg", ("auto",)) == "auto"
    assert check_channel_axis(-1, (2, 4, 5), "image") == 2
    assert check_channel_axis(None, (2, 4, 5), "image") is None
    check_real(np.ones(2), "kernel")  # real data pass, integers too
    check_real(np.ones(2, int), "kernel")
    check_finite(np.array([1.0, -1e308]), "observed")
    assert check_blur_model("unknown") == "unknown"
    assert check_blur_model("circular") == "wrap"
    assert check_blur_model("constant") == "fill"
    assert check_blur_model("reflect") == "symm"
    with pytest.warns(UserWarning, match=r"`image` has shape \(2, 4, 3\).*channel_axis=-1$"):
        assert check_channel_axis(None, (2, 4, 3), "image") is None


def test_is_tensor_tells_a_tensor_by_its_type_s_module_without_importing_torch():
    class Tensor:  # what torch's type looks like to convmat: a class of the torch package
        __module__ = "torch"

    class Other:
        __module__ = "torchvision_like.ops"

    assert is_tensor(Tensor())
    assert not is_tensor(Other())
    assert not is_tensor(np.ones(2))
