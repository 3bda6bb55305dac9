"""convmat.dask against the in-memory functions: every mode, boundary and chunk grid.

Integers are compared exactly; floats exactly too with ``method='shift'``
(each output is then the same sum in the same order), and within the
direct-sum bound with 'auto'. The graphs run on dask's threaded scheduler
here and on a LocalCluster of worker processes in ``test_dask_cluster``.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import convmat
from convmat._engines import cache as _plans
from helpers import BOUNDARIES, MODES, convolve2d_ref, correlate2d_ref, valid_ok

# the [dask] extra: skipped, with this reason, where it is not installed
dask = pytest.importorskip("dask", reason="dask is the [dask] extra")
da = pytest.importorskip("dask.array", reason="dask is the [dask] extra")
cd = pytest.importorskip("convmat.dask")
_window = pytest.importorskip("convmat._blocks.window")

FORWARD = {
    "conv2d": (cd.conv2d, convmat.conv2d),
    "correlate2d": (cd.correlate2d, convmat.correlate2d),
}


def _cut(n: int, cuts: set[int]) -> tuple[int, ...]:
    edges = [0, *sorted(c for c in cuts if 0 < c < n), n]
    return tuple(b - a for a, b in itertools.pairwise(edges))


def chunk_grid(n: int) -> st.SearchStrategy[tuple[int, ...]]:
    """Any chunking of an axis of length `n`: uneven, single or one element each."""
    return st.one_of(
        st.sets(st.integers(1, max(n - 1, 1)), max_size=n).map(lambda c: _cut(n, c)),
        st.just((n,)),
        st.just((1,) * n),
    )


@st.composite
def cases(draw, side: int = 11, kside: int = 5):
    """(mode, boundary, batch shape, image shape, kernel shape, image chunks)."""
    mode = draw(st.sampled_from(MODES))
    boundary = draw(st.sampled_from(BOUNDARIES))
    shape = (draw(st.integers(1, side)), draw(st.integers(1, side)))
    kshape = (draw(st.integers(1, kside)), draw(st.integers(1, kside)))
    if mode == "valid" and not valid_ok(shape, kshape):
        mode = "same"
    batch = draw(st.sampled_from([(), (2,), (1, 2), (0,)]))
    chunks = tuple(draw(chunk_grid(s)) for s in shape)
    batch_chunks = tuple((1,) * b if b else (0,) for b in batch)
    return mode, boundary, batch, shape, kshape, batch_chunks + chunks


def _ints(rng, shape, dtype, low=-40, high=40):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind == "u":
        low = 0
    return rng.integers(low, high, shape).astype(dt)


# -- the forward functions -----------------------------------------------------------------
@pytest.mark.parametrize("name", FORWARD)
@given(
    case=cases(),
    dtype=st.sampled_from([np.int64, np.int16, np.uint8, np.bool_]),
    fill=st.sampled_from([0, 3, -2]),
    seed=st.integers(0, 2**16),
)
def test_integers_equal_the_in_memory_function(name, case, dtype, fill, seed) -> None:
    mode, boundary, batch, shape, kshape, chunks = case
    lazy_fn, eager_fn = FORWARD[name]
    rng = np.random.default_rng(seed)
    x = _ints(rng, (*batch, *shape), dtype)
    k = _ints(rng, kshape, np.int64, -5, 5)
    if np.dtype(dtype).kind == "u" and fill < 0:
        fill = 7
    want = eager_fn(x, k, mode, boundary, fill)
    lazy = lazy_fn(da.from_array(x, chunks=chunks), k, mode, boundary, fill)
    assert lazy.shape == want.shape
    assert lazy.dtype == want.dtype
    got = lazy.compute(scheduler="threads")
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", FORWARD)
@given(
    case=cases(),
    dtype=st.sampled_from([np.float32, np.float64, np.complex64, np.complex128, np.float16]),
    seed=st.integers(0, 2**16),
)
def test_floats_with_shift_equal_the_in_memory_function_bitwise(name, case, dtype, seed) -> None:
    """With a direct method each output is the same ordered sum: bitwise equal.

    Except for a single-row (or single-column) image and kernel with zero padding in
    'full' or 'same' mode: the in-memory product is then numpy's convolve of the row,
    whose outputs at the ends are dot products of the overlapping taps only, while a
    block takes dot products over its whole window, zeros included; numpy's SIMD dot
    groups the terms by length, so the last bit can differ. Both are direct sums within
    the same bound."""
    mode, boundary, batch, shape, kshape, chunks = case
    line = any(shape[1 - d] == 1 and kshape[1 - d] == 1 for d in (0, 1))
    assume(not (line and boundary == "fill" and mode != "valid"))
    lazy_fn, eager_fn = FORWARD[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*batch, *shape)).astype(dtype)
    k = rng.standard_normal(kshape).astype(dtype)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(x.shape).astype(dtype)
        k = k - 1j * rng.standard_normal(k.shape).astype(dtype)
    want = eager_fn(x, k, mode, boundary, method="shift")
    got = lazy_fn(da.from_array(x, chunks=chunks), k, mode, boundary, method="shift").compute()
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", FORWARD)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(case=cases(side=24, kside=7), fill=st.sampled_from([0.0, 1.5]), seed=st.integers(0, 99))
def test_auto_is_within_the_direct_sum_bound(name, dtype, case, fill, seed) -> None:
    """'auto' may take other methods per block than over the whole image: both outputs lie
    within ``taps * eps * (|k| * |x|)`` of the exact value, so within twice that of each other."""
    mode, boundary, batch, shape, kshape, chunks = case
    lazy_fn, eager_fn = FORWARD[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*batch, *shape)).astype(dtype)
    k = rng.standard_normal(kshape).astype(dtype)
    want = eager_fn(x, k, mode, boundary, fill)
    got = lazy_fn(da.from_array(x, chunks=chunks), k, mode, boundary, fill).compute()
    scale = eager_fn(np.abs(x).astype(np.float64), np.abs(k), mode, boundary, abs(fill))
    taps = k.size + 1
    bound = 2 * taps * np.finfo(dtype).eps * scale
    assert got.dtype == want.dtype
    assert np.all(np.abs(got.astype(np.float64) - want) <= bound)


def test_the_example_of_the_issue_a_large_uneven_grid() -> None:
    """A 4x5 kernel over chunks of 1 to 7 rows: the halos cross several blocks."""
    rng = np.random.default_rng(3)
    x = rng.integers(-100, 100, (3, 40, 37))
    k = rng.integers(-9, 9, (4, 5))
    chunks = ((2, 1), (1, 7, 2, 3, 1, 6, 7, 7, 6), (5, 1, 1, 30))
    for mode, boundary in itertools.product(MODES, BOUNDARIES):
        for lazy_fn, eager_fn in FORWARD.values():
            got = lazy_fn(da.from_array(x, chunks=chunks), k, mode, boundary, fillvalue=-4)
            np.testing.assert_array_equal(got.compute(), eager_fn(x, k, mode, boundary, -4))


def test_fillvalue_the_images_dtype_cannot_hold() -> None:
    """uint8 images with a float kernel and a negative fill: the padding is held exactly."""
    x = np.arange(30, dtype=np.uint8).reshape(5, 6)
    k = np.array([[0.5, 1.0], [2.0, -1.0]])
    got = cd.conv2d(da.from_array(x, chunks=2), k, "full", "fill", -1.5, method="shift")
    np.testing.assert_array_equal(
        got.compute(), convmat.conv2d(x, k, "full", "fill", -1.5, method="shift")
    )


def test_kernel_larger_than_the_image() -> None:
    """'valid' with the roles swapped, and wrap/symm reaching around more than once."""
    rng = np.random.default_rng(4)
    x = rng.integers(-9, 9, (3, 4))
    k = rng.integers(-9, 9, (7, 9))
    for mode, boundary in itertools.product(MODES, BOUNDARIES):
        for lazy_fn, eager_fn in FORWARD.values():
            got = lazy_fn(da.from_array(x, chunks=(2, 1)), k, mode, boundary)
            np.testing.assert_array_equal(got.compute(), eager_fn(x, k, mode, boundary))


@pytest.mark.parametrize("name", FORWARD)
@given(
    case=cases(side=6, kside=5),
    fill=st.sampled_from([0.0, 2.0]),
    where=st.lists(st.tuples(st.integers(0, 99), st.sampled_from([np.nan, np.inf, -np.inf]))),
    in_kernel=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_non_finite_values_land_where_the_in_memory_function_puts_them(
    name, case, fill, where, in_kernel, seed
) -> None:
    """NaN and inf in the kernel or the image, every mode and boundary, any chunking,
    a kernel larger than the image: scipy's values, as the in-memory function gives them."""
    mode, boundary, batch, shape, kshape, chunks = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*batch, *shape))
    k = rng.standard_normal(kshape)
    target = k if in_kernel or x.size == 0 else x
    for at, value in where[:2]:
        target.flat[at % target.size] = value
    lazy_fn, eager_fn = FORWARD[name]
    got = lazy_fn(da.from_array(x, chunks=chunks), k, mode, boundary, fill).compute()
    expected = eager_fn(x, k, mode, boundary, fill)
    scipy_fn = convolve2d_ref if name == "conv2d" else correlate2d_ref
    with np.errstate(invalid="ignore", over="ignore"):
        reference = [scipy_fn(image, k, mode, boundary, fill) for image in x.reshape(-1, *shape)]
    if reference:
        np.testing.assert_array_equal(
            np.isnan(expected), np.isnan(np.stack(reference).reshape(expected.shape))
        )
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-12, atol=1e-12)


def test_overflow_is_refused_when_computed() -> None:
    x = da.full((6, 6), 100, dtype=np.int8, chunks=3)
    k = np.full((2, 2), 2, dtype=np.int8)
    lazy = cd.conv2d(x, k, "same")  # building the graph cannot know the values
    with pytest.raises(convmat.ResultOverflowError, match="int8"):
        lazy.compute()


# -- chunks and halos ----------------------------------------------------------------------
def test_same_mode_keeps_the_chunks() -> None:
    x = da.zeros((2, 3, 20, 30), chunks=((1, 1), (2, 1), (5, 7, 8), (10, 11, 9)))
    out = cd.conv2d(x, np.ones((3, 4)), "same", "wrap")
    assert out.chunks == x.chunks
    out = cd.correlate2d(x, np.ones((5, 2)), "same", "symm")
    assert out.chunks == x.chunks


@pytest.mark.parametrize("mode", MODES)
def test_each_block_reads_exactly_its_outputs_and_the_kernels_reach(mode, monkeypatch) -> None:
    """A block of the window is the block of outputs plus ``m - 1`` rows and columns."""
    seen: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    lock = threading.Lock()
    original = _window.valid_block

    def spy(block, kernel, *, corr, method, rtol):
        out = original(block, kernel, corr=corr, method=method, rtol=rtol)
        with lock:
            seen.append((block.shape, out.shape))
        return out

    monkeypatch.setattr(_window, "valid_block", spy)
    x = da.ones((30, 40), chunks=(7, 9), dtype=int)
    k = np.ones((5, 4), dtype=int)
    out = cd.conv2d(x, k, mode, "symm")
    out.compute(scheduler="threads")
    assert len(seen) == out.npartitions
    for block, result in seen:
        assert block == (result[0] + 4, result[1] + 3)
    assert sorted(r for _, r in seen) == sorted(itertools.product(*out.chunks))


def test_chunks_smaller_than_the_halo_are_merged_by_dask() -> None:
    x = da.from_array(np.arange(100).reshape(10, 10), chunks=1)
    out = cd.conv2d(x, np.ones((5, 5), dtype=int), "same")
    # every block of the window lends 2 rows and columns and keeps one output: 3 or more
    assert all(c >= 3 for c in out.chunks[0][1:-1] + out.chunks[1][1:-1])
    assert sum(out.chunks[0]) == sum(out.chunks[1]) == 10
    np.testing.assert_array_equal(
        out.compute(),
        convmat.conv2d(np.arange(100).reshape(10, 10), np.ones((5, 5), dtype=int), "same"),
    )


def test_one_engine_per_distinct_block_shape() -> None:
    """The engines come from the process's cache: built once per block shape, not per block."""
    _plans.clear()
    x = da.ones((4, 64, 64), chunks=(1, 16, 16), dtype=np.int32)
    out = cd.conv2d(x, np.ones((3, 3), dtype=np.int32), "same", "wrap")
    out.compute(scheduler="threads")
    shapes = {(a + 2, b + 2) for a, b in itertools.product(*out.chunks[1:])}
    assert len(shapes) == 1
    assert len(_plans._cache) == len(shapes)


# -- laziness and eager refusals -------------------------------------------------------------
def test_nothing_is_computed_before_compute() -> None:
    calls = []

    def source(block):
        calls.append(block.shape)
        return block

    meta = np.empty((0, 0, 0))
    x = da.ones((2, 20, 20), chunks=(1, 7, 7)).map_blocks(source, dtype=float, meta=meta)
    k = np.ones((3, 3))
    lazies = [
        cd.conv2d(x, k, "full", "wrap"),
        cd.correlate2d(x, k, "same", "symm", fillvalue=2),
        cd.conv_transpose2d(x, k, "same", "symm"),
        convmat.ConvOperator(k, (20, 20), "valid")(x),
        convmat.ConvOperator(k, (18, 18), "full").T(x),
    ]
    assert calls == []
    assert all(isinstance(lazy, da.Array) for lazy in lazies)
    dask.compute(*lazies, scheduler="threads")
    assert calls


_X = da.ones((2, 8, 9), chunks=4)
_K = np.ones((3, 3))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: cd.conv2d(_X, _K, "middle"), ValueError, "`mode`"),
        (lambda: cd.conv2d(_X, _K, "same", "edge"), ValueError, "`boundary`"),
        (lambda: cd.conv2d(_X, _K, "same", "fill", 0.5 + 1j), ValueError, "fillvalue"),
        (
            lambda: cd.conv2d(_X.astype(int), _K.astype(int), "same", "fill", 0.5),
            ValueError,
            "fillvalue",
        ),
        (lambda: cd.conv2d(_X.astype(int), _K.astype(int), method="fft"), ValueError, "`method`"),
        (lambda: cd.conv2d(_X, _K, method="fastest"), ValueError, "`method`"),
        (lambda: cd.conv2d(_X, _K, rtol=-1.0), ValueError, "`rtol`"),
        (lambda: cd.correlate2d(_X, _K, rtol=float("nan")), ValueError, "`rtol`"),
        (lambda: cd.conv_transpose2d(_X, _K, rtol="0"), TypeError, "`rtol`"),
        (lambda: cd.conv2d(_X, np.ones(3)), ValueError, "`kernel` must be 2-D"),
        (lambda: cd.conv2d(_X, np.ones((0, 3))), ValueError, "`kernel` must not be empty"),
        (lambda: cd.conv2d(_X, da.ones((3, 3))), TypeError, "in-memory"),
        (lambda: cd.conv2d(np.ones((8, 9)), _K), TypeError, "dask array"),
        (lambda: cd.conv2d(da.ones(9), _K), ValueError, "at least 2"),
        (lambda: cd.conv2d(_X.astype(bool), _K.astype(bool)), TypeError, "boolean"),
        (lambda: cd.conv2d(_X.astype(str), _K), TypeError, "numeric"),
        (lambda: cd.conv2d(da.ones((2, 5)), np.ones((3, 4)), "valid"), ValueError, "valid"),
        (lambda: cd.conv2d(da.ones((0, 5)), _K), ValueError, "must not be empty"),
        (lambda: cd.conv2d(_X[_X[:, 0, 0] > 0], _K), ValueError, "unknown chunk"),
        (lambda: cd.conv2d(da.ma.masked_equal(_X, 0), _K), TypeError, "masked"),
        (
            lambda: cd.conv_transpose2d(_X, _K, "full", input_shape=(8, 9)),
            ValueError,
            "must end in shape",
        ),
        (lambda: cd.conv_transpose2d(_X, _K, "same", input_shape=(8,)), ValueError, "input_shape"),
        (
            lambda: cd.conv_transpose2d(_X, _K, "valid", input_shape=(9, 9)),
            ValueError,
            "must end in shape",
        ),
        (
            lambda: cd.conv_transpose2d(_X[..., :1, :1], np.ones((3, 3)), "full"),
            ValueError,
            "cannot come from",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_arguments_are_refused_when_the_graph_is_built(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


# -- the transpose ---------------------------------------------------------------------------
@given(case=cases(side=9, kside=4), seed=st.integers(0, 2**16))
def test_transpose_equals_the_explicit_matrix(case, seed) -> None:
    mode, boundary, batch, shape, kshape, _ = case
    rng = np.random.default_rng(seed)
    k = rng.integers(-6, 6, kshape)
    A = convmat.conv_matrix(k, shape, mode, boundary, format="dense")
    out_shape = convmat.conv2d(np.zeros(shape, dtype=int), k, mode, boundary).shape
    y = rng.integers(-20, 20, (*batch, *out_shape))
    chunks = tuple((1,) * b if b else (0,) for b in batch) + tuple(
        _cut(s, set(rng.integers(1, max(s, 2), 3).tolist())) for s in out_shape
    )
    lazy = cd.conv_transpose2d(
        da.from_array(y, chunks=chunks), k, mode, boundary, input_shape=shape
    )
    want = (y.reshape(-1, A.shape[0]) @ A).reshape(*batch, *shape)
    assert lazy.shape == want.shape
    got = lazy.compute(scheduler="threads")
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        got, convmat.conv_transpose2d(y, k, mode, boundary, input_shape=shape)
    )


@pytest.mark.parametrize(("mode", "boundary"), list(itertools.product(MODES, BOUNDARIES)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_transpose_is_the_adjoint(mode, boundary, dtype) -> None:
    """Dot test: ``<A x, y> == <x, A.T y>`` for real data (``A.H y = conj(A.T conj(y))``)."""
    rng = np.random.default_rng(5)
    k = rng.standard_normal((4, 3)).astype(dtype)
    x = rng.standard_normal((2, 17, 13)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        k, x = k + 1j * k[::-1], x - 2j * x[:, ::-1]
    ax = cd.conv2d(da.from_array(x, chunks=(1, 5, 6)), k, mode, boundary)
    y = rng.standard_normal(ax.shape).astype(dtype)
    aty = cd.conv_transpose2d(
        da.from_array(y.conj(), chunks=(2, 4, 3)), k, mode, boundary, input_shape=(17, 13)
    )
    lhs = np.vdot(ax.compute(), y)
    rhs = np.vdot(x, aty.compute().conj())
    np.testing.assert_allclose(lhs, rhs, rtol=50 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.complex64, np.float64])
@pytest.mark.parametrize(
    ("mode", "boundary"), [("same", "symm"), ("full", "wrap"), ("valid", "fill")]
)
def test_float_transpose_matches_the_in_memory_one(dtype, mode, boundary) -> None:
    """Same dtype, values within the dtype's rounding (float16 summed in float32, rounded once)."""
    rng = np.random.default_rng(8)
    k = rng.standard_normal((3, 4)).astype(dtype)
    shape = convmat.conv2d(np.zeros((19, 23)), np.zeros((3, 4)), mode).shape
    y = rng.standard_normal((2, *shape)).astype(dtype)
    want = convmat.conv_transpose2d(y, k, mode, boundary, input_shape=(19, 23))
    lazy = cd.conv_transpose2d(
        da.from_array(y, chunks=(1, 5, 7)), k, mode, boundary, input_shape=(19, 23)
    )
    got = lazy.compute()
    assert got.dtype == want.dtype == np.dtype(dtype)
    scale = convmat.conv_transpose2d(
        np.abs(y).astype(np.float64), np.abs(k), mode, boundary, input_shape=(19, 23)
    )
    eps = np.finfo(np.float32 if dtype == np.float16 else dtype).eps
    bound = 4 * k.size * eps * scale + (
        np.finfo(dtype).eps * np.abs(want) if dtype == np.float16 else 0
    )
    assert np.all(np.abs(got.astype(np.complex128) - want) <= bound)


def test_transpose_of_narrow_integers_is_exact_or_refused() -> None:
    """Sums are exact in 64 bits and cast once: int8 folds near the edges that fit are kept."""
    k = np.array([[100, -100]], dtype=np.int8)
    y = np.full((4, 5), 1, dtype=np.int8)
    got = cd.conv_transpose2d(da.from_array(y, chunks=2), k, "same", "symm").compute()
    np.testing.assert_array_equal(got, convmat.conv_transpose2d(y, k, "same", "symm"))
    assert got.dtype == np.int8
    big = da.from_array(np.full((4, 5), 100, dtype=np.int8), chunks=2)
    with pytest.raises(
        convmat.ResultOverflowError,
        match=r"^the exact transposed convolution cannot be held by the dtype int8 \(it reaches",
    ):
        cd.conv_transpose2d(big, k * 0 + 100, "same", "symm").compute()


# -- ConvOperator on dask batches --------------------------------------------------------------
@pytest.mark.parametrize("method", ["sparse", "shift"])
@pytest.mark.parametrize(
    ("mode", "boundary"), [("same", "symm"), ("full", "fill"), ("valid", "wrap")]
)
def test_operator_applies_to_dask_batches(method, mode, boundary) -> None:
    rng = np.random.default_rng(6)
    k = rng.standard_normal((3, 4))
    op = convmat.ConvOperator(k, (12, 15), mode, boundary, method=method)
    x = rng.standard_normal((7, 12, 15))
    lazy = op(da.from_array(x, chunks=(3, 5, 15)))  # image axes joined into one chunk
    assert isinstance(lazy, da.Array)
    assert lazy.chunks == ((3, 3, 1), (op.output_shape[0],), (op.output_shape[1],))
    np.testing.assert_array_equal(lazy.compute(), op(x))
    y = rng.standard_normal((2, 3, *op.output_shape)) + 1j * rng.standard_normal(
        (2, 3, *op.output_shape)
    )
    dy = da.from_array(y, chunks=(1, 2, 4, 4))
    np.testing.assert_array_equal(op.T(dy).compute(), op.T(y))
    np.testing.assert_array_equal(op.H(dy).compute(), op.H(y))
    np.testing.assert_array_equal(op.apply_transpose(dy).compute(), op.apply_transpose(y))


def test_operator_refuses_a_dask_batch_of_the_wrong_shape_eagerly() -> None:
    op = convmat.ConvOperator(np.ones((3, 3)), (10, 10))
    with pytest.raises(ValueError, match=r"`x` must end in shape \(10, 10\)"):
        op(da.ones((2, 10, 11)))
    with pytest.raises(ValueError, match=r"`y` must end in shape \(12, 12\)"):
        op.T(da.ones((2, 10, 10)))
    with pytest.raises(TypeError, match="numeric"):
        op(da.ones((10, 10)).astype(str))


def test_integer_operator_on_a_dask_batch_is_exact() -> None:
    rng = np.random.default_rng(7)
    k = rng.integers(-9, 9, (5, 5))
    op = convmat.ConvOperator(k, (20, 20), "same", "wrap")
    x = rng.integers(-1000, 1000, (9, 20, 20))
    np.testing.assert_array_equal(op(da.from_array(x, chunks=(2, 20, 20))).compute(), op(x))


def test_rtol_reaches_every_block() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((96, 80))
    k = rng.standard_normal((31, 31))
    seen: list[object] = []
    original = _window.valid_block

    def spy(block, kernel, *, corr, method, rtol):
        seen.append(rtol)
        return original(block, kernel, corr=corr, method=method, rtol=rtol)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_window, "valid_block", spy)
        got = cd.conv2d(da.from_array(x, chunks=48), k, "same", rtol=0.0).compute(scheduler="sync")
    assert seen
    assert all(r == 0.0 for r in seen)
    np.testing.assert_allclose(got, convmat.conv2d(x, k, "same", rtol=0.0), rtol=1e-12, atol=1e-12)
