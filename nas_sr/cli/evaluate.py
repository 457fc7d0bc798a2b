"""``nas-sr evaluate``: PSNR/SSIM of a model on benchmark folders by the SR protocol."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="PSNR/SSIM of a model on HR image folders (Y channel, MATLAB bicubic LR)",
        description="Evaluate a model by the SR protocol: MATLAB bicubic LR, output rounded to "
        "uint8, PSNR/SSIM on Y with a border of `scale` pixels, averaged over images.",
    )
    parser.add_argument("--model", required=True,
                        help="'bicubic' (MATLAB bicubic upscaling, the published baseline), an "
                        "edge-SR id such as eSR-TM_s2_K7_C8, or a JSON config")
    parser.add_argument("--weights", type=Path, help="weights file: a state_dict or a checkpoint as the "
                        "authors distribute it (VapSR, EMT, PAN names are mapped; EMA weights preferred; "
                        "SPAN's deploy-form release loads into any Conv3XC gain)")
    parser.add_argument("--weights-key", help="entry of the checkpoint that holds the state_dict "
                        "(default: params_ema, else params, state_dict or model when present)")
    parser.add_argument("--dataset", type=Path, action="append", required=True,
                        help="folder of HR images (repeat for several)")
    parser.add_argument("--scale", type=positive_int, help="upscaling factor (taken from the model id if omitted)")
    parser.add_argument("--y-convention", choices=("uint8", "float"),
                        help="how Y is computed: uint8 (MATLAB rgb2ycbcr; default for Y models) or "
                        "float (BasicSR; default for RGB models)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1, e.g. ``--scale``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nas_sr.cost.latency import describe_device
    from nas_sr.data import check_size, list_images, read_image
    from nas_sr.protocol import evaluate, matlab_bicubic

    for folder in args.dataset:
        list_images(folder)  # fail early, naming the folder, before any model work
    describe_device(args.device)  # a one-line error for a device torch has not got
    if args.model == "bicubic":
        if args.scale is None:
            raise ValueError("--model bicubic needs --scale")
        if args.weights:
            raise ValueError("--model bicubic is MATLAB's fixed upscaler and takes no --weights; "
                             "for the learnable bicubic model give its id, e.g. Bicubic_s2")
        # The published bicubic table: Y as MATLAB computes it, float pipeline.
        upscale, color, convention, quantize = matlab_bicubic(args.scale), "y", "uint8", False
        scale, description = args.scale, "MATLAB bicubic"
    else:
        upscale, color, scale, description = _model_upscaler(args)
        convention, quantize = args.y_convention or ("uint8" if color == "y" else "float"), True

    def scorable(path: Path):
        image = read_image(path)
        check_size(image, path, scale, scored=True)
        return image

    results = []
    for folder in args.dataset:
        files = list_images(folder)
        images = ((p.stem, scorable(p)) for p in tqdm(files, desc=folder.name, unit="img",
                                                        leave=False, disable=len(files) < 20))
        results.append(evaluate(upscale, images, scale, color, convention, folder.name,
                                quantize=quantize))
    if args.format == "json":
        json.dump([{"model": description, **r.as_dict()} for r in results], sys.stdout, indent=1)
        print()
    else:
        print(f"{description}  x{scale}  (Y {convention}{'' if quantize else ', float pipeline'})")
        print(f"{'dataset':<12} {'images':>6} {'PSNR':>8} {'SSIM':>7}")
        for r in results:
            print(f"{r.dataset:<12} {len(r.images):>6} {r.psnr:>8.4f} {r.ssim:>7.4f}")
    return 0


def _model_upscaler(args: argparse.Namespace):
    from nas_sr.models import build_model, deploy_model
    from nas_sr.models.spec import config_from_spec
    from nas_sr.models.upscaler import torch_upscaler
    from nas_sr.models.weights import load_checkpoint

    config = config_from_spec(args.model, args.scale)
    model = build_model(config)
    if args.weights:
        load_checkpoint(model, config, args.weights, args.weights_key)
        description = f"{args.model} ({args.weights.name})"
    else:
        print(f"nas-sr evaluate: note: no --weights, {args.model} is evaluated untrained",
              file=sys.stderr)
        description = f"{args.model} (untrained)"
    # The deploy form: the same output as the training form, faster (a deploy-form file loads either way).
    model = deploy_model(config, model)
    return torch_upscaler(model, config, args.device), config["color"], config["scale"], description
