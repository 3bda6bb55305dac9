"""
The spectral norm of a convolution layer
========================================

The operator norm of a layer (the Lipschitz constant that certified
robustness and spectral normalisation care about) depends on the input size,
the padding, the stride. ``torch.nn.utils.spectral_norm`` divides by the
largest singular value of the weight reshaped to ``(C_out, C_in * kh * kw)``
instead, a different number. ``convmat.nn.conv2d_spectral_norm`` gives the
norm of exactly the map ``convmat.nn.conv2d`` computes (equal to
``torch.nn.functional.conv2d``), checked here against the explicit matrix.
The reshaped-weight norm is computed with numpy, as torch defines it (the
value its power iteration converges to), so that the page builds without
torch.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse.linalg as sla

import convmat

rng = np.random.default_rng(0)
weight = rng.standard_normal((8, 4, 3, 3)) / 6
reshaped = np.linalg.norm(weight.reshape(8, -1), 2)  # what torch's spectral_norm uses
print(f"norm of the reshaped weight: {reshaped:.4f}")

# %%
# The layer's norm for each padding, against the largest singular value of
# its explicit matrix (``conv2d_matrix``, by ``scipy.sparse.linalg.svds``).
cases = [
    ("zeros, padding 1", {"padding": 1}),
    ("circular, padding 1", {"padding": 1, "padding_mode": "circular"}),
    ("reflect, padding 1", {"padding": 1, "padding_mode": "reflect"}),
    ("replicate, padding 1", {"padding": 1, "padding_mode": "replicate"}),
    ("no padding", {}),
    ("stride 2, padding 1", {"padding": 1, "stride": 2}),
]
norms, checks = [], []
for name, kw in cases:
    norm = convmat.nn.conv2d_spectral_norm(weight, (4, 16, 16), **kw)
    matrix = convmat.nn.conv2d_matrix(weight, (4, 16, 16), **kw).astype(float)
    largest = sla.svds(matrix, k=1, return_singular_vectors=False, tol=1e-10)[0]
    norms.append(norm)
    checks.append(largest)
    print(f"{name:22}: {norm:.6f} (matrix: {largest:.6f})")
np.testing.assert_allclose(norms, checks, rtol=1e-6)

# %%
# The norm moves with the padding: zero padding and no padding stay just
# below the circular norm, reflect and replicate padding (which read edge
# pixels twice) exceed it, and stride 2 lowers it. The reshaped-weight norm is
# below every one of them here: a layer divided by it still has a norm above 1.
fig, ax = plt.subplots(figsize=(8, 4.4), layout="constrained")
ax.barh([name for name, _ in cases], norms, color="tab:blue", label="layer norm (convmat)")
ax.axvline(reshaped, color="tab:red", linestyle="--", label="reshaped-weight norm (torch)")
ax.set_xlabel("largest singular value", fontsize=11)
ax.tick_params(labelsize=11)
ax.invert_yaxis()
# above the bars, so that it covers none of them
fig.legend(loc="outside upper center", ncol=2, fontsize=11)
plt.show()
