"""Choose how a CNN layer is applied: its sparse matrix, im2col GEMMs, Winograd or shifts.

Each method's time is estimated from the layer's shapes, in the unit of
:mod:`convmat._engines.cost` (a multiply-add of scipy.sparse's scalar loop), and the
cheapest is taken. ``convmat.nn`` builds a layer's matrix inside every call,
so building is always charged.

* ``matrix``: two units per stored entry to build the CSR matrix (values
  and indices computed, masked and written) and the fixed cost of about a
  hundred numpy calls that building takes, then one unit per entry and
  image for the product (half in single precision), plus a pass over the
  batch to lay it out and back; for depthwise layers (nine entries a row)
  ``MATRIX_DEPTHWISE_FACTOR`` of that.
* ``gemm``: ``C_out * C_in / groups * kH * kW`` multiply-adds per position of
  the wide output grid and image, at sixteen per unit in double precision
  (BLAS: vector units and all cores), twice that in single precision, a
  quarter as many complex ones (four real multiply-adds each); a GEMM whose
  output rows or inner dimension ``s`` are fewer than seven is memory bound,
  its rate ``(s + 1) / 8`` of the full one (a depthwise layer's
  ``(1, kH * kW)`` weight rows run at a quarter, as measured). Plus copying
  the columns (``COPY_UNITS`` per 8-byte entry: each is read from a
  contiguous run and written once; the adjoint adds them back, two passes)
  and the padded input's phases; plus a fixed cost per numpy call: one copy per tap and block. A
  pointwise layer (1x1, stride 1, no padding) is the channel matmul alone,
  and a stride-1 adjoint is counted as the convolution it runs as.
* ``shift`` (depthwise layers only): two vectorised passes per tap over each
  span of planes (a multiply and an add, ``SHIFT_UNITS`` per 8-byte entry:
  they run in cache at a rate per byte, so single precision costs half),
  spans split over the cores, plus two calls per tap and span; a stride-1
  adjoint counted as the transposed depthwise layer it runs as.

* ``winograd`` (3x3, stride 1, no dilation; in float32 for the
  ``WINOGRAD_FLOAT32_CHANNELS`` input channels per group): the 16 channel
  GEMMs per tile, slowed when a block has fewer than 64 tiles, the two
  Kronecker transforms as GEMMs of 16 rows, the weights' transform, the
  phases, gathers and scatters as copies; times ``WINOGRAD_FACTOR``.

The counts use the same block sizes the engine will use. The constants
describe kinds of code; ``benchmarks/layer_methods.py`` times every method
on the speed section's layers and reports, per method, how far its units
are from gemm's on this machine, which is where the fitted ones (the
build's two units, the two factors, the phases' slowdown) come from. The
layer tables of ``benchmarks/speed.py`` show how the choice fares against
torch.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .._core.budget import machine_memory
from .._engines.certificate import CALL_UNITS
from .._engines.pool import PARALLEL_WORK, THREADS
from ._gemm import COLUMN_BYTES, LayerGemm, gemm_methods
from ._layer import Layer
from ._winograd import WINOGRAD_FLOAT32_CHANNELS, LayerWinograd

__all__: list[str] = []

LayerMethod = Literal["matrix", "gemm", "shift", "winograd"]
LAYER_METHODS: tuple[LayerMethod, ...] = ("matrix", "gemm", "shift", "winograd")

_BUILD_UNITS_PER_ENTRY = 2.0  # fitted by benchmarks/layer_methods.py
_BLAS_MACS_PER_UNIT = 16.0  # double precision, GEMMs of sides at least _BLAS_FULL_RATE_SIDE - 1
_BLAS_FULL_RATE_SIDE = 8  # below this many rows (or inner terms) a GEMM is memory bound
_MATRIX_CALLS = 100  # the layer matrix's build: plans, index maps, masks, CSR assembly
_WINOGRAD_FULL_COLUMNS = 64  # a block's tiles below which its channel GEMMs slow down
# measured seconds per unit over gemm's, by benchmarks/layer_methods.py (its factors, three
# runs): Winograd's by precision, and the sparse matrix's of depthwise layers (nine entries a
# row, which scipy's product runs through faster than the model counts)
WINOGRAD_FACTOR = {4: 1.55, 8: 1.2}  # by the real itemsize
MATRIX_DEPTHWISE_FACTOR = 0.35
COPY_UNITS = 0.25  # an 8-byte entry copied from a contiguous run, against a multiply-add
SHIFT_UNITS = 0.3  # an 8-byte entry of a vectorised multiply or add, in cache


def _block_count(engine: LayerGemm, batch: int, per_image: int, limit: int) -> int:
    return sum(1 for _ in engine.blocks(batch, per_image, limit))


def _blas_rate(dtype: np.dtype, rows: int, depth: int) -> float:
    """Multiply-adds per unit of a GEMM with `rows` output rows and inner dimension `depth`."""
    lanes = _BLAS_MACS_PER_UNIT * 8 / dtype.itemsize  # twice the lanes for single precision
    if dtype.kind == "c":
        lanes /= 2  # four real multiply-adds on an item twice as wide
    return lanes * min(1.0, (min(rows, depth) + 1) / _BLAS_FULL_RATE_SIDE)


def _gemm_cost(engine: LayerGemm, batch: int, dtype: np.dtype, *, adjoint: bool) -> float:
    layer = engine.layer
    n_out, n_in = layer.shape
    rows, depth = engine.per_group, engine.depth
    if engine.pointwise:  # one channel matmul, no copies
        macs = batch * layer.c_out * layer.c_group * layer.output_shape[1] * layer.output_shape[2]
        if adjoint:
            rows, depth = depth, rows
        return macs / _blas_rate(dtype, rows, depth) + 8 * CALL_UNITS
    if adjoint and layer.stride == (1, 1):  # the adjoint runs as the transposed convolution
        engine, rows, depth = engine.transposed, layer.c_group, engine.per_group * engine.taps
        adjoint = False
        layer = engine.layer
    phases = batch * layer.c_in * engine.phases * engine.rows * engine.wq
    columns = batch * layer.c_in * engine.taps * engine.wide
    macs = batch * layer.c_out * layer.c_group * engine.taps * engine.wide
    if adjoint:  # the transposed weights, and each column added back rather than copied
        rows, depth = depth, rows
        columns *= 2 * engine.phases  # into stride-many phases: as slow per pass as shift's
    blocks = _block_count(engine, batch, engine.column_bytes(dtype.itemsize), COLUMN_BYTES)
    return (
        macs / _blas_rate(dtype, rows, depth)
        + COPY_UNITS * dtype.itemsize / 8 * (columns + phases + batch * (n_out + n_in))
        + (engine.taps + 3) * blocks * CALL_UNITS
        + 8 * CALL_UNITS
    )


def _winograd_cost(layer: Layer, batch: int, dtype: np.dtype) -> float:
    """F(2x2, 3x3) of `layer`: 16 channel GEMMs per tile, two Kronecker transforms, copies."""
    wino = LayerWinograd(layer)
    tiles = batch * wino.tile_count
    per_group = layer.c_out // layer.groups
    blocks = sum(1 for _ in wino.blocks(batch, dtype.itemsize))
    # the channel GEMMs of a block have its tiles as columns: few columns, far from the peak
    columns = min(1.0, tiles / max(blocks, 1) / _WINOGRAD_FULL_COLUMNS) or 1.0
    rate = _blas_rate(dtype, per_group, layer.c_group) * columns
    products = 16 * layer.c_out * layer.c_group * tiles / rate
    transforms = (256 * layer.c_in + 64 * layer.c_out) * tiles / _blas_rate(dtype, 16, 16)
    weights = 144 * layer.c_out * layer.c_group / _blas_rate(np.dtype(np.float64), 16, 9)
    phases = batch * layer.c_in * 4 * (wino.tiles[0] + 2) * wino.wq
    copies = phases + 16 * layer.c_in * tiles + 2 * 4 * layer.c_out * tiles  # the scatter strides
    real = dtype.itemsize // (2 if dtype.kind == "c" else 1)
    return WINOGRAD_FACTOR[real] * (
        products
        + transforms
        + weights
        + COPY_UNITS * dtype.itemsize / 8 * copies
        + 23 * blocks * CALL_UNITS
        + 12 * CALL_UNITS
    )


def layer_costs(
    layer: Layer, batch: int, dtype: np.dtype, *, adjoint: bool = False
) -> dict[LayerMethod, float]:
    """Estimated cost of each method that can serve `layer` (or its adjoint), in units."""
    engine = LayerGemm(layer)
    itemsize = dtype.itemsize
    n_out, n_in = layer.shape
    costs: dict[LayerMethod, float] = {}
    nnz = layer.nnz_bound
    entry_bytes = itemsize + np.dtype(layer.index_dtype()).itemsize
    if nnz * entry_bytes * 3 <= machine_memory() // 2:
        costs["matrix"] = (
            _BUILD_UNITS_PER_ENTRY * nnz
            + nnz * batch * itemsize / 8  # the product streams values: single precision, half
            + 2.0 * batch * (n_in + n_out)
            + _MATRIX_CALLS * CALL_UNITS
        ) * (MATRIX_DEPTHWISE_FACTOR if layer.c_group == 1 else 1.0)
    phases = batch * layer.c_in * engine.phases * engine.rows * engine.wq
    methods = gemm_methods(layer)
    if "gemm" in methods:
        costs["gemm"] = _gemm_cost(engine, batch, dtype, adjoint=adjoint)
    if "shift" in methods:
        shifter = engine
        if adjoint and layer.stride == (1, 1) and engine.per_group == 1:
            shifter = engine.transposed  # the adjoint runs as the transposed (depthwise) layer
        spans = len(shifter.plane_spans(batch, itemsize))
        work = 2 * shifter.taps * batch * shifter.layer.c_out * shifter.wide
        threads = min(THREADS, spans) if work >= PARALLEL_WORK else 1
        # a strided layer's taps read their runs from stride-many phases: measured that many
        # times slower per pass (benchmarks/layer_methods.py)
        costs["shift"] = (
            SHIFT_UNITS * itemsize / 8 * work / threads * shifter.phases
            + COPY_UNITS * itemsize / 8 * (phases + batch * n_out)
            + (2 * engine.taps + 3) * spans * CALL_UNITS
            + 8 * CALL_UNITS
        )
    single = dtype in (np.dtype(np.float32), np.dtype(np.complex64))
    inner = engine.transposed.layer if adjoint and "winograd" in methods else layer
    accurate = not single or inner.c_group in WINOGRAD_FLOAT32_CHANNELS  # the sum's length
    if "winograd" in methods and dtype.kind in "fc" and accurate:
        fold = 0.0 if not adjoint or engine.transposed_inside else batch * n_in * COPY_UNITS
        costs["winograd"] = _winograd_cost(inner, batch, dtype) + fold
    return costs


def choose_layer_method(
    layer: Layer, batch: int, dtype: np.dtype, *, adjoint: bool = False
) -> LayerMethod:
    """The cheapest method by :func:`layer_costs`."""
    costs = layer_costs(layer, batch, dtype, adjoint=adjoint)
    return min(costs, key=costs.__getitem__)
