"""Measure the FFT's rounding against the bound that 'auto' certifies with.

Run ``make bench-fft-error`` (or ``python benchmarks/fft_error.py``). Two parts:

* the two properties of a transform that the bound rests on (docs: "The FFT's
  rounding bound"), measured for every radix scipy's pocketfft runs at
  ``next_fast_len`` sizes, 16 to 196 608 entries, in float32 and float64 (the
  reference in long double, or float64 for float32): (F) the forward transform's
  normwise error over ``u log2(N) ||Fx||_2`` and (I) the inverse transform's
  largest error at one output over ``u log2(N)`` times the mean magnitude of the
  spectrum it transforms, on random, constant, single-frequency and decaying
  inputs. The docs' constants are 8 and 8;
* the bound itself: convmat's FFT product (``Engine.fft`` in float64) against
  the product in long double, over every mode and boundary, 1-D, 2-D and 3-D
  shapes with prime and odd sides, real and complex data, kernels of three
  kinds and dynamic ranges up to 1e30, forward and transpose. A case is one row
  (an image or a transpose's outputs); its ratio is the largest error over the
  bound at any of its outputs. The script runs at least 10^5 cases and fails
  (exit status 1) if any ratio exceeds 1.

The summary goes into the "FFT rounding bound" section of
``benchmarks/RESULTS.md`` (between markers, which ``run.py`` keeps) and into
``benchmarks/fft_error.json``; a progress line per group goes to stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import scipy.fft as sfft

import convmat
from convmat._core.plan import make_plan
from convmat._engines.engine import Engine
from sections import environment, markers, measured, write_section

HERE = Path(__file__).resolve().parent
BEGIN, END = markers("fft_error")
SIZES = (16, 81, 125, 343, 1331, 96, 1000, 2310, 16384, 19683, 15625, 16807, 14641, 7007, 196608)
MODES = ("full", "same", "valid")
BOUNDARIES = ("fill", "wrap", "symm", "nearest", "mirror")
SHAPES = (
    ((13,), (5,)),
    ((31,), (8,)),
    ((7, 11), (3, 4)),
    ((13, 5), (5, 5)),
    ((9, 17), (7, 3)),
    ((5, 3, 7), (2, 3, 3)),
)


def _inputs(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "normal":
        return rng.standard_normal(n)
    if kind == "uniform":
        return rng.random(n)
    if kind == "lognormal":
        return np.exp(5 * rng.standard_normal(n))
    if kind == "constant":
        return np.ones(n)
    return np.cos(2 * np.pi * 3 * np.arange(n) / n)  # one frequency


def transforms(rng: np.random.Generator) -> list[dict[str, object]]:
    """(F) and (I) per size and precision: the largest ratios over the inputs."""
    rows = []
    wide = np.longdouble
    for n, precision in itertools.product(SIZES, (np.float32, np.float64)):
        u = float(np.finfo(precision).eps) / 2
        log = math.log2(n)
        ref = np.float64 if precision is np.float32 else wide
        worst_f = worst_i = 0.0
        for kind in ("normal", "uniform", "lognormal", "constant", "wave"):
            x = _inputs(rng, n, kind).astype(precision)
            got = sfft.rfft(x)
            exact = sfft.rfft(x.astype(ref))
            # the half spectrum: its 2-norm counted over the full one
            weight = np.full(got.size, 2.0)
            weight[0] = 1.0
            if n % 2 == 0:
                weight[-1] = 1.0
            err = np.sqrt((weight * np.abs(got - exact).astype(np.float64) ** 2).sum())
            norm = math.sqrt(n) * float(np.linalg.norm(x.astype(np.float64)))
            worst_f = max(worst_f, err / max(norm, 1e-300) / (u * log))
            # (I): spectra of random phase, of one frequency, constant, decaying
            h = n // 2 + 1
            for spec in (
                np.exp(2j * np.pi * rng.random(h)),
                np.eye(1, h, h // 3)[0].astype(complex),
                np.ones(h, complex),
                (rng.standard_normal(h) + 1j * rng.standard_normal(h))
                * np.exp(-np.arange(h) / h * 30),
            ):
                w = spec.astype(got.dtype)
                y = sfft.irfft(w, n=n)
                exact_y = sfft.irfft(w.astype(np.result_type(ref, np.complex64)), n=n)
                mean = float(np.abs(sfft.fft(exact_y.astype(np.float64))).sum()) / n
                worst_i = max(worst_i, float(np.abs(y - exact_y).max()) / mean / (u * log))
        rows.append({"size": n, "dtype": np.dtype(precision).name, "F": worst_f, "I": worst_i})
    return rows


def _kernel(rng: np.random.Generator, shape: tuple[int, ...], kind: str, spread: float):
    if kind == "normal":
        return rng.standard_normal(shape) * 10.0 ** rng.uniform(-spread, spread, shape)
    if kind == "positive":
        return rng.random(shape)
    grids = np.meshgrid(*[np.arange(m) - (m - 1) / 2 for m in shape], indexing="ij")
    return np.exp(-sum(g**2 for g in grids) / 4.0)  # a Gaussian


def _data(rng: np.random.Generator, shape: tuple[int, int], spread: float, complex_: bool):
    x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-spread, spread, shape)
    if complex_:
        x = x + 1j * rng.standard_normal(shape) * 10.0 ** rng.uniform(-spread, spread, shape)
    return x


def products(rng: np.random.Generator, rows_per_group: int) -> dict[str, object]:
    """The bound on convmat's FFT products: the largest error over the bound, per group."""
    f64 = np.dtype(np.float64)
    worst = 0.0
    cases = groups = 0
    typical: list[float] = []
    grid = list(
        itertools.product(
            SHAPES,
            MODES,
            BOUNDARIES,
            ("normal", "positive", "gaussian"),
            (False, True),
            (0.0, 6.0, 15.0),
        )
    )
    start = time.perf_counter()
    for i, ((shape, kshape), mode, boundary, kind, complex_, spread) in enumerate(grid):
        if mode == "valid" and any(m > n for n, m in zip(shape, kshape, strict=True)):
            continue
        k = _kernel(rng, kshape, kind, spread / 3)
        if complex_:
            k = k * np.exp(2j * np.pi * rng.random(kshape))
        plan = make_plan(shape, kshape, mode, boundary)
        engine = Engine(k, plan)
        wide = np.clongdouble if complex_ else np.longdouble
        a = np.asarray(convmat.conv_matrix(k.astype(wide), shape, mode, boundary))
        for transpose in (False, True):
            n = plan.shape[0] if transpose else plan.shape[1]
            x = _data(rng, (rows_per_group, n), spread, complex_)
            exact = x.astype(wide) @ (a if transpose else a.T)
            got = engine.fft(x, transpose=transpose, precision=f64)
            bound = engine.certificate.rounding_bound(x, transpose=transpose, precision=f64)
            err = np.abs(got.astype(wide) - exact).astype(np.float64)
            ratio = (err / bound).max(axis=1)
            worst = max(worst, float(ratio.max()))
            typical.append(float(np.median(ratio)))
            cases += x.shape[0]
        groups += 1
        if i % 100 == 0:
            print(
                f"[{i + 1}/{len(grid)}] {cases} cases, worst error/bound {worst:.3g}, "
                f"{time.perf_counter() - start:.0f} s",
                file=sys.stderr,
            )
    return {
        "cases": cases,
        "groups": groups,
        "worst": worst,
        "median": float(np.median(typical)),
    }


def report(result: dict[str, object]) -> list[str]:
    env = result["environment"]
    rows = result["transforms"]
    prod = result["products"]
    assert isinstance(env, dict)
    assert isinstance(rows, list)
    assert isinstance(prod, dict)
    worst_f = max(r["F"] for r in rows)
    worst_i = max(r["I"] for r in rows)
    lines = [
        BEGIN,
        "## FFT rounding bound",
        "",
        measured("make bench-fft-error", env)
        + ' The bound and its proof: docs, "The FFT\'s rounding bound".',
        "",
        (
            f"* (F), the forward transform's normwise error over `u log2(N) ||Fx||_2`: at most "
            f"**{worst_f:.3f}** (the bound uses 8)."
        ),
        (
            f"* (I), the inverse's largest error at one output over `u log2(N)` times the mean "
            f"magnitude of its input: at most **{worst_i:.3f}** (the bound uses 8)."
        ),
        (
            f"* The bound on convmat's float64 FFT products, against long double: "
            f"{prod['cases']:,} cases in {prod['groups']} groups (mode, boundary, shape, kernel, "
            f"real or complex, dynamic range up to 1e30, forward and transpose). Largest error "
            f"over the bound: **{prod['worst']:.3g}** (must be at most 1); median of the groups' "
            f"medians: {prod['median']:.3g}."
        ),
        "",
        "| size | dtype | (F) | (I) |",
        "|---:|---|---:|---:|",
        *(f"| {r['size']} | {r['dtype']} | {r['F']:.3f} | {r['I']:.3f} |" for r in rows),
        END,
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50, help="cases per group (default 50)")
    parser.add_argument("--no-write", action="store_true", help="print, write no file")
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    print("measuring the transforms' constants", file=sys.stderr)
    result: dict[str, object] = {
        "environment": environment(),
        "transforms": transforms(rng),
        "products": products(rng, args.rows),
    }
    lines = report(result)
    print("\n".join(lines))
    if not args.no_write:
        (HERE / "fft_error.json").write_text(json.dumps(result, indent=1) + "\n")
        write_section(lines, HERE / "RESULTS.md", "fft_error")
    prod = result["products"]
    assert isinstance(prod, dict)
    return 0 if prod["worst"] <= 1.0 and prod["cases"] >= 10**5 else 1


if __name__ == "__main__":
    sys.exit(main())
