"""Exact integer sums: a result that fits its dtype, or a refusal, never a wrapped value.

Integer convolutions are computed in 64-bit arithmetic, exact modulo ``2**64``.
When a bound on the magnitudes proves that no sum leaves ``[-2**62, 2**62]``,
that result is the exact one. Otherwise each operand is split into limbs of
``b`` bits, small enough that every bilinear product of two limbs is exact in
int64 (its sums stay below ``2**61``); the limbs' products are added into
groups by weight ``2**(b * s)`` and carried into digits, which say exactly
whether the true value fits in int64 (or uint64) and what it is. No float
estimate is involved: the test is exact for every int64 and uint64 input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .errors import ResultOverflowError

__all__: list[str] = []

SAFE = 2**62  # sums whose bound stays below this are exact in int64 as computed
FLOAT_EXACT = 2**53  # integer sums whose bound stays below this are exact in float64
_GROUP_LIMIT = 2**61  # every group of limb products stays below this in magnitude
_MIN_BITS = 4

Bilinear = Callable[[np.ndarray, np.ndarray], np.ndarray]


def abs_max(arr: np.ndarray) -> int:
    """``max |arr|`` as a Python int (exact for int64, whose minimum has no int64 negation)."""
    if arr.size == 0:
        return 0
    return max(int(arr.max()), -int(arr.min()))


def abs_sum(arr: np.ndarray) -> int:
    """``sum |arr|`` of an integer array as a Python int, exactly."""
    if arr.size == 0:
        return 0
    if abs_max(arr) * arr.size < SAFE:
        return int(np.abs(arr.astype(np.int64)).sum())
    return sum(abs(int(v)) for v in arr.reshape(-1).tolist())


def limb_bits(terms: int) -> int:
    """The widest limb for which a group of ``terms`` limb products stays exact in int64."""
    for bits in range(31, _MIN_BITS - 1, -1):
        count = -(-64 // bits)
        if count * max(terms, 1) * 2 ** (2 * bits) <= _GROUP_LIMIT:
            return bits
    msg = f"an exact integer sum of {terms:,} terms is beyond what 64-bit limbs can hold"
    raise ResultOverflowError(msg)


def split(arr: np.ndarray, bits: int) -> list[np.ndarray]:
    """Limbs of an integer array: ``arr == sum(limb[i] << (bits * i))``, each an int64 array.

    Lower limbs lie in ``[0, 2**bits)``; the top one carries the sign, and its
    magnitude is at most ``2**bits``.
    """
    count = -(-64 // bits)
    mask = (1 << bits) - 1
    if arr.dtype.kind == "u":
        wide = arr.astype(np.uint64, copy=False)
    else:
        wide = arr.astype(np.int64, copy=False)
    limbs = [((wide >> (bits * i)) & mask).astype(np.int64) for i in range(count - 1)]
    limbs.append((wide >> (bits * (count - 1))).astype(np.int64))
    return limbs


def _carry(groups: Sequence[np.ndarray], bits: int, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """The exact value of ``sum(groups[s] << (bits * s))``: (value, whether it fits).

    The value is int64 (`signed`) or uint64; where it does not fit, it is
    meaningless and the mask is False.
    """
    mask = (1 << bits) - 1
    carry = np.zeros(np.shape(groups[0]), dtype=np.int64)
    digits = []
    for group in groups:
        total = group + carry
        digits.append(total & mask)
        carry = total >> bits
    top = 63 if signed else 64  # the value fits when floor(value / 2**top) is 0 (or -1 if signed)
    pos, off = divmod(top, bits)
    head = digits[pos] >> off
    zero = (head == 0) & (carry == 0)
    ones = (head == (1 << (bits - off)) - 1) & (carry == -1)
    for digit in digits[pos + 1 :]:
        zero &= digit == 0
        ones &= digit == mask
    low = np.zeros(np.shape(carry), dtype=np.uint64)
    for s in range(pos):
        low |= digits[s].astype(np.uint64) << np.uint64(bits * s)
    low |= (digits[pos] & ((1 << off) - 1)).astype(np.uint64) << np.uint64(bits * pos)
    if not signed:
        return low, zero
    value = low.astype(np.int64)
    value[ones] += np.iinfo(np.int64).min
    return value, zero | ones


def exact_sum(
    terms: Sequence[tuple[Bilinear, np.ndarray, np.ndarray]],
    count: int,
    shape: tuple[int, ...],
    *,
    signed: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The exact value of ``sum(f(u, v) for f, u, v in terms)`` and where it fits 64 bits.

    Each ``f`` is bilinear in its two integer operands and is computed in int64;
    `count` bounds the number of products ``u_i * v_j`` that any one entry of
    any ``f(u, v)`` adds up; every ``f(u, v)`` broadcasts to `shape`. Returns the value (int64 if `signed`, uint64
    otherwise) and a boolean mask of the entries that fit that dtype.
    """
    bits = limb_bits(count * len(terms))
    nlimbs = -(-64 // bits)
    groups = [np.zeros(shape, dtype=np.int64) for _ in range(2 * nlimbs - 1)]
    for fn, u, v in terms:
        us, vs = split(u, bits), split(v, bits)
        for a, ua in enumerate(us):
            if not ua.any():
                continue
            for b, vb in enumerate(vs):
                if vb.any():
                    groups[a + b] += np.asarray(fn(ua, vb), dtype=np.int64)
    return _carry(groups, bits, signed)


def exact_products(
    terms: Sequence[tuple[Bilinear, np.ndarray, np.ndarray]],
    bound: int,
    dtype: np.dtype,
    shape: tuple[int, ...],
    count: int,
    *,
    blas: bool = False,
) -> np.ndarray:
    """``sum(f(u, v) for f, u, v in terms)`` of integer operands, exactly, in `dtype`; or
    :class:`ResultOverflowError`, never a wrapped value.

    The ladder every integer product of convmat climbs (convolutions and layers
    alike): `bound`, a Python int, bounds the magnitude of every partial sum.
    Below ``2**53`` and with `blas`, the first term runs in float64 (BLAS speed,
    every sum exact) and is rounded back; below :data:`SAFE`, every term in
    64-bit integers; beyond, in limbs (:func:`exact_sum`), which decide exactly
    whether each value fits. `count` bounds the products one entry of a term
    adds up; every term broadcasts to `shape`.
    """
    first, u0, v0 = terms[0]
    if bound >= SAFE:
        values, fits = exact_sum(terms, count, shape, signed=u0.dtype.kind == "i")
        if not fits.all():
            overflow(dtype)
        return fit(values, dtype)
    if blas and bound < FLOAT_EXACT:
        out = np.rint(first(u0.astype(np.float64), v0.astype(np.float64))).astype(u0.dtype)
    else:
        out = first(u0, v0)
    for fn, u, v in terms[1:]:
        out = out + fn(u, v)
    info = np.iinfo(dtype)
    if bound <= min(info.max, -info.min or info.max):
        return out.astype(dtype, copy=False)
    return fit(out, dtype)


def fit(values: np.ndarray, dtype: np.dtype, what: str = "the exact result") -> np.ndarray:
    """`values` (exact, int64 or uint64) cast to `dtype`, refused if any lies outside its range."""
    if dtype.kind in "iu" and values.size:
        info = np.iinfo(dtype)
        low, high = int(values.min()), int(values.max())
        if low < info.min or high > info.max:
            overflow(dtype, what, high if high > info.max else low)
    return values.astype(dtype, copy=False)


def overflow(dtype: np.dtype, what: str = "the exact result", value: int | None = None) -> None:
    """Raise :class:`ResultOverflowError` for a value outside `dtype`."""
    reach = "" if value is None else f" (it reaches {value})"
    msg = (
        f"{what} cannot be held by the dtype {dtype}{reach}; refused rather than "
        "wrapped: convert the inputs to a wider integer or a float dtype"
    )
    raise ResultOverflowError(msg)
