"""Proxy table: every edge-SR x2 configuration brief-trained by the project's own trainer.

The edge-SR table gives each configuration's fully trained PSNR (the truth). A real search sees
brief-training PSNR instead: this script measures it, once per (configuration, step budget,
training seed), so that eSR-Bench can replay a search on the values a search would see
(``nas-sr bench esr --proxy benchmarks/data/esr_x2_proxy.csv``).

Each row trains one configuration of ``search_spaces/edge_sr.yaml`` at the scale (bicubic too: it
trains nothing, and its row is the yardstick a search sees) on T91 for ``steps`` Adam steps with ``TrainSettings``' defaults (8 LR
patches of 12 px, cosine from 1e-2), one torch thread, and validates it on Set5 and Set14 by the
protocol (uint8 Y). ``psnr`` is the mean over those two sets: what a search validating on them
sees. The table's truth (``nas_sr.bench.esr``) is the mean over Set5, Set14 and BSDS100: the
search never sees BSDS100, as a test set should be.

Default plan (about an hour on 2 cores): every configuration at 1000 and 4000 steps with seed 0,
and a spread subset (``--subset``, 11 a family) with seeds 1 and 2 at both budgets, so the
proxy's seed-to-seed noise is known. Rows already in ``--out`` are kept and skipped, so an
interrupted run resumes. ``--ids``/``--steps``/``--seed`` regenerate chosen rows instead (and
write nothing unless ``--out`` is given). Every row is printed as one JSON object with the CSV's
fields.

    python benchmarks/proxy_table.py --out benchmarks/data/esr_x2_proxy.csv [--workers 2]
    python benchmarks/proxy_table.py --ids eSR-TM_s2_K7_C8,ESPCN_s2_D16_S6 --steps 4000 --seed 0
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NAS_SR_SHARED", ROOT.parent / "shared"))
VAL_SETS = ("Set5", "Set14")
TRAIN_SET = "T91"
DEFAULT_OUT = ROOT / "benchmarks" / "data" / "esr_x2_proxy.csv"
FIELDS = ("model_id", "config", "family", "scale", "steps", "seed", "status", "psnr",
          *(f"psnr_{s}" for s in VAL_SETS), *(f"ssim_{s}" for s in VAL_SETS), "final_loss", "seconds",
          "train_set", "val_sets", "batch_size", "patch_size", "lr", "threads", "nas_sr_version",
          "torch_version", "python", "commit")


def space_configs(scale: int) -> list[dict[str, Any]]:
    """The configurations of ``edge_sr.yaml`` at ``scale``, in the space's order (bicubic last)."""
    from nas_sr.space import load_space

    space = load_space(ROOT / "search_spaces" / "edge_sr.yaml")
    configs = [c for c in space.enumerate() if c["scale"] == scale]
    return sorted(configs, key=lambda c: c["family"] == "bicubic")


def spread_subset(configs: list[dict[str, Any]], per_family: int) -> list[dict[str, Any]]:
    """``per_family`` configurations of each family, evenly spaced in parameter count (smallest
    and largest included): the seeds' noise is measured across sizes, not at one."""
    from nas_sr.models.registry import build_model

    chosen: list[dict[str, Any]] = []
    for family in sorted({c["family"] for c in configs}):
        members = [c for c in configs if c["family"] == family]
        members.sort(key=lambda c: sum(p.numel() for p in build_model(c).parameters()))
        if len(members) <= per_family:
            chosen += members
            continue
        picks = sorted({round(i * (len(members) - 1) / (per_family - 1)) for i in range(per_family)})
        chosen += [members[i] for i in picks]
    return chosen


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "nas_sr"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


_DATA: dict[str, Any] = {}


def train_row(job: tuple[str, int, int, str]) -> dict[str, Any]:
    """Brief-train one edge-SR model (by id) for ``steps`` with ``seed``: one CSV row."""
    import torch

    import nas_sr
    from nas_sr.data import load_folder
    from nas_sr.models.esr_ids import config_from_esr_id
    from nas_sr.models.registry import config_key
    from nas_sr.train import TrainSettings, train
    from nas_sr.train.trainer import TrainingFailed

    model_id, steps, seed, commit = job
    config = config_from_esr_id(model_id)
    settings = TrainSettings(max_steps=steps, seed=seed, threads=1)
    torch.set_num_threads(1)
    key = (config["scale"], settings.patch_size)
    if _DATA.get("key") != key:  # once per worker process and scale
        _DATA["key"] = key
        _DATA["train"] = load_folder(SHARED / "datasets" / TRAIN_SET, config["scale"], settings.patch_size)
        _DATA["val"] = {name: load_folder(SHARED / "datasets" / name) for name in VAL_SETS}
    row: dict[str, Any] = {"model_id": model_id, "config": config_key(config), "family": config["family"],
                           "scale": config["scale"], "steps": steps, "seed": seed}
    started = time.perf_counter()
    try:
        result = train(config, _DATA["train"], _DATA["val"], settings)
    except TrainingFailed as exc:  # a diverged run is a proxy value too: the search would see it fail
        row.update(status=f"failed: {str(exc).splitlines()[0]}", psnr="", final_loss="",
                   seconds=round(time.perf_counter() - started, 2),
                   **{f"{m}_{s}": "" for m in ("psnr", "ssim") for s in VAL_SETS})
    else:
        row.update(status="ok", psnr=round(statistics.fmean(result.metrics[f"psnr_{s}"] for s in VAL_SETS), 4),
                   **{f"psnr_{s}": round(result.metrics[f"psnr_{s}"], 4) for s in VAL_SETS},
                   **{f"ssim_{s}": round(result.metrics[f"ssim_{s}"], 5) for s in VAL_SETS},
                   final_loss=round(result.final_loss, 6), seconds=round(result.seconds, 2))
    row.update(train_set=TRAIN_SET, val_sets="+".join(VAL_SETS), batch_size=settings.batch_size,
               patch_size=settings.patch_size, lr=settings.lr, threads=1, nas_sr_version=nas_sr.__version__,
               torch_version=torch.__version__, python=platform.python_version(), commit=commit)
    return row


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plan(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    """The (model id, steps, seed) jobs asked for, longest budgets first (for load balance)."""
    from nas_sr.models.esr_ids import esr_id_from_config

    steps = [int(s) for s in args.steps.split(",")]
    if args.ids:
        seeds = [args.seed]
        return [(i, s, seed) for s in steps for seed in seeds for i in args.ids.split(",")]
    configs = space_configs(args.scale)
    ids = [esr_id_from_config(c) for c in configs]
    subset = [esr_id_from_config(c) for c in spread_subset(configs, args.subset)]
    jobs = [(i, s, args.seed) for s in sorted(steps, reverse=True) for i in ids]
    jobs += [(i, s, args.seed + k) for k in range(1, args.seeds) for s in sorted(steps, reverse=True) for i in subset]
    return jobs


def run(jobs: Iterable[tuple[str, int, int]], workers: int, out: Path | None) -> list[dict[str, Any]]:
    jobs = list(jobs)
    commit = _commit()
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    writer = None
    handle = None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        new = not out.is_file() or out.stat().st_size == 0
        handle = open(out, "a", newline="")
        writer = csv.DictWriter(handle, FIELDS)
        if new:
            writer.writeheader()
    try:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(train_row, (*job, commit)) for job in jobs]
            for n, future in enumerate(as_completed(futures), 1):
                row = future.result()
                rows.append(row)
                if writer is not None:
                    writer.writerow(row)
                    handle.flush()
                print(json.dumps(row), flush=True)
                if n % 20 == 0:
                    print(f"# {n}/{len(jobs)} rows, {time.perf_counter() - started:.0f} s", file=sys.stderr,
                          flush=True)
    finally:
        if handle is not None:
            handle.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=2, choices=(2, 3, 4))
    parser.add_argument("--steps", default="1000,4000", help="step budgets, comma-separated (default 1000,4000)")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every configuration (default 0)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the subset: seed, seed+1, ... (default 3)")
    parser.add_argument("--subset", type=int, default=11, help="configurations a family with several seeds")
    parser.add_argument("--ids", help="only these edge-SR ids (comma-separated) at --steps and --seed")
    parser.add_argument("--workers", type=int, default=2, help="trainings at once, one thread each")
    parser.add_argument("--out", type=Path, help="append rows to this CSV, skipping rows it has "
                                                 f"(default without --ids: {DEFAULT_OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    if not (SHARED / "datasets" / TRAIN_SET).is_dir():
        raise SystemExit(f"proxy_table: {SHARED}/datasets/{TRAIN_SET} not found (set NAS_SR_SHARED)")
    out = args.out if (args.out or args.ids) else DEFAULT_OUT
    jobs = plan(args)
    have = {(r["model_id"], int(r["steps"]), int(r["seed"])) for r in read_rows(out)} if out else set()
    todo = [j for j in jobs if j not in have]
    print(f"# {len(jobs)} rows asked, {len(jobs) - len(todo)} already in {out}, {len(todo)} to train "
          f"on {args.workers} workers", file=sys.stderr, flush=True)
    run(todo, args.workers, out)


if __name__ == "__main__":
    main()
