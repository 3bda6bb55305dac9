"""
The matrix for each boundary and mode
=====================================

The pictures ``convmat plot`` draws, side by side: one 3x3 kernel over 4x5
images. Every nonzero is coloured by the kernel entry it holds; black
entries are where the boundary folds several taps onto one input (their
sum); grey lines are the block grid of the doubly blocked Toeplitz structure.
"""

# %%
# Boundaries, in 'same' mode: zero padding ('fill') keeps the pure block
# Toeplitz band; 'wrap' closes it into circulant blocks in circulant
# position; 'symm' folds the taps that fall outside back onto the edge pixels.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from convmat.plot import plot_matrix

kernel = np.arange(1, 10).reshape(3, 3)
shape = (4, 5)
folder = Path(tempfile.mkdtemp())


def drawn(mode: str, boundary: str) -> np.ndarray:
    """The picture ``convmat plot`` writes for this mode and boundary, as an image."""
    path = plot_matrix(kernel, shape, mode, boundary, output=folder / f"{mode}-{boundary}.png")
    return plt.imread(path)


fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
for ax, boundary in zip(axes, ["fill", "wrap", "symm"], strict=True):
    ax.imshow(drawn("same", boundary))
    ax.set_title(f"'same', boundary '{boundary}'")
    ax.axis("off")
fig.tight_layout()

# %%
# Every mode with every boundary: rows 'full', 'same', 'valid'. 'full' has
# a row for every position where the kernel touches the image, 'same' keeps
# the centred rows, 'valid' those where the kernel lies inside the image (so
# the boundary never enters it: the three pictures of the last row agree).
fig, axes = plt.subplots(3, 3, figsize=(18, 16))
for row, mode in zip(axes, ["full", "same", "valid"], strict=True):
    for ax, boundary in zip(row, ["fill", "wrap", "symm"], strict=True):
        ax.imshow(drawn(mode, boundary))
        ax.set_title(f"mode '{mode}', boundary '{boundary}'")
        ax.axis("off")
fig.tight_layout()
plt.show()
