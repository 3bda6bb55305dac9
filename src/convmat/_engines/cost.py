"""Choose the method that applies a convolution matrix fastest: a cost model.

Each method's time is estimated from what it must do, counted from the
shapes alone, in one unit: a multiply-add of scipy.sparse's scalar loop.

* ``sparse``: one unit per stored entry and image, plus a pass over the batch
  to lay it out column-wise and back, plus streaming the matrix (value and
  index) from memory once per call. A batch is split over the cores.
* ``shift``: two units per nonzero tap and output pixel (a vectorised
  multiply and an add); when one image and its output do not fit the
  cache-sized block, each pass also streams three arrays from memory. In 1-D
  it runs as numpy's convolve, a fifth of a unit per tap and output.
* ``fft``: ``5 N log2 N`` flops per forward or inverse real transform of size
  ``N`` (the classic count), at four flops per unit: FFT kernels are
  vectorised and spread over the cores; plus the product with the spectrum.
  'auto' uses the FFT only where it certifies the accuracy ``rtol`` asks
  for: the transforms run in the precision :meth:`Engine.fft_precision`
  picks (float64 for single precision data and for double precision at the
  default ``rtol``; long double, nine times slower, where a tighter ``rtol``
  needs it), plus the certificate's passes over the data and, as likely as
  signed data make it, a float32 transform of ``|x|`` with ``|k|`` (half a
  float64 one); where no precision can serve, 'auto' does not offer the FFT.
* ``banded`` (2-D, float and complex): the GEMM of the gathered window rows
  (``kh * (TILE + kw - 1)`` per tile of ``TILE`` outputs) with the stacked
  band, at the dense method's rate (eight multiply-adds per unit; a quarter
  as many complex ones), plus copying the rows
  (a quarter unit per 8-byte entry) and, when one image's rows outgrow the
  cache, streaming them from memory; plus a pass to extend each input and
  the fixed cost of some forty calls. Offered for batches only: measured on
  single images, its GEMM is too small to pay for BLAS's threads.
* ``dense``: ``n_out * n_in`` multiply-adds per image at sixteen per unit
  (BLAS: vector units and all cores), only for a matrix within 64 MiB and
  within the dense budget (:func:`convmat.set_max_dense_bytes`).

Memory traffic is charged at ``BYTE_UNITS`` per byte streamed (a quarter
unit: main memory delivers a few bytes in the time of one scalar
multiply-add). Every call into numpy or scipy also has a fixed cost, charged as
``CALL_UNITS`` per call made (shift makes two per tap and block of images).
For a one-shot call (``amortized=False``) building the method's resource is
charged too, whether or not a cached engine holds it already, so that the
choice, and with it the rounding of the result, never depends on what ran
before: thirty units per stored entry of the CSR matrix (computing, masking
and writing values and indices), one transform for the spectrum. A
:class:`convmat.ConvOperator` amortises its resources over many calls.
These ratios describe kinds of code, not one machine: the benchmarks
(``benchmarks/run.py``) show how the choice fares against every method.
"""

from __future__ import annotations

import math

import numpy as np

from .._core.budget import dense_fits, machine_memory, sparse_build_bytes
from . import banded as _banded
from .engine import CACHE_BYTES, Engine, Method, is_long_double
from .pool import PARALLEL_WORK, THREADS

__all__: list[str] = []

DENSE_LIMIT = 64 * 2**20
CALL_UNITS = 1500.0
BYTE_UNITS = 0.25
_BUILD_UNITS_PER_ENTRY = 30.0
_FFT_FLOPS_PER_UNIT = 4.0
_BLAS_FLOPS_PER_UNIT = 16.0
_LONG_DOUBLE_SLOWDOWN = 9.0  # x86 80-bit transforms against float64 ones: calibrate.py
_SCALE_FFT = 0.5  # the float32 transform of |x| with |k| that certifies, against a float64 one
_SCALING_PASSES = 8.0  # casts, power-of-two scalings and norms: passes over the data
_COPY_UNITS = 0.25  # an 8-byte entry copied from a contiguous run
_BANDED_MACS_PER_UNIT = _BLAS_FLOPS_PER_UNIT / 2  # the dense method's BLAS rate, in multiply-adds
_LINE_UNITS_PER_TAP = 0.2  # numpy's convolve (a SIMD dot product) against a scalar multiply-add


def _fft_size_cost(size: int) -> float:
    return 5.0 * size * math.log2(max(size, 2)) / _FFT_FLOPS_PER_UNIT


def _banded_cost(engine: Engine, batch: int) -> float:
    """The banded GEMM: BLAS multiply-adds, the gathered rows' copy, and their streaming."""
    itemsize = engine.dtype.itemsize
    out_shape = (engine.plan.output_shape[0], engine.plan.output_shape[1])
    kernel_shape = (engine.kernel.shape[0], engine.kernel.shape[1])
    gathered = _banded.gathered_entries(out_shape, kernel_shape)
    rate = _BANDED_MACS_PER_UNIT / (4 if engine.dtype.kind == "c" else 1)
    per_entry = _banded.tile_width(out_shape[1]) / rate + _COPY_UNITS * itemsize / 8
    if gathered * itemsize > CACHE_BYTES:  # one image's rows do not stay in cache
        per_entry += BYTE_UNITS * itemsize
    window = math.prod(engine.window_shape)
    return batch * (gathered * per_entry + window + engine.plan.shape[0]) + 40 * CALL_UNITS


def _certified_fft_cost(
    engine: Engine, batch: int, rtol: float, *, amortized: bool
) -> float | None:
    """The FFT under 'auto' for `rtol`: the product's transforms in the precision
    :meth:`Engine.fft_precision` picks, the certificate's passes over the data, and the
    float32 transform of ``|x|`` with ``|k|`` priced by how likely signed data need it
    (the share of outputs whose own magnitude cannot certify them, for data of even
    magnitude), plus the kernel's spectrum for a one-shot call; None where no precision
    is offered."""
    eps = float(np.finfo(engine.dtype).eps)
    tol = engine.tolerance(rtol, eps, transpose=False)
    precision = engine.fft_precision(tol, transpose=False)
    if precision is None:
        return None
    size = engine.fft_size
    n_in = engine.fft_reads
    log = math.log2(max(size, 2))
    # |k|_1 / |k|_2: how much smaller a signed sum is than the sum of magnitudes
    spread = math.sqrt(max(int(np.count_nonzero(engine.kernel)), 1))
    absk = np.abs(engine.kernel)
    if np.isfinite(absk).all() and absk.any():
        peak = float(absk.max())
        scaled = absk / peak
        spread = float(scaled.sum() / np.sqrt((scaled * scaled).sum()))
    need = 2.5 * float(np.finfo(precision).eps) * log * math.sqrt(n_in) / (0.5 * tol)
    likely = min(1.0, 100.0 * need * spread)
    slow = _precision_slowdown(precision)
    count = batch * engine.fft_count
    transforms = count * (2 * _fft_size_cost(size) + 3.0 * size)
    spectrum = 0.0 if amortized else slow * _fft_size_cost(size)
    return float(
        (slow + likely * _SCALE_FFT) * transforms
        + _SCALING_PASSES * count * size
        + 32 * CALL_UNITS
        + spectrum
    )


DIRECT_AT_UNITS = 28.0  # one gathered product of a fix-up (Engine.direct_at): 18 to 45 measured


def fix_up_units(engine: Engine, outputs: np.ndarray) -> float:
    """Summing these outputs of one row directly (:meth:`Engine.direct_at`)."""
    products, calls = engine.direct_at_work(outputs)
    return DIRECT_AT_UNITS * products + CALL_UNITS * calls


def retry_units(engine: Engine, precision: np.dtype | None) -> float:
    """Serving one image again: its forward FFT in `precision`, or (None) the cheapest
    direct method."""
    if precision is None:
        costs = method_costs(engine, 1, amortized=True)
        costs.pop("fft", None)
        return min(costs.values())
    size = engine.fft_size
    per_transform = 2 * _fft_size_cost(size) + 3.0 * size
    return _precision_slowdown(precision) * per_transform * engine.fft_count


def _precision_slowdown(precision: np.dtype) -> float:
    """A transform in `precision` against a float64 one."""
    if is_long_double(precision):
        return _LONG_DOUBLE_SLOWDOWN
    return _SCALE_FFT if precision.itemsize == 4 else 1.0


def method_costs(
    engine: Engine, batch: int, *, amortized: bool, rtol: float = 0.0
) -> dict[Method, float]:
    """Estimated cost of each method that can serve this engine, in units (the FFT as
    'auto' runs it for `rtol`)."""
    plan = engine.plan
    n_out, n_in = plan.shape
    exact_only = engine.dtype.kind in "iub"
    costs: dict[Method, float] = {}
    fits = sparse_build_bytes(plan, engine.dtype) <= machine_memory() // 2
    entry_bytes = engine.dtype.itemsize + np.dtype(plan.index_dtype()).itemsize
    # sparse and shift split a batch over the cores (their loops release the GIL)
    sparse_threads = THREADS if batch >= 2 and plan.nnz_estimate * batch >= PARALLEL_WORK else 1
    costs["sparse"] = (
        (float(plan.nnz_estimate) * batch + 2.0 * batch * (n_in + n_out)) / sparse_threads
        + BYTE_UNITS * plan.nnz_estimate * entry_bytes
        + 8 * CALL_UNITS
    )
    if not amortized:
        costs["sparse"] += _BUILD_UNITS_PER_ENTRY * plan.nnz_estimate
    if not fits:
        del costs["sparse"]  # a matrix that would take over half the memory is never chosen
    nonzero_taps = max(int(np.count_nonzero(engine.kernel)), 1)
    rows = engine.strip_rows(batch)
    blocks = math.ceil(batch / engine.block(batch)) * math.ceil(plan.output_shape[0] / rows)
    # one image in one pass that outgrows the cache (too few rows to cut into strips)
    streamed = (
        engine.block(batch) == 1
        and rows == plan.output_shape[0]
        and engine.image_bytes > CACHE_BYTES
    )
    per_pass = 2.0 + (BYTE_UNITS * 3 * engine.dtype.itemsize if streamed else 0.0)
    shift_work = nonzero_taps * n_out * batch
    shift_threads = THREADS if batch >= 2 and shift_work >= PARALLEL_WORK else 1
    if engine.line is not None:
        # numpy's convolve: a vectorised dot product per output, every tap, one call a signal
        line_work = engine.kernel.size * n_out * batch
        costs["shift"] = (
            _LINE_UNITS_PER_TAP * line_work + batch * (math.prod(engine.window_shape) + n_out)
        ) / shift_threads + (2 * batch + 4) * CALL_UNITS
    else:
        costs["shift"] = (
            per_pass * shift_work + batch * math.prod(engine.window_shape)
        ) / shift_threads + (2 * nonzero_taps * blocks + 4) * CALL_UNITS
    if not exact_only:
        fft = _certified_fft_cost(engine, batch, rtol, amortized=amortized)
        if fft is not None:
            costs["fft"] = fft
    if not exact_only and len(plan.output_shape) == 2 and batch >= 2:
        costs["banded"] = _banded_cost(engine, batch)
    if not exact_only:
        dense_bytes = n_out * n_in * engine.dtype.itemsize
        if dense_bytes <= DENSE_LIMIT and dense_fits(plan, engine.dtype):
            costs["dense"] = (
                n_out * n_in * batch * 2 / _BLAS_FLOPS_PER_UNIT
                + BYTE_UNITS * dense_bytes
                + 2 * CALL_UNITS
            )
            if not amortized:
                costs["dense"] += _BUILD_UNITS_PER_ENTRY * plan.nnz_estimate + n_out * n_in / 4
    return costs


def choose_method(
    engine: Engine, batch: int, *, amortized: bool, direct: bool = False, rtol: float = 0.0
) -> Method:
    """The cheapest method by :func:`method_costs`; with `direct`, the cheapest direct sum."""
    costs = method_costs(engine, batch, amortized=amortized, rtol=rtol)
    if direct:
        costs.pop("fft", None)
    return min(costs, key=costs.__getitem__)
