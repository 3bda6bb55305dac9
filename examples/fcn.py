"""A tiny fully convolutional network as a chain of layer matrices, checked against torch.

conv 3->8 (3x3, padding 1), ReLU, strided conv 8->16 (3x3, stride 2, padding 1),
ReLU, transposed conv 16->3 (3x3, stride 2, padding 1, output_padding 1) back to
the input size. Each layer is one sparse matrix from ``convmat.nn.conv2d_matrix``;
the transposed convolution is the transpose of a convolution's matrix.

Run: ``python examples/fcn.py`` (needs torch: ``pip install torch==2.13.0``).
"""

from __future__ import annotations

import sys

import numpy as np

from convmat import nn


def forward_by_matrices(x: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """The network's forward pass on one image ``(3, H, W)`` as three matrix products."""
    c, h, w = x.shape
    m1 = nn.conv2d_matrix(params["w1"], (c, h, w), padding=1)
    m2 = nn.conv2d_matrix(params["w2"], (8, h, w), stride=2, padding=1)
    # the transposed layer maps (16, h/2, w/2) back to (3, h, w): it is the transpose of
    # the strided convolution (3, h, w) -> (16, h/2, w/2) with the same weights
    m3 = nn.conv2d_matrix(params["w3"], (3, h, w), stride=2, padding=1)
    a1 = np.maximum(m1 @ x.ravel() + np.repeat(params["b1"], h * w), 0)
    a2 = np.maximum(m2 @ a1 + np.repeat(params["b2"], (h // 2) * (w // 2)), 0)
    out = m3.T @ a2 + np.repeat(params["b3"], h * w)
    return np.asarray(out).reshape(3, h, w)


def make_params(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "w1": rng.standard_normal((8, 3, 3, 3)) / 3,
        "b1": rng.standard_normal(8) / 10,
        "w2": rng.standard_normal((16, 8, 3, 3)) / 8,
        "b2": rng.standard_normal(16) / 10,
        "w3": rng.standard_normal((16, 3, 3, 3))
        / 8,  # conv_transpose2d layout (C_in, C_out, kH, kW)
        "b3": rng.standard_normal(3) / 10,
    }


def forward_by_torch(x: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = {k: torch.from_numpy(v) for k, v in params.items()}
    a = torch.from_numpy(x)[None]
    a = F.relu(F.conv2d(a, t["w1"], t["b1"], padding=1))
    a = F.relu(F.conv2d(a, t["w2"], t["b2"], stride=2, padding=1))
    a = F.conv_transpose2d(a, t["w3"], t["b3"], stride=2, padding=1, output_padding=1)
    return a[0].numpy()


def main() -> int:
    x = np.random.default_rng(1).standard_normal((3, 16, 12))
    params = make_params()
    ours = forward_by_matrices(x, params)
    theirs = forward_by_torch(x, params)
    diff = float(np.abs(ours - theirs).max())
    print(f"output {ours.shape}; max |matrices - torch| = {diff:.3e}")
    return 0 if diff < 1e-10 else 1


if __name__ == "__main__":
    sys.exit(main())
