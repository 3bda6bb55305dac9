"""The thread pool the engines and layers share, and the rule for when to use it."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__: list[str] = []

THREADS = max(1, min(8, os.cpu_count() or 1))
PARALLEL_WORK = 2_000_000  # multiply-adds below which one thread is faster
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _get_pool() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="convmat")
    return _pool


def run_parallel(tasks: Sequence[Callable[[], None]], work: float) -> None:
    """Run independent `tasks` (numpy loops that release the GIL) on every core when worth it."""
    if THREADS == 1 or len(tasks) < 2 or work < PARALLEL_WORK:
        for task in tasks:
            task()
        return
    futures = [_get_pool().submit(task) for task in tasks]
    for future in futures:
        future.result()


def split_batch(
    fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, width: int, dtype: np.dtype, work: float
) -> np.ndarray:
    """``fn`` applied to row blocks of ``x``, on every core when the work is worth it.

    scipy.sparse's products and numpy's ufuncs release the GIL, so threads
    run them in parallel; each block is computed and laid out independently.
    """
    batch = x.shape[0]
    if THREADS == 1 or batch < 2 or work < PARALLEL_WORK:
        return fn(x)
    pool = _get_pool()
    out = np.empty((batch, width), dtype=dtype)
    bounds = np.linspace(0, batch, min(THREADS, batch) + 1).astype(int)

    def run(lo: int, hi: int) -> None:
        out[lo:hi] = fn(x[lo:hi])

    futures = [pool.submit(run, int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]
    for future in futures:
        future.result()
    return out
