"""The sections of ``benchmarks/RESULTS.md`` that one script each writes, between markers,
and the helpers those scripts share (timing, resident memory, the environment).

``run.py`` rewrites the file and keeps these sections; ``fft_regime.py``,
``signals.py``, ``inverse.py``, ``speed.py`` and ``dask_scale.py`` replace their own section
and leave the rest alone, and describe the machine they ran on with
:func:`environment`.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy
from threadpoolctl import threadpool_info

SCRIPTS = (
    "auto_targets",
    "calibrate",
    "fft_regime",
    "fft_error",
    "signals",
    "inverse",
    "deblur_exactness",
    "deblur_weights",
    "speed",
    "layer_methods",
    "dask_scale",
)


def markers(script: str) -> tuple[str, str]:
    """The opening and closing markers of `script`'s section."""
    return f"<!-- {script}: written by benchmarks/{script}.py -->", f"<!-- /{script} -->"


def write_section(lines: list[str], path: Path, script: str) -> None:
    """Put `lines` (markers included) into `path`, replacing `script`'s section if present."""
    begin, end = markers(script)
    text = path.read_text() if path.exists() else ""
    section = "\n".join(lines)
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def kept_sections(text: str) -> list[str]:
    """The scripts' sections found in `text`, each with its markers."""
    out = []
    for script in SCRIPTS:
        begin, end = markers(script)
        if begin in text and end in text:
            out.append(begin + text.split(begin, 1)[1].split(end, 1)[0] + end)
    return out


def fmt_seconds(seconds: float | None) -> str:
    """A time for a table: µs, ms or s with three significant figures or so; '-' for none."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def environment(**extra: str) -> dict[str, str]:
    """Date, machine, numpy, scipy, the BLAS pools and their threads, and `extra` versions."""
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.system()}, {os.cpu_count()} CPUs",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        **extra,
        "blas": ", ".join(
            f"{p['internal_api']} {p.get('version')} ({p['num_threads']} threads)"
            for p in threadpool_info()
        ),
    }


def measured(command: str, env: dict[str, str]) -> str:
    """The sentence that opens a section: when, with which command, on what machine."""
    return (
        f"Measured {env['date']} with `{command}` on {env['machine']}; numpy {env['numpy']}, "
        f"scipy {env['scipy']}; BLAS: {env['blas']}."
    )


def interleaved_medians(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each call, the calls interleaved repeat after repeat."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def resident_bytes(field: str) -> int:
    """Resident memory (VmRSS) or its peak (VmHWM) in bytes, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    msg = f"{field} not in /proc/self/status"
    raise RuntimeError(msg)
