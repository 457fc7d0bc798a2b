"""``nas-sr retrain``: train a chosen trial again with a full budget, as a new trial linked to it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    from nas_sr.study.storage import DEFAULT_STORAGE

    p = subparsers.add_parser("retrain", help="re-train a trial with a full schedule, as a new linked trial",
                              description="Train trial ID's config for --steps steps (cosine schedule over them; "
                              "--seconds caps the time) with the study's training settings, on the same kind of "
                              "data as nas-sr search, and record it as a new trial of the study (user attributes "
                              "retrain_of, retrain_budget; its own weights artifact).")
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--trial", type=int, required=True, metavar="ID", help="trial number to re-train")
    p.add_argument("--steps", type=int, required=True, help="training steps")
    p.add_argument("--seconds", type=float, help="time limit in seconds (default none)")
    p.add_argument("--train", type=Path, help="folder of HR training images (default: bundled photos)")
    p.add_argument("--val", type=Path, action="append", help="folder of HR validation images, named by the folder "
                   "(repeatable; default: bundled photos, named 'val'); the study's objectives name the sets")
    p.add_argument("--device", help="training and latency device (default: the study's)")
    p.add_argument("--threads", type=int, help="CPU threads (default: the study's)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nas_sr.data import load_bundled, load_folder
    from nas_sr.export.retrain import retrain_trial

    if args.steps < 1:
        raise ValueError(f"--steps must be positive, got {args.steps}")
    train = load_folder(args.train) if args.train else load_bundled("train")
    val = {v.name: load_folder(v) for v in args.val} if args.val else {"val": load_bundled("val")}
    overrides = {k: v for k, v in (("device", args.device), ("threads", args.threads)) if v is not None}
    trial = retrain_trial(args.study, args.storage, args.trial, args.steps, args.seconds, list(train), val, overrides)
    attrs = trial.user_attrs
    if trial.state.name != "COMPLETE":
        print(f"nas-sr retrain: trial {trial.number} (retrain of {args.trial}) FAIL: {attrs.get('fail_reason')}")
        return 1
    metrics = ", ".join(f"{k} {attrs[k]:.3f}" for k in sorted(attrs) if k.startswith(("psnr_", "ssim_")))
    print(f"trial {trial.number} = retrain of trial {args.trial}: {attrs.get('steps')} steps in "
          f"{attrs.get('seconds')} s; {metrics}; values {trial.values}")
    return 0
