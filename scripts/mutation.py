"""Mutation testing of convmat's core modules with mutmut: what the tests do not pin down.

``make mutation`` runs this script. It generates every mutant of the core
modules (mutmut's own run does that, with one traced pass of the tests), runs
a reproducible random sample of them (``--sample``, all with ``1``), and
prints the score per module: killed over all mutants run, and killed over
those whose survival mutmut reports as a real escape (timeouts and mutants
no test reaches are listed apart). The tests clear the shape-keyed caches
around every test (``tests/conftest.py``), so a mutant cannot pass on a
result cached by the original code; README.md and examples/ are copied into
mutmut's tree (``[tool.mutmut]`` in pyproject.toml) for the tests that read
them. Hypothesis runs its ``mutation`` profile (10 examples a test).

The sample is drawn once and written to ``mutants/sample.json``. ``--keep``
resumes it after an interruption or an edit: mutmut regenerates the mutants of
the functions that changed (their results are cleared), and the script runs
the sample's mutants that have no result yet and the survivors again (a test
added since may kill them); mutants whose function no longer exists leave the
sample.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = (
    "_core.index",
    "_core.plan",
    "_core.csr",
    "_core.taps",
    "_core.exact",
    "_core.budget",
    "_core.validate",
    "_core.halo",
    "_core.spectra",
    "_engines.engine",
    "_engines.certificate",
    "_engines.pool",
    "_engines.apply",
    "_engines.pipeline",
    "_engines.cost",
    "_engines.cache",
    "_engines.small",
    "_engines.banded",
    "_engines.fillfft",
    "nn._layer",
    "nn._fft",
    "nn._winograd",
    "nn._gemm",
    "nn._cost",
    "nn._functional",
    "nn._norm",
    "_inverse.restore",
    "_inverse.admm",
    "_inverse.operators",
    "_inverse.direct",
    "_inverse.model",
    "_inverse.transform",
    "_inverse.cg",
    "_inverse.tikhonov",
    "_inverse.tv",
    "_blocks.checks",
    "_blocks.window",
    "_blocks.operator",
    "toeplitz",
    "conv",
    "fftconv",
    "choose",
    "linop",
    "spectral",
    "psf",
    "deblur",
    "dask",
)
# mutmut's exit codes of a mutant's test run
# (a negative code is the signal that ended the run: SIGXCPU when it ran over its time, SIGSEGV
# when the mutant crashed the interpreter, which no passing run does)
STATUS = {
    1: "killed",
    3: "killed",
    -11: "killed",
    0: "survived",
    33: "no tests",
    36: "timeout",
    -24: "timeout",
}


LOG = ROOT / "mutants" / "run.log"
SAMPLE = ROOT / "mutants" / "sample.json"


def _mutmut(*args: str, progress: list[str] | None = None) -> None:
    """Run mutmut, its output appended to mutants/run.log; with `progress`, print every
    minute how many of those mutants have a result."""
    # one BLAS thread per worker: mutmut runs one worker per core
    threads = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
    env = dict(os.environ, HYPOTHESIS_PROFILE="mutation", **threads)
    LOG.parent.mkdir(exist_ok=True)
    with LOG.open("a") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mutmut", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        last = -1
        while True:
            try:
                proc.wait(timeout=60)
                break
            except subprocess.TimeoutExpired:
                if progress is None:
                    continue
                codes = _results()
                done = sum(codes.get(name) is not None for name in progress)
                if done != last:
                    print(f"  {done} of {len(progress)} run", flush=True)
                    last = done


def _results() -> dict[str, int | None]:
    """Every generated mutant's name and its exit code (None before it ran)."""
    out: dict[str, int | None] = {}
    for meta in (ROOT / "mutants" / "src" / "convmat").rglob("*.py.meta"):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def _module(name: str) -> str:
    """The module of a mutant's name (``convmat._core.index.x_axis_map__mutmut_3``)."""
    return ".".join(name.split(".")[1:-1])


def _draw(args: argparse.Namespace) -> None:
    """Draw the sample from the generated mutants and record it in mutants/sample.json."""
    names = sorted(n for n in _results() if _module(n) in args.modules)
    chosen = sorted(random.Random(args.seed).sample(names, round(len(names) * args.sample)))
    print(f"{len(names)} mutants in {len(args.modules)} modules; sample of {len(chosen)}")
    record = {"sample": args.sample, "seed": args.seed, "names": chosen}
    SAMPLE.write_text(json.dumps(record, indent=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=float, default=0.1, help="share of mutants to run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    parser.add_argument("--modules", nargs="+", default=list(CORE), choices=CORE)
    parser.add_argument("--keep", action="store_true", help="reuse mutants/ from the last run")
    parser.add_argument(
        "--report", action="store_true", help="only report on the sample's mutants run so far"
    )
    args = parser.parse_args(argv)
    if not 0 < args.sample <= 1:
        parser.error(f"--sample must be in (0, 1], got {args.sample}")
    fresh = not args.keep and not args.report
    if fresh:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    elif not SAMPLE.exists() and _results():
        # a tree from before the sample was recorded: draw it from that tree's mutants
        _draw(args)
    if not args.report:
        print("generating mutants and mapping tests to functions ...", flush=True)
        _mutmut("run", "convmat.__no_such_mutant__*")
    if not (ROOT / "mutants" / "mutmut-stats.json").exists():
        print(f"mutmut could not map the tests to functions; see {LOG}", file=sys.stderr)
        return 1
    if not SAMPLE.exists():
        _draw(args)
    codes = _results()
    chosen = [name for name in json.loads(SAMPLE.read_text())["names"] if name in codes]
    todo = [name for name in chosen if codes[name] in (None, 0)]
    print(f"sample of {len(chosen)} mutants; {len(todo)} to run", flush=True)
    if not args.report and todo:
        # one mutmut run for all of them: its clean test pass runs once
        _mutmut("run", *todo, progress=todo)
    codes = _results()
    chosen = [name for name in chosen if codes.get(name) is not None]
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for name in chosen:
        code = codes.get(name)
        per[_module(name)][STATUS.get(-1 if code is None else code, "other")] += 1
    print(
        "\nkilled: a test failed; timeout: the tests ran over mutmut's limit (a hang);"
        " detected = killed + timeout"
    )
    header = ("module", "run", "killed", "timeout", "survived", "no tests", "detected")
    print("{:<22} {:>5} {:>7} {:>8} {:>9} {:>9} {:>9}".format(*header))
    total: Counter[str] = Counter()
    for module in [*sorted(per), "all"]:
        c = total if module == "all" else per[module]
        if module != "all":
            total += c
        run = sum(c.values())
        if not run:
            continue
        detected = 100 * (c["killed"] + c["timeout"]) / run
        print(
            f"{module:<22} {run:>5} {c['killed']:>7} {c['timeout']:>8} {c['survived']:>9} "
            f"{c['no tests']:>9} {detected:>8.1f}%"
        )
    print("\nsurvivors: `.venv/bin/mutmut show NAME` prints a mutant's diff")
    for name in chosen:
        if codes.get(name) == 0:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
