"""Choose the method that applies a convolution matrix fastest: a cost model.

Each method's time is estimated from what it must do, counted from the
shapes alone, in one unit: a multiply-add of scipy.sparse's scalar loop.

* ``sparse``: one unit per stored entry for one image (streaming the matrix
  from memory included: that is how the unit is measured); for a batch,
  half a unit per stored entry and image in double precision, 3/8 in single
  (scipy's loop over a laid-out batch multiplies each entry by a short
  contiguous row), plus 1.5 units per stored entry and call, plus a pass
  over the batch to lay it out column-wise and back. A batch is split over
  the cores, a call each.
* ``shift``: 0.85 units per nonzero tap and output pixel in double
  precision, 0.45 in single (a vectorised multiply and an add, measured by
  ``make calibrate``); when one image and its output do not fit the
  cache-sized block, each pass also streams three arrays from memory. In 1-D
  it runs as numpy's convolve, a fifth of a unit per tap and output. Its
  loops are memory-bound: each core beyond the first adds a quarter of one.
* ``fft``: ``5 N log2 N`` flops per forward or inverse real transform of size
  ``N`` (the classic count), at 8.5 flops per unit (measured): FFT kernels are
  vectorised and spread over the cores; plus the product with the spectrum.
  'auto' uses the FFT only where it certifies the accuracy ``rtol`` asks
  for: the transforms run in the precision :meth:`Certificate.fft_precision`
  picks (float64 for single precision data and for double precision at the
  default ``rtol``; long double, nine times slower, where a tighter ``rtol``
  needs it), plus the certificate's passes over the data and, as likely as
  signed data make it, a float32 transform of ``|x|`` with ``|k|`` (half a
  float64 one); where no precision can serve, 'auto' does not offer the FFT.
* ``banded`` (2-D, float and complex): the GEMM of the gathered window rows
  (``kh * (TILE + kw - 1)`` per tile of ``TILE`` outputs) with the stacked
  band, at eight multiply-adds per unit in double precision (sixteen in
  single, two in complex128, four in complex64), plus copying the rows
  (a quarter unit per 8-byte entry) and, when one image's rows outgrow the
  cache, streaming them from memory; plus a pass to extend each input and
  the fixed cost of some forty calls. Offered for batches only: measured on
  single images, its GEMM is too small to pay for BLAS's threads.
* ``dense``: ``n_out * n_in`` multiply-adds per image at 0.04 units each in
  double precision, 0.02 in single (BLAS's GEMM: vector units and all
  cores), plus the matrix streamed once per call at 0.015 units per byte
  (BLAS's GEMV on one image); only for a matrix within 64 MiB and within
  the dense budget (:func:`convmat.set_max_dense_bytes`).

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
These ratios describe kinds of code, not one machine: ``make calibrate``
refits them (``benchmarks/calibrate.py``) and the benchmarks
(``benchmarks/run.py``) show how the choice fares against every method.

Memory is a cost too: :func:`working_bytes` counts, from the shapes, what each
method allocates beyond its input and result, and :func:`choose_method` takes
the cheapest method that fits the working-set budget
(:func:`convmat.set_max_working_bytes`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numpy as np
import numpy.typing as npt

from .._core.budget import (
    dense_fits,
    get_max_dense_bytes,
    get_max_working_bytes,
    machine_memory,
    sparse_build_bytes,
)
from . import banded as _banded
from . import separable as _separable
from .certificate import CALL_UNITS, DIRECT_AT_RAGGED, DIRECT_AT_UNITS, rounding_factor
from .engine import CACHE_BYTES, FFT_GROUP_BYTES, Engine, Method, is_long_double
from .pool import PARALLEL_WORK, THREADS

__all__: list[str] = []

DENSE_LIMIT = 64 * 2**20
UNIT_SECONDS = 0.7e-9  # one unit on the machine of the benchmarks: make calibrate, 0.58-0.68 ns
BYTE_UNITS = 0.25
_BUILD_UNITS_PER_ENTRY = 30.0
MEMO_ENTRIES = 256  # an engine's kept prices and working sets, at most
_FFT_FLOPS_PER_UNIT = 8.5  # make calibrate: 4.3 to 7.9; 8 to 12 on box kernels (2026-12-06)
_SHIFT_UNITS_PER_BYTE = 0.1  # a vectorised multiply-add per tap and output, per byte of
# an entry (SIMD lanes), plus 0.05: 0.45 (float32) and 0.85 (float64); calibrate: 0.79x 1.1
# the dense method: a multiply-add of BLAS's GEMM per 8-byte entry (single precision twice
# as fast), and each byte of the matrix streamed once per call (its GEMV on one image)
_DENSE_UNITS_PER_MAC = 0.04
_DENSE_BYTE_UNITS = 0.015
# the CSR product of a batch (scipy's csr_matvecs: each stored entry times a row of the
# laid-out batch): per stored entry and image (double precision; single 3/4 of it), and
# per stored entry and call (each thread's share of the batch is one call)
_SPARSE_BATCH_UNITS = 0.5
_SPARSE_ENTRY_UNITS = 1.5
_SPARSE_LAYOUT_UNITS = 2.0  # laying the batch out column-wise and back, per entry
_SPARSE_VECTOR_UNITS = 0.5  # one image: no layout, its entries read and written once
# the shift method's extra threads, each worth this share of one (a memory-bound loop)
_SHIFT_THREAD_GAIN = 0.25
_LONG_DOUBLE_SLOWDOWN = 11.0  # x86 80-bit transforms against float64 ones: calibrate, 11.9
_SCALE_FFT = 0.5  # the float32 transform of |x| with |k| that certifies, against a float64 one
_FFT_CALLS = 200  # the certified FFT's numpy calls: 250 to 290 µs on a 16² image, measured
# and beyond them, in calls, where they run (measured on single 16² to 64² images, 3² to
# 31² kernels, in units: 4e5 to 5e5 for the bound of |x| and its decisions, 1.7e5 to
# 2.4e5 for a call of Certificate.direct_at on a few outputs, beside its priced products)
_BOUND_CALLS = 300
_DIRECT_AT_CALLS = 120
_SCALING_PASSES = 8.0  # casts, power-of-two scalings and norms: passes over the data
# An output of the ring stays uncertified where its taps reading the input hold less than
# this many times the bound's share of ||k||_1 (data of even magnitude): on 31² and 15²
# Gaussian, box and normal kernels over 32² to 512² images in 'full' mode, normal and
# uniform data, the outputs predicted at 1.25 were 0.9x to 1.1x of those summed directly
_THIN_MARGIN = 1.25
_COPY_UNITS = 0.25  # an 8-byte entry copied from a contiguous run
_BANDED_MACS_PER_UNIT = 8.0  # the banded GEMM's multiply-adds of 8-byte entries per unit
_LINE_UNITS_PER_TAP = 0.2  # numpy's convolve (a SIMD dot product) against a scalar multiply-add


def _shift_units_per_tap(dtype: np.dtype) -> float:
    """One tap's pass of the shift method, per output: a vectorised multiply-add, whose
    SIMD lanes hold twice as many single precision entries as double."""
    return _SHIFT_UNITS_PER_BYTE * dtype.itemsize + 0.05


def _fft_size_cost(size: int) -> float:
    return 5.0 * size * math.log2(max(size, 2)) / _FFT_FLOPS_PER_UNIT


def _banded_cost(engine: Engine, batch: int) -> float:
    """The banded GEMM: BLAS multiply-adds, the gathered rows' copy, and their streaming."""
    itemsize = engine.dtype.itemsize
    out_shape = (engine.plan.output_shape[0], engine.plan.output_shape[1])
    kernel_shape = (engine.kernel.shape[0], engine.kernel.shape[1])
    gathered = _banded.gathered_entries(out_shape, kernel_shape)
    # single precision twice as fast; a complex product four real ones in twice the bytes
    rate = _BANDED_MACS_PER_UNIT * 8 / itemsize / (2 if engine.dtype.kind == "c" else 1)
    per_entry = _banded.tile_width(out_shape[1]) / rate + _COPY_UNITS * itemsize / 8
    if gathered * itemsize > CACHE_BYTES:  # one image's rows do not stay in cache
        per_entry += BYTE_UNITS * itemsize
    window = math.prod(engine.window_shape)
    return batch * (gathered * per_entry + window + engine.plan.shape[0]) + 40 * CALL_UNITS


def _certified_fft_cost(
    engine: Engine, batch: int, rtol: float, *, amortized: bool
) -> float | None:
    """The FFT under 'auto' for `rtol`: the product's transforms in the precision
    :meth:`Certificate.fft_precision` picks, the certificate's passes over the data, and the
    float32 transform of ``|x|`` with ``|k|`` priced by how likely signed data need it
    (the share of outputs whose own magnitude cannot certify them, for data of even
    magnitude), the direct sums of the ring that reads mostly padding
    (:meth:`Certificate.thin_outputs`), plus the kernel's spectrum for a one-shot call;
    None where no precision is offered."""
    eps = float(np.finfo(engine.dtype).eps)
    tol = engine.certificate.tolerance(rtol, eps, transpose=False)
    precision = engine.certificate.fft_precision(tol, transpose=False)
    if precision is None:
        return None
    size = engine.fft_size
    n_in = engine.fft_reads
    # |k|_1 / |k|_2: how much smaller a signed sum is than the sum of magnitudes
    k1, k2 = engine.certificate.kernel_norm1, engine.certificate.kernel_norm2
    ratio = k2 / k1 if 0.0 < k1 < math.inf else 1.0
    spread = 1.0 / ratio
    # the bound of an output of even magnitude, against what the certificate allows
    unit = float(np.finfo(precision).eps) / 2
    need = rounding_factor(unit, size) * math.sqrt(n_in) * ratio / (0.5 * tol)
    likely = min(1.0, 100.0 * need * spread)
    slow = _precision_slowdown(precision)
    count = batch * engine.fft_count
    transforms = count * (2 * _fft_size_cost(size) + 3.0 * size)
    spectrum = 0.0 if amortized else slow * _fft_size_cost(size)
    thin = engine.certificate.thin_outputs(min(1.0, _THIN_MARGIN * need))
    ring = batch * fix_up_units(engine, thin) if thin is not None and thin.size else 0.0
    # the calls of the later steps, by their chances: the bound of |x| runs where the
    # outputs the first bound likely leaves cost more to sum than a pass; the direct
    # sums where any output is likely left (the expected count in the batch, as Poisson's)
    share = min(1.0, need * spread)
    bound = min(1.0, share * engine.kernel.size)
    left = 1.0 if ring else 1.0 - math.exp(-share * batch * engine.plan.shape[0])
    calls = _FFT_CALLS + bound * _BOUND_CALLS + left * _DIRECT_AT_CALLS
    return float(
        (slow + likely * _SCALE_FFT) * transforms
        + _SCALING_PASSES * count * size
        + calls * CALL_UNITS
        + spectrum
        + ring
    )


def fix_up_units(engine: Engine, outputs: np.ndarray) -> float:
    """Summing these outputs of one row directly (:meth:`Certificate.direct_at`)."""
    products, calls = engine.certificate.direct_at_work(outputs)
    return DIRECT_AT_UNITS * products + CALL_UNITS * calls


def fix_up_bound_units(engine: Engine, failing: npt.ArrayLike) -> np.ndarray:
    """An upper bound of :func:`fix_up_units` for `failing` outputs of one row (an array of
    counts gives one per row), from their count alone: every tap of each gathered, in
    blocks of the boxes' ragged gather."""
    products = np.asarray(failing, dtype=np.int64) * engine.kernel.size
    blocks = -(-products // DIRECT_AT_RAGGED)
    calls = 8 + blocks * (8 + 6 * len(engine.plan.maps))
    return np.asarray(DIRECT_AT_UNITS * products + CALL_UNITS * calls, dtype=np.float64)


def fix_up_box_units(engine: Engine, failing: np.ndarray) -> np.ndarray | None:
    """Per row of `failing` (``(B, n_out)``, True where an output is summed directly), the
    price of summing those outputs over the boxes of taps they read, all rows priced in a
    few calls, as :func:`fix_up_units` prices a row of one group of direct_at;
    None where no boxes apply (boundaries other than zero padding). The ring's strips,
    which :func:`fix_up_units` also prices, can only cost less."""
    rows, outputs = np.nonzero(failing)
    sizes = engine.certificate.box_sizes(outputs)
    if sizes is None:
        return None
    products = np.bincount(rows, weights=sizes, minlength=failing.shape[0])
    calls = np.ceil(products / DIRECT_AT_RAGGED) * (8 + 6 * len(engine.plan.maps))
    # boxes holding a quarter of the taps or more are gathered whole, as direct_at does
    every = np.count_nonzero(failing, axis=1) * engine.kernel.size
    whole = 4 * products > every
    products = np.where(whole, every, products)
    calls = np.where(whole, 8, calls)
    return np.asarray(DIRECT_AT_UNITS * products + CALL_UNITS * calls, dtype=np.float64)


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
    'auto' runs it for `rtol`). Kept on the engine per batch size, `amortized`, `rtol`
    and dense budget (a one-shot call through a cached engine prices nothing twice)."""
    key = ("costs", batch, amortized, rtol, get_max_dense_bytes())
    costs = kept(engine, key, lambda: _method_costs(engine, batch, amortized=amortized, rtol=rtol))
    return dict(cast("dict[Method, float]", costs))


def kept(engine: Engine, key: tuple[object, ...], compute: Callable[[], object]) -> object:
    """``compute()``, kept in ``engine.memo`` under `key` (the memo emptied once it holds
    :data:`MEMO_ENTRIES`)."""
    if key not in engine.memo:
        if len(engine.memo) >= MEMO_ENTRIES:
            engine.memo.clear()
        engine.memo[key] = compute()
    return engine.memo[key]


def _method_costs(
    engine: Engine, batch: int, *, amortized: bool, rtol: float
) -> dict[Method, float]:
    plan = engine.plan
    n_out, n_in = plan.shape
    exact_only = engine.dtype.kind in "iub"
    costs: dict[Method, float] = {}
    fits = sparse_build_bytes(plan, engine.dtype) <= machine_memory() // 2
    # sparse and shift split a batch over the cores (their loops release the GIL)
    sparse_threads = THREADS if batch >= 2 and plan.nnz_estimate * batch >= PARALLEL_WORK else 1
    # one image: scipy's scalar loop, the unit itself; a batch: a short vector per entry
    if batch == 1:
        per_entry = 1.0
    else:
        per_image = _SPARSE_BATCH_UNITS * (0.5 + engine.dtype.itemsize / 16)
        per_entry = per_image + _SPARSE_ENTRY_UNITS * sparse_threads / batch
    costs["sparse"] = (
        per_entry * float(plan.nnz_estimate) * batch
        + (_SPARSE_LAYOUT_UNITS if batch > 1 else _SPARSE_VECTOR_UNITS) * batch * (n_in + n_out)
    ) / sparse_threads + 8 * CALL_UNITS
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
    per_pass = _shift_units_per_tap(engine.dtype) + (
        BYTE_UNITS * 3 * engine.dtype.itemsize if streamed else 0.0
    )
    shift_work = nonzero_taps * n_out * batch
    shift_threads = (
        1.0 + _SHIFT_THREAD_GAIN * (THREADS - 1)
        if batch >= 2 and shift_work >= PARALLEL_WORK
        else 1.0
    )
    if engine.line is not None:
        # numpy's convolve: a vectorised dot product per output, every tap, one call a signal
        line_work = engine.kernel.size * n_out * batch
        costs["shift"] = (
            _LINE_UNITS_PER_TAP * line_work + batch * (math.prod(engine.window_shape) + n_out)
        ) / shift_threads + (2 * batch + 4) * CALL_UNITS
    elif engine.separable is not None:
        # a pass along each axis over strips of rows, the window rows gathered per strip
        u, v = engine.separable
        shape = (plan.output_shape[0], plan.output_shape[1])
        nonzero = (int(np.count_nonzero(u)), int(np.count_nonzero(v)))
        work = _separable.pass_work(u.size, v.size, shape, nonzero) * batch
        strips = math.ceil(plan.output_shape[0] / max(8 * (u.size - 1), 1))
        costs["shift"] = (
            _shift_units_per_tap(engine.dtype) * work + 2 * batch * math.prod(engine.window_shape)
        ) / shift_threads + (2 * sum(nonzero) * strips + 4) * CALL_UNITS
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
            per_mac = _DENSE_UNITS_PER_MAC * engine.dtype.itemsize / 8
            if engine.dtype.kind == "c":
                per_mac *= 2  # four real multiply-adds in twice the bytes
            costs["dense"] = (
                per_mac * n_out * n_in * batch + _DENSE_BYTE_UNITS * dense_bytes + 12 * CALL_UNITS
            )
            if not amortized:
                costs["dense"] += _BUILD_UNITS_PER_ENTRY * plan.nnz_estimate + n_out * n_in / 4
    return costs


def working_bytes(
    engine: Engine, method: Method, *, rtol: float = 0.0, transpose: bool = False
) -> tuple[int, int]:
    """The bytes a method allocates beyond its input and result, from the shapes alone:
    ``(fixed, per_image)``, the engine's resources (the matrix, the kernel's spectrum) and
    what each image of a batch adds (extended copies, transforms, the certificate's
    passes). Python integers, upper estimates of the peak; kept on the engine."""
    key = ("working", method, rtol, transpose)
    working = kept(
        engine, key, lambda: _working_bytes(engine, method, rtol=rtol, transpose=transpose)
    )
    return cast("tuple[int, int]", working)


def _working_bytes(
    engine: Engine, method: Method, *, rtol: float, transpose: bool
) -> tuple[int, int]:
    plan = engine.plan
    s = engine.dtype.itemsize
    n_out, n_in = plan.shape
    if transpose:
        n_in, n_out = n_out, n_in
    window = math.prod(engine.window_shape)
    if method == "shift":
        if engine.line is not None:  # numpy's convolve per signal; its rows stacked
            return 0, (window + 2 * n_out) * s
        copy = 0 if engine.linear and window == plan.shape[1] else window * s
        return CACHE_BYTES, copy + (window * s if transpose else 0)
    if method in ("sparse", "dense"):
        matrix = sparse_build_bytes(plan, engine.dtype)
        if method == "dense":
            matrix += plan.shape[0] * plan.shape[1] * s
        return matrix, 2 * (n_in + n_out) * s  # the batch laid out column-wise and back
    if method == "banded":
        out_shape = (plan.output_shape[0], plan.output_shape[1])
        kernel_shape = (engine.kernel.shape[0], engine.kernel.shape[1])
        gathered = _banded.gathered_entries(out_shape, kernel_shape)
        return CACHE_BYTES, (window + gathered) * s
    # the FFT: the data in the transforms' precision, its spectrum and the inverse's
    # result at once; the kernel's spectrum held; the certificate's passes over |x|
    tol = engine.certificate.tolerance(rtol, float(np.finfo(engine.dtype).eps), transpose=transpose)
    precision = engine.certificate.fft_precision(tol, transpose=transpose) or np.dtype(np.float64)
    p = precision.itemsize * (2 if engine.dtype.kind == "c" else 1)
    size = math.prod(engine.fft_shape) if transpose else engine.fft_size * engine.fft_count
    spectrum = (math.prod(engine.fft_shape) if transpose else engine.fft_size) * p
    certificate = 2 * n_in * s + window * s
    if not transpose and engine.blocking is not None:
        # overlap-save blocks transformed a group at a time (Engine._fft_blocked), |x|'s
        # in float32 too: a group's temporaries, whatever the batch
        group = 3 * max(engine.fft_size * p, FFT_GROUP_BYTES)
        return spectrum + group + 3 * max(engine.fft_size * 4, FFT_GROUP_BYTES), certificate
    return spectrum, 3 * size * p + certificate + 3 * size * 4


def fits(
    engine: Engine, method: Method, batch: int, *, rtol: float = 0.0, transpose: bool = False
) -> bool:
    """Whether `method` applies `batch` images (by the transpose, with `transpose`) within
    the working-set budget, beside their result."""
    fixed, per_image = working_bytes(engine, method, rtol=rtol, transpose=transpose)
    n_out = engine.plan.shape[1] if transpose else engine.plan.shape[0]
    io = batch * n_out * engine.dtype.itemsize  # the result
    return fixed + batch * per_image + io <= get_max_working_bytes()


def choose_method(
    engine: Engine,
    batch: int,
    *,
    amortized: bool,
    direct: bool = False,
    rtol: float = 0.0,
    transpose: bool = False,
) -> Method:
    """The cheapest method by :func:`method_costs` among those that fit the working-set
    budget (:func:`fits`); with `direct`, the cheapest direct sum. Where none fits, the
    one whose working set is least (:func:`~convmat._engines.apply.apply` then splits the
    batch, or refuses). With `transpose`, for the transpose's working set."""
    costs = method_costs(engine, batch, amortized=amortized, rtol=rtol)
    return cheapest_fitting(engine, costs, batch, direct=direct, rtol=rtol, transpose=transpose)


def cheapest_fitting(
    engine: Engine,
    costs: dict[Method, float],
    batch: int,
    *,
    direct: bool = False,
    rtol: float = 0.0,
    transpose: bool = False,
) -> Method:
    """:func:`choose_method`'s choice among `costs` (:func:`method_costs`'s, computed
    once by a caller that also reports them)."""
    offered = {m: c for m, c in costs.items() if not (direct and m == "fft")}
    fitting = {
        m: c for m, c in offered.items() if fits(engine, m, batch, rtol=rtol, transpose=transpose)
    }
    if not fitting:
        return min(
            offered, key=lambda m: sum(working_bytes(engine, m, rtol=rtol, transpose=transpose))
        )
    return min(fitting, key=fitting.__getitem__)
