"""convmat.psf: each kernel's definition, normalisation, symmetry and refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import quad

from convmat import psf


def _moments(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centroid of `k` about its middle, and its second moments ``(rr, rc, cc)``."""
    rows, cols = np.indices(k.shape, dtype=np.float64)
    rows -= (k.shape[0] - 1) / 2
    cols -= (k.shape[1] - 1) / 2
    centroid = np.array([(k * rows).sum(), (k * cols).sum()])
    second = np.array([(k * rows * rows).sum(), (k * rows * cols).sum(), (k * cols * cols).sum()])
    return centroid, second


# -- gaussian -------------------------------------------------------------------------
@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=3),
    sigma=st.floats(0.2, 6.0),
)
def test_gaussian_is_the_sampled_density_normalised(shape, sigma):
    k = psf.gaussian(shape, sigma)
    assert k.shape == tuple(shape)
    assert k.dtype == np.float64
    grids = np.meshgrid(*[np.arange(n) - (n - 1) / 2 for n in shape], indexing="ij")
    density = np.exp(-sum(g**2 for g in grids) / (2 * sigma**2))
    np.testing.assert_allclose(k, density / density.sum(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(k.sum(), 1.0, rtol=4 * k.size * np.finfo(np.float64).eps)
    for axis in range(k.ndim):
        np.testing.assert_allclose(k, np.flip(k, axis), rtol=1e-12)


def test_gaussian_per_axis_sigma_is_the_outer_product_of_profiles():
    k = psf.gaussian((7, 11), (1.0, 2.5))
    rows, cols = psf.gaussian((7,), 1.0), psf.gaussian((11,), 2.5)
    np.testing.assert_allclose(k, np.outer(rows, cols), rtol=1e-12)
    assert np.linalg.matrix_rank(k) == 1
    assert psf.gaussian(5, 1.0).shape == (5, 5)  # an int is a square
    np.testing.assert_allclose(psf.gaussian(5, [1.0]), psf.gaussian(5, 1.0), rtol=0)


def test_gaussian_matches_its_second_moment_for_wide_supports():
    k = psf.gaussian(41, 3.0)
    centroid, (rr, rc, cc) = _moments(k)
    np.testing.assert_allclose(centroid, 0.0, atol=1e-12)
    np.testing.assert_allclose([rr, cc], 9.0, rtol=1e-6)  # sampled densities: sigma**2
    np.testing.assert_allclose(rc, 0.0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.longdouble])
def test_psfs_take_a_floating_dtype(dtype):
    for k in (psf.gaussian(5, 1.2, dtype=dtype), psf.motion(7, 20, dtype=dtype)):
        assert k.dtype == dtype
        np.testing.assert_allclose(float(k.sum()), 1.0, rtol=8 * k.size * np.finfo(dtype).eps)
    assert psf.disk(3.2, dtype=dtype).dtype == dtype


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((0, 1.0), ValueError, "positive sides"),
        (((3, -1), 1.0), ValueError, "positive sides"),
        ((True, 1.0), TypeError, "`shape`"),
        (("3", 1.0), TypeError, "`shape`"),
        (((), 1.0), TypeError, "`shape`"),
        (((3, 2.0), 1.0), TypeError, "`shape`"),
        ((5, 0.0), ValueError, "`sigma`"),
        ((5, -1.0), ValueError, "`sigma`"),
        ((5, math.nan), ValueError, "`sigma`"),
        ((5, math.inf), ValueError, "`sigma`"),
        ((5, "1"), TypeError, "`sigma`"),
        ((5, (1.0, 2.0, 3.0)), ValueError, r"one per axis \(2\), got 3"),
    ],
)
def test_gaussian_refuses_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        psf.gaussian(*args)


def test_psfs_refuse_a_dtype_that_is_not_floating():
    for bad in (np.int64, np.complex128, "bogus"):
        with pytest.raises(TypeError, match="`dtype` must be a real floating dtype"):
            psf.gaussian(3, 1.0, dtype=bad)
        with pytest.raises(TypeError, match="`dtype`"):
            psf.motion(3, dtype=bad)
        with pytest.raises(TypeError, match="`dtype`"):
            psf.disk(1, dtype=bad)


# -- motion ---------------------------------------------------------------------------
@pytest.mark.parametrize("length", [1, 3, 5, 9, 21])
def test_motion_along_rows_and_columns_is_a_box(length):
    np.testing.assert_array_equal(psf.motion(length), np.full((1, length), 1 / length))
    np.testing.assert_allclose(psf.motion(length, 90), np.full((length, 1), 1 / length))
    np.testing.assert_allclose(psf.motion(length, 180), psf.motion(length), rtol=1e-12)


@given(length=st.floats(1.0, 25.0), angle=st.floats(-360.0, 360.0))
def test_motion_is_centred_normalised_and_turns_with_its_angle(length, angle):
    k = psf.motion(length, angle)
    assert k.shape[0] % 2 == 1
    assert k.shape[1] % 2 == 1
    assert (k >= 0).all()
    np.testing.assert_allclose(k.sum(), 1.0, rtol=1e-13)
    # symmetric about its centre: the blur does not shift the image
    np.testing.assert_allclose(k, k[::-1, ::-1], rtol=1e-9, atol=1e-15)
    centroid, (rr, rc, cc) = _moments(k)
    np.testing.assert_allclose(centroid, 0.0, atol=1e-9)
    # spread along the direction (up the screen is a decreasing row), not across it
    theta = math.radians(angle)
    d = np.array([-math.sin(theta), math.cos(theta)])
    along = rr * d[0] ** 2 + 2 * rc * d[0] * d[1] + cc * d[1] ** 2
    across = rr * d[1] ** 2 - 2 * rc * d[0] * d[1] + cc * d[0] ** 2
    assert along >= across - 1e-9
    if length >= 3:
        assert along > 2 * across
    # a quarter turn of the angle is a quarter turn of the kernel
    np.testing.assert_allclose(psf.motion(length, angle + 90), np.rot90(k), atol=1e-9)
    # no row or column of zeros at the border: the smallest odd sides that hold it
    assert k[[0, -1]].any(axis=1).all()
    assert k[:, [0, -1]].any(axis=0).all()


def test_motion_ends_are_anti_aliased():
    np.testing.assert_allclose(psf.motion(4), [[0.125, 0.25, 0.25, 0.25, 0.125]], rtol=1e-12)
    k = psf.motion(9, 30)
    assert k.shape == (5, 9)
    assert np.count_nonzero(k) > 9  # the pixels beside the segment share its weight


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((0.5,), ValueError, "`length` must be a finite real number >= 1"),
        ((0,), ValueError, "`length`"),
        ((math.inf,), ValueError, "`length`"),
        (("5",), TypeError, "`length`"),
        ((5, math.nan), ValueError, "`angle`"),
        ((5, "30"), TypeError, "`angle`"),
        ((5, True), TypeError, "`angle`"),
    ],
)
def test_motion_refuses_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        psf.motion(*args)


# -- disk -----------------------------------------------------------------------------
def test_disk_of_radius_zero_is_the_identity():
    np.testing.assert_array_equal(psf.disk(0), [[1.0]])
    k = psf.disk(1e-6)  # within the middle pixel: all its weight there
    np.testing.assert_array_equal(k, [[1.0]])


@given(radius=st.floats(0.3, 20.0))
def test_disk_covers_the_pixels_the_disk_reaches(radius):
    k = psf.disk(radius)
    reach = math.ceil(radius - 0.5)
    assert k.shape == (2 * reach + 1, 2 * reach + 1)
    np.testing.assert_allclose(k.sum(), 1.0, rtol=1e-13)
    for view in (k[::-1], k[:, ::-1], k.T):
        np.testing.assert_array_equal(view, k)
    # pixels wholly inside weigh the most; each weight is a share of a pixel's area
    assert k[reach, reach] == k.max()
    if radius >= math.sqrt(0.5):  # the middle pixel lies wholly inside: a full share
        full = k.max()
        np.testing.assert_allclose(k.sum() / full, math.pi * radius**2, rtol=1e-12)
    assert k[:, 0].any()
    assert k[0].any()


def test_disk_weighs_rim_pixels_by_the_area_inside():
    k = psf.disk(1.5)
    share = k / k.max()

    # the corner pixel (1, 1) spans [0.5, 1.5]^2: the disk of radius 1.5 covers the area
    # of {x^2 + y^2 <= 2.25} inside it, by integration
    def column(x: float) -> float:
        return float(np.clip(math.sqrt(max(2.25 - x * x, 0.0)) - 0.5, 0.0, 1.0))

    area = quad(column, 0.5, 1.5, points=[math.sqrt(2.0)], epsabs=1e-13)[0]  # s = 0.5 there
    np.testing.assert_allclose(share[0, 0], area, rtol=1e-10)
    # and the edge pixel (0, 1): x in [-0.5, 0.5], y in [0.5, 1.5]
    edge = quad(column, -0.5, 0.5, epsabs=1e-13)[0]
    np.testing.assert_allclose(share[0, 1], edge, rtol=1e-10)
    assert share[1, 1] == 1.0


@pytest.mark.parametrize(
    ("radius", "error"),
    [(-1, ValueError), (math.nan, ValueError), (math.inf, ValueError), ("2", TypeError)],
)
def test_disk_refuses_bad_radii(radius, error):
    with pytest.raises(error, match="`radius`"):
        psf.disk(radius)
