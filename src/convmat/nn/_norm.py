"""The exact spectral norm of a convolution layer."""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from .._core.budget import check_working_set
from .._core.spectra import check_rtol, top_eigenvalues
from .._core.validate import check_array, check_shape, keyword_only_hint
from ._fft import LayerFFT
from ._layer import ONE_IMAGE, Layer, Padding, PaddingMode, layer_matrix

__all__ = ["conv2d_spectral_norm"]

DENSE_SIDE = 400  # the dense SVD serves layer matrices up to this many columns (or rows)


@keyword_only_hint
def conv2d_spectral_norm(
    weight: npt.ArrayLike,
    input_shape: tuple[int, int, int] | list[int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: Padding = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    rtol: float = 1e-6,
) -> float:
    """The operator 2-norm of the map :func:`conv2d` computes (without its bias).

    ``max ||conv2d(x)|| / ||x||`` over inputs of `input_shape`: the largest
    singular value of :func:`conv2d_matrix` with the same arguments, for every
    stride, padding, dilation, group count and padding mode.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in / groups, kH, kW)
        The layer's weights; real or complex.
    input_shape : tuple of int
        ``(C_in, H, W)`` of one input.
    stride, padding, dilation, groups, padding_mode
        As in :func:`conv2d`.
    rtol : float
        Relative accuracy of an iterative estimate, in (0, 1).

    Returns
    -------
    float
        The norm; 0.0 for zero weights.

    Raises
    ------
    ValueError
        The layer errors of :func:`conv2d_matrix`; `rtol` outside (0, 1).
    TypeError
        Non-numeric weights or non-integer layer arguments.

    See Also
    --------
    convmat.spectral_norm : the norm of a single-channel convolution.

    Notes
    -----
    A grouped layer is block diagonal, one block per group: its norm is the
    largest of theirs. Circular padding that keeps the size (stride 1, total
    padding ``dilation * (k - 1)`` per axis) is block circulant: its norm is
    the largest singular value of the ``(C_out, C_in)`` matrices of the
    kernel's 2-D DFT over the input grid, one per frequency (Sedghi, Gupta
    and Long, ICLR 2019), exact. Otherwise, up to 400 columns or rows the
    dense SVD of the layer matrix; beyond, Lanczos on ``M^H M`` applied by
    FFTs (per-frequency ``(C_out, C_in)`` products), stopped when the Ritz
    value's residual is below a tenth of `rtol` times it. ``torch.nn.utils.spectral_norm`` normalises the
    reshaped ``(C_out, C_in * kH * kW)`` weight instead, which is not this
    norm.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat import nn
    >>> w = np.random.default_rng(0).standard_normal((4, 3, 3, 3))
    >>> M = nn.conv2d_matrix(w, (3, 8, 8), padding=1, format="dense")
    >>> norm = nn.conv2d_spectral_norm(w, (3, 8, 8), padding=1)
    >>> bool(np.isclose(norm, np.linalg.norm(M, 2)))
    True
    >>> reshaped = np.linalg.norm(w.reshape(4, -1), 2)  # torch's spectral_norm
    >>> bool(norm > reshaped)
    True
    """
    w = check_array(weight, "weight")
    shape = cast("tuple[int, int, int]", check_shape(input_shape, "input_shape", 3, ONE_IMAGE))
    tolerance = check_rtol(rtol)
    layer = Layer(w, shape, stride, padding, dilation, groups, padding_mode)
    work = w.astype(np.complex128 if w.dtype.kind == "c" else np.float64)
    if not work.any():
        return 0.0
    per_group = layer.c_out // layer.groups
    blocks = [work[g * per_group : (g + 1) * per_group] for g in range(layer.groups)]
    _c, h, wd = shape
    total = tuple(a + b for a, b in layer.pads)
    spread = tuple(d * (k - 1) for d, k in zip(layer.dilation, layer.kernel, strict=True))
    if layer.mode == "circular" and layer.stride == (1, 1) and total == spread:
        # per group: the folded kernels, their transform and its transposed copy, complex
        check_working_set(
            3 * per_group * layer.c_group * h * wd * 16,
            f"the per-frequency transfer matrices of a layer of {shape} inputs",
            "use a smaller input_shape",
        )
        return max(_circular_norm(b, (h, wd), layer.dilation) for b in blocks)
    group_shape = (layer.c_group, h, wd)
    return max(
        _layer_norm(Layer(b, group_shape, stride, padding, dilation, 1, padding_mode), b, tolerance)
        for b in blocks
    )


def _circular_norm(weight: np.ndarray, grid: tuple[int, int], dilation: tuple[int, int]) -> float:
    """Largest singular value over the per-frequency ``(C_out, C_in)`` transfer matrices."""
    c_out, c_in, kh, kw = weight.shape
    folded = np.zeros((c_out, c_in, *grid), dtype=weight.dtype)
    rows = (np.arange(kh) * dilation[0]) % grid[0]
    cols = (np.arange(kw) * dilation[1]) % grid[1]
    for a, row in enumerate(rows):  # taps that wrap onto one position add up
        for b, col in enumerate(cols):
            folded[:, :, row, col] += weight[:, :, a, b]
    transfer = np.fft.fft2(folded).transpose(2, 3, 0, 1)
    return float(np.linalg.svd(transfer, compute_uv=False)[..., 0].max())


def _layer_norm(layer: Layer, weight: np.ndarray, rtol: float) -> float:
    """The 2-norm of one group's layer: the dense SVD when small, else Lanczos on the Gram."""
    rows, cols = layer.shape
    if min(rows, cols) <= DENSE_SIDE:
        import scipy.linalg  # on first use: importing convmat stays light

        matrix = cast("sp.csr_array", layer_matrix(weight, layer, weight.dtype, "csr"))
        return float(scipy.linalg.svdvals(matrix.toarray(), check_finite=False)[0])
    c_out, c_in = weight.shape[:2]
    grid = math.prod(
        n + 2 * max(p) + d * (k - 1)
        for n, p, d, k in zip(
            layer.input_shape[1:], layer.pads, layer.dilation, layer.kernel, strict=True
        )
    )
    # the transfer matrices (twice), Lanczos' vectors and the transforms of both sides
    check_working_set(
        2 * c_out * c_in * grid * 16 + 24 * min(rows, cols) * 16 + 4 * (c_in + c_out) * grid * 16,
        f"Lanczos on a layer of {layer.input_shape} inputs",
        "use a smaller input_shape",
    )
    fft = LayerFFT(layer, weight)
    input_side = cols <= rows
    start = fft.start()  # (C_in, H, W) order
    if not input_side:  # the output side is smaller; the wave's image starts there
        start = fft.forward(start)
    side = layer.input_shape if input_side else layer.output_shape
    start = start.reshape(side).transpose(1, 2, 0).ravel()  # channels last, as gram wants

    def gram(v: np.ndarray) -> np.ndarray:
        return fft.gram(v, input_side=input_side)

    value = top_eigenvalues(gram, min(rows, cols), weight.dtype, 1, rtol, start)[0]
    return float(np.sqrt(value))
