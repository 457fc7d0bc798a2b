"""``nas-sr study export|merge``: a standalone SQLite copy of trials to profile elsewhere, and its merge back."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    from nas_sr.study.storage import DEFAULT_STORAGE

    p = subparsers.add_parser("study", help="export trials to a standalone study file; merge its profiles back",
                              description="Copy trials (with their weights) to a SQLite file for a target device, "
                              "and merge the latency profiles measured there back onto the original trials.")
    sub = p.add_subparsers(dest="study_command", metavar="ACTION", required=True)
    e = sub.add_parser("export", help="copy COMPLETE trials and their weights into a new SQLite study file",
                       description="Write FILE.db (and artifacts/ beside it: copy both to the target).")
    e.add_argument("--study", default="default", help="study name (default: default)")
    e.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    e.add_argument("--out", type=Path, required=True, help="the new study file, e.g. pi.db")
    e.add_argument("--trials", default="all", help="pareto, all (COMPLETE) or ID,ID,... (default all)")
    e.set_defaults(handler=run_export)
    m = sub.add_parser("merge", help="copy the profile attributes of an exported file back onto its trials",
                       description="Match each trial of FILE.db to its original by trial number and config and "
                       "write its latency_*@LABEL attributes there; running it again writes nothing new.")
    m.add_argument("file", type=Path, metavar="FILE.db")
    m.add_argument("--into", required=True, metavar="URL", help="storage URL of the original study")
    m.add_argument("--study", help="study name there (default: the one FILE.db was exported from)")
    m.set_defaults(handler=run_merge)


def run_export(args: argparse.Namespace) -> int:
    from nas_sr.export import export_study
    from nas_sr.study.storage import artifact_dir

    copy = export_study(args.study, args.storage, args.out, args.trials)
    trials = copy.get_trials(deepcopy=False)
    weights = sum(1 for t in trials if t.user_attrs.get("weights_artifact"))
    print(f"exported {len(trials)} trial(s) of study {args.study!r} to {args.out} ({weights} with weights in "
          f"{artifact_dir(f'sqlite:///{args.out}')}); profile it with nas-sr profile --storage sqlite:///{args.out} "
          f"--study {args.study} --trials all, then nas-sr study merge {args.out} --into {args.storage}")
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from nas_sr.export import merge_study

    report = merge_study(args.file, args.into, args.study)
    print(report.summary())
    return 0
