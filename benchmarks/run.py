"""Benchmark convmat against scipy and torch on one grid, in one process.

Run ``make bench`` (or ``python benchmarks/run.py``). For every case of the grid
(images 32^2 .. 2048^2, kernels 3, 7, 31, modes full and same, batches 1 and
64, float64 and float32) it checks each peer's result against convmat's, then
times all of them interleaved, repeat after repeat, and keeps medians. It
writes ``benchmarks/RESULTS.md`` (tables of times and ratios, with the BLAS
and thread counts), ``benchmarks/results.json`` and ``benchmarks/ratios.png``;
then, with torch installed, runs ``speed.py`` for its section (CNN layers
against torch, small one-shot calls, batched operators).

Peers: scipy.signal.convolve2d (looped over the batch), fftconvolve and
oaconvolve (batched axes), scipy.ndimage.convolve (batched), and torch's
conv2d / conv_transpose2d on the CPU when torch is installed. A peer whose
call is predicted (or seen) to take over 20 s in a case is skipped, and the
table says so.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import scipy.ndimage as ndi
import scipy.signal as ss
from threadpoolctl import threadpool_info

import convmat
from convmat._engines import cache as _plans
from figures import SCIPY_PEERS, ratio_figure
from sections import fmt_seconds as _fmt
from sections import kept_sections

try:
    import torch
except ImportError:  # torch is optional
    torch = None

HERE = Path(__file__).resolve().parent
LIMIT_S = 20.0
# One batch array at most this large: the peers hold several arrays of its size at once
# (padded copies, spectra, outputs), and a 2 GiB batch of 2048^2 float64 images drove a
# run past 24 GiB, where the kernel's OOM killer stopped it. Larger batches are cut to fit.
MAX_BATCH_BYTES = 512 * 2**20
DIRECT_MACS_PER_S = 2e8  # a pessimistic rate for direct loops, to skip hopeless cases unrun
Peer = Callable[[], np.ndarray]


def _direct_seconds(batch: int, out_pixels: int, taps: int) -> float:
    return batch * out_pixels * taps / DIRECT_MACS_PER_S


def _case_peers(x: np.ndarray, k: np.ndarray, mode: str) -> dict[str, tuple[Peer, float]]:
    """Each peer's call, with a predicted time (0 = not predicted) for the skip rule."""
    batch, n = x.shape[0], x.shape[1]
    m = k.shape[0]
    out = (n + m - 1) ** 2 if mode == "full" else n * n
    direct = _direct_seconds(batch, out, m * m)
    kb = k[None]
    peers: dict[str, tuple[Peer, float]] = {
        "convolve2d": (lambda: np.stack([ss.convolve2d(xi, k, mode) for xi in x]), direct),
        "fftconvolve": (lambda: ss.fftconvolve(x, kb, mode=mode, axes=(1, 2)), 0.0),
        "oaconvolve": (lambda: ss.oaconvolve(x, kb, mode=mode, axes=(1, 2)), 0.0),
    }
    if mode == "same":
        peers["ndimage"] = (lambda: ndi.convolve(x, kb, mode="constant"), direct)
    else:
        pad = ((0, 0), (m - 1, m - 1), (m - 1, m - 1))
        lo = (m - 1) // 2 if m % 2 else m // 2
        peers["ndimage"] = (
            lambda: ndi.convolve(np.pad(x, pad), kb, mode="constant")[
                :, m - 1 - lo : m - 1 - lo + n + m - 1, m - 1 - lo : m - 1 - lo + n + m - 1
            ],
            direct,
        )
    if torch is not None:
        xt = torch.from_numpy(x[:, None])
        kt = torch.from_numpy(np.ascontiguousarray(k[::-1, ::-1])[None, None])
        padding: Any = m - 1 if mode == "full" else "same"

        def torch_conv() -> np.ndarray:
            with torch.no_grad():
                return torch.nn.functional.conv2d(xt, kt, padding=padding)[:, 0].numpy()

        peers["torch"] = (torch_conv, direct * (4 if x.dtype == np.float64 else 1))
    return peers


def _torch_transpose(y: np.ndarray, k: np.ndarray, mode: str) -> Peer | None:
    if torch is None or mode != "full":
        return None
    yt = torch.from_numpy(y[:, None])
    kt = torch.from_numpy(np.ascontiguousarray(k)[None, None])
    m = k.shape[0]

    def run() -> np.ndarray:
        with torch.no_grad():
            # A.T of a full convolution with k: torch's transposed convolution of the flipped
            # kernel with the full padding (torch's conv2d is a correlation)
            out = torch.nn.functional.conv_transpose2d(yt, kt.flip(-1, -2), padding=m - 1)
            return out[:, 0].numpy()

    return run


def _time(fn: Peer, number: int = 1) -> float:
    """Seconds per call, over `number` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def _check(name: str, got: np.ndarray, ref: np.ndarray, x: np.ndarray, k: np.ndarray) -> None:
    eps = np.finfo(ref.dtype).eps
    scale = float(np.abs(x).max() * np.abs(k).sum())
    tol = 4096 * eps * scale
    err = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    if got.shape != ref.shape or err > tol:
        msg = f"{name} disagrees with convmat: shape {got.shape} vs {ref.shape}, max error {err:.3g} > {tol:.3g}"
        raise AssertionError(msg)


def run_case(n: int, m: int, mode: str, batch: int, dtype: type, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(n * 1000 + m * 10 + batch)
    x = rng.standard_normal((batch, n, n)).astype(dtype)
    k = rng.standard_normal((m, m)).astype(dtype)
    op = convmat.ConvOperator(k, (n, n), mode)
    method = op.method_for(batch)
    ref = op(x)  # builds the plan's resources, untimed
    y = ref  # the transposes read it, never write it

    def one_shot() -> np.ndarray:
        _plans.clear()  # a cold call: nothing cached
        return convmat.conv2d(x, k, mode)

    contenders: dict[str, Peer] = {"convmat plan": lambda: op(x), "convmat one-shot": one_shot}
    skipped: dict[str, str] = {}
    for name, (fn, predicted) in _case_peers(x, k, mode).items():
        if predicted > LIMIT_S:
            skipped[name] = f"predicted {predicted:.0f} s"
            continue
        contenders[name] = fn
    transpose_peers: dict[str, Peer] = {"convmat plan.T": lambda: op.T(y)}
    torch_t = _torch_transpose(y, k, mode)
    if torch_t is not None and "torch" in contenders:
        transpose_peers["torch conv_transpose2d"] = torch_t
    first: dict[str, float] = {}
    ref_t = op.T(y)
    for name, fn in {**contenders, **transpose_peers}.items():
        start = time.perf_counter()
        got = fn()
        first[name] = time.perf_counter() - start
        if name in transpose_peers:
            _check(name, got, ref_t, y, k)
        else:
            _check(name, got, ref, x, k)
        del got  # large cases: one result alive at a time
        gc.collect()
        if first[name] > LIMIT_S:
            skipped[name] = f"took {first[name]:.0f} s once"
    del ref_t
    runs: dict[str, list[float]] = {name: [] for name in {**contenders, **transpose_peers}}
    slowest = max(first.values())
    reps = repeats if slowest < 1.0 else max(3, min(repeats, int(6 / slowest)))
    # fast calls are timed over loops of at least ~20 ms, so that timer and cache noise vanish
    number = {
        name: max(1, int(0.02 / max(_time(fn), 1e-7)))
        for name, fn in {**contenders, **transpose_peers}.items()
        if name not in skipped and first[name] < 0.02
    }
    for _ in range(reps):
        gc.collect()
        for name, fn in {**contenders, **transpose_peers}.items():
            if name in skipped:
                continue
            runs[name].append(_time(fn, number.get(name, 1)))
    times = {name: statistics.median(ts) for name, ts in runs.items() if ts}
    build: dict[str, Any] = {}
    try:
        start = time.perf_counter()
        csr = convmat.conv_matrix(k, (n, n), mode, format="csr")
        build_s = time.perf_counter() - start
        parts = (csr.data, csr.indices, csr.indptr)
        nbytes = sum(p.nbytes for p in parts)
        copies = [sum(_time(p.copy) for p in parts) for _ in range(3)]
        build = {"seconds": build_s, "bytes": nbytes, "copy_seconds": statistics.median(copies)}
        del csr, parts
    except convmat.MatrixTooLargeError as exc:
        build = {"refused": str(exc).split(";")[0]}
    gc.collect()
    return {
        "n": n,
        "m": m,
        "mode": mode,
        "batch": batch,
        "dtype": np.dtype(dtype).name,
        "method": method,
        "plan_bytes": op.nbytes,
        "times": times,
        "skipped": skipped,
        "repeats": reps,
        "build": build,
    }


def _ratios(case: dict[str, Any]) -> dict[str, float | None]:
    t = case["times"]
    scipy_best = min((t[p] for p in SCIPY_PEERS if p in t), default=None)
    peers = [p for p in (*SCIPY_PEERS, "torch") if p in t]
    best = min((t[p] for p in peers), default=None)
    plan = t.get("convmat plan")
    return {
        "plan/best": plan / best if plan and best else None,
        "plan/scipy": plan / scipy_best if plan and scipy_best else None,
        "plan/torch": plan / t["torch"] if plan and "torch" in t else None,
        "oneshot/convolve2d": t["convmat one-shot"] / t["convolve2d"]
        if "convolve2d" in t
        else None,
    }


def _r(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def write_results(cases: list[dict[str, Any]], env: dict[str, Any], path: Path) -> list[str]:
    lines = [
        "# convmat benchmark results",
        "",
        (
            f"Measured {env['date']} with `make bench` on {env['machine']}; Python {env['python']}, "
            f"numpy {env['numpy']}, scipy {env['scipy']}, torch {env['torch']}."
        ),
        "",
        "BLAS and thread pools (threadpoolctl):",
        "",
    ]
    lines += [
        f"- {p['internal_api']} {p.get('version')} ({p['user_api']}), {p['num_threads']} threads"
        for p in env["threadpools"]
    ]
    lines += [
        "",
        (
            "Times are medians of interleaved repeats in one process. Ratios below 1 mean convmat is "
            "faster: *plan/best* is the applied ConvOperator against the fastest peer, torch included; "
            "*plan/scipy* against the fastest scipy peer; *one-shot/convolve2d* is a cold `convmat.conv2d` "
            "call (cache emptied, matrix or spectrum built inside the timing) against `scipy.signal.convolve2d`. "
            "`-` means the peer was skipped (over 20 s) or does not apply."
        ),
        "",
    ]
    for dtype in ("float64", "float32"):
        lines += [
            f"## {dtype}",
            "",
            "| image | kernel | mode | batch | method | plan | one-shot | convolve2d | fftconvolve | oaconvolve | ndimage | torch | plan/best | plan/scipy | plan/torch | one-shot/convolve2d |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for c in cases:
            if c["dtype"] != dtype:
                continue
            t, r = c["times"], _ratios(c)
            cells = [f"{c['n']}²", f"{c['m']}²", c["mode"], str(c["batch"]), c["method"]]
            cells += [
                _fmt(t.get(p)) for p in ("convmat plan", "convmat one-shot", *SCIPY_PEERS, "torch")
            ]
            cells += [
                _r(r[key])
                for key in ("plan/best", "plan/scipy", "plan/torch", "oneshot/convolve2d")
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Transposed convolution (full mode): plan.T against torch conv_transpose2d",
        "",
        "| image | kernel | batch | dtype | plan.T | torch | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        t = c["times"]
        if c["mode"] == "full" and "convmat plan.T" in t:
            tt = t.get("torch conv_transpose2d")
            ratio = t["convmat plan.T"] / tt if tt else None
            lines.append(
                f"| {c['n']}² | {c['m']}² | {c['batch']} | {c['dtype']} | {_fmt(t['convmat plan.T'])} | {_fmt(tt)} | {_r(ratio)} |"
            )
    lines += [
        "",
        "## CSR build (float64, batch-independent): time against copying the finished bytes once",
        "",
        "| image | kernel | mode | nnz bytes | build | copy | build/copy |",
        "|---|---|---|---|---|---|---|",
    ]
    seen = set()
    for c in cases:
        key = (c["n"], c["m"], c["mode"])
        if c["dtype"] != "float64" or key in seen:
            continue
        seen.add(key)
        b = c["build"]
        if "refused" in b:
            lines.append(
                f"| {c['n']}² | {c['m']}² | {c['mode']} | refused: {b['refused']} | - | - | - |"
            )
        else:
            lines.append(
                f"| {c['n']}² | {c['m']}² | {c['mode']} | {b['bytes']:,} | {_fmt(b['seconds'])} | "
                f"{_fmt(b['copy_seconds'])} | {b['seconds'] / b['copy_seconds']:.1f} |"
            )
    cut = sorted(
        {c["batch_note"] + f" for {c['n']}² {c['dtype']}" for c in cases if "batch_note" in c}
    )
    if cut:
        lines += ["", "## Batches cut for memory", "", *[f"- {note}" for note in cut]]
    skipped = [(c, name, why) for c in cases for name, why in c["skipped"].items()]
    if skipped:
        lines += ["", "## Skipped", ""]
        lines += [
            f"- {c['n']}², {c['m']}², {c['mode']}, batch {c['batch']}, {c['dtype']}: {name} ({why})"
            for c, name, why in skipped
        ]
    peak = env.get("peak")
    if peak:
        lines += [
            "",
            "## A 2048x2048 image with a 5x5 kernel ('same', CSR, float64, fresh process)",
            "",
            (
                f"- build and first apply: {peak['build_and_apply_s']:.2f} s; apply alone: "
                f"{_fmt(peak['apply_s'])}"
            ),
            (
                f"- matrix: {peak['matrix_bytes']:,} bytes; peak resident memory: "
                f"{peak['peak_rss_bytes']:,} bytes ({peak['peak_rss_bytes'] / 2**30:.2f} GiB)"
            ),
            f"- max |difference| against fftconvolve: {peak['max_error_vs_fftconvolve']:.2e}",
        ]
    summary = summarise(cases)
    lines += ["", "## Targets", "", *summary, ""]
    # keep the sections that benchmarks/signals.py and benchmarks/inverse.py write
    for section in kept_sections(path.read_text() if path.exists() else ""):
        lines += ["", section]
    path.write_text("\n".join(lines))
    return summary


def summarise(cases: list[dict[str, Any]]) -> list[str]:
    """One line per target: how many cases meet it, and the worst ratio."""
    out = []

    def line(title: str, values: list[tuple[float, dict[str, Any]]], limit: float) -> None:
        if not values:
            out.append(f"- {title}: no case measured")
            return
        met = sum(v <= limit for v, _ in values)
        worst, case = max(values, key=lambda vc: vc[0])
        out.append(
            f"- {title}: {met} of {len(values)} cases within {limit}x; worst {worst:.2f}x "
            f"({case['n']}², kernel {case['m']}², {case['mode']}, batch {case['batch']}, {case['dtype']})"
        )

    small_batched = [
        (_ratios(c)["plan/best"], c) for c in cases if c["batch"] >= 16 and c["m"] <= 7
    ]
    line(
        "plan, batch >= 16, kernel <= 7x7, vs fastest peer incl. torch",
        [(v, c) for v, c in small_batched if v is not None],
        0.5,
    )
    others = [
        (_ratios(c)["plan/scipy"], c) for c in cases if not (c["batch"] >= 16 and c["m"] <= 7)
    ]
    line(
        "plan, other cases, vs fastest scipy peer",
        [(v, c) for v, c in others if v is not None],
        1.0,
    )
    torch_r = [(_ratios(c)["plan/torch"], c) for c in cases]
    line("plan vs torch, every case (reported)", [(v, c) for v, c in torch_r if v is not None], 1.0)
    one = [(_ratios(c)["oneshot/convolve2d"], c) for c in cases]
    line(
        "one-shot conv2d vs scipy.signal.convolve2d", [(v, c) for v, c in one if v is not None], 1.0
    )
    builds = [
        (c["build"]["seconds"] / c["build"]["copy_seconds"], c)
        for c in cases
        if "seconds" in c["build"] and c["dtype"] == "float64" and c["batch"] == 1
    ]
    line("CSR build vs copying its bytes", builds, 15.0)
    return out


def plot(cases: list[dict[str, Any]], path: Path) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig = ratio_figure(cases)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def peak_memory_case() -> dict[str, Any]:
    """Build and apply the CSR operator of a 5x5 kernel over a 2048x2048 image; peak RSS.

    Run in a fresh process (``--peak``), so that the peak is this case's alone.
    """
    import resource

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2048, 2048))
    k = rng.standard_normal((5, 5))
    start = time.perf_counter()
    op = convmat.ConvOperator(k, x.shape, "same", method="sparse")
    y = op(x)  # builds the CSR matrix, then applies it
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    y = op(x)
    apply_s = time.perf_counter() - start
    err = float(np.abs(y - ss.fftconvolve(x, k, "same")).max())
    # VmHWM: this process's own high-water mark (ru_maxrss would carry over the
    # resident set of the parent that forked it)
    status = Path("/proc/self/status")
    if status.exists():
        line = next(ln for ln in status.read_text().splitlines() if ln.startswith("VmHWM:"))
        peak = int(line.split()[1]) * 1024
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "build_and_apply_s": seconds,
        "apply_s": apply_s,
        "matrix_bytes": op.nbytes,
        "peak_rss_bytes": peak,
        "max_error_vs_fftconvolve": err,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[32, 128, 512, 2048])
    parser.add_argument("--kernels", type=int, nargs="+", default=[3, 7, 31])
    parser.add_argument("--modes", nargs="+", default=["full", "same"])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument(
        "--peak", action="store_true", help="only the 2048x2048, 5x5 peak-memory case"
    )
    parser.add_argument(
        "--resume", action="store_true", help="keep the cases already in results.json, run the rest"
    )
    parser.add_argument(
        "--grid-only",
        action="store_true",
        help="the grid's tables alone: no peak-memory case, no plot, no speed section",
    )
    args = parser.parse_args(argv)
    if args.peak:
        print(json.dumps(peak_memory_case()))
        return 0
    env = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.system()}, {__import__('os').cpu_count()} CPUs",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__ if torch is not None else "not installed",
        "threadpools": threadpool_info(),
    }
    print(json.dumps({k: v for k, v in env.items() if k != "threadpools"}))
    for pool in env["threadpools"]:
        print(
            f"threadpool: {pool['internal_api']} {pool.get('version')} {pool['user_api']} threads={pool['num_threads']}"
        )
    grid = [
        (n, m, mode, b, d)
        for d in args.dtypes
        for n in args.images
        for m in args.kernels
        for mode in args.modes
        for b in args.batches
    ]
    cases: list[dict[str, Any]] = []
    done: dict[tuple[Any, ...], dict[str, Any]] = {}
    if args.resume and (args.out / "results.json").exists():
        for case in json.loads((args.out / "results.json").read_text())["cases"]:
            done[(case["n"], case["m"], case["mode"], case["batch"], case["dtype"])] = case
    for i, (n, m, mode, b0, d) in enumerate(grid, 1):
        start = time.perf_counter()
        b = max(1, min(b0, MAX_BATCH_BYTES // (n * n * np.dtype(d).itemsize)))
        if (n, m, mode, b, d) in done:
            cases.append(done[(n, m, mode, b, d)])
            continue
        case = run_case(n, m, mode, b, getattr(np, d), args.repeats)
        if b != b0:
            case["batch_note"] = (
                f"batch {b0} cut to {b} (a batch array at most {MAX_BATCH_BYTES // 2**20} MiB)"
            )
        cases.append(case)
        r = _ratios(case)
        print(
            f"[{i}/{len(grid)}] {n}² k{m} {mode} B{b} {d}: {case['method']}, plan "
            f"{_fmt(case['times'].get('convmat plan'))}, plan/best {_r(r['plan/best'])}, "
            f"plan/scipy {_r(r['plan/scipy'])}, one-shot/convolve2d {_r(r['oneshot/convolve2d'])} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        (args.out / "results.json").write_text(
            json.dumps({"env": env, "cases": cases}, indent=1, default=str)
        )
    if args.grid_only:
        print("\n".join(write_results(cases, env, args.out / "RESULTS.md")))
        return 0
    import subprocess

    peak = json.loads(
        subprocess.run(
            [sys.executable, __file__, "--peak"], capture_output=True, text=True, check=True
        ).stdout.splitlines()[-1]
    )
    print(f"2048x2048 image, 5x5 kernel, CSR: {json.dumps(peak)}")
    env["peak"] = peak
    summary = write_results(cases, env, args.out / "RESULTS.md")
    print("\n".join(summary))
    try:
        plot(cases, args.out / "ratios.png")
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
    if torch is None:
        print("torch not installed: no speed section (CNN layers against torch)", file=sys.stderr)
        return 0
    import speed  # CNN layers, small calls and batched operators: their own section

    return speed.main(["--out", str(args.out)])


if __name__ == "__main__":
    sys.exit(main())
