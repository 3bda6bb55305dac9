"""Integers exact or refused: the limb arithmetic, and every public path, against Python ints."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import convmat
from convmat import nn
from convmat._core.exact import FLOAT_EXACT, SAFE, exact_products, exact_sum, limb_bits, split
from helpers import BOUNDARIES, exact_conv, exact_matrix, fits, geometries

I64 = np.iinfo(np.int64)
U64 = np.iinfo(np.uint64)


def _wide(dtype: type) -> st.SearchStrategy[int]:
    """Values that stress 64-bit sums: the ends of the range, powers of two near 2**62, small ones."""
    info = np.iinfo(dtype)
    edges = [info.min, info.max, 0, 1]
    if info.min < 0:
        edges += [-1, -(2**62), 2**62, 2**62 - 1, 2**61 + 1, -(2**61) - 3]
    else:
        edges += [2**63, 2**63 - 1, 2**62]
    near = st.builds(
        lambda sign, e, d: min(max(sign * 2**e + d, info.min), info.max),
        st.sampled_from([1, -1] if info.min < 0 else [1]),
        st.integers(58, 63),
        st.integers(-5, 5),
    )
    return st.one_of(
        st.sampled_from(edges),
        near,
        st.integers(info.min, info.max),
        st.integers(-(2**31), 2**31).filter(lambda v: info.min <= v <= info.max),
    )


@st.composite
def wide_arrays(draw: st.DrawFn, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """Arrays of one magnitude class, 2**0 to 2**64: sums that fit and sums that do not."""
    top = 2 ** draw(st.integers(0, 64))
    small = _wide(dtype).map(lambda v: v if abs(v) <= top else (abs(v) % (top + 1)) * (v > 0 or -1))
    return draw(hnp.arrays(dtype, shape, elements=small))


shapes = st.tuples(st.integers(1, 4), st.integers(1, 4))


class TestLimbs:
    @given(st.sampled_from([np.int64, np.uint64]), st.data())
    def test_split_recombines(self, dtype, data):
        arr = data.draw(wide_arrays(dtype, (6,)))
        bits = data.draw(st.integers(4, 31))
        limbs = split(arr, bits)
        for i, v in enumerate(arr.tolist()):
            assert sum(int(limb[i]) << (bits * n) for n, limb in enumerate(limbs)) == v
        assert all(int(np.abs(limb).max()) <= 2**bits for limb in limbs)

    @given(st.sampled_from([np.int64, np.uint64]), st.integers(1, 5), st.data())
    def test_exact_sum_is_exact(self, dtype, n, data):
        u = data.draw(wide_arrays(dtype, (n,)))
        v = data.draw(wide_arrays(dtype, (3, n)))
        signed = dtype is np.int64
        value, ok = exact_sum([(lambda a, b: (a * b).sum(axis=1), u, v)], n, (3,), signed=signed)
        info = I64 if signed else U64
        for r in range(3):
            true = sum(int(a) * int(b) for a, b in zip(u.tolist(), v[r].tolist(), strict=True))
            assert bool(ok[r]) == (info.min <= true <= info.max)
            if ok[r]:
                assert int(value[r]) == true

    def test_limb_bits_shrink_with_terms(self):
        assert limb_bits(1) > limb_bits(10**6) > limb_bits(10**12)
        with pytest.raises(convmat.ResultOverflowError, match="terms"):
            limb_bits(2**62)


def _check(call, expected: np.ndarray, dtype: type) -> None:
    """`call()` equals `expected` (Python ints) when it fits `dtype`, else it refuses."""
    if fits(expected, dtype):
        got = call()
        assert got.dtype == np.dtype(dtype)
        assert got.shape == expected.shape
        assert got.astype(object).tolist() == expected.tolist()
    else:
        with pytest.raises(convmat.ResultOverflowError, match=np.dtype(dtype).name):
            call()


class TestConvolution:
    @given(dtype=st.sampled_from([np.int64, np.uint64]), geometry=geometries(), data=st.data())
    def test_conv2d_exact_or_refused(self, dtype, geometry, data):
        mode, boundary, n, m = geometry
        x = data.draw(wide_arrays(dtype, n))
        k = data.draw(wide_arrays(dtype, m))
        expected = exact_conv(x, k, mode, boundary)
        _check(lambda: convmat.conv2d(x, k, mode, boundary), expected, dtype)

    @given(geometry=geometries(), data=st.data())
    def test_fillvalue_exact_or_refused(self, geometry, data):
        mode, _, n, m = geometry
        x = data.draw(wide_arrays(np.int64, n))
        k = data.draw(wide_arrays(np.int64, m))
        fill = data.draw(st.sampled_from([2**61, -(2**61) + 7, 2**62 - 1, 3]))
        expected = exact_conv(x, k, mode, "fill", fill)
        _check(lambda: convmat.conv2d(x, k, mode, fillvalue=fill), expected, np.int64)

    @given(
        dtype=st.sampled_from([np.int8, np.int64, np.uint64]), geometry=geometries(), data=st.data()
    )
    def test_transpose_exact_or_refused(self, dtype, geometry, data):
        mode, boundary, n, m = geometry
        narrow = hnp.arrays(dtype, m, elements=st.integers(-128, 127))
        k = data.draw(wide_arrays(dtype, m) if dtype is not np.int8 else narrow)
        a = exact_matrix(k, n, mode, boundary)
        out_shape = exact_conv(np.zeros(n, np.int64), k, mode, boundary).shape
        narrow = hnp.arrays(dtype, out_shape, elements=st.integers(-128, 127))
        y = data.draw(wide_arrays(dtype, out_shape) if dtype is not np.int8 else narrow)
        expected = (a.T @ y.astype(object).reshape(-1)).reshape(n)
        _check(
            lambda: convmat.conv_transpose2d(y, k, mode, boundary, input_shape=n), expected, dtype
        )

    def test_transpose_counts_every_wrapped_read(self):
        # each input is read three times through the same tap: 150 does not fit int8
        y = np.full((1, 3), 50, np.int8)
        k = np.ones((1, 2), np.int8)
        with pytest.raises(convmat.ResultOverflowError, match="int8"):
            convmat.conv_transpose2d(y, k, "full", "wrap", input_shape=(1, 2))

    def test_cancellation_near_the_top_is_not_refused(self):
        x = np.array([[2**62 + 1, 2**62, 2**62 + 1]], dtype=np.int64)
        k = np.array([[2**62, -(2**62)]], dtype=np.int64)
        expected = exact_conv(x, k, "valid", "fill")
        assert convmat.conv2d(x, k, "valid").tolist() == expected.tolist()

    @pytest.mark.parametrize(
        ("x", "k"),
        [
            # the exact results, 0 and -(2**64 - 2), wrap to 0 and 2: a float estimate cannot tell
            ([[2**63 - 1, -(2**63) + 1, 2**63 - 3]], [[2**63 - 1, 2**63 - 1]]),
            # -(2**60 + 1) fits, but float rounding of the 2**122 products is larger than 2**62
            ([[2**60, -(2**60) - 3, 2**60 + 4]], [[-(2**61) - 4, -(2**61) - 5]]),
        ],
        ids=["wrapped-out", "fits-despite-cancellation"],
    )
    def test_cancellation_defeats_no_estimate(self, x, k):
        x, k = np.array(x, dtype=np.int64), np.array(k, dtype=np.int64)
        _check(lambda: convmat.conv2d(x, k, "valid"), exact_conv(x, k, "valid", "fill"), np.int64)

    def test_far_outside_is_refused_not_wrapped(self):
        x = np.array([[2**62, 2**62]], dtype=np.int64)
        k = np.array([[4, 4]], dtype=np.int64)  # 2**65: wraps to exactly 0 in 64 bits
        with pytest.raises(convmat.ResultOverflowError):
            convmat.conv2d(x, k, "valid")

    @given(boundary=st.sampled_from(BOUNDARIES), data=st.data())
    def test_operator_exact_or_refused(self, boundary, data):
        x = data.draw(wide_arrays(np.int64, (2, 3, 3)))
        k = data.draw(wide_arrays(np.int64, (2, 2)))
        op = convmat.ConvOperator(k, (3, 3), "same", boundary)
        expected = np.stack([exact_conv(xi, k, "same", boundary) for xi in x])
        _check(lambda: op(x), expected, np.int64)


class TestMatrices:
    @given(
        dtype=st.sampled_from([np.int8, np.int64, np.uint64]),
        boundary=st.sampled_from(["wrap", "symm"]),
        mode=st.sampled_from(["full", "same"]),
        n=shapes,
        m=shapes,
        data=st.data(),
    )
    def test_folded_entries_exact_or_refused(self, dtype, boundary, mode, n, m, data):
        narrow = hnp.arrays(dtype, m, elements=st.integers(-128, 127))
        k = data.draw(wide_arrays(dtype, m) if dtype is not np.int8 else narrow)
        expected = exact_matrix(k, n, mode, boundary)
        _check(lambda: convmat.conv_matrix(k, n, mode, boundary), expected, dtype)
        if fits(expected, dtype):
            csr = convmat.conv_matrix(k, n, mode, boundary, format="csr")
            assert csr.toarray().astype(object).tolist() == expected.tolist()
            op = convmat.ConvOperator(k, n, mode, boundary)
            assert op.matrix("dense").astype(object).tolist() == expected.tolist()

    def test_issue_example(self):
        with pytest.raises(convmat.ResultOverflowError, match="int64"):
            convmat.conv_matrix(np.array([[2**62, 2**62]]), (1, 2), "same", "symm")

    @given(
        dtype=st.sampled_from([np.int8, np.uint8, np.int16, np.int64, np.uint64]),
        boundary=st.sampled_from(BOUNDARIES),
        n=shapes,
        m=shapes,
        data=st.data(),
    )
    def test_toeplitz_blocks_exact_or_refused(self, dtype, boundary, n, m, data):
        info = np.iinfo(dtype)
        narrow = hnp.arrays(dtype, m, elements=st.integers(info.min, info.max))
        k = data.draw(wide_arrays(dtype, m) if info.bits == 64 else narrow)
        rows = [exact_matrix(k[j : j + 1], (1, n[1]), "full", boundary) for j in range(m[0])]
        expected = np.stack(rows)
        if fits(expected, dtype):
            blocks = convmat.toeplitz_blocks(k, n, "full", boundary).blocks
            assert blocks.dtype == np.dtype(dtype)
            assert blocks.astype(object).tolist() == expected.tolist()
        else:
            with pytest.raises(convmat.ResultOverflowError, match=np.dtype(dtype).name):
                convmat.toeplitz_blocks(k, n, "full", boundary)


def _layer_matrix_exact(w: np.ndarray, **layer: object) -> np.ndarray:
    """A layer's matrix in Python ints: each weight times the 0/1 counts of its own tap."""
    total: np.ndarray | int = 0
    for idx in np.ndindex(*w.shape):
        e = np.zeros(w.shape)
        e[idx] = 1
        counts = nn.conv2d_matrix(e, (2, 3, 3), format="dense", **layer)
        total = total + counts.astype(np.int64).astype(object) * int(w[idx])
    return np.asarray(total)


class TestLayers:
    @given(
        padding_mode=st.sampled_from(["zeros", "circular", "reflect", "replicate"]),
        stride=st.integers(1, 2),
        data=st.data(),
    )
    def test_layers_exact_or_refused(self, padding_mode, stride, data):
        x = data.draw(wide_arrays(np.int64, (1, 2, 3, 3)))
        w = data.draw(wide_arrays(np.int64, (2, 2, 2, 2)))
        b = data.draw(wide_arrays(np.int64, (2,)))
        layer = {"stride": stride, "padding": 1, "padding_mode": padding_mode}
        m = _layer_matrix_exact(w, **layer)
        out = (m @ x.astype(object).reshape(-1)).reshape(2, -1) + b.astype(object)[:, None]
        side = 4 if stride == 1 else 2
        _check(lambda: nn.conv2d(x, w, b, **layer), out.reshape(1, 2, side, side), np.int64)
        y = data.draw(wide_arrays(np.int64, (1, 2, side, side)))
        back = (m.T @ y.astype(object).reshape(-1)).reshape(2, -1) + b.astype(object)[:, None]
        extra = stride - 1  # output_padding that gives back the 3 x 3 input

        def call() -> np.ndarray:
            return nn.conv_transpose2d(y, w, b, output_padding=extra, **layer)

        _check(call, back.reshape(1, 2, 3, 3), np.int64)

    def test_int8_layer_refused_not_wrapped(self):
        x = np.full((1, 1, 3, 3), 100, np.int8)
        with pytest.raises(convmat.ResultOverflowError, match="int8"):
            nn.conv2d(x, np.ones((1, 1, 2, 2), np.int8))
        with pytest.raises(convmat.ResultOverflowError, match="int8"):
            nn.conv_transpose2d(x, np.ones((1, 1, 2, 2), np.int8))

    def test_folded_layer_matrix_refused_not_wrapped(self):
        w = np.full((1, 1, 3, 3), 100, np.int8)
        with pytest.raises(convmat.ResultOverflowError, match="int8"):
            nn.conv2d_matrix(w, (1, 1, 1), padding=1, padding_mode="replicate")


def test_a_refused_result_names_the_value_that_does_not_fit():
    """The message gives the exact value beyond the dtype, above or below it."""
    with pytest.raises(
        convmat.ResultOverflowError,
        match=r"^the exact result cannot be held by the dtype int8 \(it reaches 400\);",
    ):
        convmat.conv2d(np.full((2, 2), 100, np.int8), np.ones((2, 2), np.int8))
    with pytest.raises(
        convmat.ResultOverflowError,
        match=r"^the exact result cannot be held by the dtype int8 \(it reaches -400\);",
    ):
        convmat.conv2d(np.full((2, 2), -100, np.int8), np.ones((2, 2), np.int8))


def _matmul_terms(a: np.ndarray, x: np.ndarray, c: int) -> list:
    """``a @ x`` plus a constant, as the bilinear terms of ``exact_products``."""
    return [
        (lambda u, v: u @ v, a, x),
        (lambda u, v: np.broadcast_to(u * v, (a.shape[0], x.shape[1])), np.array(c), np.array(1)),
    ]


@given(
    hnp.arrays(np.int64, (3, 4), elements=_wide(np.int64)),
    hnp.arrays(np.int64, (4, 2), elements=st.integers(-(2**20), 2**20)),
    st.integers(-(2**40), 2**40),
    st.sampled_from([np.int64, np.int32, np.int16]),
    st.booleans(),
)
def test_the_ladder_is_exact_or_refuses_on_every_rung(a, x, c, dtype, blas) -> None:
    """Whatever rung the bound picks (float64 BLAS, int64, limbs), the value is the Python
    ints' sum, or ResultOverflowError when it does not fit the dtype."""
    expected = [
        [sum(int(a[i, j]) * int(x[j, k]) for j in range(4)) + c for k in range(2)] for i in range(3)
    ]
    bound = max(abs(int(v)) for v in a.ravel()) * sum(abs(int(v)) for v in x.ravel()) + abs(c)
    info = np.iinfo(dtype)
    fits_dtype = all(info.min <= v <= info.max for row in expected for v in row)
    terms = _matmul_terms(a, x, c)
    if not fits_dtype:
        with pytest.raises(convmat.ResultOverflowError):
            exact_products(terms, bound, np.dtype(dtype), (3, 2), 4, blas=blas)
        return
    got = exact_products(terms, bound, np.dtype(dtype), (3, 2), 4, blas=blas)
    assert got.dtype == dtype
    assert got.tolist() == expected


def test_the_ladder_takes_float64_only_below_its_exact_range() -> None:
    """Below 2**53 with `blas` the first term runs in float64; at 2**53 it does not (a
    float64 sum there could round)."""
    seen: list[np.dtype] = []

    def product(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        seen.append(u.dtype)
        return u @ v

    a, x = np.ones((1, 1), dtype=np.int64), np.ones((1, 1), dtype=np.int64)
    for bound in (FLOAT_EXACT - 1, FLOAT_EXACT, SAFE - 1):
        exact_products([(product, a, x)], bound, np.dtype(np.int64), (1, 1), 1, blas=True)
    assert seen == [np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.int64)]
