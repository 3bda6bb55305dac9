"""ADMM with the mask splitting: its model against conv2d, its solutions against independent solves."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.fft
import scipy.optimize

import convmat
from convmat._inverse.admm import Diagonal, Splitting
from convmat._inverse.restore import apply_prior
from convmat._inverse.tv import TotalVariation
from helpers import blur_matrix

MODELS = ("unknown", "fill", "symm", "wrap")
KERNELS = {
    "symmetric": np.outer([1.0, 2.0, 1.0], [1.0, 3.0, 1.0]) / 25,
    "asymmetric": np.array([[0.5, 0.2, 0.1, 0.05], [0.1, 0.3, 0.2, 0.1], [0.0, 0.1, 0.3, 0.4]]),
}


def _blur(scene, kernel, model):
    if model == "unknown":
        return convmat.conv2d(scene, kernel, "valid")
    return convmat.conv2d(scene, kernel, "same", model)


def _tv(x, model):
    """Isotropic total variation: differences inside the image (periodic for 'wrap')."""
    if model == "wrap":
        a, b = np.roll(x, -1, 0) - x, np.roll(x, -1, 1) - x
    else:
        a = np.zeros_like(x)
        b = np.zeros_like(x)
        a[:-1] = np.diff(x, axis=0)
        b[:, :-1] = np.diff(x, axis=1)
    return float(np.sum(np.sqrt(a**2 + b**2)))


def _tv_objective(x, y, kernel, model, reg):
    return 0.5 * float(np.sum((_blur(x, kernel, model) - y) ** 2)) + reg * _tv(x, model)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    ("name", "shape"),
    [("symmetric", (6, 7)), ("asymmetric", (6, 7)), ("asymmetric", (2, 3)), ("large", (3, 4))],
)
def test_the_grid_model_is_the_boundary_model(model, name, shape):
    """The crop of the grid's circular convolution of the extended scene is conv2d's, also
    for kernels larger than the image (mirror copies of mirror copies for 'symm')."""
    rng = np.random.default_rng(0)
    kernel = rng.random((7, 9)) if name == "large" else KERNELS[name]
    split = Splitting(kernel, shape, model, "gradient", "tv")
    scene = rng.standard_normal(split.scene_shape)
    grid = split.extend(scene)
    blurred = split.blur(np.asarray(scipy.fft.rfft2(grid)))[split.observed]
    np.testing.assert_allclose(blurred, _blur(scene, kernel, model), atol=1e-13)
    np.testing.assert_allclose(split.project(grid), grid, atol=1e-15)


@pytest.mark.parametrize("model", MODELS)
def test_tv_solution_is_the_minimiser(model):
    """Against an independent solve of the same convex problem (L-BFGS on TV smoothed by
    1e-9, from zero): the objective is no higher, the scenes agree, and no feasible scene
    near the solution does better."""
    kernel = KERNELS["asymmetric"]
    rng = np.random.default_rng(1)
    shape = (6, 7)
    split = Splitting(kernel, shape, model, "gradient", "tv")
    y = rng.random(shape)
    reg = 0.02
    x, _, ok = split.solve(y, reg, maxiter=100_000, tol=1e-12)
    assert ok
    n = x.size

    # the same problem, dense: A, the differences D (rows: pairs inside the image), and
    # TV smoothed as sqrt(|D x|^2 + 1e-14) with its exact gradient
    basis = np.eye(n).reshape(n, *x.shape)
    a = np.stack([_blur(e, kernel, model).ravel() for e in basis], axis=1)
    d = np.stack([_differences(e, model).reshape(2, -1) for e in basis], axis=2)

    def smooth(v):
        residual = a @ v - y.ravel()
        parts = d @ v
        magnitude = np.sqrt(np.sum(parts**2, axis=0) + 1e-14)
        value = 0.5 * residual @ residual + reg * magnitude.sum()
        grad = a.T @ residual + reg * np.einsum("kij,ki->j", d, parts / magnitude)
        return value, grad

    found = scipy.optimize.minimize(
        smooth,
        np.zeros(n),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 20_000, "maxfun": 40_000, "ftol": 1e-15, "gtol": 1e-12},
    )
    reference = found.x.reshape(x.shape)
    mine = _tv_objective(x, y, kernel, model, reg)
    theirs = _tv_objective(reference, y, kernel, model, reg)
    assert mine <= theirs + 1e-9
    np.testing.assert_allclose(x, reference, atol=2e-3 * np.abs(x).max())
    for _ in range(20):
        step = 1e-4 * rng.standard_normal(x.shape)
        assert _tv_objective(x + step, y, kernel, model, reg) >= mine - 1e-12


def _differences(x, model):
    if model == "wrap":
        return np.stack([np.roll(x, -1, 0) - x, np.roll(x, -1, 1) - x])
    a = np.zeros_like(x)
    b = np.zeros_like(x)
    a[:-1] = np.diff(x, axis=0)
    b[:, :-1] = np.diff(x, axis=1)
    return np.stack([a, b])


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("penalty", ["tikhonov", "tv"])
def test_iterates_bring_the_objective_down_to_the_minimum(model, penalty):
    """ADMM is not a descent method, but its iterates are scenes of the model: none is below
    the minimum, they fall well below the start, and the last is the minimum to 1e-8."""
    kernel = KERNELS["symmetric"]
    rng = np.random.default_rng(2)
    split = Splitting(kernel, (10, 12), model, "gradient", penalty)
    y = _blur(rng.random(split.scene_shape), kernel, model) + 0.01 * rng.standard_normal((10, 12))
    reg = 1e-2
    best, _, _ = split.solve(y, reg, maxiter=100_000, tol=1e-13)
    minimum = split.objective(best, y, reg)
    seen: list[float] = []
    split.solve(
        y,
        reg,
        maxiter=2000,
        tol=1e-10,
        callback=lambda xk, k: seen.append(split.objective(xk, y, reg)),
    )
    start = split.objective(split.start(y)[split.region], y, reg)
    assert min(seen) >= minimum - 1e-12 * abs(minimum)
    assert seen[9] < start
    assert seen[-1] <= seen[9] * (1 + 1e-14)  # 'wrap' is at its minimum by then
    assert seen[-1] == pytest.approx(minimum, rel=1e-8)


@pytest.mark.parametrize("model", MODELS)
def test_the_laplacian_split_and_its_proximal_map_are_the_dense_ones(model):
    """``B D z`` is the prior's Laplacian of the scene (differences inside it, periodic for
    'wrap'), zero off it; the proximal map of ``t/2 ||B w||^2`` is the dense solve of
    ``(I + t B^T B) w = c``."""
    rng = np.random.default_rng(5)
    split = Splitting(KERNELS["asymmetric"], (6, 7), model, "laplacian", "tikhonov")
    z = rng.standard_normal(split.grid)
    lap = split.laplacian(split.differences(z))
    expected = apply_prior(z[split.region], "gradient", periodic=model == "wrap")
    np.testing.assert_allclose(lap[split.region], expected, rtol=0, atol=1e-12)
    outside = np.ones(split.grid, bool)
    outside[split.region] = False
    assert not lap[outside].any()
    n = z.size
    columns = [
        split.laplacian([e[:n].reshape(split.grid), e[n:].reshape(split.grid)]).ravel()
        for e in np.eye(2 * n)
    ]
    b = np.column_stack(columns)
    c = [rng.standard_normal(split.grid) for _ in range(2)]
    t = 0.37
    dense = np.linalg.solve(np.eye(2 * n) + t * b.T @ b, np.concatenate([p.ravel() for p in c]))
    got = split._laplacian_prox(t)([p.copy() for p in c])
    np.testing.assert_allclose(np.concatenate([p.ravel() for p in got]), dense, atol=1e-12)


@pytest.mark.parametrize("model", ["unknown", "fill", "symm"])
def test_the_laplacian_split_reaches_the_dense_minimiser(model):
    """ADMM on the Laplacian prior converges to ``(A^T A + reg L^T L)^-1 A^T y`` of the dense
    model, ``L`` the Laplacian with differences inside the scene."""
    kernel = KERNELS["asymmetric"]
    shape = (8, 9)
    a, scene = blur_matrix(kernel, shape, model)
    n = scene[0] * scene[1]
    ltl = apply_prior(np.eye(n).reshape(n, *scene), "laplacian", periodic=False).reshape(n, n)
    y = np.random.default_rng(6).random(shape)
    reg = 1e-2
    expected = np.linalg.solve(a.T @ a + reg * ltl, a.T @ y.ravel()).reshape(scene)
    split = Splitting(kernel, shape, model, "laplacian", "tikhonov")
    x, _, done = split.solve(y, reg, maxiter=100_000, tol=1e-13)
    assert done
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-9 * np.abs(expected).max())


def test_tikhonov_penalty_is_half_the_squared_norm():
    """``objective`` of a known scene: 1/2 ||A x - y||^2 + reg/2 ||D x||^2 inside the image."""
    kernel = KERNELS["symmetric"]
    split = Splitting(kernel, (5, 6), "fill", "gradient", "tikhonov")
    x = np.arange(30.0).reshape(5, 6)
    y = np.ones((5, 6))
    expected = 0.5 * np.sum((convmat.conv2d(x, kernel, "same") - y) ** 2) + 0.5 * 0.3 * (
        np.sum(np.diff(x, axis=0) ** 2) + np.sum(np.diff(x, axis=1) ** 2)
    )
    assert split.objective(x, y, 0.3) == pytest.approx(expected, rel=1e-13)
    identity = Splitting(kernel, (5, 6), "fill", "identity", "tikhonov")
    expected = 0.5 * np.sum((convmat.conv2d(x, kernel, "same") - y) ** 2) + 0.15 * np.sum(x**2)
    assert identity.objective(x, y, 0.3) == pytest.approx(expected, rel=1e-13)
    laplacian = Splitting(kernel, (5, 6), "fill", "laplacian", "tikhonov")
    prior = apply_prior(x, "gradient", periodic=False)
    expected = 0.5 * np.sum((convmat.conv2d(x, kernel, "same") - y) ** 2) + 0.15 * np.sum(prior**2)
    assert laplacian.objective(x, y, 0.3) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("model", ["wrap", "symm"])
def test_one_split_on_a_transform_model_is_the_mask_splitting_s_minimiser(model):
    """Total variation where the FFT or the DCT diagonalises the model: one split (the data
    term in the x-update) reaches the minimiser the mask splitting reaches."""
    kernel = KERNELS["symmetric"]
    problem = TotalVariation(kernel, (12, 14), model, maxiter=100_000, tol=1e-13)
    assert isinstance(problem.splitting, Diagonal)
    y = np.random.default_rng(4).random((12, 14))
    x, _, ok = problem(y, 0.02)
    assert ok
    masked = Splitting(kernel, (12, 14), model, "gradient", "tv")
    reference, _, _ = masked.solve(y, 0.02, maxiter=100_000, tol=1e-13)
    np.testing.assert_allclose(x, reference, atol=1e-9)
    assert problem.splitting.objective(x, y, 0.02) == pytest.approx(
        _tv_objective(x, y, kernel, model, 0.02), rel=1e-12
    )


def test_the_stop_test_watches_the_field_of_view_not_the_unobserved_border():
    """With the edges unknown, ADMM stops at the first iteration where the part of the scene
    aligned with the observation changes by less than `tol` (the border, which only the
    prior holds, may still move)."""
    kernel = KERNELS["asymmetric"]
    rng = np.random.default_rng(5)
    split = Splitting(kernel, (20, 22), "unknown", "gradient", "tikhonov")
    y = _blur(rng.random(split.scene_shape), kernel, "unknown")
    seen: list[np.ndarray] = []
    _, count, ok = split.solve(
        y, 1e-4, maxiter=5000, tol=1e-4, callback=lambda x, k: seen.append(x)
    )
    assert ok
    assert count == len(seen)
    window = (slice(1, 21), slice(2, 24))  # from kernel.shape // 2, the observation's shape
    first = split.start(y)[split.region][window]
    views = [first, *(x[window] for x in seen)]
    changes = [
        np.linalg.norm(new - old) / np.linalg.norm(new) for old, new in itertools.pairwise(views)
    ]
    assert changes[-1] <= 1e-4
    assert min(changes[:-1]) > 1e-4
