"""Command line: ``convmat demo`` (also ``python -m convmat demo``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .demo import run_demo

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convmat", description="Convolution as matrix multiplication."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="convolve a small image as one matmul, step by step, and check it"
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the random example")
    return parser


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
    args = _parser().parse_args(argv)
    text, ok = run_demo(args.seed)
    sys.stdout.write(text)
    return 0 if ok else 1
