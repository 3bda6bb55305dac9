"""Exception types of convmat: each is also a ``ValueError``."""

from __future__ import annotations

__all__ = ["MatrixTooLargeError", "ResultOverflowError"]


class MatrixTooLargeError(MemoryError, ValueError):
    """A matrix would need more memory than allowed; nothing was allocated.

    It is a ``MemoryError`` and a ``ValueError``, so either ``except`` catches it.
    """

    __module__ = "convmat"


class ResultOverflowError(OverflowError, ValueError):
    """An integer result does not fit its dtype; it is refused rather than wrapped."""

    __module__ = "convmat"
