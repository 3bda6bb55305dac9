"""The layers: ``conv2d``, ``conv_transpose2d`` and ``conv2d_matrix``, equal to torch's."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from functools import partial
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from .._core.budget import check_sparse_fits, check_working_set
from .._core.errors import DTypeError
from .._core.exact import Bilinear, abs_max, abs_sum, exact_products
from .._core.plan import compute_dtype
from .._core.validate import (
    Format,
    check_array,
    check_choice,
    check_format,
    check_nonempty,
    check_shape,
    is_tensor,
    keyword_only_hint,
)
from ._cost import LAYER_METHODS, LayerMethod, choose_layer_method
from ._gemm import GemmMethod, LayerGemm
from ._layer import ONE_IMAGE, Layer, Padding, PaddingMode, check_groups, layer_matrix, pair
from ._winograd import winograd_serves

# what a layer's input_shape holds

__all__ = ["conv2d", "conv2d_matrix", "conv_transpose2d"]


def _as_batch(x: np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    if x.ndim not in (3, 4):
        msg = f"`{name}` must be (N, C, H, W) or unbatched (C, H, W), got shape {x.shape}"
        raise ValueError(msg)
    check_nonempty(x.shape[1:] if x.ndim == 4 else x.shape, name)
    return (x, True) if x.ndim == 4 else (x[None], False)


def _bias(bias: npt.ArrayLike | None, channels: int) -> np.ndarray | None:
    if bias is None:
        return None
    b = check_array(bias, "bias", ndim=1)
    if b.shape[0] != channels:
        msg = f"`bias` must have {channels} entries (one per output channel), got shape {b.shape}"
        raise ValueError(msg)
    return b


def _check_method(method: object, layer: Layer, dtype: np.dtype) -> LayerMethod | Literal["auto"]:
    check_choice(method, "method", ("auto", *LAYER_METHODS))
    if method == "shift" and layer.c_group != 1:
        msg = (
            "`method` 'shift' serves depthwise layers only (one input channel per group), "
            f"got {layer.c_group} input channels per group: pass 'gemm', 'matrix' or 'auto'"
        )
        raise ValueError(msg)
    if method == "winograd" and not winograd_serves(layer):
        msg = (
            "`method` 'winograd' serves 3x3 layers of stride 1 without dilation, got kernel "
            f"{layer.kernel}, stride {layer.stride}, dilation {layer.dilation}: pass 'gemm', "
            "'matrix' or 'auto'"
        )
        raise ValueError(msg)
    if method == "winograd" and compute_dtype(dtype).kind not in "fc":
        msg = (
            f"`method` 'winograd' serves float and complex layers (its transforms round), got "
            f"dtype {dtype}: pass 'gemm' or 'auto', which are exact for integers"
        )
        raise ValueError(msg)
    return cast("LayerMethod | Literal['auto']", method)


def _engine(
    layer: Layer,
    method: LayerMethod | Literal["auto"],
    batch: int,
    dtype: np.dtype,
    *,
    adjoint: bool,
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The bilinear ``(weights, batch) -> (N, outputs)`` of `layer` (or its adjoint) by `method`."""
    work = compute_dtype(dtype)
    chosen = (
        choose_layer_method(layer, batch, work, adjoint=adjoint) if method == "auto" else method
    )
    engine = LayerGemm(layer)

    def fits(how: GemmMethod) -> None:
        check_working_set(
            engine.working_bytes(batch, work.itemsize, how),
            f"a layer of {layer.input_shape} inputs on {batch} images",
            "pass fewer images per call",
        )

    def by_gemm(weights: np.ndarray, data: np.ndarray, how: GemmMethod) -> np.ndarray:
        if how == "winograd" and not (np.isfinite(weights).all() and np.isfinite(data).all()):
            # an inf spreads over Winograd's tile as NaN: the direct sum puts it where torch does
            how = "gemm"
        run = engine.adjoint if adjoint else engine.forward
        out = run(weights, data, how)
        return out.reshape(out.shape[0], math.prod(out.shape[1:]))

    if chosen != "matrix":
        fits(chosen)
        return partial(by_gemm, how=chosen)
    check_sparse_fits(layer, work)

    def by_matrix(weights: np.ndarray, data: np.ndarray) -> np.ndarray:
        if work.kind in "fc" and not (np.isfinite(weights).all() and np.isfinite(data).all()):
            # the matrix holds no entry for the zero padding, nor for zero taps: NaN and
            # inf spread as torch spreads them only in a sum over every tap and position
            fits("gemm")
            return by_gemm(weights, data, "gemm")
        m = cast("sp.csr_array", layer_matrix(weights, layer, weights.dtype, "csr"))
        flat = data.reshape(data.shape[0], math.prod(data.shape[1:]))
        return np.asarray(np.asarray((m.T if adjoint else m) @ flat.T).T)

    return by_matrix


def _apply_layer(
    product: Callable[[np.ndarray, np.ndarray], np.ndarray],
    w: np.ndarray,
    x: np.ndarray,
    bias: np.ndarray | None,
    dtype: np.dtype,
    out_shape: tuple[int, ...],
    *,
    reads: int,
) -> np.ndarray:
    """``product(w, x)`` per image plus the bias, in `dtype`; integers exact or refused.

    `product` is bilinear, ``(weights, (N, ...)) -> (N, outputs)``; `reads`
    bounds how often one tap reads one input (1 for a convolution).
    """
    work = compute_dtype(dtype)
    data = x.astype(work, copy=False)
    k = w.astype(work, copy=False)
    spatial = math.prod(out_shape[1:])
    size = (data.shape[0], math.prod(out_shape))

    def offset(b: np.ndarray, one: np.ndarray) -> np.ndarray:
        return np.repeat(b * one, spatial)[None, :]

    b = None if bias is None else bias.astype(work, copy=False)
    if work.kind not in "iu":
        finite = bool(np.isfinite(k).all() and np.isfinite(data).all())
        # NaN and inf in the data spread as in torch, and a sum beyond the dtype's range is
        # inf, without numpy's warnings
        quiet = (
            np.errstate(over="ignore") if finite else np.errstate(over="ignore", invalid="ignore")
        )
        with quiet:
            out = product(k, data)
            if b is not None:
                out = out + offset(b, np.ones((), dtype=work))
            return out.astype(dtype, copy=False).reshape(data.shape[0], *out_shape)
    bound = abs_max(data) * abs_sum(k) * reads + (0 if b is None else abs_max(b))
    terms: list[tuple[Bilinear, np.ndarray, np.ndarray]] = [(product, k, data)]
    if b is not None:
        terms.append((offset, b, np.ones((), dtype=work)))
    # the shared ladder, with float64 BLAS below 2**53 (a layer's GEMMs)
    out = exact_products(terms, bound, dtype, size, k.size * reads, blas=True)
    return out.reshape(data.shape[0], *out_shape)


def _like_input(out: np.ndarray, input: object) -> Any:  # noqa: A002
    """`out` as a torch tensor sharing its memory when `input` is one, else as it is.

    torch is already imported when a tensor was passed: it is taken from
    ``sys.modules``, never imported here.
    """
    if not is_tensor(input):
        return out
    return sys.modules["torch"].from_numpy(out)


def _dtype(*arrays: np.ndarray | None) -> np.dtype:
    dtype = np.result_type(*(a.dtype for a in arrays if a is not None))
    if dtype == np.bool_:
        msg = "a convolution layer of boolean arrays is not defined; convert them to numbers"
        raise DTypeError(msg)
    return dtype


@keyword_only_hint
def conv2d_matrix(
    weight: npt.ArrayLike,
    input_shape: tuple[int, int, int] | list[int],
    stride: int | tuple[int, int] = 1,
    padding: Padding = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    *,
    padding_mode: PaddingMode = "zeros",
    format: Format = "csr",  # noqa: A002
) -> np.ndarray | sp.sparray:
    """Return the matrix ``M`` of a conv layer: ``M @ x.ravel() + bias == conv2d(x)``.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in / groups, kH, kW)
        The layer's weights, as in ``torch.nn.functional.conv2d``.
    input_shape : tuple of int
        ``(C_in, H, W)`` of one input.
    stride, padding, dilation, groups
        As in ``torch.nn.functional.conv2d``: ints or pairs; `padding` may also
        be 'same' (stride 1 only) or 'valid'.
    padding_mode : {'zeros', 'circular', 'reflect', 'replicate'}
        As in ``torch.nn.Conv2d``.
    format : {'csr', 'csc', 'coo', 'dense'}
        The matrix's format.

    Returns
    -------
    ndarray or sparse array, shape (C_out * H_out * W_out, C_in * H * W)
        Rows and columns in C order of ``(C, H, W)``; dtype the weight's.

    Raises
    ------
    ValueError
        In torch's sense: stride or dilation below 1, negative padding,
        channels not divisible by groups, an empty output, 'same' with a
        stride above 1, a weight of the wrong shape; and the budget errors of
        :func:`convmat.conv_matrix`.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat import nn
    >>> w = np.ones((2, 1, 3, 3))
    >>> M = nn.conv2d_matrix(w, (1, 5, 5), stride=2, padding=1)
    >>> M.shape
    (18, 25)
    >>> x = np.arange(25.0).reshape(1, 5, 5)
    >>> np.allclose(M @ x.ravel(), nn.conv2d(x, w, stride=2, padding=1).ravel())
    True
    """
    w = check_array(weight, "weight")
    shape = check_shape(input_shape, "input_shape", 3, ONE_IMAGE)
    fmt = check_format(format)
    layer = Layer(
        w, cast("tuple[int, int, int]", shape), stride, padding, dilation, groups, padding_mode
    )
    dtype = np.dtype(np.uint8) if w.dtype == np.bool_ else w.dtype
    return layer_matrix(w, layer, dtype, fmt)


@keyword_only_hint
def conv2d(
    input: npt.ArrayLike,  # noqa: A002
    weight: npt.ArrayLike,
    bias: npt.ArrayLike | None = None,
    stride: int | tuple[int, int] = 1,
    padding: Padding = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    *,
    padding_mode: PaddingMode = "zeros",
    method: LayerMethod | Literal["auto"] = "auto",
) -> np.ndarray | Any:  # a torch.Tensor for a tensor `input`
    """A 2-D convolution layer (cross-correlation), as ``torch.nn.functional.conv2d``.

    The product of the layer's matrix (:func:`conv2d_matrix`, whose
    arguments these are) with all images and channels at once. `padding_mode`
    is that of ``torch.nn.Conv2d``.

    Parameters
    ----------
    method : {'auto', 'gemm', 'shift', 'winograd', 'matrix'}
        How the product is computed; every method gives the same result to
        rounding (integers exactly). 'gemm': the receptive fields as columns
        times each group's ``(C_out / groups, C_in / groups * kH * kW)``
        weights, blocked GEMMs (im2col). 'shift': tap by tap, for depthwise
        layers (one input channel per group) only. 'winograd': Winograd's
        F(2x2, 3x3), 2.25x fewer multiplications, for 3x3 float layers of
        stride 1 without dilation (its rounding error is measured beside
        torch's in the layers guide). 'matrix': the sparse layer matrix,
        built for the call. 'auto' picks the cheapest by a cost model
        counted from the shapes (see ``convmat.nn._cost``).

    Returns
    -------
    ndarray or torch.Tensor, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = (H + pad_top + pad_bottom - dilation * (kH - 1) - 1) // stride + 1``.
        A CPU tensor when `input` is a torch tensor (sharing the result's
        memory, no copy), else an ndarray; the dtype is numpy's promotion of
        the inputs', `input`'s own when all share it.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat import nn
    >>> x = np.arange(32.0).reshape(2, 1, 4, 4)
    >>> w = np.array([[[[1.0, -1.0]]]])
    >>> nn.conv2d(x, w, bias=[0.5], padding=(0, 1), padding_mode="circular")[0, 0]
    array([[ 3.5, -0.5, -0.5, -0.5,  3.5],
           [ 3.5, -0.5, -0.5, -0.5,  3.5],
           [ 3.5, -0.5, -0.5, -0.5,  3.5],
           [ 3.5, -0.5, -0.5, -0.5,  3.5]])
    """
    x, batched = _as_batch(check_array(input, "input"), "input")
    w = check_array(weight, "weight")
    b = _bias(bias, w.shape[0] if w.ndim == 4 else 0)
    layer = Layer(
        w,
        cast("tuple[int, int, int]", x.shape[1:]),
        stride,
        padding,
        dilation,
        groups,
        padding_mode,
    )
    dtype = _dtype(x, w, b)
    how = _check_method(method, layer, dtype)
    product = _engine(layer, how, x.shape[0], dtype, adjoint=False)
    out = _apply_layer(product, w, x, b, dtype, layer.output_shape, reads=1)
    return _like_input(np.asarray(out if batched else out[0]), input)


@keyword_only_hint
def conv_transpose2d(
    input: npt.ArrayLike,  # noqa: A002
    weight: npt.ArrayLike,
    bias: npt.ArrayLike | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
    *,
    padding_mode: PaddingMode = "zeros",
    method: LayerMethod | Literal["auto"] = "auto",
) -> np.ndarray | Any:  # a torch.Tensor for a tensor `input`
    """A transposed convolution layer, as ``torch.nn.functional.conv_transpose2d``.

    It is exactly ``M.T`` (plus the bias), ``M`` being the matrix of the
    convolution with the same `weight`, `stride`, `padding`, `dilation`,
    `groups` and `padding_mode` whose output has `input`'s shape: the
    gradient of :func:`conv2d` with respect to its input. Unlike torch, every
    padding mode is accepted.

    Parameters
    ----------
    input : array_like, shape (N, C_in, H, W) or (C_in, H, W)
    weight : array_like, shape (C_in, C_out / groups, kH, kW)
    bias : array_like, shape (C_out,), optional
    stride, padding, output_padding, groups, dilation
        As in torch; `output_padding` must be smaller than `stride` or
        `dilation`.
    padding_mode : {'zeros', 'circular', 'reflect', 'replicate'}
    method : {'auto', 'gemm', 'shift', 'winograd', 'matrix'}
        As in :func:`conv2d`: the transposed weights times the input, added
        back onto the receptive fields (col2im), tap by tap, by Winograd's
        F(2x2, 3x3) (a stride-1 transpose is itself a 3x3 convolution), or
        the sparse matrix's transpose.

    Returns
    -------
    ndarray or torch.Tensor, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``.
        A tensor when `input` is one, as in :func:`conv2d`.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat import nn
    >>> y = np.ones((1, 2, 2))
    >>> w = np.ones((1, 1, 3, 3))
    >>> nn.conv_transpose2d(y, w, stride=2)[0]
    array([[1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.],
           [2., 2., 4., 2., 2.],
           [1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.]])
    """
    y, batched = _as_batch(check_array(input, "input"), "input")
    w = check_array(weight, "weight")
    if w.ndim != 4:
        msg = f"`weight` must be 4-D (in_channels, out_channels / groups, kH, kW), got shape {w.shape}"
        raise ValueError(msg)
    check_groups(groups, w.shape)
    if w.shape[0] != y.shape[1]:
        msg = (
            f"Given transposed weight of size {list(w.shape)}, expected input with {w.shape[0]} "
            f"channels, but got {y.shape[1]} channels instead"
        )
        raise ValueError(msg)
    s = pair(stride, "stride", 1)
    d = pair(dilation, "dilation", 1)
    p = pair(padding, "padding", 0)
    op = pair(output_padding, "output_padding", 0)
    for axis in range(2):
        if op[axis] >= s[axis] and op[axis] >= d[axis]:
            msg = (
                "output padding must be smaller than either stride or dilation, but got "
                f"output_padding={op}, stride={s}, dilation={d}"
            )
            raise ValueError(msg)
    c_out = w.shape[1] * int(groups)
    size = tuple(
        (y.shape[2 + a] - 1) * s[a] - 2 * p[a] + d[a] * (w.shape[2 + a] - 1) + op[a] + 1
        for a in range(2)
    )
    if min(size) < 1:
        msg = (
            f"Calculated output size: ({c_out}x{size[0]}x{size[1]}). Output size is too small "
            f"for input of spatial size {y.shape[2:]}"
        )
        raise ValueError(msg)
    b = _bias(bias, c_out)
    layer = Layer(w, (c_out, size[0], size[1]), s, p, d, groups, padding_mode)
    dtype = _dtype(y, w, b)
    how = _check_method(method, layer, dtype)
    if layer.output_shape[1:] != y.shape[2:]:
        # output_padding >= stride (allowed when below dilation): the forward
        # convolution has extra output positions, which receive no gradient
        full = np.zeros((y.shape[0], *layer.output_shape), dtype=y.dtype)
        full[:, :, : y.shape[2], : y.shape[3]] = y
        y = full
    product = _engine(layer, how, y.shape[0], dtype, adjoint=True)
    reads = math.prod(mp.reads for mp in layer.plan.maps)
    out = _apply_layer(product, w, y, b, dtype, (c_out, *size), reads=reads)
    return _like_input(np.asarray(out if batched else out[0]), input)
