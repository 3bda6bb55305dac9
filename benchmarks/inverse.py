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
  [0, 1]) on the observed field and on its 16-pixel border band. Each
  prior ('identity', 'laplacian', 'tv') is timed against the default
  (gradient) on the same observation.
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
    """(observation, the truth on its field of view): the 'valid' blur for `model`
    'unknown', else the 'same' blur with `model` as the boundary ('symm', 'fill')."""
    rng = np.random.default_rng(seed)
    if model == "unknown":
        clean = ss.fftconvolve(image, psf, "valid")
        top, left = psf.shape[0] // 2, psf.shape[1] // 2
        truth = image[top : top + clean.shape[0], left : left + clean.shape[1]]
    else:
        clean = ss.convolve2d(image, psf, "same", model)
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
        (OURS, {}),
        ("convmat discrepancy (estimated noise), gradient", {"reg": "discrepancy"}),
        (TV, {"prior": "tv"}),
        (IDENTITY, {"prior": "identity"}),
        (LAPLACIAN, {"prior": "laplacian"}),
    ):
        (est, info), sec = timed(
            lambda kw=kwargs: convmat.deconvolve2d(
                y, psf, boundary=boundary, return_info=True, **kw
            )
        )
        score(label, est, sec, reg=float(info.reg), iterations=int(info.iterations))
    observed = psnr(truth, y)
    scores["observation"] = {"whole": observed[0], "border": observed[1], "seconds": 0.0}
    return {
        "image": name,
        "psf": psf_name,
        "noise": noise,
        "model": model,
        "shape": list(y.shape),
        "scores": scores,
    }


PEERS = ("wiener (oracle balance)", "richardson_lucy (oracle iterations)", "unsupervised_wiener")
OURS = "convmat default (GML, gradient)"
TV = "convmat prior='tv'"
IDENTITY = "convmat prior='identity'"
LAPLACIAN = "convmat prior='laplacian'"
PRIORS = {"identity": IDENTITY, "laplacian": LAPLACIAN, "tv": TV}
WIENER = "wiener (oracle balance)"


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
    tv = convmat.deconvolve2d(y, psf, prior="tv")
    panels = [
        (f"observed ('valid' part,\nnoise {case['noise']:g})", y),
        (f"scikit-image best: {peer.split(' ')[0]}\n{s[peer]['whole']:.1f} dB", theirs),
        (f"convmat default (Tikhonov)\n{s[OURS]['whole']:.1f} dB", ours),
        (f"convmat prior='tv'\n{s[TV]['whole']:.1f} dB", tv),
        ("truth", truth),
    ]
    # drawn at the width a page shows it (900 pixels), labels of 9.5 points or more
    fig, axes = plt.subplots(2, 5, figsize=(10, 5.6), layout="constrained")
    corner = (slice(-96, None), slice(0, 96))  # the bottom-left corner: the border band and beyond
    for col, (title, img) in enumerate(panels):
        for row, view in enumerate((img, img[corner])):
            ax = axes[row, col]
            ax.imshow(np.clip(view, 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_title(title if row == 0 else "bottom-left 96x96", fontsize=9.5)
            ax.axis("off")
    fig.suptitle(
        f"{case['image']}, {case['psf']} blur: the edges are where the models differ,\n"
        "the flat regions and contours where the priors do",
        fontsize=11,
    )
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _figure_case(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """The first case at noise 0.01 with the edges unknown (else the first case)."""
    return next((c for c in cases if c["noise"] == 0.01 and c["model"] == "unknown"), cases[0])


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
            "PSNR in dB (data range 1, estimates clipped to [0, 1]) on the observed field. "
            "*wiener*: `skimage.restoration.wiener` with `balance` tuned on the truth over 16 "
            "values (oracle); *best peer*: the best of that, `richardson_lucy` with its iteration "
            "count tuned on the truth (5 to 80) and `unsupervised_wiener`. *default*: "
            "`deconvolve2d(y, psf)` (edges unknown, gradient prior, weight by GML), or "
            "`boundary='symm'` where the observation was made so; *tv*: the same with "
            "`prior='tv'`. Times: against `unsupervised_wiener`'s, same image, same run; each "
            "prior's against the default's in the targets."
        ),
        "",
        (
            "| image | blur | noise | model | observed | wiener | best peer | default | tv "
            "| default - wiener | tv - default | default time / unsupervised_wiener "
            "| tv time / default |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        sc = c["scores"]
        peer, p = peer_best(c)
        o, t, u = sc[OURS], sc[TV], sc["unsupervised_wiener"]
        lines.append(
            f"| {c['image']} | {c['psf']} | {c['noise']:g} | {c['model']} "
            f"| {sc['observation']['whole']:.2f} | {sc[WIENER]['whole']:.2f} "
            f"| {p['whole']:.2f} ({peer.split(' ')[0]}) | {o['whole']:.2f} | {t['whole']:.2f} "
            f"| {o['whole'] - sc[WIENER]['whole']:+.2f} | {t['whole'] - o['whole']:+.2f} "
            f"| {o['seconds']:.2f} s / {u['seconds']:.2f} s = {o['seconds'] / u['seconds']:.1f}x "
            f"| {t['seconds'] / o['seconds']:.1f}x |"
        )
    lines += [
        "",
        (
            "Every method, mean PSNR over the cases (whole field / border band of "
            f"{BAND} pixels), and mean seconds of one call (for the oracle-tuned ones, the call "
            "with the chosen parameter; the search over the truth is not counted):"
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
    def gain(c: dict[str, Any], a: str, b: str) -> float:
        return float(c["scores"][a]["whole"] - c["scores"][b]["whole"])

    def ratio(c: dict[str, Any], a: str, b: str) -> float:
        return float(c["scores"][a]["seconds"] / c["scores"][b]["seconds"])

    met = lambda ok: "met" if ok else "missed"
    over_obs = [gain(c, OURS, "observation") for c in cases]
    over_wiener = [gain(c, OURS, WIENER) for c in cases]
    low = [gain(c, OURS, WIENER) for c in cases if c["noise"] <= 1e-3]
    times = [ratio(c, OURS, "unsupervised_wiener") for c in cases]
    noisy = [c for c in cases if c["noise"] >= 1e-3]
    tv_gain = [gain(c, TV, OURS) for c in noisy]
    tv_time = [ratio(c, TV, OURS) for c in noisy]
    lines = [
        (
            f"- default never below the observation: {met(min(over_obs) >= 0)}, "
            f"{sum(g >= 0 for g in over_obs)} of {len(cases)} cases; worst {min(over_obs):+.2f} dB"
        ),
        (
            f"- default never more than 0.5 dB below the oracle Wiener: "
            f"{met(min(over_wiener) >= -0.5)}, {sum(g >= -0.5 for g in over_wiener)} of "
            f"{len(cases)} cases; worst {min(over_wiener):+.2f} dB"
        ),
        (
            f"- at noise <= 1e-3, mean margin over the oracle Wiener at least +1 dB: "
            f"{met(bool(low) and statistics.mean(low) >= 1)}, "
            f"{statistics.mean(low) if low else float('nan'):+.2f} dB over {len(low)} cases"
        ),
        (
            f"- default time at most 5x `unsupervised_wiener`: {met(max(times) <= 5)}, "
            f"{sum(t <= 5 for t in times)} of {len(times)} cases; median "
            f"{statistics.median(times):.1f}x, worst {max(times):.1f}x"
        ),
    ]
    if noisy:
        lines += [
            (
                f"- `prior='tv'` at noise >= 1e-3, mean gain over the default at least 0.5 dB: "
                f"{met(statistics.mean(tv_gain) >= 0.5)}, {statistics.mean(tv_gain):+.2f} dB"
            ),
            (
                f"- `prior='tv'` never more than 0.3 dB below the default there: "
                f"{met(min(tv_gain) >= -0.3)}, worst {min(tv_gain):+.2f} dB"
            ),
            (
                f"- `prior='tv'` at most 10x the default's time there: {met(max(tv_time) <= 10)}, "
                f"median {statistics.median(tv_time):.1f}x, worst {max(tv_time):.1f}x"
            ),
        ]
    for prior, label in PRIORS.items():
        spent = [ratio(c, label, OURS) for c in cases]
        lines.append(
            f"- `prior='{prior}'` at most 3x the default's time, every case: "
            f"{met(max(spent) <= 3)}, {sum(t <= 3 for t in spent)} of {len(spent)}; median "
            f"{statistics.median(spent):.1f}x, worst {max(spent):.1f}x"
        )
    lines += [
        f"- spectral norm, {s['case']}: "
        f"{met(s['convmat'] <= 0.1 * s['svds'] and s['relative_difference'] <= 1e-6)}, "
        f"{s['convmat'] / s['svds']:.3f}x svds, relative difference {s['relative_difference']:.1e}"
        for s in spectra
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", default=list(IMAGES))
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 1e-4, 1e-3, 0.01, 0.03])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument(
        "--figure-only", action="store_true", help="redraw deblur.png from inverse.json"
    )
    args = parser.parse_args(argv)
    if args.figure_only:
        cases = json.loads((args.out / "inverse.json").read_text())["cases"]
        figure(_figure_case(cases), args.out / "deblur.png")
        return 0
    env = environment(skimage=skimage.__version__)
    print(json.dumps(env), flush=True)
    grid = [
        (image, psf, noise, "unknown")
        for image in args.images
        for psf in PSFS
        for noise in args.noise
    ]
    # the reflexive boundary, told to convmat: a Gaussian of sigma 1.5 (9x9)
    PSFS["gaussian 1.5 (9x9)"] = lambda: gaussian(1.5, 9)
    grid += [
        (image, "gaussian 1.5 (9x9)", noise, "symm")
        for image in args.images
        for noise in args.noise
    ]
    cases = []
    for i, (image, psf, noise, model) in enumerate(grid, 1):
        start = time.perf_counter()
        case = deblur_case(image, psf, noise, model, seed=i)
        case["seed"] = i
        cases.append(case)
        peer, p = peer_best(case)
        o, t = case["scores"][OURS], case["scores"][TV]
        print(
            f"[{i}/{len(grid)}] {image} {psf} noise {noise} {model}: {peer} {p['whole']:.2f}, "
            f"default {o['whole']:.2f} ({o['seconds']:.2f} s), tv {t['whole']:.2f} "
            f"({t['seconds']:.2f} s) ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        (args.out / "inverse.json").write_text(json.dumps({"env": env, "cases": cases}, indent=1))
    spectra = spectral_cases(args.repeats)
    (args.out / "inverse.json").write_text(
        json.dumps({"env": env, "cases": cases, "spectra": spectra}, indent=1)
    )
    figure(_figure_case(cases), args.out / "deblur.png")
    lines = tables(cases, spectra, env)
    write_section(lines, args.out / "RESULTS.md", "inverse")
    print("\n".join(lines[-8:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
