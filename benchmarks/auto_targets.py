"""Benchmark what ``method="auto"`` takes against the fastest peer, case by case.

Run ``make bench-auto`` (or ``python benchmarks/auto_targets.py``; ``--runs 3``
is the default, and the table gives each run's ratio, for the spread). The
cases of the "auto is the fastest method that fits" targets:

* **'full' mode**: ``convmat.convolve2d`` with default arguments on a 2000²
  float64 image and a 31² Gaussian, against ``scipy.signal.fftconvolve``; the
  same kernel on 32², 128² and 512² images of signed data (where the ring that
  reads only the Gaussian's tails is widest against the image);
* **long signals**: ``convmat.convolve`` ('full', float64) on 10^6 samples
  with 101 to 4097 taps, against the faster of ``scipy.signal.oaconvolve`` and
  ``fftconvolve``;
* **small calls**: a built ``ConvOperator`` ('same') applied to one image of
  16² to 64² with a 3² to 7² kernel, every boundary, against the faster of
  ``scipy.ndimage.convolve`` (the boundary's ndimage name) and
  ``scipy.signal.convolve2d`` (where it has the boundary);
* **big images** (each call in a fresh process, peak resident memory over the
  input's bytes): ``convmat.conv2d`` on a 20000² float32 image with a 9x9
  kernel and 'symm', default arguments against ``method="shift"``; the same
  with a 9x9 Gaussian against single-process ``scipy.ndimage.convolve``; a
  24000² image under a working-set budget of 8 GiB; and a budget below the
  result's size, which must be refused at once.

Times are medians of interleaved repeats (big images: one call per run, each in
its own process). ``--small`` shrinks the big images tenfold per side (for a
quick check). The section "auto: the targets" of ``benchmarks/RESULTS.md``
(between markers, which ``run.py`` keeps) and ``benchmarks/auto_targets.json``
get the results; a progress line per case goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.ndimage as ndi
import scipy.signal as ss

import convmat
from sections import environment, fmt_seconds, interleaved_medians, markers, measured, write_section

HERE = Path(__file__).resolve().parent
BEGIN, END = markers("auto_targets")
NDIMAGE = {"fill": "constant", "wrap": "wrap", "symm": "reflect", "nearest": "nearest"}
NDIMAGE["mirror"] = "mirror"


def _gaussian(m: int, sigma: float, dtype: str = "float64") -> np.ndarray:
    t = np.arange(m) - (m - 1) / 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    return np.outer(g, g).astype(dtype) / np.outer(g, g).sum().astype(dtype)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def full_mode(repeats: int) -> list[dict[str, Any]]:
    rows = []
    k = _gaussian(31, 5.0)
    for side in (2000, 32, 128, 512):
        # uniform data for the target's 2000² case, signed data for the small images
        rng = np.random.default_rng(0 if side == 2000 else side)
        x = rng.random((side, side)) if side == 2000 else rng.standard_normal((side, side))
        times = interleaved_medians(
            {
                "auto": lambda x=x: convmat.convolve2d(x, k, "full"),
                "fftconvolve": lambda x=x: ss.fftconvolve(x, k, "full"),
            },
            repeats if side == 2000 else 4 * repeats,
        )
        _progress(f"full {side}² 31²: {times}")
        data = "uniform" if side == 2000 else "normal"
        rows.append(
            {
                "case": f"{side}² float64 ({data}), 31² Gaussian, 'full'",
                "times": times,
                "peer": "fftconvolve",
            }
        )
    return rows


def signals(repeats: int) -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(1)
    x = rng.standard_normal(10**6)
    for taps in (101, 1001, 4097):
        k = rng.standard_normal(taps)
        times = interleaved_medians(
            {
                "auto": lambda k=k: convmat.convolve(x, k),
                "oaconvolve": lambda k=k: ss.oaconvolve(x, k),
                "fftconvolve": lambda k=k: ss.fftconvolve(x, k),
            },
            repeats,
        )
        peer = min(("oaconvolve", "fftconvolve"), key=times.__getitem__)
        rows.append({"case": f"10^6 samples, {taps} taps, 'full'", "times": times, "peer": peer})
        _progress(f"signal {taps}: {times}")
    return rows


def small_calls(repeats: int) -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(2)
    for side in (16, 40, 64):
        x = rng.random((side, side))
        for m in (3, 5, 7):
            k = rng.random((m, m))
            for boundary, name in NDIMAGE.items():
                op = convmat.ConvOperator(k, x.shape, "same", boundary)
                op(x)  # built: its resources serve every later call
                calls = {
                    "auto": lambda op=op, x=x: op(x),
                    "ndimage": lambda k=k, name=name, x=x: ndi.convolve(x, k, mode=name),
                }
                if boundary in ("fill", "wrap", "symm"):
                    calls["convolve2d"] = lambda k=k, b=boundary, x=x: ss.convolve2d(
                        x, k, "same", boundary=b
                    )
                times = interleaved_medians(calls, repeats * 20)
                peer = min((c for c in calls if c != "auto"), key=times.__getitem__)
                rows.append(
                    {
                        "case": f"{side}², {m}², {boundary}",
                        "times": times,
                        "peer": peer,
                    }
                )
        _progress(f"small {side}²: done")
    return rows


# -- big images, each call in a fresh process ------------------------------------------------
def one_big(case: str, side: int) -> dict[str, Any]:
    """Run one big-image call here; return its seconds and peak bytes over the input's."""
    from sections import resident_bytes

    base = resident_bytes("VmRSS")
    x = np.random.default_rng(3).random((side, side), dtype=np.float32)
    k = (
        _gaussian(9, 2.0, "float32")
        if "gaussian" in case
        else np.random.default_rng(4).random((9, 9), dtype=np.float32)
    )
    if case == "budget-8GiB":
        convmat.set_max_working_bytes(8 * 2**30)
    if case == "budget-below-result":
        convmat.set_max_working_bytes(x.nbytes // 2)
    start = time.perf_counter()
    refused = None
    try:
        if case in ("shift", "auto-shift-kernel"):
            method = "shift" if case == "shift" else "auto"
            out = convmat.conv2d(x, k, "same", boundary="symm", method=method)
        elif case == "ndimage-gaussian":
            out = ndi.convolve(x, k, mode="reflect")
        else:
            out = convmat.conv2d(x, k, "same", boundary="symm")
    except convmat.MatrixTooLargeError as error:
        refused = str(error)
        out = None
    seconds = time.perf_counter() - start
    peak = resident_bytes("VmHWM") - base
    if out is not None:
        assert out.shape == x.shape
    return {
        "case": case,
        "side": side,
        "seconds": seconds,
        "peak_over_input": peak / x.nbytes,
        "refused": refused,
    }


def big_images(side: int, runs: int) -> list[dict[str, Any]]:
    cases = (
        "auto-shift-kernel",
        "shift",
        "auto-gaussian",
        "ndimage-gaussian",
        "budget-8GiB",
        "budget-below-result",
    )
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in cases}
    for run in range(runs):
        for case in cases:
            size = side * 6 // 5 if case == "budget-8GiB" else side
            proc = subprocess.run(
                [sys.executable, __file__, "--one", case, "--side", str(size)],
                capture_output=True,
                text=True,
                check=True,
                cwd=HERE,
            )
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            results[case].append(got)
            _progress(
                f"big run {run + 1}: {case} {size}²: {got['seconds']:.2f} s, "
                f"peak {got['peak_over_input']:.2f}x the input"
                + (" (refused)" if got["refused"] else "")
            )
    return [{"case": c, "runs": r} for c, r in results.items()]


def _ratio_cells(rows_per_run: list[list[dict[str, Any]]]) -> list[str]:
    lines = []
    for i, row in enumerate(rows_per_run[-1]):
        ratios = []
        for run in rows_per_run:
            t = run[i]["times"]
            ratios.append(t["auto"] / t[run[i]["peer"]])
        t = row["times"]
        lines.append(
            f"| {row['case']} | {fmt_seconds(t['auto'])} | {row['peer']} "
            f"{fmt_seconds(t[row['peer']])} | " + " / ".join(f"{r:.2f}" for r in ratios) + " |"
        )
    return lines


def report(result: dict[str, Any]) -> list[str]:
    env = result["environment"]
    runs = result["runs"]
    head = "| case | auto (last run) | fastest peer (last run) | auto / peer, each run |"
    rule = "|---|---:|---|---|"
    lines = [
        BEGIN,
        "## auto: the targets",
        "",
        measured("make bench-auto", env)
        + f" {len(runs)} runs; medians of interleaved repeats within each run.",
        "",
        "### 'full' mode (target ≤ 1.5x `fftconvolve`)",
        "",
        head,
        rule,
        *_ratio_cells([r["full"] for r in runs]),
        "",
        "### Long signals (target ≤ 1.0x the faster of `oaconvolve` and `fftconvolve`)",
        "",
        head,
        rule,
        *_ratio_cells([r["signals"] for r in runs]),
        "",
        (
            "### Small calls: a built operator on one image (target ≤ 1.5x the faster of "
            "`ndimage.convolve` and `convolve2d`)"
        ),
        "",
        head,
        rule,
        *_ratio_cells([r["small"] for r in runs]),
        "",
        "### Big images, float32, 9x9, 'symm', each call in a fresh process",
        "",
        (
            "Targets: default arguments ≤ 1.0x `method='shift'` and peak ≤ 3x the input; a "
            "Gaussian ≤ 0.3x `ndimage.convolve`; 24000² under an 8 GiB budget completes; a "
            "budget below the result is refused in under a second."
        ),
        "",
        "| case | side | seconds, each run | peak / input, each run | refused |",
        "|---|---:|---|---|---|",
    ]
    for entry in result["big"]:
        r = entry["runs"]
        lines.append(
            f"| {entry['case']} | {r[0]['side']} | "
            + " / ".join(f"{x['seconds']:.2f}" for x in r)
            + " | "
            + " / ".join(f"{x['peak_over_input']:.2f}" for x in r)
            + f" | {'yes' if r[0]['refused'] else 'no'} |"
        )
    lines.append(END)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="big images 2000² (a check)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--side", type=int, default=20000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_big(args.one, args.side)))
        return 0
    runs = []
    for run in range(args.runs):
        _progress(f"run {run + 1} of {args.runs}")
        runs.append(
            {
                "full": full_mode(args.repeats),
                "signals": signals(args.repeats),
                "small": small_calls(args.repeats),
            }
        )
    result = {
        "environment": environment(),
        "runs": runs,
        "big": big_images(2000 if args.small else 20000, args.runs),
    }
    lines = report(result)
    print("\n".join(lines))
    if not args.no_write:
        (HERE / "auto_targets.json").write_text(json.dumps(result, indent=1) + "\n")
        write_section(lines, HERE / "RESULTS.md", "auto_targets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
