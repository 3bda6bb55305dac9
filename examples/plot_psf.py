"""
Point-spread functions
======================

The three blurs ``convmat.psf`` builds, each a kernel of nonnegative
weights summing to 1: a Gaussian blur, a linear motion and a defocus disk.
Each is drawn, then applied to a test image with ``convmat.convolve`` and
undone with ``convmat.deconvolve2d``.
"""

# %%
# The kernels. ``gaussian`` takes a shape and a standard deviation (one per
# axis, if wanted); ``motion`` a length in pixels and an angle in degrees,
# counterclockwise from the rows as the image is displayed; ``disk`` a radius.
import matplotlib.pyplot as plt
import numpy as np

import convmat
from convmat import psf

kernels = {
    "gaussian(15, 2.5)": psf.gaussian(15, 2.5),
    "motion(15, 30)": psf.motion(15, 30),
    "disk(5.5)": psf.disk(5.5),
}
for name, k in kernels.items():
    print(f"{name}: shape {k.shape}, sum {k.sum():.15f}")

fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, (name, k) in zip(axes, kernels.items(), strict=True):
    ax.imshow(k, cmap="magma", interpolation="nearest")
    ax.set_title(name)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# Each blurs a test pattern (bars and a disk); ``deconvolve2d`` restores it
# with the boundary 'symm' the blur used, its weight chosen automatically.
n = 96
rows, cols = np.indices((n, n))
image = ((cols // 8) % 2 == 0).astype(float) * (rows < n // 2)
image += ((rows - 0.72 * n) ** 2 + (cols - n / 2) ** 2 < (0.16 * n) ** 2).astype(float)
rng = np.random.default_rng(0)

fig, axes = plt.subplots(2, 3, figsize=(9, 6))
for column, (name, k) in enumerate(kernels.items()):
    blurred = convmat.convolve(image, k, "same", boundary="symm")
    observed = blurred + 1e-3 * rng.standard_normal(blurred.shape)
    restored = convmat.deconvolve2d(observed, k, boundary="symm")
    for row, (label, shown) in enumerate((("blurred", observed), ("restored", restored))):
        error = np.linalg.norm(shown - image) / np.linalg.norm(image)
        axes[row, column].imshow(shown, cmap="gray", vmin=0, vmax=1)
        axes[row, column].set_title(f"{label} ({name}): error {error:.2f}", fontsize=9)
        print(f"{name}, {label}: relative error {error:.3f}")
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
