"""The public surface: every name exported, documented, with a runnable example."""

import inspect

import pytest

import convmat
from convmat import conv, deblur, fftconv, linop, nn, psf, spectral, toeplitz
from convmat.nn import _functional, _norm

try:  # the [dask] extra
    import convmat.dask as cdask
except ImportError:  # its tests below skip
    cdask = None
DASK = (
    [cdask]
    if cdask is not None
    else [pytest.param(None, marks=pytest.mark.skip("dask is the [dask] extra"))]
)

PUBLIC = [
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


def test_all_is_pinned():
    assert sorted(convmat.__all__) == PUBLIC


@pytest.mark.parametrize(
    "module",
    [conv, *DASK, deblur, fftconv, linop, _functional, _norm, psf, spectral, toeplitz],
    ids=lambda m: getattr(m, "__name__", "convmat.dask"),
)
def test_module_all_lists_its_public_functions(module):
    public = {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    }
    assert public <= set(module.__all__)
    for name in module.__all__:
        assert name in vars(module)


def test_nn_exports_what_its_modules_define() -> None:
    """``convmat.nn`` is its modules' public functions, re-exported, and nothing else."""
    assert sorted(nn.__all__) == sorted([*_functional.__all__, *_norm.__all__])
    for name in nn.__all__:
        assert getattr(nn, name) is getattr(_functional, name, getattr(_norm, name, None))


@pytest.mark.parametrize("name", [n for n in PUBLIC if n not in ("__version__", "nn", "psf")])
def test_documented(name):
    doc = inspect.getdoc(getattr(convmat, name))
    assert doc
    if inspect.isfunction(getattr(convmat, name)):
        assert "Examples" in doc
        assert ">>>" in doc


@pytest.mark.parametrize(
    ("module", "name"),
    [(nn, name) for name in nn.__all__]
    + [(psf, name) for name in psf.__all__]
    + [(cdask, name) for name in (cdask.__all__ if cdask is not None else [])],
)
def test_submodule_functions_documented(module, name):
    doc = inspect.getdoc(getattr(module, name))
    assert doc
    assert ">>>" in doc


def test_import_pulls_in_numpy_and_scipy_only_and_not_the_heavy_parts():
    """`import convmat` loads no third-party package beyond numpy and scipy, and none of
    scipy.signal, scipy.optimize, scipy.stats: deblurring and spectra import them on use."""
    import json
    import subprocess
    import sys

    def loaded(imports: str) -> tuple[set[str], str]:
        code = (
            f"import json, sys; {imports}; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules "
            "if not m.startswith('_')} - set(sys.stdlib_module_names)))); "
            "print([m for m in ('scipy.signal', 'scipy.optimize', 'scipy.stats') "
            "if m in sys.modules])"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        return set(json.loads(out[0])), out[1]

    ours, heavy = loaded("import convmat")
    # what numpy and the scipy modules convmat uses load by themselves (numpy.f2py,
    # which scipy.sparse reaches, imports charset_normalizer when it is installed)
    base, _ = loaded("import numpy, scipy.fft, scipy.linalg, scipy.sparse, scipy.sparse.linalg")
    # cython_runtime is the module Cython's extensions (scipy's) register
    assert ours <= base | {"convmat", "cython_runtime"}
    assert base - {"cython_runtime"} <= {"numpy", "scipy", "charset_normalizer"}
    assert heavy == "[]"


def _keyword_only_callables():
    for module in (convmat, convmat.nn, *([cdask] if cdask is not None else [])):
        for name in module.__all__:
            obj = getattr(module, name)
            if not callable(obj):
                continue
            try:
                params = inspect.signature(obj).parameters.values()
            except ValueError:  # a builtin exception's constructor
                continue
            keyword = [p.name for p in params if p.kind == p.KEYWORD_ONLY]
            positional = [p for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
            if keyword:
                yield pytest.param(obj, len(positional), keyword, id=f"{module.__name__}.{name}")


@pytest.mark.parametrize(("func", "positional", "keyword"), list(_keyword_only_callables()))
def test_a_keyword_only_option_passed_positionally_is_named(func, positional, keyword):
    """Python says only "takes from 2 to 4 positional arguments"; ours names the options,
    before any argument is read."""
    args = [object()] * (positional + 1)
    with pytest.raises(TypeError, match=rf"keyword-only; pass e\.g\. {keyword[0]}=") as info:
        func(*args)
    assert f"`{keyword[0]}`" in str(info.value)
    assert f"at most {positional} positional arguments" in str(info.value)
