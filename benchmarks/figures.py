"""The main grid's figure: convmat's time over its peers', one annotated cell per case.

Used by ``run.py`` (``benchmarks/ratios.png``) and by the gallery's benchmark
example, from the cases of ``results.json``. numpy and matplotlib only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Case = dict[str, Any]
SCIPY_PEERS = ("convolve2d", "fftconvolve", "oaconvolve", "ndimage")


def _ratio(case: Case, ours: str, peers: Sequence[str]) -> float:
    times = case["times"]
    available = [times[p] for p in peers if times.get(p)]
    return times[ours] / min(available) if times.get(ours) and available else np.nan


def plan_over_best(case: Case) -> float:
    """A built ConvOperator over the fastest peer, torch included."""
    return _ratio(case, "convmat plan", [*SCIPY_PEERS, "torch"])


def oneshot_over_convolve2d(case: Case) -> float:
    """A cold one-shot ``convmat.conv2d`` over ``scipy.signal.convolve2d``."""
    return _ratio(case, "convmat one-shot", ["convolve2d"])


PANELS: tuple[tuple[str, Callable[[Case], float]], ...] = (
    ("ConvOperator / fastest peer", plan_over_best),
    ("one-shot conv2d / convolve2d", oneshot_over_convolve2d),
)


def ratio_figure(cases: Sequence[Case], panels: Sequence[tuple[str, Any]] = PANELS) -> Any:
    """One heatmap per ratio: rows image and kernel, columns dtype, mode and batch; each
    cell holds the ratio (below 1: convmat faster), coloured on a log scale around 1."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    sizes = sorted({c["n"] for c in cases})
    kernels = sorted({c["m"] for c in cases})
    rows = [(n, m) for n in sizes for m in kernels]
    columns = [
        (dtype, mode, many)
        for dtype in ("float64", "float32")
        for mode in ("full", "same")
        for many in (False, True)
    ]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.4 * len(panels), 6.4), layout="constrained", sharey=True
    )
    axes = np.atleast_1d(axes)
    norm = LogNorm(vmin=1 / 16, vmax=16)
    image = None
    for ax, (title, ratio) in zip(axes, panels, strict=True):
        grid = np.full((len(rows), len(columns)), np.nan)
        for case in cases:
            r = rows.index((case["n"], case["m"]))
            c = columns.index((case["dtype"], case["mode"], case["batch"] > 1))
            grid[r, c] = ratio(case)
        image = ax.imshow(grid, cmap="RdBu_r", norm=norm, aspect="auto")
        for (r, c), value in np.ndenumerate(grid):
            text = "-" if np.isnan(value) else f"{value:.2f}" if value < 10 else f"{value:.0f}"
            dark = not np.isnan(value) and abs(np.log2(value)) > 2.5
            ax.text(c, r, text, ha="center", va="center", fontsize=9, color="w" if dark else "k")
        ax.set_xticks(
            range(len(columns)),
            [f"f{d[-2:]} {m} {'B' if many else '1'}" for d, m, many in columns],
            rotation=90,
            fontsize=10,
        )
        ax.set_yticks(range(len(rows)), [f"{n}² / {m}²" for n, m in rows], fontsize=10)
        ax.set_title(title, fontsize=11)
    axes[0].set_ylabel("image / kernel", fontsize=10)
    bar = fig.colorbar(image, ax=list(axes), shrink=0.8)
    bar.set_label("time ratio (below 1: convmat faster)", fontsize=10)
    fig.supxlabel("dtype (f64, f32), mode, batch (1, or B: 64; 16 or 32 at 2048²)", fontsize=10)
    return fig
