"""The command line, run as a user runs it."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convmat


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convmat", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_demo_exits_zero_and_prints_the_check():
    result = _run("demo")
    assert result.returncode == 0, result.stderr
    assert "equal to scipy: True" in result.stdout
    assert "max |A @ x - convolve2d|" in result.stdout


def test_explain_prints_the_matrix_structure():
    result = _run(
        "explain",
        "--image-shape",
        "3",
        "4",
        "--kernel",
        "1 2; 3 4",
        "--mode",
        "same",
        "--boundary",
        "symm",
    )
    assert result.returncode == 0, result.stderr
    csr = convmat.conv_matrix(np.array([[1, 2], [3, 4]]), (3, 4), "same", "symm", format="csr")
    assert f"nnz: {csr.nnz} of 144 entries" in result.stdout
    lines = result.stdout.split("matrix A (blocks separated):\n")[1].split("\n\n")[0].splitlines()
    rows = [line.replace("|", " ").split() for line in lines if not line.startswith("-")]
    np.testing.assert_array_equal(np.array(rows, dtype=int), csr.toarray())


@pytest.mark.parametrize("extra", [["--random"], ["--image", "1 2 3; 4 5 6"]])
def test_explain_with_an_image_checks_against_scipy(extra):
    result = _run("explain", "--image-shape", "2", "3", "--kernel", "1 2; 3 4", *extra)
    assert result.returncode == 0, result.stderr
    assert "scipy.signal.convolve2d(x, kernel):" in result.stdout
    assert result.stdout.rstrip().endswith("equal: True")


def test_plot_writes_png(tmp_path: Path):
    pytest.importorskip("matplotlib", reason="matplotlib is the [plot] extra")
    out = tmp_path / "matrix.png"
    result = _run("plot", "--image-shape", "4", "5", "--kernel", "1 2; 3 4", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 1000
    assert result.stdout.strip() == f"wrote {out}"


def test_plot_prints_the_path_it_wrote(tmp_path: Path):
    """A name without a suffix gets .png, and the message names the file written."""
    pytest.importorskip("matplotlib", reason="matplotlib is the [plot] extra")
    out = tmp_path / "figure"
    result = _run("plot", "--image-shape", "3", "3", "--kernel", "1 2", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {out}.png"
    assert Path(f"{out}.png").stat().st_size > 1000
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("sub/", "is a directory; give a file in it"),
        ("sub", "is a directory; give a file in it"),
        ("missing/x.png", "the directory .* does not exist"),
        ("x.pdf", "must name a PNG file"),
    ],
)
def test_plot_refuses_an_output_it_cannot_write_as_asked(tmp_path: Path, name, message):
    pytest.importorskip("matplotlib", reason="matplotlib is the [plot] extra")
    (tmp_path / "sub").mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "convmat",
            "plot",
            "--image-shape",
            "3",
            "3",
            "--kernel",
            "1 2",
            "-o",
            name,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert re.search(f"-o/--output '{re.escape(name)}'.*{message}", result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]  # nothing written
    assert list((tmp_path / "sub").iterdir()) == []


def test_plot_without_matplotlib_says_how_to_install(tmp_path: Path):
    fake = tmp_path / "matplotlib"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'matplotlib'\", name='matplotlib')\n"
    )
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = _run(
        "plot", "--image-shape", "4", "5", "--kernel", "1 2", "-o", str(tmp_path / "m.png"), env=env
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        (
            'convmat plot needs matplotlib: pip install matplotlib (or pip install ".[plot]" '
            "in convmat's checkout)"
        )
    ]


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("nonsense",),
        ("demo", "--seed", "x"),
        ("explain", "--kernel", "1 2"),
        ("explain", "--image-shape", "0", "3", "--kernel", "1"),
        ("explain", "--image-shape", "2", "3", "--kernel", "1 2; 3"),
        ("explain", "--image-shape", "2", "3", "--kernel", "a"),
        ("explain", "--image-shape", "2", "3", "--kernel", "1", "--mode", "wide"),
        (
            "explain",
            "--image-shape",
            "2",
            "5",
            "--kernel",
            "1 1 1; 1 1 1; 1 1 1",
            "--mode",
            "valid",
        ),
        ("explain", "--image-shape", "2", "2", "--kernel", "1", "--image", "1 2 3"),
        ("plot", "--image-shape", "200", "200", "--kernel", "1 2; 3 4"),
        ("demo", "--seed", "-5"),
        ("explain", "--image-shape", "3", "3", "--kernel", "1", "--random", "--seed", "-1"),
        ("explain", "--image-shape", "3", "3", "--kernel", "99999999999999999999"),
        ("explain", "--image-shape", "3", "3", "--kernel", "1", "--random", "--seed", "x"),
    ],
    ids=[
        "none",
        "unknown",
        "seed",
        "no-shape",
        "zero",
        "ragged",
        "nan-kernel",
        "mode",
        "valid",
        "image-shape",
        "too-big",
        "negative-seed",
        "negative-random-seed",
        "int64-overflow-kernel",
        "text-seed",
    ],
)
def test_bad_arguments_one_line_exit_2(args, tmp_path):
    result = _run(*args, "-o", str(tmp_path / "m.png")) if args[:1] == ("plot",) else _run(*args)
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "error:" in result.stderr


@pytest.mark.parametrize("command", ["demo", "explain", "plot"])
def test_every_command_has_help(command):
    result = _run(command, "--help")
    assert result.returncode == 0
    assert "usage:" in result.stdout


def test_console_script_matches_module():
    script = Path(sys.executable).with_name("convmat")
    if not script.exists():
        pytest.skip(
            "the convmat console script is installed by `pip install`; not in this environment"
        )
    a = subprocess.run(
        [str(script), "explain", "--image-shape", "2", "2", "--kernel", "1 2"],
        capture_output=True,
        text=True,
        check=True,
    )
    b = _run("explain", "--image-shape", "2", "2", "--kernel", "1 2")
    assert a.stdout == b.stdout


def test_large_explain_summarises():
    result = _run("explain", "--image-shape", "1000", "1000", "--kernel", "1 2; 3 4")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) < 20_000
    assert "o1000" in result.stdout  # the last block row, after the elided middle
    assert "..." in result.stdout
    assert "not printed" in result.stdout
    assert "nnz: 4000000 of 1002001000000 entries" in result.stdout


def test_huge_values_compare_equal_without_warnings():
    big = "1e300 1e300; 1e300 1e300"
    result = _run("explain", "--kernel", big, "--image", big)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.rstrip().endswith("equal: True")


def test_version_is_the_package_s():
    result = _run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"convmat {convmat.__version__}"


def test_plot_size_is_an_option_with_its_range(tmp_path: Path):
    result = _run("plot", "--image-shape", "4", "4", "--kernel", "1 2", "--size", "10")
    assert result.returncode == 2
    assert "--size must be between 600 and 10000 pixels, got 10" in result.stderr


@pytest.mark.parametrize("boundary", ["nearest", "mirror", "reflect", "grid-wrap"])
def test_explain_takes_every_boundary_name(boundary):
    result = _run(
        "explain",
        "--image-shape",
        "3",
        "4",
        "--kernel",
        "1 2; 3 4",
        "--boundary",
        boundary,
        "--mode",
        "same",
        "--random",
    )
    assert result.returncode == 0, result.stderr
    assert f"boundary '{boundary}'" in result.stdout
    assert result.stdout.rstrip().endswith("equal: True")
