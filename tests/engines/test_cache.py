"""The engine cache behind conv2d: thread-safe, keyed by the kernel's bytes."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.signal as ss

import convmat
from convmat._engines import cache as _plans


def test_eight_threads_get_identical_results():
    _plans.clear()
    rng = np.random.default_rng(0)
    images = rng.standard_normal((16, 40, 40))
    kernels = [rng.standard_normal((3, 3)), rng.standard_normal((5, 4))]

    def work(i: int) -> np.ndarray:
        return convmat.conv2d(images, kernels[i % 2], "same", "symm")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(32)))
    for i, got in enumerate(results):
        np.testing.assert_array_equal(got, results[i % 2])
    expected = np.stack([ss.convolve2d(im, kernels[1], "same", "symm") for im in images])
    np.testing.assert_allclose(results[1], expected, atol=1e-12)


def test_never_stale_after_the_kernel_is_mutated_in_place():
    _plans.clear()
    x = np.arange(20.0).reshape(4, 5)
    k = np.ones((2, 2))
    first = convmat.conv2d(x, k)
    k[0, 0] = 10.0  # same object, same id(), new values
    second = convmat.conv2d(x, k)
    np.testing.assert_array_equal(second, ss.convolve2d(x, k))
    assert not np.array_equal(first, second)


def test_cached_arrays_are_read_only_and_bounded():
    _plans.clear()
    for size in range(3, 3 + _plans.MAX_ENTRIES + 5):  # batches: single small images skip it
        convmat.conv2d(np.ones((2, 8, 8)), np.ones((2, size)))
    assert len(_plans._cache) <= _plans.MAX_ENTRIES
    engine = next(iter(_plans._cache.values()))
    assert not engine.kernel.flags.writeable
    csr = engine.csr()
    assert not csr.data.flags.writeable


def test_kernel_key_depends_on_values_dtype_and_shape():
    a = np.arange(6.0).reshape(2, 3)
    assert _plans.kernel_key(a) == _plans.kernel_key(a.copy())
    assert _plans.kernel_key(a) != _plans.kernel_key(a.reshape(3, 2))
    assert _plans.kernel_key(a) != _plans.kernel_key(a.astype(np.float32))
    b = a.copy()
    b[1, 2] += 1
    assert _plans.kernel_key(a) != _plans.kernel_key(b)
