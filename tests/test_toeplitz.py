"""conv_matrix and toeplitz_blocks against scipy, numpy and their own structure."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
import scipy.linalg as sl
import scipy.signal as ss
import scipy.sparse as sp
from hypothesis import assume, given
from hypothesis import strategies as st

import convmat
from helpers import (
    BOUNDARIES,
    DTYPES,
    MODES,
    arrays,
    assert_conv_equal,
    convolve2d_ref,
    reference_nd,
    valid_ok,
)

shapes2 = st.tuples(st.integers(1, 7), st.integers(1, 7))
kshapes2 = st.tuples(st.integers(1, 9), st.integers(1, 9))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data(), n=shapes2, m=kshapes2)
def test_matches_convolve2d(data, n, m, mode, boundary, dtype):
    assume(mode != "valid" or valid_ok(n, m))
    x = data.draw(arrays(dtype, n))
    k = data.draw(arrays(dtype, m))
    fmt = data.draw(st.sampled_from(["dense", "csr", "csc", "coo"]))
    a = convmat.conv_matrix(k, n, mode, boundary, format=fmt)
    expected = convolve2d_ref(x, k, mode, boundary)
    assert a.dtype == k.dtype
    got = (a @ x.ravel()).reshape(expected.shape)
    assert_conv_equal(got, expected, x, k)


@pytest.mark.parametrize("mode", MODES)
@given(n=st.integers(1, 9), m=st.integers(1, 9), data=st.data())
def test_1d_matches_scipy_linalg(n, m, mode, data):
    assume(not (mode == "same" and m > n))  # scipy.linalg keeps max(m, n) rows there
    k = data.draw(arrays(np.float64, (m,)))
    np.testing.assert_array_equal(
        convmat.conv_matrix(k, (n,), mode), sl.convolution_matrix(k, n, mode)
    )


def test_1d_same_long_kernel_keeps_input_length():
    k = np.arange(1.0, 8.0)
    a = convmat.conv_matrix(k, (3,), "same")
    assert a.shape == (3, 3)
    x = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(a @ x, ss.convolve(x, k, "same"), rtol=1e-14)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@given(
    n=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
    m=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
    data=st.data(),
)
def test_3d_matches_scipy_convolve(n, m, mode, boundary, data):
    assume(mode != "valid" or valid_ok(n, m))
    x = data.draw(arrays(np.float64, n))
    k = data.draw(arrays(np.float64, m))
    a = convmat.conv_matrix(k, n, mode, boundary, format="csr")
    expected = reference_nd(x, k, mode, boundary)
    assert_conv_equal((a @ x.ravel()).reshape(expected.shape), expected, x, k)


@pytest.mark.parametrize(
    ("alias", "name"), [("pad", "fill"), ("circular", "wrap"), ("symmetric", "symm")]
)
def test_boundary_aliases(alias, name):
    k = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(
        convmat.conv_matrix(k, (4, 4), "same", alias), convmat.conv_matrix(k, (4, 4), "same", name)
    )


def test_valid_swaps_when_kernel_is_larger():
    x = np.arange(6.0).reshape(2, 3)
    k = np.arange(20.0).reshape(4, 5)
    a = convmat.conv_matrix(k, x.shape, "valid")
    assert a.shape == (3 * 3, 6)
    np.testing.assert_allclose(a @ x.ravel(), ss.convolve2d(x, k, "valid").ravel())


def test_valid_mixed_shapes_raise_scipys_error():
    with pytest.raises(ValueError, match=r"For 'valid' mode.*\(2, 5\).*\(3, 3\)"):
        convmat.conv_matrix(np.ones((3, 3)), (2, 5), "valid")


@given(n=shapes2, m=kshapes2, data=st.data())
def test_linearity(n, m, data):
    k = data.draw(arrays(np.float64, m))
    x = data.draw(arrays(np.float64, n))
    y = data.draw(arrays(np.float64, n))
    a = convmat.conv_matrix(k, n, "same", "symm", format="csr")
    np.testing.assert_allclose(
        a @ (2 * x.ravel() - 3 * y.ravel()), 2 * (a @ x.ravel()) - 3 * (a @ y.ravel()), atol=1e-10
    )


@given(n=shapes2, m=kshapes2, data=st.data())
def test_full_mode_commutes(n, m, data):
    x = data.draw(arrays(np.int64, n))
    k = data.draw(arrays(np.int64, m))
    np.testing.assert_array_equal(
        convmat.conv_matrix(k, n) @ x.ravel(), convmat.conv_matrix(x, m) @ k.ravel()
    )


def test_impulse_response_is_the_kernel():
    k = np.arange(1, 13).reshape(3, 4)
    a = convmat.conv_matrix(k, (5, 6))
    impulse = np.zeros((5, 6), dtype=int)
    impulse[2, 1] = 1
    out = (a @ impulse.ravel()).reshape(7, 9)
    np.testing.assert_array_equal(out[2:5, 1:5], k)
    assert out.sum() == k.sum()


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
def test_nnz_is_the_footprint(mode, boundary):
    k = np.zeros((3, 2))  # zero taps are still stored
    n = (6, 5)
    a = convmat.conv_matrix(k, n, mode, boundary, format="csr")
    ones = convmat.conv_matrix(np.ones((3, 2)), n, mode, boundary, format="csr")
    assert a.nnz == ones.nnz
    assert a.has_canonical_format
    if boundary == "fill":
        # each output sums the taps that land inside: nnz = sum of that count
        inside = ss.convolve2d(np.ones(n), np.ones((3, 2)), mode)
        assert a.nnz == int(inside.sum())


def test_fill_structure_is_doubly_blocked_toeplitz():
    k = np.arange(1.0, 7.0).reshape(2, 3)
    blocks, placement, layout = convmat.toeplitz_blocks(k, (4, 5))
    assert blocks.shape == (2, 7, 5)
    # block (o, p) holds kernel row o - p
    o, p = np.indices((5, 4))
    np.testing.assert_array_equal(layout, np.where((o - p >= 0) & (o - p < 2), o - p, -1))
    for j in range(2):
        np.testing.assert_array_equal(blocks[j], sl.convolution_matrix(k[j], 5, "full"))
    a = sum(np.kron(placement[j], blocks[j]) for j in range(2))
    np.testing.assert_array_equal(a, convmat.conv_matrix(k, (4, 5)))


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
def test_blocks_rebuild_the_matrix(mode, boundary):
    k = np.arange(1, 13).reshape(4, 3)
    for n in [(2, 2), (5, 6)]:
        if mode == "valid" and not valid_ok(n, k.shape):
            continue
        blocks, placement, layout = convmat.toeplitz_blocks(k, n, mode, boundary)
        a = sum(np.kron(placement[j], blocks[j]) for j in range(k.shape[0]))
        np.testing.assert_array_equal(a, convmat.conv_matrix(k, n, mode, boundary))
        folded = placement.sum(axis=0) > 1
        np.testing.assert_array_equal(layout == -2, folded)


def test_symm_folds_taps_and_wrap_is_circulant():
    k = np.array([[1, 2, 3]])
    a = convmat.conv_matrix(k, (1, 4), "same", "symm")
    # row 0 is y[0] = 1 x[1] + 2 x[0] + 3 x[-1], and x[-1] mirrors to x[0]: 2 + 3 fold
    np.testing.assert_array_equal(a[0], [5, 1, 0, 0])
    c = convmat.conv_matrix(k, (1, 4), "same", "wrap")
    for r in range(4):
        np.testing.assert_array_equal(c[r], np.roll(c[0], r))


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.float32, np.complex64, np.longdouble])
def test_dtype_follows_kernel(dtype):
    k = np.ones((2, 2), dtype=dtype)
    assert convmat.conv_matrix(k, (3, 3)).dtype == dtype
    assert convmat.conv_matrix(k, (3, 3), format="csr").dtype == dtype


def test_bool_kernel_gives_counts():
    k = np.ones((1, 3), dtype=bool)
    a = convmat.conv_matrix(k, (1, 2), "same", "symm")
    assert a.dtype == np.uint8
    np.testing.assert_array_equal(a, [[2, 1], [1, 2]])


def test_float16_dense_only():
    k = np.ones((2, 2), dtype=np.float16)
    assert convmat.conv_matrix(k, (3, 3)).dtype == np.float16
    with pytest.raises(TypeError, match="float16"):
        convmat.conv_matrix(k, (3, 3), format="csr")


def test_folded_integer_entries_do_not_wrap():
    k = np.full((1, 3), 100, dtype=np.int8)
    with pytest.raises(convmat.ResultOverflowError, match="int8"):
        convmat.conv_matrix(k, (1, 1), "same", "symm")


def test_index_dtype_is_int32_when_it_fits():
    a = convmat.conv_matrix(np.ones((3, 3)), (20, 20), format="csr")
    assert a.indices.dtype == np.int32
    assert a.indptr.dtype == np.int32


def test_index_dtype_is_int64_beyond_int32():
    from convmat._core.plan import make_plan

    assert make_plan((60_000, 60_000), (1, 1), "full", "fill").index_dtype() is np.int64
    assert make_plan((40_000, 40_000), (1, 1), "full", "fill").index_dtype() is np.int32


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_formats(fmt):
    a = convmat.conv_matrix(np.ones((2, 2)), (3, 3), format=fmt)
    assert isinstance(a, sp.sparray)
    assert a.format == fmt


def _canonical(a) -> bool:
    """Sorted, no duplicates: checked on the arrays, not on scipy's flag."""
    if a.format == "coo":
        keys = a.coords[0].astype(np.int64) * a.shape[1] + a.coords[1]
        return bool((np.diff(keys) > 0).all())
    major = a.indptr
    minor = a.indices.astype(np.int64)
    steps = np.diff(minor)
    new_row = np.zeros(minor.size, dtype=bool)
    new_row[major[1:-1][major[1:-1] < minor.size]] = True
    return bool(((steps > 0) | new_row[1:]).all())


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("k_shape", [(1, 1), (1, 3), (2, 3), (3, 3)], ids=str)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
def test_sparse_matrices_are_the_caller_s(mode, boundary, k_shape, fmt):
    """Every array of a returned sparse matrix is writable, the matrix's own (not a view
    of the kernel) and canonical; the first calls a user makes work on it."""
    k = np.arange(1.0, 1.0 + np.prod(k_shape)).reshape(k_shape)
    k[0, 0] = 0.0  # a stored zero, for eliminate_zeros
    shape = (4, 5)
    a = convmat.conv_matrix(k, shape, mode, boundary, format=fmt)
    arrays_ = [a.data, *a.coords] if fmt == "coo" else [a.data, a.indices, a.indptr]
    for arr in arrays_:
        assert arr.flags.writeable
        assert not np.shares_memory(arr, k)
    assert _canonical(a)
    dense = a.toarray()
    a.eliminate_zeros()
    np.testing.assert_array_equal(a.toarray(), dense)
    assert np.count_nonzero(a.data) == a.nnz
    a.data *= 2
    np.testing.assert_array_equal(a.toarray(), 2 * dense)
    np.testing.assert_array_equal(k.ravel()[1:], np.arange(2.0, 1.0 + np.prod(k_shape)))
    a.sort_indices() if fmt != "coo" else a.sum_duplicates()


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc", "coo"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_big_endian_kernels_are_read_as_numpy_s_own_order(boundary, fmt):
    """FITS files give big-endian arrays: the same matrix as from native ones."""
    k = np.arange(1.0, 7.0).reshape(2, 3)
    got = convmat.conv_matrix(k.astype(">f8"), (4, 5), "same", boundary, format=fmt)
    want = convmat.conv_matrix(k, (4, 5), "same", boundary, format=fmt)
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_array_equal(
        got if fmt == "dense" else got.toarray(), want if fmt == "dense" else want.toarray()
    )


def test_input_kernel_not_written():
    k = np.arange(6.0).reshape(2, 3)
    k.flags.writeable = False
    convmat.conv_matrix(k, (3, 3), "same", "symm", format="csr")
    np.testing.assert_array_equal(k, np.arange(6.0).reshape(2, 3))


def test_cached_maps_are_read_only():
    a = convmat.conv_matrix(np.ones((2, 2)), (4, 4), format="csr")
    a.data[:] = 7  # the caller's matrix is the caller's
    b = convmat.conv_matrix(np.ones((2, 2)), (4, 4), format="csr")
    np.testing.assert_array_equal(b.data, np.ones(b.nnz))


class TestMemoryGuard:
    def test_dense_over_budget_refused_fast_without_allocation(self):
        tracemalloc.start()
        start = time.perf_counter()
        with pytest.raises(convmat.MatrixTooLargeError) as info:
            convmat.conv_matrix(np.ones((5, 5)), (4000, 4000))
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert isinstance(info.value, MemoryError)
        assert isinstance(info.value, ValueError)
        msg = str(info.value)
        assert f"{4004 * 4004 * 4000 * 4000 * 8:,} bytes" in msg
        assert 'format="csr"' in msg
        assert peak < 50 * 2**20, peak
        assert elapsed < 5, elapsed

    def test_budget_argument_and_global(self):
        k = np.ones((2, 2))
        with pytest.raises(MemoryError, match="budget of 100 bytes"):
            convmat.conv_matrix(k, (3, 3), max_dense_bytes=100)
        assert convmat.conv_matrix(k, (3, 3), max_dense_bytes=16 * 9 * 8).shape == (16, 9)
        previous = convmat.set_max_dense_bytes(10)
        try:
            assert convmat.get_max_dense_bytes() == 10
            with pytest.raises(ValueError, match="budget of 10 bytes"):
                convmat.conv_matrix(k, (3, 3))
        finally:
            convmat.set_max_dense_bytes(previous)
        assert convmat.get_max_dense_bytes() == 2**30

    def test_sparse_beyond_machine_memory_refused(self):
        with pytest.raises(convmat.MatrixTooLargeError, match="nonzeros"):
            convmat.conv_matrix(np.ones((3000, 3000)), (3000, 3000), format="csr")

    @pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
    def test_bad_budget(self, bad):
        with pytest.raises((TypeError, ValueError), match="max_dense_bytes"):
            convmat.set_max_dense_bytes(bad)


class TestBadInput:
    @pytest.mark.parametrize(
        ("kwargs", "exc", "match"),
        [
            ({"mode": "middle"}, ValueError, r"`mode`.*'middle'"),
            ({"boundary": "edge"}, ValueError, r"`boundary`.*'edge'"),
            ({"format": "lil"}, ValueError, r"`format`.*'lil'"),
            ({"input_shape": (3,)}, ValueError, r"`input_shape`.*2 entries"),
            ({"input_shape": (3, 0)}, ValueError, r"`input_shape`.*positive"),
            ({"input_shape": (3, -2)}, ValueError, r"`input_shape`.*positive"),
            ({"input_shape": (3, 2.0)}, TypeError, r"`input_shape`.*integers"),
            ({"input_shape": (3, True)}, TypeError, r"`input_shape`.*integers"),
            ({"input_shape": 3}, TypeError, r"`input_shape`"),
            ({"input_shape": "33"}, TypeError, r"`input_shape`"),
        ],
        ids=[
            "mode",
            "boundary",
            "format",
            "length",
            "zero",
            "negative",
            "float",
            "bool",
            "int",
            "str",
        ],
    )
    def test_messages(self, kwargs, exc, match):
        args = {"kernel": np.ones((2, 2)), "input_shape": (3, 3), **kwargs}
        with pytest.raises(exc, match=match):
            convmat.conv_matrix(**args)

    @pytest.mark.parametrize(
        ("kernel", "exc", "match"),
        [
            (np.ones((0, 2)), ValueError, "`kernel` must not be empty"),
            (np.array(["a", "b"]), TypeError, "`kernel` must have a numeric dtype.*<U1"),
            (np.array([1, None], dtype=object), TypeError, "numeric dtype.*object"),
            (np.array(["2020-01-01"], dtype="datetime64[D]"), TypeError, "datetime64"),
            (np.ma.masked_array([1.0, 2.0], mask=[0, 1]), TypeError, "masked"),
            (np.float64(3.0), ValueError, "at least 1 dimension"),
        ],
        ids=["empty", "str", "object", "datetime", "masked", "scalar"],
    )
    def test_bad_kernels(self, kernel, exc, match):
        shape = (3,) * max(np.ndim(kernel), 1)
        with pytest.raises(exc, match=match):
            convmat.conv_matrix(kernel, shape)

    def test_numpy_integers_accepted_in_shape(self):
        a = convmat.conv_matrix(np.ones(2), (np.int64(3),))
        assert a.shape == (4, 3)
