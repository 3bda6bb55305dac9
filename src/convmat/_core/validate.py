"""Argument checks shared by every public function.

Each check runs before any work is done and raises a ``ValueError`` or
``TypeError`` whose message names the argument, the value received and what
is allowed.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import operator
import os
import sys
import warnings
from collections.abc import Callable
from typing import Literal, ParamSpec, TypeVar, cast

import numpy as np
import numpy.typing as npt

from .errors import DTypeError

__all__: list[str] = []

Mode = Literal["full", "same", "valid"]
Boundary = Literal[
    "fill",
    "wrap",
    "symm",
    "nearest",
    "mirror",
    "pad",
    "circular",
    "symmetric",
    "constant",
    "grid-constant",
    "grid-wrap",
    "reflect",
    "grid-mirror",
]
# a boundary by its canonical name
Extension = Literal["fill", "wrap", "symm", "nearest", "mirror"]
Format = Literal["dense", "csr", "csc", "coo"]
MethodArg = Literal["auto", "direct", "sparse", "dense", "shift", "fft", "banded"]
_METHODS = ("auto", "direct", "sparse", "dense", "shift", "fft", "banded")

_MODES = ("full", "same", "valid")
# every accepted name, with its canonical one: scipy.signal's ('fill', 'wrap', 'symm' and
# their aliases) and scipy.ndimage's, with ndimage's meanings ('reflect' repeats the edge
# sample, as 'symm' does; 'mirror' does not; ndimage's own 'wrap' is not the periodic
# extension, 'grid-wrap' is: the name 'wrap' keeps scipy.signal's meaning)
_BOUNDARIES: dict[str, Extension] = {
    "fill": "fill",
    "pad": "fill",
    "constant": "fill",
    "grid-constant": "fill",
    "wrap": "wrap",
    "circular": "wrap",
    "grid-wrap": "wrap",
    "symm": "symm",
    "symmetric": "symm",
    "reflect": "symm",
    "grid-mirror": "symm",
    "nearest": "nearest",
    "mirror": "mirror",
}
BOUNDARY_CHOICES = tuple(_BOUNDARIES)  # every name, for the command line
BOUNDARY_NAMES = (
    "'fill', 'wrap', 'symm', 'nearest', 'mirror' (scipy.signal's aliases 'pad', 'circular', "
    "'symmetric'; scipy.ndimage's names 'constant', 'grid-constant', 'grid-wrap', "
    "'reflect', 'grid-mirror')"
)

_FORMATS = ("dense", "csr", "csc", "coo")


def short_repr(value: object) -> str:
    """Return a ``repr`` of `value` cut to a readable length; an array (numpy's, torch's,
    dask's: anything with a shape and a dtype) of more than one element is described by
    its type, shape and dtype, never by its data."""
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    array = isinstance(shape, tuple) and dtype is not None and not isinstance(value, np.generic)
    if array and math.prod(int(side) for side in cast("tuple[int, ...]", shape)) != 1:
        kind = type(value)
        where = f"{kind.__module__.split('.')[0]}.{kind.__name__}"
        sides = tuple(int(n) for n in cast("tuple[int, ...]", shape))
        return f"{where} of shape {sides} and dtype {dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def compact_repr(name: str, fields: dict[str, object]) -> str:
    """``name(field=value, ...)`` with arrays of up to 8 entries written out (as lists, floats
    to 4 decimals) and larger ones described by their shape and dtype: a repr that fits a
    screen."""
    parts = []
    for key, value in fields.items():
        if isinstance(value, np.ndarray):
            if value.size <= 8:
                text = repr(
                    np.round(value, 4).tolist() if value.dtype.kind in "fc" else value.tolist()
                )
            else:
                text = f"<array of shape {value.shape}, dtype {value.dtype}>"
        else:
            text = short_repr(value)
        parts.append(f"{key}={text}")
    return f"{name}({', '.join(parts)})"


def check_mode(mode: object) -> Mode:
    """Return `mode` if it is one of 'full', 'same', 'valid'."""
    if not isinstance(mode, str) or mode not in _MODES:
        msg = f"`mode` must be one of 'full', 'same', 'valid', got {short_repr(mode)}"
        raise ValueError(msg)
    return cast("Mode", mode)


def check_boundary(boundary: object) -> Extension:
    """Return the canonical name of `boundary` (scipy.signal's and ndimage's names accepted)."""
    if not isinstance(boundary, str) or boundary not in _BOUNDARIES:
        msg = f"`boundary` must be one of {BOUNDARY_NAMES}, got {short_repr(boundary)}"
        raise ValueError(msg)
    return _BOUNDARIES[boundary]


def check_method_axes(method: str, ndim: int) -> None:
    """Refuse the banded method for a kernel that is not 2-D (it tiles a 2-D structure)."""
    if method == "banded" and ndim != 2:
        msg = (
            f"`method` 'banded' serves 2-D kernels only, got a kernel with {ndim} axes: "
            "pass 'auto', 'sparse', 'shift', 'dense' or 'fft'"
        )
        raise ValueError(msg)


def check_method(method: object, dtype: np.dtype) -> MethodArg:
    """Return `method` if it is a method name that is exact for `dtype` (integers: no FFT, no BLAS)."""
    if not isinstance(method, str) or method not in _METHODS:
        msg = (
            "`method` must be one of 'auto', 'direct', 'sparse', 'dense', 'shift', 'fft', "
            "'banded', "
            f"got {short_repr(method)}"
        )
        raise ValueError(msg)
    if method in ("fft", "dense", "banded") and dtype.kind in "biu":
        msg = (
            f"`method` {method!r} is not exact for the integer dtype {dtype}; "
            "use 'sparse', 'shift' or 'auto', or float data"
        )
        raise ValueError(msg)
    return cast("MethodArg", method)


def check_rtol(rtol: object) -> float | None:
    """Return `rtol` as a float (or None, the dtype's default) if it is a finite real >= 0."""
    if rtol is None:
        return None
    if isinstance(rtol, np.ndarray) and rtol.ndim == 0 and rtol.dtype.kind in "iuf":
        rtol = rtol[()]  # a 0-d array: its scalar, as numpy scalars are taken
    if isinstance(rtol, (bool, np.bool_)) or not isinstance(rtol, numbers.Real):
        msg = f"`rtol` must be None or a real number >= 0, got {short_repr(rtol)}"
        raise TypeError(msg)
    value = float(rtol)
    if not value >= 0 or value == float("inf"):  # NaN fails `>=`
        msg = f"`rtol` must be None or a finite real number >= 0, got {short_repr(rtol)}"
        raise ValueError(msg)
    return value


def check_format(fmt: object) -> Format:
    """Return `fmt` if it is one of 'dense', 'csr', 'csc', 'coo'."""
    if not isinstance(fmt, str) or fmt not in _FORMATS:
        msg = f"`format` must be one of 'dense', 'csr', 'csc', 'coo', got {short_repr(fmt)}"
        raise ValueError(msg)
    return cast("Format", fmt)


def is_tensor(value: object) -> bool:
    """Whether `value` is a torch tensor (told by its type's module: torch is never imported)."""
    return type(value).__module__.split(".")[0] == "torch"


def check_tensor(value: object, name: str) -> None:
    """Refuse a torch tensor numpy cannot read as it is: one that requires grad (convmat
    computes no gradients) or one on another device than the CPU; say how to pass it."""
    if not is_tensor(value):
        return
    if getattr(value, "requires_grad", False):
        msg = (
            f"`{name}` is a torch tensor that requires grad, which numpy cannot read: pass "
            f"`{name}.detach()` (convmat computes no gradients; convmat.nn's transposed "
            "layers give the adjoint a backward pass needs)"
        )
        raise DTypeError(msg)
    device = getattr(value, "device", None)
    if device is not None and getattr(device, "type", "cpu") != "cpu":
        msg = (
            f"`{name}` is a torch tensor on device {device}, which numpy cannot read: "
            f"pass `{name}.cpu()`"
        )
        raise DTypeError(msg)


def check_array(
    value: object, name: str, *, ndim: int | None = None, min_ndim: int = 1
) -> np.ndarray:
    """Return `value` as a numeric ndarray in native byte order, refusing what scipy
    cannot convolve.

    The array is not copied (unless its bytes are swapped); callers never write to it.
    """
    if isinstance(value, np.ma.MaskedArray):
        msg = (
            f"`{name}` must not be a masked array (its mask would be ignored); "
            "fill it first, e.g. with `{name}.filled(0)`"
        )
        raise TypeError(msg.replace("{name}", name))
    check_tensor(value, name)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, RuntimeError) as exc:
        msg = f"`{name}` must be a numeric array, got {short_repr(value)} ({exc})"
        if is_tensor(value):
            msg += f": numpy cannot read this tensor's dtype; pass `{name}.float()`"
        raise DTypeError(msg) from None
    if arr.dtype.kind not in "biufc":
        msg = (
            f"`{name}` must have a numeric dtype (bool, integer, float or complex), "
            f"got dtype {arr.dtype}"
        )
        raise DTypeError(msg)
    if not arr.dtype.isnative:  # big-endian data (FITS files): numpy's own order, copied
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if ndim is not None and arr.ndim != ndim:
        msg = f"`{name}` must be {ndim}-D, got an array of shape {arr.shape}"
        raise ValueError(msg)
    if arr.ndim < min_ndim:
        msg = f"`{name}` must have at least {min_ndim} dimension(s), got shape {arr.shape}"
        raise ValueError(msg)
    return arr


def check_real(arr: np.ndarray, name: str, *, purpose: str = "") -> None:
    """Refuse complex `arr` (a TypeError naming `name` and its dtype); `purpose` says what
    the data must be real for (" to be drawn")."""
    if arr.dtype.kind == "c":
        msg = f"`{name}` must be real{purpose}, got dtype {arr.dtype}"
        raise TypeError(msg)


def check_finite(arr: np.ndarray, name: str) -> None:
    """Refuse `arr` where it holds NaN or inf (a ValueError naming `name`)."""
    if not np.isfinite(arr).all():
        msg = f"`{name}` must be finite, but it holds NaN or inf"
        raise ValueError(msg)


def check_blur_model(boundary: object) -> str:
    """The boundary model of a deblurring: 'unknown', or a boundary of
    :func:`~convmat.conv2d` that the solvers serve ('fill', 'wrap', 'symm', under any of
    its names)."""
    if boundary == "unknown":
        return "unknown"
    try:
        canon: str | None = check_boundary(boundary)
    except ValueError:
        canon = None
    if canon not in ("fill", "wrap", "symm"):
        msg = (
            "`boundary` must be one of 'unknown', 'fill', 'wrap', 'symm' "
            "(or scipy.signal's 'pad', 'circular', 'symmetric', scipy.ndimage's 'constant', "
            f"'grid-wrap', 'reflect'), got {short_repr(boundary)}"
        )
        raise ValueError(msg)
    return canon


def check_positive_real(value: object, name: str, *, zero: bool = False) -> float:
    """`value` as a finite float > 0 (>= 0 with `zero`): a TypeError for anything but a
    real number (bools included), a ValueError for the rest, each naming `name`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        msg = f"`{name}` must be a real number, got {short_repr(value)}"
        raise TypeError(msg)
    out = float(value)
    if not math.isfinite(out) or out < 0 or (out == 0 and not zero):
        allowed = ">= 0" if zero else "> 0"
        msg = f"`{name}` must be a finite real number {allowed}, got {short_repr(value)}"
        raise ValueError(msg)
    return out


def check_positive_int(value: object, name: str) -> int:
    """Return `value` as a Python int of at least 1 (bools refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        msg = f"`{name}` must be a positive int, got {short_repr(value)}"
        raise TypeError(msg)
    if value < 1:
        msg = f"`{name}` must be a positive int, got {value}"
        raise ValueError(msg)
    return int(value)


def check_fraction(value: object, name: str) -> float:
    """`value` as a float in the open interval (0, 1) (a TypeError for anything but a real
    number)."""
    out = check_positive_real(value, name)
    if out >= 1:
        msg = f"`{name}` must be in (0, 1), got {short_repr(value)}"
        raise ValueError(msg)
    return out


def check_flag(value: object, name: str) -> bool:
    """`value` as a bool: Python's or numpy's, nothing else (1 and 'yes' refused)."""
    if not isinstance(value, (bool, np.bool_)):
        msg = f"`{name}` must be a bool, got {short_repr(value)}"
        raise TypeError(msg)
    return bool(value)


def check_callable(value: object, name: str) -> None:
    """Refuse anything but a callable or None."""
    if value is not None and not callable(value):
        msg = f"`{name}` must be callable or None, got {short_repr(value)}"
        raise TypeError(msg)


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """`value` if it is one of the strings `choices` (a ValueError naming them otherwise)."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        msg = f"`{name}` must be one of {allowed}, got {short_repr(value)}"
        raise ValueError(msg)
    return value


def check_weight(value: object, name: str, rules: tuple[str, ...]) -> float | str:
    """A non-negative finite number (as a float), or the name of a rule among `rules` that
    chooses one."""
    allowed = "a non-negative number, " + ", ".join(repr(r) for r in rules[:-1])
    allowed += f" or {rules[-1]!r}"
    if isinstance(value, str):
        if value not in rules:
            msg = f"`{name}` must be {allowed}, got {short_repr(value)}"
            raise ValueError(msg)
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        msg = f"`{name}` must be {allowed}, got {short_repr(value)}"
        raise TypeError(msg)
    out = float(value)
    if not out >= 0 or not math.isfinite(out):
        msg = f"`{name}` must be a non-negative finite number, got {short_repr(value)}"
        raise ValueError(msg)
    return out


def check_channel_axis(channel_axis: object, shape: tuple[int, ...], name: str) -> int | None:
    """The axis of an array of `shape` that holds colour channels, as scikit-image spells
    it (``channel_axis``), as a non-negative index; None for none, with a warning where the
    last axis of a 3-D or larger array has 3 or 4 entries (likely RGB or RGBA taken as the
    image's width)."""
    ndim = len(shape)
    if channel_axis is None:
        if ndim >= 3 and shape[-1] in (3, 4):
            warnings.warn(
                f"`{name}` has shape {shape}: its last two axes are taken as the image "
                f"({shape[-2]} x {shape[-1]}) and the leading ones as a batch; if the last "
                "axis holds colour channels, pass channel_axis=-1",
                UserWarning,
                stacklevel=caller_level(),
            )
        return None
    if not isinstance(channel_axis, numbers.Integral) or isinstance(channel_axis, (bool, np.bool_)):
        msg = f"`channel_axis` must be an int or None, got {short_repr(channel_axis)}"
        raise TypeError(msg)
    if ndim < 3 or not -ndim <= int(channel_axis) < ndim:
        msg = (
            f"`channel_axis` must be an axis of `{name}` (at least 3-D with it), "
            f"got {channel_axis} for shape {shape}"
        )
        raise ValueError(msg)
    return int(channel_axis) % ndim


def check_nonempty(shape: tuple[int, ...], name: str) -> None:
    """Refuse a shape with a zero-length axis."""
    if any(s == 0 for s in shape):
        msg = f"`{name}` must not be empty, got shape {shape}"
        raise ValueError(msg)


def check_shape(
    value: object, name: str, ndim: int, entries: str = "one per kernel axis"
) -> tuple[int, ...]:
    """Return `value` as a tuple of `ndim` positive Python ints (`entries` says what they are)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        msg = f"`{name}` must be a sequence of {ndim} positive integers, got {short_repr(value)}"
        raise TypeError(msg)
    items = list(cast("list[object]", value))
    if len(items) != ndim:
        msg = f"`{name}` must have {ndim} entries ({entries}), got {short_repr(value)} with {len(items)}"
        raise ValueError(msg)
    out = []
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Integral):
            msg = f"`{name}` must hold integers, got {short_repr(value)}"
            raise TypeError(msg)
        size = operator.index(item)
        if size <= 0:
            msg = f"`{name}` must hold positive integers, got {short_repr(value)}"
            raise ValueError(msg)
        out.append(size)
    return tuple(out)


def check_valid_shapes(mode: Mode, in_shape: tuple[int, ...], k_shape: tuple[int, ...]) -> None:
    """Raise scipy's error when 'valid' mode has no input that contains the other."""
    if mode != "valid":
        return
    if all(n >= m for n, m in zip(in_shape, k_shape, strict=True)):
        return
    if all(m >= n for n, m in zip(in_shape, k_shape, strict=True)):
        return
    msg = (
        "For 'valid' mode, one must be at least as large as the other in every "
        f"dimension: got input shape {in_shape} and kernel shape {k_shape}"
    )
    raise ValueError(msg)


def check_fillvalue(value: object, dtype: np.dtype, *, used: bool = True) -> np.generic:
    """Return `value` as a scalar of `dtype`: exactly for integers, rounded to nearest for
    floats (as scipy rounds it); a value an integer dtype cannot hold, or a finite one
    beyond a float dtype's range, is refused. Unless `used` (boundaries 'wrap' and 'symm'
    never read it), only its type and size are checked, and zero is returned."""
    if isinstance(value, (list, tuple, np.ndarray)):
        size = np.size(value)
        if size != 1:
            what = "cannot be empty" if size == 0 else "must be scalar or an array with one element"
            msg = f"`fillvalue` {what}, got {short_repr(value)}"
            raise ValueError(msg)
        value = np.asarray(value).reshape(())[()]  # scipy accepts one element in any shape
    if isinstance(value, (bool, np.bool_)):
        value = int(value)  # scipy takes True as 1
    if not isinstance(value, numbers.Number):
        msg = f"`fillvalue` must be a real or complex scalar, got {short_repr(value)}"
        raise DTypeError(msg)
    if not used:
        return cast("np.generic", dtype.type(0))
    arr = np.asarray(value)
    exact = True
    if arr.dtype.kind == "c" and dtype.kind != "c":
        if arr.imag != 0:
            msg = (
                f"could not cast `fillvalue` directly to the output dtype {dtype}: "
                f"{short_repr(value)} is complex and the output is real; pass a real "
                "fillvalue, or complex arrays"
            )
            raise ValueError(msg)
        arr = arr.real
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            cast_value = arr.astype(dtype)[()]
            if dtype.kind in "fc":  # rounded, never overflowed
                same = bool(np.isfinite(cast_value) or not np.isfinite(arr))
            else:
                same = np.array(cast_value == arr).item()
        exact = exact and bool(same)
    except (TypeError, ValueError, OverflowError):
        exact = False
    if not exact:
        msg = (
            f"could not cast `fillvalue` directly to the output dtype {dtype}: "
            f"{short_repr(value)} "
            + (
                "is beyond its range"
                if dtype.kind in "fc"
                else "cannot be represented exactly in it"
            )
            + "; pass a value of that dtype or convert the arrays first"
        )
        raise ValueError(msg)
    return cast("np.generic", cast_value)


def result_dtype(a: npt.NDArray[np.generic], b: npt.NDArray[np.generic], what: str) -> np.dtype:
    """Return scipy's result dtype for convolving `a` with `b`."""
    dtype = np.result_type(a.dtype, b.dtype)
    if dtype == np.bool_:
        msg = (
            f"{what} of two boolean arrays is not defined (scipy refuses it too); "
            "convert one of them to an integer dtype, e.g. `.astype(np.int64)`"
        )
        raise DTypeError(msg)
    return dtype


P = ParamSpec("P")
R = TypeVar("R")


# convmat's own directory (this module is in its _core subpackage)
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside convmat.

    Called by the function that warns: wrappers and helpers between the user's
    line and the warning (whatever their number) are passed over.
    """
    frame = sys._getframe(1)  # the function that warns: stacklevel 1
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level


def keyword_only_hint(func: Callable[P, R]) -> Callable[P, R]:
    """`func`, refusing surplus positional arguments with a message that names its
    keyword-only options (Python's own says only how many positional ones it takes)."""
    params = list(inspect.signature(func).parameters.values())
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keyword = [p.name for p in params if p.kind == p.KEYWORD_ONLY]
    if not keyword:  # Python's own message says it all
        return func
    most = len(positional)
    shown = positional[1:] if positional[:1] == ["self"] else positional
    name = func.__qualname__.removesuffix(".__init__")

    @functools.wraps(func)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        if len(args) > most:
            extra = args[most:]
            hint = ", ".join(f"{k}={short_repr(v)}" for k, v in zip(keyword, extra, strict=False))
            msg = (
                f"{name}() takes at most {len(shown)} positional arguments "
                f"({', '.join(shown)}), got {len(args) - most + len(shown)}: "
                f"{', '.join(f'`{k}`' for k in keyword)} "
                f"{'is' if len(keyword) == 1 else 'are'} keyword-only; pass e.g. {hint}"
            )
            raise TypeError(msg)
        return func(*args, **kwargs)

    return checked


def scipy_order(func: Callable[P, R]) -> Callable[P, R]:
    """`func` (``convolve`` or ``correlate``: scipy's ``(in1, in2, mode, method)``), refusing
    a boundary passed where convmat's earlier signature took it, fourth, with a message
    that says where it goes now."""
    name = func.__qualname__

    @functools.wraps(func)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        if len(args) >= 4 and isinstance(args[3], str) and args[3] in _BOUNDARIES:
            given = [f"boundary={args[3]!r}"]
            if len(args) >= 5:
                given.append(f"fillvalue={short_repr(args[4])}")
            msg = (
                f"{name}()'s fourth positional argument is `method`, as in "
                f"scipy.signal.{name}, and {args[3]!r} is a boundary: pass "
                f"{', '.join(given)} as keywords"
            )
            raise (ValueError if len(args) == 4 else TypeError)(msg)
        return func(*args, **kwargs)

    return checked
