"""The argument checks shared by every public function: messages that name what they got."""

from __future__ import annotations

import pytest

import convmat
from convmat._core.validate import check_tensor, keyword_only_hint, short_repr


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
