"""``nas-sr space show FILE``: a search space's summary, its size, or every configuration."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("space", help="inspect a search-space file")
    commands = parser.add_subparsers(dest="space_command", metavar="SUBCOMMAND", required=True)
    show = commands.add_parser(
        "show", help="summary, count or configurations of a search space",
        description="Validate a search-space YAML file and print its summary (branches, values, "
        "counts), only its number of configurations (--count), or every configuration (--enumerate).",
    )
    show.add_argument("file", metavar="FILE", help="a search-space YAML file, e.g. search_spaces/edge_sr.yaml")
    what = show.add_mutually_exclusive_group()
    what.add_argument("--count", action="store_true", help="print only the number of configurations")
    what.add_argument("--enumerate", action="store_true", help="print every configuration (canonical JSON)")
    show.add_argument("--format", choices=("json", "jsonl"), help="with --enumerate: one JSON list, or "
                      "one configuration a line (jsonl, the default)")
    show.set_defaults(handler=show_handler)


def show_handler(args: argparse.Namespace) -> int:
    from nas_sr.cli import UsageError
    from nas_sr.space import load_space

    if args.format and not args.enumerate:
        raise UsageError("--format goes with --enumerate")
    space = load_space(args.file)
    try:
        if args.count:
            print(space.count())
        elif not args.enumerate:
            print(space.summary())
        elif args.format == "json":
            print(json.dumps(list(space.enumerate()), indent=2))
        else:
            for config in space.enumerate():
                print(json.dumps(config))
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
