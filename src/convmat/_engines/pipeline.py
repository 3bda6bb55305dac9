"""One request pipeline for every convolution of arrays: validate, plan, engine, apply, trim.

Whatever the entry point (the one-shot functions of :mod:`convmat.conv`, a
:class:`convmat.ConvOperator`, each block of :mod:`convmat.dask`), a product
goes through the same stops:

1. :func:`forward_request` or :func:`transpose_request` validates the call
   once, from shapes and dtypes alone, before any data is read, and returns a
   :class:`Request`: the kernel as applied (reversed and conjugated for a
   correlation), the :class:`~convmat._core.plan.Plan` (shapes, mode,
   boundary), the result dtype, the method, the accuracy setting and the
   padding whose products enter the outputs;
2. :func:`run` takes the engine of that kernel and plan (from the cache of
   one-shot calls, or the one handed in by an operator that keeps its own),
   applies it to the batch (:func:`~convmat._engines.apply.apply`) and trims
   the cache.

:func:`forward` and :func:`transpose` are the in-memory one-shot calls: a
small 2-D image whose geometry was seen before is served from the small
method's cache before anything else (its key holds only exact types and
validated values), then request and run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .._core.budget import check_result_fits
from .._core.index import output_length
from .._core.plan import Plan, compute_dtype, make_plan
from .._core.validate import (
    MethodArg,
    Mode,
    check_array,
    check_boundary,
    check_fillvalue,
    check_method,
    check_method_axes,
    check_mode,
    check_nonempty,
    check_rtol,
    check_shape,
    check_valid_shapes,
    result_dtype,
)
from . import small
from .apply import (
    apply,
    default_rtol,
    padding_fill,
    resolve_method,
    swaps_in_full_mode,
    unreached_non_finite,
)
from .cache import engine_for, trim
from .cost import UNIT_SECONDS, method_costs, working_bytes
from .engine import Engine, Method

__all__: list[str] = []


@dataclass(eq=False, slots=True)
class Request:
    """A validated product, before any data is read.

    `kernel` is the kernel as applied, with at least one axis; `plan` holds the
    shapes, mode and boundary; `batch_shape` the leading axes of the data;
    `fill` the padding whose products enter the outputs (None: none);
    `scalar` marks a 0-d kernel, applied over an axis added to the data and
    dropped from the result; `swapped` marks scipy's swapped direct sum (see
    :func:`~convmat._engines.apply.swaps_in_full_mode`); `small_key` is the
    small method's cache key where that method may serve the call.
    """

    kernel: np.ndarray
    plan: Plan
    batch_shape: tuple[int, ...]
    dtype: np.dtype
    method: MethodArg
    rtol: float | None
    fill: np.generic | None = None
    transpose: bool = False
    scalar: bool = False
    swapped: bool = False
    small_key: tuple[str, str, bool] | None = None

    @property
    def images(self) -> int:
        return math.prod(self.batch_shape)


def kernel_axes(
    arr: npt.ArrayLike,
    kernel: npt.ArrayLike,
    names: tuple[str, str],
    ndim: int | None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate the arrays; return them with at least one kernel axis, and whether the
    kernel was a scalar (applied over no axis: a product, as scipy gives for 0-d)."""
    x = check_array(arr, names[0], min_ndim=0 if ndim is None else ndim)
    k = check_array(kernel, names[1], ndim=ndim, min_ndim=0)
    if k.ndim > x.ndim:
        msg = (
            f"`{names[1]}` has {k.ndim} axes, more than the {x.ndim} of `{names[0]}` "
            f"(shape {x.shape}): the kernel is applied over the trailing axes of `{names[0]}`, "
            "the leading ones are a batch"
        )
        raise ValueError(msg)
    scalar = k.ndim == 0
    if scalar:
        x, k = x[..., None], k.reshape(1)
    check_nonempty(x.shape[x.ndim - k.ndim :], names[0])
    check_nonempty(k.shape, names[1])
    return x, k, scalar


def forward_request(
    data_dtype: np.dtype,
    data_shape: tuple[int, ...],
    kernel: np.ndarray,
    mode: object,
    boundary: object,
    fillvalue: object,
    *,
    corr: bool,
    method: object,
    rtol: object,
    ndim: int | None,
    scalar: bool = False,
) -> Request:
    """The request of a convolution (or correlation, with `corr`) of data of this dtype
    and shape with a validated `kernel`: every option checked, the plan made.

    `ndim` 2 is scipy's 2-D functions (``convolve2d``, ``correlate2d``: their
    'same' centring of a correlation, and the small method); None the N-D ones
    (``convolve``, ``correlate``: numpy's 1-D rules and the swapped sum).
    """
    checked_mode = check_mode(mode)
    canon = check_boundary(boundary)
    dtype = result_dtype(np.empty(0, data_dtype), kernel, "correlation" if corr else "convolution")
    how = check_method(method, dtype)
    tol = check_rtol(rtol)
    fill = check_fillvalue(fillvalue, dtype, used=canon == "fill")
    k = kernel
    in_shape = tuple(data_shape[len(data_shape) - k.ndim :])
    check_valid_shapes(checked_mode, in_shape, k.shape)
    check_method_axes(how, k.ndim)
    if corr:
        flip = (slice(None, None, -1),) * k.ndim
        k = k[flip].conj() if k.dtype.kind == "c" else k[flip]
    # 'same' centring: scipy.signal.correlate crops 'full' as convolve does, at (m - 1) // 2;
    # correlate2d at m // 2 (they differ for even kernels)
    plan = make_plan(in_shape, k.shape, checked_mode, canon, corr=corr and ndim == 2)
    use_fill = padding_fill(fill, checked_mode, canon, in_shape, k.shape)
    # scipy.signal.convolve sums over the input's entries instead (see swaps_in_full_mode)
    swapped = (
        ndim is None and fill == 0 and swaps_in_full_mode(checked_mode, canon, in_shape, k.shape)
    )
    if swapped:
        use_fill = None
    small_key = None
    if ndim == 2 and how == "auto" and not use_fill:
        small_key = (str(mode), str(boundary), corr)  # the validated strings, as given
    return Request(
        k,
        plan,
        tuple(data_shape[: len(data_shape) - k.ndim]),
        dtype,
        how,
        tol,
        fill=use_fill,
        scalar=scalar,
        swapped=swapped,
        small_key=small_key,
    )


def _infer_input_shape(
    out_shape: tuple[int, ...], k_shape: tuple[int, ...], mode: Mode
) -> tuple[int, ...]:
    if mode == "full":
        shape = tuple(o - m + 1 for o, m in zip(out_shape, k_shape, strict=True))
    elif mode == "same":
        shape = out_shape
    else:
        shape = tuple(o + m - 1 for o, m in zip(out_shape, k_shape, strict=True))
    if any(s <= 0 for s in shape):
        msg = (
            f"`output` of shape {out_shape} cannot come from a '{mode}' convolution with a "
            f"kernel of shape {k_shape}: each axis must be at least the kernel's"
        )
        raise ValueError(msg)
    return shape


def transpose_input_shape(
    y_shape: tuple[int, ...],
    k_shape: tuple[int, ...],
    mode: Mode,
    input_shape: object,
    *,
    scalar: bool = False,
) -> tuple[int, ...]:
    """The forward input's shape of a transpose: `input_shape` checked, or inferred from
    the trailing axes of `y_shape`, which must then be the forward output's shape."""
    out_shape = tuple(y_shape[len(y_shape) - len(k_shape) :])
    if input_shape is None:
        shape = _infer_input_shape(out_shape, k_shape, mode)
    elif scalar:
        shape = (*check_shape(input_shape, "input_shape", 0), 1)
    else:
        shape = check_shape(input_shape, "input_shape", len(k_shape))
    check_valid_shapes(mode, shape, k_shape)
    expected = tuple(output_length(n, m, mode) for n, m in zip(shape, k_shape, strict=True))
    if expected != out_shape:
        msg = (
            f"`output` must end in shape {expected} for a '{mode}' convolution of "
            f"{shape} inputs with a {k_shape} kernel, got shape {tuple(y_shape)}"
        )
        raise ValueError(msg)
    return shape


def transpose_request(
    data_dtype: np.dtype,
    data_shape: tuple[int, ...],
    kernel: np.ndarray,
    mode: object,
    boundary: object,
    input_shape: object,
    *,
    method: object,
    rtol: object,
    scalar: bool = False,
) -> Request:
    """The request of the transpose ``A.T @ y`` of a convolution, for outputs `y` of this
    dtype and shape; `input_shape` (or None, inferred) is the forward input's."""
    checked_mode = check_mode(mode)
    canon = check_boundary(boundary)
    dtype = result_dtype(np.empty(0, data_dtype), kernel, "transposed convolution")
    how = check_method(method, dtype)
    tol = check_rtol(rtol)
    shape = transpose_input_shape(
        data_shape, kernel.shape, checked_mode, input_shape, scalar=scalar
    )
    check_method_axes(how, kernel.ndim)
    return Request(
        kernel,
        make_plan(shape, kernel.shape, checked_mode, canon),
        tuple(data_shape[: len(data_shape) - kernel.ndim]),
        dtype,
        how,
        tol,
        transpose=True,
        scalar=scalar,
    )


def check_fits(request: Request, name: str, *, advice: str) -> None:
    """Refuse, from the shapes alone, a call whose input copy and output cannot fit."""
    plan = request.plan
    inputs, outputs = (
        (plan.output_shape, plan.input_shape)
        if request.transpose
        else (plan.input_shape, plan.output_shape)
    )
    what = (
        f"a transposed convolution of {request.images} output(s) of shape {inputs}"
        if request.transpose
        else f"a convolution of {request.images} image(s) of shape {inputs} (`{name}`)"
    )
    check_result_fits(
        request.images,
        math.prod(inputs),
        math.prod(outputs),
        compute_dtype(request.dtype).itemsize,
        what,
        advice,
    )


def run(
    request: Request,
    data: np.ndarray,
    engine: Engine | None = None,
    *,
    amortized: bool = False,
    certify: bool | None = None,
) -> np.ndarray:
    """Apply the request to `data` (shaped ``(*batch_shape, *input)``, or any shape with
    the input's size per image): the small method where it serves, else the engine
    (`engine`, or the cache's, which is then trimmed), then the shape of the result."""
    plan, k = request.plan, request.kernel
    if request.small_key is not None and small.eligible(data, k, plan):
        key = small.key(data, k, *request.small_key)
        return small.store(key, plan)(data, k)
    n_in = plan.shape[0] if request.transpose else plan.shape[1]
    batch = data.reshape(-1, n_in)
    cached = engine is None
    if engine is None:
        engine = engine_for(k, plan, compute_dtype(request.dtype))
    out = apply(
        batch,
        engine,
        request.dtype,
        transpose=request.transpose,
        fill=request.fill,
        method=request.method,
        amortized=amortized,
        certify=certify,
        rtol=request.rtol,
    )
    if cached:  # the cache grew, perhaps: back within its bytes
        trim()
    if request.swapped and out.dtype.kind in "fc" and not np.isfinite(batch).all():
        images = batch.reshape(-1, *plan.input_shape)
        out[unreached_non_finite(images, k.shape).reshape(out.shape)] = np.nan
    out = out.reshape(
        request.batch_shape + (plan.input_shape if request.transpose else plan.output_shape)
    )
    return out[..., 0] if request.scalar else out


def predict(request: Request, *, amortized: bool) -> tuple[Method, float, int]:
    """What :func:`run` would do with `request`, from the shapes alone: the method
    (the cost model's, for 'auto'), its estimated seconds, and its peak bytes beyond the
    input (the result and the method's working set: what the budget is compared with)."""
    plan = request.plan
    work = compute_dtype(request.dtype)
    engine = engine_for(request.kernel, plan, work)
    tol = default_rtol(request.dtype) if request.rtol is None else request.rtol
    images = max(request.images, 1)
    costs = method_costs(engine, images, amortized=amortized, rtol=tol)
    method = resolve_method(
        engine,
        images,
        request.method,
        amortized=amortized,
        rtol=tol,
        transpose=request.transpose,
        costs=costs,
    )
    seconds = costs.get(method, math.nan) * UNIT_SECONDS
    fixed, per_image = working_bytes(engine, method, rtol=tol, transpose=request.transpose)
    n_out = plan.shape[1] if request.transpose else plan.shape[0]
    return method, seconds, fixed + images * per_image + request.images * n_out * work.itemsize


CONV_ADVICE = "pass fewer images per call"
DASK_ADVICE = (
    ", or wrap the image with dask.array and call convmat.dask's function of the same "
    "name, which works block by block"
)


def forward(
    image: npt.ArrayLike,
    kernel: npt.ArrayLike,
    mode: object,
    boundary: object,
    fillvalue: object,
    *,
    corr: bool,
    method: object,
    rtol: object,
    ndim: int | None = None,
    names: tuple[str, str] = ("image", "kernel"),
) -> np.ndarray:
    """A convolution (correlation with `corr`) of arrays in one call, equal to scipy's."""
    if ndim == 2:
        check_rtol(rtol)  # refused before the small path, which sums directly whatever it says
        done = small.lookup(image, kernel, mode, boundary, fillvalue, method, corr=corr)
        if done is not None:
            return done
    x, k, scalar = kernel_axes(image, kernel, names, ndim)
    request = forward_request(
        x.dtype,
        x.shape,
        k,
        mode,
        boundary,
        fillvalue,
        corr=corr,
        method=method,
        rtol=rtol,
        ndim=ndim,
        scalar=scalar,
    )
    advice = CONV_ADVICE + (DASK_ADVICE if ndim == 2 else "")
    check_fits(request, names[0], advice=advice)
    return run(request, x)


def transpose(
    output: npt.ArrayLike,
    kernel: npt.ArrayLike,
    mode: object,
    boundary: object,
    input_shape: object,
    *,
    method: object,
    rtol: object,
    ndim: int | None = None,
) -> np.ndarray:
    """The transpose ``A.T @ y`` of a convolution's matrix, applied to arrays in one call."""
    y, k, scalar = kernel_axes(output, kernel, ("output", "kernel"), ndim)
    request = transpose_request(
        y.dtype, y.shape, k, mode, boundary, input_shape, method=method, rtol=rtol, scalar=scalar
    )
    check_fits(request, "output", advice="pass fewer outputs per call")
    return run(request, y)
