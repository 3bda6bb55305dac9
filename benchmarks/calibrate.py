"""Check the cost model's constants (``convmat._engines.cost``) against this machine.

Run ``make calibrate`` (or ``python benchmarks/calibrate.py``). The cost model
counts work in one unit, a multiply-add of scipy.sparse's CSR product; this
script times that unit on a convolution matrix, then times each method as
'auto' would run it (the sparse, shift, banded and dense products, and the
FFT with its certificate at the default ``rtol``) on shapes where each
competes, single images and batches, and divides each time, in units, by
the model's count. A ratio of 1 means the model prices the method as it
runs here; the fitted constant is the model's one scaled by that ratio (the
median over the cases where the constant's term dominates):

* ``shift``: units per nonzero tap and output (the model: 0.85 in float64);
* ``_FFT_FLOPS_PER_UNIT``: flops of ``5 N log2 N`` per unit, for the whole
  certified FFT (transforms, certificate, copies), which is what 'auto' pays;
* ``_LONG_DOUBLE_SLOWDOWN``: a long double transform against a float64 one;
* ``_SPARSE_BATCH_UNITS``: the CSR product per stored entry and image of a
  batch (batches);
* ``_DENSE_UNITS_PER_MAC`` (batches: BLAS's GEMM) and ``_DENSE_BYTE_UNITS``
  (single images: the matrix streamed by BLAS's GEMV);
* ``_BANDED_MACS_PER_UNIT``: the banded GEMM's multiply-adds per unit.

The model needs the right ratios between methods more than the right unit, so
the check that matters is that the fitted constants order the methods as the
measured times do; the script prints both and writes
``benchmarks/calibrate.json``. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft as sfft

from convmat._core.plan import make_plan
from convmat._engines import cost as _cost
from convmat._engines.apply import apply
from convmat._engines.engine import Engine
from sections import environment, markers, measured, write_section

HERE = Path(__file__).resolve().parent
# (image shape, kernel length per axis, batch, dtype, boundary, mode); a batch's shape
# leads with the batch
CASES = (
    ((256, 256), 7, 1, "float64", "fill", "same"),
    ((512, 512), 7, 1, "float64", "fill", "same"),
    ((512, 512), 15, 1, "float64", "fill", "same"),
    ((512, 512), 31, 1, "float64", "fill", "same"),
    ((512, 512), 15, 1, "float32", "fill", "same"),
    ((8, 128, 128), 15, 8, "float64", "fill", "same"),
    ((100_000,), 257, 1, "float64", "fill", "same"),
    ((1024, 1024), 3, 1, "float32", "symm", "same"),
    ((1024, 1024), 5, 1, "float64", "fill", "same"),
    ((1024, 1024), 9, 1, "float32", "symm", "same"),
    ((2048, 2048), 7, 1, "float32", "symm", "same"),
    ((2048, 2048), 11, 1, "float64", "wrap", "same"),
    # small images, one or a batch: where the dense and banded GEMMs and the CSR product
    # of a batch compete
    ((32, 32), 31, 1, "float64", "fill", "same"),
    ((32, 32), 31, 1, "float64", "fill", "full"),
    ((128, 128), 3, 1, "float64", "fill", "same"),
    ((64, 32, 32), 3, 64, "float64", "fill", "same"),
    ((64, 32, 32), 7, 64, "float32", "fill", "full"),
    ((64, 32, 32), 31, 64, "float64", "fill", "full"),
    ((64, 128, 128), 7, 64, "float64", "fill", "same"),
    ((8, 512, 512), 3, 8, "float32", "fill", "same"),
)
METHODS = ("sparse", "shift", "fft", "banded", "dense")
BEGIN, END = markers("calibrate")


def median_time(call: Callable[[], object], repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """The median seconds of each call, timed in rounds of one call each (after one
    untimed round), in a shuffled order each round: no call always follows the same
    other one, whose memory traffic would leave it a cold cache."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    order = np.random.default_rng(0)
    names = list(calls)
    for _ in range(repeats):
        for i in order.permutation(len(names)).tolist():
            name, call = names[i], calls[names[i]]
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def unit_seconds(repeats: int) -> float:
    """Seconds of one multiply-add of scipy.sparse's CSR product: a convolution matrix
    (5x5 kernel over 512², the model's sparse method) applied to one image."""
    rng = np.random.default_rng(0)
    k = rng.standard_normal((5, 5))
    mat = Engine(k, make_plan((512, 512), k.shape, "same", "fill")).csr()
    x = rng.standard_normal(512 * 512)
    return median_time(lambda: mat @ x, repeats) / mat.nnz


def measure_case(
    shape: tuple[int, ...],
    m: int,
    batch: int,
    dtype: str,
    boundary: str,
    mode: str,
    unit: float,
    repeats: int,
) -> dict[str, Any]:
    rng = np.random.default_rng(sum(shape) + m)
    image = shape[1:] if batch > 1 else shape
    k = rng.standard_normal((m,) * len(image)).astype(dtype)
    x = rng.standard_normal((batch, math.prod(image))).astype(dtype)
    engine = Engine(k, make_plan(image, k.shape, mode, boundary))
    rtol = 1e-10 if dtype == "float64" else 0.0
    model = _cost.method_costs(engine, batch, amortized=True, rtol=rtol)
    chosen = _cost.choose_method(engine, batch, amortized=True, rtol=rtol)
    calls = {
        method: (
            lambda method=method: apply(
                x, engine, np.dtype(dtype), method=method, certify=True, amortized=True, rtol=rtol
            )
        )
        for method in (*METHODS, "auto")
        if method == "auto" or method in model
    }
    # interleaved: each round times every method once, so that the machine's drift
    # falls on all of them alike
    measured = {method: seconds / unit for method, seconds in interleaved(calls, repeats).items()}
    auto = measured.pop("auto")
    ratios = {name: measured[name] / model[name] for name in measured}
    return {
        "shape": list(shape),
        "m": m,
        "batch": batch,
        "dtype": dtype,
        "boundary": boundary,
        "mode": mode,
        "model_units": {name: model[name] for name in measured},
        "measured_units": measured,
        "ratio": ratios,
        "model_order": sorted(measured, key=lambda name: model[name]),
        "measured_order": sorted(measured, key=measured.__getitem__),
        "auto_method": chosen,
        "auto_over_fastest": auto / min(measured.values()),
    }


def long_double_slowdown(repeats: int) -> float:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((256, 256))
    f64 = median_time(lambda: sfft.irfftn(sfft.rfftn(a), s=a.shape), repeats)
    wide = a.astype(np.longdouble)
    ld = median_time(lambda: sfft.irfftn(sfft.rfftn(wide), s=a.shape), repeats)
    return ld / f64


def report(
    env: dict[str, str],
    cases: list[dict[str, Any]],
    fitted: dict[str, float],
    current: dict[str, float],
    unit: float,
) -> list[str]:
    """The "Cost model" section: predicted against measured, and 'auto' against the
    fastest explicit method, per case."""
    worst = max(c["auto_over_fastest"] for c in cases)
    lines = [
        BEGIN,
        "## Cost model",
        "",
        (
            measured("make calibrate", env) + f" One unit: {unit * 1e9:.2f} ns (a multiply-add "
            "of scipy.sparse's CSR product). A built operator's product ('same' mode), times "
            "in units, medians of repeats; 'auto' (the method the model picks, its certificate "
            "included) against the fastest of the explicit methods measured. Worst: "
            f"**{worst:.2f}x**."
        ),
        "",
        "| case | predicted (units) | measured (units) | auto takes | fastest | auto / fastest |",
        "|---|---|---|---|---|---:|",
    ]
    for c in cases:
        shape = "x".join(map(str, c["shape"]))
        name = f"{shape}, {c['m']} taps/axis, {c['dtype']}, {c['boundary']}, {c['mode']}"
        pred = ", ".join(f"{k} {v:.3g}" for k, v in c["model_units"].items())
        meas = ", ".join(f"{k} {v:.3g}" for k, v in c["measured_units"].items())
        lines.append(
            f"| {name} | {pred} | {meas} | {c['auto_method']} | {c['measured_order'][0]} "
            f"| {c['auto_over_fastest']:.2f} |"
        )
    lines += [
        "",
        "| constant | fitted here | in the model |",
        "|---|---:|---:|",
        *(f"| `{k}` | {v:.2f} | {current[k]:.2f} |" for k, v in fitted.items()),
        END,
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE / "calibrate.json")
    args = parser.parse_args(argv)
    env = environment()
    print(json.dumps(env), file=sys.stderr, flush=True)
    unit = unit_seconds(args.repeats)
    print(f"unit: {unit * 1e9:.2f} ns per sparse multiply-add", file=sys.stderr, flush=True)
    cases = []
    for shape, m, batch, dtype, boundary, mode in CASES:
        case = measure_case(shape, m, batch, dtype, boundary, mode, unit, args.repeats)
        cases.append(case)
        print(
            f"{shape} {m} batch {batch} {dtype} {mode}: measured/model "
            + ", ".join(f"{k} {v:.2f}" for k, v in case["ratio"].items())
            + f"; order measured {case['measured_order']}, model {case['model_order']}"
            + f"; auto ({case['auto_method']}) {case['auto_over_fastest']:.2f}x the fastest",
            file=sys.stderr,
            flush=True,
        )

    def ratio(method: str, batched: bool | None = None) -> float:
        """The median measured/model ratio of `method` (over batches or single images)."""
        values = [
            c["ratio"][method]
            for c in cases
            if method in c["ratio"] and (batched is None or (c["batch"] > 1) == batched)
        ]
        return statistics.median(values) if values else math.nan

    # each constant scaled by its method's median ratio: the term it prices dominates there
    fitted = {
        "shift_units_per_tap (float64)": _cost._shift_units_per_tap(np.dtype("f8"))
        * ratio("shift"),
        "_FFT_FLOPS_PER_UNIT": _cost._FFT_FLOPS_PER_UNIT / ratio("fft"),
        "_LONG_DOUBLE_SLOWDOWN": long_double_slowdown(args.repeats),
        "_SPARSE_BATCH_UNITS": _cost._SPARSE_BATCH_UNITS * ratio("sparse", batched=True),
        "_DENSE_UNITS_PER_MAC": _cost._DENSE_UNITS_PER_MAC * ratio("dense", batched=True),
        "_DENSE_BYTE_UNITS": _cost._DENSE_BYTE_UNITS * ratio("dense", batched=False),
        "_BANDED_MACS_PER_UNIT": _cost._BANDED_MACS_PER_UNIT / ratio("banded"),
    }
    current = {
        "shift_units_per_tap (float64)": _cost._shift_units_per_tap(np.dtype("f8")),
        "_FFT_FLOPS_PER_UNIT": _cost._FFT_FLOPS_PER_UNIT,
        "_LONG_DOUBLE_SLOWDOWN": _cost._LONG_DOUBLE_SLOWDOWN,
        "_SPARSE_BATCH_UNITS": _cost._SPARSE_BATCH_UNITS,
        "_DENSE_UNITS_PER_MAC": _cost._DENSE_UNITS_PER_MAC,
        "_DENSE_BYTE_UNITS": _cost._DENSE_BYTE_UNITS,
        "_BANDED_MACS_PER_UNIT": _cost._BANDED_MACS_PER_UNIT,
    }
    agree = sum(c["model_order"][0] == c["measured_order"][0] for c in cases)
    print(f"{'constant':24} {'fitted':>10} {'in _cost':>10}")
    for name, value in fitted.items():
        print(f"{name:24} {value:10.2f} {current[name]:10.2f}")
    print(f"the model's fastest method is the measured fastest in {agree} of {len(cases)} cases")
    write_section(report(env, cases, fitted, current, unit), HERE / "RESULTS.md", "calibrate")
    args.out.write_text(
        json.dumps(
            {
                "environment": env,
                "unit_ns": unit * 1e9,
                "fitted": fitted,
                "in_cost": current,
                "cases": cases,
            },
            indent=1,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
