"""Apply a convolution matrix to a batch, with scipy's exact semantics.

Three things make a plain ``A @ X`` differ from a direct convolution, and this
module handles each:

* integers: products are accumulated in 64 bits (by an exact method: sparse or
  shift) and checked against the result dtype, so a result is exact or
  refused, never wrapped;
* non-finite values: dense and FFT products would spread NaN everywhere, so a
  batch holding NaN or inf always goes through the sparse matrix, whose
  pattern is the kernel's footprint; where the boundary folds two taps into
  one entry, the input is applied tap by tap instead, as a direct convolution
  does;
* ``fillvalue``: the padded values enter as a constant offset per output.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._budget import check_sparse_fits
from ._build import Plan, build_unfolded_coo, compute_dtype, outside_sum
from ._cost import choose_method
from ._engine import Engine, Method
from ._errors import ResultOverflowError

__all__: list[str] = []

EngineSource = Callable[[np.dtype], Engine]


def _abs_max(arr: np.ndarray) -> float:
    if arr.size == 0:
        return 0.0
    return float(np.abs(arr.astype(np.float64)).max())


def _check_integer_range(
    result: np.ndarray, estimate: np.ndarray | None, dtype: np.dtype, bound: float
) -> None:
    """Refuse integer results that wrapped or do not fit `dtype`."""
    info = np.iinfo(dtype)
    if bound <= min(float(info.max), -float(info.min) if info.min else float(info.max)) * 0.999:
        return  # no result can reach the ends of the range
    # the 64-bit sums may have wrapped, by a multiple of 2**64: a float
    # estimate, off by far less than 2**62, tells
    if estimate is not None and (np.abs(result.astype(np.float64) - estimate) > 2.0**62).any():
        _raise_overflow(dtype)
    if result.size and (result.min() < info.min or result.max() > info.max):
        _raise_overflow(dtype)


def _raise_overflow(dtype: np.dtype) -> None:
    msg = (
        f"the exact result does not fit the result dtype {dtype}; it is refused "
        "rather than wrapped: convert the inputs to a wider integer or float dtype"
    )
    raise ResultOverflowError(msg)


def _fill_offset(kernel: np.ndarray, fill: np.generic, plan: Plan) -> np.ndarray:
    """Per-output sum of ``kernel[j] * fill`` over the taps that read the padding.

    Non-finite terms are counted, not summed, so that NaN and inf come out as
    a direct convolution gives them, whatever the order of summation.
    """
    with np.errstate(invalid="ignore"):  # 0 * inf is NaN, as in a direct convolution
        terms = kernel * fill
    if terms.dtype.kind in "iu":
        return outside_sum(terms, plan)
    parts = [terms] if terms.dtype.kind == "f" else [terms.real, terms.imag]
    sums = []
    for part in parts:
        finite = np.isfinite(part)
        total = outside_sum(np.where(finite, part, 0), plan)
        if not finite.all():
            nan = outside_sum(np.isnan(part).astype(np.int64), plan) > 0
            pos = outside_sum((part == np.inf).astype(np.int64), plan) > 0
            neg = outside_sum((part == -np.inf).astype(np.int64), plan) > 0
            total = np.where(pos, np.inf, np.where(neg, -np.inf, total))
            total = np.where(nan | (pos & neg), np.nan, total)
        sums.append(total)
    if len(sums) == 1:
        return sums[0]
    return sums[0] + 1j * sums[1]


def _fold_multiplicity(plan: Plan) -> int:
    """Most outputs through which one tap reads one input (1 unless folded)."""
    most = 1
    for mp in plan.maps:
        if not mp.folded:
            continue
        per_axis = 1
        for j in range(mp.m):
            col = mp.raw[:, j]
            col = col[col >= 0]
            if col.size:
                per_axis = max(per_axis, int(np.bincount(col).max()))
        most *= per_axis
    return most


def resolve_method(engine: Engine, batch: int, method: Method | str, *, amortized: bool) -> Method:
    """The method to use: the requested one, or the cost model's for 'auto'.

    Integers never go through 'dense' or 'fft' (neither is exact): the cost
    model does not offer them, and ConvOperator refuses or replaces them.
    """
    if method == "auto":
        return choose_method(engine, batch, amortized=amortized)
    return method  # type: ignore[return-value]


def apply(
    batch: np.ndarray,
    engines: EngineSource,
    dtype: np.dtype,
    *,
    transpose: bool = False,
    fill: np.generic | None = None,
    method: Method | str = "auto",
    amortized: bool = False,
) -> np.ndarray:
    """Return ``batch @ A.T`` (or ``batch @ A`` with `transpose`) in `dtype`.

    `batch` has shape ``(B, n)``; `engines(work)` gives the engine of the
    matrix in the working dtype; `fill` (boundary 'fill' only) adds the
    padding's offset; `method` is a method name or 'auto'.
    """
    work = compute_dtype(dtype)
    engine = engines(work)
    plan, k = engine.plan, engine.kernel
    if batch.shape[0] == 0:
        return np.zeros((0, plan.shape[1] if transpose else plan.shape[0]), dtype=dtype)
    x = batch.astype(work, copy=False)
    finite = work.kind not in "fc" or bool(np.isfinite(x).all() and np.isfinite(k).all())
    if not finite:
        if plan.folded:
            check_sparse_fits(plan, work)
            coo = build_unfolded_coo(k, plan)
            out = np.asarray(x @ (coo if transpose else coo.T))
        else:
            out = engine.transpose(x, "sparse") if transpose else engine.forward(x, "sparse")
    else:
        chosen = resolve_method(engine, x.shape[0], method, amortized=amortized)
        out = engine.transpose(x, chosen) if transpose else engine.forward(x, chosen)
    if fill is not None and (fill != 0 or not np.isfinite(k).all()):
        out = out + _fill_offset(k, work.type(fill), plan)
    if work.kind in "iu":
        k_abs = float(np.abs(k.astype(np.float64)).sum())
        if transpose:
            k_abs *= _fold_multiplicity(plan)
        bound = _abs_max(x) * k_abs + (abs(float(fill)) * k_abs if fill is not None else 0.0)
        estimate = None
        if bound >= 2.0**62:
            wide = engines(np.dtype(np.float64))
            xf = batch.astype(np.float64)
            estimate = wide.transpose(xf, "sparse") if transpose else wide.forward(xf, "sparse")
            if fill is not None and fill != 0:
                estimate = estimate + _fill_offset(wide.kernel, np.float64(fill), plan)
        _check_integer_range(out, estimate, dtype, bound)
    return out.astype(dtype, copy=False)
