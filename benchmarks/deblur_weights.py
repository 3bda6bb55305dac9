"""``deconvolve2d``'s weight rules side by side: zero-padded data and small observations.

Run ``make bench-deblur-weights`` (or ``python benchmarks/deblur_weights.py``).
Two parts, each with the three rules of ``reg=`` ('gml', the default;
'gcv'; 'discrepancy' with the noise level estimated from the observation):

* 'fill' data: the 'same' blur of a 256x256 crop from the centre of each
  ``skimage.data`` image with a zero border (a dark, ramped edge), the blurs of ``inverse.py``, white noise 0
  to 3e-2, deblurred with ``boundary='fill'`` (each rule) and with the edges
  unknown (the default rule). Targets: at least the observation + 0.5 dB,
  and at least the 'unknown' model - 0.3 dB.
* Small observations: 8x8 to 64x64 from the centre of each image, under each
  boundary model ('unknown': the 'valid' blur of a larger crop), noise 1e-3
  to 3e-2. Target: never below the observation.
* Other priors: GML against GCV with the identity and Laplacian priors, on
  128x128 crops, the three models, noise 1e-3 to 3e-2 ('auto' is GCV for the
  identity prior). Reported: cases below the observation, worst and mean
  gain.
* Kernel scale: the blurs written at 1/100, 1, 25 and 256 times their unit
  sum (a box of ones sums to 49, a binomial written as integers to 256),
  every prior and boundary model, the weight chosen by the default rule, on
  64x64 crops with noise 1e-2. Target: the same PSNR within 0.01 dB.

PSNR against the truth on the observed field, data range 1, estimates
clipped to [0, 1] (``inverse.psnr``). The tables go into the "Deblurring:
the weight rules" section of ``benchmarks/RESULTS.md``, the numbers into
``benchmarks/deblur_weights.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import skimage

import convmat
from inverse import IMAGES, PSFS, observe, psnr
from sections import environment, markers, write_section

HERE = Path(__file__).resolve().parent
BEGIN, END = markers("deblur_weights")
RULES = ("gml", "gcv", "discrepancy")
FILL_NOISE = (0.0, 1e-3, 1e-2, 3e-2)
SMALL_NOISE = (1e-3, 1e-2, 3e-2)
SIDES = (8, 16, 32, 64)
MODELS = ("unknown", "fill", "symm")
FILL_SIDE = 256
SCALES = (1 / 100, 1.0, 25.0, 256.0)
SCALE_SIDE = 64
PRIORS = ("gradient", "identity", "laplacian", "tv")
SCALE_TOLERANCE = 0.01  # dB
PRIOR_SIDE = 128
OVER_OBSERVATION = 0.5  # dB: 'fill' data's target over the observation
UNDER_UNKNOWN = 0.3  # dB: 'fill' data's allowance under the 'unknown' model


def deblur(
    y: np.ndarray, psf: np.ndarray, model: str, reg: str, prior: str = "gradient"
) -> tuple[np.ndarray, float]:
    """The estimate of a rule and its time (a maxiter stop is no concern here)."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x = convmat.deconvolve2d(y, psf, boundary=model, reg=reg, prior=prior)
    return np.asarray(x), time.perf_counter() - start


def centred(
    name: str, psf: np.ndarray, side: int, model: str, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(observation, truth) of side x side from the centre of image `name` ('unknown': the
    'valid' blur of a crop larger by the kernel)."""
    image = IMAGES[name]()
    crop = side + (psf.shape[0] - 1 if model == "unknown" else 0)
    top, left = (image.shape[0] - crop) // 2, (image.shape[1] - crop) // 2
    return observe(image[top : top + crop, left : left + crop], psf, noise, model, seed)


def fill_case(name: str, psf_name: str, noise: float, seed: int) -> dict[str, Any]:
    image, psf = IMAGES[name](), PSFS[psf_name]()
    top, left = (image.shape[0] - FILL_SIDE) // 2, (image.shape[1] - FILL_SIDE) // 2
    image = image[top : top + FILL_SIDE, left : left + FILL_SIDE]
    y, truth = observe(image, psf, noise, "fill", seed)
    observed = psnr(truth, y)[0]
    gains, seconds = {}, {}
    for rule in RULES:
        x, seconds[rule] = deblur(y, psf, "fill", rule)
        gains[rule] = psnr(truth, x)[0] - observed
    x, seconds["unknown"] = deblur(y, psf, "unknown", "auto")
    gains["unknown"] = psnr(truth, x)[0] - observed
    return {
        "image": name,
        "psf": psf_name,
        "noise": noise,
        "observed": observed,
        "gain": gains,
        "seconds": seconds,
    }


def gains(
    name: str,
    psf_name: str,
    side: int,
    model: str,
    noise: float,
    seed: int,
    rules: tuple[str, ...],
    prior: str = "gradient",
) -> dict[str, Any]:
    """Each rule's gain over the observation on a crop of `side` from the image's centre."""
    psf = PSFS[psf_name]()
    y, truth = centred(name, psf, side, model, noise, seed)
    observed = psnr(truth, y)[0]
    out = {}
    for rule in rules:
        x, _ = deblur(y, psf, model, rule, prior)
        out[rule] = psnr(truth, x)[0] - observed
    return {
        "image": name,
        "psf": psf_name,
        "side": side,
        "model": model,
        "prior": prior,
        "noise": noise,
        "observed": observed,
        "gain": out,
    }


def small_case(
    name: str, psf_name: str, side: int, model: str, noise: float, seed: int
) -> dict[str, Any]:
    return gains(name, psf_name, side, model, noise, seed, RULES)


def prior_case(
    name: str, psf_name: str, model: str, prior: str, noise: float, seed: int
) -> dict[str, Any]:
    """Gain of GML and GCV with `prior` on a crop of :data:`PRIOR_SIDE`."""
    return gains(name, psf_name, PRIOR_SIDE, model, noise, seed, ("gml", "gcv"), prior)


def scale_case(name: str, psf_name: str, model: str, prior: str, seed: int) -> dict[str, Any]:
    """PSNR of the default call with the kernel at each scale of :data:`SCALES`."""
    psf = PSFS[psf_name]()
    y, truth = centred(name, psf, SCALE_SIDE, model, 1e-2, seed)
    scores = []
    for c in SCALES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            x = convmat.deconvolve2d(y, c * psf, boundary=model, prior=prior)
        scores.append(psnr(truth, np.asarray(x) * c)[0])
    return {
        "image": name,
        "psf": psf_name,
        "model": model,
        "prior": prior,
        "psnr": scores,
        "spread": max(scores) - min(scores),
    }


def fill_met(c: dict[str, Any], rule: str) -> bool:
    g = c["gain"]
    return bool(g[rule] >= OVER_OBSERVATION and g[rule] >= g["unknown"] - UNDER_UNKNOWN)


def rule_rows(cases: list[dict[str, Any]], met: Any) -> list[str]:
    rows = []
    for rule in RULES:
        gains = [c["gain"][rule] for c in cases]
        rows.append(
            f"| {rule} | {sum(met(c, rule) for c in cases)} of {len(cases)} | "
            f"{sum(g < 0 for g in gains)} | {min(gains):+.2f} | {statistics.mean(gains):+.2f} |"
        )
    return rows


def tables(
    fills: list[dict[str, Any]],
    smalls: list[dict[str, Any]],
    scales: list[dict[str, Any]],
    env: dict[str, str],
    priors: list[dict[str, Any]] | None = None,
) -> list[str]:
    lines = [
        BEGIN,
        "## Deblurring: the weight rules",
        "",
        (
            f"Measured {env['date']} with `make bench-deblur-weights` on {env['machine']}; "
            f"numpy {env['numpy']}, scipy {env['scipy']}; BLAS: {env['blas']}."
        ),
        "",
        (
            "`deconvolve2d` with the gradient prior and each rule of `reg=` ('gml' is the "
            "default, `'auto'`; 'discrepancy' with the noise level estimated from the "
            "observation). Gain: PSNR of the estimate minus the observation's, on the "
            "observed field (estimates clipped to [0, 1])."
        ),
        "",
        (
            f"**'fill' data** ({FILL_SIDE}x{FILL_SIDE} crops, the 'same' blur with a zero "
            "border): target "
            f"gain ≥ +{OVER_OBSERVATION} dB and ≥ the 'unknown' model's (default rule) "
            f"- {UNDER_UNKNOWN} dB."
        ),
        "",
        "| image | blur | noise | observed | " + " | ".join(RULES) + " | unknown | time (gml) |",
        "|---|---|---:|---:|" + "---:|" * (len(RULES) + 2),
    ]
    for c in fills:
        g = c["gain"]
        lines.append(
            f"| {c['image']} | {c['psf']} | {c['noise']:g} | {c['observed']:.2f} | "
            + " | ".join(f"{g[r]:+.2f}" for r in RULES)
            + f" | {g['unknown']:+.2f} | {c['seconds']['gml']:.2f} s |"
        )
    lines += [
        "",
        "| rule | target met | below the observation | worst gain | mean gain |",
        "|---|---:|---:|---:|---:|",
        *rule_rows(fills, fill_met),
        "",
        (
            "**Small observations** (from the centre of each image; 'unknown': the 'valid' "
            "blur of a crop larger by the kernel): target: never below the observation."
        ),
        "",
        "| side | model | " + " | ".join(f"{r}: below / worst" for r in RULES) + " |",
        "|---:|---|" + "---:|" * len(RULES),
    ]
    for side in sorted({c["side"] for c in smalls}):
        for model in MODELS:
            group = [c for c in smalls if c["side"] == side and c["model"] == model]
            if not group:
                continue
            cells = []
            for r in RULES:
                gains = [c["gain"][r] for c in group]
                cells.append(f"{sum(x < 0 for x in gains)} of {len(gains)} / {min(gains):+.2f}")
            lines.append(f"| {side} | {model} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| rule | never below (cases) | below the observation | worst gain | mean gain |",
        "|---|---:|---:|---:|---:|",
        *rule_rows(smalls, lambda c, r: c["gain"][r] >= 0),
        "",
        (
            f"**Other priors** ({PRIOR_SIDE}x{PRIOR_SIDE} crops, the three models, noise "
            "1e-3 to 3e-2): GML against GCV; `'auto'` is GCV for the identity prior."
        ),
        "",
        "| prior | rule | cases | below the observation | worst gain | mean gain |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for prior in ("identity", "laplacian"):
        group = [c for c in priors or [] if c["prior"] == prior]
        for rule in ("gml", "gcv"):
            gains = [c["gain"][rule] for c in group]
            if gains:
                lines.append(
                    f"| {prior} | {rule} | {len(gains)} | {sum(g < 0 for g in gains)} | "
                    f"{min(gains):+.2f} | {statistics.mean(gains):+.2f} |"
                )
    lines += [
        "",
        (
            f"**Kernel scale** ({SCALE_SIDE}x{SCALE_SIDE} crops, noise 1e-2, the default "
            "rule): the kernel at "
            + ", ".join(f"{c:g}" for c in SCALES)
            + f" times its unit sum, the estimate times that scale; target: the same PSNR "
            f"within {SCALE_TOLERANCE} dB."
        ),
        "",
        "| prior | model | cases | within | largest spread |",
        "|---|---|---:|---:|---:|",
    ]
    for prior in PRIORS:
        for model in (*MODELS, "wrap"):
            group = [c for c in scales if c["prior"] == prior and c["model"] == model]
            if not group:
                continue
            spread = max(c["spread"] for c in group)
            within = sum(c["spread"] <= SCALE_TOLERANCE for c in group)
            lines.append(f"| {prior} | {model} | {len(group)} | {within} | {spread:.1e} dB |")
    lines.append(END)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", default=list(IMAGES))
    parser.add_argument("--sides", type=int, nargs="+", default=list(SIDES))
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    env = environment(skimage=skimage.__version__)
    print(json.dumps(env), flush=True)
    fill_grid = [(i, p, n) for i in args.images for p in PSFS for n in FILL_NOISE]
    fills, smalls = [], []
    for k, (image, psf, noise) in enumerate(fill_grid, 1):
        c = fill_case(image, psf, noise, seed=k)
        fills.append(c)
        print(
            f"[fill {k}/{len(fill_grid)}] {image} {psf} noise {noise:g}: "
            + ", ".join(f"{r} {g:+.2f}" for r, g in c["gain"].items())
            + f" dB ({c['seconds']['gml']:.2f} s)",
            flush=True,
        )
    small_grid = [
        (i, p, s, m, n)
        for s in args.sides
        for m in MODELS
        for i in args.images
        for p in PSFS
        for n in SMALL_NOISE
    ]
    for k, (image, psf, side, model, noise) in enumerate(small_grid, 1):
        smalls.append(small_case(image, psf, side, model, noise, seed=k))
        if k % len(PSFS) == 0 or k == len(small_grid):
            print(f"[small {k}/{len(small_grid)}] {side}x{side} {model} {image}", flush=True)
    scale_grid = [
        (i, p, m, prior)
        for prior in PRIORS
        for m in (*MODELS, "wrap")
        for i in args.images[:2]
        for p in PSFS
    ]
    scales = []
    for k, (image, psf, model, prior) in enumerate(scale_grid, 1):
        scales.append(scale_case(image, psf, model, prior, seed=k))
        if k % len(PSFS) == 0:
            print(
                f"[scale {k}/{len(scale_grid)}] {prior} {model} {image}: largest spread "
                f"{max(c['spread'] for c in scales[-len(PSFS) :]):.1e} dB",
                flush=True,
            )
    prior_grid = [
        (i, p, m, prior, n)
        for prior in ("identity", "laplacian")
        for i in args.images
        for p in PSFS
        for m in MODELS
        for n in SMALL_NOISE
    ]
    priors = []
    for k, (image, psf, model, prior, noise) in enumerate(prior_grid, 1):
        priors.append(prior_case(image, psf, model, prior, noise, seed=k))
        if k % (len(MODELS) * len(SMALL_NOISE)) == 0:
            print(f"[priors {k}/{len(prior_grid)}] {prior} {image} {psf}", flush=True)
    (args.out / "deblur_weights.json").write_text(
        json.dumps(
            {"env": env, "fill": fills, "small": smalls, "scale": scales, "priors": priors},
            indent=1,
        )
    )
    lines = tables(fills, smalls, scales, env, priors)
    write_section(lines, args.out / "RESULTS.md", "deblur_weights")
    print("\n".join(lines[-6:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
