"""``nas-sr pareto``: the non-dominated COMPLETE trials of a study."""

from __future__ import annotations

import argparse
from typing import Any

from nas_sr.cli.argtypes import nonnegative_float


def register(subparsers: Any) -> None:
    from nas_sr.study.storage import DEFAULT_STORAGE

    p = subparsers.add_parser("pareto", help="print the Pareto front of a search study",
                              description="Print the non-dominated, feasible COMPLETE trials of a study, "
                              "for its own objectives or another subset (e.g. --objectives psnr,params).")
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--objectives", help="comma-separated objectives (default: the study's)")
    p.add_argument("--tolerance", type=nonnegative_float, metavar="DB", help="keep trials within this many dB "
                   "of PSNR of the front (default: the study's front_tolerance, which nas-sr search records; "
                   "0: the strict Pareto front)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nas_sr.browse.large import front_trials
    from nas_sr.search.objectives import objectives_of_study, parse_objectives
    from nas_sr.search.report import pareto_front, render, trial_row
    from nas_sr.study.storage import load_existing_study

    study = load_existing_study(args.study, args.storage)
    objectives = objectives_of_study(study.metric_names, study.directions)
    if args.objectives:
        sets = [o.name.partition("@")[2] for o in objectives if "@" in o.name]
        objectives = parse_objectives(args.objectives, sets)
    tolerance = args.tolerance if args.tolerance is not None else float(study.user_attrs.get("front_tolerance", 0.0))
    front = front_trials(study, objectives, tolerance)  # SQL on an RDB storage: fast on 100,000 trials
    if front is None:
        front = pareto_front(study, objectives, tolerance)
    rows = [trial_row(t, objectives) for t in front]
    print(render(rows, args.format))
    return 0
