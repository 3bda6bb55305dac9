"""Benchmark convmat's inverse problems and spectra against their peers, in one process.

Run ``make bench-inverse`` (or ``python benchmarks/inverse.py``). Two parts:

* Deblurring: ``convmat.deconvolve2d`` with automatic parameters against
  scikit-image's restorations with their parameter tuned on the true image
  (oracle): ``wiener`` over a grid of ``balance``, ``richardson_lucy`` over
  iteration counts, and ``unsupervised_wiener``. Images from
  ``skimage.data``; Gaussian, box and diagonal motion blurs; white noise.
  Observations are the 'valid' part of the blurred scene (the edges are
  unknown: convmat's default model) or the 'same' blur with the 'symm'
  boundary (convmat told so). PSNR (data range 1, every estimate clipped to
  [0, 1]) on the observed field and on its 16-pixel border band.
* Spectral norms: ``convmat.spectral_norm`` and
  ``convmat.nn.conv2d_spectral_norm`` against ``scipy.sparse.linalg.svds``
  on the same operator, time and relative difference.

The tables go into the "Inverse problems and spectra" section of
``benchmarks/RESULTS.md`` (between markers, which ``run.py`` keeps), the
numbers into ``benchmarks/inverse.json``, the figure into
``benchmarks/deblur.png``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.signal as ss
import scipy.sparse.linalg as sla
import skimage
from skimage import color, data, restoration

import convmat
from convmat import nn
from sections import environment, markers, write_section

HERE = Path(__file__).resolve().parent
BEGIN, END = markers("inverse")
BAND = 16
SETTLE = 0.2  # seconds of pause before each timed spectral call
IMAGES: dict[str, Callable[[], np.ndarray]] = {
    "camera": lambda: data.camera() / 255.0,
    "coins": lambda: data.coins() / 255.0,
    "moon": lambda: data.moon() / 255.0,
    "astronaut": lambda: color.rgb2gray(data.astronaut()),
}


def gaussian(sigma: float, size: int) -> np.ndarray:
    t = np.arange(size) - size // 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


PSFS: dict[str, Callable[[], np.ndarray]] = {
    "gaussian 2 (13x13)": lambda: gaussian(2.0, 13),
    "box 7x7": lambda: np.full((7, 7), 1 / 49),
    "motion 9 at 45 deg": lambda: np.eye(9) / 9,
}


def psnr(truth: np.ndarray, estimate: np.ndarray) -> tuple[float, float]:
    """PSNR on the whole field and on its border band, the estimate clipped to [0, 1]."""
    err = (np.clip(estimate, 0, 1) - truth) ** 2
    band = np.ones(truth.shape, bool)
    band[BAND:-BAND, BAND:-BAND] = False
    return float(-10 * np.log10(err.mean())), float(-10 * np.log10(err[band].mean()))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def observe(
    image: np.ndarray, psf: np.ndarray, noise: float, model: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(observation, the truth on its field of view)."""
    rng = np.random.default_rng(seed)
    if model == "unknown":
        clean = ss.fftconvolve(image, psf, "valid")
        top, left = psf.shape[0] // 2, psf.shape[1] // 2
        truth = image[top : top + clean.shape[0], left : left + clean.shape[1]]
    else:
        clean = ss.convolve2d(image, psf, "same", "symm")
        truth = image
    return clean + noise * rng.standard_normal(clean.shape), truth


def deblur_case(name: str, psf_name: str, noise: float, model: str, seed: int) -> dict[str, Any]:
    image, psf = IMAGES[name](), PSFS[psf_name]()
    y, truth = observe(image, psf, noise, model, seed)
    scores: dict[str, Any] = {}

    def score(label: str, estimate: np.ndarray, seconds: float, **extra: Any) -> None:
        whole, border = psnr(truth, estimate)
        scores[label] = {"whole": whole, "border": border, "seconds": seconds, **extra}

    best = None
    for balance in np.logspace(-4, 1, 16):
        est, sec = timed(lambda b=balance: restoration.wiener(y, psf, b))
        whole, _ = psnr(truth, est)
        if best is None or whole > best[0]:
            best = (whole, est, sec, float(balance))
    assert best is not None
    score("wiener (oracle balance)", best[1], best[2], balance=best[3])
    best = None
    for iters in (5, 10, 20, 40, 80):
        est, sec = timed(lambda n=iters: restoration.richardson_lucy(y, psf, num_iter=n))
        whole, _ = psnr(truth, est)
        if best is None or whole > best[0]:
            best = (whole, est, sec, iters)
    assert best is not None
    score("richardson_lucy (oracle iterations)", best[1], best[2], iterations=best[3])
    (est, _), sec = timed(lambda: restoration.unsupervised_wiener(y, psf, rng=seed))
    score("unsupervised_wiener", est, sec)
    boundary = "unknown" if model == "unknown" else "symm"
    for label, kwargs in (
        ("convmat auto (GCV), gradient", {"reg": "auto"}),
        ("convmat auto (GCV), laplacian", {"reg": "auto", "prior": "laplacian"}),
        ("convmat discrepancy (true noise), gradient", {"reg": "discrepancy", "noise_std": noise}),
        ("convmat discrepancy (estimated noise), gradient", {"reg": "discrepancy"}),
    ):
        (est, info), sec = timed(
            lambda kw=kwargs: convmat.deconvolve2d(
                y, psf, boundary=boundary, return_info=True, **kw
            )
        )
        score(label, est, sec, reg=float(info.reg), iterations=int(info.iterations))
    auto_reg = scores["convmat auto (GCV), gradient"]["reg"]
    best = None
    for factor in (0.1, 0.3, 1.0, 3.0, 10.0):
        est = convmat.deconvolve2d(y, psf, boundary=boundary, reg=auto_reg * factor, tol=1e-5)
        whole, _ = psnr(truth, est)
        if best is None or whole > best[0]:
            best = (whole, est, auto_reg * factor)
    assert best is not None
    score("convmat (oracle reg), gradient", best[1], float("nan"), reg=best[2])
    return {
        "image": name,
        "psf": psf_name,
        "noise": noise,
        "model": model,
        "shape": list(y.shape),
        "scores": scores,
    }


PEERS = ("wiener (oracle balance)", "richardson_lucy (oracle iterations)", "unsupervised_wiener")
OURS = "convmat auto (GCV), gradient"


def peer_best(case: dict[str, Any]) -> tuple[str, dict[str, float]]:
    name = max(PEERS, key=lambda p: case["scores"][p]["whole"])
    return name, case["scores"][name]


def spectral_cases(repeats: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    cases = []
    k = rng.standard_normal((7, 7))
    op = convmat.ConvOperator(k, (256, 256), "full")
    w = rng.standard_normal((16, 16, 3, 3))
    layer = nn.conv2d_matrix(w, (16, 32, 32), padding=1)
    for label, ours, theirs in (
        (
            "7x7 'full', zero padding, 256x256 input",
            lambda: convmat.spectral_norm(k, (256, 256)),
            lambda: sla.svds(op, k=1, return_singular_vectors=False)[0],
        ),
        (
            "layer 16->16, 3x3, padding 1, 32x32 input",
            lambda: nn.conv2d_spectral_norm(w, (16, 32, 32), padding=1),
            lambda: sla.svds(layer, k=1, return_singular_vectors=False)[0],
        ),
    ):
        mine, theirs_t = [], []
        value = reference = 0.0
        for _ in range(repeats):  # interleaved
            # a pause before each timed call lets the other's BLAS threads stop spinning
            time.sleep(SETTLE)
            value, sec = timed(ours)
            mine.append(sec)
            time.sleep(SETTLE)
            reference, sec = timed(theirs)
            theirs_t.append(sec)
        cases.append(
            {
                "case": label,
                "convmat": statistics.median(mine),
                "svds": statistics.median(theirs_t),
                "norm": float(value),
                "svds_norm": float(reference),
                "relative_difference": abs(value - reference) / reference,
            }
        )
        print(f"spectral {label}: {cases[-1]}", flush=True)
    reshaped = float(np.linalg.norm(w.reshape(16, -1), 2))
    cases[-1]["reshaped_weight_norm"] = reshaped
    return cases


def figure(case: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image, psf = IMAGES[case["image"]](), PSFS[case["psf"]]()
    y, truth = observe(image, psf, case["noise"], case["model"], case["seed"])
    peer, _ = peer_best(case)
    s = case["scores"]
    if peer.startswith("wiener"):
        theirs = restoration.wiener(y, psf, s[peer]["balance"])
    elif peer.startswith("richardson"):
        theirs = restoration.richardson_lucy(y, psf, num_iter=s[peer]["iterations"])
    else:
        theirs = restoration.unsupervised_wiener(y, psf, rng=case["seed"])[0]
    ours = convmat.deconvolve2d(y, psf)
    panels = [
        ("observed ('valid' part, noise 0.01)", y),
        (
            f"scikit-image best: {peer.split(' ')[0]}\n{s[peer]['whole']:.1f} dB, border {s[peer]['border']:.1f} dB",
            theirs,
        ),
        (
            f"convmat.deconvolve2d (automatic)\n{s[OURS]['whole']:.1f} dB, border {s[OURS]['border']:.1f} dB",
            ours,
        ),
        ("truth", truth),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(16, 9), layout="constrained")
    corner = (slice(-96, None), slice(0, 96))  # the bottom-left corner: the border band and beyond
    for col, (title, img) in enumerate(panels):
        for row, view in enumerate((img, img[corner])):
            ax = axes[row, col]
            ax.imshow(np.clip(view, 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_title(title if row == 0 else "bottom-left 96x96", fontsize=10)
            ax.axis("off")
    fig.suptitle(f"{case['image']}, {case['psf']} blur: the edges are where the models differ")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def tables(
    cases: list[dict[str, Any]], spectra: list[dict[str, Any]], env: dict[str, Any]
) -> list[str]:
    lines = [
        BEGIN,
        "## Inverse problems and spectra",
        "",
        (
            f"Measured {env['date']} with `make bench-inverse` on {env['machine']}; numpy "
            f"{env['numpy']}, scipy {env['scipy']}, scikit-image {env['skimage']}; BLAS: "
            f"{env['blas']}."
        ),
        "",
        "### Deblurring: `deconvolve2d` against scikit-image",
        "",
        (
            "PSNR in dB (data range 1, estimates clipped to [0, 1]) on the observed field and "
            f"on its {BAND}-pixel border band. *scikit-image best*: the best by whole-field PSNR of "
            "`wiener` with `balance` tuned on the truth over 16 values, `richardson_lucy` with "
            "its iteration count tuned on the truth (5 to 80) and `unsupervised_wiener`. "
            "*convmat*: `deconvolve2d(y, psf)` with its defaults (edges unknown, gradient prior, "
            "weight by GCV), or `boundary='symm'` where the observation was made so. Times: "
            "convmat's call against `unsupervised_wiener`'s, same image, same run."
        ),
        "",
        (
            "| image | blur | noise | model | scikit-image best | its PSNR whole / border "
            "| convmat whole / border | gain whole / border | convmat time / unsupervised_wiener |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        peer, p = peer_best(c)
        o = c["scores"][OURS]
        u = c["scores"]["unsupervised_wiener"]
        lines.append(
            f"| {c['image']} | {c['psf']} | {c['noise']} | {c['model']} | {peer.split(' ')[0]} "
            f"| {p['whole']:.2f} / {p['border']:.2f} | {o['whole']:.2f} / {o['border']:.2f} "
            f"| {o['whole'] - p['whole']:+.2f} / {o['border'] - p['border']:+.2f} "
            f"| {o['seconds']:.2f} s / {u['seconds']:.2f} s = {o['seconds'] / u['seconds']:.1f}x |"
        )
    lines += [
        "",
        (
            "Every method, mean PSNR over the cases (whole / border), and mean seconds of one "
            "call (for the oracle-tuned ones, the call with the chosen parameter; the search "
            "over the truth is not counted):"
        ),
        "",
        "| method | whole | border | seconds |",
        "|---|---|---|---|",
    ]
    for method in cases[0]["scores"]:
        w = statistics.mean(c["scores"][method]["whole"] for c in cases)
        b = statistics.mean(c["scores"][method]["border"] for c in cases)
        secs = [c["scores"][method]["seconds"] for c in cases]
        sec = "" if any(np.isnan(secs)) else f"{statistics.mean(secs):.2f}"
        lines.append(f"| {method} | {w:.2f} | {b:.2f} | {sec} |")
    lines += ["", "![deblurring](deblur.png)", "", "### Spectral norms: against `svds`", ""]
    lines += [
        (
            f"Medians of interleaved repeats, each timed call after a pause of {SETTLE} s "
            "(OpenBLAS threads spin for a while after a call and slowed whichever call came "
            "next); `svds` with its defaults on the same operator (the `ConvOperator`, and the "
            "prebuilt layer matrix). Target: at most 0.1x, relative difference at most 1e-6."
        ),
        "",
        "| operator | convmat | svds | ratio | relative difference |",
        "|---|---|---|---|---|",
    ]
    for s in spectra:
        lines.append(
            f"| {s['case']} | {s['convmat'] * 1e3:.0f} ms | {s['svds'] * 1e3:.0f} ms "
            f"| {s['convmat'] / s['svds']:.3f}x | {s['relative_difference']:.1e} |"
        )
    layer = spectra[-1]
    lines += [
        "",
        (
            f"The layer's operator norm is {layer['norm']:.4f}; the 2-norm of its reshaped "
            f"`(16, 144)` weight, which `torch.nn.utils.spectral_norm` normalises, is "
            f"{layer['reshaped_weight_norm']:.4f}."
        ),
        "",
        "### Targets",
        "",
        *summary(cases, spectra),
        END,
    ]
    return lines


def summary(cases: list[dict[str, Any]], spectra: list[dict[str, Any]]) -> list[str]:
    gains_w = [c["scores"][OURS]["whole"] - peer_best(c)[1]["whole"] for c in cases]
    gains_b = [c["scores"][OURS]["border"] - peer_best(c)[1]["border"] for c in cases]
    times = [
        c["scores"][OURS]["seconds"] / c["scores"]["unsupervised_wiener"]["seconds"] for c in cases
    ]
    worse = sum(g < -0.5 for g in gains_w)
    met = lambda ok: "met" if ok else "missed"
    return [
        (
            f"- never more than 0.5 dB below scikit-image's oracle best (whole field): "
            f"{met(worse == 0)}, {len(cases) - worse} of {len(cases)} cases; worst {min(gains_w):+.2f} dB"
        ),
        (
            f"- mean gain on the whole field at least 1 dB: {met(statistics.mean(gains_w) >= 1)}, "
            f"{statistics.mean(gains_w):+.2f} dB"
        ),
        (
            f"- mean gain on the border band at least 4 dB: {met(statistics.mean(gains_b) >= 4)}, "
            f"{statistics.mean(gains_b):+.2f} dB"
        ),
        (
            f"- time at most 5x `unsupervised_wiener`: {met(max(times) <= 5)}, "
            f"{sum(t <= 5 for t in times)} of {len(times)} cases; median {statistics.median(times):.1f}x, "
            f"worst {max(times):.1f}x"
        ),
        *(
            f"- spectral norm, {s['case']}: {met(s['convmat'] <= 0.1 * s['svds'] and s['relative_difference'] <= 1e-6)}, "
            f"{s['convmat'] / s['svds']:.3f}x svds, relative difference {s['relative_difference']:.1e}"
            for s in spectra
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", default=list(IMAGES))
    parser.add_argument("--noise", type=float, nargs="+", default=[0.01, 0.03])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument(
        "--figure-only", action="store_true", help="redraw deblur.png from inverse.json"
    )
    args = parser.parse_args(argv)
    if args.figure_only:
        figure(
            json.loads((args.out / "inverse.json").read_text())["cases"][0], args.out / "deblur.png"
        )
        return 0
    env = environment(skimage=skimage.__version__)
    print(json.dumps(env), flush=True)
    grid = [
        (image, psf, noise, "unknown")
        for image in args.images
        for psf in PSFS
        for noise in args.noise
    ]
    # the reflexive boundary, told to convmat: a Gaussian of sigma 1.5 (9x9), noise 0.01
    PSFS["gaussian 1.5 (9x9)"] = lambda: gaussian(1.5, 9)
    grid += [(image, "gaussian 1.5 (9x9)", 0.01, "symm") for image in args.images]
    cases = []
    for i, (image, psf, noise, model) in enumerate(grid, 1):
        start = time.perf_counter()
        case = deblur_case(image, psf, noise, model, seed=i)
        case["seed"] = i
        cases.append(case)
        peer, p = peer_best(case)
        o = case["scores"][OURS]
        print(
            f"[{i}/{len(grid)}] {image} {psf} noise {noise} {model}: {peer} {p['whole']:.2f}/"
            f"{p['border']:.2f}, convmat {o['whole']:.2f}/{o['border']:.2f} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        (args.out / "inverse.json").write_text(json.dumps({"env": env, "cases": cases}, indent=1))
    spectra = spectral_cases(args.repeats)
    (args.out / "inverse.json").write_text(
        json.dumps({"env": env, "cases": cases, "spectra": spectra}, indent=1)
    )
    figure(cases[0], args.out / "deblur.png")
    lines = tables(cases, spectra, env)
    write_section(lines, args.out / "RESULTS.md", "inverse")
    print("\n".join(lines[-8:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
