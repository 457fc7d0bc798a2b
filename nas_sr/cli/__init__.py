"""The ``nas-sr`` command line. Each sub-command lives in its own module of this package.

A command module defines ``register(subparsers)``, which adds its parser and sets ``handler``
to a function ``handler(args) -> int``. Heavy libraries are imported inside handlers only, so
that ``nas-sr --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

_COMMAND_MODULES = ("space", "model", "evaluate", "search", "pareto", "trials", "report", "import_esr", "serve",
                    "profile", "export", "retrain", "study", "bench")


class UsageError(Exception):
    """A bad command-line input; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is one ``--help`` away); sub-parsers inherit it."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nas-sr",
        description="Neural-architecture search and Pareto exploration for image super-resolution.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(f"nas_sr.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except (UsageError, ValueError, FileNotFoundError) as exc:
        # Every error type raised for bad input carries a one-line message naming the culprit.
        print(f"nas-sr {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas-sr {args.command}: interrupted", file=sys.stderr)
        return 130
