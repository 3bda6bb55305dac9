"""
Benchmark ratios
================

The main benchmark grid of ``make bench`` (``benchmarks/results.json``): for
each image size, kernel, mode and batch, the time of a built ``ConvOperator``
over the fastest peer (scipy's convolutions, ``scipy.ndimage`` and torch),
and of a one-shot ``convmat.conv2d`` over ``scipy.signal.convolve2d``. Below 1,
convmat is faster. The tables, the machine and the BLAS are in
``benchmarks/RESULTS.md``.
"""

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
results = json.loads((here.parent / "benchmarks" / "results.json").read_text())
env = results["env"]
print({key: env[key] for key in ("date", "machine", "numpy", "scipy") if key in env})


def ratio(case: dict, ours: str, peers: list[str]) -> float:
    times = case["times"]
    available = [times[p] for p in peers if times.get(p)]
    return times[ours] / min(available) if times.get(ours) and available else np.nan


peers = ["convolve2d", "fftconvolve", "oaconvolve", "ndimage", "torch"]

# %%
fig, axes = plt.subplots(2, 1, figsize=(14, 8), sharey=True)
for ax, dtype in zip(axes, ("float64", "float32"), strict=True):
    cases = [c for c in results["cases"] if c["dtype"] == dtype]
    labels = [f"{c['n']}/{c['m']}/{c['mode'][0]}/{c['batch']}" for c in cases]
    pos = np.arange(len(cases))
    plan = [ratio(c, "convmat plan", peers) for c in cases]
    once = [ratio(c, "convmat one-shot", ["convolve2d"]) for c in cases]
    ax.bar(pos - 0.2, plan, width=0.4, label="ConvOperator / fastest peer")
    ax.bar(pos + 0.2, once, width=0.4, label="one-shot conv2d / convolve2d")
    ax.axhline(1.0, color="k", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(pos, labels, rotation=90, fontsize=6)
    ax.set_title(f"{dtype}: time ratio (below 1: convmat faster); image/kernel/mode/batch")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
