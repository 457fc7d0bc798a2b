"""``nas-sr report``: one self-contained interactive HTML file on a study (opens offline)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from nas_sr.study.storage import DEFAULT_STORAGE

    p = subparsers.add_parser("report", help="write a self-contained HTML report of a study",
                              description="Write one interactive HTML file (plotly.js inline, opens offline): the "
                              "Pareto front on two objectives coloured by family (infeasible trials grey), a family "
                              "comparison, the hypervolume over trials and the top trials.")
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--out", help="output HTML file (default <study>_report.html beside the database, else in "
                   "studies/: studies/default_report.html for the demo)")
    p.add_argument("--x", help="objective on the x axis (default: the study's first cost, e.g. latency_ms)")
    p.add_argument("--y", help="objective on the y axis (default: the study's first quality, e.g. psnr@val)")
    p.add_argument("--reference", metavar="STUDY",
                   help="a reference study in the same storage (nas-sr import-esr) drawn on the front")
    p.add_argument("--top", type=int, default=20, help="rows of the top-trials table (default 20)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nas_sr.browse.query import open_study
    from nas_sr.browse.report import write_report
    from nas_sr.study.storage import hide_password, output_file

    view = open_study(args.study, args.storage)
    reference = open_study(args.reference, args.storage) if args.reference else None
    out = args.out or output_file(args.storage, args.study, "report")
    path = write_report(view, out, x=args.x, y=args.y, reference=reference, top=args.top)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): study {args.study} of {hide_password(args.storage)}")
    return 0
