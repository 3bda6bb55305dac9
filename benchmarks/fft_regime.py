"""Benchmark the accuracy dial where scipy takes the FFT: convmat's defaults against scipy.

Run ``make bench-fft`` (or ``python benchmarks/fft_regime.py``; ``--report
a.json b.json c.json`` writes the section from several runs, the table from the
last and each run's summary beside it, for the spread). The grid:
1-D signals, 2-D single images, 2-D batches and 3-D volumes; float32 and
float64; zero-mean data (standard normal image and kernel) and nonnegative
images (uniform image, the kernel's magnitudes); kernels from 15 to 4097 taps
per axis. A case enters the grid only where ``scipy.signal.choose_conv_method``
picks the FFT for one image.

Contenders, each called cold (every plan and engine cache emptied first, so
that the kernel's spectrum is computed inside the timing, as scipy does):

* ``convmat.convolve`` with default arguments (``rtol=None``);
* the same with ``rtol=0`` (a direct sum's bound for every dtype);
* ``scipy.signal.convolve`` (its own ``method='auto'``), or
  ``scipy.signal.fftconvolve`` over the trailing axes for a batch.

Times are medians of interleaved repeats, after one 30 MiB array has been
allocated and freed: glibc then keeps freed blocks of up to that size for
reuse, as in any program that has handled a large array, instead of returning
each one to the system and paying page faults for every temporary of every
call (measured here: both libraries 1.5x to 3x slower without it, convmat,
which allocates more temporaries, the more). Quality: the largest error of each
contender at any output over ``(|k| * |x|)`` there (the per-output scale of
the contract), against convmat's ``rtol=0`` result computed in float64 from
the same data. Memory: the peak resident memory one call adds, each in a
fresh process (Linux), over the bytes of input plus output. The table goes
into the "FFT regime" section of ``benchmarks/RESULTS.md`` and into
``benchmarks/fft_regime.json``; a progress line per case goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.signal as ss

import convmat
from convmat._core import index as _index
from convmat._engines import cache as _plans
from sections import (
    environment,
    fmt_seconds,
    interleaved_medians,
    markers,
    measured,
    resident_bytes,
    write_section,
)

HERE = Path(__file__).resolve().parent
BEGIN, END = markers("fft_regime")
Call = Callable[[], np.ndarray]

# (kind, image shape, kernel length per axis); batches lead with their batch axis
CASES: tuple[tuple[str, tuple[int, ...], int], ...] = (
    ("1-D", (100_000,), 129),
    ("1-D", (100_000,), 1025),
    ("1-D", (100_000,), 4097),
    ("1-D", (1_000_000,), 1025),
    ("1-D", (1_000_000,), 4097),
    ("2-D", (512, 512), 15),
    ("2-D", (512, 512), 31),
    ("2-D", (512, 512), 63),
    ("2-D", (1024, 1024), 31),
    ("batch", (8, 200, 150), 25),
    ("batch", (16, 256, 256), 15),
    ("3-D", (64, 64, 64), 7),
    ("3-D", (64, 64, 64), 15),
    ("3-D", (128, 128, 128), 15),
)


def warm_allocator() -> None:
    """Allocate and free one 30 MiB array: glibc raises its threshold for returning freed
    memory to the system to that size, so that later temporaries reuse memory."""
    block = np.ones(30 * 2**20 // 8)
    block[:: 2**9] = 2.0  # touch every page
    del block


def _cold() -> None:
    """Forget every cached plan and engine: the next call builds its own."""
    _plans.clear()
    _index.axis_map.cache_clear()


def inputs(
    kind: str, shape: tuple[int, ...], m: int, dtype: str, data: str
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(sum(shape) * 7 + m)
    axes = len(shape) - 1 if kind == "batch" else len(shape)
    if data == "zero-mean":
        x = rng.standard_normal(shape)
        k = rng.standard_normal((m,) * axes)
    else:
        x = rng.random(shape)
        k = np.abs(rng.standard_normal((m,) * axes))
    return x.astype(dtype), k.astype(dtype)


def calls(kind: str, x: np.ndarray, k: np.ndarray) -> dict[str, Call]:
    def auto() -> np.ndarray:
        _cold()
        return convmat.convolve(x, k, "same")

    def strict() -> np.ndarray:
        _cold()
        return convmat.convolve(x, k, "same", rtol=0)

    if kind == "batch":
        axes = tuple(range(1, x.ndim))
        kb = k[None]

        def peer() -> np.ndarray:
            return ss.fftconvolve(x, kb, "same", axes=axes)
    else:

        def peer() -> np.ndarray:
            return ss.convolve(x, k, "same")

    return {"auto": auto, "rtol=0": strict, "scipy": peer}


def scipy_takes_fft(kind: str, x: np.ndarray, k: np.ndarray) -> bool:
    one = x[0] if kind == "batch" else x
    return bool(ss.choose_conv_method(one, k, "same") == "fft")


def quality(got: np.ndarray, ref: np.ndarray, scale: np.ndarray) -> tuple[float, int]:
    """The largest error over the scale, and how many exact zeros (scale 0) came out nonzero."""
    err = np.abs(got.astype(np.float64) - ref)
    zero = scale == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(zero, 0.0, err / np.where(zero, 1.0, scale))
    return float(rel.max()), int(np.count_nonzero(got[zero]))


def run_case(
    kind: str, shape: tuple[int, ...], m: int, dtype: str, data: str, repeats: int
) -> dict[str, Any] | None:
    x, k = inputs(kind, shape, m, dtype, data)
    if not scipy_takes_fft(kind, x, k):
        return None
    contenders = calls(kind, x, k)
    results = {name: call() for name, call in contenders.items()}
    x64, k64 = x.astype(np.float64), k.astype(np.float64)
    ref = convmat.convolve(x64, k64, "same", rtol=0)
    scale = convmat.convolve(np.abs(x64), np.abs(k64), "same", rtol=0)
    errors = {name: quality(got, ref, scale) for name, got in results.items()}
    first = interleaved_medians(contenders, 1)
    count = max(3, min(repeats, int(3.0 / max(sum(first.values()), 1e-6))))
    times = interleaved_medians(contenders, count)
    return {
        "kind": kind,
        "shape": list(shape),
        "m": m,
        "dtype": dtype,
        "data": data,
        "method": convmat.ConvOperator(k, shape[-k.ndim :], "same").method_for(
            shape[0] if kind == "batch" else 1
        ),
        "repeats": count,
        "times": times,
        "errors": {name: e[0] for name, e in errors.items()},
        "nonzero_zeros": {name: e[1] for name, e in errors.items()},
        "memory": memory(kind, shape, m, dtype, data),
    }


def memory(kind: str, shape: tuple[int, ...], m: int, dtype: str, data: str) -> dict[str, float]:
    out = {}
    for who in ("auto", "scipy"):
        args = [who, kind, ",".join(map(str, shape)), str(m), dtype, data]
        done = subprocess.run(
            [sys.executable, __file__, "--memory", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        out[who] = float(done.stdout.splitlines()[-1])
    return out


def memory_child(
    who: str, kind: str, shape: tuple[int, ...], m: int, dtype: str, data: str
) -> float:
    warm_allocator()
    x, k = inputs(kind, shape, m, dtype, data)
    call = calls(kind, x, k)[who]
    small = x[..., :16]  # warm the libraries before the baseline
    calls(kind, small, k[..., :3])[who]()
    before = resident_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak from here on (Linux)
    y = call()
    return (resident_bytes("VmHWM") - before) / (x.nbytes + y.nbytes)


def _shape(c: dict[str, Any]) -> str:
    shape = c["shape"]
    if c["kind"] == "batch":
        return f"{shape[0]} x {'x'.join(map(str, shape[1:]))}"
    return "x".join(f"{s:,}" for s in shape)


def tables(cases: list[dict[str, Any]], env: dict[str, Any]) -> list[str]:
    lines = [
        BEGIN,
        "## FFT regime: the accuracy dial against scipy",
        "",
        (
            measured("make bench-fft", env) + " Cases where "
            "`scipy.signal.choose_conv_method` takes the FFT; mode 'same'; every convmat call "
            "cold (caches emptied). Times are medians of interleaved repeats, the allocator "
            "warmed first (see the script's docstring); *auto*: default "
            "arguments; *rtol=0*: the strict bound. Error: the largest `|got - exact|` over "
            "`(|k| * |x|)` at any output. Memory: peak resident memory one call adds in a fresh "
            "process, over input plus output bytes."
        ),
        "",
        (
            "Targets: auto/scipy median ≤ 0.9x and worst ≤ 1.5x; rtol=0/scipy median ≤ 3x; "
            "memory at most scipy's."
        ),
        "",
        (
            "| kind | shape | taps | dtype | data | method | auto | rtol=0 | scipy | auto/scipy "
            "| rtol=0/scipy | error auto / scipy | memory auto / scipy |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        t, e, mem = c["times"], c["errors"], c["memory"]
        lines.append(
            f"| {c['kind']} | {_shape(c)} | {c['m']} | {c['dtype']} | {c['data']} | "
            f"{c['method']} | {fmt_seconds(t['auto'])} | {fmt_seconds(t['rtol=0'])} | "
            f"{fmt_seconds(t['scipy'])} | {t['auto'] / t['scipy']:.2f} | "
            f"{t['rtol=0'] / t['scipy']:.2f} | {e['auto']:.1e} / {e['scipy']:.1e} | "
            f"{mem['auto']:.1f} / {mem['scipy']:.1f} |"
        )
    lines += ["", summary(cases), END]
    return lines


def summary(cases: list[dict[str, Any]]) -> str:
    if not cases:
        return "No case of the grid had scipy take the FFT."
    auto = [c["times"]["auto"] / c["times"]["scipy"] for c in cases]
    strict = [c["times"]["rtol=0"] / c["times"]["scipy"] for c in cases]
    mem = [c["memory"]["auto"] <= c["memory"]["scipy"] for c in cases]
    return (
        f"{len(cases)} cases. auto/scipy: median {statistics.median(auto):.2f}, worst "
        f"{max(auto):.2f} (≤ 1.5 in {sum(r <= 1.5 for r in auto)}). rtol=0/scipy: median "
        f"{statistics.median(strict):.2f}, worst {max(strict):.2f}. Memory at most scipy's in "
        f"{sum(mem)} of {len(cases)}."
    )


def spread(runs: list[list[dict[str, Any]]]) -> str:
    """Each run's median and worst auto/scipy and median rtol=0/scipy: the noise between runs."""
    parts = []
    for cases in runs:
        auto = [c["times"]["auto"] / c["times"]["scipy"] for c in cases]
        strict = [c["times"]["rtol=0"] / c["times"]["scipy"] for c in cases]
        parts.append(
            f"{statistics.median(auto):.2f} / {max(auto):.2f} / {statistics.median(strict):.2f}"
        )
    return (
        f"Across {len(runs)} runs of the grid (median auto/scipy / worst auto/scipy / median "
        f"rtol=0/scipy): {'; '.join(parts)}. The table shows the last run."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--data", nargs="+", default=["zero-mean", "nonnegative"])
    parser.add_argument("--kinds", nargs="+", default=["1-D", "2-D", "batch", "3-D"])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--memory", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        help="write the section from these runs' fft_regime.json (the table from the last) "
        "instead of running the grid",
    )
    args = parser.parse_args(argv)
    if args.report:
        args.out.mkdir(parents=True, exist_ok=True)
        runs = [json.loads(path.read_text()) for path in args.report]
        lines = tables(runs[-1]["cases"], runs[-1]["environment"])
        lines.insert(-1, "")
        lines.insert(-1, spread([run["cases"] for run in runs]))
        write_section(lines, args.out / "RESULTS.md", "fft_regime")
        (args.out / "fft_regime.json").write_text(json.dumps(runs[-1], indent=1) + "\n")
        print(spread([run["cases"] for run in runs]))
        return 0
    if args.memory:
        who, kind, shape, m, dtype, data = args.memory
        dims = tuple(int(s) for s in shape.split(","))
        print(memory_child(who, kind, dims, int(m), dtype, data))
        return 0
    env = environment()
    print(json.dumps(env), file=sys.stderr, flush=True)
    warm_allocator()
    grid = [
        (kind, shape, m, dtype, data)
        for kind, shape, m in CASES
        if kind in args.kinds
        for dtype in args.dtypes
        for data in args.data
    ]
    cases = []
    for i, (kind, shape, m, dtype, data) in enumerate(grid, 1):
        start = time.perf_counter()
        case = run_case(kind, shape, m, dtype, data, args.repeats)
        took = time.perf_counter() - start
        if case is None:
            print(
                f"[{i}/{len(grid)}] {kind} {shape} {m} {dtype} {data}: scipy direct, skipped",
                file=sys.stderr,
                flush=True,
            )
            continue
        cases.append(case)
        t = case["times"]
        print(
            f"[{i}/{len(grid)}] {kind} {shape} {m} {dtype} {data}: auto/scipy "
            f"{t['auto'] / t['scipy']:.2f}, rtol=0/scipy {t['rtol=0'] / t['scipy']:.2f} "
            f"({took:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fft_regime.json").write_text(
        json.dumps({"environment": env, "cases": cases}, indent=1) + "\n"
    )
    write_section(tables(cases, env), args.out / "RESULTS.md", "fft_regime")
    print(summary(cases), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
