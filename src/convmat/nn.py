"""CNN layers as matrices: ``conv2d`` and ``conv_transpose2d`` equal to ``torch.nn.functional``.

A convolution layer (cross-correlation, stride, padding, dilation, groups,
padding modes) is one sparse matrix ``M`` of shape
``(C_out * H_out * W_out, C_in * H * W)``: :func:`conv2d_matrix` builds it
with the same per-axis index maps as the rest of convmat, and :func:`conv2d`
and :func:`conv_transpose2d` apply ``M`` and ``M.T`` to all images and
channels in one product. Arguments, layouts ((N, C, H, W) or unbatched
(C, H, W)), output shapes and results follow PyTorch; the transposed
convolution is exactly ``M.T`` for every padding mode, which goes beyond
PyTorch (it accepts only zero padding there).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from functools import lru_cache
from typing import Literal, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ._budget import check_dense_fits, check_sparse_fits
from ._build import (
    FOLDED,
    Plan,
    compute_dtype,
    folded_sums,
    padded_columns,
    padded_values,
    padding_mask,
)
from ._errors import DTypeError
from ._exact import SAFE, Bilinear, abs_max, abs_sum, exact_sum, fit, overflow
from ._index import AxisMap, PadMode
from ._validate import (
    Format,
    check_array,
    check_format,
    check_nonempty,
    check_positive_int,
    check_shape,
)

__all__ = ["conv2d", "conv2d_matrix", "conv_transpose2d"]

PaddingMode = Literal["zeros", "circular", "reflect", "replicate"]
Padding = int | tuple[int, int] | Literal["same", "valid"]
NN_ADVICE = 'pass format="csr", or raise the budget with convmat.set_max_dense_bytes()'
_NUMPY_PAD: dict[str, PadMode] = {"circular": "wrap", "reflect": "reflect", "replicate": "edge"}


def _pair(value: object, name: str, minimum: int) -> tuple[int, int]:
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) == 1:  # torch broadcasts a one-element tuple to both axes
        items = (items[0], items[0])
    if len(items) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in items
    ):
        msg = f"`{name}` must be an int or a pair of ints, got {value!r}"
        raise TypeError(msg)
    pair = (int(items[0]), int(items[1]))
    if min(pair) < minimum:
        what = "non-negative" if minimum == 0 else f"at least {minimum}"
        msg = f"`{name}` must be {what}, got {value!r}"
        raise ValueError(msg)
    return pair


def _groups(groups: object, weight_shape: tuple[int, ...]) -> int:
    """`groups` as an int that divides the weight's first dimension, as torch requires."""
    groups = check_positive_int(groups, "groups")
    if weight_shape[0] % groups:
        msg = (
            f"Given groups={groups}, expected `weight` to be divisible by {groups} at "
            f"dimension 0, but got weight of size {list(weight_shape)} instead"
        )
        raise ValueError(msg)
    return groups


def _padding(
    padding: object, kernel: tuple[int, int], dilation: tuple[int, int], stride: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """(before, after) padding per spatial axis, as torch computes it."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                msg = f"padding='same' is not supported for strided convolutions (stride={stride})"
                raise ValueError(msg)
            totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
            return (totals[0] // 2, totals[0] - totals[0] // 2), (
                totals[1] // 2,
                totals[1] - totals[1] // 2,
            )
        msg = f"`padding` must be an int, a pair of ints, 'same' or 'valid', got {padding!r}"
        raise ValueError(msg)
    ph, pw = _pair(padding, "padding", 0)
    return (ph, ph), (pw, pw)


@lru_cache(maxsize=256)
def _layer_axis(
    n: int, k: int, stride: int, dilation: int, pad: tuple[int, int], mode: str
) -> AxisMap:
    """Output ``o`` reads padded position ``o * stride + j * dilation`` through tap ``j``."""
    length = (n + pad[0] + pad[1] - dilation * (k - 1) - 1) // stride + 1
    return AxisMap(
        n=n,
        m=k,
        length=length,
        start=0,
        pad_mode="constant" if mode == "zeros" else _NUMPY_PAD[mode],
        pad_before=pad[0],
        span=(length - 1) * stride + (k - 1) * dilation + 1,
        out_step=stride,
        tap_step=dilation,
        offset=0,
    )


def _check_padding_mode(
    mode: object, pads: tuple[tuple[int, int], ...], spatial: tuple[int, ...]
) -> PaddingMode:
    if not isinstance(mode, str) or mode not in ("zeros", *_NUMPY_PAD):
        msg = (
            "`padding_mode` must be one of 'zeros', 'circular', 'reflect', 'replicate', "
            f"got {mode!r}"
        )
        raise ValueError(msg)
    for (before, after), n in zip(pads, spatial, strict=True):
        if mode == "reflect" and max(before, after) >= n:
            msg = (
                f"padding_mode 'reflect': padding ({before}, {after}) must be smaller than the "
                f"input dimension {n}"
            )
            raise ValueError(msg)
        if mode == "circular" and max(before, after) > n:
            msg = (
                f"padding_mode 'circular': padding ({before}, {after}) wraps around an input "
                f"dimension of {n} more than once"
            )
            raise ValueError(msg)
    return cast("PaddingMode", mode)


class _Layer:
    """Validated geometry of a conv layer and its spatial plan."""

    def __init__(
        self,
        weight: np.ndarray,
        input_shape: tuple[int, int, int],
        stride: object,
        padding: object,
        dilation: object,
        groups: object,
        padding_mode: object,
    ) -> None:
        if weight.ndim != 4:
            msg = (
                "`weight` must be 4-D (out_channels, in_channels / groups, kH, kW), "
                f"got shape {weight.shape}"
            )
            raise ValueError(msg)
        check_nonempty(weight.shape, "weight")
        self.groups = _groups(groups, weight.shape)
        c_in, h, w = input_shape
        c_out, c_group = weight.shape[:2]
        if c_group * self.groups != c_in:
            msg = (
                f"Given groups={self.groups}, weight of size {list(weight.shape)}, expected input "
                f"with {c_group * self.groups} channels, but got {c_in} channels instead"
            )
            raise ValueError(msg)
        self.stride = _pair(stride, "stride", 1)
        self.dilation = _pair(dilation, "dilation", 1)
        self.kernel = (int(weight.shape[2]), int(weight.shape[3]))
        self.pads = _padding(padding, self.kernel, self.dilation, self.stride)
        self.mode = _check_padding_mode(padding_mode, self.pads, (h, w))
        axes = tuple(zip((h, w), self.kernel, self.stride, self.dilation, self.pads, strict=True))
        out = tuple((n + p[0] + p[1] - d * (k - 1) - 1) // s + 1 for n, k, s, d, p in axes)
        mode = self.mode

        def build() -> tuple[AxisMap, ...]:
            return tuple(_layer_axis(n, k, s, d, p, mode) for n, k, s, d, p in axes)

        if min(out) < 1:
            msg = (
                f"Calculated output size: ({c_out}x{out[0]}x{out[1]}). Output size is too small "
                f"for input ({c_in}x{h}x{w}), kernel {self.kernel}, stride {self.stride}, "
                f"padding {self.pads}, dilation {self.dilation}"
            )
            raise ValueError(msg)
        self.plan = Plan(
            (h, w),
            self.kernel,
            (out[0], out[1]),
            build,
            ("nn", input_shape, weight.shape, self.stride, self.pads),
        )
        self.c_in, self.c_out, self.c_group = int(c_in), int(c_out), int(c_group)
        self.input_shape = input_shape
        self.output_shape = (c_out, out[0], out[1])

    @property
    def shape(self) -> tuple[int, int]:
        return math.prod(self.output_shape), math.prod(self.input_shape)

    @property
    def nnz_bound(self) -> int:
        return self.c_out * self.c_group * self.plan.nnz_bound

    @property
    def map_bytes(self) -> int:
        return self.plan.map_bytes

    def index_dtype(self) -> type[np.signedinteger]:
        return np.int32 if max(self.nnz_bound, *self.shape) < 2**31 else np.int64

    def csr(self, weight: np.ndarray) -> sp.csr_array:
        """The layer's matrix; rows (c_out, oh, ow), columns (c_in, h, w), C order."""
        idx = self.index_dtype()
        plan = self.plan
        taps = math.prod(mp.m for mp in plan.maps if mp.folded)
        values = folded_sums(lambda kk: padded_values(kk, plan), weight, taps)
        # values: (c_out, c_group, Lh, Lw, wh, ww)
        values = values.transpose(0, 2, 3, 1, 4, 5)  # rows first, then columns in order
        spatial = padded_columns(plan, idx)  # broadcasts to (Lh, Lw, wh, ww)
        per_group = self.c_out // self.groups
        first = (np.arange(self.c_out) // per_group) * self.c_group  # first input channel
        channel = (first[:, None] + np.arange(self.c_group)[None, :]).astype(idx)
        hw = self.input_shape[1] * self.input_shape[2]
        columns = (channel * hw)[:, None, None, :, None, None] + spatial[None, :, :, None, :, :]
        full = values.shape
        mask = padding_mask(plan)
        if mask is None:
            data = np.ascontiguousarray(values).reshape(-1)
            indices = np.broadcast_to(columns, full).reshape(-1)
        else:
            wide = np.broadcast_to(mask[None, :, :, None, :, :], full)
            data = values[wide]
            indices = np.broadcast_to(columns, full)[wide]
        counts = np.multiply.outer(plan.maps[0].counts, plan.maps[1].counts).reshape(-1)
        row_counts = np.tile(counts * self.c_group, self.c_out)
        indptr = np.zeros(row_counts.size + 1, dtype=idx)
        np.cumsum(row_counts, out=indptr[1:])
        out = sp.csr_array((data, indices.astype(idx, copy=False), indptr), shape=self.shape)
        out.has_sorted_indices = True
        out.has_canonical_format = True
        return out


def _matrix(
    weight: np.ndarray, layer: _Layer, dtype: np.dtype, fmt: Format
) -> np.ndarray | sp.sparray:
    work = compute_dtype(dtype)
    if fmt == "dense":
        check_dense_fits(layer, dtype, None, NN_ADVICE)
    check_sparse_fits(layer, work)
    csr = layer.csr(weight.astype(work, copy=False))
    if dtype.kind in "iu":
        csr.data = fit(csr.data, dtype, FOLDED)
    if fmt == "dense":
        return csr.toarray().astype(dtype, copy=False)
    csr.data = csr.data.astype(dtype if dtype != np.float16 else np.float32, copy=False)
    return csr if fmt == "csr" else csr.asformat(fmt)


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


def _apply_layer(
    matrix_of: Callable[[np.ndarray], sp.csr_array],
    w: np.ndarray,
    x: np.ndarray,
    bias: np.ndarray | None,
    dtype: np.dtype,
    out_shape: tuple[int, ...],
    *,
    reads: int,
) -> np.ndarray:
    """``matrix_of(w) @ x`` per image plus the bias, in `dtype`; integers exact or refused.

    `reads` bounds how often one tap reads one input (1 for a convolution).
    """
    work = compute_dtype(dtype)
    flat = x.reshape(x.shape[0], math.prod(x.shape[1:])).astype(work, copy=False)
    k = w.astype(work, copy=False)
    spatial = math.prod(out_shape[1:])
    size = (flat.shape[0], math.prod(out_shape))

    def product(weights: np.ndarray, data: np.ndarray) -> np.ndarray:
        return np.asarray(np.asarray(matrix_of(weights) @ data.T).T)

    def offset(b: np.ndarray, one: np.ndarray) -> np.ndarray:
        return np.repeat(b * one, spatial)[None, :]

    b = None if bias is None else bias.astype(work, copy=False)
    if work.kind not in "iu":
        out = product(k, flat)
        if b is not None:
            out = out + offset(b, np.ones((), dtype=work))
        return out.astype(dtype, copy=False).reshape(x.shape[0], *out_shape)
    bound = abs_max(flat) * abs_sum(k) * reads + (0 if b is None else abs_max(b))
    if bound < SAFE:
        out = product(k, flat)
        if b is not None:
            out = out + offset(b, np.ones((), dtype=work))
    else:
        terms: list[tuple[Bilinear, np.ndarray, np.ndarray]] = [(product, k, flat)]
        if b is not None:
            terms.append((offset, b, np.ones((), dtype=work)))
        out, ok = exact_sum(terms, k.size * reads, size, signed=work.kind == "i")
        if not ok.all():
            overflow(dtype)
    return fit(out, dtype).reshape(x.shape[0], *out_shape)


def _dtype(*arrays: np.ndarray | None) -> np.dtype:
    dtype = np.result_type(*(a.dtype for a in arrays if a is not None))
    if dtype == np.bool_:
        msg = "a convolution layer of boolean arrays is not defined; convert them to numbers"
        raise DTypeError(msg)
    return dtype


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
    shape = check_shape(input_shape, "input_shape", 3)
    fmt = check_format(format)
    layer = _Layer(
        w, cast("tuple[int, int, int]", shape), stride, padding, dilation, groups, padding_mode
    )
    dtype = np.dtype(np.uint8) if w.dtype == np.bool_ else w.dtype
    return _matrix(w, layer, dtype, fmt)


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
) -> np.ndarray:
    """A 2-D convolution layer (cross-correlation), as ``torch.nn.functional.conv2d``.

    One sparse matrix product for all images and channels; see
    :func:`conv2d_matrix` for the arguments. `padding_mode` is that of
    ``torch.nn.Conv2d``.

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = (H + pad_top + pad_bottom - dilation * (kH - 1) - 1) // stride + 1``.

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
    layer = _Layer(
        w,
        cast("tuple[int, int, int]", x.shape[1:]),
        stride,
        padding,
        dilation,
        groups,
        padding_mode,
    )
    dtype = _dtype(x, w, b)

    def matrix_of(weights: np.ndarray) -> sp.csr_array:
        return cast("sp.csr_array", _matrix(weights, layer, weights.dtype, "csr"))

    out = _apply_layer(matrix_of, w, x, b, dtype, layer.output_shape, reads=1)
    return np.asarray(out if batched else out[0])


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
) -> np.ndarray:
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

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``.

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
    _groups(groups, w.shape)
    if w.shape[0] != y.shape[1]:
        msg = (
            f"Given transposed weight of size {list(w.shape)}, expected input with {w.shape[0]} "
            f"channels, but got {y.shape[1]} channels instead"
        )
        raise ValueError(msg)
    s = _pair(stride, "stride", 1)
    d = _pair(dilation, "dilation", 1)
    p = _pair(padding, "padding", 0)
    op = _pair(output_padding, "output_padding", 0)
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
    layer = _Layer(w, (c_out, size[0], size[1]), s, p, d, groups, padding_mode)
    dtype = _dtype(y, w, b)
    keep: np.ndarray | None = None
    if layer.output_shape[1:] != y.shape[2:]:
        # output_padding >= stride (allowed when below dilation): the forward
        # convolution has extra output positions, which receive no gradient
        mask = np.zeros(layer.output_shape, dtype=bool)
        mask[:, : y.shape[2], : y.shape[3]] = True
        keep = np.flatnonzero(mask.reshape(-1))

    def matrix_of(weights: np.ndarray) -> sp.csr_array:
        m = cast("sp.csr_array", _matrix(weights, layer, weights.dtype, "csr"))
        return (m if keep is None else m[keep]).T

    reads = math.prod(mp.reads for mp in layer.plan.maps)
    out = _apply_layer(matrix_of, w, y, b, dtype, (c_out, *size), reads=reads)
    return np.asarray(out if batched else out[0])
