"""Command line: ``convmat demo | explain | plot`` (also ``python -m convmat``)."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

import numpy as np

from ._core.validate import BOUNDARY_CHOICES
from .demo import run_demo
from .explain import explain, parse_matrix
from .plot import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, plot_matrix

__all__ = ["main"]

_INSTALL_PLOT = (
    'convmat plot needs matplotlib: pip install matplotlib (or pip install ".[plot]" in '
    "convmat's checkout)"
)


class _Parser(argparse.ArgumentParser):
    """argparse, with every error on one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer of at least `minimum`, refused in one line otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            msg = f"expected {what}, got {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return parse


_positive = _at_least(1, "a positive integer")
_seed = _at_least(0, "a non-negative integer")


def _add_matrix_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kernel", required=True, help='the filter, rows split by ";", e.g. "1 2; 3 4"'
    )
    parser.add_argument(
        "--image-shape", nargs=2, type=_positive, metavar=("H", "W"), help="image height and width"
    )
    parser.add_argument("--mode", choices=["full", "same", "valid"], default="full")
    parser.add_argument(
        "--boundary",
        choices=BOUNDARY_CHOICES,
        default="fill",
    )


def _version() -> str:
    """The installed distribution's version (the package's ``__version__``)."""
    try:
        return importlib.metadata.version("convmat")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed: run from a source tree)"


def _parser() -> tuple[_Parser, dict[str, _Parser]]:
    parser = _Parser(prog="convmat", description="Convolution as matrix multiplication.")
    parser.add_argument("--version", action="version", version=f"convmat {_version()}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    demo = sub.add_parser(
        "demo", help="convolve a small image as one matmul, step by step, and check it"
    )
    demo.add_argument("--seed", type=_seed, default=0, help="seed of the random example")
    exp = sub.add_parser(
        "explain",
        help="print the Toeplitz blocks, their layout and the matrix of a 2-D convolution",
        description="Print the doubly blocked Toeplitz matrix of a 2-D kernel, readably.",
    )
    _add_matrix_options(exp)
    given = exp.add_mutually_exclusive_group()
    given.add_argument("--image", help='an image, e.g. "1 2 3; 4 5 6"; shows A @ x beside scipy')
    given.add_argument(
        "--random", action="store_true", help="a random integer image; shows A @ x beside scipy"
    )
    exp.add_argument("--seed", type=_seed, default=0, help="seed of --random")
    plot = sub.add_parser(
        "plot",
        help="draw the matrix of a 2-D convolution to a PNG (needs matplotlib)",
        description="Draw the doubly blocked Toeplitz matrix of a 2-D kernel with matplotlib.",
    )
    _add_matrix_options(plot)
    plot.add_argument("-o", "--output", default="matrix.png", help="PNG file to write")
    plot.add_argument(
        "--size",
        type=_positive,
        default=DEFAULT_SIZE,
        metavar="PIXELS",
        help=f"the picture's longer side in pixels, {MIN_SIZE} to {MAX_SIZE} (default "
        f"{DEFAULT_SIZE}); a larger matrix is drawn a block of entries to a pixel",
    )
    return parser, {"demo": demo, "explain": exp, "plot": plot}


def _shapes(
    args: argparse.Namespace, parser: _Parser
) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    try:
        kernel = parse_matrix(args.kernel, "--kernel")
        image = parse_matrix(args.image, "--image") if getattr(args, "image", None) else None
    except ValueError as exc:
        parser.error(str(exc))
    if image is not None:
        shape = image.shape
        if args.image_shape is not None and tuple(args.image_shape) != shape:
            parser.error(
                f"--image has shape {shape} but --image-shape says {tuple(args.image_shape)}"
            )
    elif args.image_shape is None:
        parser.error("--image-shape H W is required (or give --image)")
    else:
        shape = tuple(args.image_shape)
    if getattr(args, "random", False):
        image = np.random.default_rng(args.seed).integers(0, 10, size=shape)
    return kernel, image, (int(shape[0]), int(shape[1]))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Examples
    --------
    >>> from convmat.cli import main
    >>> main(["demo"])  # doctest: +ELLIPSIS
    Convolution as ONE matrix multiplication: y = A @ x
    ...
    0
    """
    parser, commands = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        text, ok = run_demo(args.seed)
        sys.stdout.write(text)
        return 0 if ok else 1
    sub = commands[args.command]
    kernel, image, shape = _shapes(args, sub)
    try:
        if args.command == "explain":
            sys.stdout.write(explain(kernel, shape, args.mode, args.boundary, image=image))
            return 0
        try:
            path = plot_matrix(
                kernel, shape, args.mode, args.boundary, output=args.output, size=args.size
            )
        except ModuleNotFoundError as exc:
            if exc.name is not None and exc.name.split(".")[0] == "matplotlib":
                sys.stderr.write(_INSTALL_PLOT + "\n")
                return 1
            raise
        sys.stdout.write(f"wrote {path}\n")
    except (ValueError, TypeError, OSError) as exc:
        # the function's argument is the command's option
        first = str(exc).splitlines()[0]
        sub.error(first.replace("`output`", "-o/--output").replace("`size`", "--size"))
    return 0
