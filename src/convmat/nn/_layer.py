"""A CNN layer's geometry and its sparse matrix: the bottom layer of ``convmat.nn``.

:class:`Layer` validates a layer's arguments as torch does (stride, padding,
dilation, groups, padding modes) and plans its two spatial axes with the same
lazy :class:`~convmat._core.index.AxisMap` as the rest of convmat; ``layer_matrix``
builds the layer's matrix under the memory budgets.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from functools import cached_property, lru_cache
from typing import Literal, cast

import numpy as np
import scipy.sparse as sp

from .._core.budget import check_dense_fits, check_sparse_fits
from .._core.csr import FOLDED, folded_sums, padded_columns, padded_values, padding_mask
from .._core.exact import fit
from .._core.index import AxisMap, PadMode
from .._core.plan import Plan, compute_dtype
from .._core.validate import Format, check_choice, check_nonempty, check_positive_int

__all__: list[str] = []

PaddingMode = Literal["zeros", "circular", "reflect", "replicate"]
Padding = int | tuple[int, int] | Literal["same", "valid"]
ONE_IMAGE = "C, H, W: channels, height and width of one image, without the batch axis"
NN_ADVICE = 'pass format="csr", or raise the budget with convmat.set_max_dense_bytes()'
_NUMPY_PAD: dict[str, PadMode] = {"circular": "wrap", "reflect": "reflect", "replicate": "edge"}


def pair(value: object, name: str, minimum: int) -> tuple[int, int]:
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


def check_groups(groups: object, weight_shape: tuple[int, ...]) -> int:
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
    ph, pw = pair(padding, "padding", 0)
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
    check_choice(mode, "padding_mode", ("zeros", *_NUMPY_PAD))
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


class Layer:
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
        self.groups = check_groups(groups, weight.shape)
        c_in, h, w = input_shape
        c_out, c_group = weight.shape[:2]
        if c_group * self.groups != c_in:
            msg = (
                f"Given groups={self.groups}, weight of size {list(weight.shape)}, expected input "
                f"with {c_group * self.groups} channels, but got {c_in} channels instead"
            )
            raise ValueError(msg)
        self.stride = pair(stride, "stride", 1)
        self.dilation = pair(dilation, "dilation", 1)
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
            tag=("nn", input_shape, weight.shape, self.stride, self.pads),
        )
        self.c_in, self.c_out, self.c_group = int(c_in), int(c_out), int(c_group)
        self.input_shape = input_shape
        self.output_shape = (c_out, out[0], out[1])
        (pt, pb), (pl, pr) = self.pads
        self.padded = (h + pt + pb, w + pl + pr)  # the padded input's (H, W)
        self.inside = (slice(pt, pt + h), slice(pl, pl + w))  # the input within it
        self.pad_mode: PadMode = "constant" if mode == "zeros" else _NUMPY_PAD[mode]

    @cached_property
    def pad_sources(self) -> tuple[np.ndarray, ...] | None:
        """Per axis, the input each padded position copies; None for zero padding."""
        if self.mode == "zeros":
            return None
        return tuple(
            np.pad(np.arange(n), pads, mode=self.pad_mode)
            for n, pads in zip(self.input_shape[1:], self.pads, strict=True)
        )

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


def spans(total: int, step: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive runs of `step` in ``range(total)``, the last one shorter."""
    for start in range(0, total, step):
        yield start, min(total, start + step)


def image_blocks(
    batch: int, rows: int, per_image: int, limit: int
) -> Iterator[tuple[int, int, int, int]]:
    """(n0, n1, r0, r1): blocks of whole images of `rows` rows taking at most `limit` bytes
    (`per_image` each), or, when one image takes more, blocks of its rows (at least one)."""
    if per_image <= limit:
        for n0, n1 in spans(batch, max(1, limit // max(per_image, 1))):
            yield n0, n1, 0, rows
        return
    step = max(1, limit * rows // per_image)
    for n in range(batch):
        for r0, r1 in spans(rows, step):
            yield n, n + 1, r0, r1


def write_phases(
    x: np.ndarray,
    pads: tuple[tuple[int, int], tuple[int, int]],
    stride: tuple[int, int],
    pad_mode: PadMode,
    out: np.ndarray,
) -> None:
    """Write the padded batch `x` into `out`, split by stride phase.

    ``out[ph, pw, n, c, r, s]`` receives the padded ``x[n, c, r * sh + ph, s * sw + pw]``
    wherever both exist; zero padding is what `out` already holds (nothing is
    padded), other modes go through numpy's pad. Positions past the padded
    input are left as they are.
    """
    sh, sw = stride
    (pt, pb), (pl, pr) = pads
    if pad_mode == "constant":
        source, top, left = x, pt, pl
    else:
        source = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), mode=pad_mode)
        top, left = 0, 0
    rows, cols = out.shape[-2:]
    for ph in range(sh):
        for pw in range(sw):
            # the first phase row (column) whose padded position lies inside the source
            r0, c0 = max(0, -(-(top - ph) // sh)), max(0, -(-(left - pw) // sw))
            part = source[:, :, r0 * sh + ph - top :: sh, c0 * sw + pw - left :: sw]
            part = part[:, :, : rows - r0, : cols - c0]
            out[ph, pw, :, :, r0 : r0 + part.shape[2], c0 : c0 + part.shape[3]] = part


def layer_matrix(
    weight: np.ndarray, layer: Layer, dtype: np.dtype, fmt: Format
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
