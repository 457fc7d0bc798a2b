"""``nas-sr export``: a trial's trained network as pth, ONNX or TorchScript, checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    from nas_sr.export.formats import DEFAULT_TOLERANCE, FORMATS
    from nas_sr.study.storage import DEFAULT_STORAGE

    p = subparsers.add_parser("export", help="export a trial's trained network (pth, onnx, torchscript)",
                              description="Write the trained weights of one trial in the chosen format, reload "
                              "the file and compare its output with PyTorch's on random inputs of two sizes; exit "
                              "status 1 when the largest difference exceeds --tolerance.")
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--trial", type=int, required=True, metavar="ID", help="trial number")
    p.add_argument("--format", required=True, metavar="FORMAT", help=f"one of {', '.join(FORMATS)} (onnx needs "
                   "pip install 'nas-sr[export]')")
    p.add_argument("--out", type=Path, required=True, help="file to write")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"largest allowed |exported - PyTorch| on the [0, 1] pixel scale (default {DEFAULT_TOLERANCE:g})")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from nas_sr.export import FORMATS, export_model, find_trial, trial_config, trial_model
    from nas_sr.study.storage import load_existing_study

    if args.format not in FORMATS:
        raise ValueError(f"--format {args.format!r} is not one of {', '.join(FORMATS)}")
    if args.format == "onnx":
        from nas_sr.models.onnx import require_onnx

        require_onnx()
    study = load_existing_study(args.study, args.storage)
    trial = find_trial(study, args.trial)
    model = trial_model(trial, args.storage)
    metadata = {"study": args.study, "trial": trial.number, "nas_sr_version": trial.user_attrs.get("nas_sr_version", "")}
    result = export_model(model, trial_config(trial), args.format, args.out, tolerance=args.tolerance,
                          metadata=metadata)
    shapes = " and ".join("x".join(map(str, s)) for s in result.checked_shapes)
    print(f"trial {trial.number} ({trial.user_attrs.get('family')}) -> {result.path} ({result.format}, "
          f"{result.path.stat().st_size} bytes, {result.seconds:.1f} s); inputs: {result.input_sizes}")
    print(f"max abs error vs PyTorch: {result.max_abs_error:.3g} at inputs {shapes} (tolerance {result.tolerance:g})")
    if not result.ok:
        print(f"nas-sr export: error: {result.path} differs from PyTorch by {result.max_abs_error:.3g} > "
              f"tolerance {result.tolerance:g}", file=sys.stderr)
        return 1
    return 0
