"""Small single images in one call: the window's runs as columns, one dot product per output.

For one 2-D image (or a batch of one) of float32 or float64 whose columns
hold at most ``SMALL_ENTRIES`` entries, ``conv2d`` and ``correlate2d`` skip
the engine machinery (cost model, batch layout, engine cache): the image is extended to
its window (numpy's padding for the boundary, as a precomputed flat index),
and on a *wide* output grid as long as the window's rows, every kernel tap
reads one contiguous run of the flattened window. The runs are gathered as
the rows of a ``(taps, outputs)`` matrix in one call and multiplied by the
kernel (BLAS's dot products, the accuracy of a direct sum); the first
``W_out`` columns of each output row are kept.

The method depends on the shapes and dtype alone, never on what ran before:
the first call for a geometry computes with it too, after the full
validation; later calls find the geometry in a small cache keyed by the
shapes, dtype, mode and boundary and check only what can differ between
calls with that key (that the arrays are finite; anything else takes the
general path).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .._core.plan import Plan

__all__: list[str] = []

SMALL_ENTRIES = 2**17  # columns of at most this many entries: 1 MiB in float64
MAX_ENTRIES = 256
_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

_lock = threading.Lock()
_cache: dict[tuple[object, ...], SmallConv] = {}


class SmallConv:
    """The geometry of one small convolution: where each tap's run starts in the window."""

    def __init__(self, plan: Plan) -> None:
        (mh, mw) = plan.kernel_shape
        map_h, map_w = plan.maps
        self.out_shape = plan.output_shape
        self.wh, self.ww = map_h.length + mh - 1, map_w.length + mw - 1
        self.length = self.out_shape[0] * self.ww  # the wide output grid
        self.size = self.wh * self.ww + mw - 1  # runs of the last row's taps end past the window
        # tap (a, b) reads window[i + mh - 1 - a, j + mw - 1 - b]: kernel order, C order
        self.starts = np.array(
            [(mh - 1 - a) * self.ww + (mw - 1 - b) for a in range(mh) for b in range(mw)],
            dtype=np.intp,
        )
        self.inside: tuple[slice, slice] | None = None
        self.index: np.ndarray | None = None
        rows, cols = map_h.window, map_w.window
        if map_h.input_run is not None and map_w.input_run is not None:
            self.inside = (map_h.input_run, map_w.input_run)  # zero padding around the input
        else:  # every window position reads an input: wrap or symm
            n_w = plan.input_shape[1]
            self.index = (rows[:, None] * n_w + cols[None, :]).ravel()

    def __call__(self, image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """The convolution of one image, ``(1, ..., 1, H, W)`` or ``(H, W)``."""
        lead = image.shape[:-2]
        image = image.reshape(image.shape[-2:])  # leading axes of length 1: a view
        dtype = image.dtype
        window = np.zeros(self.size, dtype=dtype)
        grid = window[: self.wh * self.ww].reshape(self.wh, self.ww)
        if self.inside is not None:
            grid[self.inside] = image
        else:
            assert self.index is not None
            np.take(image.ravel(), self.index, out=window[: self.wh * self.ww])
        runs = np.ndarray(
            (self.size - self.length + 1, self.length),
            dtype=dtype,
            buffer=window,
            strides=(dtype.itemsize, dtype.itemsize),
        )
        with np.errstate(over="ignore"):  # a sum beyond the range is inf, as in scipy
            wide = kernel.ravel() @ runs[self.starts]
        out = np.ascontiguousarray(wide.reshape(self.out_shape[0], self.ww)[:, : self.out_shape[1]])
        return out.reshape(*lead, *self.out_shape)


def columns(plan: Plan) -> int:
    """Entries of the ``(taps, wide outputs)`` matrix of runs."""
    (mh, mw), (h_out, w_out) = plan.kernel_shape, plan.output_shape
    return mh * mw * h_out * (w_out + mw - 1)


def eligible(image: np.ndarray, kernel: np.ndarray, plan: Plan) -> bool:
    """Whether the small method serves this call: one finite small float image, not a line.

    One image: ``(H, W)``, or a batch of one (every leading axis of length 1).
    """
    long_axes = sum(
        n > 1 or m > 1 for n, m in zip(plan.input_shape, plan.kernel_shape, strict=True)
    )
    maps = plan.maps
    zero_padded = all(mp.input_run is not None for mp in maps)
    return (
        image.size == math.prod(plan.input_shape)
        and long_axes == 2
        # a window read through an index holds no padding zeros (wrap, symm: none)
        and (
            zero_padded or all(bool((mp.window >= 0).all()) for mp in maps)
        )  # a single row or column runs as numpy's convolve, as a signal does
        and image.dtype in _DTYPES
        and kernel.dtype == image.dtype
        and columns(plan) <= SMALL_ENTRIES
        and bool(np.isfinite(image).all())
        and bool(np.isfinite(kernel).all())
    )


def key(
    image: np.ndarray, kernel: np.ndarray, mode: str, boundary: str, corr: bool
) -> tuple[object, ...]:
    # dtype.str holds the byte order: a big-endian image never takes a native image's entry
    return (image.shape, kernel.shape, image.dtype.str, kernel.dtype.str, mode, boundary, corr)


def store(cache_key: tuple[object, ...], plan: Plan) -> SmallConv:
    """The geometry for `plan`, kept under `cache_key` (validated arguments only)."""
    small = SmallConv(plan)
    with _lock:
        if len(_cache) >= MAX_ENTRIES:
            _cache.clear()
        _cache[cache_key] = small
    return small


def lookup(
    image: object,
    kernel: object,
    mode: object,
    boundary: object,
    fillvalue: object,
    method: object,
    *,
    corr: bool,
) -> np.ndarray | None:
    """The result by a cached geometry, or None where the general path must run.

    Only arguments of exact types take this path: ndarrays, mode and boundary
    strings seen before with these shapes and dtypes, a zero `fillvalue`
    (int or float), method 'auto', finite values.
    """
    if (
        type(image) is not np.ndarray
        or type(kernel) is not np.ndarray
        or type(mode) is not str
        or type(boundary) is not str
        or type(method) is not str
        or method != "auto"
        or type(fillvalue) not in (int, float)
        or fillvalue != 0
    ):
        return None
    small = _cache.get(key(image, kernel, mode, boundary, corr))
    if small is None or not (np.isfinite(image).all() and np.isfinite(kernel).all()):
        return None
    return small(image, kernel[::-1, ::-1] if corr else kernel)


def clear() -> None:
    """Empty the cache."""
    with _lock:
        _cache.clear()
