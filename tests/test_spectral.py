"""Singular values and spectral norms against LAPACK on the explicit matrix."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.fft
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

import convmat
from convmat import spectral
from helpers import BOUNDARIES, MODES, valid_ok

KERNELS = [(3, 3), (2, 4), (1, 5), (4, 1)]


def _kernel(shape: tuple[int, ...], complex_: bool, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = rng.standard_normal(shape)
    return k + 1j * rng.standard_normal(shape) if complex_ else k


def _reference(k: np.ndarray, shape: tuple[int, ...], mode: str, boundary: str) -> np.ndarray:
    return scipy.linalg.svdvals(convmat.conv_matrix(k, shape, mode, boundary))


@pytest.mark.parametrize(("mode", "boundary"), list(itertools.product(MODES, BOUNDARIES)))
@pytest.mark.parametrize("kshape", KERNELS, ids=str)
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_all_singular_values_equal_lapack(mode, boundary, kshape, complex_):
    k = _kernel(kshape, complex_)
    ref = _reference(k, (5, 6), mode, boundary)
    got = convmat.singular_values(k, (5, 6), mode, boundary)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * ref[0])
    assert convmat.spectral_norm(k, (5, 6), mode, boundary) == pytest.approx(ref[0], rel=1e-12)


@pytest.mark.parametrize(("mode", "boundary"), list(itertools.product(MODES, BOUNDARIES)))
@pytest.mark.parametrize("kshape", KERNELS[:2], ids=str)
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_lanczos_on_a_large_operator(mode, boundary, kshape, complex_):
    """Over 400 columns the norm and the k largest come from Lanczos, to rtol."""
    shape = (23, 21)
    k = _kernel(kshape, complex_, seed=1)
    ref = _reference(k, shape, mode, boundary)
    got = convmat.singular_values(k, shape, mode, boundary, k=3, rtol=1e-8)
    np.testing.assert_allclose(got, ref[:3], rtol=1e-8)
    norm = convmat.spectral_norm(k, shape, mode, boundary)
    assert norm == pytest.approx(ref[0], rel=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_separable_kernels_are_kronecker_products(mode, boundary):
    k = np.outer([1.0, 3.0, -2.0], [0.5, 1.0, 2.0, 1.0])
    ref = _reference(k, (7, 9), mode, boundary)
    np.testing.assert_allclose(
        convmat.singular_values(k, (7, 9), mode, boundary), ref, atol=1e-12 * ref[0]
    )
    assert spectral.rank_one_factors(k) is not None
    assert spectral.rank_one_factors(np.eye(3)) is None


def test_three_dimensional_kernels():
    k = _kernel((2, 3, 2), False)
    for mode, boundary in itertools.product(MODES, BOUNDARIES):
        ref = _reference(k, (4, 3, 5), mode, boundary)
        got = convmat.singular_values(k, (4, 3, 5), mode, boundary)
        np.testing.assert_allclose(got, ref, atol=1e-12 * ref[0])


@pytest.mark.parametrize("n", [1, 3, 8, 13])
@pytest.mark.parametrize("m", [1, 2, 5, 20])
def test_wrap_same_is_the_folded_dft(n, m):
    """Periodic 'same' convolution is circulant, also when the kernel outgrows the period."""
    k = _kernel((m,), True)
    ref = _reference(k, (n,), "same", "wrap")
    np.testing.assert_allclose(convmat.singular_values(k, (n,), "same", "wrap"), ref, atol=1e-12)
    folded = np.zeros(n, complex)
    np.add.at(folded, np.arange(m) % n, k)
    np.testing.assert_allclose(
        np.sort(np.abs(np.fft.fft(folded)))[::-1], ref, atol=1e-12 * max(ref[0], 1)
    )


def test_zero_padding_is_below_the_circulant_bound():
    k = _kernel((7, 7), False)
    bound = np.abs(scipy.fft.fft2(k, (262, 262))).max()
    norm = convmat.spectral_norm(k, (256, 256))
    assert norm <= bound
    assert norm > 0.999 * bound


@given(
    st.tuples(st.integers(1, 6), st.integers(1, 6)),
    st.tuples(st.integers(1, 4), st.integers(1, 4)),
    st.sampled_from(MODES),
    st.sampled_from(BOUNDARIES),
    st.integers(0, 2**32 - 1),
)
def test_property_norm_equals_lapack(shape, kshape, mode, boundary, seed):
    if mode == "valid" and not valid_ok(shape, kshape):
        return
    k = _kernel(kshape, False, seed)
    ref = _reference(k, shape, mode, boundary)
    assert convmat.spectral_norm(k, shape, mode, boundary) == pytest.approx(ref[0], rel=1e-10)


def test_integer_and_zero_kernels():
    k = np.array([[1, -2], [3, 4]], dtype=np.int8)
    ref = _reference(k.astype(float), (6, 6), "full", "fill")
    np.testing.assert_allclose(convmat.singular_values(k, (6, 6)), ref, atol=1e-12)
    assert convmat.spectral_norm(np.zeros((3, 3)), (50, 50)) == 0.0
    np.testing.assert_array_equal(convmat.singular_values(np.zeros(3), (5,), k=2), [0.0, 0.0])


def test_inputs_are_not_written():
    k = _kernel((3, 3), False)
    before = k.copy()
    convmat.spectral_norm(k, (30, 30), "same", "symm")
    np.testing.assert_array_equal(k, before)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"rtol": 0}, ValueError, "`rtol` must be a real number in \\(0, 1\\), got 0"),
        ({"rtol": 1.5}, ValueError, "`rtol`"),
        ({"rtol": "x"}, ValueError, "`rtol`"),
        ({"k": 0}, ValueError, "`k` must be between 1 and min\\(A.shape\\) = 16, got 0"),
        ({"k": 17}, ValueError, "`k` must be between 1"),
        ({"k": True}, TypeError, "`k` must be a positive int or None, got True"),
        ({"k": 2.0}, TypeError, "`k`"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        convmat.singular_values(np.ones((2, 2)), (4, 4), **kwargs)


def test_bad_mode_and_boundary():
    with pytest.raises(ValueError, match="`mode`"):
        convmat.spectral_norm(np.ones((2, 2)), (4, 4), "bad")
    with pytest.raises(ValueError, match="`boundary`"):
        convmat.spectral_norm(np.ones((2, 2)), (4, 4), "same", "bad")


def test_all_values_of_a_huge_operator_are_refused_first():
    with pytest.raises(convmat.MatrixTooLargeError, match="pass `k`"):
        convmat.singular_values([[1.0, 2.0], [3.0, 5.0]], (300, 300))
    np.testing.assert_allclose(
        convmat.singular_values(np.ones((3, 3)), (300, 300), k=1),
        [convmat.spectral_norm(np.ones((3, 3)), (300, 300))],
    )


def test_lanczos_working_set_is_refused_first(monkeypatch):
    monkeypatch.setattr("convmat._core.budget.machine_memory", lambda: 2**20)
    # 'full': the input side is the smaller; ARPACK's 20 vectors and 4 more of 300x300 in
    # float64, and 6 complex transforms of the 301x301 grid
    need = 24 * 300 * 300 * 8 + 6 * 301 * 301 * 16
    with pytest.raises(
        convmat.MatrixTooLargeError,
        match=rf"^Lanczos on the Gram operator of a \(300, 300\) input needs about {need:,} "
        r"bytes .*working arrays.*: use a smaller input_shape \(with zero padding the largest "
        r"\|DFT\| of the kernel on the full grid bounds the norm from above\), or raise the "
        r"budget with convmat\.set_max_working_bytes\(\)$",
    ):
        convmat.spectral_norm([[1.0, 2.0], [3.0, 5.0]], (300, 300))


def test_closed_forms_serve_operators_too_large_for_the_dense_svd():
    """All 90,000 singular values of periodic 'same' and of a separable kernel on 300x300,
    where the dense matrix would be refused."""
    k = np.array([[0.0, 1.0, 0.5], [2.0, -1.0, 0.0]])
    values = convmat.singular_values(k, (300, 300), "same", "wrap")
    folded = np.zeros((300, 300))
    folded[:2, :3] = k
    np.testing.assert_allclose(
        values, np.sort(np.abs(np.fft.fft2(folded)).ravel())[::-1], atol=1e-12
    )
    u, v = np.array([1.0, 2.0, 1.0]), np.array([1.0, -1.0])
    sep = convmat.singular_values(np.outer(u, v), (300, 300), "full")
    per_axis = [scipy.linalg.svdvals(convmat.conv_matrix(f, (300,), "full")) for f in (u, v)]
    np.testing.assert_allclose(
        sep, np.sort(np.multiply.outer(*per_axis).ravel())[::-1], rtol=1e-10, atol=1e-12
    )


def test_separability_is_judged_relative_to_the_kernel():
    """A kernel whose second singular value is 1e-9 of its first is not separable, however
    small the kernel."""
    a, b = np.array([1.0, 0.0, 1.0]), np.array([1.0, 1.0])
    c, d = np.array([1.0, 0.0, -1.0]), np.array([1.0, -1.0])
    assert spectral.rank_one_factors(1e-3 * np.outer(a, b) + 1e-12 * np.outer(c, d)) is None
    assert spectral.rank_one_factors(1e-3 * np.outer(a, b)) is not None


def _symmetric_kernel(draw: st.DrawFn, side: int) -> np.ndarray:
    """A kernel with the square's symmetries (isotropic blurs among them): its
    convolution matrices have repeated singular values."""
    r = draw(st.integers(1, side))
    weights = draw(st.lists(st.floats(0.1, 2.0), min_size=2 * r * r + 1, max_size=2 * r * r + 1))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    radius2 = yy**2 + xx**2
    levels = np.unique(radius2)
    table = dict(zip(levels.tolist(), weights, strict=False))
    k = np.vectorize(table.get)(radius2).astype(float)
    if draw(st.booleans()):
        k[radius2 > r * r] = 0.0  # a disk
    return k


@st.composite
def symmetric_cases(draw: st.DrawFn):
    k = _symmetric_kernel(draw, 3)
    n = draw(st.integers(14, 24))
    mode = draw(st.sampled_from(["full", "same"]))
    boundary = draw(st.sampled_from(BOUNDARIES))
    return k, (n, n), mode, boundary, draw(st.integers(2, 8))


@given(case=symmetric_cases())
def test_repeated_singular_values_are_all_found_as_lapack_finds_them(case):
    """Symmetric kernels under every boundary (periodic ones too, past the closed form's
    'same'): the k largest, each as often as LAPACK has it."""
    k, shape, mode, boundary, count = case
    ref = _reference(k, shape, mode, boundary)
    got = convmat.singular_values(k, shape, mode, boundary, k=count)
    np.testing.assert_allclose(got, ref[:count], rtol=1e-5)


def test_the_disk_of_the_issue_keeps_its_repeated_pair():
    yy, xx = np.mgrid[-4:5, -4:5]
    disk = (yy**2 + xx**2 <= 16).astype(float)
    ref = _reference(disk, (24, 24), "full", "fill")
    np.testing.assert_allclose(ref[1], ref[2], rtol=1e-12)  # a repeated value
    got = convmat.singular_values(disk, (24, 24), "full", k=3)
    np.testing.assert_allclose(got, ref[:3], rtol=1e-6)


def test_a_small_dense_budget_leaves_lanczos_to_the_k_largest(monkeypatch):
    """Under a small budget the norm and the k largest come by Lanczos; only all the
    singular values need the matrix, and that refusal's way out exists."""
    k = np.array([[1.0, 2.0], [3.0, 5.0]])
    ref = _reference(k, (10, 10), "full", "fill")
    previous = convmat.set_max_dense_bytes(1000)
    try:
        assert convmat.spectral_norm(k, (10, 10)) == pytest.approx(ref[0], rel=1e-6)
        np.testing.assert_allclose(convmat.singular_values(k, (10, 10), k=3), ref[:3], rtol=1e-6)
        with pytest.raises(convmat.MatrixTooLargeError, match=r"pass `k`.*set_max_dense_bytes"):
            convmat.singular_values(k, (10, 10))
        with pytest.raises(convmat.MatrixTooLargeError, match="set_max_dense_bytes") as info:
            convmat.singular_values(k, (10, 10), k=99)  # too many for Lanczos
        assert "pass `k`" not in str(info.value)
    finally:
        convmat.set_max_dense_bytes(previous)
