"""``nas-sr import-esr``: the official edge-SR results table as a reference study."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from nas_sr.study.storage import DEFAULT_STORAGE

    p = subparsers.add_parser("import-esr", help="store the edge-SR results table as a reference study",
                              description="Store the models of the official edge-SR table (tests.pkl: PSNR/SSIM/LPIPS "
                              "per test set, parameters, speed per device) as COMPLETE trials of a separate study "
                              "marked reference: true, for fronts to show literature points.")
    p.add_argument("table", help="the table, e.g. ../shared/esr/tests.pkl")
    p.add_argument("--study", default="esr-reference", help="study name (default: esr-reference)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--replace", action="store_true", help="replace the study if it exists")
    p.add_argument("--trust-pickle", action="store_true", help="read the table although it is a pickle (which can "
                   "run code when read): only for the edge-SR release's own tests.pkl")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nas_sr.browse.reference import import_esr

    study = import_esr(args.table, args.study, args.storage, replace=args.replace, trust_pickle=args.trust_pickle)
    print(f"stored {len(study.get_trials(deepcopy=False))} edge-SR models as reference study {args.study!r} "
          f"in {args.storage}")
    return 0
