"""CNN layers as matrices: ``conv2d`` and ``conv_transpose2d`` equal to ``torch.nn.functional``.

A convolution layer (cross-correlation, stride, padding, dilation, groups,
padding modes) is one sparse matrix ``M`` of shape
``(C_out * H_out * W_out, C_in * H * W)``: :func:`conv2d_matrix` builds it
with the same per-axis index maps as the rest of convmat. :func:`conv2d` and
:func:`conv_transpose2d` apply ``M`` and ``M.T`` to all images and channels,
by the method a cost model picks: the sparse matrix itself, or the same
product as dense GEMMs over the receptive fields laid out as columns
(im2col, BLAS speed), or by Winograd's F(2x2, 3x3) for 3x3 layers of stride
1, or, for depthwise layers, tap by tap. A torch tensor ``input`` gives a
tensor back. Arguments,
layouts ((N, C, H, W) or unbatched (C, H, W)), output shapes and results
follow PyTorch; the transposed convolution is exactly ``M.T`` for every
padding mode, which goes beyond PyTorch (it accepts only zero padding
there). :func:`conv2d_spectral_norm` is the layer's exact operator 2-norm.

Modules, each importing only those listed before it: ``_layer`` (the layer's
geometry and matrix), ``_winograd`` (F(2x2, 3x3)), ``_gemm`` (im2col GEMMs and the
tap-by-tap shifts), ``_fft`` (the layer by FFT, for
Lanczos), ``_cost`` (the cost model), ``_functional`` (the layers), ``_norm``
(the spectral norm).
"""

from ._functional import conv2d, conv2d_matrix, conv_transpose2d
from ._norm import conv2d_spectral_norm

__all__ = ["conv2d", "conv2d_matrix", "conv2d_spectral_norm", "conv_transpose2d"]
