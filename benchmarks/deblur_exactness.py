"""How far ``deconvolve2d``'s default stop is from the minimiser of its stated problem.

Run ``make bench-deblur-exactness`` (or ``python benchmarks/deblur_exactness.py``).
For each case (256x256 crops of ``skimage.data`` images, the blurs of
``inverse.py``, white noise, the edges unknown or a 'fill' or 'symm'
observation told so) the default call (weight by GML, default `tol`) is
compared with the same call at that weight with ``tol=1e-12``: the relative
2-norm distance of the whole scene and of the field of view, the PSNR of
both against the truth, the iterations and the time. Small scenes are
factorised (solver 'direct') and have no distance to report; these crops are
solved iteratively. The table goes into the "Deblurring: distance to the
minimiser" section of ``benchmarks/RESULTS.md``, the numbers into
``benchmarks/deblur_exactness.json``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import skimage

import convmat
from inverse import IMAGES, PSFS, observe, psnr
from sections import environment, markers, write_section

HERE = Path(__file__).resolve().parent
BEGIN, END = markers("deblur_exactness")
SIDE = 256
REFERENCE = {"tol": 1e-12, "maxiter": 100_000}
TARGET = 1e-4  # the issue's distance of a default stop from the minimiser


def case(name: str, psf_name: str, noise: float, model: str, seed: int) -> dict[str, Any]:
    image = IMAGES[name]()
    top, left = (image.shape[0] - SIDE) // 2, (image.shape[1] - SIDE) // 2
    image = image[top : top + SIDE, left : left + SIDE]
    psf = PSFS[psf_name]()
    y, truth = observe(image, psf, noise, model, seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a maxiter stop is in the info
        x, info = convmat.deconvolve2d(y, psf, boundary=model, return_info=True)
    seconds = time.perf_counter() - start
    reg = float(info.reg)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x_ref, ref = convmat.deconvolve2d(
            y, psf, boundary=model, reg=reg, return_info=True, **REFERENCE
        )
    ref_seconds = time.perf_counter() - start
    whole = float(np.linalg.norm(info.scene - ref.scene) / np.linalg.norm(ref.scene))
    view = float(np.linalg.norm(x - x_ref) / np.linalg.norm(x_ref))
    return {
        "image": name,
        "psf": psf_name,
        "noise": noise,
        "model": model,
        "solver": info.solver,
        "reg": reg,
        "stopped": str(info.stopped),
        "iterations": int(info.iterations),
        "seconds": seconds,
        "reference_stopped": str(ref.stopped),
        "reference_iterations": int(ref.iterations),
        "reference_seconds": ref_seconds,
        "distance": whole,
        "distance_view": view,
        "psnr": psnr(truth, x)[0],
        "psnr_reference": psnr(truth, x_ref)[0],
    }


def tables(cases: list[dict[str, Any]], env: dict[str, str]) -> list[str]:
    lines = [
        BEGIN,
        "## Deblurring: distance to the minimiser",
        "",
        (
            f"Measured {env['date']} with `make bench-deblur-exactness` on {env['machine']}; "
            f"numpy {env['numpy']}, scipy {env['scipy']}; BLAS: {env['blas']}."
        ),
        "",
        (
            f"`deconvolve2d(y, psf, boundary=model)` on {SIDE}x{SIDE} crops (weight by GML, "
            "default `tol`: the normal equations' residual certified to 1e-6 of `||A^T y||`) "
            f"against the same call at that weight with `tol={REFERENCE['tol']:g}`. *distance*: "
            "relative 2-norm distance of the whole scene (for 'unknown', larger than the "
            "observation by the kernel) and of the estimate returned (the field of view); "
            "PSNR of both estimates against the truth."
        ),
        "",
        (
            "| image | blur | noise | model | stopped | iterations | time | distance | "
            "distance (view) | PSNR | PSNR at 1e-12 | reference iterations |"
        ),
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases:
        lines.append(
            f"| {c['image']} | {c['psf']} | {c['noise']:g} | {c['model']} | {c['stopped']} | "
            f"{c['iterations']} | {c['seconds']:.2f} s | {c['distance']:.1e} | "
            f"{c['distance_view']:.1e} | {c['psnr']:.2f} | {c['psnr_reference']:.2f} | "
            f"{c['reference_iterations']} ({c['reference_stopped']}) |"
        )
    certified = [c for c in cases if c["stopped"] == "tol"]
    within = [c for c in certified if c["distance"] <= TARGET]
    within_view = [c for c in certified if c["distance_view"] <= TARGET]
    worst = max((c["distance"] for c in certified), default=float("nan"))
    psnr_gap = max((abs(c["psnr"] - c["psnr_reference"]) for c in cases), default=float("nan"))
    lines += [
        "",
        f"- stopped at the certified residual: {len(certified)} of {len(cases)} cases",
        (
            f"- whole scene within {TARGET:g} of the minimiser: {len(within)} of "
            f"{len(certified)}; worst {worst:.1e}"
        ),
        f"- field of view within {TARGET:g}: {len(within_view)} of {len(certified)}",
        f"- largest PSNR difference from the minimiser's estimate: {psnr_gap:.3f} dB",
        END,
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", default=["camera", "coins"])
    parser.add_argument("--noise", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    env = environment(skimage=skimage.__version__)
    print(json.dumps(env), flush=True)
    grid = [
        (image, psf, noise, model)
        for image in args.images
        for psf in PSFS
        for noise in args.noise
        for model in ("unknown", "fill")
    ]
    # 'symm' with a kernel that is not symmetric in each axis runs the iterative solvers
    grid += [(image, "motion 9 at 45 deg", n, "symm") for image in args.images for n in args.noise]
    cases = []
    for i, (image, psf, noise, model) in enumerate(grid, 1):
        c = case(image, psf, noise, model, seed=i)
        cases.append(c)
        print(
            f"[{i}/{len(grid)}] {image} {psf} noise {noise:g} {model}: {c['stopped']} after "
            f"{c['iterations']} ({c['seconds']:.2f} s), distance {c['distance']:.1e} "
            f"(view {c['distance_view']:.1e}), reference {c['reference_iterations']} "
            f"({c['reference_seconds']:.1f} s)",
            flush=True,
        )
        (args.out / "deblur_exactness.json").write_text(
            json.dumps({"env": env, "cases": cases}, indent=1)
        )
    lines = tables(cases, env)
    write_section(lines, args.out / "RESULTS.md", "deblur_exactness")
    print("\n".join(lines[-6:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
