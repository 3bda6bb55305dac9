"""The examples run and agree with torch."""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        if os.environ.get("CONVMAT_REQUIRE_TORCH"):
            raise
        pytest.skip("torch is not installed (pip install torch==2.13.0 for the CPU build)")


def test_fcn_runs_and_matches_torch():
    _need_torch()
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "fcn.py")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "max |matrices - torch|" in result.stdout


def test_fcn_output_shape_without_torch():
    module = runpy.run_path(str(EXAMPLES / "fcn.py"))
    import numpy as np

    out = module["forward_by_matrices"](np.ones((3, 8, 6)), module["make_params"]())
    assert out.shape == (3, 8, 6)


def test_deblur_example_gains_most_with_the_exact_model(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is the [plot] extra (the figure)")
    module = runpy.run_path(str(EXAMPLES / "deblur.py"))
    results = module["main"](["--save", str(tmp_path / "deblur.png")])
    assert results["unknown"] > results["observed"] + 1
    assert results["unknown"] > results["symm"] - 0.1
    assert results["unknown"] > results["wrap"] + 1
    assert (tmp_path / "deblur.png").stat().st_size > 10_000
