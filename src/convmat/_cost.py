"""Choose the method that applies a convolution matrix fastest: a cost model.

Each method's time is estimated from what it must do, counted from the
shapes alone, in one unit: a multiply-add of scipy.sparse's scalar loop.

* ``sparse``: one unit per stored entry and image, plus a pass over the batch
  to lay it out column-wise and back.
* ``shift``: two units per nonzero tap and output pixel (a vectorised
  multiply and an add, each a streamed pass over the batch).
* ``fft``: ``5 N log2 N`` flops per forward or inverse real transform of size
  ``N`` (the classic count), at two flops per unit: FFT kernels are
  vectorised and spread over the cores; plus the product with the spectrum.
* ``dense``: ``n_out * n_in`` multiply-adds per image at sixteen per unit
  (BLAS: vector units and all cores), only for a matrix within 64 MiB.

Building a resource that an engine does not hold yet is charged too (one
unit per entry written, one transform for the spectrum) unless the cost is
to be amortised over many calls, as a :class:`convmat.ConvOperator` does.
These ratios describe kinds of code, not one machine: the benchmarks
(``benchmarks/run.py``) show how the choice fares against every method.
"""

from __future__ import annotations

import math

import numpy as np

from ._engine import Engine, Method

__all__: list[str] = []

DENSE_LIMIT = 64 * 2**20
_FFT_FLOPS_PER_UNIT = 2.0
_BLAS_FLOPS_PER_UNIT = 16.0


def _fft_size_cost(size: int) -> float:
    return 5.0 * size * math.log2(max(size, 2)) / _FFT_FLOPS_PER_UNIT


def method_costs(engine: Engine, batch: int, *, amortized: bool) -> dict[Method, float]:
    """Estimated cost of each method that can serve this engine, in units."""
    plan = engine.plan
    n_out, n_in = plan.shape
    exact_only = engine.dtype.kind in "iub"
    costs: dict[Method, float] = {}
    costs["sparse"] = float(plan.nnz) * batch + 2.0 * batch * (n_in + n_out)
    if not amortized and engine._csr is None:
        costs["sparse"] += 4.0 * plan.nnz
    nonzero_taps = int(np.count_nonzero(engine.kernel))
    costs["shift"] = 2.0 * max(nonzero_taps, 1) * n_out * batch + batch * math.prod(
        engine.window_shape
    )
    if not exact_only:
        size = math.prod(engine.fft_shape)
        costs["fft"] = batch * (2 * _fft_size_cost(size) + 3.0 * size)
        if not amortized and not engine._spectra:
            costs["fft"] += _fft_size_cost(size)
        dense_bytes = n_out * n_in * engine.dtype.itemsize
        if dense_bytes <= DENSE_LIMIT:
            costs["dense"] = n_out * n_in * batch * 2 / _BLAS_FLOPS_PER_UNIT
            if not amortized and engine._dense is None:
                costs["dense"] += 4.0 * plan.nnz + n_out * n_in / 4
    return costs


def choose_method(engine: Engine, batch: int, *, amortized: bool) -> Method:
    """The cheapest method by :func:`method_costs`."""
    costs = method_costs(engine, batch, amortized=amortized)
    return min(costs, key=costs.__getitem__)
