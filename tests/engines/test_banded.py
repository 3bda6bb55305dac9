"""The banded GEMM of the doubly blocked Toeplitz structure against scipy and its adjoint."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given
from hypothesis import strategies as st

from convmat._engines import banded as _banded


def test_band_is_each_kernel_row_toeplitz_block_stacked():
    kernel = np.arange(1.0, 7.0).reshape(2, 3)
    band = _banded.band(kernel, 4).reshape(2, 6, 4)
    for a in range(2):
        for j in range(4):
            column = np.zeros(6)
            column[j : j + 3] = kernel[a]
            np.testing.assert_array_equal(band[a, :, j], column)


@given(
    batch=st.integers(1, 3),
    window=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    kernel=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    seed=st.integers(0, 2**16),
)
def test_correlate_is_scipy_valid_correlation_and_transpose_its_adjoint(
    batch, window, kernel, seed
):
    kh, kw = min(kernel[0], window[0]), min(kernel[1], window[1])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *window))
    k = rng.standard_normal((kh, kw))
    out_shape = (window[0] - kh + 1, window[1] - kw + 1)
    got = _banded.correlate(x, k, out_shape)
    expected = np.stack([ss.correlate2d(im, k, "valid") for im in x])
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-12)
    y = rng.standard_normal(got.shape)
    back = _banded.transpose(y, k, window)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(got, y), np.vdot(x, back), rtol=1e-11)


def test_blocks_of_images_change_nothing(monkeypatch):
    rng = np.random.default_rng(1)
    x, k = rng.standard_normal((7, 20, 50)), rng.standard_normal((3, 5))
    whole = _banded.correlate(x, k, (18, 46))
    monkeypatch.setattr(_banded, "GATHER_BYTES", 1)  # one image per block
    np.testing.assert_array_equal(_banded.correlate(x, k, (18, 46)), whole)


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_dtypes_and_strided_windows(dtype):
    rng = np.random.default_rng(2)
    base = rng.standard_normal((3, 30, 40)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        base = base + 1j * rng.standard_normal(base.shape)
    window = base[:, ::2, ::-1]  # strided, reversed: copied, never written
    before = base.copy()
    k = rng.standard_normal((2, 4)).astype(dtype)
    got = _banded.correlate(window, k, (14, 37))
    assert got.dtype == dtype
    expected = np.stack([ss.correlate2d(im, k, "valid") for im in window])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(base, before)


def test_tiles_never_wider_than_the_output():
    assert _banded.tile_width(5) == 5
    assert _banded.tile_width(100) == _banded.TILE
    # rows gathered per image: rows x tiles x kh x (tile + kw - 1)
    assert _banded.gathered_entries((10, 40), (3, 5)) == 10 * 3 * 3 * (16 + 4)
