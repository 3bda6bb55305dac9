"""The geometry of a convolution cut into blocks: halos, edge extensions and chunk sizes.

Along one image axis of length ``n`` and a kernel of length ``m``, every mode
and boundary is a 'valid' convolution of the *window*: the input extended by
its boundary, ``before`` positions at the start and ``after`` at the end
(:class:`convmat._core.index.AxisMap`). Cut into blocks, the window is extended at
the true image edges only; each block then borrows ``left`` positions from the
block before it and ``right`` from the block after it, ``left + right = m - 1``
(exactly what a 'valid' convolution of the block reads), and its 'valid'
convolution is the block of the output. Nothing here depends on dask: the
chunk arithmetic and index maps are numpy and Python integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import axis_map
from .validate import Boundary, Mode

__all__: list[str] = []


@dataclass(frozen=True)
class AxisHalo:
    """One image axis of a blocked convolution.

    Attributes
    ----------
    n, m, length
        Input, kernel and output lengths.
    before, after
        Window positions before and after the input (its boundary extension).
    left, right
        Positions a block borrows from its neighbours: ``left + right = m - 1``.
    source
        ``(before + after,)`` the input index each extension position copies
        (the `before` ones first), ``-1`` in 'fill' padding.
    """

    n: int
    m: int
    length: int
    before: int
    after: int
    left: int
    right: int
    source: np.ndarray

    @property
    def span(self) -> int:
        """Length of the window: ``length + m - 1``."""
        return self.n + self.before + self.after


def axis_halo(n: int, m: int, mode: Mode, boundary: Boundary, *, corr: bool) -> AxisHalo:
    """The blocked geometry of one axis of ``conv2d`` (or ``correlate2d`` with `corr`).

    'same' borrows as much as it extends (``left = before``), so that its
    output blocks are the input's; 'full' and 'valid' centre each block's
    outputs on its inputs.
    """
    mp = axis_map(n, m, mode, boundary, corr)
    before = mp.pad_before
    after = mp.span - before - n
    window = mp.window
    source = np.concatenate([window[:before], window[before + n :]])
    left = before if mode == "same" else (m - 1) // 2
    return AxisHalo(
        n=n,
        m=m,
        length=mp.length,
        before=before,
        after=after,
        left=left,
        right=m - 1 - left,
        source=source,
    )


def window_chunks(chunks: tuple[int, ...], halo: AxisHalo) -> tuple[int, ...]:
    """The window's chunks: the input's, with the extensions joined to the edge chunks."""
    out = list(chunks)
    out[0] += halo.before
    out[-1] += halo.after
    return tuple(out)


def output_chunks(window: tuple[int, ...], halo: AxisHalo) -> tuple[int, ...]:
    """Output chunks of window blocks that borrow `left` and `right` from their neighbours.

    Every window chunk must hold at least ``max(left, right) + 1`` positions;
    the edge blocks have no neighbour on their outer side, so they lose
    ``left`` (the first) and ``right`` (the last) outputs.
    """
    if len(window) == 1:
        return (window[0] - halo.m + 1,)
    out = list(window)
    out[0] -= halo.left
    out[-1] -= halo.right
    return tuple(out)


def fold_targets(halo: AxisHalo) -> tuple[int, np.ndarray]:
    """How the transpose folds the extension back: the edge width ``e`` and an
    ``(n_rows, before + after)`` 0/1 matrix adding extension positions onto inputs.

    With ``2 e <= n`` the targets lie in the first and last ``e`` inputs and the
    matrix has ``2 e`` rows (first ``e``, then last ``e``); otherwise ``e = n``
    and the matrix covers every input.
    """
    ext = halo.before + halo.after
    inside = halo.source >= 0
    targets = halo.source[inside]
    edge = min(halo.n, max(ext, 1))
    near = (targets < edge) | (targets >= halo.n - edge)
    if 2 * edge <= halo.n and bool(near.all()):
        rows = np.where(targets < edge, targets, targets - (halo.n - 2 * edge))
        size = 2 * edge
    else:
        edge, rows, size = halo.n, targets, halo.n
    matrix = np.zeros((size, ext), dtype=np.int64)
    np.add.at(matrix, (rows, np.flatnonzero(inside)), 1)
    return edge, matrix
