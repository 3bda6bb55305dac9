"""Exception types of convmat: each is also a ``ValueError``."""

from __future__ import annotations

__all__ = ["DTypeError", "MatrixTooLargeError", "ResultOverflowError"]


class DTypeError(TypeError, ValueError):
    """An argument of a type or dtype that convolution is not defined for.

    It is a ``TypeError`` and a ``ValueError``: scipy.signal raises
    ``ValueError`` for the same inputs (bool with bool, object arrays, a
    ``fillvalue`` that is not a scalar), so code written for scipy catches it.

    Examples
    --------
    >>> import convmat
    >>> try:
    ...     convmat.conv2d([[True]], [[False]])
    ... except ValueError as err:
    ...     print(type(err).__name__, isinstance(err, TypeError))
    DTypeError True
    """

    __module__ = "convmat"


class MatrixTooLargeError(MemoryError, ValueError):
    """A matrix would need more memory than allowed; nothing was allocated.

    It is a ``MemoryError`` and a ``ValueError``, so either ``except`` catches it.

    Examples
    --------
    >>> import convmat
    >>> try:
    ...     convmat.conv_matrix([[1.0, 2.0]], (4000, 4000), format="dense")
    ... except MemoryError as err:
    ...     print(type(err).__name__, isinstance(err, ValueError))
    MatrixTooLargeError True
    """

    __module__ = "convmat"


class ResultOverflowError(OverflowError, ValueError):
    """An integer result does not fit its dtype; it is refused rather than wrapped.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat
    >>> x = np.full((2, 2), 100, dtype=np.int8)
    >>> try:
    ...     convmat.conv2d(x, np.ones((2, 2), dtype=np.int8), "valid")
    ... except OverflowError as err:
    ...     print(type(err).__name__, isinstance(err, ValueError))
    ResultOverflowError True
    """

    __module__ = "convmat"
