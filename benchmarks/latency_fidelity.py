"""How well this machine's CPU latency ranks the edge-SR x2 models as the official table's devices do.

Measures the latency at 1920x1080 output of the x2 configurations of ``search_spaces/edge_sr.yaml``
(all 395, or ``--sample N`` of them drawn per family in proportion, every family kept), one torch
thread by default, median of ``--repeats`` passes after a warm-up; prints Spearman's rho against
1/speed_RPI (Raspberry Pi 400, a CPU) and 1/speed_AGX (Jetson AGX, a GPU) of
``shared/esr/tests.pkl``, and the repeat-to-repeat coefficient of variation. The last line is a
JSON object ``{"n", "spearman_rpi", "spearman_agx", "cv_median"}``.

Run: ``python benchmarks/latency_fidelity.py [--sample 120] [--threads 1] [--repeats 5]
[--backend torch|onnxruntime] [--table ../shared/esr/tests.pkl]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NAS_SR_SHARED", ROOT.parent / "shared"))
RESOLUTION = (1920, 1080)


def configs_x2() -> list[dict]:
    from nas_sr.space import load_space

    return [c for c in load_space(ROOT / "search_spaces" / "edge_sr.yaml").enumerate() if c["scale"] == 2]


def stratified(configs: list[dict], n: int | None, seed: int) -> list[dict]:
    """``n`` configs drawn per family in proportion to its size (at least one each); all when None."""
    if n is None or n >= len(configs):
        return configs
    families: dict[str, list[dict]] = defaultdict(list)
    for c in configs:
        families[c["family"]].append(c)
    rng = random.Random(seed)
    out = []
    for members in families.values():
        k = max(1, round(n * len(members) / len(configs)))
        out += rng.sample(members, min(k, len(members)))
    return out


def main() -> None:
    import torch
    from scipy.stats import spearmanr

    from nas_sr.cost import describe_device, measure_latency
    from nas_sr.models import build_model
    from nas_sr.models.esr_ids import esr_id_from_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, help="configurations measured (default: all 395)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: stable on a shared CPU)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", type=Path, default=SHARED / "esr" / "tests.pkl")
    args = parser.parse_args()
    with open(args.table, "rb") as f:
        table = pickle.load(f)  # trusted benchmark data shipped beside the project
    torch.set_num_threads(args.threads)
    chosen = stratified(configs_x2(), args.sample, args.seed)
    d = describe_device("cpu", args.threads, backend=args.backend)
    print(f"{d.name}, {d.threads} thread(s), {d.backend}; {len(chosen)} x2 models at {RESOLUTION[0]}x"
          f"{RESOLUTION[1]} output, median of {args.repeats} passes after {args.warmup}", flush=True)
    rows = []
    start = time.perf_counter()
    for i, config in enumerate(chosen, 1):
        model_id = esr_id_from_config(config)
        if model_id not in table:
            print(f"{model_id}: not in {args.table}, skipped")
            continue
        lat = measure_latency(build_model(config), RESOLUTION, 2, 1, threads=args.threads, warmup=args.warmup,
                              repeats=args.repeats, backend=args.backend)
        row = table[model_id]
        rows.append((config["family"], lat.median_ms, lat.cv, 1.0 / row["speed_RPI"], 1.0 / row["speed_AGX"]))
        if i % 20 == 0 or i == len(chosen):
            print(f"  {i}/{len(chosen)} measured, {time.perf_counter() - start:.0f} s", flush=True)
    ms = [r[1] for r in rows]
    rho_rpi = float(spearmanr(ms, [r[3] for r in rows]).statistic)
    rho_agx = float(spearmanr(ms, [r[4] for r in rows]).statistic)
    cv_median = statistics.median(r[2] for r in rows)
    print(f"{'family':<10}{'n':>5}{'median ms':>11}{'rho RPi':>9}{'rho AGX':>9}{'CV %':>7}")
    for family in sorted({r[0] for r in rows}):
        sub = [r for r in rows if r[0] == family]
        rpi = spearmanr([r[1] for r in sub], [r[3] for r in sub]).statistic if len(sub) > 2 else float("nan")
        agx = spearmanr([r[1] for r in sub], [r[4] for r in sub]).statistic if len(sub) > 2 else float("nan")
        print(f"{family:<10}{len(sub):>5}{statistics.median(r[1] for r in sub):>11.2f}{rpi:>9.3f}{agx:>9.3f}"
              f"{100 * statistics.median(r[2] for r in sub):>7.2f}")
    print(f"all: Spearman rho vs 1/speed_RPI {rho_rpi:.3f}, vs 1/speed_AGX {rho_agx:.3f}; median CV "
          f"{100 * cv_median:.2f} %; {time.perf_counter() - start:.0f} s")
    print(json.dumps({"n": len(rows), "spearman_rpi": round(rho_rpi, 4), "spearman_agx": round(rho_agx, 4),
                      "cv_median": round(cv_median, 4)}))


if __name__ == "__main__":
    main()
