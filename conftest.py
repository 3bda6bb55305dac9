"""What the test run leaves out when an optional extra is not installed.

The core tests need numpy, scipy, pytest and hypothesis only. The doctests of
modules and guide pages that use an extra (dask and distributed, matplotlib,
torch) cannot even be collected without it: they are left out here, and the
run's header and summary say which and why. Test files skip themselves with
``pytest.importorskip``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# files whose doctests need an extra, by the module the extra provides
NEEDS: dict[str, tuple[str, ...]] = {
    "dask": (
        "src/convmat/dask.py",
        "src/convmat/_blocks",
        "docs/guide/dask.rst",
        "docs/guide/larger-than-memory.md",
        "docs/guide/overview.md",
    ),
    "distributed": ("docs/guide/dask.rst", "docs/guide/larger-than-memory.md"),
    "matplotlib": ("src/convmat/plot.py",),
    "torch": ("docs/guide/nn.md", "docs/guide/coming-from.md"),
}
MISSING = {name for name in NEEDS if importlib.util.find_spec(name) is None}
LEFT_OUT = {ROOT / path: name for name in sorted(MISSING) for path in NEEDS[name]}


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    for path in LEFT_OUT:
        if collection_path == path or path in collection_path.parents:
            return True
    return None


def pytest_report_header() -> list[str]:
    if not LEFT_OUT:
        return []
    return [
        f"left out (needs {name}, not installed): {path.relative_to(ROOT)}"
        for path, name in LEFT_OUT.items()
    ]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LEFT_OUT:
        terminalreporter.write_line(
            f"{len(LEFT_OUT)} doctest file(s) left out: {', '.join(sorted(MISSING))} "
            "not installed (see the header)"
        )
