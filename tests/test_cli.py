"""The command line, run as a user runs it."""

import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convmat", *args], capture_output=True, text=True, check=False
    )


def test_demo_exits_zero_and_prints_the_check():
    result = _run("demo")
    assert result.returncode == 0, result.stderr
    assert "equal to scipy: True" in result.stdout
    assert "max |A @ x - convolve2d|" in result.stdout


@pytest.mark.parametrize("args", [(), ("nonsense",), ("demo", "--seed", "x")])
def test_bad_arguments_exit_2_without_traceback(args):
    result = _run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "usage:" in result.stderr


def test_help():
    result = _run("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout
