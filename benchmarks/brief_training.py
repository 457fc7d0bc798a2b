"""Brief CPU training of eSR-TM_s2_K7_C8 on T91 against the authors' fully trained weights.

Trains for a wall-clock budget (default 60 s) with ``nas_sr.train`` and prints the Set14 PSNR
(uint8 Y protocol) of the brief run next to that of the released weights under the same
protocol (31.77 dB). The goal for the defaults: within 0.5 dB.

    python benchmarks/brief_training.py [--seconds 60] [--shared ../shared] [--threads N]
                                        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from nas_sr import build_model, config_from_esr_id
from nas_sr.data import load_folder
from nas_sr.models.upscaler import torch_upscaler
from nas_sr.models.weights import load_weights, read_state_dict
from nas_sr.protocol import evaluate
from nas_sr.train import TrainSettings, train

GOAL_DB = 0.5


def main() -> None:
    defaults = TrainSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = os.environ.get("NAS_SR_SHARED", str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--shared", type=Path, default=Path(shared))
    parser.add_argument("--model", default="eSR-TM_s2_K7_C8", help="edge-SR model id")
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget (wall clock)")
    parser.add_argument("--steps", type=int, default=1_000_000,
                        help="step budget (default: so many that the time budget ends training)")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--patch-size", type=int, default=defaults.patch_size)
    parser.add_argument("--patches", type=int, default=defaults.patches)
    parser.add_argument("--oversample", type=int, default=defaults.oversample)
    parser.add_argument("--onednn", action="store_true", help="oneDNN CPU convolutions")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: fastest for this tiny network on a "
                             "shared machine; 0: torch's default)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    config = config_from_esr_id(args.model)
    datasets = args.shared / "datasets"
    t91 = load_folder(datasets / "T91", config["scale"], args.patch_size)
    set14 = load_folder(datasets / "Set14")

    released = build_model(config)
    weights = args.shared / "esr" / "model-files" / f"{args.model}.model"
    load_weights(released, read_state_dict(weights), source=str(weights))
    reference = evaluate(torch_upscaler(released, config), set14, config["scale"], "y", "uint8",
                         dataset="Set14").psnr

    settings = TrainSettings(
        max_steps=args.steps, max_seconds=args.seconds, lr=args.lr, batch_size=args.batch_size,
        patch_size=args.patch_size, patches=args.patches, oversample=args.oversample,
        seed=args.seed, threads=args.threads or None, onednn=args.onednn, log_every=2000,
    )
    print(f"training {args.model} on T91 ({len(t91)} images) for at most {args.seconds:g} s / "
          f"{args.steps} steps on CPU ({args.threads or torch.get_num_threads()} threads): "
          f"batch {settings.batch_size} x {settings.patch_size} px LR patches from "
          f"the {settings.patches} most detailed of {settings.patches * settings.oversample}, "
          f"Adam lr {settings.lr:g} cosine, "
          f"{'oneDNN' if settings.onednn else 'native'} convolutions")
    started, cpu = time.perf_counter(), time.process_time()
    result = train(config, t91, {"Set14": set14}, settings)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    for step, seconds, loss in result.curve:
        print(f"  step {step:>6}  {seconds:6.1f} s  L1 {loss:.5f}")
    ours = result.metrics["psnr_Set14"]
    gap = reference - ours
    print(f"\n{'':28} {'Set14 PSNR':>10} {'SSIM':>7}")
    print(f"{'brief training':28} {ours:>10.2f} {result.metrics['ssim_Set14']:>7.4f}   "
          f"({result.steps} steps in {result.seconds:.1f} s, {result.stop_reason}; "
          f"{total:.1f} s with patches and validation, {cpu:.1f} s of CPU time)")
    print(f"{'released weights':28} {reference:>10.2f}")
    print(f"gap {gap:+.2f} dB ({'within' if gap <= GOAL_DB else 'outside'} the {GOAL_DB} dB goal)")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "released_psnr": reference,
                                         "gap_db": gap, **result.as_dict()}, indent=1))


if __name__ == "__main__":
    main()
