"""The engine's shift method: blocks of images and strips of rows never change a sum's order."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given
from hypothesis import strategies as st

import convmat
from convmat._core.plan import make_plan
from convmat._engines import engine as _engine
from convmat._engines.engine import Engine
from helpers import BOUNDARIES, MODES, valid_ok


def test_strip_rows_cut_only_large_single_images() -> None:
    k = np.ones((5, 5), dtype=np.float32)
    small = Engine(k, make_plan((64, 64), (5, 5), "same", "fill"))
    assert small.strip_rows(1) == 64
    large = Engine(k, make_plan((1024, 1024), (5, 5), "same", "symm"))
    # a quarter of the cache: 64 rows of 1024 float32 outputs
    assert large.strip_rows(1) == _engine.CACHE_BYTES // 4 // (1024 * 4) == 64
    wide = Engine(k, make_plan((3, 2**20), (1, 5), "same", "fill"))
    assert wide.strip_rows(1) == 1
    line = Engine(np.ones(5), make_plan((2**20,), (5,), "same", "fill"))
    assert line.strip_rows(1) == 2**20


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128, np.int64])
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 12), st.integers(1, 6)),
    kshape=st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 3)),
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
    batch=st.integers(1, 3),
    budget=st.sampled_from([64, 256, 1024]),
)
def test_strips_give_the_same_bits_as_one_pass(
    dtype, shape, kshape, mode, boundary, batch, budget
) -> None:
    """Each output is the same sum of the same products in the same order, cut or not."""
    if mode == "valid" and not valid_ok(shape, kshape):
        mode = "same"
    rng = np.random.default_rng(sum(shape) + 7 * sum(kshape))
    k = rng.standard_normal(kshape) * 9
    x = rng.standard_normal((batch, *shape)) * 9
    if np.dtype(dtype).kind == "c":
        k, x = k + 1j * k[::-1], x - 1j * x[:, ::-1]
    k, x = k.astype(dtype), x.astype(dtype)
    plan = make_plan(shape, kshape, mode, boundary)
    flat = x.reshape(batch, -1)
    whole = Engine(k, plan).forward(flat, "shift")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_engine, "CACHE_BYTES", budget)
        cut = Engine(k, plan)
        rows = cut.strip_rows(batch)
        np.testing.assert_array_equal(cut.forward(flat, "shift"), whole)
    assert 1 <= rows <= plan.output_shape[0]


@pytest.mark.parametrize("method", ["shift", "banded", "auto"])
def test_valid_mode_reads_the_input_in_place_and_never_writes_it(method) -> None:
    """In 'valid' mode the window is the input itself: no copy is made, and none is needed."""
    plan = make_plan((30, 40), (3, 4), "valid", "fill")
    engine = Engine(np.ones((3, 4)), plan)
    x = np.arange(2 * 1200, dtype=float).reshape(2, 30, 40)
    assert engine.extend(x) is x
    x.flags.writeable = False
    out = convmat.conv2d(x, np.ones((3, 4)), "valid", method=method)
    np.testing.assert_array_equal(out, ss.convolve(x, np.ones((1, 3, 4)), "valid", method="direct"))


@pytest.mark.parametrize("transpose", [False, True])
def test_complex_subnormal_data_scaled_through_the_fft(transpose):
    """Rows of magnitude 1e-310 are scaled by a power of two beyond float64's exponent
    range before the transform, the real and imaginary parts apart: the result is
    scipy's, not its conjugate."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 7)) + 1j * rng.standard_normal((6, 7))) * 1e-310
    k = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    if transpose:
        got = convmat.conv_transpose2d(x, k, "full", method="fft")
        expected = ss.correlate2d(x, np.conj(k), "valid")  # the adjoint
    else:
        got = convmat.conv2d(x, k, "full", method="fft")
        expected = ss.convolve2d(x, k, "full")
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_an_engine_built_in_blocks_of_rows_holds_the_same_matrix(monkeypatch, mode, boundary):
    """An engine's CSR matrix, built one row of the first axis at a time, is conv_matrix's."""
    from convmat._core import csr

    rng = np.random.default_rng(0)
    for shape, k in [
        ((7, 9), rng.integers(-9, 9, (3, 4))),
        ((5, 4, 6), rng.standard_normal((2, 3, 2))),
    ]:
        whole = convmat.conv_matrix(k, shape, mode, boundary, format="csr")
        monkeypatch.setattr(csr, "BLOCK_BYTES", 1)
        got = Engine(k.astype(float), make_plan(shape, k.shape, mode, boundary)).csr()
        monkeypatch.undo()
        np.testing.assert_array_equal(got.indptr, whole.indptr)
        np.testing.assert_array_equal(got.indices, whole.indices)
        np.testing.assert_allclose(got.data, whole.data, rtol=1e-15)


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_transforms_in_groups_give_the_same_bits_as_in_one_call(monkeypatch, boundary, dtype):
    # overlap-save blocks and batches of images transformed a group at a time: every
    # transform is the one it would be alone, so the result does not change by a bit
    rng = np.random.default_rng(11)
    k = rng.standard_normal((9, 7)).astype(dtype)
    cases = [((3000, 16), 1), ((40, 30), 6)]  # blocks of one image; a batch of images
    for shape, batch in cases:
        plan = make_plan(shape, k.shape, "same", boundary)
        x = rng.standard_normal((batch, int(np.prod(shape)))).astype(dtype)
        results = []
        for group in (2**40, 1):  # all at once; one block or image per group
            monkeypatch.setattr(_engine, "FFT_GROUP_BYTES", group)
            engine = Engine(k, plan)
            assert (engine.blocking is not None) == (batch == 1)
            for precision in (np.dtype(np.float32), np.dtype(np.float64)):
                got = engine.fft(x, transpose=False, precision=precision)
                results.append(got)
                if not np.iscomplexobj(x):
                    results.append(
                        engine.fft(np.abs(x), transpose=False, precision=precision, absolute=True)
                    )
            results.append(
                engine.fft(x[:, : plan.shape[0]], transpose=True, precision=np.dtype(np.float64))
            )
        half = len(results) // 2
        for whole, grouped in zip(results[:half], results[half:], strict=True):
            np.testing.assert_array_equal(grouped, whole)


def test_a_blocked_transform_holds_a_group_not_the_image():
    # the temporaries of a blocked forward FFT of float32 data (transformed in float64):
    # a group of blocks, not the whole image's spectrum (which alone is 4x its bytes)
    import tracemalloc

    rng = np.random.default_rng(12)
    k = rng.standard_normal((15, 15)).astype(np.float32)
    plan = make_plan((1024, 1024), k.shape, "same", "fill")
    engine = Engine(k, plan)
    assert engine.blocking is not None
    x = rng.standard_normal((1, 1024 * 1024)).astype(np.float32)
    engine.fft(x, transpose=False, precision=np.dtype(np.float64))  # the kernel's spectrum
    tracemalloc.start()
    try:
        y = engine.fft(x, transpose=False, precision=np.dtype(np.float64))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.dtype == np.float32
    assert peak <= y.nbytes + 6 * _engine.FFT_GROUP_BYTES


@pytest.mark.parametrize("boundary", ["fill", "symm", "wrap"])
@pytest.mark.parametrize(
    ("shape", "kshape"), [((40, 30), (9, 5)), ((12, 10, 9), (3, 5, 4)), ((7, 1, 6), (2, 1, 3))]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_transform_one_axis_at_a_time_matches_the_whole(
    monkeypatch, boundary, shape, kshape, dtype
):
    # a real image through one padded half spectrum, axis by axis and a chunk of rows at a
    # time (in N-D; 'auto' takes it for large 2-D images of narrower data than the
    # transform): the same product as one multi-axis call, to the transforms' rounding
    monkeypatch.setattr(_engine, "CHUNK_ROWS_BYTES", 1)  # one row per chunk
    rng = np.random.default_rng(14)
    k = rng.standard_normal(kshape).astype(dtype)
    plan = make_plan(shape, kshape, "full" if boundary == "fill" else "same", boundary)
    engine = Engine(k, plan)
    size = int(np.prod(shape))
    x = (rng.standard_normal((3, size)) * 10.0 ** rng.uniform(-20, 20, (3, 1))).astype(dtype)
    images = x.reshape(3, *shape)
    window = images if engine.linear else engine.extend(images)
    a = convmat.conv_matrix(k.astype(np.float64), shape, plan.mode, boundary)
    row = (np.abs(x).astype(np.float64) @ np.abs(a).T).max(axis=1, keepdims=True)
    for data, precision, absolute, tol in (
        (window, np.dtype(np.float64), False, 1e-13),
        (np.abs(window), np.dtype(np.float32), True, 1e-5),
    ):
        whole = engine._fft(data, transpose=False, precision=precision, absolute=absolute)
        shifts = _engine._safe_exponents(data, precision)
        lean = engine._lean_product(data, precision=precision, absolute=absolute, shifts=shifts)
        assert lean.dtype == whole.dtype
        np.testing.assert_array_less(np.abs(lean - whole).reshape(3, -1) / row, tol)
        if not absolute:  # and the product itself, against the matrix
            exact = x.astype(np.float64) @ a.T
            bound = 1e-13 if dtype == np.float64 else 1e-6  # the result's own rounding
            np.testing.assert_array_less(np.abs(lean.reshape(3, -1) - exact) / row, bound)
