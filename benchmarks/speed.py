"""Benchmark where users feel speed: CNN layers against torch, small calls, batched operators.

Run ``make bench-speed`` (or ``python benchmarks/speed.py``); ``make bench``
runs it after the main grid. Four tables, each result checked against its
peer's before it is timed, times the medians of repeats in one process, in
rounds that alternate the contenders; within a round each runs alone, after a
pause and a warm-up call, so that no library's idle threads still spin while
the next one runs:

* ``nn.conv2d`` against ``torch.nn.functional.conv2d`` on the CPU, on
  ResNet and MobileNet layers (3x3, 1x1, 7x7 stride 2, depthwise, dilated,
  reflect padding; batches 1 to 32), float64 and float32, with the method
  convmat's cost model chose;
* ``nn.conv_transpose2d`` against ``torch.nn.functional.conv_transpose2d``
  on the same layers (zero padding: torch has no other there);
* one ``convmat.conv2d`` call on a small single image against
  ``scipy.signal.convolve2d``: with shapes seen before (the small method's
  geometry cached; new values every call) and cold (every cache emptied
  before each call);
* a built ``ConvOperator`` on batches with kernels up to 7x7 against the
  fastest peer: scipy.ndimage, scipy.signal's convolve2d (looped),
  fftconvolve and oaconvolve, and torch; and against its own CSR product
  (``method='sparse'``), which the cost model weighs the banded GEMM against.

The tables go into the "Speed" section of ``benchmarks/RESULTS.md`` (between
markers, which ``run.py`` keeps) and into ``benchmarks/speed.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.ndimage as ndi
import scipy.signal as ss
import torch
import torch.nn.functional as F

import convmat
from convmat import nn
from convmat._engines import cache as _plans
from convmat.nn._cost import choose_layer_method
from convmat.nn._layer import Layer
from sections import environment, markers, write_section
from sections import fmt_seconds as _fmt

HERE = Path(__file__).resolve().parent
BEGIN, END = markers("speed")
Call = Callable[[], Any]
PAUSE_S = 0.3  # the other library's threads have stopped spinning by then (measured)
ROUNDS = 3

# name, batch, C_in, C_out, size, kernel, stride, padding, dilation, groups, padding mode
LAYERS: list[tuple[str, int, int, int, int, int, int, int, int, int, str]] = [
    ("ResNet stem 7x7/2", 8, 3, 64, 112, 7, 2, 3, 1, 1, "zeros"),
    ("ResNet 3x3", 8, 64, 64, 56, 3, 1, 1, 1, 1, "zeros"),
    ("ResNet 3x3, batch 1", 1, 64, 64, 56, 3, 1, 1, 1, 1, "zeros"),
    ("ResNet 3x3/2", 8, 128, 256, 28, 3, 2, 1, 1, 1, "zeros"),
    ("ResNet 3x3, 14^2", 1, 256, 256, 14, 3, 1, 1, 1, 1, "zeros"),
    ("ResNet 3x3, 7^2", 1, 512, 512, 7, 3, 1, 1, 1, 1, "zeros"),
    ("1x1 expand", 8, 64, 256, 56, 1, 1, 0, 1, 1, "zeros"),
    ("1x1 reduce", 32, 256, 64, 14, 1, 1, 0, 1, 1, "zeros"),
    ("CIFAR 3x3", 32, 16, 16, 32, 3, 1, 1, 1, 1, "zeros"),
    ("dilated 3x3 (d=2)", 8, 64, 64, 56, 3, 1, 2, 2, 1, "zeros"),
    ("reflect 3x3", 8, 64, 64, 56, 3, 1, 1, 1, 1, "reflect"),
    ("MobileNet depthwise 3x3", 8, 32, 32, 56, 3, 1, 1, 1, 32, "zeros"),
    ("MobileNet depthwise 3x3/2", 8, 96, 96, 56, 3, 2, 1, 1, 96, "zeros"),
    ("MobileNet depthwise 3x3, 28^2", 32, 64, 64, 28, 3, 1, 1, 1, 64, "zeros"),
]
SMALL = [(24, 40), (32, 32), (48, 48)]
BATCHED = [(48, 96, 5), (64, 32, 3), (64, 32, 7), (64, 128, 3), (64, 128, 7), (16, 512, 5)]


def _time(fn: Call, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def interleaved(calls: dict[str, Call], repeats: int) -> dict[str, float]:
    """Median seconds per call of each: rounds in turn, each contender timed in a block.

    A library's idle threads spin for a while after a call (OpenBLAS's,
    torch's OpenMP pool) and slow whatever runs next on these two cores:
    torch's conv2d right after a numpy GEMM measured 5x its time alone. So
    each contender runs alone, after a pause and a warm-up call, for a block
    of back-to-back loops; the rounds alternate the contenders, so that a
    slow spell of the machine falls on all of them.
    """
    number = {name: max(1, int(0.02 / max(_time(fn, 1), 1e-7))) for name, fn in calls.items()}
    runs: dict[str, list[float]] = {name: [] for name in calls}
    per_round = max(1, -(-repeats // ROUNDS))
    for _ in range(ROUNDS):
        for name, fn in calls.items():
            time.sleep(PAUSE_S)
            fn()
            runs[name].extend(_time(fn, number[name]) for _ in range(per_round))
    return {name: statistics.median(ts) for name, ts in runs.items()}


def _close(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    eps = np.finfo(ref.dtype).eps
    scale = float(np.abs(ref).max()) or 1.0
    err = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    if got.shape != ref.shape or err > 1e4 * eps * scale:
        msg = f"{what}: shape {got.shape} against {ref.shape}, max error {err:.3g}"
        raise AssertionError(msg)


def errors(got: np.ndarray, theirs: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """convmat's and torch's error against the float64 reference: relative 2-norm and max.

    The 2-norm error of the whole output over the reference's 2-norm is the
    measure of the accuracy rule; the largest error over the reference's
    largest magnitude is reported beside it.
    """
    out: dict[str, float] = {}
    norm, peak = float(np.linalg.norm(ref)), float(np.abs(ref).max()) or 1.0
    for who, y in (("convmat", got), ("torch", theirs)):
        diff = y.astype(np.float64) - ref
        out[who] = float(np.linalg.norm(diff)) / (norm or 1.0)
        out[f"{who} max"] = float(np.abs(diff).max()) / peak
    return out


def torch_conv2d(xt: torch.Tensor, wt: torch.Tensor, spec: tuple[Any, ...]) -> np.ndarray:
    """torch's layer of `spec` on `xt` (its padding mode by ``F.pad``, as torch's Conv2d does)."""
    _, _, _, _, _, _, stride, pad, dil, groups, mode = spec
    with torch.no_grad():
        if mode == "zeros":
            return F.conv2d(xt, wt, None, stride, pad, dil, groups).numpy()
        padded = F.pad(xt, (pad,) * 4, mode=mode)
        return F.conv2d(padded, wt, None, stride, 0, dil, groups).numpy()


def layer_case(spec: tuple[Any, ...], dtype: str, repeats: int) -> dict[str, Any]:
    name, n, c_in, c_out, size, k, stride, pad, dil, groups, mode = spec
    rng = np.random.default_rng(size * 31 + c_in)
    x = rng.standard_normal((n, c_in, size, size)).astype(dtype)
    w = (rng.standard_normal((c_out, c_in // groups, k, k)) / np.sqrt(c_in * k * k)).astype(dtype)
    args = {"stride": stride, "padding": pad, "dilation": dil, "groups": groups}
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)

    def theirs() -> np.ndarray:
        return torch_conv2d(xt, wt, spec)

    def ours() -> np.ndarray:
        return nn.conv2d(x, w, **args, padding_mode=mode)

    y = theirs()
    _close(ours(), y, f"{name} conv2d")
    layer = Layer(w, (c_in, size, size), stride, pad, dil, groups, mode)
    row: dict[str, Any] = {
        "layer": name,
        "shape": f"{n}, {c_in}->{c_out}, {size}^2, {k}x{k}",
        "dtype": dtype,
        "method": choose_layer_method(layer, n, np.dtype(dtype)),
    }
    times = interleaved({"torch": theirs, "convmat": ours}, repeats)
    row["conv2d"] = times
    x64, w64 = torch.from_numpy(x.astype(np.float64)), torch.from_numpy(w.astype(np.float64))
    if dtype == "float32":
        ref = torch_conv2d(x64, w64, spec)
        row["conv2d error"] = errors(ours(), y, ref)
    if mode == "zeros":
        out_pad = tuple(
            size - ((y.shape[2 + a] - 1) * stride - 2 * pad + dil * (k - 1) + 1) for a in range(2)
        )
        yt = torch.from_numpy(y)

        def theirs_t() -> np.ndarray:
            with torch.no_grad():
                return F.conv_transpose2d(yt, wt, None, stride, pad, out_pad, groups, dil).numpy()

        def ours_t() -> np.ndarray:
            return nn.conv_transpose2d(
                y, w, None, stride, pad, out_pad, groups, dil, padding_mode=mode
            )

        _close(ours_t(), theirs_t(), f"{name} conv_transpose2d")
        if dtype == "float32":
            y64 = torch.from_numpy(y.astype(np.float64))
            with torch.no_grad():
                ref_t = F.conv_transpose2d(y64, w64, None, stride, pad, out_pad, groups, dil)
            row["conv_transpose2d error"] = errors(ours_t(), theirs_t(), ref_t.numpy())
        row["transpose_method"] = choose_layer_method(layer, n, np.dtype(dtype), adjoint=True)
        row["conv_transpose2d"] = interleaved({"torch": theirs_t, "convmat": ours_t}, repeats)
    return row


def small_case(
    shape: tuple[int, int], m: int, mode: str, dtype: str, repeats: int
) -> dict[str, Any]:
    rng = np.random.default_rng(shape[0] * 100 + m)
    images = rng.standard_normal((16, *shape)).astype(dtype)
    kernel = rng.standard_normal((m, m)).astype(dtype)
    state = {"i": 0}

    def next_image() -> np.ndarray:  # new values every call, as a user's loop has
        state["i"] = (state["i"] + 1) % len(images)
        return images[state["i"]]

    def scipy_call() -> np.ndarray:
        return ss.convolve2d(next_image(), kernel, mode)

    def warm() -> np.ndarray:
        return convmat.conv2d(next_image(), kernel, mode)

    def cold() -> np.ndarray:
        _plans.clear()
        return convmat.conv2d(next_image(), kernel, mode)

    _close(convmat.conv2d(images[0], kernel, mode), ss.convolve2d(images[0], kernel, mode), "small")
    times = interleaved({"convolve2d": scipy_call, "seen shapes": warm, "cold": cold}, repeats)
    return {"image": shape, "kernel": m, "mode": mode, "dtype": dtype, "times": times}


def batched_case(batch: int, n: int, m: int, dtype: str, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(batch + n + m)
    x = rng.standard_normal((batch, n, n)).astype(dtype)
    k = rng.standard_normal((m, m)).astype(dtype)
    op = convmat.ConvOperator(k, (n, n), "same")
    csr = convmat.ConvOperator(k, (n, n), "same", method="sparse")
    ref = op(x)
    kb = k[None]
    xt = torch.from_numpy(x[:, None])
    kt = torch.from_numpy(np.ascontiguousarray(k[::-1, ::-1])[None, None])

    def torch_call() -> np.ndarray:
        with torch.no_grad():
            return F.conv2d(xt, kt, padding="same")[:, 0].numpy()

    peers: dict[str, Call] = {
        "ndimage": lambda: ndi.convolve(x, kb, mode="constant"),
        "fftconvolve": lambda: ss.fftconvolve(x, kb, mode="same", axes=(1, 2)),
        "oaconvolve": lambda: ss.oaconvolve(x, kb, mode="same", axes=(1, 2)),
        "torch": torch_call,
    }
    if batch * n * n * m * m <= 5e7:
        peers["convolve2d"] = lambda: np.stack([ss.convolve2d(xi, k, "same") for xi in x])
    for name, fn in peers.items():
        _close(fn(), ref, name)
    _close(csr(x), ref, "the CSR product")
    times = interleaved({"plan": lambda: op(x), "CSR": lambda: csr(x), **peers}, repeats)
    return {
        "batch": batch,
        "image": n,
        "kernel": m,
        "dtype": dtype,
        "method": op.method_for(batch),
        "times": times,
    }


def _spread(ratios: list[float]) -> str:
    return f"median {statistics.median(ratios):.2f}, worst {max(ratios):.2f}"


def write(results: dict[str, Any], path: Path) -> list[str]:
    env = results["env"]
    lines = [
        BEGIN,
        "## Speed: CNN layers, small calls, batched operators",
        "",
        (
            f"Measured {env['date']} with `make bench-speed` on {env['machine']}; numpy "
            f"{env['numpy']}, scipy {env['scipy']}, torch {env['torch']} (CPU, {env['torch threads']} "
            f"threads). BLAS (threadpoolctl): {env['blas']}."
        ),
        "",
        (
            "Times are medians of repeats in one process, in three rounds that alternate the "
            "contenders; in a round each runs alone after a 0.3 s pause and a warm-up call "
            "(torch's conv2d right after a numpy GEMM measured 5x its time alone: idle threads "
            "still spin). Every result is checked against its peer's first. Ratios below 1 mean "
            "convmat is faster. *Error ratio*: in float32, convmat's error over torch's, each "
            "against torch's float64 result on the same (float32) data: the relative 2-norm of "
            "the whole output's error (the accuracy rule: at most 2), and the largest error "
            "over the largest output."
        ),
        "",
    ]
    summary: list[str] = []
    for op_name in ("conv2d", "conv_transpose2d"):
        lines += [
            f"### `nn.{op_name}` against `torch.nn.functional.{op_name}`",
            "",
            (
                "| layer | N, C_in->C_out, H, k | dtype | torch | convmat | ratio | method "
                "| error ratio (2-norm) | error ratio (max) |"
            ),
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for dtype in ("float64", "float32"):
            ratios, norm_r, max_r = [], [], []
            for row in results["layers"]:
                if row["dtype"] != dtype or op_name not in row:
                    continue
                t = row[op_name]
                ratio = t["convmat"] / t["torch"]
                ratios.append(ratio)
                method = row["method"] if op_name == "conv2d" else row["transpose_method"]
                cells = ["-", "-"]
                err = row.get(f"{op_name} error")
                if err is not None:
                    norm_r.append(err["convmat"] / err["torch"])
                    max_r.append(err["convmat max"] / err["torch max"])
                    cells = [f"{norm_r[-1]:.2f}", f"{max_r[-1]:.2f}"]
                lines.append(
                    f"| {row['layer']} | {row['shape']} | {dtype} | {_fmt(t['torch'])} | "
                    f"{_fmt(t['convmat'])} | {ratio:.2f} | {method} | {cells[0]} | {cells[1]} |"
                )
            if ratios:
                summary.append(f"- `nn.{op_name}` {dtype} against torch: {_spread(ratios)}")
            if norm_r:
                summary.append(
                    f"- `nn.{op_name}` {dtype} error against the float64 reference, convmat's "
                    f"over torch's: 2-norm {_spread(norm_r)}; max {_spread(max_r)}"
                )
        lines.append("")
    lines += [
        "### One `conv2d` call on a small single image against `scipy.signal.convolve2d`",
        "",
        (
            "*seen shapes*: the shapes were seen before (the small method's geometry cached, new "
            "image values every call); *cold*: every cache emptied before each call."
        ),
        "",
        (
            "| image | kernel | mode | dtype | convolve2d | seen shapes | cold | seen/convolve2d "
            "| cold/convolve2d |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    warm_r, cold_r = [], []
    for row in results["small"]:
        t = row["times"]
        w, c = t["seen shapes"] / t["convolve2d"], t["cold"] / t["convolve2d"]
        warm_r.append(w)
        cold_r.append(c)
        h, wd = row["image"]
        lines.append(
            f"| {h}x{wd} | {row['kernel']}² | {row['mode']} | {row['dtype']} | "
            f"{_fmt(t['convolve2d'])} | {_fmt(t['seen shapes'])} | {_fmt(t['cold'])} | "
            f"{w:.2f} | {c:.2f} |"
        )
    summary.append(
        f"- one small `conv2d` call, shapes seen before, against convolve2d: {_spread(warm_r)}"
    )
    summary.append(f"- one small `conv2d` call, cold, against convolve2d: {_spread(cold_r)}")
    lines += [
        "",
        "### A built `ConvOperator` on batches ('same', zero padding) against the fastest peer",
        "",
        (
            "| batch | image | kernel | dtype | method | plan | CSR | ndimage | convolve2d "
            "| fftconvolve | oaconvolve | torch | plan/CSR | plan/best |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    best_r = []
    for row in results["batched"]:
        t = row["times"]
        peers = {k: v for k, v in t.items() if k not in ("plan", "CSR")}
        ratio = t["plan"] / min(peers.values())
        best_r.append(ratio)
        cells = [
            _fmt(t[p]) if p in t else "-"
            for p in ("ndimage", "convolve2d", "fftconvolve", "oaconvolve", "torch")
        ]
        lines.append(
            f"| {row['batch']} | {row['image']}² | {row['kernel']}² | {row['dtype']} | "
            f"{row['method']} | {_fmt(t['plan'])} | {_fmt(t['CSR'])} | "
            + " | ".join(cells)
            + f" | {t['plan'] / t['CSR']:.2f} | {ratio:.2f} |"
        )
    summary.append(
        f"- a built `ConvOperator` on batches against the fastest peer: {_spread(best_r)}"
    )
    lines += ["", "Summary:", "", *summary, "", END]
    write_section(lines, path, "speed")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument(
        "--layers-only", action="store_true", help="only the layer tables, printed, nothing written"
    )
    args = parser.parse_args(argv)
    env = environment(torch=torch.__version__)
    env["torch threads"] = str(torch.get_num_threads())
    print(json.dumps(env), flush=True)
    results: dict[str, Any] = {"env": env, "layers": [], "small": [], "batched": []}
    for i, spec in enumerate(LAYERS, 1):
        for dtype in ("float64", "float32"):
            row = layer_case(spec, dtype, args.repeats)
            results["layers"].append(row)
            t = row["conv2d"]
            note = ""
            if "conv_transpose2d" in row:
                tt = row["conv_transpose2d"]
                note = f", transpose {tt['convmat'] / tt['torch']:.2f}"
            if "conv2d error" in row:
                e = row["conv2d error"]
                note += f", error {e['convmat'] / e['torch']:.2f} of torch's"
            print(
                f"[layer {i}/{len(LAYERS)}] {spec[0]} {dtype}: {row['method']}, "
                f"{t['convmat'] / t['torch']:.2f} of torch{note}",
                flush=True,
            )
    if args.layers_only:
        return 0
    for shape in SMALL:
        for m in (3, 5):
            for mode in ("full", "same"):
                for dtype in ("float64", "float32"):
                    row = small_case(shape, m, mode, dtype, args.repeats)
                    results["small"].append(row)
                    t = row["times"]
                    print(
                        f"[small] {shape} k{m} {mode} {dtype}: seen "
                        f"{t['seen shapes'] / t['convolve2d']:.2f}, cold {t['cold'] / t['convolve2d']:.2f}",
                        flush=True,
                    )
    for batch, n, m in BATCHED:
        for dtype in ("float64", "float32"):
            row = batched_case(batch, n, m, dtype, args.repeats)
            results["batched"].append(row)
            t = row["times"]
            best = min(v for k, v in t.items() if k not in ("plan", "CSR"))
            print(
                f"[batched] {batch}x{n}² k{m} {dtype}: {row['method']}, {t['plan'] / best:.2f} of best",
                flush=True,
            )
    (args.out / "speed.json").write_text(json.dumps(results, indent=1, default=str))
    summary = write(results, args.out / "RESULTS.md")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
