"""``nas-sr trials``: the trials of a study with their metrics, state and config."""

from __future__ import annotations

import argparse
from typing import Any

from nas_sr.cli.argtypes import positive

STATES = {"complete": ("COMPLETE",), "fail": ("FAIL",), "pruned": ("PRUNED",), "running": ("RUNNING",), "all": None}


def register(subparsers: Any) -> None:
    from nas_sr.study.storage import DEFAULT_STORAGE

    p = subparsers.add_parser("trials", help="list the trials of a search study",
                              description="List a study's trials: number, state, objective values, family, "
                              "training steps/seconds, failure reason (or duplicate_of) and config.")
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--state", choices=tuple(STATES), default="all", help="which trials (default all)")
    p.add_argument("--limit", type=positive, metavar="N", help="only the N latest trials (highest numbers)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nas_sr.browse.large import latest_trials
    from nas_sr.profile import profile_labels
    from nas_sr.search.objectives import objectives_of_study
    from nas_sr.search.report import render, trial_row
    from nas_sr.study.storage import load_existing_study

    study = load_existing_study(args.study, args.storage)
    objectives = objectives_of_study(study.metric_names, study.directions)
    wanted = STATES[args.state]
    trials = latest_trials(study, wanted, args.limit) if args.limit else None  # SQL: N trials read, not all
    if trials is None:
        trials = [t for t in study.get_trials(deepcopy=False) if wanted is None or t.state.name in wanted]
        trials = trials[-args.limit:] if args.limit else trials
    labels = sorted({label for t in trials for label in profile_labels(t.user_attrs)})
    print(render([_with_profiles(trial_row(t, objectives), t.user_attrs, labels) for t in trials], args.format))
    return 0


def _with_profiles(row: dict[str, Any], attrs: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """``row`` with the per-device latencies (``nas-sr profile``) and ``retrain_of`` before its config."""
    from nas_sr.profile import profile_keys

    config = row.pop("config", None)
    for label in labels:
        keys = profile_keys(label)
        row[keys["median"]] = attrs.get(keys["median"])
        row[keys["cv"]] = attrs.get(keys["cv"])
    if "retrain_of" in attrs:
        row["retrain_of"] = attrs["retrain_of"]
    row["config"] = config
    return row
