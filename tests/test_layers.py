"""The package's import rule, read from its source: layers import only downwards.

The rule is the one :mod:`convmat`'s docstring states: ``_core`` imports no other
group; ``_engines`` imports ``_core``; the domains (``nn``, ``_inverse``, ``_blocks``)
import the two below them and not each other; each public module imports only the
public modules listed before it in ``PUBLIC`` and the groups below; the front ends
import anything but each other's internals. No module imports another module's
``_name``, and no circle of imports exists anywhere, lazy imports included. Each
subpackage's docstring lists its modules in that order. The tests mirror the layout
(``tests/core``, ``tests/engines``, ``tests/nn``, ``tests/inverse``; the public
modules' and front ends' tests in ``tests/``) and import as the code does.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import convmat

SRC = Path(convmat.__file__).resolve().parent
PUBLIC = (
    "toeplitz",
    "conv",
    "choose",
    "fftconv",
    "linop",
    "spectral",
    "psf",
    "deblur",
    "dask",
)
FRONT = ("demo", "explain", "plot", "cli", "__main__")
DOMAINS = ("nn", "_inverse", "_blocks")


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name within it (``_core.plan``, ``conv``)."""
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)
        found[name or "__init__"] = path
    return found


MODULES = _modules()


def _package(name: str, path: Path) -> list[str]:
    """The package a module's relative imports start from."""
    parts = [] if name == "__init__" else name.split(".")
    return parts if path.name == "__init__.py" else parts[:-1]


def _imports(name: str) -> list[tuple[str, str | None, int]]:
    """(module imported, name taken from it or None, line) for each import of `name`."""
    path = MODULES[name]
    found: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = _package(name, path)[: len(_package(name, path)) - (node.level - 1)]
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                if sub in MODULES:  # `from . import module`
                    found.append((sub, None, node.lineno))
                else:
                    found.append((target or "__init__", alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("convmat"):
            target = node.module.removeprefix("convmat").removeprefix(".") or "__init__"
            found.extend((target, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("convmat."):
                    found.append((alias.name.removeprefix("convmat."), None, node.lineno))
    return found


def _group(name: str) -> tuple[int, int]:
    """(layer, rank within the layer) of a module."""
    head = name.split(".", maxsplit=1)[0]
    if head == "_core":
        return 0, 0
    if head == "_engines":
        return 1, 0
    if head in DOMAINS:
        return 2, 0
    if head in PUBLIC:
        return 3, PUBLIC.index(head)
    if head in FRONT:
        return 4, 0
    return 5, 0  # the package's __init__


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down(name):
    """Each import reaches a lower layer, the module's own group, or an earlier public module."""
    layer, rank = _group(name)
    head = name.split(".")[0]
    for target, _taken, line in _imports(name):
        t_layer, t_rank = _group(target)
        same_group = target.split(".")[0] == head
        where = f"{name} line {line} imports {target}"
        if layer == 2 and t_layer == 2:
            assert same_group, f"{where}: the domains do not import each other"
        elif layer == 3 and t_layer == 3:
            assert t_rank < rank or same_group, f"{where}: a public module imports earlier ones"
        else:
            assert t_layer <= layer, f"{where}: an upward import"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_crosses_a_module(name):
    """``from module import _name`` only within one module's own package ``__init__``."""
    for target, taken, line in _imports(name):
        if taken is not None and taken.startswith("_") and taken != "__version__":
            pytest.fail(f"{name} line {line} imports {taken} from {target}")


def test_no_import_circle():
    graph = {name: {t for t, _, _ in _imports(name) if t in MODULES} for name in MODULES}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_rule_reads_every_module():
    """The parser sees the imports it must judge (a rule that reads none passes vacuously)."""
    assert {"_core.validate", "_engines.apply", "nn._functional", "conv", "cli"} <= set(MODULES)
    assert any(
        t == "_core.validate" and n == "check_mode" for t, n, _ in _imports("_engines.pipeline")
    )
    assert any(t == "_engines.pipeline" for t, _, _ in _imports("conv"))
    assert any(t == "_core.errors" for t, _, _ in _imports("_core.budget"))


def test_the_package_docstring_states_the_rule():
    doc = convmat.__doc__ or ""
    for group in ("_core", "_engines", "nn", "_inverse", "_blocks", *PUBLIC, *FRONT[:-1]):
        assert group in doc, group


@pytest.mark.parametrize("package", ["_core", "_engines", "nn", "_inverse", "_blocks"])
def test_each_subpackage_lists_its_modules_in_import_order(package):
    """A subpackage's docstring names every module of it, each importing only those
    named before it (within the subpackage)."""
    init = MODULES[package].read_text()
    doc = ast.get_docstring(ast.parse(init)) or ""
    ours = {name.split(".")[1] for name in MODULES if name.startswith(package + ".")}
    listed = [n for n in re.findall(r"``(\w+)``", doc) if n in ours]
    assert sorted(set(listed)) == sorted(ours), f"{package} lists {listed}"
    order = list(dict.fromkeys(listed))
    for i, leaf in enumerate(order):
        for target, _, line in _imports(f"{package}.{leaf}"):
            if target.startswith(package + "."):
                assert target.split(".")[1] in order[:i], f"{package}.{leaf} line {line}"


TESTS = Path(__file__).resolve().parent
TEST_LAYER = {"core": 0, "engines": 1, "nn": 2, "inverse": 2, "blocks": 2}
PACKAGE_OF = {"core": "_core", "engines": "_engines", "nn": "nn", "inverse": "_inverse"}


@pytest.mark.parametrize(
    "path", sorted(TESTS.rglob("test_*.py")), ids=lambda p: str(p.relative_to(TESTS))
)
def test_tests_mirror_the_layers(path):
    """A test in ``tests/<group>/`` tests that group: it imports public names, its own
    group's modules and those of the layers below, as the code does; a test of a public
    module or a front end (``tests/``) imports anything below it."""
    group = path.parent.name if path.parent != TESTS else None
    layer = 4 if group is None else TEST_LAYER[group]
    own = None if group is None else PACKAGE_OF[group]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("convmat."):
            target = node.module.removeprefix("convmat.")
            t_layer = _group(target)[0]
            head = target.split(".")[0]
            if t_layer == 2 and layer == 2:
                assert head == own, f"{path.name} line {node.lineno} imports {target}"
            else:
                assert t_layer <= layer, f"{path.name} line {node.lineno} imports {target}"
