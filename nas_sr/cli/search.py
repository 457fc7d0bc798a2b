"""``nas-sr search``: a multi-objective architecture search, Optuna in the driver, Ray for trials.

With no arguments: the x2 edge-SR demo (``search_spaces/edge_sr_small.yaml``) on the bundled
photos, CPU, 2 workers, 20 COMPLETE trials of 8000 training steps each (8 LR patches of 12 px: the
settings that rank candidates best for their time), in ``sqlite:///studies/default.db``
(study ``default``); prints the Pareto front and writes ``studies/default_front.html``. The trials are
chosen by the ``cost-aware`` strategy unless ``--sampler`` names another. Run again without
``--study``, it continues the study ``default`` (a search of the same space), saying so.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from nas_sr.cli.argtypes import nonnegative_float, nonnegative_int, positive, positive_float

DEFAULT_SPACE = Path(__file__).resolve().parents[2] / "search_spaces" / "edge_sr_small.yaml"
#: Steps per trial on the bundled photos (no --train): six small photos need more steps to rank than
#: T91 does. The demo's 20 trials rank against the edge-SR table with Kendall tau 0.84 at 8000 steps,
#: 0.75 at 4000 (all 53 configurations of the demo space: 0.71 and 0.60), in 93 s on 2 cores
#: (benchmarks/end_to_end.py --demo); on T91, 8000 steps rank no better than the trainer's 4000.
BUNDLED_STEPS = 8000
#: Used when the demo space file is not there (e.g. an installed wheel).
BUILTIN_SPACE: dict[str, Any] = {
    "name": "edge_sr_builtin", "description": "built-in x2 demo space", "scales": [2], "color": "y",
    "branches": [
        {"family": "esr-max", "params": {"kernel_size": [3, 5], "channels": [1, 2, 4, 8]}},
        {"family": "esr-tm", "params": {"kernel_size": [3, 5, 7], "channels": [2, 4, 8]}},
        {"family": "espcn", "params": {"width1": [0, 1, 2], "width2": [3, 9]}},
        {"family": "bicubic"},
    ],
}


def register(subparsers: Any) -> None:
    from nas_sr.search.strategy import STRATEGIES as SAMPLERS
    from nas_sr.study.storage import DEFAULT_STORAGE
    from nas_sr.search.objectives import DEFAULT_OBJECTIVES

    p = subparsers.add_parser(
        "search", help="search a space for the Pareto front of quality vs cost (Optuna + Ray)",
        description=__doc__.split("\n\n")[1].replace("\n", " ") + " A named study with results needs --resume.")
    p.add_argument("--space", type=Path, help=f"search-space YAML (default {DEFAULT_SPACE.name})")
    p.add_argument("--study", help="study name (default: default, continued when it searched the same space)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"study storage: sqlite:///PATH (default {DEFAULT_STORAGE}), "
                   "postgresql+psycopg://USER:PW@HOST:PORT/DB (clusters) or journal:PATH (a shared file system)")
    p.add_argument("--trials", type=positive, default=20, help="COMPLETE trials wanted, those already in the "
                   "study included (default 20)")
    p.add_argument("--workers", type=positive, default=2, help="trials run at once (default 2)")
    p.add_argument("--sampler", choices=SAMPLERS, default="cost-aware", help="default cost-aware: trains only "
                   "candidates whose known costs (params, FLOPs) can still grow the front; tpe (multivariate), "
                   "nsga2 and random are Optuna's samplers; grid walks every config")
    p.add_argument("--budget-seconds", type=positive_float, help="training time per trial (default: none; with "
                   "--budget-steps too, whichever ends first)")
    p.add_argument("--budget-steps", type=positive, help="training steps per trial (default, unless only "
                   "--budget-seconds is given: 4000 with --train, the trainer's budget, which ranks edge-SR "
                   "candidates as full training does with Kendall tau 0.80 at ~9 s a candidate on one CPU thread, "
                   f"see benchmarks/proxy_fidelity.py; {BUNDLED_STEPS} on the bundled photos)")
    p.add_argument("--batch-size", type=positive, help="LR patches a step (default 8, the trainer's)")
    p.add_argument("--patch-size", type=positive, help="LR patch side in pixels (default 12, the trainer's: many "
                   "small steps train the small networks of a brief search best)")
    p.add_argument("--lr", type=positive_float, help="learning rate (default: the trainer's)")
    p.add_argument("--device", default="cpu", type=_device, help="training and latency device: cpu, cuda, cuda:N "
                   "(default cpu)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="training precision: fp32, or autocast mixed precision (default fp32)")
    p.add_argument("--objectives", help=f"comma-separated, from psnr[@SET], ssim[@SET] (@mean: the mean over two "
                   f"or more --val sets), latency_ms, params, flops, latency_ms@DEVICE (predicted on a device "
                   f"from its measurements: nas-sr profile --label DEVICE, or --device-latency) "
                   f"(default {DEFAULT_OBJECTIVES})")
    p.add_argument("--device-latency", action="append", default=[], metavar="DEVICE=FILE.csv",
                   help="measured latencies on DEVICE (columns latency_ms and config JSON or model_id) that fit "
                   "the predictor of objective latency_ms@DEVICE, with the study's own latency_ms@DEVICE "
                   "(repeatable)")
    p.add_argument("--front-tolerance", type=nonnegative_float, default=0.05, metavar="DB",
                   help="report the front with its uncertainty: keep trials whose PSNR falls short of a "
                   "dominating trial's by at most this many dB (default 0.05, about brief training's "
                   "seed-to-seed spread; 0: the strict Pareto front); recorded on the study")
    p.add_argument("--constraint", action="append", default=[], metavar="EXPR",
                   help="e.g. latency_ms<=33 or psnr@val>=rlfn (repeatable; NAME OP BOUND, OP one of <=, <, >=, >, "
                   "BOUND a number or a --reference name, optionally +/- a number)")
    p.add_argument("--reference", action="append", default=[], metavar="NAME=WEIGHTS",
                   help="a trained reference model a constraint may name, e.g. rlfn=team00_rlfn.pth: the preset "
                   "NAME at the space's scale, measured on the validation sets before the search (repeatable)")
    p.add_argument("--resolution", default="1920x1080", help="output WxH for FLOPs and latency (default 1920x1080)")
    p.add_argument("--latency-repeats", type=positive, default=5, help="timed passes per latency (default 5)")
    p.add_argument("--resume", action="store_true", help="continue an existing study (stale RUNNING trials FAIL)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train", type=Path, help="folder of HR training images (default: bundled photos)")
    p.add_argument("--val", type=Path, action="append", help="folder of HR validation images, named by the "
                   "folder (repeatable; default: bundled photos, named 'val')")
    p.add_argument("--address", "--ray-address", dest="address", metavar="ADDRESS",
                   help="join an existing Ray cluster: auto, HOST:PORT or ray://HOST:10001 (default: a local "
                   "Ray for this run)")
    p.add_argument("--cpus-per-trial", type=positive_float, default=1.0,
                   help="CPUs a trial reserves on its Ray node (default 1)")
    p.add_argument("--gpus-per-trial", type=nonnegative_float,
                   help="GPUs a trial reserves, fractions allowed, e.g. 0.25 (default: 1/--workers with "
                   "--device cuda, else 0)")
    p.add_argument("--max-retries", type=nonnegative_int, default=2,
                   help="re-runs of a configuration whose worker or node was lost (default 2)")
    p.add_argument("--trial-timeout", type=positive_float, metavar="SECONDS",
                   help="kill a trial still running after this long and record it FAIL (default: 3 x "
                   "--budget-seconds + 600; none for a steps-only budget)")
    p.add_argument("--ray-temp-dir", help="Ray's session folder for a local cluster (default Ray's own)")
    p.add_argument("--out", "--html", dest="out", type=Path, help="the front plot's file (default "
                   "<study>_front.html beside the database, else in studies/)")
    p.add_argument("--early-stopping", choices=("none", "mo-asha"), default="none",
                   help="mo-asha: multi-objective asynchronous successive halving over step rungs; a trial "
                   "stopped at a rung is PRUNED (never on the front); needs --budget-steps (default none)")
    p.add_argument("--min-steps", type=positive, help="mo-asha: steps of the first rung (default: budget / "
                   "reduction-factor^2); rungs at min-steps * reduction-factor^k below the budget")
    p.add_argument("--reduction-factor", type=positive, default=3, help="mo-asha: eta; a trial goes on past a "
                   "rung when among the best 1/eta there, by non-dominated rank then crowding (default 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def _device(text: str) -> str:
    # Its form only: with --address the GPUs may be on other nodes than this one.
    if not re.fullmatch(r"cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not cpu, cuda or cuda:N")
    return text


def run(args: argparse.Namespace) -> int:
    from nas_sr.cost import parse_resolution
    from nas_sr.search.constraints import parse_constraint
    from nas_sr.search.reference import parse_reference
    from nas_sr.search.objectives import DEFAULT_OBJECTIVES, parse_objectives

    val_names = [v.name for v in args.val] if args.val else ["val"]
    # Check the cheap inputs before loading anything.
    parse_objectives(args.objectives or DEFAULT_OBJECTIVES, val_names)
    references = dict(parse_reference(text) for text in args.reference)
    for text in args.constraint:
        reference = parse_constraint(text, val_names).reference
        if reference and reference not in references:
            raise ValueError(f"--constraint {text!r} names reference {reference!r}: "
                             f"add --reference {reference}=WEIGHTS")
    resolution = parse_resolution(args.resolution)
    device_latency = {}
    for text in args.device_latency:
        label, _, path = text.partition("=")
        if not path or not Path(path).is_file():
            raise ValueError(f"--device-latency {text!r}: expected DEVICE=FILE.csv with an existing file")
        device_latency[label] = str(Path(path).resolve())
    from nas_sr.search.early_stopping import EarlyStopping
    from nas_sr.train.settings import TrainSettings

    defaults = TrainSettings()  # the brief training that ranks best for its time (benchmarks/proxy_fidelity.py)
    budget_steps = args.budget_steps or (None if args.budget_seconds else
                                         defaults.max_steps if args.train else BUNDLED_STEPS)
    patch = args.patch_size or defaults.patch_size
    early = EarlyStopping(args.early_stopping, args.min_steps, args.reduction_factor)
    if early.active:
        early.rungs(budget_steps)  # a one-line error now when the rungs cannot be laid out
    space = _load_space(args.space)

    from nas_sr.data import load_bundled, load_folder
    from nas_sr.search.driver import SearchOptions, run_search
    from nas_sr.search.objectives import objectives_of_study
    from nas_sr.browse.report import write_front_html
    from nas_sr.search.report import pareto_front, render, trial_row
    from nas_sr.study.storage import artifact_dir, hide_password, output_file

    # Every image must fit a patch (training) or be scorable (validation) at the largest scale.
    scale = max(space.scales)
    train = load_folder(args.train, scale, patch) if args.train else load_bundled("train", scale, patch)
    val = ({v.name: load_folder(v, scale, scored=True) for v in args.val} if args.val
           else {"val": load_bundled("val", scale, scored=True)})
    settings = {"max_steps": budget_steps, "max_seconds": args.budget_seconds,
                "batch_size": args.batch_size or defaults.batch_size, "patch_size": patch, "lr": args.lr,
                "device": args.device,
                "precision": args.precision,
                "resolution": list(resolution), "latency_repeats": args.latency_repeats}
    if device_latency:
        settings["device_latency"] = device_latency
    gpus = args.gpus_per_trial
    if gpus is None:
        gpus = 1.0 / args.workers if args.device.startswith("cuda") else 0.0
    opts = SearchOptions(space=space, train_images=list(train), val_sets={k: list(v) for k, v in val.items()},
                         study=args.study or "default", storage=args.storage, trials=args.trials,
                         workers=args.workers, sampler=args.sampler, objectives=args.objectives,
                         constraints=args.constraint, references=references, resume=args.resume,
                         auto_resume=args.study is None, seed=args.seed, settings=settings, gpus_per_trial=gpus,
                         front_tolerance=args.front_tolerance,
                         cpus_per_trial=args.cpus_per_trial, max_retries=args.max_retries,
                         ray_address=args.address, ray_temp_dir=args.ray_temp_dir, progress=not args.no_progress,
                         early_stopping=early, trial_timeout=args.trial_timeout)
    from nas_sr.study.storage import StorageUnavailable

    try:
        outcome = run_search(opts)
    except StorageUnavailable as exc:
        print(f"nas-sr search: stopped: {exc}; run the same command with --resume when the database is back "
              "(trials left RUNNING are then failed and their configurations run again)", file=sys.stderr)
        return 1
    study = outcome.study
    objectives = objectives_of_study(study.metric_names, study.directions)
    front = pareto_front(study)
    print(f"study {opts.study}: {outcome.complete} COMPLETE, {outcome.failed} failed, {outcome.duplicates} "
          f"duplicate proposals skipped, {outcome.seconds:.0f} s; Pareto front ({len(front)} trials"
          f"{_tolerance_note(study)}):")
    print(render([trial_row(t, objectives) for t in front], "table"))
    # Where everything is: the storage, and each file this command wrote.
    print(f"storage: {hide_password(args.storage)} (study {opts.study})")
    weights = artifact_dir(args.storage)
    if weights.is_dir():
        print(f"trial weights: {weights}/")
    html = write_front_html(study, objectives, args.out or output_file(args.storage, opts.study, "front"))
    print(f"front plot: {html}")
    return 0 if not outcome.stopped else 1


def _tolerance_note(study: Any) -> str:
    tolerance = float(study.user_attrs.get("front_tolerance", 0.0))
    return f", near-ties within {tolerance:g} dB of PSNR kept" if tolerance else ""


def _load_space(path: Path | None) -> Any:
    from nas_sr.space import SearchSpace, load_space

    if path is not None:
        return load_space(path)
    if DEFAULT_SPACE.exists():
        return load_space(DEFAULT_SPACE)
    print(f"nas-sr search: note: {DEFAULT_SPACE} not found, using the built-in demo space", file=sys.stderr)
    return SearchSpace.from_dict(BUILTIN_SPACE, "<built-in>")
