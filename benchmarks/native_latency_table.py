"""This machine's native-path CPU latency of every edge-SR model, cached for the latency predictor.

Measures each model of ``shared/esr/tests.pkl`` (``--scales``, default all three) at a reduced
output resolution (default 960x540, a quarter of the table's Full-HD pixels: 4x faster to measure,
and every layer of these models scales with the pixel count), one torch thread, torch's native
convolution path (oneDNN off, ``--cpu-path native``), median of ``--repeats`` passes after a
warm-up, in a shuffled order (the load of a shared machine drifts). Writes
``benchmarks/data/esr_native_latency.csv`` (``model_id, scale, resolution, median_ms, cv``), which
``benchmarks/latency_predictor.py --native`` reads as the predictor's optional extra feature.
The last line is JSON: ``{"n", "seconds", "cv_median"}``.

Run: ``nice -n 10 python benchmarks/native_latency_table.py [--scales 2] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import random
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NAS_SR_SHARED", ROOT.parent / "shared"))
OUT = ROOT / "benchmarks" / "data" / "esr_native_latency.csv"


def main() -> None:
    import torch

    from nas_sr.cost import measure_latency, parse_resolution
    from nas_sr.models import build_model
    from nas_sr.models.esr_ids import config_from_esr_id

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="2,3,4")
    parser.add_argument("--resolution", default="960x540", help="output WxH (default 960x540)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--table", type=Path, default=SHARED / "esr" / "tests.pkl")
    args = parser.parse_args()
    scales = {int(s) for s in args.scales.split(",")}
    resolution = parse_resolution(args.resolution)
    with open(args.table, "rb") as f:
        table = pickle.load(f)  # trusted benchmark data shipped beside the project
    ids = [i for i in table if config_from_esr_id(i)["scale"] in scales]
    random.Random(0).shuffle(ids)
    torch.set_num_threads(1)
    kept = {}
    if args.out.exists():  # measured rows of other scales (or resolutions) are kept
        with open(args.out) as f:
            kept = {(r["model_id"], r["resolution"]): r for r in csv.DictReader(f)}
    start = time.perf_counter()
    cvs = []
    for n, model_id in enumerate(ids, 1):
        config = config_from_esr_id(model_id)
        lat = measure_latency(build_model(config), resolution, config["scale"], 1, threads=1, warmup=args.warmup,
                              repeats=args.repeats, cpu_path="native")
        kept[(model_id, args.resolution)] = {"model_id": model_id, "scale": config["scale"],
                                             "resolution": args.resolution, "median_ms": round(lat.median_ms, 4),
                                             "cv": round(lat.cv or 0.0, 4)}
        cvs.append(lat.cv or 0.0)
        if n % 50 == 0:
            print(f"  {n}/{len(ids)} measured, {time.perf_counter() - start:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, ["model_id", "scale", "resolution", "median_ms", "cv"])
        writer.writeheader()
        writer.writerows(sorted(kept.values(), key=lambda r: (int(r["scale"]), r["model_id"])))
    seconds = time.perf_counter() - start
    print(f"{len(ids)} models at {args.resolution}, native path, 1 thread: {seconds:.0f} s, median CV "
          f"{100 * statistics.median(cvs):.1f} %; written to {args.out}")
    print(json.dumps({"n": len(ids), "seconds": round(seconds, 1), "cv_median": round(statistics.median(cvs), 4)}))


if __name__ == "__main__":
    main()
