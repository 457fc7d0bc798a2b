"""``nas-sr profile``: latency of a study's COMPLETE trials on this machine, per device label."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from nas_sr.study.storage import DEFAULT_STORAGE

    p = subparsers.add_parser("profile", help="measure trials' latency on this machine, recorded per device label",
                              description="Measure the latency of existing COMPLETE trials here (median of "
                              "--repeats timed passes after --warmup, with IQR and coefficient of variation) and "
                              "record it on each trial as user attributes latency_ms@LABEL, latency_iqr_ms@LABEL, "
                              "latency_cv@LABEL and latency_device@LABEL (JSON).")
    p.add_argument("--study", default="default", help="study name (default: default)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL, or an exported study file "
                   f"as sqlite:///FILE.db (default {DEFAULT_STORAGE})")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--dtype", default="fp32", help="fp32 or fp16 (default fp32)")
    p.add_argument("--threads", type=int, help="intra-op threads (default: torch's / onnxruntime's own)")
    p.add_argument("--resolution", default="1920x1080", help="output WxH (default 1920x1080)")
    p.add_argument("--backend", default="torch", help="torch or onnxruntime (cpu, fp32; pip install "
                   "'nas-sr[export]') (default torch)")
    p.add_argument("--cpu-path", default="default", help="CPU convolution path of the torch backend: default "
                   "(torch's choice, oneDNN on x86) or native (oneDNN off: ATen's im2col + GEMM kernels, which "
                   "rank edge-SR models as a Raspberry Pi 400 does) (default: default)")
    p.add_argument("--trials", default="pareto", help="pareto, all (COMPLETE), ID,ID,... or informative:K (the K "
                   "trials that teach the label's latency predictor most, those measured skipped) (default pareto)")
    p.add_argument("--label", help="device label in the attribute names, e.g. rpi4-fp32 (default "
                   "DEVICE-DTYPE, -ort for onnxruntime, -native for --cpu-path native)")
    p.add_argument("--repeats", type=int, default=10, help="timed passes (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed passes first (default 3)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nas_sr.cost import parse_resolution
    from nas_sr.profile import ProfileSettings, profile_keys, profile_study, select_trials
    from nas_sr.study.storage import load_existing_study

    settings = ProfileSettings(args.device, args.dtype, args.threads, parse_resolution(args.resolution),
                               args.backend, args.repeats, args.warmup, args.label, args.cpu_path)
    label = settings.name
    keys = profile_keys(label)
    study = load_existing_study(args.study, args.storage)
    if args.trials.startswith("informative:") and args.trials.partition(":")[2].isdigit():
        from nas_sr.search.predicted import informative_trials

        trials = informative_trials(study, label, int(args.trials.partition(":")[2]))
    else:
        trials = select_trials(study, args.trials)
    if not trials:
        raise ValueError(f"study {args.study!r} has no COMPLETE trials to profile (--trials {args.trials})")

    def show(trial: Any, attrs: dict[str, Any]) -> None:
        print(f"trial {trial.number:>4} {trial.user_attrs.get('family', ''):<10} {attrs[keys['median']]:>10.3f} ms  "
              f"IQR {attrs[keys['iqr']]:.3f} ms  CV {100 * attrs[keys['cv']]:.1f} %", flush=True)

    path = "" if settings.cpu_path == "default" else f", {settings.cpu_path} conv"
    print(f"profiling {len(trials)} trial(s) of study {args.study!r} as {label!r} ({settings.backend}{path}, "
          f"{settings.device}, {settings.dtype}, output {args.resolution}):", flush=True)
    done = profile_study(study, args.storage, trials, settings, on_trial=show)
    print(f"recorded {keys['median']} (+ IQR, CV, device) on {len(done)} trial(s)")
    if f"latency_ms@{label}" in (study.metric_names or []):
        print(f"objective latency_ms@{label}: predictor refitted, latency_pred_ms@{label} rewritten on the COMPLETE "
              "trials")
    return 0
