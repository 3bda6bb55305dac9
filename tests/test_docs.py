"""The documentation: every public name has a reference page, every guide page is linked."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

import convmat
from convmat import nn, psf

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _documented() -> set[str]:
    """Fully qualified names listed in the API page's autosummary tables."""
    names, module = set(), "convmat"
    for line in (DOCS / "api.rst").read_text().splitlines():
        current = re.match(r"\.\. (?:current)?module:: (\S+)", line)
        if current:
            module = current.group(1)
        elif re.match(r"^   [A-Za-z_]\w*$", line):
            names.add(f"{module}.{line.strip()}")
    return names


def test_every_public_name_has_a_reference_page() -> None:
    public = {f"convmat.{n}" for n in convmat.__all__ if n not in ("__version__", "nn", "psf")}
    public |= {f"convmat.nn.{n}" for n in nn.__all__}
    public |= {f"convmat.psf.{n}" for n in psf.__all__}
    public |= {"convmat.plot.plot_matrix", "convmat.plot.figure_pixels"}  # the drawing
    cdask = pytest.importorskip("convmat.dask", reason="dask is the [dask] extra")
    public |= {f"convmat.dask.{n}" for n in cdask.__all__}
    documented = _documented()
    assert public - documented == set()
    assert documented - public == set()


def test_every_guide_page_is_in_the_guide_toctree() -> None:
    index = (DOCS / "guide" / "index.rst").read_text()
    pages = {p.stem for p in (DOCS / "guide").glob("*.*") if p.suffix in (".rst", ".md")}
    pages -= {"index"}
    listed = set(re.findall(r"^   ([\w-]+)$", index, flags=re.MULTILINE))
    assert pages == listed


def test_gallery_examples_have_a_title_and_draw_a_figure() -> None:
    """sphinx-gallery needs a title in the docstring; each example draws what it shows."""
    examples = sorted(EXAMPLES.glob("plot_*.py"))
    assert len(examples) >= 5
    for path in examples:
        text = path.read_text()
        docstring = text.split('"""')[1].strip().splitlines()
        assert set(docstring[1]) == {"="}, path.name
        assert len(docstring[1]) == len(docstring[0]), path.name
        assert "plt.show()" in text or "plt.subplots" in text, path.name


def test_every_reference_page_has_a_runnable_example() -> None:
    """Each name on the API page (methods included) documents an example that runs as a test."""
    import inspect

    for qualified in _documented() | {
        f"convmat.ConvOperator.{m}"
        for m in ("__call__", "apply", "apply_transpose", "method_for", "matrix", "view", "conj")
    }:
        module, _, name = qualified.rpartition(".")
        if module.endswith("ConvOperator"):
            module, name = module.removesuffix(".ConvOperator"), f"ConvOperator.{name}"
        if module == "convmat.dask" and importlib.util.find_spec("dask") is None:
            continue  # the [dask] extra's pages: checked where it is installed
        obj: object = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
        doc = inspect.getdoc(obj) or ""
        assert "Examples" in doc, qualified
        assert ">>>" in doc, qualified


def test_install_instructions_name_what_can_be_installed() -> None:
    """convmat is installed from its checkout (``pip install .``): no page tells a user
    to fetch a package named convmat from an index."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs" / "guide").glob("*.*"))]
    pages += [
        *sorted((ROOT / "docs").glob("*.rst")),
        *sorted((ROOT / "src" / "convmat").rglob("*.py")),
    ]
    for page in pages:
        text = page.read_text()
        assert not re.search(r"pip install \"?convmat\b", text), page
    assert 'pip install ".[dask]"' in (ROOT / "docs" / "index.rst").read_text()
    assert "pip install ." in (ROOT / "docs" / "index.rst").read_text()
