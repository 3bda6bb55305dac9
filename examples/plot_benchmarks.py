"""
Benchmark ratios
================

The main benchmark grid of ``make bench`` (``benchmarks/results.json``): for
each image size, kernel, mode, batch and dtype, the time of a built
``ConvOperator`` over the fastest peer (scipy's convolutions,
``scipy.ndimage`` and torch), and of a one-shot ``convmat.conv2d`` over
``scipy.signal.convolve2d``. Below 1 (blue), convmat is faster. The tables,
the machine and the BLAS are in ``benchmarks/RESULTS.md``; this is the figure
``make bench`` draws there (``benchmarks/figures.py``).
"""

# %%
import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt

here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
benchmarks = here.parent / "benchmarks"
sys.path.insert(0, str(benchmarks))
from figures import ratio_figure

results = json.loads((benchmarks / "results.json").read_text())
env = results["env"]
print({key: env[key] for key in ("date", "machine", "numpy", "scipy") if key in env})

# %%
fig = ratio_figure(results["cases"])
plt.show()
