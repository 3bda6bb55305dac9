"""convmat: convolution as matrix multiplication, exact for every mode and boundary.

``convmat.conv_matrix`` builds the (multilevel, doubly blocked) Toeplitz matrix
of a kernel; ``convmat.convolve``, ``correlate`` and ``conv_transpose`` (N-D)
and ``conv2d``, ``correlate2d`` and ``conv_transpose2d`` apply it to batches
as one matmul, equal to ``scipy.signal``.
"""

from . import nn
from ._core.errors import DTypeError, MatrixTooLargeError, ResultOverflowError
from .conv import (
    conv2d,
    conv_transpose,
    conv_transpose2d,
    convolve,
    convolve2d,
    correlate,
    correlate2d,
)
from .deblur import DeconvolutionInfo, deconvolve2d
from .linop import ConvOperator
from .spectral import singular_values, spectral_norm
from .toeplitz import (
    BlockStructure,
    conv_matrix,
    get_max_dense_bytes,
    set_max_dense_bytes,
    toeplitz_blocks,
)

__version__ = "0.1.0"

__all__ = [
    "BlockStructure",
    "ConvOperator",
    "DTypeError",
    "DeconvolutionInfo",
    "MatrixTooLargeError",
    "ResultOverflowError",
    "__version__",
    "conv2d",
    "conv_matrix",
    "conv_transpose",
    "conv_transpose2d",
    "convolve",
    "convolve2d",
    "correlate",
    "correlate2d",
    "deconvolve2d",
    "get_max_dense_bytes",
    "nn",
    "set_max_dense_bytes",
    "singular_values",
    "spectral_norm",
    "toeplitz_blocks",
]
