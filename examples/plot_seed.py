"""
The seed example, step by step
==============================

Convolve a 2x3 image with a 2x2 kernel as one matrix product: build the
doubly blocked Toeplitz matrix, look at its blocks, multiply, and check the
result against ``scipy.signal.convolve2d``.
"""

# %%
# The image and the kernel. In 'full' mode the output is
# ``(2 + 2 - 1) x (3 + 2 - 1) = 3 x 4``, so the matrix maps the 6 pixels of
# the image (flattened in C order) to the 12 pixels of the output.
import matplotlib.pyplot as plt
import numpy as np
from scipy.signal import convolve2d

import convmat

x = np.array([[1, 2, 3], [4, 5, 6]])
k = np.array([[10, 20], [30, 40]])
A = convmat.conv_matrix(k, x.shape)
print(A.shape)
print(A)

# %%
# The matrix is made of Toeplitz blocks, one per kernel row, each sliding
# that row along an image row; the blocks themselves sit on block diagonals.
blocks = convmat.toeplitz_blocks(k, x.shape)
for i, block in enumerate(blocks.blocks):
    print(f"block {i} (kernel row {i}):")
    print(block)
print("block of each (output row, input row):")
print(blocks.layout)

# %%
# One product gives the whole convolution, equal to scipy's.
y = (A @ x.ravel()).reshape(3, 4)
print(y)
print(np.array_equal(y, convolve2d(x, k)))

# %%
# The same matrix, drawn: every nonzero coloured by the kernel entry it
# holds, the block grid in grey.
fig, ax = plt.subplots(figsize=(5, 6))
shown = ax.imshow(np.where(A == 0, np.nan, A), cmap="viridis")
for r in range(4, 12, 4):
    ax.axhline(r - 0.5, color="0.6")
ax.axvline(2.5, color="0.6")
for (r, c), v in np.ndenumerate(A):
    if v:
        ax.text(c, r, str(v), ha="center", va="center", color="w", fontsize=9)
ax.set_xlabel("input pixel (C order)")
ax.set_ylabel("output pixel (C order)")
ax.set_title("conv_matrix(k, (2, 3)): 12 x 6, blocks of 4 x 3")
fig.colorbar(shown, ax=ax, label="kernel value")
plt.show()
