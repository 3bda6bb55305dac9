"""convmat: convolution as matrix multiplication, exact for every mode and boundary.

``convmat.conv_matrix`` builds the (multilevel, doubly blocked) Toeplitz matrix
of a kernel; ``convmat.convolve``, ``correlate`` and ``conv_transpose`` (N-D)
and ``conv2d``, ``correlate2d`` and ``conv_transpose2d`` apply it to batches
as one matmul, equal to ``scipy.signal``.

The package is built in layers; a module imports only from its own group and
the groups below it, never a name with a leading underscore from another
module, and no import circle exists (``tests/test_layers.py`` reads the
source and holds the code to this):

0. ``_core``: errors, validation, memory budget, exact integer sums, the
   per-axis index maps, the plan of a matrix, CSR assembly, tap sums, halos
   of blocks, spectra (numpy and scipy only);
1. ``_engines``: the engine that applies one matrix by each method, its
   thread pool and FFT certificate, the banded and small-image methods, the
   cost model, the engine cache, the apply step and the request pipeline
   (validate, plan, engine, apply, trim) that every product of arrays takes;
2. domains, which do not import each other: ``nn`` (CNN layers, public),
   ``_inverse`` (the deblurring solvers and their operators), ``_blocks``
   (dask machinery; imports dask);
3. public modules, each importing only those before it: ``toeplitz``,
   ``conv``, ``choose``, ``fftconv``, ``linop``, ``spectral``, ``psf``,
   ``deblur``, ``dask``;
4. front ends: ``demo``, ``explain``, ``plot``, ``cli`` (and ``__main__``).
"""

from . import nn, psf
from ._core.errors import DTypeError, MatrixTooLargeError, ResultOverflowError
from .choose import (
    MethodChoice,
    choose_conv_method,
    get_max_working_bytes,
    set_max_working_bytes,
)
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
from .fftconv import fftconvolve, oaconvolve
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
    "MethodChoice",
    "ResultOverflowError",
    "__version__",
    "choose_conv_method",
    "conv2d",
    "conv_matrix",
    "conv_transpose",
    "conv_transpose2d",
    "convolve",
    "convolve2d",
    "correlate",
    "correlate2d",
    "deconvolve2d",
    "fftconvolve",
    "get_max_dense_bytes",
    "get_max_working_bytes",
    "nn",
    "oaconvolve",
    "psf",
    "set_max_dense_bytes",
    "set_max_working_bytes",
    "singular_values",
    "spectral_norm",
    "toeplitz_blocks",
]
