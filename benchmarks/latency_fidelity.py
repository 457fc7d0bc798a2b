"""How well this machine's CPU latency ranks the edge-SR x2 models as the official table's devices do.

Measures the latency at 1920x1080 output of the x2 configurations of ``search_spaces/edge_sr.yaml``
(all 395, or ``--sample N`` of them drawn per family in proportion, every family kept), one torch
thread and torch's native convolution path (oneDNN off, ``--cpu-path native``) by default, median
of ``--repeats`` passes after a warm-up; prints Spearman's rho against 1/speed_RPI (Raspberry Pi
400, a CPU) and 1/speed_AGX (Jetson AGX, a GPU) of ``shared/esr/tests.pkl``, the same for the
models' FLOPs and parameter counts (what ranking needs no measurement), per family the rho and the
median ratio of the latency here to the Pi's (families that invert against each other show as
different ratios), and the repeat-to-repeat coefficient of variation. The last line is a JSON
object ``{"n", "spearman_rpi", "spearman_agx", "cv_median"}``.

Run: ``python benchmarks/latency_fidelity.py [--sample 120] [--threads 1] [--repeats 5]
[--cpu-path native|default] [--backend torch|onnxruntime] [--table ../shared/esr/tests.pkl]``.
Prints figures; asserts nothing.
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
# FLOPs grow with the pixel count for every layer of these models: counted at a tenth of the
# side, they rank as at full size, and fvcore's trace takes a fraction of the time.
COUNT_RESOLUTION = (192, 108)


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

    from nas_sr.cost import describe_device, measure_latency, model_cost
    from nas_sr.cost.latency import CPU_PATHS
    from nas_sr.models import build_model
    from nas_sr.models.esr_ids import esr_id_from_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, help="configurations measured (default: all 395)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: stable on a shared CPU)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"))
    parser.add_argument("--cpu-path", choices=CPU_PATHS, help="torch's CPU convolution path (default native: "
                        "oneDNN off, which ranks as the Pi; 'default' is torch's own choice, oneDNN on x86)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", type=Path, default=SHARED / "esr" / "tests.pkl")
    args = parser.parse_args()
    cpu_path = args.cpu_path or ("native" if args.backend == "torch" else "default")
    with open(args.table, "rb") as f:
        table = pickle.load(f)  # trusted benchmark data shipped beside the project
    torch.set_num_threads(args.threads)
    chosen = stratified(configs_x2(), args.sample, args.seed)
    # Measured in a shuffled order: on a shared CPU the load drifts, and measured family by family
    # the drift would shift whole families against each other.
    random.Random(args.seed).shuffle(chosen)
    d = describe_device("cpu", args.threads, backend=args.backend, cpu_path=cpu_path)
    print(f"{d.name}, {d.threads} thread(s), {d.backend}, {d.cpu_path} conv path; {len(chosen)} x2 models at "
          f"{RESOLUTION[0]}x{RESOLUTION[1]} output, median of {args.repeats} passes after {args.warmup}", flush=True)
    rows = []
    start = time.perf_counter()
    for i, config in enumerate(chosen, 1):
        model_id = esr_id_from_config(config)
        if model_id not in table:
            print(f"{model_id}: not in {args.table}, skipped")
            continue
        lat = measure_latency(build_model(config), RESOLUTION, 2, 1, threads=args.threads, warmup=args.warmup,
                              repeats=args.repeats, backend=args.backend, cpu_path=cpu_path)
        row, cost = table[model_id], model_cost(config, COUNT_RESOLUTION)
        rows.append((config["family"], lat.median_ms, lat.cv, 1.0 / row["speed_RPI"], 1.0 / row["speed_AGX"],
                     cost.flops, cost.params))
        if i % 20 == 0 or i == len(chosen):
            print(f"  {i}/{len(chosen)} measured, {time.perf_counter() - start:.0f} s", flush=True)
    ms = [r[1] for r in rows]
    rho_rpi = float(spearmanr(ms, [r[3] for r in rows]).statistic)
    rho_agx = float(spearmanr(ms, [r[4] for r in rows]).statistic)
    cv_median = statistics.median(r[2] for r in rows)

    def rho(sub: list[tuple], x: int, y: int) -> float:
        return float(spearmanr([r[x] for r in sub], [r[y] for r in sub]).statistic) if len(sub) > 2 else float("nan")

    print(f"{'family':<10}{'n':>5}{'median ms':>11}{'here/RPi':>10}{'rho RPi':>9}{'rho AGX':>9}{'FLOPs RPi':>11}"
          f"{'CV %':>7}")
    for family in sorted({r[0] for r in rows}):
        sub = [r for r in rows if r[0] == family]
        ratio = statistics.median(r[1] / (1e3 * r[3]) for r in sub)  # 1/speed_RPI is seconds per frame
        print(f"{family:<10}{len(sub):>5}{statistics.median(r[1] for r in sub):>11.2f}{ratio:>10.3f}"
              f"{rho(sub, 1, 3):>9.3f}{rho(sub, 1, 4):>9.3f}{rho(sub, 5, 3):>11.3f}"
              f"{100 * statistics.median(r[2] for r in sub):>7.2f}")
    print(f"for comparison, unmeasured: Spearman rho vs 1/speed_RPI of FLOPs {rho(rows, 5, 3):.3f}, of parameters "
          f"{rho(rows, 6, 3):.3f}; vs 1/speed_AGX of FLOPs {rho(rows, 5, 4):.3f}, of parameters {rho(rows, 6, 4):.3f}")
    print(f"all: Spearman rho vs 1/speed_RPI {rho_rpi:.3f}, vs 1/speed_AGX {rho_agx:.3f}; median CV "
          f"{100 * cv_median:.2f} %; {time.perf_counter() - start:.0f} s")
    print(json.dumps({"n": len(rows), "spearman_rpi": round(rho_rpi, 4), "spearman_agx": round(rho_agx, 4),
                      "cv_median": round(cv_median, 4)}))


if __name__ == "__main__":
    main()
