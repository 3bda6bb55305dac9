"""A conv layer and its adjoint as dense matrix products (im2col / GEMM): BLAS speed.

The other classic way to write a convolution layer as one matrix product
(Chellapilla, Puri and Simard 2006): lay each output position's receptive
field out as a column and multiply the ``(C_out / groups, C_in / groups * kH *
kW)`` weight matrix of each group by those columns, one GEMM per group and
block of images.

The columns are built without gathers. The input is padded (numpy's pad for
the four padding modes) and split into its ``stride`` phases, so that in
each phase a kernel tap reads a contiguous run of the flattened image: the
output is computed on a *wide* grid of ``W_q = ceil(W_padded / stride)``
columns per row, of which the first ``W_out`` are kept (the rest, a few
columns per row, is the price of reading runs instead of gathering). Each
tap's run is one long copy into the column block (``gemm``), or, for
depthwise layers (one input channel per group), a multiply-add with that
tap's weights (``shift``: no columns and no GEMMs of one-row matrices), over
spans of whole ``(image, group)`` planes of about ``SHIFT_BYTES``, dealt out
to the cores. GEMM blocks hold at most ``COLUMN_BYTES`` of columns: blocked
over the batch and, for large images, over output rows, so memory stays the
padded input and the output plus one block.

The adjoint runs the same steps backwards: the transposed weights times the
output (zero on the wide grid's extra columns), added back tap by tap onto
the phases (col2im), the phases interleaved into the padded grid and the
padding folded onto the positions it copied. With stride 1 the adjoint is
itself a convolution (the output, zero-padded by the kernel's extent, with
the flipped weights, input and output channels swapped, onto the padded
grid; with zero padding, onto the input's grid alone) and runs as one,
without the adds of col2im: a depthwise one by ``shift``. A pointwise layer (1x1,
stride 1, no padding) is one channel matmul each way, with no copies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Literal

import numpy as np

from .._engines.pool import THREADS, run_parallel
from ._layer import Layer, image_blocks, spans, write_phases
from ._winograd import LayerWinograd, winograd_serves

__all__: list[str] = []

GemmMethod = Literal["gemm", "shift", "winograd"]
COLUMN_BYTES = 2**22  # one block of columns at most (measured: 1 to 8 MiB alike, more is slower)
SHIFT_BYTES = 2**20  # the shift method's planes at once (measured: 1 MiB of 64 KiB to 4 MiB)


class LayerGemm:
    """``A`` and ``A^T`` of a layer on batches ``(N, C, H, W)``, as GEMMs or tap by tap."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        _, h, w = layer.input_shape
        _, self.h_out, self.w_out = layer.output_shape
        self.padded, self.inside, self.pad_mode = layer.padded, layer.inside, layer.pad_mode
        self.sources = layer.pad_sources
        self.groups = layer.groups
        self.per_group = layer.c_out // layer.groups
        kh, kw = layer.kernel
        (sh, sw), (dh, dw) = layer.stride, layer.dilation
        self.taps = kh * kw
        self.depth = layer.c_group * self.taps  # K: the rows of a group's columns
        self.phases = sh * sw
        self.wq = -(-self.padded[1] // sw)  # the wide grid's row length
        # rows of a phase: the deepest tap's offset plus the output rows, plus one for the
        # runs of taps right of the first that end past the last row
        self.rows = (dh * (kh - 1)) // sh + self.h_out + 1
        self.starts = [
            (((a * dh) % sh) * sw + (b * dw) % sw, ((a * dh) // sh) * self.wq + (b * dw) // sw)
            for a in range(kh)
            for b in range(kw)
        ]  # per tap: its phase and the start of its run

        self.pointwise = (kh, kw) == (1, 1) and layer.stride == (1, 1) and self.padded == (h, w)

    @cached_property
    def transposed_inside(self) -> bool:
        """Whether :attr:`transposed` gives the input's grid itself (no padding to fold).

        With zero padding of at most the kernel's extent on each side, the
        adjoint is the convolution of the output padded by the extent less the
        layer's padding: it lands on the input's positions alone, sparing the
        padded border's work (which zero padding would discard).
        """
        layer = self.layer
        (pt, pb), (pl, pr) = layer.pads
        reach = (
            layer.dilation[0] * (layer.kernel[0] - 1),
            layer.dilation[1] * (layer.kernel[1] - 1),
        )
        return layer.mode == "zeros" and pt == pb and pl == pr and pt <= reach[0] and pl <= reach[1]

    @cached_property
    def transposed(self) -> LayerGemm:
        """The stride-1 adjoint as a convolution: output channels in, the padded grid out.

        When :attr:`transposed_inside`, the input's grid instead of the padded one.
        """
        layer = self.layer
        (kh, kw), (dh, dw) = layer.kernel, layer.dilation
        shape = (layer.c_in, self.per_group, kh, kw)  # the flipped, transposed weights
        reach = (dh * (kh - 1), dw * (kw - 1))
        if self.transposed_inside:
            reach = (reach[0] - layer.pads[0][0], reach[1] - layer.pads[1][0])
        inner = Layer(
            np.broadcast_to(np.zeros((), np.float64), shape),
            layer.output_shape,
            1,
            reach,
            layer.dilation,
            self.groups,
            "zeros",
        )
        return LayerGemm(inner)

    # -- geometry --------------------------------------------------------------------------

    @property
    def wide(self) -> int:
        """Positions of one channel on the wide output grid."""
        return self.h_out * self.wq

    def column_bytes(self, itemsize: int) -> int:
        """Bytes of the columns of one image (all groups)."""
        return self.groups * self.depth * self.wide * itemsize

    def blocks(self, batch: int, per_image: int, limit: int) -> Iterator[tuple[int, int, int, int]]:
        """(n0, n1, r0, r1): images and output rows whose block takes at most `limit` bytes."""
        return image_blocks(batch, self.h_out, per_image, limit)

    def working_bytes(self, batch: int, itemsize: int, method: GemmMethod) -> int:
        """Bytes a call allocates, either way: phases, padded grids, output, one block.

        A bound for the forward product and the adjoint alike: the input's
        phases and two padded grids (padding, or the adjoint's grid and its
        fold), the output, and the output padded by the kernel's extent (the
        stride-1 adjoint's own phases). Winograd's: its own bound each way,
        plus the padded grid the adjoint folds.
        """
        layer = self.layer
        if method == "winograd":
            inner = self.transposed.layer
            return max(
                LayerWinograd(layer).working_bytes(batch, itemsize),
                LayerWinograd(inner).working_bytes(batch, itemsize)
                + batch * layer.c_in * math.prod(self.padded) * itemsize,
            )
        (kh, kw), (dh, dw) = layer.kernel, layer.dilation
        phases = batch * layer.c_in * self.phases * self.rows * self.wq
        padded = batch * layer.c_in * math.prod(self.padded)
        out = batch * layer.c_out * self.h_out * self.w_out
        reach_h, reach_w = dh * (kh - 1), dw * (kw - 1)
        out_grid = batch * layer.c_out * (self.h_out + 2 * reach_h + 1) * (self.w_out + 2 * reach_w)
        block = COLUMN_BYTES if method == "gemm" else 2 * SHIFT_BYTES
        return (phases + 2 * padded + out + out_grid) * itemsize + block

    # -- the phases of the padded input ----------------------------------------------------

    def _phases(self, x: np.ndarray) -> np.ndarray:
        """``(phases, N, C, rows * W_q)``: the padded batch split by stride phase, flattened."""
        layer = self.layer
        sh, sw = layer.stride
        batch = x.shape[0]
        out = np.zeros((sh, sw, batch, layer.c_in, self.rows, self.wq), dtype=x.dtype)
        write_phases(x, layer.pads, layer.stride, self.pad_mode, out)
        return out.reshape(self.phases, batch, layer.c_in, self.rows * self.wq)

    def _unphase(self, flat: np.ndarray) -> np.ndarray:
        """The adjoint of :meth:`_phases`: the phases interleaved, the padding folded back."""
        layer = self.layer
        sh, sw = layer.stride
        batch = flat.shape[1]
        grid = flat.reshape(self.phases, batch, layer.c_in, self.rows, self.wq)
        if self.phases == 1:
            xp = grid[0, :, :, : self.padded[0], : self.padded[1]]
        else:
            xp = np.empty((batch, layer.c_in, *self.padded), dtype=flat.dtype)
            for ph in range(sh):
                for pw in range(sw):
                    target = xp[:, :, ph::sh, pw::sw]
                    target[...] = grid[ph * sw + pw, :, :, : target.shape[2], : target.shape[3]]
        return self._unpad(xp)

    def _unpad(self, xp: np.ndarray) -> np.ndarray:
        """The adjoint of the padding: each padded position added onto the input it copies."""
        if self.sources is None:
            return np.ascontiguousarray(xp[:, :, self.inside[0], self.inside[1]])
        out = xp
        for axis, (inside, src) in enumerate(zip(self.inside, self.sources, strict=True), 2):
            front = np.moveaxis(out, axis, 0)  # a view, the axis being folded first
            folded = front[inside].copy()
            outside = [*range(inside.start), *range(inside.stop, front.shape[0])]
            for p in outside:  # a few rows or columns: the padding's width
                folded[int(src[p])] += front[p]
            out = np.moveaxis(folded, 0, axis)
        return np.ascontiguousarray(out)

    def _run(self, flat: np.ndarray, tap: int, n0: int, n1: int, r0: int, r1: int) -> np.ndarray:
        """Tap `tap`'s run for output rows ``r0:r1`` of images ``n0:n1``: ``(n, C, rows * W_q)``."""
        phase, start = self.starts[tap]
        lo = start + r0 * self.wq
        return flat[phase, n0:n1, :, lo : lo + (r1 - r0) * self.wq]

    # -- forward ---------------------------------------------------------------------------

    def forward(self, weight: np.ndarray, x: np.ndarray, method: GemmMethod) -> np.ndarray:
        """``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` in the arrays' common dtype."""
        layer = self.layer
        g, cop, cg = self.groups, self.per_group, layer.c_group
        dtype = np.result_type(weight, x)
        batch = x.shape[0]
        w = weight.astype(dtype, copy=False)
        if method == "winograd":
            return LayerWinograd(layer).forward(w, x.astype(dtype, copy=False))
        if self.pointwise and method == "gemm":  # 1x1, stride 1, no padding: a channel matmul
            cols = x.astype(dtype, copy=False).reshape(batch, g, cg, self.h_out * self.w_out)
            out = np.matmul(w.reshape(g, cop, cg), cols)
            return np.asarray(out).reshape(batch, layer.c_out, self.h_out, self.w_out)
        out = np.empty((batch, g, cop, self.h_out, self.w_out), dtype=dtype)
        if batch == 0:
            return out.reshape(0, layer.c_out, self.h_out, self.w_out)
        flat = self._phases(x.astype(dtype, copy=False))
        if method == "shift":
            self._shift_forward(w, flat, out)
        else:
            mats = w.reshape(g, cop, self.depth)
            per_image = self.column_bytes(dtype.itemsize)
            for n0, n1, r0, r1 in self.blocks(batch, per_image, COLUMN_BYTES):
                length = (r1 - r0) * self.wq
                cols = np.empty((n1 - n0, g, cg, self.taps, length), dtype=dtype)
                for t in range(self.taps):
                    cols[:, :, :, t] = self._run(flat, t, n0, n1, r0, r1).reshape(
                        n1 - n0, g, cg, length
                    )
                acc = np.matmul(mats, cols.reshape(n1 - n0, g, self.depth, length))
                self._keep(out, acc, n0, n1, r0, r1)
        return out.reshape(batch, layer.c_out, self.h_out, self.w_out)

    def plane_spans(self, batch: int, itemsize: int) -> list[tuple[int, int]]:
        """Spans of the ``(image, group)`` planes the shift method takes at once: cache-sized."""
        per_plane = self.per_group * self.wide * itemsize
        return list(spans(batch * self.groups, max(1, SHIFT_BYTES // per_plane)))

    def _planes(self, w: np.ndarray, flat: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Each plane's weights ``(N * G, C_out / G, taps)`` (the groups' repeated per image)
        and the phases by plane ``(phases, N * G, rows * W_q)``."""
        per_image = w.reshape(1, self.groups, self.per_group, self.taps)
        shape = (batch, self.groups, self.per_group, self.taps)
        taps = np.broadcast_to(per_image, shape).reshape(-1, self.per_group, self.taps)
        return taps, flat.reshape(self.phases, taps.shape[0], -1)

    def _shift_forward(self, w: np.ndarray, flat: np.ndarray, out: np.ndarray) -> None:
        """Depthwise: per tap, each plane's run times its weights, added up plane by plane."""
        batch, cop, length = out.shape[0], self.per_group, self.wide
        taps, planes = self._planes(w, flat, batch)
        dest = out.reshape(taps.shape[0], cop, self.h_out, self.w_out)

        def block(p0: int, p1: int) -> None:
            acc = np.empty((p1 - p0, cop, length), dtype=out.dtype)
            tmp = np.empty_like(acc)
            for t, (phase, start) in enumerate(self.starts):
                run = planes[phase, p0:p1, None, start : start + length]
                if t == 0:
                    np.multiply(run, taps[p0:p1, :, t, None], out=acc)
                else:
                    np.multiply(run, taps[p0:p1, :, t, None], out=tmp)
                    acc += tmp
            dest[p0:p1] = acc.reshape(p1 - p0, cop, self.h_out, self.wq)[..., : self.w_out]

        self._parallel(block, self.plane_spans(batch, out.dtype.itemsize), batch)

    def _shift_adjoint(self, w: np.ndarray, y: np.ndarray, flat: np.ndarray) -> None:
        """Depthwise: per tap, each plane's output times its weights, added back onto its run."""
        batch, cop, length = y.shape[0], self.per_group, self.wide
        taps, planes = self._planes(w, flat, batch)
        source = y.reshape(taps.shape[0], cop, self.h_out, self.w_out)

        def block(p0: int, p1: int) -> None:
            wide = np.zeros((p1 - p0, cop, self.h_out, self.wq), dtype=flat.dtype)
            wide[..., : self.w_out] = source[p0:p1]
            wide = wide.reshape(p1 - p0, cop, length)
            tmp = np.empty((p1 - p0, length), dtype=flat.dtype)
            for t, (phase, start) in enumerate(self.starts):
                if cop == 1:
                    np.multiply(wide[:, 0], taps[p0:p1, 0, t, None], out=tmp)
                else:
                    np.einsum("pjl,pj->pl", wide, taps[p0:p1, :, t], out=tmp)
                planes[phase, p0:p1, start : start + length] += tmp

        self._parallel(block, self.plane_spans(batch, flat.dtype.itemsize), batch)

    def _keep(self, out: np.ndarray, acc: np.ndarray, n0: int, n1: int, r0: int, r1: int) -> None:
        """The wide block's first ``W_out`` columns of each row, written into `out`."""
        shape = (n1 - n0, self.groups, self.per_group, r1 - r0, self.wq)
        out[n0:n1, :, :, r0:r1, :] = acc.reshape(shape)[..., : self.w_out]

    # -- adjoint ---------------------------------------------------------------------------

    def adjoint(self, weight: np.ndarray, y: np.ndarray, method: GemmMethod) -> np.ndarray:
        """``(N, C_out, H_out, W_out) -> (N, C_in, H, W)``: the transpose of :meth:`forward`."""
        layer = self.layer
        g, cop, cg = self.groups, self.per_group, layer.c_group
        dtype = np.result_type(weight, y)
        batch = y.shape[0]
        w = weight.astype(dtype, copy=False)
        if self.pointwise and method == "gemm":
            rows = y.astype(dtype, copy=False).reshape(batch, g, cop, self.h_out * self.w_out)
            out = np.matmul(w.reshape(g, cop, cg).swapaxes(1, 2), rows)
            return np.asarray(out).reshape(batch, layer.c_in, self.h_out, self.w_out)
        if layer.stride == (1, 1) and batch and (method != "shift" or cop == 1):
            # with stride 1 the adjoint is itself a convolution, of the output padded by the
            # kernel's extent with the flipped, transposed weights, onto the padded grid (a
            # depthwise one when each group has one output channel)
            flipped = w.reshape(g, cop, cg, *layer.kernel)[..., ::-1, ::-1].swapaxes(1, 2)
            grid = self.transposed.forward(
                flipped.reshape(layer.c_in, cop, *layer.kernel), y, method
            )
            return grid if self.transposed_inside else self._unpad(grid)
        flat = np.zeros((self.phases, batch, layer.c_in, self.rows * self.wq), dtype=dtype)
        if batch == 0:
            return self._unphase(flat)
        ys = y.astype(dtype, copy=False).reshape(batch, g, cop, self.h_out, self.w_out)
        if method == "shift":
            self._shift_adjoint(w, ys, flat)
            return self._unphase(flat)

        def wide(n0: int, n1: int, r0: int, r1: int) -> np.ndarray:
            """The output block on the wide grid, zero on its extra columns."""
            block = np.zeros((n1 - n0, g, cop, r1 - r0, self.wq), dtype=dtype)
            block[..., : self.w_out] = ys[n0:n1, :, :, r0:r1]
            return block.reshape(n1 - n0, g, cop, (r1 - r0) * self.wq)

        mats = np.ascontiguousarray(w.reshape(g, cop, self.depth).swapaxes(1, 2))
        per_image = self.column_bytes(dtype.itemsize)
        for n0, n1, r0, r1 in self.blocks(batch, per_image, COLUMN_BYTES):
            cols = np.matmul(mats, wide(n0, n1, r0, r1))
            cols = cols.reshape(n1 - n0, layer.c_in, self.taps, (r1 - r0) * self.wq)
            for t in range(self.taps):
                run = self._run(flat, t, n0, n1, r0, r1)
                run += cols[:, :, t]
        return self._unphase(flat)

    def _parallel(
        self, block: Callable[[int, int], None], spans: list[tuple[int, int]], batch: int
    ) -> None:
        """`block` over the shift method's plane spans, dealt out to the cores in turn.

        Each plane is one image's group: no two spans read or write the same memory.
        """
        tasks = max(1, min(THREADS, len(spans)))

        def runner(mine: list[tuple[int, int]]) -> Callable[[], None]:
            def run() -> None:
                for span in mine:
                    block(*span)

            return run

        work = 2 * self.taps * batch * self.layer.c_out * self.wide
        run_parallel([runner(spans[i::tasks]) for i in range(tasks)], work)


def gemm_methods(layer: Layer) -> tuple[GemmMethod, ...]:
    """The dense formulations that serve `layer`.

    ``shift`` only for depthwise layers, ``winograd`` only for 3x3 layers of
    stride 1 without dilation (whose stride-1 adjoint is one too).
    """
    methods: tuple[GemmMethod, ...] = ("gemm", "shift") if layer.c_group == 1 else ("gemm",)
    return (*methods, "winograd") if winograd_serves(layer) else methods
