"""Apply a convolution matrix to a batch, with scipy's exact semantics.

Three things make a plain ``A @ X`` differ from a direct convolution, and this
module handles each:

* integers: products are accumulated in 64 bits by an exact method (sparse or
  shift), in limbs when the magnitudes could leave the 64-bit range (see
  ``convmat._core.exact``), and fitted to the result dtype: exact or refused,
  never wrapped;
* non-finite values: dense and FFT products would spread NaN everywhere, and
  a matrix entry that folds two taps into one sum would hide ``0 * inf``, so a
  batch holding NaN or inf is applied tap by tap over every tap, zeros
  included, as a direct convolution does;
* ``fillvalue``: the padded values enter as a constant offset per output.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np

from .._core.budget import check_working_set, get_max_dense_bytes, get_max_working_bytes
from .._core.exact import Bilinear, abs_max, abs_sum, exact_products
from .._core.plan import Plan, compute_dtype
from .._core.taps import outside_sum
from .cost import (
    cheapest_fitting,
    choose_method,
    fix_up_bound_units,
    fix_up_box_units,
    fix_up_units,
    kept,
    method_costs,
    retry_units,
    working_bytes,
)
from .engine import Engine, Method

__all__: list[str] = []


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


def padding_fill(
    fill: np.generic,
    mode: str,
    boundary: str,
    input_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
) -> np.generic | None:
    """The padding whose products with the taps enter the outputs, or None for none.

    scipy's direct convolution multiplies every tap by the padding of
    boundary 'fill' in modes 'full' and 'same': a non-finite tap times a zero
    of the padding is NaN there. numpy's convolve, which scipy uses for 1-D
    signals (in 'same' mode when the signal is at least as long as the
    kernel), leaves those products out; so does mode 'valid', which reads no
    padding (scipy swaps a kernel larger than the input).
    """
    if boundary != "fill" or mode == "valid":
        return None
    numpy_1d = len(kernel_shape) == 1 and (mode == "full" or input_shape[-1] >= kernel_shape[-1])
    return None if fill == 0 and numpy_1d else fill


def swaps_in_full_mode(
    mode: str, boundary: str, input_shape: tuple[int, ...], kernel_shape: tuple[int, ...]
) -> bool:
    """Whether scipy.signal.convolve's direct sum swaps the arrays: mode 'full', N-D
    (not numpy's 1-D convolve), a kernel of more entries than the input. Its sums
    then run over the input's entries, and the kernel's zero padding multiplies
    them: a non-finite input makes NaN where the kernel does not reach it."""
    return (
        mode == "full"
        and boundary == "fill"
        and len(kernel_shape) > 1
        and math.prod(kernel_shape) > math.prod(input_shape)
    )


def unreached_non_finite(images: np.ndarray, kernel_shape: tuple[int, ...]) -> np.ndarray:
    """Per 'full' output of each image (shape ``(B, *input_shape)``), whether a NaN or
    infinite input lies beyond the kernel's reach (counted exactly, by box sums)."""
    bad = (~np.isfinite(images)).astype(np.int64)
    total = bad.reshape(bad.shape[0], -1).sum(axis=1)
    reach = bad
    for d, m in enumerate(kernel_shape):
        axis = d + 1
        widths = [(0, 0)] * reach.ndim
        widths[axis] = (m, m - 1)  # one leading zero for the differences
        run = np.cumsum(np.pad(reach, widths), axis=axis)
        hi = np.take(run, np.arange(m, run.shape[axis]), axis=axis)
        lo = np.take(run, np.arange(0, run.shape[axis] - m), axis=axis)
        reach = hi - lo
    return np.asarray(reach < total.reshape(-1, *[1] * len(kernel_shape)))


def _apply_integer(
    x: np.ndarray,
    engine: Engine,
    dtype: np.dtype,
    method: Method,
    *,
    transpose: bool,
    fill: np.generic | None,
) -> np.ndarray:
    """The exact integer product, or :class:`ResultOverflowError`; never a wrapped value.

    The exactness ladder of :func:`~convmat._core.exact.exact_products`: the 64-bit
    product where the magnitudes bound every sum below ``2**62``, limbs beyond.
    """
    plan, k = engine.plan, engine.kernel
    reads = engine.reads if transpose else 1
    k_sum = abs_sum(k)
    fill_value = 0 if fill is None else int(fill)
    bound = abs_max(x) * k_sum * reads + abs(fill_value) * k_sum
    n_out = plan.shape[1] if transpose else plan.shape[0]
    limb_engines: dict[bytes, Engine] = {}

    def conv(k_limb: np.ndarray, x_limb: np.ndarray) -> np.ndarray:
        if k_limb is k:  # the kernel itself: its own engine
            eng = engine
        else:  # a limb of it: an engine of the limb, one at a time
            key = k_limb.tobytes()
            if key not in limb_engines:
                limb_engines.clear()
                limb_engines[key] = Engine(k_limb, plan)
            eng = limb_engines[key]
        return eng.transpose(x_limb, method) if transpose else eng.forward(x_limb, method)

    def offset(k_limb: np.ndarray, fill_limb: np.ndarray) -> np.ndarray:
        return outside_sum(k_limb * fill_limb, plan)

    terms: list[tuple[Bilinear, np.ndarray, np.ndarray]] = [(conv, k, x)]
    if fill_value:
        terms.append((offset, k, np.array(fill_value, dtype=k.dtype)))
    return exact_products(terms, bound, dtype, (x.shape[0], n_out), k.size * reads)


FIX_UP_SHARE = 0.25  # beyond this share of uncertified outputs, a row is summed directly
DOUBLE_RTOL = 1e-10  # the default rtol of double precision data


def default_rtol(dtype: np.dtype) -> float:
    """The `rtol` of ``rtol=None``: 0 (a direct sum's bound) for data whose FFT runs in a
    wider precision (half and single), ``DOUBLE_RTOL`` for double precision and wider."""
    if dtype.kind not in "fc":
        return 0.0
    return DOUBLE_RTOL if np.finfo(dtype).eps <= np.finfo(np.float64).eps else 0.0


def _certified_fft(
    x: np.ndarray, engine: Engine, dtype: np.dtype, *, transpose: bool, amortized: bool, rtol: float
) -> np.ndarray:
    """The FFT where it certifies the contract, direct sums elsewhere.

    Each row goes through the FFT in the precision :meth:`Certificate.fft_precision`
    picks; rows it leaves with many uncertified outputs are tried again in the
    next wider precision. Outputs still uncertified (near exact zeros, in the
    corners of 'full' mode, far from a bright spot) are recomputed one by one
    as direct sums when they are few; a row with many of them, or any in a
    transpose, goes through the best direct method whole.
    """
    tol = engine.certificate.tolerance(rtol, float(np.finfo(dtype).eps), transpose=transpose)
    precision = engine.certificate.fft_precision(tol, transpose=transpose)
    out = np.empty(
        (x.shape[0], engine.plan.shape[1] if transpose else engine.plan.shape[0]),
        dtype=np.result_type(x.dtype, engine.dtype),
    )
    pending = np.arange(x.shape[0])  # rows not yet served whole
    while precision is not None and pending.size:
        rows = x if pending.size == x.shape[0] else x[pending]
        got = engine.fft(rows, transpose=transpose, precision=precision)
        ok = engine.certificate.fft_certified(
            rows, got, transpose=transpose, tol=tol, precision=precision
        )
        failing = ok.shape[1] - np.count_nonzero(ok, axis=1)
        wider = engine.certificate.wider_precision(precision)
        if transpose:  # no fix-ups of single outputs in a transpose
            served = failing == 0
        else:  # fix-ups where they cost less than serving the row again
            retry = retry_units(engine, wider)
            served = failing <= FIX_UP_SHARE * ok.shape[1]
            # priced by the outputs' boxes of taps only where the count alone does not
            # settle it, every such row at once; output by output (the ring's strips
            # too) only where the boxes do not either
            unsettled = served & (failing > 0)
            unsettled[unsettled] = fix_up_bound_units(engine, failing[unsettled]) > retry
            if unsettled.any():
                boxed = fix_up_box_units(engine, ~ok[unsettled])
                if boxed is not None:
                    unsettled[unsettled] = boxed > retry
            for r in np.flatnonzero(unsettled):
                served[r] = fix_up_units(engine, np.flatnonzero(~ok[r])) <= retry
        # the served rows' fix-ups written into the product itself (a fresh array)
        if failing[served].any():
            which = np.flatnonzero(served)
            fix, outputs = np.nonzero(~ok[which])
            got[which[fix], outputs] = engine.certificate.direct_at(rows, which[fix], outputs)
        if served.all() and pending.size == x.shape[0]:
            return got  # the common case: every row served by this transform, no copy
        out[pending[served]] = got[served]
        pending = pending[~served]
        precision = wider
    if pending.size:
        direct = choose_method(
            engine, pending.size, amortized=amortized, direct=True, transpose=transpose
        )
        rest = x[pending]
        out[pending] = engine.transpose(rest, direct) if transpose else engine.forward(rest, direct)
    return out


def resolve_method(
    engine: Engine,
    batch: int,
    method: Method | str,
    *,
    amortized: bool,
    rtol: float = 0.0,
    transpose: bool = False,
    costs: dict[Method, float] | None = None,
) -> Method:
    """The method to use: the requested one, or the cost model's for 'auto' and `rtol`
    (for the transpose's working set, with `transpose`; from `costs` when the caller has
    them already).

    Integers never go through 'dense' or 'fft' (neither is exact): the cost
    model does not offer them, and ConvOperator refuses them for an integer kernel.
    """
    if method not in ("auto", "direct"):
        return method  # type: ignore[return-value]
    # the choice depends on the shapes and the budgets only: kept on the engine
    key = (
        "choice",
        batch,
        method,
        amortized,
        rtol,
        transpose,
        get_max_dense_bytes(),
        get_max_working_bytes(),
    )

    def choose() -> Method:
        priced = (
            method_costs(engine, batch, amortized=amortized, rtol=rtol) if costs is None else costs
        )
        # 'direct' is scipy's name: the best direct sum, never the FFT
        return cheapest_fitting(
            engine, priced, batch, direct=method == "direct", rtol=rtol, transpose=transpose
        )

    return cast("Method", kept(engine, key, choose))


def images_per_pass(
    engine: Engine,
    method: Method,
    batch: int,
    dtype: np.dtype,
    rtol: float,
    *,
    transpose: bool = False,
    copies: bool = True,
) -> int:
    """How many images of the batch `method` applies at once within the working-set
    budget, beside the whole batch's result (and, with `copies`, each image's copy in the
    working dtype): all of them where they fit; refused with
    :class:`MatrixTooLargeError` where not even one does (from the shapes alone)."""
    n_out, n_in = engine.plan.shape
    if transpose:
        n_in, n_out = n_out, n_in
    fixed, per_image = working_bytes(engine, method, rtol=rtol, transpose=transpose)
    if copies:
        per_image += n_in * engine.dtype.itemsize  # the input copy in the working dtype
    result = batch * n_out * dtype.itemsize
    room = get_max_working_bytes() - fixed - result
    if room >= batch * per_image:
        return batch
    if room < per_image:  # refused, with the sizes: not even one image fits
        check_working_set(
            fixed + per_image + result,
            f"method '{method}'",
            f"that is one image of {n_in:,} entries beside the result; pass "
            + ("" if method == "shift" else "method='shift' (it needs least), ")
            + "smaller inputs, or convmat.dask for images beyond one machine",
        )
    return max(1, room // per_image)


SMALL_ENTRIES = 2**14  # a single image up to this size takes the light path of a built CSR


def light_path_serves(engine: Engine, entries: int, dtype: np.dtype) -> bool:
    """Whether one image of `entries` entries of `dtype` may take the light path of a
    built operator (:func:`small_sparse`), its values aside."""
    return (
        engine.built_csr is not None
        and entries <= SMALL_ENTRIES
        and dtype == engine.dtype
        and dtype.kind == "f"
        and engine.finite_kernel
    )


def small_sparse(batch: np.ndarray, engine: Engine, dtype: np.dtype) -> np.ndarray | None:
    """The light path of a built operator on one small finite float image: the CSR
    matrix already built, a matrix-vector product and nothing else (the same sums as
    the sparse method's batched product); None where it does not apply."""
    if (
        batch.shape[0] != 1
        or batch.dtype != dtype
        or not light_path_serves(engine, batch.shape[1], dtype)
    ):
        return None
    row, csr = batch[0], engine.built_csr
    assert csr is not None  # light_path_serves found it built
    if not np.isfinite(row).all():
        return None
    return np.asarray(csr @ row).reshape(1, -1)


def apply(
    batch: np.ndarray,
    engine: Engine,
    dtype: np.dtype,
    *,
    transpose: bool = False,
    fill: np.generic | None = None,
    method: Method | str = "auto",
    amortized: bool = False,
    certify: bool | None = None,
    rtol: float | None = None,
) -> np.ndarray:
    """Return ``batch @ A.T`` (or ``batch @ A`` with `transpose`) in `dtype`.

    `batch` has shape ``(B, n)``; `engine` is the matrix's, in the working
    dtype (``compute_dtype(dtype)``); `fill` (boundary 'fill' only) adds the
    padding's offset; `method` is a method name or 'auto'. With `certify`
    (the default for 'auto'), the FFT serves only the outputs it certifies
    within ``max(rtol, terms * eps)`` of ``(|k| * |x|)(o)``
    (:meth:`Certificate.fft_certified`; `rtol` None is :func:`default_rtol`);
    the others take a direct sum.
    """
    certify = method == "auto" if certify is None else certify
    tolerance = default_rtol(dtype) if rtol is None else rtol
    work = compute_dtype(dtype)
    plan, k = engine.plan, engine.kernel
    if batch.shape[0] == 0:
        return np.zeros((0, plan.shape[1] if transpose else plan.shape[0]), dtype=dtype)
    chosen = resolve_method(
        engine, batch.shape[0], method, amortized=amortized, rtol=tolerance, transpose=transpose
    )
    if chosen == "sparse" and not transpose and (fill is None or fill == 0):
        small = small_sparse(batch, engine, dtype)  # one small image: the light path
        if small is not None:
            return small
    step = images_per_pass(
        engine,
        chosen,
        batch.shape[0],
        dtype,
        tolerance,
        transpose=transpose,
        copies=batch.dtype != work,
    )
    if step < batch.shape[0]:  # the working set of the whole batch exceeds the budget
        out = np.empty((batch.shape[0], plan.shape[1] if transpose else plan.shape[0]), dtype)
        for lo in range(0, batch.shape[0], step):
            out[lo : lo + step] = apply(
                batch[lo : lo + step],
                engine,
                dtype,
                transpose=transpose,
                fill=fill,
                method=chosen,
                amortized=amortized,
                certify=certify,
                rtol=tolerance,
            )
        return out
    x = batch.astype(work, copy=False)
    if work.kind in "iu":
        return _apply_integer(x, engine, dtype, chosen, transpose=transpose, fill=fill)
    # a 1-D shift-and-add is numpy's direct sum over every tap: NaN and inf need no care
    direct = chosen == "shift" and engine.line is not None
    finite = direct or work.kind not in "fc" or bool(np.isfinite(x).all() and np.isfinite(k).all())
    if not finite:
        out = engine.direct(x, transpose=transpose)
    elif chosen == "fft" and certify:
        out = _certified_fft(
            x, engine, dtype, transpose=transpose, amortized=amortized, rtol=tolerance
        )
    else:
        # a sum beyond the dtype's range is inf, as scipy's direct sum gives it, unannounced
        with np.errstate(over="ignore"):
            out = engine.transpose(x, chosen) if transpose else engine.forward(x, chosen)
    if fill is not None and (fill != 0 or not np.isfinite(k).all()):
        # the padding's products: with non-finite taps, 0 * inf is NaN as scipy gives it
        with np.errstate(invalid="ignore"):  # inf - inf is NaN, as in a direct sum
            out = out + _fill_offset(k, work.type(fill), plan)
    with np.errstate(over="ignore"):  # float32 results computed in float64
        return out.astype(dtype, copy=False)
