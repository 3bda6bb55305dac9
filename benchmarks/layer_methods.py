"""Fit the layer cost model: every method of ``convmat.nn`` timed on the speed section's layers.

For each layer of ``speed.LAYERS`` (and each precision, forward and
adjoint), every method the cost model offers (``convmat.nn._cost.layer_costs``)
is timed the way ``speed.py`` times, alone and in alternating rounds. Per
method, the ratio of measured seconds to the model's units, over gemm's ratio on
the same layer, is the factor by which the model misprices that method against
gemm: 1 where the constants in ``convmat/nn/_cost.py`` are right. The script
prints those factors (median and spread per method and precision) and, per
case, the measured fastest method, the model's choice and the time lost by
it; and in float32 each dense method's error over torch's (against the
float64 layer), Winograd's also where the model does not offer it. It
writes them to ``benchmarks/layer_methods.json`` and the
"layer_methods" section of ``benchmarks/RESULTS.md``.

Run: ``make bench-layer-methods`` (torch is a peer here as in ``speed.py``,
whose layers and timing this shares), three times alone to see the spread.
The constants are set from the factors, and a change to them is checked by
running it again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convmat import nn
from convmat.nn._cost import choose_layer_method, layer_costs
from convmat.nn._gemm import gemm_methods
from convmat.nn._layer import Layer
from sections import environment, markers, write_section
from speed import LAYERS, interleaved, torch_conv2d

HERE = Path(__file__).resolve().parent

MATRIX_ENTRIES = 5_000_000  # the sparse method is timed below this many stored entries
METHODS = ("gemm", "shift", "winograd")  # the dense methods whose float32 error is measured


def case(spec: tuple[Any, ...], dtype: str, adjoint: bool, repeats: int) -> dict[str, Any]:
    """Times and model units of every method offered for one layer, one direction."""
    name, n, c_in, c_out, size, k, stride, pad, dil, groups, mode = spec
    rng = np.random.default_rng(size * 31 + c_in)
    w = (rng.standard_normal((c_out, c_in // groups, k, k)) / np.sqrt(c_in * k * k)).astype(dtype)
    layer = Layer(w, (c_in, size, size), stride, pad, dil, groups, mode)
    units = layer_costs(layer, n, np.dtype(dtype), adjoint=adjoint)
    if layer.nnz_bound > MATRIX_ENTRIES:
        units.pop("matrix", None)
    args = {"stride": stride, "padding": pad, "dilation": dil, "groups": groups}
    if adjoint:
        y = rng.standard_normal((n, *layer.output_shape)).astype(dtype)
        out_pad = tuple(
            size - ((layer.output_shape[1 + a] - 1) * stride - 2 * pad + dil * (k - 1) + 1)
            for a in range(2)
        )

        def call(method: str) -> Any:
            return lambda: nn.conv_transpose2d(
                y, w, None, stride, pad, out_pad, groups, dil, padding_mode=mode, method=method
            )
    else:
        x = rng.standard_normal((n, c_in, size, size)).astype(dtype)

        def call(method: str) -> Any:
            return lambda: nn.conv2d(x, w, **args, padding_mode=mode, method=method)

    times = interleaved({method: call(method) for method in units}, repeats)
    row = {
        "layer": name,
        "dtype": dtype,
        "adjoint": adjoint,
        "units": units,
        "times": times,
        "chosen": choose_layer_method(layer, n, np.dtype(dtype), adjoint=adjoint),
    }
    if dtype == "float32" and not adjoint:
        row["errors"] = method_errors(spec, x, w, layer)
    return row


def method_errors(
    spec: tuple[Any, ...], x: np.ndarray, w: np.ndarray, layer: Layer
) -> dict[str, float]:
    """Each dense method's float32 error over torch's: relative 2-norms against float64.

    Every method that serves the layer, offered by the model or not (Winograd
    above 64 channels is measured here, not offered there). The reference is
    the float64 layer of the same float32 data.
    """
    _, _, _, _, _, _, stride, pad, dil, groups, mode = spec
    args = {"stride": stride, "padding": pad, "dilation": dil, "groups": groups}
    ref = nn.conv2d(x.astype(np.float64), w.astype(np.float64), **args, padding_mode=mode)
    theirs = torch_conv2d(torch.from_numpy(x), torch.from_numpy(w), spec)

    def error(y: np.ndarray) -> float:
        return float(np.linalg.norm(y.astype(np.float64) - ref) / np.linalg.norm(ref))

    torch_error = error(theirs)
    return {
        method: error(nn.conv2d(x, w, **args, padding_mode=mode, method=method)) / torch_error
        for method in gemm_methods(layer)
    }


def factors(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Per precision and method: (seconds / units) over gemm's, one entry per case."""
    out: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        rate = {m: row["times"][m] / row["units"][m] for m in row["times"]}
        for method, r in rate.items():
            if method != "gemm":
                out.setdefault(row["dtype"], {}).setdefault(method, []).append(r / rate["gemm"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    env = environment()
    print(json.dumps(env), flush=True)
    rows = []
    specs = [(s, d, a) for s in LAYERS for d in ("float64", "float32") for a in (False, True)]
    for i, (spec, dtype, adjoint) in enumerate(specs, 1):
        row = case(spec, dtype, adjoint, args.repeats)
        rows.append(row)
        t = row["times"]
        fastest = min(t, key=t.__getitem__)
        print(
            f"[{i}/{len(specs)}] {spec[0]} {dtype} {'adjoint' if adjoint else 'forward'}: "
            + ", ".join(f"{m} {v * 1e3:.2f} ms" for m, v in t.items())
            + f"; fastest {fastest}, model {row['chosen']} "
            f"({t[row['chosen']] / t[fastest]:.2f} of the fastest)",
            flush=True,
        )
    print("units misprized against gemm's (measured seconds per unit over gemm's):")
    fits = factors(rows)
    for dtype, per in fits.items():
        for method, values in per.items():
            print(
                f"- {dtype} {method}: median {statistics.median(values):.2f}, "
                f"range {min(values):.2f} to {max(values):.2f} ({len(values)} cases)"
            )
    losses = [r["times"][r["chosen"]] / min(r["times"].values()) for r in rows]
    verdict = (
        f"the model's choice against the fastest method: median {statistics.median(losses):.2f}, "
        f"worst {max(losses):.2f}; the fastest taken in {sum(x == 1.0 for x in losses)} of "
        f"{len(rows)} cases"
    )
    print(verdict)
    result = {"env": env, "rows": rows, "factors": fits}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "layer_methods.json").write_text(json.dumps(result, indent=1, default=str))
    write_section(section(env, fits, rows, verdict), args.out / "RESULTS.md", "layer_methods")
    return 0


def section(
    env: dict[str, str],
    fits: dict[str, dict[str, list[float]]],
    rows: list[dict[str, Any]],
    verdict: str,
) -> list[str]:
    """The RESULTS.md section: the factors, and the cases where the model missed the fastest."""
    begin, end = markers("layer_methods")
    lines = [
        begin,
        "## The layer cost model against every method's time",
        "",
        (
            f"Measured {env['date']} with `make bench-layer-methods` on {env['machine']}; numpy "
            f"{env['numpy']}, scipy {env['scipy']}. BLAS (threadpoolctl): {env['blas']}. Each "
            "method the model offers, timed as `speed.py` times; a factor is a method's measured "
            "seconds per model unit over gemm's on the same layer (1: priced right against gemm)."
        ),
        "",
        "| dtype | method | median factor | range | cases |",
        "|---|---|---|---|---|",
    ]
    for dtype, per in fits.items():
        for method, values in per.items():
            lines.append(
                f"| {dtype} | {method} | {statistics.median(values):.2f} | "
                f"{min(values):.2f} to {max(values):.2f} | {len(values)} |"
            )
    lines += [
        "",
        (
            "Float32 error of each dense method over torch's (relative 2-norms against the "
            "float64 layer of the same data; the layers guide's rule: at most 2):"
        ),
        "",
        "| layer | " + " | ".join(METHODS) + " |",
        "|---|" + "---|" * len(METHODS),
    ]
    for r in rows:
        if "errors" in r:
            cells = [f"{r['errors'][m]:.2f}" if m in r["errors"] else "-" for m in METHODS]
            lines.append(f"| {r['layer']} | " + " | ".join(cells) + " |")
    lines += ["", f"Summary: {verdict}.", "", "Cases where the model missed the fastest:", ""]
    for r in rows:
        t = r["times"]
        fastest = min(t, key=t.__getitem__)
        if r["chosen"] != fastest:
            lines.append(
                f"- {r['layer']}, {r['dtype']}, {'adjoint' if r['adjoint'] else 'forward'}: "
                f"{r['chosen']} {t[r['chosen']] / t[fastest]:.2f}x the time of {fastest}"
            )
    return [*lines, "", end]


if __name__ == "__main__":
    sys.exit(main())
