"""A small, thread-safe cache of engines for one-shot calls (conv2d and friends).

Keys are the kernel's bytes (a BLAKE2 digest of them, with dtype and shape),
the shapes, mode, boundary and working dtype: never ``id()``, so a kernel
mutated in place gets a new engine. Engines hold read-only arrays only.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from .._core.plan import Plan, compute_dtype
from . import small as _small
from .engine import Engine

__all__: list[str] = []

MAX_ENTRIES = 32
MAX_BYTES = 512 * 2**20

_lock = threading.Lock()
_cache: OrderedDict[tuple[object, ...], Engine] = OrderedDict()


def kernel_key(kernel: np.ndarray) -> tuple[object, ...]:
    """What identifies a kernel's values: dtype, shape and a digest of its bytes."""
    data = np.ascontiguousarray(kernel)
    digest = hashlib.blake2b(data.tobytes(), digest_size=20).digest()
    return (data.dtype.str, data.shape, digest)


def engine_for(kernel: np.ndarray, plan: Plan, work: np.dtype) -> Engine:
    """The cached engine of `kernel` (converted to `work`) for `plan`, built if needed."""
    work = compute_dtype(work)
    key = (kernel_key(kernel), plan.key, work.str)
    with _lock:
        engine = _cache.get(key)
        if engine is not None:
            _cache.move_to_end(key)
            return engine
    engine = Engine(kernel.astype(work), plan)
    with _lock:
        engine = _cache.setdefault(key, engine)
        _cache.move_to_end(key)
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)
    return engine


def trim() -> None:
    """Drop the oldest engines while the cache holds more than MAX_BYTES."""
    with _lock:
        while _cache and sum(e.nbytes for e in _cache.values()) > MAX_BYTES:
            _cache.popitem(last=False)


def clear() -> None:
    """Empty the cache, and the small method's geometries."""
    with _lock:
        _cache.clear()
    _small.clear()
