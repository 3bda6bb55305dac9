"""ConvOperator: every method equals the explicit matrix; transpose, adjoint, solvers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, lsqr

import convmat
from helpers import BOUNDARIES, MODES, arrays, valid_ok

shapes2 = st.tuples(st.integers(1, 6), st.integers(1, 6))
kshapes2 = st.tuples(st.integers(1, 7), st.integers(1, 7))
METHODS = ("sparse", "dense", "shift", "fft", "banded")


def _tol(method: str, dtype, x, k, size: int) -> float:
    eps = np.finfo(dtype).eps
    scale = float(np.abs(x).max(initial=0) * np.abs(k).sum())
    growth = np.log2(max(size, 2)) * 4 if method == "fft" else 1
    return 16 * eps * scale * growth + 16 * float(np.finfo(dtype).tiny)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data(), n=shapes2, m=kshapes2, batch=st.integers(1, 3))
def test_every_method_equals_the_matrix(data, n, m, batch, mode, boundary, method):
    assume(mode != "valid" or valid_ok(n, m))
    dtype = data.draw(st.sampled_from([np.float64, np.complex128]))
    k = data.draw(arrays(dtype, m))
    x = data.draw(arrays(dtype, (batch, *n)))
    op = convmat.ConvOperator(k, n, mode, boundary, method=method)
    a = convmat.conv_matrix(k, n, mode, boundary)
    got = op(x)
    assert got.shape == (batch, *op.output_shape)
    expected = x.reshape(batch, -1) @ a.T
    tol = _tol(method, dtype, x, k, a.size)
    np.testing.assert_allclose(got.reshape(batch, -1), expected, rtol=0, atol=tol)
    y = data.draw(arrays(dtype, (batch, *op.output_shape)))
    got_t = op.T(y)
    assert got_t.shape == (batch, *n)
    tol_t = _tol(method, dtype, y, k, a.size) * max(1, a.shape[0] // max(a.shape[1], 1) + 1)
    np.testing.assert_allclose(
        got_t.reshape(batch, -1), y.reshape(batch, -1) @ a, rtol=0, atol=tol_t
    )


@pytest.mark.parametrize("method", ["sparse", "shift"])
@given(data=st.data(), n=shapes2, m=kshapes2)
def test_integer_methods_are_exact(data, n, m, method):
    k = data.draw(arrays(np.int64, m))
    x = data.draw(arrays(np.int64, (2, *n)))
    op = convmat.ConvOperator(k, n, "same", "symm", method=method)
    a = convmat.conv_matrix(k, n, "same", "symm")
    np.testing.assert_array_equal(op(x).reshape(2, -1), x.reshape(2, -1) @ a.T)
    np.testing.assert_array_equal(op.T(op(x)).reshape(2, -1), (x.reshape(2, -1) @ a.T) @ a)


@pytest.mark.parametrize("method", ["fft", "dense", "banded"])
def test_inexact_methods_refused_for_integer_kernels(method):
    with pytest.raises(ValueError, match=f"`method` '{method}' is not exact"):
        convmat.ConvOperator(np.ones((2, 2), dtype=int), (4, 4), method=method)


@pytest.mark.parametrize("shape", [(5,), (4, 5, 6)])
def test_banded_serves_two_dimensional_kernels_only(shape):
    kernel = np.ones(tuple(2 for _ in shape))
    with pytest.raises(ValueError, match=r"^`method` 'banded' serves 2-D kernels only"):
        convmat.ConvOperator(kernel, shape, method="banded")
    with pytest.raises(ValueError, match="'banded' serves 2-D kernels only"):
        convmat.convolve(np.ones(shape), kernel, method="banded")
    with pytest.raises(ValueError, match="'banded' serves 2-D kernels only"):
        convmat.conv_transpose(np.ones(shape), kernel, "same", method="banded")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_adjoint_dot_test(method, boundary):
    rng = np.random.default_rng(7)
    k = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    op = convmat.ConvOperator(k, (6, 5), "same", boundary, method=method)
    u = rng.standard_normal(op.shape[1]) + 1j * rng.standard_normal(op.shape[1])
    v = rng.standard_normal(op.shape[0]) + 1j * rng.standard_normal(op.shape[0])
    lhs, rhs = np.vdot(op.matvec(u), v), np.vdot(u, op.rmatvec(v))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, err_msg=f"<Au, v> = {lhs}, <u, A^H v> = {rhs}")
    lhs_h = np.vdot(op.H.matvec(v), u)
    np.testing.assert_allclose(lhs_h, np.vdot(v, op.matvec(u)), rtol=1e-12)
    np.testing.assert_allclose(op.H(v.reshape(op.output_shape)).ravel(), op.rmatvec(v), rtol=1e-12)


def test_transpose_equals_conv_transpose2d():
    rng = np.random.default_rng(1)
    k = rng.standard_normal((3, 2))
    op = convmat.ConvOperator(k, (7, 8), "valid")
    y = rng.standard_normal((4, *op.output_shape))
    np.testing.assert_allclose(op.T(y), convmat.conv_transpose2d(y, k, "valid"), atol=1e-12)
    assert op.T.T is op
    assert op.T.shape == (op.shape[1], op.shape[0])


def test_linear_operator_protocol():
    rng = np.random.default_rng(2)
    k = rng.standard_normal((2, 3))
    op = convmat.ConvOperator(k, (4, 5), "full", "wrap")
    assert isinstance(op, LinearOperator)
    a = convmat.conv_matrix(k, (4, 5), "full", "wrap")
    x = rng.standard_normal((20, 3))
    np.testing.assert_allclose(op @ x, a @ x, atol=1e-12)
    np.testing.assert_allclose(op.matvec(x[:, 0]), a @ x[:, 0], atol=1e-12)
    np.testing.assert_allclose(op.rmatmat(a @ x), a.T @ (a @ x), atol=1e-12)
    np.testing.assert_allclose(op.T @ (a @ x), a.T @ (a @ x), atol=1e-12)
    np.testing.assert_array_equal(op.matrix("dense"), a)


def test_lsqr_recovers_a_blurred_image():
    rng = np.random.default_rng(3)
    image = rng.standard_normal((12, 10))
    blur = np.outer([1.0, 2.0, 1.0], [1.0, 3.0, 1.0]) / 20
    op = convmat.ConvOperator(blur, image.shape, "full")
    blurred = op(image)
    x = lsqr(op, blurred.ravel(), atol=1e-14, btol=1e-14, iter_lim=2000)[0]
    np.testing.assert_allclose(x.reshape(image.shape), image, atol=1e-8)


@pytest.mark.parametrize("method", ["dense", "fft", "shift", "auto"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs_stay_local_whatever_the_method(method, bad):
    k = np.arange(1.0, 10.0).reshape(3, 3)
    x = np.zeros((2, 9, 9))
    x[0, 4, 4] = bad
    op = convmat.ConvOperator(k, (9, 9), "same", "symm", method=method)
    got = op(x)
    expected = np.stack([ss.convolve2d(xi, k, "same", "symm") for xi in x])
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(expected))
    assert np.isfinite(got[1]).all()


def test_kernel_copied_at_construction():
    k = np.ones((2, 2))
    op = convmat.ConvOperator(k, (3, 3))
    before = op(np.ones((3, 3)))
    k[:] = 5
    np.testing.assert_array_equal(op(np.ones((3, 3))), before)


def test_attributes_and_nbytes():
    op = convmat.ConvOperator(np.ones((3, 3), dtype=np.float32), (16, 16), "same", method="sparse")
    assert op.input_shape == (16, 16)
    assert op.output_shape == (16, 16)
    assert op.shape == (256, 256)
    assert op.dtype == np.float32
    assert op.method == "sparse"
    small = op.nbytes
    op(np.ones((16, 16), dtype=np.float32))
    assert op.nbytes > small
    assert "ConvOperator 256x256" in repr(op)


def test_auto_picks_fft_for_large_kernels_and_a_direct_sum_for_small():
    k31 = np.random.default_rng(0).standard_normal((31, 31))
    assert convmat.ConvOperator(k31, (256, 256), "same").method_for(1) == "fft"
    # a box is separable: its row and column passes 4.6 to 4.9 ms on one 256² image of
    # normal data, the certified FFT 7.6 to 7.9 ms (measured 2026-12-08, 2 CPUs)
    assert convmat.ConvOperator(np.ones((31, 31)), (256, 256), "same").method_for(1) == "shift"
    small = convmat.ConvOperator(np.ones((3, 3)), (32, 32), "same")
    assert small.method_for(1) != "banded"  # one image: the band's GEMM is too small to pay
    # 64 images of 32² with 3x3 (measured 2026-12-07, 2 CPUs, matmat): sparse 0.47 to
    # 0.53 ms, shift 1.4 to 1.8, banded 2.4
    assert small.method_for(64) == "sparse"
    big = convmat.ConvOperator(np.ones((3, 3)), (2048, 2048), "same")
    assert big.method_for(64) in ("sparse", "shift")
    assert convmat.ConvOperator(np.ones((3, 3), int), (64, 64)).method_for(1) in ("sparse", "shift")


def test_float32_stays_float32():
    op = convmat.ConvOperator(np.ones((3, 3), np.float32), (8, 8), method="fft")
    assert op(np.ones((8, 8), np.float32)).dtype == np.float32
    assert op(np.ones((8, 8))).dtype == np.float64


def test_explicit_methods_refuse_matrices_that_cannot_fit():
    with pytest.raises(convmat.MatrixTooLargeError, match="method='sparse'"):
        convmat.ConvOperator(np.ones((3, 3)), (512, 512), method="dense")
    with pytest.raises(convmat.MatrixTooLargeError, match="nonzeros"):
        convmat.ConvOperator(np.ones((2000, 2000)), (3000, 3000), method="sparse")
    auto = convmat.ConvOperator(np.ones((2000, 2000)), (3000, 3000), "same")
    assert auto.method_for(1) == "fft"  # auto goes where it fits


class TestBadInput:
    def test_method(self):
        with pytest.raises(ValueError, match=r"`method`.*'fast'"):
            convmat.ConvOperator(np.ones((2, 2)), (3, 3), method="fast")

    def test_input_shape_mismatch(self):
        op = convmat.ConvOperator(np.ones((2, 2)), (3, 3))
        with pytest.raises(ValueError, match=r"`x` must end in shape \(3, 3\)"):
            op(np.ones((4, 3)))
        with pytest.raises(ValueError, match=r"`y` must end in shape \(4, 4\)"):
            op.T(np.ones((3, 3)))


def _views(op):
    """Every chain of .T, .H and .conj() up to depth three, by name, with its matrix."""
    a = op.matrix("dense")
    steps = {"T": (lambda o: o.T, lambda m: m.T), "H": (lambda o: o.H, lambda m: m.conj().T)}
    steps["C"] = (lambda o: o.conj(), lambda m: m.conj())
    chains = [("", op, a)]
    for _ in range(3):
        chains += [
            (name + s, step(o), mat(m))
            for name, o, m in chains
            if len(name) == _
            for s, (step, mat) in steps.items()
        ]
    return chains


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_every_chain_of_views_is_its_matrix(dtype):
    rng = np.random.default_rng(0)
    k = rng.standard_normal((2, 3)).astype(dtype)
    if dtype is np.complex128:
        k = k + 1j * rng.standard_normal((2, 3))
    op = convmat.ConvOperator(k, (4, 5), "full", "symm")
    for name, view, m in _views(op):
        x = rng.standard_normal((m.shape[1], 2)) + 1j * rng.standard_normal((m.shape[1], 2))
        y = rng.standard_normal((m.shape[0], 2)) + 1j * rng.standard_normal((m.shape[0], 2))
        assert view.shape == m.shape, name
        np.testing.assert_allclose(view.matvec(x[:, 0]), m @ x[:, 0], atol=1e-12, err_msg=name)
        np.testing.assert_allclose(view.matmat(x), m @ x, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(view.rmatvec(y[:, 0]), m.conj().T @ y[:, 0], atol=1e-12)
        np.testing.assert_allclose(view.rmatmat(y), m.conj().T @ y, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(view.adjoint() @ y, m.conj().T @ y, atol=1e-12, err_msg=name)
        shaped = view(x[:, 0].reshape(view.input_shape))
        np.testing.assert_allclose(shaped.reshape(-1), m @ x[:, 0], atol=1e-12, err_msg=name)


def test_products_of_views_have_adjoints():
    op = convmat.ConvOperator(np.array([[1.0, 2.0], [3.0, 4.0j]]), (3, 3), "same", "wrap")
    a = op.matrix("dense")
    gram = (op.T @ op).H
    v = np.arange(9.0) + 1j
    np.testing.assert_allclose(gram @ v, (a.T @ a).conj().T @ v, atol=1e-12)
    np.testing.assert_allclose(op.H.T @ v, a.conj() @ v, atol=1e-12)


@pytest.mark.parametrize(
    "kdtype", [np.int8, np.uint8, np.int16, np.float16, np.float32, np.bool_, np.complex64]
)
def test_one_dtype_rule_with_the_one_shot_functions(kdtype):
    k = np.array([[1, 0], [1, 1]]).astype(kdtype)
    op = convmat.ConvOperator(k, (3, 4), "same", "symm")
    assert op.dtype == convmat.conv_matrix(k, (3, 4)).dtype
    assert op.matrix("dense").dtype == convmat.conv_matrix(k, (3, 4), "same", "symm").dtype
    for xdtype in (np.int8, np.uint8, np.float32):
        x = np.ones((2, 3, 4), xdtype)
        if kdtype is np.bool_ and xdtype is np.bool_:
            continue
        assert op(x).dtype == convmat.conv2d(x, k, "same", "symm").dtype
        y = np.ones((2, 3, 4), xdtype)
        assert op.T(y).dtype == convmat.conv_transpose2d(y, k, "same", "symm").dtype


class TestMethodFor:
    @pytest.mark.parametrize(
        ("batch", "error"), [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)]
    )
    def test_bad_batch(self, batch, error):
        op = convmat.ConvOperator(np.ones((2, 2)), (4, 4))
        with pytest.raises(error, match="`batch`"):
            op.method_for(batch)

    @pytest.mark.parametrize("dtype", [object, "U3", "datetime64[s]", "not-a-dtype"])
    def test_bad_dtype(self, dtype):
        op = convmat.ConvOperator(np.ones((2, 2)), (4, 4))
        with pytest.raises(TypeError, match="`dtype`"):
            op.method_for(1, dtype)

    def test_integer_operators_use_exact_methods(self):
        op = convmat.ConvOperator(np.ones((31, 31), np.int64), (512, 512), "same")
        assert op.method_for(1) in ("sparse", "shift")
        assert op.method_for(4, np.int8) in ("sparse", "shift")
        k = np.random.default_rng(0).random((31, 31))
        assert convmat.ConvOperator(k, (512, 512), "same").method_for(1) == "fft"


class TestWhatTheSmallCasesMiss:
    """Paths that only large or unusual inputs reach."""

    @pytest.mark.parametrize("method", ["sparse", "shift"])
    @pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.float64])
    def test_threaded_batches_equal_one_image_at_a_time(self, method, dtype):
        from convmat._engines.pool import PARALLEL_WORK

        rng = np.random.default_rng(6)
        k = rng.standard_normal((5, 5)).astype(dtype)
        x = rng.standard_normal((64, 64, 64)).astype(dtype)
        assert PARALLEL_WORK < 25 * 64 * 64 * 64  # the batch is split over threads
        op = convmat.ConvOperator(k, (64, 64), "same", "symm", method=method)
        got = op(x)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, np.stack([op(xi) for xi in x]))
        back = op.T(got)
        np.testing.assert_array_equal(back, np.stack([op.T(gi) for gi in got]))

    def test_shift_transpose_over_several_cache_blocks(self):
        rng = np.random.default_rng(7)
        k = rng.standard_normal((3, 4))
        op = convmat.ConvOperator(k, (64, 64), "full", "wrap", method="shift")
        engine = op._engine(np.dtype(np.float64))
        y = rng.standard_normal((40, *op.output_shape))
        assert engine.block(40) < 40
        a = op.matrix()
        np.testing.assert_allclose(
            op.T(y).reshape(40, -1), y.reshape(40, -1) @ a, rtol=1e-12, atol=1e-12
        )

    @pytest.mark.parametrize("transpose", [False, True])
    def test_fft_with_a_complex_kernel_and_real_data(self, transpose):
        rng = np.random.default_rng(8)
        k = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
        op = convmat.ConvOperator(k, (6, 7), "same", "symm", method="fft")
        a = op.matrix("dense")
        if transpose:
            y = rng.standard_normal((2, *op.output_shape))
            np.testing.assert_allclose(op.T(y).reshape(2, -1), y.reshape(2, -1) @ a, atol=1e-12)
            np.testing.assert_allclose(
                op.H(y).reshape(2, -1), y.reshape(2, -1) @ a.conj(), atol=1e-12
            )
        else:
            x = rng.standard_normal((2, 6, 7))
            np.testing.assert_allclose(op(x).reshape(2, -1), x.reshape(2, -1) @ a.T, atol=1e-12)

    @pytest.mark.parametrize("boundary", ["fill", "symm"])
    def test_nan_through_a_transpose_stays_local(self, boundary):
        k = np.array([[1.0, 2.0], [0.0, 3.0]])
        op = convmat.ConvOperator(k, (5, 5), "full", boundary)
        y = np.zeros(op.output_shape)
        y[3, 3] = np.nan
        pattern = convmat.conv_matrix(np.ones_like(k), (5, 5), "full", boundary)
        expected = pattern[np.flatnonzero(np.isnan(y.ravel()))].sum(axis=0) > 0
        np.testing.assert_array_equal(np.isnan(op.T(y)).ravel(), expected)
        np.testing.assert_array_equal(
            np.isnan(convmat.conv_transpose2d(y, k, "full", boundary)).ravel(), expected
        )


@pytest.mark.parametrize("boundary", ["wrap", "symm"])
def test_non_finite_3d_input_of_a_folded_operator_stays_local(boundary):
    from helpers import reference_nd

    x = np.zeros((3, 4, 5))
    x[1, 2, 3] = np.nan
    k = np.ones((2, 3, 2))
    op = convmat.ConvOperator(k, x.shape, "same", boundary)
    reached = reference_nd(np.isnan(x).astype(float), k, "same", boundary) > 0
    np.testing.assert_array_equal(np.isnan(op(x)), reached)


def test_operator_pickles_as_its_arguments_and_is_shared_per_process() -> None:
    """A pickled operator comes back as the process's one operator with its arguments,
    so that a dask worker builds its engines once however many tasks carry it."""
    import pickle

    k = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float16)
    op = convmat.ConvOperator(k, (6, 7), "same", "symm", method="shift")
    first, second = pickle.loads(pickle.dumps(op)), pickle.loads(pickle.dumps(op))
    assert first is second
    assert repr(first) == repr(op)
    x = np.arange(84.0).reshape(2, 6, 7)
    np.testing.assert_array_equal(first(x), op(x))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(op.T))(op(x)), op.T(op(x)))
    other = pickle.loads(
        pickle.dumps(convmat.ConvOperator(k, (6, 7), "same", "wrap", method="shift"))
    )
    assert other is not first
    changed = pickle.loads(
        pickle.dumps(convmat.ConvOperator(k * 2, (6, 7), "same", "symm", method="shift"))
    )
    np.testing.assert_array_equal(changed(x), 2 * op(x))


def test_operator_token_follows_its_arguments() -> None:
    """dask identifies the operator by its arguments: equal operators share a token."""
    k = np.ones((3, 3))
    a, b = convmat.ConvOperator(k, (5, 5)), convmat.ConvOperator(k.copy(), (5, 5))
    assert a.__dask_tokenize__() == b.__dask_tokenize__()
    assert a.__dask_tokenize__() != convmat.ConvOperator(2 * k, (5, 5)).__dask_tokenize__()
    assert (
        a.__dask_tokenize__() != convmat.ConvOperator(k, (5, 5), method="shift").__dask_tokenize__()
    )


def test_views_carry_their_own_input_and_output_shapes():
    """'full' on (5, 6) with a 3x3 kernel: (5, 6) -> (7, 8); a transpose swaps them, a
    conjugate keeps them."""
    op = convmat.ConvOperator(np.ones((3, 3)) * (1 + 1j), (5, 6), "full")
    assert (op.input_shape, op.output_shape) == ((5, 6), (7, 8))
    for view, shapes in (
        (op.T, ((7, 8), (5, 6))),
        (op.H, ((7, 8), (5, 6))),
        (op.conj(), ((5, 6), (7, 8))),
    ):
        assert (view.input_shape, view.output_shape) == shapes
        assert view.shape == (np.prod(shapes[1]), np.prod(shapes[0]))


def test_an_array_like_with_a_dask_graph_that_is_not_dask_is_read_as_an_array():
    """Only dask's own collections take the lazy path: another object that carries a
    ``__dask_graph__`` (as xarray's do) is read with numpy, as scipy reads it."""

    class Labelled:
        def __dask_graph__(self) -> None:
            return None

        def __array__(self, dtype=None, copy=None):
            return np.arange(12.0).reshape(3, 4)

    op = convmat.ConvOperator(np.ones((2, 2)), (3, 4))
    np.testing.assert_array_equal(op(Labelled()), op(np.arange(12.0).reshape(3, 4)))


@pytest.mark.parametrize(
    ("call", "want", "got"),
    [
        (lambda op: op @ np.ones(19), 20, r"\(19,\)"),
        (lambda op: op @ np.ones((19, 2)), 20, r"\(19, 2\)"),
        (lambda op: op.matvec(np.ones(3)), 20, r"\(3,\)"),
        (lambda op: op.rmatvec(np.ones(20)), 42, r"\(20,\)"),
        (lambda op: op.T @ np.ones(20), 42, r"\(20,\)"),
        (lambda op: op.H.matmat(np.ones((5, 2))), 42, r"\(5, 2\)"),
    ],
    ids=["matmul", "matmul-2d", "matvec", "rmatvec", "T", "H-matmat"],
)
def test_a_product_of_the_wrong_length_names_both_lengths(call, want, got):
    """scipy says only "dimension mismatch"; the message gives the expected length and
    the shape received."""
    op = convmat.ConvOperator(np.ones((3, 3)), (4, 5))  # (42, 20)
    with pytest.raises(ValueError, match=rf"must have {want} entries.*got shape {got}"):
        call(op)


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm", "nearest"])
def test_a_plain_image_takes_the_light_path_once_a_call_found_it(monkeypatch, boundary):
    """One small float image of the input's shape goes straight to the built CSR once a
    call through the whole pipeline found that the light path serves it: the same bits;
    NaN, a budget changed, batches, transposes and other dtypes take the whole way."""
    from convmat._engines import pipeline

    rng = np.random.default_rng(21)
    k = rng.random((3, 3))
    x = rng.random((16, 16))
    op = convmat.ConvOperator(k, x.shape, "same", boundary)
    first = op(x)  # the whole pipeline; the CSR is built
    expected = convmat.conv2d(x, k, "same", boundary=boundary, method="sparse")
    np.testing.assert_allclose(first, expected, rtol=1e-15, atol=1e-15)
    runs = []
    real_run = pipeline.run

    def counted(*args, **kwargs):
        runs.append(1)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(convmat.linop, "run", counted)
    np.testing.assert_array_equal(op(x), first)
    assert runs == []  # straight to the CSR
    y = x.copy()
    y[3, 4] = np.nan  # a NaN stays local: the whole way
    got = op(y)
    assert np.isnan(got).sum() == 9
    assert len(runs) == 1
    op(x.astype(np.float32))  # another dtype
    op(x[None])  # a batch
    op.T(x)  # the transpose
    assert len(runs) == 4
    convmat.set_max_working_bytes(10**9)  # another budget: found again by a whole call
    try:
        op(x)
        op(x)
    finally:
        convmat.set_max_working_bytes(None)
    assert len(runs) == 5
    assert not np.shares_memory(op(x), x)
