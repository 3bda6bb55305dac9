"""ConvOperator: build a convolution once, apply it many times, fast.

A :class:`ConvOperator` is a :class:`scipy.sparse.linalg.LinearOperator`, so
``lsqr``, ``cg`` and friends accept it, and it applies itself to whole batches
of arrays, choosing per call the fastest exact method by a cost model (see
``convmat._engines.cost``) unless told which to use.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from ._core.budget import (
    check_dense_fits,
    check_result_fits,
    check_sparse_fits,
    get_max_dense_bytes,
    get_max_working_bytes,
)
from ._core.errors import DTypeError
from ._core.plan import checked_plan, compute_dtype, matrix_dtype
from ._core.validate import (
    Boundary,
    Format,
    MethodArg,
    Mode,
    check_array,
    check_method,
    check_method_axes,
    check_positive_int,
    check_rtol,
    check_tensor,
    keyword_only_hint,
    result_dtype,
)
from ._engines.apply import (
    default_rtol,
    light_path_serves,
    padding_fill,
    resolve_method,
    small_sparse,
)
from ._engines.cache import kernel_key
from ._engines.engine import METHOD_ADVICE, Engine, Method
from ._engines.pipeline import Request, run
from .toeplitz import conv_matrix

__all__ = ["ConvOperator"]


class _Guarded(LinearOperator):  # type: ignore[misc]
    """scipy's entry points read their argument with numpy first: a torch tensor that
    requires grad (or lives on a GPU) is refused there, with the way to pass it; an
    argument of the wrong length is refused with both lengths (scipy says only
    "dimension mismatch")."""

    def _check_length(self, x: Any, name: str, *, adjoint: bool) -> None:
        check_tensor(x, name)
        if isinstance(x, LinearOperator) or np.ndim(x) not in (1, 2):
            return
        rows, cols = self.shape
        want = rows if adjoint else cols
        got = np.shape(x)[0]
        if got != want:
            product = "A.H @ y" if adjoint else "A @ x"
            msg = (
                f"`{name}` must have {want} entries along its first axis for {product} "
                f"(the operator's shape is {self.shape}), got shape {np.shape(x)}"
            )
            raise ValueError(msg)

    def dot(self, x: Any) -> Any:
        self._check_length(x, "x", adjoint=False)
        return super().dot(x)

    def matvec(self, x: Any) -> Any:
        self._check_length(x, "x", adjoint=False)
        return super().matvec(x)

    def matmat(self, X: Any) -> Any:
        self._check_length(X, "X", adjoint=False)
        return super().matmat(X)

    def rmatvec(self, x: Any) -> Any:
        self._check_length(x, "x", adjoint=True)
        return super().rmatvec(x)

    def rmatmat(self, X: Any) -> Any:
        self._check_length(X, "X", adjoint=True)
        return super().rmatmat(X)


class ConvOperator(_Guarded):
    """The convolution with a fixed kernel over inputs of a fixed shape, as an operator.

    Parameters
    ----------
    kernel : array_like
        The filter, of any number of dimensions.
    input_shape : tuple of int
        Shape of one input; one entry per kernel axis.
    mode, boundary
        As in :func:`convmat.conv_matrix`.
    method : {'auto', 'direct', 'sparse', 'dense', 'shift', 'fft', 'banded'}
        How products are computed; all give ``A @ x`` up to rounding.
        'sparse': the CSR matrix. 'dense': the dense matrix and BLAS.
        'shift': shift-and-add, one vectorised pass per nonzero tap.
        'banded' (2-D kernels, float and complex): the doubly blocked
        Toeplitz structure as one GEMM, each kernel row's banded block cut
        into tiles of the width and applied to every image row of the batch.
        'fft': the Toeplitz product diagonalised by the FFT, with the kernel's
        spectrum computed once (float and complex kernels only: integers stay
        exact). 'auto' picks per call by a cost model in flops and bytes;
        'direct' (scipy's name) picks the cheapest of the others but the FFT.
        Inputs holding NaN or inf are summed tap by tap over every tap, as a
        direct convolution sums them, so that they stay local.
    rtol : float, optional
        The accuracy of 'auto', as in :func:`convmat.conv2d`: every float
        output within ``max(rtol, taps * eps)`` of ``|A| @ |x|`` of the exact
        value (``|A|.T @ |y|`` for a transpose). None: 0 for half and single
        precision, ``1e-10`` for double.

    Attributes
    ----------
    input_shape, output_shape : tuple of int
        Shapes of one input and one output.
    shape : tuple of int
        ``(prod(output_shape), prod(input_shape))``.
    dtype : numpy.dtype
        The working dtype (the kernel's; int64 for integer kernels, float32
        for float16).
    nbytes : int
        Bytes held now (kernel, and the matrix or spectrum once built).
    method : str
        The method asked for.
    rtol : float or None
        The accuracy asked for.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import convolve2d
    >>> from scipy.sparse.linalg import lsqr
    >>> import convmat
    >>> k = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> op = convmat.ConvOperator(k, (5, 6), "same", "symm")
    >>> op.shape, op.output_shape
    ((30, 30), (5, 6))
    >>> batch = np.arange(2 * 5 * 6, dtype=float).reshape(2, 5, 6)
    >>> np.allclose(op(batch)[1], convolve2d(batch[1], k, "same", "symm"))
    True
    >>> np.allclose(op.T(op(batch)), convmat.conv_transpose2d(op(batch), k, "same", "symm"))
    True
    >>> blur = convmat.ConvOperator(k, (5, 6))  # 'full' with zero fill: injective
    >>> x = lsqr(blur, blur @ batch[0].ravel(), atol=1e-12, btol=1e-12)[0]
    >>> np.allclose(x, batch[0].ravel())
    True
    """

    @keyword_only_hint
    def __init__(
        self,
        kernel: npt.ArrayLike,
        input_shape: tuple[int, ...] | list[int],
        mode: Mode = "full",
        boundary: Boundary = "fill",
        *,
        method: MethodArg = "auto",
        rtol: float | None = None,
    ) -> None:
        k, plan = checked_plan(kernel, input_shape, mode, boundary)
        method = check_method(method, k.dtype)
        self.rtol: float | None = check_rtol(rtol)
        check_method_axes(method, k.ndim)
        work = compute_dtype(matrix_dtype(k.dtype))
        if method == "dense":
            check_dense_fits(plan, work, None, METHOD_ADVICE)
        elif method == "sparse":
            check_sparse_fits(plan, work)
        super().__init__(dtype=matrix_dtype(k.dtype), shape=plan.shape)
        self._kernel = k.astype(work)  # our own copy: later changes to `kernel` do not leak in
        self._kernel.flags.writeable = False
        self._kernel_dtype = k.dtype
        self._complex = k.dtype.kind == "c"
        self._plan = plan
        self._mode, self._boundary = mode, boundary
        pad = padding_fill(
            np.int8(0), str(plan.mode), str(plan.boundary), plan.input_shape, k.shape
        )
        self._padding_products = pad is not None
        self._engines: dict[str, Engine] = {}
        self._requests: dict[tuple[int, str, int, int, bool], Request] = {}
        # per (dtype, budgets): the engine whose built CSR serves one finite image of that
        # dtype by the light path, found by a first call through the whole pipeline
        self._light: dict[tuple[str, int, int], Engine] = {}
        self._lock = threading.Lock()
        self.input_shape: tuple[int, ...] = plan.input_shape
        self.output_shape: tuple[int, ...] = plan.output_shape
        self.method: str = method

    # -- engines ----------------------------------------------------------------
    def _engine(self, work: np.dtype) -> Engine:
        work = compute_dtype(work)
        with self._lock:
            engine = self._engines.get(work.str)
            if engine is None:
                engine = Engine(self._kernel.astype(work), self._plan)
                self._engines[work.str] = engine
            return engine

    @property
    def nbytes(self) -> int:
        """Bytes held: the kernel and whatever matrices or spectra were built."""
        return int(self._kernel.nbytes) + sum(e.nbytes for e in self._engines.values())

    def method_for(self, batch: int = 1, dtype: npt.DTypeLike | None = None) -> Method:
        """The method used for a batch of `batch` finite inputs of `dtype`.

        Parameters
        ----------
        batch : int
            Number of inputs applied in one call, at least 1.
        dtype : dtype, optional
            Their dtype (numeric); the operator's own by default.

        Examples
        --------
        >>> import numpy as np
        >>> import convmat
        >>> k = np.random.default_rng(0).random((31, 31))
        >>> op = convmat.ConvOperator(k, (512, 512), "same")
        >>> op.method_for(1)
        'fft'
        >>> convmat.ConvOperator(np.ones((3, 3)), (64, 64), method="shift").method_for(8)
        'shift'
        """
        size = check_positive_int(batch, "batch")
        data = self._kernel_dtype if dtype is None else _numeric_dtype(dtype)
        work = result_dtype(np.empty(0, data), np.empty(0, self._kernel_dtype), "convolution")
        # integers never get an inexact method: the cost model does not offer one, and the
        # constructor refuses one for an integer kernel (whose data then works in integers)
        return resolve_method(
            self._engine(work), size, self.method, amortized=True, rtol=self._rtol(work)
        )

    def _rtol(self, dtype: np.dtype) -> float:
        return default_rtol(dtype) if self.rtol is None else self.rtol

    # -- application --------------------------------------------------------------
    def _run(self, arr: np.ndarray, n_in: int, *, transpose: bool, conjugate: bool) -> np.ndarray:
        """``A``, ``A.T``, ``conj(A)`` or ``A.H`` applied to the rows of `arr` reshaped to `n_in`."""
        dtype = result_dtype(arr, np.empty(0, self._kernel_dtype), "convolution")
        batch = arr.reshape(-1, n_in)
        conj = conjugate and self._complex  # conj(A) x == conj(A conj(x)); a real A is its own
        if conj:
            batch = batch.conj()
        key = (batch.shape[0], dtype.str, get_max_dense_bytes(), get_max_working_bytes(), transpose)
        request = self._requests.get(key)
        if request is None:  # the choice depends on shapes only: decide once per batch size
            method = self.method_for(batch.shape[0] or 1, dtype)
            # the products of the taps with the zero padding, as conv2d and convolve count them
            fill = dtype.type(0) if self._padding_products and not transpose else None
            request = self._requests[key] = Request(
                self._kernel,
                self._plan,
                (batch.shape[0],),
                dtype,
                method,
                self._rtol(dtype),
                fill=fill,
                transpose=transpose,
            )
        engine = self._engine(dtype)
        out = run(request, batch, engine, amortized=True, certify=self.method == "auto")
        if (
            batch.shape[0] == 1
            and not transpose
            and not conj
            and batch.dtype == dtype
            and request.fill in (None, 0)
            and resolve_method(engine, 1, request.method, amortized=True, rtol=self._rtol(dtype))
            == "sparse"
            and light_path_serves(engine, batch.shape[1], dtype)
        ):  # the light path served it: later calls go straight to it
            self._light[(dtype.str, key[2], key[3])] = engine
        out = out.reshape(batch.shape[0], self.shape[1] if transpose else self.shape[0])
        return out.conj() if conj else out

    def _apply_shaped(
        self, arr_like: npt.ArrayLike, name: str, *, transpose: bool, conjugate: bool = False
    ) -> np.ndarray:
        """Apply ``A`` (or ``A.T``) to arrays ending in the input (or output) shape."""
        shape_in, shape_out = (
            (self.output_shape, self.input_shape)
            if transpose
            else (self.input_shape, self.output_shape)
        )
        if (
            not transpose
            and type(arr_like) is np.ndarray
            and arr_like.shape == shape_in
            and (not conjugate or not self._complex)
        ):  # one plain image: the light path, where a first call found that it serves
            engine = self._light.get(
                (arr_like.dtype.str, get_max_dense_bytes(), get_max_working_bytes())
            )
            if engine is not None:
                light = small_sparse(arr_like.reshape(1, -1), engine, arr_like.dtype)
                if light is not None:
                    return light.reshape(shape_out)
        if _is_dask(arr_like):  # a lazy batch: one block per chunk of its batch axes
            from ._blocks.operator import apply_operator

            return apply_operator(  # type: ignore[return-value]
                self, arr_like, transpose=transpose, conjugate=conjugate
            )
        nd = len(shape_in)
        arr = check_array(arr_like, name, min_ndim=nd)
        if arr.shape[arr.ndim - nd :] != shape_in:
            msg = f"`{name}` must end in shape {shape_in}, got shape {arr.shape}"
            raise ValueError(msg)
        check_result_fits(
            math.prod(arr.shape[: arr.ndim - nd]),
            math.prod(shape_in),
            math.prod(shape_out),
            compute_dtype(
                result_dtype(arr, np.empty(0, self._kernel_dtype), "convolution")
            ).itemsize,
            f"`{name}` of shape {arr.shape} through an operator of shape {self.shape}",
            "pass fewer inputs per call",
        )
        out = self._run(arr, math.prod(shape_in), transpose=transpose, conjugate=conjugate)
        return out.reshape(*arr.shape[: arr.ndim - nd], *shape_out)

    def apply(
        self, x: npt.ArrayLike, *, transpose: bool = False, conjugate: bool = False
    ) -> np.ndarray:
        """Apply ``A``, ``A.T``, ``conj(A)`` or ``A.H`` to a batch: ``op(x)``, ``op.T(x)``,
        ``op.conj()(x)`` or ``op.H(x)`` in one method.

        Parameters
        ----------
        x : array_like or dask.array.Array
            Shape ``(..., *input_shape)``, or ``(..., *output_shape)`` with
            `transpose`; a dask array gives a lazy result (see :meth:`__call__`).
        transpose : bool
            Apply the transpose.
        conjugate : bool
            Apply the entrywise conjugate (with `transpose`, the adjoint).

        Returns
        -------
        ndarray
            Shape ``(..., *output_shape)`` (``(..., *input_shape)`` with `transpose`).

        Examples
        --------
        >>> import numpy as np
        >>> import convmat
        >>> op = convmat.ConvOperator(np.array([[1j, 2]]), (1, 3))
        >>> y = np.ones((1, 4))
        >>> np.array_equal(op.apply(y, transpose=True, conjugate=True), op.H(y))
        True
        """
        name = "y" if transpose else "x"  # the names of __call__ and apply_transpose
        return self._apply_shaped(x, name, transpose=transpose, conjugate=conjugate)

    def __call__(self, x: npt.ArrayLike) -> np.ndarray:
        """Apply to ``x`` of shape ``(..., *input_shape)``; return ``(..., *output_shape)``.

        A dask array gives a lazy dask array: one product per chunk of its
        batch axes (its trailing axes are joined into one chunk each), on
        any scheduler; its transpose (``op.T(y)``) likewise.

        Examples
        --------
        >>> import numpy as np
        >>> import convmat
        >>> op = convmat.ConvOperator(np.ones((2, 2)), (3, 4))
        >>> op(np.ones((5, 3, 4))).shape                      # a batch of five
        (5, 4, 5)
        >>> op(np.ones((3, 4)))[0]
        array([1., 2., 2., 2., 1.])
        """
        return self._apply_shaped(x, "x", transpose=False)

    def apply_transpose(self, y: npt.ArrayLike) -> np.ndarray:
        """Apply ``A.T`` to ``y`` of shape ``(..., *output_shape)``; the same as ``op.T(y)``.

        Examples
        --------
        >>> import numpy as np
        >>> import convmat
        >>> op = convmat.ConvOperator(np.array([[1, 2]]), (2, 3))
        >>> op.apply_transpose(np.ones((2, 4), dtype=int))
        array([[3, 3, 3],
               [3, 3, 3]])
        """
        return self._apply_shaped(y, "y", transpose=True)

    def _flat(self, x: np.ndarray, *, transpose: bool, conjugate: bool, vector: bool) -> np.ndarray:
        """scipy's flat convention: a vector, or the columns of a matrix."""
        n_in = self.shape[0] if transpose else self.shape[1]
        arr = np.asarray(x)
        rows = arr.reshape(1, -1) if vector else arr.T
        out = self._run(rows, n_in, transpose=transpose, conjugate=conjugate)
        return out.reshape(-1) if vector else np.asarray(out.T)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._flat(x, transpose=False, conjugate=False, vector=True)

    def _matmat(self, x: np.ndarray) -> np.ndarray:
        return self._flat(x, transpose=False, conjugate=False, vector=False)

    def _rmatvec(self, y: np.ndarray) -> np.ndarray:
        return self._flat(y, transpose=True, conjugate=True, vector=True)

    def _rmatmat(self, y: np.ndarray) -> np.ndarray:
        return self._flat(y, transpose=True, conjugate=True, vector=False)

    def view(self, *, transpose: bool, conjugate: bool) -> LinearOperator:
        """``A`` itself, ``A.T``, ``A.H`` or ``conj(A)``, each an operator of its own.

        Examples
        --------
        >>> import numpy as np
        >>> import convmat
        >>> op = convmat.ConvOperator(np.array([[1j, 2]]), (2, 3))
        >>> adjoint = op.view(transpose=True, conjugate=True)      # the same as op.H
        >>> adjoint.shape, adjoint(np.ones((2, 4)))[0]
        ((6, 8), array([2.-1.j, 2.-1.j, 2.-1.j]))
        """
        if not transpose and not conjugate:
            return self
        return _ConvView(self, transpose=transpose, conjugate=conjugate)

    def _transpose(self) -> LinearOperator:
        return self.view(transpose=True, conjugate=False)

    def _adjoint(self) -> LinearOperator:
        return self.view(transpose=True, conjugate=True)

    def conj(self) -> LinearOperator:
        """The operator whose matrix is ``conj(A)`` (``A`` itself for a real kernel).

        Examples
        --------
        >>> import numpy as np
        >>> import convmat
        >>> op = convmat.ConvOperator(np.array([[1j, 2]]), (1, 2))
        >>> x = np.array([[1.0, 1j]])
        >>> np.array_equal(op.conj()(x), np.conj(op(np.conj(x))))
        True
        """
        return self.view(transpose=False, conjugate=True)

    def matrix(self, format: Format = "csr") -> np.ndarray | sp.sparray:  # noqa: A002
        """The explicit matrix, as :func:`convmat.conv_matrix` builds it.

        Parameters
        ----------
        format : {'csr', 'csc', 'coo', 'dense'}
            The matrix's format.

        Examples
        --------
        >>> import convmat
        >>> op = convmat.ConvOperator([[1, 2]], (1, 2), "same", "wrap")
        >>> op.matrix("dense")
        array([[1, 2],
               [2, 1]])
        """
        return conv_matrix(
            self._kernel.astype(self.dtype),
            self.input_shape,
            self._mode,
            self._boundary,
            format=format,
        )

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickled as its arguments; unpickled as the process's one operator with them, so
        that a worker builds its engines once however many tasks bring the operator."""
        kernel = self._kernel.astype(self._kernel_dtype)
        args = (kernel, self.input_shape, self._mode, self._boundary, self.method, self.rtol)
        return _shared, args

    def __dask_tokenize__(self) -> tuple[object, ...]:
        """What identifies the operator in a dask graph: its arguments, the kernel's digest."""
        kernel = self._kernel.astype(self._kernel_dtype)
        return (
            "ConvOperator",
            kernel_key(kernel),
            self.input_shape,
            self._mode,
            self._boundary,
            self.method,
            self.rtol,
        )

    def __repr__(self) -> str:
        return (
            f"<ConvOperator {self.shape[0]}x{self.shape[1]}: kernel {self._kernel.shape} over "
            f"{self.input_shape}, mode '{self._mode}', boundary '{self._boundary}', "
            f"method '{self.method}', dtype {self.dtype}>"
        )


class _ConvView(_Guarded):
    """``A.T``, ``A.H`` or ``conj(A)`` of a :class:`ConvOperator`, sharing its engines.

    The four views (``A``, ``A.T``, ``A.H``, ``conj(A)``) are closed under
    ``.T``, ``.H`` and ``.conj()``, so every chain of them is an operator.
    """

    def __init__(self, parent: ConvOperator, *, transpose: bool, conjugate: bool) -> None:
        shape = (parent.shape[1], parent.shape[0]) if transpose else parent.shape
        super().__init__(dtype=parent.dtype, shape=shape)
        self._parent = parent
        self._t, self._c = transpose, conjugate
        self.input_shape = parent.output_shape if transpose else parent.input_shape
        self.output_shape = parent.input_shape if transpose else parent.output_shape

    def __call__(self, x: npt.ArrayLike) -> np.ndarray:
        """Apply to arrays of shape ``(..., *input_shape)``."""
        return self._parent.apply(x, transpose=self._t, conjugate=self._c)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._parent._flat(x, transpose=self._t, conjugate=self._c, vector=True)

    def _matmat(self, x: np.ndarray) -> np.ndarray:
        return self._parent._flat(x, transpose=self._t, conjugate=self._c, vector=False)

    def _rmatvec(self, y: np.ndarray) -> np.ndarray:
        return self._parent._flat(y, transpose=not self._t, conjugate=not self._c, vector=True)

    def _rmatmat(self, y: np.ndarray) -> np.ndarray:
        return self._parent._flat(y, transpose=not self._t, conjugate=not self._c, vector=False)

    def _transpose(self) -> LinearOperator:
        return self._parent.view(transpose=not self._t, conjugate=self._c)

    def _adjoint(self) -> LinearOperator:
        return self._parent.view(transpose=not self._t, conjugate=not self._c)

    def conj(self) -> LinearOperator:
        """The elementwise conjugate of this view."""
        return self._parent.view(transpose=self._t, conjugate=not self._c)


_SHARED_MAX = 16
_shared_lock = threading.Lock()
_shared_ops: OrderedDict[tuple[object, ...], ConvOperator] = OrderedDict()


def _shared(
    kernel: np.ndarray,
    input_shape: tuple[int, ...],
    mode: Mode,
    boundary: Boundary,
    method: str,
    rtol: float | None = None,
) -> ConvOperator:
    """The operator with these arguments, one per process (the last 16 kept)."""
    key = (kernel_key(kernel), input_shape, mode, boundary, method, rtol)
    with _shared_lock:
        op = _shared_ops.get(key)
        if op is not None:
            _shared_ops.move_to_end(key)
            return op
    op = ConvOperator(kernel, input_shape, mode, boundary, method=method, rtol=rtol)  # type: ignore[arg-type]
    with _shared_lock:
        op = _shared_ops.setdefault(key, op)
        while len(_shared_ops) > _SHARED_MAX:
            _shared_ops.popitem(last=False)
    return op


def _is_dask(value: object) -> bool:
    """Whether `value` is a dask collection (told without importing dask)."""
    return type(value).__module__.startswith("dask.") and hasattr(value, "__dask_graph__")


def _numeric_dtype(dtype: object) -> np.dtype:
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        msg = f"`dtype` must be a numeric dtype, got {dtype!r}"
        raise DTypeError(msg) from None
    if dt.kind not in "biufc":
        msg = f"`dtype` must be a numeric dtype (bool, integer, float or complex), got {dt}"
        raise DTypeError(msg)
    return cast("np.dtype", dt)
