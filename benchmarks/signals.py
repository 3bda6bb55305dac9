"""Benchmark convmat on long signals and on volumes against scipy, in one process.

Run ``make bench-signals`` (or ``python benchmarks/signals.py``). Two grids:

* signals: 10^4 .. 10^7 samples, kernels 3 .. 4097 taps, modes 'same' and
  'full', float64 and float32. ``convmat.convolve`` on a cold cache (its plan
  and engine built inside the timing) against ``scipy.signal.convolve``
  (method 'auto'), and a built ``ConvOperator`` applied against the same;
  peak memory of each call (resident set, measured in a fresh process on
  Linux, its peak reset first) over the bytes of input plus output.
* volumes: 64^3 .. 256^3 with kernels 3^3 .. 15^3, 'same', float32 and
  float64: ``convmat.convolve`` cold against the best of
  ``scipy.signal.fftconvolve``, ``oaconvolve`` and ``scipy.ndimage.convolve``.

Every result is checked against scipy's before it is timed; times are
medians of interleaved repeats. A peer predicted to take over 20 s is skipped
and the table says so. The tables go into the "Signals and volumes" section
of ``benchmarks/RESULTS.md`` (between markers, which ``run.py`` keeps) and
into ``benchmarks/signals.json``.
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
import scipy.ndimage as ndi
import scipy.signal as ss

import convmat
from convmat._core import index as _index
from convmat._engines import cache as _plans
from sections import (
    environment,
    interleaved_medians,
    markers,
    measured,
    resident_bytes,
    write_section,
)

HERE = Path(__file__).resolve().parent
BEGIN, END = markers("signals")
LIMIT_S = 20.0
DIRECT_MACS_PER_S = 2e8  # pessimistic rate of a direct loop, to skip hopeless cases unrun
Call = Callable[[], np.ndarray]


def _cold() -> None:
    """Forget every cached plan and engine: the next call builds its own."""
    _plans.clear()
    _index.axis_map.cache_clear()


def _inputs(shape: tuple[int, ...], m: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(sum(shape) * 7 + m)
    x = rng.standard_normal(shape).astype(dtype)
    k = rng.standard_normal((m,) * len(shape)).astype(dtype)
    return x, k


def _check(name: str, got: np.ndarray, ref: np.ndarray, x: np.ndarray, k: np.ndarray) -> None:
    # scipy's FFT errs by up to eps * log2(N) * |k|_1 * |x|_2; convmat's 'auto' by a direct sum's
    tol = 64 * np.finfo(ref.dtype).eps * float(np.abs(k).sum()) * float(np.linalg.norm(x))
    err = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    if got.shape != ref.shape or err > tol:
        msg = f"{name}: shape {got.shape} vs {ref.shape}, max error {err:.3g} > {tol:.3g}"
        raise AssertionError(msg)


def _repeats(seconds: float, most: int) -> int:
    return max(1, min(most, int(2.0 / max(seconds, 1e-6))))


def signal_case(n: int, m: int, mode: str, dtype: str, repeats: int) -> dict[str, Any]:
    x, k = _inputs((n,), m, dtype)
    ref = ss.convolve(x, k, mode)
    _cold()
    _check("convolve", convmat.convolve(x, k, mode), ref, x, k)
    op = convmat.ConvOperator(k, (n,), mode)
    start = time.perf_counter()
    _check("ConvOperator", op @ x, ref, x, k)
    build = time.perf_counter() - start

    def cold() -> np.ndarray:
        _cold()
        return convmat.convolve(x, k, mode)

    calls = {"convolve": cold, "operator": lambda: op @ x, "scipy": lambda: ss.convolve(x, k, mode)}
    first = interleaved_medians(calls, 1)
    times = interleaved_medians(calls, _repeats(max(first.values()), repeats))
    return {
        "kind": "signal",
        "n": n,
        "m": m,
        "mode": mode,
        "dtype": dtype,
        "method": op.method_for(1),
        "times": times,
        "operator_first_call": build,
        "memory": _memory(["signal", str(n), str(m), mode, dtype]),
    }


def _volume_peers(x: np.ndarray, k: np.ndarray) -> dict[str, Call]:
    peers: dict[str, Call] = {
        "fftconvolve": lambda: ss.fftconvolve(x, k, "same"),
        "oaconvolve": lambda: ss.oaconvolve(x, k, "same"),
    }
    if x.size * k.size / DIRECT_MACS_PER_S <= LIMIT_S:
        peers["ndimage"] = lambda: ndi.convolve(x, k, mode="constant")
    return peers


def volume_case(n: int, m: int, dtype: str, repeats: int) -> dict[str, Any]:
    x, k = _inputs((n, n, n), m, dtype)
    peers = _volume_peers(x, k)
    ref = peers["fftconvolve"]()
    for name, call in peers.items():
        _check(name, call(), ref, x, k)
    _cold()
    _check("convolve", convmat.convolve(x, k, "same"), ref, x, k)
    op = convmat.ConvOperator(k, (n, n, n), "same")
    _check("ConvOperator", op @ x.reshape(-1), ref.reshape(-1), x, k)

    def cold() -> np.ndarray:
        _cold()
        return convmat.convolve(x, k, "same")

    calls = {"convolve": cold, "operator": lambda: op @ x.reshape(-1), **peers}
    first = interleaved_medians(calls, 1)
    times = interleaved_medians(calls, _repeats(max(first.values()), repeats))
    skipped = [] if "ndimage" in peers else ["ndimage (predicted over 20 s)"]
    return {
        "kind": "volume",
        "n": n,
        "m": m,
        "mode": "same",
        "dtype": dtype,
        "method": op.method_for(1),
        "times": times,
        "skipped": skipped,
        "memory": _memory(["volume", str(n), str(m), "same", dtype]),
    }


def _memory(case: list[str]) -> dict[str, float]:
    """Peak resident memory of one cold call of convmat and of scipy, each in a fresh process,
    over the bytes of the input plus the output."""
    out = {}
    for who in ("convmat", "scipy"):
        done = subprocess.run(
            [sys.executable, __file__, "--memory", who, *case],
            capture_output=True,
            text=True,
            check=True,
        )
        out[who] = float(done.stdout.splitlines()[-1])
    return out


def memory_child(who: str, kind: str, n: int, m: int, mode: str, dtype: str) -> float:
    shape = (n,) if kind == "signal" else (n, n, n)
    x, k = _inputs(shape, m, dtype)
    # page in the input and warm the libraries on a small case before the baseline
    convmat.convolve(x[..., :16], k[..., :3], "same")
    ss.convolve(x[..., :16], k[..., :3], "same")
    before = resident_bytes("VmRSS")
    # reset the peak to the current size (Linux), so that the imports' peak does not hide it
    Path("/proc/self/clear_refs").write_text("5")
    if who == "convmat":
        y = convmat.convolve(x, k, mode)
    elif kind == "signal":
        y = ss.convolve(x, k, mode)
    else:
        y = min(
            (ss.fftconvolve, ss.oaconvolve),
            key=lambda f: interleaved_medians({"f": lambda: f(x, k, mode)}, 1)["f"],
        )(x, k, mode)
    peak = resident_bytes("VmHWM")
    return (peak - before) / (x.nbytes + y.nbytes)


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def tables(cases: list[dict[str, Any]], env: dict[str, Any]) -> list[str]:
    lines = [
        BEGIN,
        "## Signals and volumes",
        "",
        (
            measured("make bench-signals", env) + " Times are medians of "
            "interleaved repeats. *cold*: `convmat.convolve` with every cache emptied first (its "
            "plan and engine built inside the timing); *applied*: a built `ConvOperator`'s "
            "`op @ x`. Memory: peak resident memory added by one cold call, in a fresh process, "
            "over the bytes of input plus output."
        ),
        "",
        "### Signals: against `scipy.signal.convolve` (method 'auto')",
        "",
        "Targets: cold ≤ 1.5x, applied ≤ 1.0x, memory a small multiple of input plus output.",
        "",
        (
            "| samples | taps | mode | dtype | method | cold | applied | scipy | cold/scipy "
            "| applied/scipy | memory (ours / scipy) |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in (c for c in cases if c["kind"] == "signal"):
        t = c["times"]
        lines.append(
            f"| {c['n']:,} | {c['m']} | {c['mode']} | {c['dtype']} | {c['method']} | "
            f"{_fmt(t['convolve'])} | {_fmt(t['operator'])} | {_fmt(t['scipy'])} | "
            f"{t['convolve'] / t['scipy']:.2f} | {t['operator'] / t['scipy']:.2f} | "
            f"{c['memory']['convmat']:.1f} / {c['memory']['scipy']:.1f} |"
        )
    lines += [
        "",
        "### Volumes: against the best of fftconvolve, oaconvolve and ndimage.convolve",
        "",
        "Target: cold ≤ 1.0x the best peer. Mode 'same'.",
        "",
        (
            "| volume | kernel | dtype | method | cold | applied | best peer | cold/best "
            "| applied/best | memory (ours / best FFT peer) |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in (c for c in cases if c["kind"] == "volume"):
        t = c["times"]
        peers = {k: v for k, v in t.items() if k not in ("convolve", "operator")}
        best = min(peers, key=peers.__getitem__)
        note = f" ({', '.join(c['skipped'])})" if c["skipped"] else ""
        lines.append(
            f"| {c['n']}³ | {c['m']}³ | {c['dtype']} | {c['method']} | {_fmt(t['convolve'])} | "
            f"{_fmt(t['operator'])} | {best} {_fmt(peers[best])}{note} | "
            f"{t['convolve'] / peers[best]:.2f} | {t['operator'] / peers[best]:.2f} | "
            f"{c['memory']['convmat']:.1f} / {c['memory']['scipy']:.1f} |"
        )
    lines += ["", summary(cases), END]
    return lines


def summary(cases: list[dict[str, Any]]) -> str:
    sig = [c for c in cases if c["kind"] == "signal"]
    vol = [c for c in cases if c["kind"] == "volume"]
    parts = []
    if sig:
        cold = [c["times"]["convolve"] / c["times"]["scipy"] for c in sig]
        applied = [c["times"]["operator"] / c["times"]["scipy"] for c in sig]
        parts.append(
            f"Signals: cold/scipy ≤ 1.5 in {sum(r <= 1.5 for r in cold)} of {len(sig)} cases "
            f"(median {statistics.median(cold):.2f}, worst {max(cold):.2f}); applied/scipy ≤ 1.0 "
            f"in {sum(r <= 1.0 for r in applied)} of {len(sig)} (median "
            f"{statistics.median(applied):.2f}, worst {max(applied):.2f}); memory over input plus "
            f"output at most {max(c['memory']['convmat'] for c in sig):.1f}."
        )
    if vol:
        ratios = []
        for c in vol:
            t = c["times"]
            ratios.append(
                t["convolve"] / min(v for k, v in t.items() if k not in ("convolve", "operator"))
            )
        parts.append(
            f"Volumes: cold/best ≤ 1.0 in {sum(r <= 1.0 for r in ratios)} of {len(vol)} cases "
            f"(median {statistics.median(ratios):.2f}, worst {max(ratios):.2f})."
        )
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[10**4, 10**5, 10**6, 10**7])
    parser.add_argument("--taps", type=int, nargs="+", default=[3, 65, 1025, 4097])
    parser.add_argument("--modes", nargs="+", default=["same", "full"])
    parser.add_argument("--volumes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--kernels", type=int, nargs="+", default=[3, 7, 15])
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--kinds", nargs="+", default=["signal", "volume"])
    parser.add_argument(
        "--resume", action="store_true", help="keep the cases of signals.json not run again"
    )
    parser.add_argument("--memory", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory:
        who, kind, n, m, mode, dtype = args.memory
        print(memory_child(who, kind, int(n), int(m), mode, dtype))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    env = environment()
    print(json.dumps(env), flush=True)
    grid: list[tuple[Any, ...]] = [
        ("signal", n, m, mode, d)
        for d in args.dtypes
        for n in args.samples
        for m in args.taps
        for mode in args.modes
    ]
    grid += [
        ("volume", n, m, "same", d) for d in args.dtypes for n in args.volumes for m in args.kernels
    ]
    grid = [g for g in grid if g[0] in args.kinds]
    cases = []
    if args.resume and (args.out / "signals.json").exists():
        rerun = {tuple(g) for g in grid}
        for case in json.loads((args.out / "signals.json").read_text())["cases"]:
            key = (case["kind"], case["n"], case["m"], case["mode"], case["dtype"])
            if key not in rerun:
                cases.append(case)
    for i, (kind, n, m, mode, d) in enumerate(grid, 1):
        start = time.perf_counter()
        if kind == "signal":
            case = signal_case(n, m, mode, d, args.repeats)
            t = case["times"]
            ratio = f"cold/scipy {t['convolve'] / t['scipy']:.2f}, applied/scipy {t['operator'] / t['scipy']:.2f}"
        else:
            case = volume_case(n, m, d, args.repeats)
            t = case["times"]
            best = min(v for k, v in t.items() if k not in ("convolve", "operator"))
            ratio = f"cold/best {t['convolve'] / best:.2f}, applied/best {t['operator'] / best:.2f}"
        cases.append(case)
        print(
            f"[{i}/{len(grid)}] {kind} {n} k{m} {mode} {d}: {case['method']}, {ratio}, memory "
            f"{case['memory']['convmat']:.1f}x ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        (args.out / "signals.json").write_text(json.dumps({"env": env, "cases": cases}, indent=1))
    lines = tables(cases, env)
    write_section(lines, args.out / "RESULTS.md", "signals")
    print(lines[-2])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
