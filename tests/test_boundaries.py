"""The boundaries users bring from scipy.ndimage, numpy and torch, everywhere a boundary
is accepted: equal to ``scipy.ndimage.convolve``/``correlate`` in ndimage's modes, the
matrices and operators dot-tested, integers exact."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as ss
from hypothesis import given
from hypothesis import strategies as st

import convmat
from helpers import MODES, exact_conv, valid_ok

# convmat's canonical name, and the names of ndimage that mean it
NDIMAGE = {
    "fill": ("constant", "grid-constant"),
    "wrap": ("grid-wrap",),
    "symm": ("reflect", "grid-mirror"),
    "nearest": ("nearest",),
    "mirror": ("mirror",),
}
NAMES = [(canon, name) for canon, names in NDIMAGE.items() for name in names]


@pytest.mark.parametrize(("canon", "name"), NAMES, ids=[n for _, n in NAMES])
@given(
    n=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    half=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    seed=st.integers(0, 2**16),
)
def test_conv2d_equals_ndimage_convolve_in_its_modes(canon, name, n, half, seed):
    """Odd kernels (ndimage centres even ones one sample later: see the next test),
    images smaller than the kernel included; integers exactly."""
    m = tuple(2 * h + 1 for h in half)
    rng = np.random.default_rng(seed)
    x, k = rng.integers(-99, 99, n), rng.integers(-9, 9, m)
    want = ndi.convolve(x, k, mode=name)
    np.testing.assert_array_equal(convmat.conv2d(x, k, "same", name), want)
    np.testing.assert_array_equal(convmat.conv2d(x, k, "same", canon), want)
    np.testing.assert_array_equal(
        convmat.correlate2d(x, k, "same", name), ndi.correlate(x, k, mode=name)
    )
    xf, kf = x.astype(float), k.astype(float)
    np.testing.assert_allclose(
        convmat.conv2d(xf, kf, "same", name, method="fft"), want, rtol=0, atol=1e-9
    )


@pytest.mark.parametrize(("canon", "name"), NAMES, ids=[n for _, n in NAMES])
@pytest.mark.parametrize("m", [(2, 4), (4, 3), (3, 3), (2, 2, 2)], ids=str)
def test_correlate_equals_ndimage_correlate_for_every_kernel(canon, name, m):
    """The N-D correlate centres even kernels as ndimage does; ndimage's convolve of an
    even kernel is convmat's correlate2d of the reversed kernel."""
    rng = np.random.default_rng(len(m))
    n = (7, 8, 5)[: len(m)]
    x, k = rng.integers(-99, 99, n), rng.integers(-9, 9, m)
    np.testing.assert_array_equal(
        convmat.correlate(x, k, "same", boundary=name), ndi.correlate(x, k, mode=name)
    )
    if len(m) == 2:
        flipped = k[::-1, ::-1]
        np.testing.assert_array_equal(
            convmat.correlate2d(x, flipped, "same", name), ndi.convolve(x, k, mode=name)
        )


PAD = {"nearest": "edge", "mirror": "reflect", "symm": "symmetric", "wrap": "wrap"}


@pytest.mark.parametrize("boundary", ["nearest", "mirror"])
@pytest.mark.parametrize("mode", MODES)
def test_every_function_takes_the_new_boundaries(mode, boundary):
    """conv_matrix (dense and sparse), toeplitz_blocks, the one-shot functions, their
    transposes (dot-tested), ConvOperator and .T, in 1-D, 2-D and 3-D; integers exact
    against numpy's padding and a sum in Python integers."""
    rng = np.random.default_rng(1)
    for n, m in [((9,), (4,)), ((5, 6), (3, 4)), ((2, 3), (5, 4)), ((4, 3, 5), (2, 3, 2))]:
        if mode == "valid" and not valid_ok(n, m):
            continue
        x, k = rng.integers(-50, 50, n), rng.integers(-9, 9, m)
        want = exact_conv(x, k, mode, boundary).astype(np.int64)
        np.testing.assert_array_equal(convmat.convolve(x, k, mode, boundary=boundary), want)
        a = convmat.conv_matrix(k, n, mode, boundary)
        np.testing.assert_array_equal(a @ x.ravel(), want.ravel())
        csr = convmat.conv_matrix(k, n, mode, boundary, format="csr")
        np.testing.assert_array_equal(csr.toarray(), a)
        op = convmat.ConvOperator(k, n, mode, boundary)
        np.testing.assert_array_equal(op @ x.ravel(), want.ravel())
        y = rng.integers(-50, 50, want.shape)
        back = convmat.conv_transpose(y, k, mode, boundary, input_shape=n)
        np.testing.assert_array_equal(back.ravel(), a.T @ y.ravel())
        np.testing.assert_array_equal(op.T @ y.ravel(), a.T @ y.ravel())
        # the dot test, in floats through the FFT
        xf, yf = rng.standard_normal(n), rng.standard_normal(want.shape)
        kf = rng.standard_normal(m)
        lhs = np.vdot(convmat.convolve(xf, kf, mode, "fft", boundary=boundary), yf)
        rhs = np.vdot(
            xf, convmat.conv_transpose(yf, kf, mode, boundary, input_shape=n, method="fft")
        )
        np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
        if len(n) == 2:
            np.testing.assert_array_equal(convmat.conv2d(x, k, mode, boundary), want)
            np.testing.assert_array_equal(
                convmat.conv_transpose2d(y, k, mode, boundary, input_shape=n), back
            )
            s = convmat.toeplitz_blocks(k, n, mode, boundary)
            rebuilt = sum(np.kron(s.placement[j], s.blocks[j]) for j in range(len(s.blocks)))
            np.testing.assert_array_equal(rebuilt, a)


@pytest.mark.parametrize(
    ("mode", "boundary"), list(itertools.product(MODES, ["nearest", "mirror"]))
)
def test_spectral_norm_and_singular_values(mode, boundary):
    rng = np.random.default_rng(2)
    k = rng.standard_normal((3, 2))
    a = convmat.conv_matrix(k, (5, 4), mode, boundary)
    exact = np.linalg.svd(a, compute_uv=False)
    np.testing.assert_allclose(
        convmat.spectral_norm(k, (5, 4), mode, boundary), exact[0], rtol=1e-6
    )
    np.testing.assert_allclose(
        convmat.singular_values(k, (5, 4), mode, boundary), exact[: min(a.shape)], atol=1e-9
    )


@pytest.mark.parametrize("boundary", ["nearest", "mirror", "reflect", "grid-wrap", "constant"])
@pytest.mark.parametrize("mode", MODES)
def test_dask_takes_every_name(mode, boundary):
    da = pytest.importorskip("dask.array")
    import convmat.dask as cd

    rng = np.random.default_rng(3)
    x, k = rng.standard_normal((13, 17)), rng.standard_normal((5, 4))
    lazy = da.from_array(x, chunks=(5, 6))
    np.testing.assert_array_equal(
        cd.conv2d(lazy, k, mode, boundary).compute(), convmat.conv2d(x, k, mode, boundary)
    )
    np.testing.assert_array_equal(
        cd.correlate2d(lazy, k, mode, boundary).compute(),
        convmat.correlate2d(x, k, mode, boundary),
    )
    y = convmat.conv2d(x, k, mode, boundary)
    np.testing.assert_allclose(
        cd.conv_transpose2d(
            da.from_array(y, chunks=(5, 6)), k, mode, boundary, input_shape=x.shape
        ).compute(),
        convmat.conv_transpose2d(y, k, mode, boundary, input_shape=x.shape),
        rtol=1e-12,
        atol=1e-12,
    )


def test_ndimage_names_keep_ndimage_meanings_and_wrap_keeps_scipy_signal_s():
    """'reflect' repeats the edge sample ('symm'); 'mirror' does not; the name 'wrap' is
    scipy.signal's periodic extension ('grid-wrap' in ndimage, whose own 'wrap' differs)."""
    x, k = np.arange(5.0), np.array([0.0, 0.0, 1.0])  # output 0 reads x[-1]
    assert convmat.convolve(x, k, "same", boundary="reflect")[0] == 0.0  # x[-1] == x[0]
    assert convmat.convolve(x, k, "same", boundary="mirror")[0] == 1.0  # x[-1] == x[1]
    assert convmat.convolve(x, k, "same", boundary="nearest")[0] == 0.0
    assert convmat.convolve(x, k, "same", boundary="wrap")[0] == 4.0
    np.testing.assert_array_equal(
        convmat.conv2d(np.eye(4), np.ones((3, 3)), "same", "wrap"),
        ss.convolve2d(np.eye(4), np.ones((3, 3)), "same", "wrap"),
    )


@pytest.mark.parametrize("boundary", ["edge", "replicate", "ndimage-wrap", 3])
def test_unknown_names_are_refused_with_the_list(boundary):
    with pytest.raises(ValueError, match=r"`boundary` must be one of .*'nearest', 'mirror'"):
        convmat.conv2d(np.ones((3, 3)), np.ones((2, 2)), "same", boundary)


@pytest.mark.parametrize("boundary", ["nearest", "mirror"])
def test_deblurring_refuses_a_model_it_does_not_solve(boundary):
    with pytest.raises(ValueError, match="`boundary` must be one of 'unknown'"):
        convmat.deconvolve2d(np.ones((8, 8)), np.ones((3, 3)) / 9, boundary=boundary)


BYTE_ORDER_CALLS = {
    "conv2d": lambda a, b: convmat.conv2d(a, b, "same", "symm"),
    "correlate2d": lambda a, b: convmat.correlate2d(a, b, "full", "nearest"),
    "convolve": lambda a, b: convmat.convolve(a, b, "same", boundary="mirror"),
    "fftconvolve": lambda a, b: convmat.fftconvolve(a, b, "same"),
    "ConvOperator": lambda a, b: convmat.ConvOperator(b, (10, 12), "same", "symm") @ a.ravel(),
    "ConvOperator.T": lambda a, b: convmat.ConvOperator(b, (10, 12), "same").T @ a.ravel(),
    "conv_transpose2d": lambda a, b: convmat.conv_transpose2d(a, b, "same", "wrap"),
    "nn.conv2d": lambda a, b: convmat.nn.conv2d(a[None, None], b[None, None], padding=1),
    "deconvolve2d": lambda a, b: convmat.deconvolve2d(a, np.abs(b) / np.abs(b).sum(), reg=1e-2),
    "spectral_norm": lambda a, b: convmat.spectral_norm(b, (10, 12), "same", "nearest"),
    "conv_matrix": lambda a, b: convmat.conv_matrix(b, (10, 12), "same", "symm", format="csc"),
}


@pytest.mark.parametrize("name", list(BYTE_ORDER_CALLS))
def test_big_endian_arrays_are_taken_at_every_door(name):
    """FITS files give big-endian arrays: every function reads them as native ones,
    bitwise the same result, in numpy's own byte order."""
    rng = np.random.default_rng(4)
    x, k = rng.standard_normal((10, 12)), rng.standard_normal((3, 3))
    call = BYTE_ORDER_CALLS[name]
    got, want = call(x.astype(">f8"), k.astype(">f8")), call(x, k)
    if hasattr(got, "toarray"):
        got, want = got.toarray(), want.toarray()
    got = np.asarray(got)
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, want)
