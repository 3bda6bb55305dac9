"""Which method ``method="auto"`` takes, and the working-set budget it takes it under.

:func:`choose_conv_method` answers, from shapes and dtypes alone, what
:func:`convmat.convolve` (or a built :class:`convmat.ConvOperator`, with
``operator=True``) will do with two arrays: the method, its estimated time and
its peak memory, as scipy's ``choose_conv_method`` names the method
``scipy.signal.convolve`` takes. The choice is the cheapest method by the cost
model among those whose working set fits the budget that
:func:`set_max_working_bytes` sets.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy.typing as npt

from ._core.budget import get_max_working_bytes, set_max_working_bytes
from ._core.validate import Boundary, Mode, keyword_only_hint
from ._engines.engine import Method
from ._engines.pipeline import forward_request, kernel_axes, predict

__all__ = [
    "MethodChoice",
    "choose_conv_method",
    "get_max_working_bytes",
    "set_max_working_bytes",
]


class MethodChoice(NamedTuple):
    """The method 'auto' takes, with its estimated cost.

    Attributes
    ----------
    method : str
        One of 'sparse', 'dense', 'shift', 'fft', 'banded'.
    seconds : float
        The cost model's estimate of the call's time on a machine like the
        benchmarks' (``make calibrate`` measures the unit on yours): a guide to
        the order of magnitude, not a measurement.
    peak_bytes : int
        Beyond the input itself: the result and what the method allocates
        besides, counted from the shapes; what the working-set budget is
        compared with.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat
    >>> choice = convmat.choose_conv_method(np.ones((64, 64)), np.ones((3, 3)), "same")
    >>> choice.method in ("shift", "sparse"), choice.peak_bytes >= 64 * 64 * 8
    (True, True)
    """

    method: Method
    seconds: float
    peak_bytes: int


@keyword_only_hint
def choose_conv_method(
    in1: npt.ArrayLike,
    in2: npt.ArrayLike,
    mode: Mode = "full",
    *,
    boundary: Boundary = "fill",
    rtol: float | None = None,
    operator: bool = False,
) -> MethodChoice:
    """The method ``convmat.convolve(in1, in2, mode)`` takes, its time and its memory.

    As ``scipy.signal.choose_conv_method`` tells which method
    ``scipy.signal.convolve`` takes, this tells which one convmat's
    ``method="auto"`` takes, from the arrays' shapes and dtypes alone (their
    values are not read): the fastest by the cost model among the methods
    whose working set fits :func:`get_max_working_bytes`.

    Parameters
    ----------
    in1, in2 : array_like
        The input and the kernel, as :func:`convmat.convolve` takes them
        (leading axes of `in1` beyond the kernel's are a batch).
    mode : {'full', 'same', 'valid'}
        As in :func:`convmat.convolve`.
    boundary : {'fill', 'wrap', 'symm', 'nearest', 'mirror'}
        As in :func:`convmat.convolve`.
    rtol : float, optional
        The accuracy dial of 'auto' (see :func:`convmat.conv2d`'s Notes).
    operator : bool
        False (default): a one-shot call, which builds what its method needs.
        True: a built :class:`convmat.ConvOperator` of this kernel and input
        shape, whose resources serve many calls; its
        :meth:`~convmat.ConvOperator.method_for` gives the same method.

    Returns
    -------
    MethodChoice
        ``(method, seconds, peak_bytes)``.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat
    >>> k = np.random.default_rng(0).random((31, 31))
    >>> convmat.choose_conv_method(np.ones((2000, 2000)), k).method
    'fft'
    >>> gaussian = np.outer(*2 * [np.exp(-np.linspace(-3, 3, 9) ** 2)])
    >>> convmat.choose_conv_method(np.ones((2000, 2000)), gaussian, "same").method
    'shift'
    >>> small = convmat.choose_conv_method(np.ones((512, 512)), np.ones((3, 3)), "same")
    >>> small.method in ("shift", "sparse")
    True
    >>> small.peak_bytes >= 512 * 512 * 8  # at least the result
    True
    """
    x, k, scalar = kernel_axes(in1, in2, ("in1", "in2"), None)
    request = forward_request(
        x.dtype,
        x.shape,
        k,
        mode,
        boundary,
        0,
        corr=False,
        method="auto",
        rtol=rtol,
        ndim=None,
        scalar=scalar,
    )
    method, seconds, peak = predict(request, amortized=bool(operator))
    return MethodChoice(method, seconds, peak)
