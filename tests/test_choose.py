"""convmat.choose_conv_method: the method 'auto' takes, from shapes alone, under the budget."""

import math

import numpy as np
import pytest
import scipy.signal as ss

import convmat
from convmat._engines import apply as apply_module
from helpers import BOUNDARIES

CASES = [
    ((64, 64), (3, 3)),
    ((300, 200), (9, 9)),
    ((256, 256), (31, 31)),
    ((10_000,), (101,)),
    ((4, 128, 128), (15, 15)),
    ((16, 16, 16), (3, 3, 3)),
]


def _taken(monkeypatch):
    """Record the methods apply resolves."""
    taken = []
    resolve = apply_module.resolve_method

    def spy(*args, **kwargs):
        method = resolve(*args, **kwargs)
        taken.append(method)
        return method

    monkeypatch.setattr(apply_module, "resolve_method", spy)
    return taken


@pytest.mark.parametrize(("shape", "kshape"), CASES)
@pytest.mark.parametrize("mode", ["full", "same"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_the_choice_is_what_convolve_takes(monkeypatch, shape, kshape, mode, dtype):
    rng = np.random.default_rng(0)
    x = rng.integers(-5, 5, shape).astype(dtype)
    k = rng.integers(-5, 5, kshape).astype(dtype)
    choice = convmat.choose_conv_method(x, k, mode)
    taken = _taken(monkeypatch)
    convmat._engines.cache.clear()
    convmat.convolve(x, k, mode)
    assert taken == [choice.method]
    assert math.isfinite(choice.seconds)
    assert choice.seconds > 0
    assert choice.peak_bytes >= x.size * np.dtype(dtype).itemsize
    if np.dtype(dtype).kind == "i":
        assert choice.method in ("sparse", "shift")  # integers are summed exactly


@pytest.mark.parametrize(("shape", "kshape"), CASES[:4])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_a_built_operator_takes_the_same_method(shape, kshape, boundary):
    x, k = np.ones(shape), np.ones(kshape)
    choice = convmat.choose_conv_method(x, k, "same", boundary=boundary, operator=True)
    op = convmat.ConvOperator(k, shape, "same", boundary)
    assert choice.method == op.method_for(1)


def test_a_tighter_rtol_can_change_the_choice():
    x, k = np.ones((512, 512)), np.random.default_rng(0).random((31, 31))
    assert convmat.choose_conv_method(x, k, "same").method == "fft"
    strict = convmat.choose_conv_method(x, k, "same", rtol=0)
    assert strict.seconds > convmat.choose_conv_method(x, k, "same").seconds


def test_the_choice_fits_the_working_budget():
    x, k = np.ones((512, 512)), np.random.default_rng(0).random((31, 31))
    fft = convmat.choose_conv_method(x, k, "same")
    assert fft.method == "fft"
    convmat.set_max_working_bytes(fft.peak_bytes - 1)
    try:
        lean = convmat.choose_conv_method(x, k, "same")
        assert lean.method != "fft"
        assert lean.peak_bytes < fft.peak_bytes
        np.testing.assert_allclose(convmat.convolve(x, k, "same"), ss.convolve(x, k, "same"))
    finally:
        convmat.set_max_working_bytes(None)


def test_arguments_are_checked_as_convolve_checks_them():
    with pytest.raises(ValueError, match="`mode`"):
        convmat.choose_conv_method(np.ones(5), np.ones(3), "fast")
    with pytest.raises(ValueError, match="`boundary`"):
        convmat.choose_conv_method(np.ones(5), np.ones(3), boundary="bad")
    with pytest.raises(TypeError, match="keyword-only"):
        convmat.choose_conv_method(np.ones(5), np.ones(3), "full", "fill")  # type: ignore[misc]
