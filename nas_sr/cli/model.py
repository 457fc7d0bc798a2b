"""``nas-sr model info MODEL``: config, parameters, multiply-adds and (optionally) latency."""

from __future__ import annotations

import argparse
import json
from typing import Any

DEFAULT_RESOLUTION = (1280, 720)


def register(subparsers: Any) -> None:
    from nas_sr.cli.evaluate import positive_int

    parser = subparsers.add_parser("model", help="inspect a model: config, parameters, FLOPs, latency")
    commands = parser.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)
    info = commands.add_parser(
        "info", help="config, parameters and multiply-adds of a model (latency with --latency)",
        description="Print a model's config, parameter count and multiply-adds of one forward pass "
        "(convolutions and matmuls, transposed convolutions included; element-wise ops, softmax "
        "and pixel shuffle are not counted).",
    )
    info.add_argument("model", metavar="MODEL", help="an edge-SR id (eSR-TM_s2_K7_C8), a family name "
                      "(its defaults), or a JSON config ('{\"family\":\"esr-tm\",\"scale\":2,...}')")
    info.add_argument("--scale", type=positive_int, help="set or override the scale")
    info.add_argument("--resolution", metavar="WxH", help="output resolution (default: about 1280x720, "
                      "from an LR of 1280/s x 720/s rounded, as efficient-SR papers count: 1281x720 at x3)")
    info.add_argument("--latency", action="store_true", help="also measure the latency of a forward pass")
    info.add_argument("--device", default="cpu", help="device for --latency: cpu, cuda, cuda:N (default cpu)")
    info.add_argument("--dtype", default="fp32", choices=("fp32", "fp16"), help="dtype for --latency")
    info.add_argument("--threads", type=positive_int, help="torch CPU threads for --latency (default: torch's)")
    info.add_argument("--repeats", type=positive_int, default=10, help="timed passes for --latency (default 10)")
    info.add_argument("--format", default="table", choices=("table", "json"), help="output format")
    info.set_defaults(handler=info_handler)


def info_handler(args: argparse.Namespace) -> int:
    from nas_sr.cost import model_cost, parse_resolution

    from nas_sr.models.spec import config_from_spec

    config = config_from_spec(args.model, args.scale)
    scale = config["scale"]
    if args.resolution is not None:
        resolution = parse_resolution(args.resolution)
    else:
        # the papers' LR inputs: 640x360 (x2), 427x240 (x3), 320x180 (x4)
        resolution = (round(DEFAULT_RESOLUTION[0] / scale) * scale, round(DEFAULT_RESOLUTION[1] / scale) * scale)
    cost = model_cost(config, resolution, latency=args.latency, device=args.device, threads=args.threads,
                      dtype=args.dtype, repeats=args.repeats)
    if args.format == "json":
        out: dict[str, Any] = {"config": config, "params": cost.params, "flops": cost.flops,
                               "resolution": list(cost.resolution)}
        if cost.params_train is not None:
            out["params_train"] = cost.params_train
        if cost.latency:
            out["latency"] = cost.latency.as_dict()
        print(json.dumps(out, indent=2))
        return 0
    w, h = cost.resolution
    deployed = "" if cost.params_train is None else f" deployed ({cost.params_train:,} in the training form)"
    rows = [("config", json.dumps(config)), ("params", f"{cost.params:,}{deployed}"),
            ("flops", f"{cost.flops:,} multiply-adds ({cost.flops / 1e9:.3f} G) for a {w}x{h} output")]
    if (lat := cost.latency) is not None:
        d = lat.device
        rows += [("latency", f"{lat.median_ms:.3f} ms median, IQR {lat.iqr_ms:.3f} ms, {lat.repeats} repeats"),
                 ("device", f"{d.kind}: {d.name}, {d.threads} threads, {d.dtype}, torch {d.torch_version}"),
                 ("peak memory", "n/a on cpu" if lat.peak_memory_bytes is None
                  else f"{lat.peak_memory_bytes / 2**20:.1f} MiB")]
    for name, value in rows:
        print(f"{name:<12} {value}")
    return 0
