"""Draw a 2-D convolution matrix with matplotlib: blocks, and which tap each entry holds."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._core.csr import build_unfolded_coo
from ._core.plan import Plan, checked_plan
from ._core.validate import (
    Boundary,
    Mode,
    check_real,
    short_repr,
)

__all__ = ["DEFAULT_SIZE", "MAX_SIDE", "figure_pixels", "plot_matrix"]

MAX_SIDE = 5000  # rows or columns drawn at the most
MAX_LEGEND = 20  # taps shown one colour each; more get a colour scale
_DPI = 100


DEFAULT_SIZE = 1600  # the picture's longer side in pixels, by default
MIN_SIZE, MAX_SIZE = 600, 10_000


def figure_pixels(rows: int, cols: int, size: int = DEFAULT_SIZE) -> tuple[int, int]:
    """Width and height in pixels of the picture of a ``rows x cols`` matrix.

    One pixel per matrix row and column, plus room for the legend, while that
    fits `size` pixels on the longer side; larger matrices are drawn at that
    size, a block of entries to a pixel.

    Examples
    --------
    >>> from convmat.plot import figure_pixels
    >>> figure_pixels(12, 6)
    (1200, 900)
    >>> figure_pixels(4096, 4096)  # a 64 x 64 image's 'same' matrix
    (1600, 1200)
    """
    height = max(900, rows + 200)
    width = max(1200, cols + 500)
    longer = max(width, height)
    if longer > size:
        # keep the default's 4:3 frame, shrunk to the size asked for
        return size, max(1, round(size * 3 / 4))
    return width, height


def _coarsen(a: np.ndarray, factor: int) -> np.ndarray:
    """The largest value of each ``factor x factor`` block of `a` (a pixel of the picture)."""
    if factor == 1:
        return a
    rows, cols = a.shape
    pad = ((0, -rows % factor), (0, -cols % factor))
    padded = np.pad(a, pad, constant_values=a.min(initial=0))
    r, c = padded.shape
    return np.asarray(padded.reshape(r // factor, factor, c // factor, factor).max(axis=(1, 3)))


def check_size(size: object) -> int:
    """`size` (the picture's longer side in pixels) if it is an int in the allowed range."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        msg = f"`size` must be an int (pixels), got {short_repr(size)}"
        raise TypeError(msg)
    if not MIN_SIZE <= size <= MAX_SIZE:
        msg = f"`size` must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}"
        raise ValueError(msg)
    return int(size)


def _png_path(output: str | Path) -> Path:
    """The PNG file `output` names: ``.png`` added when it has no suffix; a directory, a
    missing parent directory or another suffix refused (the name is checked before
    anything is drawn)."""
    text = str(output)
    path = Path(output)
    if text.endswith(("/", os.sep)) or path.is_dir():
        msg = (
            f"`output` {text!r} is a directory; give a file in it, "
            f"e.g. {str(path / 'matrix.png')!r}"
        )
        raise ValueError(msg)
    if path.suffix == "":
        path = path.with_name(path.name + ".png")
    elif path.suffix.lower() != ".png":
        msg = f"`output` {text!r} must name a PNG file (suffix .png), got suffix {path.suffix!r}"
        raise ValueError(msg)
    if not path.parent.is_dir():
        msg = (
            f"`output` {text!r}: the directory {str(path.parent)!r} does not exist; create it first"
        )
        raise ValueError(msg)
    return path


def plot_matrix(
    kernel: npt.ArrayLike,
    image_shape: tuple[int, int],
    mode: Mode = "full",
    boundary: Boundary = "fill",
    *,
    output: str | Path = "matrix.png",
    size: int = DEFAULT_SIZE,
) -> Path:
    """Draw the convolution matrix of a 2-D kernel to a PNG file.

    Each nonzero is coloured by the kernel entry it holds (a legend names them
    for up to 20 taps; larger kernels get a colour scale of the values);
    entries where the boundary folds several taps together are black; the
    block grid of the doubly blocked Toeplitz structure is drawn.

    Parameters
    ----------
    kernel : array_like, 2-D
        The filter (real).
    image_shape : tuple of int
        ``(H, W)`` of the images.
    mode, boundary
        As in :func:`convmat.conv_matrix`.
    output : str or Path
        The PNG file to write (``.png`` is added to a name without a
        suffix); its directory must exist.
    size : int
        The picture's longer side in pixels (600 to 10000; default 1600). A
        matrix with more rows or columns than that is drawn a block of
        entries to a pixel, each pixel showing its block's last tap (and
        black where any entry of the block is folded).

    Returns
    -------
    Path
        The file written; its size in pixels is :func:`figure_pixels`.

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install ".[plot]"``).
    ValueError
        `output` a directory, in a missing directory, or with a suffix other
        than ``.png``; a matrix with more than 5000 rows or columns; the errors of
        :func:`convmat.conv_matrix`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from convmat.plot import plot_matrix
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = plot_matrix([[1, 2], [3, 4]], (2, 3), output=pathlib.Path(tmp, "a.png"))
    ...     path.stat().st_size > 0
    True
    """
    # every argument checked before matplotlib is imported
    k, plan = checked_plan(kernel, image_shape, mode, boundary, ndim=2, shape_name="image_shape")
    path = _png_path(output)
    pixels = check_size(size)
    check_real(k, "kernel", purpose=" to be drawn")
    rows, cols = plan.shape
    if max(rows, cols) > MAX_SIDE:
        msg = f"the matrix is {rows} x {cols}; only up to {MAX_SIDE} rows and columns are drawn"
        raise ValueError(msg)
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    width, height = figure_pixels(rows, cols, pixels)
    # entries per pixel of the axes (0.66 of the width, 0.86 of the height)
    factor = max(1, math.ceil(max(rows / (0.86 * height), cols / (0.66 * width))))
    fig = plt.figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    ax = fig.add_axes((0.06, 0.06, 0.66, 0.86))
    _draw(fig, ax, k, plan, mode, boundary, factor)
    fig.savefig(path, dpi=_DPI, format="png")
    plt.close(fig)
    return path


def _draw(
    fig: Any, ax: Any, k: np.ndarray, plan: Plan, mode: str, boundary: str, factor: int = 1
) -> None:
    """Each nonzero coloured by the tap it holds (a legend, or a colour bar when there are
    many taps), folded entries black, the block grid grey, the sizes in the title; a
    `factor` x `factor` block of entries to a pixel (axes still count entries)."""
    import matplotlib as mpl
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    rows, cols = plan.shape
    taps = k.size
    coo = build_unfolded_coo(np.arange(1, taps + 1, dtype=np.int64).reshape(k.shape), plan)
    tap = np.zeros((rows, cols), dtype=np.int64)
    hits = np.zeros((rows, cols), dtype=np.int64)
    np.add.at(hits, (coo.row, coo.col), 1)
    tap[coo.row, coo.col] = coo.data
    folded = hits > 1
    extent = (-0.5, cols - 0.5, rows - 0.5, -0.5)  # the axes count entries, not pixels
    values = k.ravel().astype(np.float64)
    labels = [
        f"k[{j0},{j1}] = {v:g}" for (j0, j1), v in zip(np.ndindex(k.shape), values, strict=True)
    ]
    if taps <= MAX_LEGEND:
        tab20 = mpl.colormaps["tab20"]
        palette = [(1.0, 1.0, 1.0, 1.0), *(tab20(i) for i in range(taps)), (0.0, 0.0, 0.0, 1.0)]
        image = _coarsen(np.where(folded, taps + 1, tap), factor)
        ax.imshow(
            image,
            cmap=ListedColormap(palette),
            vmin=0,
            vmax=taps + 1,
            interpolation="nearest",
            extent=extent,
        )
        handles = [Patch(color=palette[i + 1], label=labels[i]) for i in range(taps)]
        if folded.any():
            handles.append(Patch(color="black", label="folded: sum of taps"))
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="entry holds"
        )
    else:
        entry = np.full((rows, cols), np.nan)
        entry[coo.row, coo.col] = 0.0
        np.add.at(entry, (coo.row, coo.col), values[coo.data - 1])
        largest = _coarsen(np.where(np.isnan(entry), -np.inf, entry), factor)
        masked = np.ma.masked_invalid(np.where(np.isinf(largest), np.nan, largest))
        shown = ax.imshow(masked, cmap="viridis", interpolation="nearest", extent=extent)
        bar = fig.colorbar(shown, ax=ax, fraction=0.05, pad=0.02)
        bar.set_label("kernel value held by the entry")
        if folded.any():
            block = _coarsen(folded.astype(np.int8), factor) > 0
            ax.imshow(
                np.ma.masked_where(~block, block),
                cmap=ListedColormap(["black"]),
                interpolation="nearest",
                extent=extent,
            )
    row_block, col_block = plan.maps[1].length, plan.maps[1].n
    if rows // row_block <= 200 and cols // col_block <= 200:
        for r in range(row_block, rows, row_block):
            ax.axhline(r - 0.5, color="0.6", linewidth=0.6)
        for c in range(col_block, cols, col_block):
            ax.axvline(c - 0.5, color="0.6", linewidth=0.6)
    ax.set_title(
        f"convolution matrix {rows} x {cols}: {k.shape} kernel over {plan.input_shape} images, "
        f"mode '{mode}', boundary '{boundary}'\nblocks of {row_block} x {col_block}; "
        f"{int((hits > 0).sum())} nonzeros ({100 * (hits > 0).mean():.1f}%)"
        + (f"; a {factor} x {factor} block of entries to a pixel" if factor > 1 else ""),
        fontsize=10,
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("column: input pixel (C order)")
    ax.set_ylabel("row: output pixel (C order)")
