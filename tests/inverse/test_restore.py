"""The diagonal models, priors and weight choices behind deconvolve2d."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

import convmat
from convmat._inverse import restore as r


def _differences(n: int, periodic: bool) -> np.ndarray:
    d = np.eye(n, k=1) - np.eye(n)
    return d if periodic and n > 1 else d[:-1]


def _roll_periodic(n: int) -> np.ndarray:
    return np.roll(np.eye(n), 1, axis=1) - np.eye(n)


@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("prior", ["identity", "gradient", "laplacian"])
def test_prior_is_lt_l_and_its_transform_diagonalises_it(periodic, prior):
    shape = (5, 7)
    n = 35
    if periodic:
        dh, dw = _roll_periodic(5), _roll_periodic(7)
    else:
        dh, dw = _differences(5, False), _differences(7, False)
    lap = np.kron(dh.T @ dh, np.eye(7)) + np.kron(np.eye(5), dw.T @ dw)
    ref = {"identity": np.eye(n), "gradient": lap, "laplacian": lap @ lap}[prior]
    basis = np.eye(n).reshape(n, *shape)
    got = r.apply_prior(basis, prior, periodic=periodic).reshape(n, n)
    np.testing.assert_allclose(got, ref, atol=1e-12)
    x = np.random.default_rng(0).random(shape)
    weights = r.prior_weights(shape, prior, periodic=periodic)
    if periodic:
        fast = np.fft.ifft2(np.fft.fft2(x) * weights).real
    else:
        fast = scipy.fft.idctn(scipy.fft.dctn(x, norm="ortho") * weights, norm="ortho")
    np.testing.assert_allclose(fast, (ref @ x.ravel()).reshape(shape), atol=1e-12)


def test_symmetric_kernels():
    assert r.symmetric(np.outer([1, 2, 1], [1, 3, 1]))
    assert not r.symmetric(np.ones((2, 3)))  # even size: 'same' is off by half a sample
    assert not r.symmetric(np.array([[1, 2, 3]]))


def test_response_is_the_dct_spectrum_of_symmetric_kernels():
    k = np.outer([1.0, 2.0, 1.0], [1.0, 4.0, 1.0])
    shape = (6, 8)
    delta = np.zeros(shape)
    delta[0, 0] = 1
    column = convmat.conv2d(delta, k, "same", "symm")
    values = scipy.fft.dctn(column, norm="ortho") / scipy.fft.dctn(delta, norm="ortho")
    np.testing.assert_allclose(r.response(k, shape), values**2, rtol=1e-12)


def test_gcv_finds_the_minimum_of_its_score():
    rng = np.random.default_rng(2)
    blur = np.linspace(1, 1e-4, 400) ** 2
    prior = np.linspace(0, 4, 400)
    data = blur * rng.random(400) + 1e-3 * rng.random(400)
    best = r.gcv(blur, prior, data)

    def score(reg):
        keep = reg * prior / (blur + reg * prior)
        return np.sum(keep**2 * data) / np.sum(keep) ** 2

    grid = np.logspace(-12, 2, 2000) * blur.max() / prior.max()
    assert score(best) <= min(score(g) for g in grid) * (1 + 1e-6)


def test_gml_finds_the_minimum_of_its_score_over_the_penalised_coefficients():
    rng = np.random.default_rng(3)
    blur = np.linspace(1, 1e-4, 400) ** 2
    prior = np.linspace(0, 4, 400)  # the first coefficient is the prior's null space
    data = blur * rng.random(400) + 1e-3 * rng.random(400)
    best = r.gml(blur, prior, data)
    free = prior > 0

    def score(reg):
        keep = reg * prior[free] / (blur[free] + reg * prior[free])
        return np.log(np.sum(keep * data[free])) - np.mean(np.log(keep))

    grid = np.logspace(-12, 2, 2000) * blur.max() / prior.max()
    assert score(best) <= min(score(g) for g in grid) + 1e-9
    # the null space's data is fitted by every weight: it does not move the choice
    moved = data.copy()
    moved[0] *= 1e6
    assert r.gml(blur, prior, moved) == best


def test_gml_recovers_the_weight_that_generated_the_data():
    """Coefficients drawn from the model GML assumes: variance s^2 (b + reg p) / (reg p)."""
    rng = np.random.default_rng(8)
    n = 200_000
    blur = rng.random(n) ** 4
    prior = rng.random(n) + 0.01
    true = 0.02
    data = (blur + true * prior) / (true * prior) * rng.standard_normal(n) ** 2
    np.testing.assert_allclose(r.gml(blur, prior, data), true, rtol=0.05)


def test_discrepancy_hits_its_target():
    blur = np.linspace(1, 1e-3, 100) ** 2
    prior = np.ones(100)
    data = np.linspace(2, 0.1, 100)
    reg = r.discrepancy(blur, prior, data, noise_std=0.5)
    assert r.filtered_residual(blur, prior, data, reg) == pytest.approx(100 * 0.25, rel=1e-2)


def test_noise_level_of_white_noise_on_a_smooth_image():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:200, :200] / 200
    image = np.sin(3 * yy) + xx**2 + 0.05 * rng.standard_normal((200, 200))
    assert r.noise_level(image) == pytest.approx(0.05, rel=0.05)
    assert r.noise_level(np.array([[1.0, 3.0]])) == pytest.approx(1.0)
    # three rows are enough for the mask: a plane has no noise (its std would be 1.0)
    assert r.noise_level(np.add.outer(np.arange(3.0), np.arange(40.0) / 20)) < 1e-15


def test_periodic_power_is_the_circulant_gram_spectrum():
    """|DFT|^2 of the kernel folded onto the grid, taps beyond the period added up."""
    k = np.random.default_rng(4).standard_normal((5, 3))
    shape = (4, 6)
    c = convmat.conv_matrix(k, shape, "same", "wrap")
    eig = np.sort(np.linalg.eigvalsh(c.T @ c))
    np.testing.assert_allclose(np.sort(r.periodic_power(k, shape).ravel()), eig, atol=1e-10)


def test_noise_level_ignores_quadratics_along_each_axis():
    t = np.arange(40.0)
    assert r.noise_level(np.outer(np.ones(30), t**2) + np.outer(t[:30] ** 2, np.ones(40))) == 0
    assert r.noise_level(np.outer(np.ones(3), t**2)) == 0  # three rows: one row of the mask


def test_tv_weight_is_twice_the_tikhonov_pull_on_the_rms_gradient():
    rng = np.random.default_rng(3)
    prior = rng.random((6, 7)) * 8
    data = rng.random((6, 7))
    blur = np.full((6, 7), 0.25)
    reg = 0.01
    energy = np.sum(prior * data * 0.25 / (0.25 + reg * prior) ** 2)
    expected = 2 * reg * np.sqrt(energy / 42)
    assert r.tv_weight(blur, prior, data, reg) == pytest.approx(expected, rel=1e-13)
    # a blur scaled by c (its power by c^2, the Tikhonov weight with it) scales the weight by c
    scaled = r.tv_weight(9 * blur, prior, data, 9 * reg)
    assert scaled == pytest.approx(3 * r.tv_weight(blur, prior, data, reg), rel=1e-12)


def test_discrepancy_caps_the_weight_when_no_weight_reaches_the_noise():
    """A noise level the data cannot hold: the largest weight searched, 1e4 times the
    model's scale (max |K|^2 / max L^T L)."""
    blur = np.array([4.0, 1.0, 0.25])
    prior = np.array([0.0, 2.0, 8.0])
    data = np.array([1.0, 1.0, 1.0])
    assert r.discrepancy(blur, prior, data, noise_std=1e6) == pytest.approx(4.0 / 8.0 * 1e4)
