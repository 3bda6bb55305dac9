"""Scale out on dask: an image larger than any worker's memory, convolved on a cluster.

An image is written to a zarr store on disk (by default 12288 x 12288
float32, 576 MiB, uncompressed, in chunks of 2048 x 2048 and of 1024 x 1024),
then convolved with ``convmat.dask.conv2d`` ('same', boundary 'symm', a 5 x 5
kernel) on a ``distributed.LocalCluster`` of two worker processes limited to
512 MiB each, and the result written back to zarr. Reported, in the same run:

- the cluster's wall time (read, convolve, write) against
  ``scipy.ndimage.convolve`` on the whole image in one process (which equals
  it: mode 'reflect' is scipy.signal's 'symm'), timed alone and with the
  same zarr read and write around it;
- the workers' peak resident memory (``VmHWM``) and whether any worker was
  restarted (its process id changed);
- sampled tiles of the result (the four corners, tiles across chunk seams,
  the centre) against the in-memory ``convmat.conv2d`` of the whole image
  with the same method: bitwise, or else within the direct-sum bound;
- a batch of images in zarr through ``ConvOperator`` on the cluster, against
  the in-memory operator on the whole batch.

Writes the "Dask" section of ``benchmarks/RESULTS.md`` and ``dask.json``.
Run: ``make bench-dask`` (about 5 minutes here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import distributed
import numpy as np
import scipy.ndimage as ndi
import zarr
from distributed import Client, LocalCluster

import convmat
import convmat.dask
from sections import environment, fmt_seconds, markers, write_section

HERE = Path(__file__).resolve().parent


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _pid() -> int:
    return os.getpid()


def _peak_rss() -> int:
    """This process's peak resident memory in bytes: the kernel's high-water mark of its
    address space (``ru_maxrss`` would carry the parent's over the spawn's exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def zarr_options(codec: str) -> dict[str, Any]:
    """Keyword arguments of ``to_zarr`` for `codec`: 'none' stores the bytes as they are."""
    return {"compressors": None} if codec == "none" else {}


def write_image(path: Path, size: int, chunk: int, codec: str) -> None:
    """A random float32 image, generated and stored chunk by chunk (never whole in memory)."""
    rng = da.random.default_rng(0)
    image = rng.standard_normal((size, size), dtype=np.float32, chunks=chunk)
    image.to_zarr(str(path), overwrite=True, **zarr_options(codec))


def tiles(size: int, chunk: int, tile: int) -> list[tuple[str, slice, slice]]:
    """Corners, tiles across the chunk seams and the centre."""
    edge = size - tile
    seam = (size // chunk // 2) * chunk - tile // 2
    out = [
        ("top left", 0, 0),
        ("top right", 0, edge),
        ("bottom left", edge, 0),
        ("bottom right", edge, edge),
        ("seam, first", chunk - tile // 2, chunk - tile // 2),
        ("seam, middle", seam, seam),
        ("seam, edge", 0, seam),
        ("centre", size // 2 - tile // 2, size // 2 - tile // 2),
    ]
    return [(name, slice(r, r + tile), slice(c, c + tile)) for name, r, c in out]


def cluster_run(build: Any, out_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Compute ``build()`` into zarr on a fresh cluster; its time, workers' memory, restarts."""
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=args.memory_limit,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        before = client.run(_pid)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            lazy = build()
            lazy.to_zarr(str(out_path), overwrite=True, **zarr_options(args.codec))
            times.append(time.perf_counter() - start)
        after = client.run(_pid)
        peaks = client.run(_peak_rss)
        return {
            "seconds": float(np.median(times)),
            "times": times,
            "tasks": len(lazy.__dask_graph__()),
            "worker_peak_bytes": sorted(peaks.values()),
            "memory_limit_bytes": dask.utils.parse_bytes(args.memory_limit),
            "restarted": before != after,
        }


def check_tiles(
    result: zarr.Array,
    want: np.ndarray,
    scale: np.ndarray,
    nd: np.ndarray,
    chunk: int,
    args: argparse.Namespace,
    taps: int,
) -> list[dict[str, Any]]:
    """Each sampled tile of `result` against the in-memory result `want`."""
    checks = []
    for name, rows, cols in tiles(args.size, chunk, args.tile):
        got = np.asarray(result[rows, cols])
        ref = want[rows, cols]
        bound = 2 * (taps + 1) * np.finfo(np.float32).eps * scale[rows, cols]
        checks.append(
            {
                "tile": name,
                "rows": [rows.start, rows.stop],
                "cols": [cols.start, cols.stop],
                "bitwise": bool(np.array_equal(got, ref)),
                "within_bound": bool(np.all(np.abs(got - ref) <= bound)),
                "max_abs_diff": float(np.abs(got - ref).max()),
                "ndimage_max_abs_diff": float(np.abs(got - nd[rows, cols]).max()),
            }
        )
    return checks


def image_case(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    size = args.size
    rng = np.random.default_rng(1)
    k = rng.standard_normal((args.kernel, args.kernel)).astype(np.float32)
    mib = size * size * 4 / 2**20
    sources = {}
    for chunk in args.chunks:
        sources[chunk] = store / f"image-{chunk}.zarr"
        log(f"writing a {size}x{size} float32 image ({mib:.0f} MiB), chunks {chunk}x{chunk}")
        if chunk == args.chunks[0]:
            write_image(sources[chunk], size, chunk, args.codec)
        else:  # the same values in other chunks
            copy = da.from_zarr(str(sources[args.chunks[0]])).rechunk(chunk)
            copy.to_zarr(str(sources[chunk]), overwrite=True, **zarr_options(args.codec))

    log("single process: zarr read, scipy.ndimage.convolve, zarr write")
    first = args.chunks[0]
    steps: dict[str, list[float]] = {"read": [], "ndimage": [], "write": []}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        image = np.asarray(zarr.open_array(str(sources[first]), mode="r")[...])
        t1 = time.perf_counter()
        nd = ndi.convolve(image, k, mode="reflect")
        t2 = time.perf_counter()
        da.from_array(nd, chunks=first).to_zarr(
            str(store / "ndimage.zarr"), overwrite=True, **zarr_options(args.codec)
        )
        t3 = time.perf_counter()
        for step, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            steps[step].append(seconds)
    single = {step: float(np.median(times)) for step, times in steps.items()}
    log(
        f"  read {single['read']:.2f} s, ndimage {single['ndimage']:.2f} s (of "
        f"{', '.join(f'{t:.2f}' for t in steps['ndimage'])}), write {single['write']:.2f} s"
    )

    log("in-memory convmat.conv2d of the whole image (the reference of the tiles)")
    refs = {}
    for method in args.methods:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            refs[method] = convmat.conv2d(image, k, "same", "symm", method=method)
            times.append(time.perf_counter() - t0)
        single[f"convmat_{method}"] = float(np.median(times))
        log(f"  method '{method}': {single[f'convmat_{method}']:.2f} s")
    scale = convmat.conv2d(np.abs(image), np.abs(k), "same", "symm", method="shift")

    runs = []
    for chunk in args.chunks:
        for method in args.methods:
            log(
                f"cluster: {args.workers} workers x {args.memory_limit}, chunks {chunk}x{chunk}, "
                f"method '{method}'"
            )
            out = store / f"out-{chunk}-{method}.zarr"
            src = sources[chunk]

            def build(method: str = method, src: Path = src) -> da.Array:
                lazy = da.from_zarr(str(src))
                return convmat.dask.conv2d(lazy, k, "same", "symm", method=method)

            run = cluster_run(build, out, args)
            result = zarr.open_array(str(out), mode="r")
            run["tiles"] = check_tiles(result, refs[method], scale, nd, chunk, args, k.size)
            run.update(chunk=chunk, method=method)
            runs.append(run)
            checks = run["tiles"]
            peak = max(run["worker_peak_bytes"]) / 2**20
            log(
                f"  {run['seconds']:.2f} s (of {', '.join(f'{t:.2f}' for t in run['times'])}; "
                f"{run['tasks']} tasks), peak worker {peak:.0f} MiB, "
                f"restarted {run['restarted']}, tiles bitwise "
                f"{sum(c['bitwise'] for c in checks)}/{len(checks)}, within bound "
                f"{sum(c['within_bound'] for c in checks)}/{len(checks)}"
            )
    return {
        "size": size,
        "kernel": args.kernel,
        "bytes": size * size * 4,
        "single": single,
        "runs": runs,
    }


def batch_case(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    count, side, per = args.batch, args.batch_image, args.batch_chunk
    rng = np.random.default_rng(2)
    k = rng.standard_normal((args.kernel, args.kernel)).astype(np.float32)
    src = store / "batch.zarr"
    log(f"writing a batch of {count} {side}x{side} float32 images to {src}")
    batch = da.random.default_rng(3).standard_normal(
        (count, side, side), dtype=np.float32, chunks=(per, side, side)
    )
    batch.to_zarr(str(src), overwrite=True, **zarr_options(args.codec))
    out: dict[str, Any] = {
        "count": count,
        "side": side,
        "chunk": per,
        "kernel": args.kernel,
        "methods": {},
    }
    for method in args.batch_methods:
        op = convmat.ConvOperator(k, (side, side), "same", "symm", method=method)
        t0 = time.perf_counter()
        whole = np.asarray(zarr.open_array(str(src), mode="r")[...])
        t1 = time.perf_counter()
        op(whole[:per])  # the engine built before timing, as in a solver loop
        applied = []
        for _ in range(args.repeats):
            t2 = time.perf_counter()
            want = op(whole)
            t3 = time.perf_counter()
            applied.append(t3 - t2)
        da.from_array(want, chunks=(per, side, side)).to_zarr(
            str(store / "batch-memory.zarr"), overwrite=True, **zarr_options(args.codec)
        )
        t4 = time.perf_counter()
        log(f"cluster: ConvOperator(method='{method}') on {count // per} chunks of {per}")
        dst = store / f"batch-{method}.zarr"
        run = cluster_run(lambda op=op: op(da.from_zarr(str(src))), dst, args)
        got = np.asarray(zarr.open_array(str(dst), mode="r")[...])
        run["in_memory_seconds"] = float(np.median(applied))
        run["in_memory_io_seconds"] = (t1 - t0) + (t4 - t3)
        run["bitwise"] = bool(np.array_equal(got, want))
        run["max_abs_diff"] = float(np.abs(got - want).max())
        out["methods"][method] = run
        log(
            f"  cluster {run['seconds']:.2f} s against in-memory {run['in_memory_seconds']:.2f} s "
            f"(+ read and write {run['in_memory_io_seconds']:.2f} s), bitwise {run['bitwise']}, "
            f"restarted {run['restarted']}"
        )
    return out


def tables(result: dict[str, Any], env: dict[str, str]) -> list[str]:
    begin, end = markers("dask_scale")
    img, single = result["image"], result["image"]["single"]
    mib = img["bytes"] / 2**20
    codec = "uncompressed" if result["codec"] == "none" else f"codec {result['codec']}"
    lines = [
        begin,
        "## Dask: an image larger than each worker's memory",
        "",
        (
            f"{env['date']}; {env['machine']}; numpy {env['numpy']}, scipy {env['scipy']}, "
            f"dask {env['dask']}, distributed {env['distributed']}, zarr {env['zarr']}; "
            f"BLAS: {env['blas']}."
        ),
        "",
        (
            f"A {img['size']}x{img['size']} float32 image ({mib:.0f} MiB) in a zarr store "
            f"({codec}), convolved with a {img['kernel']}x{img['kernel']} kernel ('same', "
            "boundary 'symm') by `convmat.dask.conv2d` on a `LocalCluster` of "
            f"{result['workers']} worker processes with one thread and a "
            f"{result['memory_limit']} memory limit each, and written back to zarr. The single "
            "process reads the same store, runs `scipy.ndimage.convolve` (mode 'reflect', the "
            "same operation) and writes the result. Tiles: the four corners, three across "
            f"chunk seams and the centre, {result['tile']}x{result['tile']} each, against "
            "`convmat.conv2d` of the whole image in memory with the same method."
        ),
        "",
        (
            "| chunks | method | tasks | wall time | vs ndimage alone | vs read + ndimage + "
            "write | worker peak RSS | restarts | tiles bitwise | tiles within the bound |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    alone = single["ndimage"]
    around = single["read"] + single["ndimage"] + single["write"]
    for run in img["runs"]:
        peak = max(run["worker_peak_bytes"]) / 2**20
        n = len(run["tiles"])
        lines.append(
            f"| {run['chunk']}² | {run['method']} | {run['tasks']} | "
            f"{fmt_seconds(run['seconds'])} | {run['seconds'] / alone:.2f} | "
            f"{run['seconds'] / around:.2f} | {peak:.0f} MiB | "
            f"{'yes' if run['restarted'] else 'none'} | "
            f"{sum(c['bitwise'] for c in run['tiles'])}/{n} | "
            f"{sum(c['within_bound'] for c in run['tiles'])}/{n} |"
        )
    in_memory = ", ".join(
        f"{key.split('_', 1)[1]} {fmt_seconds(value)}"
        for key, value in single.items()
        if key.startswith("convmat_")
    )
    lines += [
        "",
        (
            f"One process: `scipy.ndimage.convolve` {fmt_seconds(alone)}, with the zarr read "
            f"({fmt_seconds(single['read'])}) and write ({fmt_seconds(single['write'])}) "
            f"{fmt_seconds(around)}; `convmat.conv2d` in memory: {in_memory}. Times are medians "
            f"of {result['repeats']} runs (on the cluster: of the same computation run "
            f"{result['repeats']} times, the first one building the engines); ratios are the "
            "cluster's wall time over the single process's; below 1 is faster. The peak RSS is "
            "each worker process's high-water mark (`VmHWM`) over its life, imports included."
        ),
        "",
    ]
    b = result["batch"]
    lines += [
        (
            f"A batch of {b['count']} {b['side']}x{b['side']} float32 images in zarr (chunks of "
            f"{b['chunk']} images) through `ConvOperator(kernel, ({b['side']}, {b['side']}), "
            "'same', 'symm')` on the same cluster, read from and written back to zarr, against "
            "the in-memory operator on the whole batch in one process (its engine built before "
            "timing; both cores), without and with the same zarr read and write:"
        ),
        "",
        (
            "| method | cluster | in memory | ratio | in memory with I/O | ratio | worker peak RSS "
            "| restarts | equal |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method, run in b["methods"].items():
        peak = max(run["worker_peak_bytes"]) / 2**20
        equal = "bitwise" if run["bitwise"] else f"max diff {run['max_abs_diff']:.2g}"
        with_io = run["in_memory_seconds"] + run["in_memory_io_seconds"]
        lines.append(
            f"| {method} | {fmt_seconds(run['seconds'])} | "
            f"{fmt_seconds(run['in_memory_seconds'])} | "
            f"{run['seconds'] / run['in_memory_seconds']:.2f} | {fmt_seconds(with_io)} | "
            f"{run['seconds'] / with_io:.2f} | {peak:.0f} MiB | "
            f"{'yes' if run['restarted'] else 'none'} | {equal} |"
        )
    lines.append(end)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=12288)
    parser.add_argument("--chunks", type=int, nargs="+", default=[2048, 1024])
    parser.add_argument("--codec", choices=["none", "zstd"], default="none")
    parser.add_argument("--kernel", type=int, default=5)
    parser.add_argument("--tile", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="times per run; medians reported")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="512MiB")
    parser.add_argument("--methods", nargs="+", default=["auto", "shift"])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--batch-image", type=int, default=128)
    parser.add_argument("--batch-chunk", type=int, default=128)
    parser.add_argument("--batch-methods", nargs="+", default=["auto", "shift"])
    parser.add_argument("--store", type=Path, help="where the zarr stores go (a temporary dir)")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    env = environment(
        dask=dask.__version__, distributed=distributed.__version__, zarr=zarr.__version__
    )
    print(json.dumps(env), flush=True)
    store = args.store or Path(tempfile.mkdtemp(prefix="convmat-dask-"))
    store.mkdir(parents=True, exist_ok=True)
    try:
        result = {
            "env": env,
            "workers": args.workers,
            "memory_limit": args.memory_limit,
            "codec": args.codec,
            "repeats": args.repeats,
            "tile": args.tile,
            "image": image_case(args, store),
            "batch": batch_case(args, store),
        }
    finally:
        if args.store is None:
            shutil.rmtree(store, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dask.json").write_text(json.dumps(result, indent=1))
    lines = tables(result, env)
    write_section(lines, args.out / "RESULTS.md", "dask_scale")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
