"""The building blocks of the spectral functions: Lanczos, start vectors, closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from convmat._core import spectra as _spectra


def _diagonal(values: np.ndarray):
    return lambda v: values * v


@pytest.mark.parametrize("gap", [1e-1, 1e-4, 0.0])
def test_plain_lanczos_finds_the_top_of_a_close_pair(gap):
    rng = np.random.default_rng(0)
    values = np.concatenate([[10.0, 10.0 - gap], rng.uniform(0, 9, 2000)])
    top = _spectra.largest_eigenvalue(
        _diagonal(values), np.dtype(float), 1e-8, rng.standard_normal(values.size)
    )
    assert top == pytest.approx(10.0, rel=1e-8 + gap)
    got = _spectra.top_eigenvalues(
        _diagonal(values), values.size, np.dtype(float), 1, 1e-6, rng.standard_normal(values.size)
    )
    assert got[0] == pytest.approx(10.0, rel=1e-6 + gap)


def test_plain_lanczos_gives_up_and_arpack_takes_over():
    rng = np.random.default_rng(1)
    values = np.linspace(0, 1, 3000)
    start = rng.standard_normal(3000)
    assert _spectra.largest_eigenvalue(_diagonal(values), np.dtype(float), 1e-14, start, 5) is None
    several = _spectra.top_eigenvalues(_diagonal(values), 3000, np.dtype(float), 3, 1e-8, start)
    np.testing.assert_allclose(several, values[::-1][:3], rtol=1e-8)


def test_complex_hermitian():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((60, 40)) + 1j * rng.standard_normal((60, 40))
    gram = a.conj().T @ a
    start = rng.standard_normal(40) + 1j * rng.standard_normal(40)
    top = _spectra.largest_eigenvalue(lambda v: gram @ v, np.dtype(complex), 1e-10, start)
    assert top == pytest.approx(np.linalg.eigvalsh(gram)[-1], rel=1e-9)


def test_plane_wave_peaks_at_the_frequency():
    wave = _spectra.plane_wave((64, 48), (2 * np.pi * 5 / 64, 0.0), complex_=True).reshape(64, 48)
    spectrum = np.abs(np.fft.fft2(wave))
    assert np.unravel_index(spectrum.argmax(), spectrum.shape) == (5, 0)
    real = _spectra.plane_wave((10,), (1.0,), complex_=False)
    assert real.dtype == np.float64


@pytest.mark.parametrize(("m", "n"), [(3, 8), (8, 3), (13, 4)])
def test_circulant_values_fold_the_kernel(m, n):
    k = np.random.default_rng(3).standard_normal((m, 2))
    folded = np.zeros((n, 2))
    np.add.at(folded, (np.arange(m) % n,), k)
    np.testing.assert_allclose(
        _spectra.circulant_values(k, (n, 2)), np.abs(scipy.fft.fft2(folded)), atol=1e-12
    )


@pytest.mark.parametrize("rtol", [0, 1, -0.5, True, "1e-6", None])
def test_bad_rtol(rtol):
    with pytest.raises(ValueError, match="`rtol` must be a real number in \\(0, 1\\)"):
        _spectra.check_rtol(rtol)


def test_the_plain_lanczos_answer_is_taken_and_arpack_runs_only_without_one(monkeypatch):
    """`top_eigenvalues` for one value returns what the plain Lanczos found, and falls back
    to ARPACK only when it found nothing."""
    d = np.array([5.0, 3.0, 1.0, 0.5, 0.25, 0.1])

    def gram(v):
        return d * v

    start = np.ones(d.size)
    monkeypatch.setattr(_spectra, "largest_eigenvalue", lambda *args: 4.5)
    np.testing.assert_array_equal(_spectra.top_eigenvalues(gram, 6, d.dtype, 1, 1e-8, start), [4.5])
    monkeypatch.setattr(_spectra, "largest_eigenvalue", lambda *args: None)
    np.testing.assert_allclose(
        _spectra.top_eigenvalues(gram, 6, d.dtype, 1, 1e-8, start), [5.0], rtol=1e-8
    )
