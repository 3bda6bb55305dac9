"""
The matrix for each boundary and mode
=====================================

The matrices ``convmat plot`` draws, side by side: one 3x3 kernel over 4x5
images. Every nonzero is coloured by the kernel entry it holds; black
entries are where the boundary folds several taps onto one input (their
sum); grey lines are the block grid of the doubly blocked Toeplitz structure.
"""

# %%
# Boundaries, in 'same' mode: zero padding ('fill') keeps the pure block
# Toeplitz band; 'wrap' closes it into circulant blocks in circulant
# position; 'symm' (ndimage's 'reflect') folds the taps that fall outside back
# onto the edge pixels; 'nearest' piles them all onto the edge pixel itself;
# 'mirror' folds them one pixel further in, past the edge.
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

import convmat

kernel = np.arange(1, 10).reshape(3, 3)
shape = (4, 5)
taps = kernel.size
palette = [(1.0, 1.0, 1.0, 1.0), *plt.get_cmap("tab10")(np.arange(taps)), (0.0, 0.0, 0.0, 1.0)]


def entries(mode: str, boundary: str) -> np.ndarray:
    """Each entry's tap (1 to 9), 0 where the matrix is zero, taps + 1 where the boundary
    folds several taps onto one entry: from the matrices of one-tap kernels."""
    hits = [
        convmat.conv_matrix(np.eye(1, taps, j).reshape(3, 3), shape, mode, boundary) != 0
        for j in range(taps)
    ]
    count = np.sum(hits, axis=0)
    tap = np.argmax(hits, axis=0) + 1
    return np.where(count > 1, taps + 1, np.where(count == 1, tap, 0))


def draw(ax: plt.Axes, mode: str, boundary: str) -> None:
    image = entries(mode, boundary)
    ax.imshow(image, cmap=ListedColormap(palette), vmin=0, vmax=taps + 1)
    rows, cols = image.shape
    # one block per (output row, input row) pair: as many rows as an output row is wide
    block_rows = {"full": shape[1] + 2, "same": shape[1], "valid": shape[1] - 2}[mode]
    for r in range(block_rows, rows, block_rows):
        ax.axhline(r - 0.5, color="0.6", linewidth=0.8)
    for c in range(shape[1], cols, shape[1]):
        ax.axvline(c - 0.5, color="0.6", linewidth=0.8)
    ax.set_title(f"'{mode}', '{boundary}': {rows} x {cols}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


legend = [Patch(color=palette[j + 1], label=f"k[{j // 3},{j % 3}]") for j in range(taps)]
legend.append(Patch(color="black", label="folded taps"))
BOUNDARIES = ["fill", "wrap", "symm", "nearest", "mirror"]
fig, axes = plt.subplots(2, 3, figsize=(9, 6.4), layout="constrained")
for ax, boundary in zip(axes.flat, BOUNDARIES, strict=False):
    draw(ax, "same", boundary)
axes.flat[-1].set_axis_off()
fig.legend(handles=legend, loc="outside lower center", ncol=5, fontsize=10)
plt.show()

# %%
# Every mode with every boundary: rows 'full', 'same', 'valid'. 'full' has
# a row for every position where the kernel touches the image, 'same' keeps
# the centred rows, 'valid' those where the kernel lies inside the image (so
# the boundary never enters it: the three pictures of the last row agree).
# Each row of panels is as tall as its matrices.
heights = [42, 20, 6]
fig, axes = plt.subplots(3, 5, figsize=(11, 8), layout="constrained", height_ratios=heights)
for row, mode in zip(axes, ["full", "same", "valid"], strict=True):
    for ax, boundary in zip(row, BOUNDARIES, strict=True):
        draw(ax, mode, boundary)
fig.legend(handles=legend, loc="outside lower center", ncol=5, fontsize=10)
plt.show()
