"""Exception types of convmat: each is also a ``ValueError``."""

from __future__ import annotations

__all__ = ["DTypeError", "MatrixTooLargeError", "ResultOverflowError"]


class DTypeError(TypeError, ValueError):
    """An argument of a type or dtype that convolution is not defined for.

    It is a ``TypeError`` and a ``ValueError``: scipy.signal raises
    ``ValueError`` for the same inputs (bool with bool, object arrays, a
    ``fillvalue`` that is not a scalar), so code written for scipy catches it.
    """

    __module__ = "convmat"


class MatrixTooLargeError(MemoryError, ValueError):
    """A matrix would need more memory than allowed; nothing was allocated.

    It is a ``MemoryError`` and a ``ValueError``, so either ``except`` catches it.
    """

    __module__ = "convmat"


class ResultOverflowError(OverflowError, ValueError):
    """An integer result does not fit its dtype; it is refused rather than wrapped."""

    __module__ = "convmat"
