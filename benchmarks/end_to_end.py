"""End to end: does a real search hand the user the true front, as proxy-mode eSR-Bench predicts?

Runs the real ``nas-sr search`` (real trainer, Ray, ``--workers`` workers, the default strategy and
training settings, a fresh study) over ``search_spaces/edge_sr.yaml`` restricted to x2, training on
T91 and validating on Set5 and Set14, with eSR-Bench problem B's objectives (``psnr@mean``, the
mean over the two sets, and ``params``). Its reported front (the trials no other trial dominates)
is then mapped to the edge-SR table: its true hypervolume ratio, next to what proxy-mode eSR-Bench
predicts for the same strategy and budget (median over ``--bench-seeds`` seeds, and the run with
the search's own seed), from the proxy table that the project's trainer made with the same
settings (``benchmarks/data/esr_x2_proxy.csv``).

Also printed: the wall time, Kendall tau of the trials' PSNR against the table, and how far each
trial's PSNR is from the proxy table's seed-0 row of its configuration (training is deterministic
for a seed, so a search with ``--seed 0`` should see those very values). The last line is JSON.

``--demo`` instead runs README's set-up search (``nas-sr search`` with no flags: 20 trials of the
demo space on the bundled photos) and measures how its trials rank against the table (Kendall tau);
for the table's stale ESPCN rows (``esr/stale_espcn.txt``: all eight ESPCN of the demo space) the
truth is their released weights' score by the protocol.

    python benchmarks/end_to_end.py [--trials 100] [--workers 2] [--seed 0] [--bench-seeds 10]
    python benchmarks/end_to_end.py --demo
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NAS_SR_SHARED", ROOT.parent / "shared"))
PROXY = ROOT / "benchmarks" / "data" / "esr_x2_proxy.csv"


def run_search(args: list[str], cwd: Path) -> float:
    """``nas-sr search ARGS`` in ``cwd``; its wall time in seconds (exits on failure)."""
    command = [sys.executable, "-c", "import sys; from nas_sr.cli import main; sys.exit(main())", "search", *args]
    print("+ nas-sr search " + " ".join(args), file=sys.stderr, flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    print(done.stdout, file=sys.stderr)
    if done.returncode != 0:
        raise SystemExit(f"end_to_end: nas-sr search exited {done.returncode}")
    return seconds


def trained(storage: str, study_name: str) -> tuple[Any, list[Any]]:
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=study_name, storage=storage)
    return study, sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)


def kendall(xs: list[float], ys: list[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(xs, ys).statistic)


def full(args: argparse.Namespace, table: dict[str, Any]) -> dict[str, Any]:
    from nas_sr.bench.esr import load_instance
    from nas_sr.bench.proxy import load_proxy
    from nas_sr.bench.runner import bench, run_strategy
    from nas_sr.search.report import pareto_front

    instance = load_instance(table, "B", 2)
    proxy = load_proxy(args.proxy)
    with tempfile.TemporaryDirectory(prefix="nas-sr-e2e-") as tmp:
        work = Path(tmp)
        space = work / "edge_sr_x2.yaml"
        text = (ROOT / "search_spaces" / "edge_sr.yaml").read_text()
        space.write_text(re.sub(r"(?m)^scales: \[2, 3, 4\]$", "scales: [2]", text, count=1))
        storage = f"sqlite:///{work / 'e2e.db'}"
        seconds = run_search(["--space", str(space), "--study", "e2e", "--storage", storage, "--trials",
                              str(args.trials), "--workers", str(args.workers), "--seed", str(args.seed),
                              "--objectives", "psnr@mean,params", "--train", str(SHARED / "datasets" / "T91"),
                              "--val", str(SHARED / "datasets" / "Set5"), "--val", str(SHARED / "datasets" / "Set14"),
                              "--no-progress"], work)
        study, trials = trained(storage, "e2e")
        keys = [t.user_attrs["config"] for t in trials]
        seen = [[t.values[0], -t.values[1]] for t in trials]
        tolerance = float(study.user_attrs.get("front_tolerance", 0.0))
        curve = instance.reported_curve(keys, seen, tolerance)
        front = {t.user_attrs["config"] for t in pareto_front(study)}  # as the search reported it
        true_ratio = instance.hv_ratio(sorted(front))
        psnr = [t.user_attrs["psnr_mean"] for t in trials]
        gaps = [abs(p - proxy.value(k)) for p, k in zip(psnr, keys) if proxy.value(k) is not None]
        tau = kendall(psnr, [instance.rows[k][0] for k in keys])
    predicted = bench(instance, "cost-aware", args.trials, args.bench_seeds, proxy, tolerance)
    same_seed = run_strategy(instance, "cost-aware", args.trials, args.seed, proxy, tolerance)[0][-1]
    return {"mode": "end-to-end", "space": "edge_sr.yaml x2", "problem": "B", "trials": len(trials),
            "workers": args.workers, "seed": args.seed, "wall_s": round(seconds, 1),
            "true_hv_ratio": round(true_ratio, 4), "true_hv_ratio_curve_at": {
                str(n): round(curve[n - 1], 4) for n in (25, 50, 75, 100) if n <= len(curve)},
            "front_size": len(front), "front_tolerance": tolerance,
            "bench_proxy_median": round(predicted["hv_ratio"]["median"], 4),
            "bench_proxy_iqr": [round(predicted["hv_ratio"]["q25"], 4), round(predicted["hv_ratio"]["q75"], 4)],
            "bench_seeds": args.bench_seeds, "bench_same_seed": round(same_seed, 4),
            "difference": round(true_ratio - predicted["hv_ratio"]["median"], 4),
            "kendall_tau_vs_table": round(tau, 4),
            "psnr_vs_proxy_table_db": {"median": round(statistics.median(gaps), 4) if gaps else None,
                                       "max": round(max(gaps), 4) if gaps else None},
            "proxy_steps": proxy.steps, "hv_ratio_all_evaluated": round(instance.hv_ratio(keys), 4)}


def released_score(model_id: str) -> float:
    """Mean PSNR over the bench's sets of the released weights of ``model_id`` by the protocol
    (uint8 Y): the truth for the table's stale ESPCN rows (``esr/stale_espcn.txt``), which do not
    describe those weights (they score 0.12-1.52 dB higher on Set5; the protocol sits about 0.1 dB
    under the table's own convention)."""
    import torch

    from nas_sr.bench.esr import PSNR_SETS
    from nas_sr.models import build_model
    from nas_sr.models.esr_ids import config_from_esr_id
    from nas_sr.models.upscaler import torch_upscaler
    from nas_sr.models.weights import load_checkpoint
    from nas_sr.protocol.evaluate import evaluate_folder

    config = config_from_esr_id(model_id)
    model = build_model(config)
    load_checkpoint(model, config, SHARED / "esr" / "model-files" / f"{model_id}.model")
    model.eval()
    with torch.no_grad():
        return statistics.fmean(evaluate_folder(torch_upscaler(model, config), SHARED / "datasets" / s, config["scale"],
                                                config["color"], "uint8", with_ssim=False).psnr for s in PSNR_SETS)


def demo(args: argparse.Namespace, table: dict[str, Any]) -> dict[str, Any]:
    from nas_sr.bench.esr import PSNR_SETS
    from nas_sr.models.esr_ids import config_from_esr_id, esr_id_from_config
    from nas_sr.models.registry import config_key

    truth = {config_key(config_from_esr_id(i)): statistics.fmean(float(row[f"psnr_{s}"]) for s in PSNR_SETS)
             for i, row in table.items()}
    stale = set((SHARED / "esr" / "stale_espcn.txt").read_text().split()) - {"#"}
    with tempfile.TemporaryDirectory(prefix="nas-sr-demo-") as tmp:
        work = Path(tmp)
        seconds = run_search(["--no-progress", *args.extra], work)  # README's command: defaults, studies/ under cwd
        study, trials = trained(f"sqlite:///{work / 'studies' / 'default.db'}", "default")
        pairs = [(t.user_attrs["psnr_val"], truth[t.user_attrs["config"]]) for t in trials
                 if t.user_attrs["config"] in truth]
        ids = [esr_id_from_config(json.loads(t.user_attrs["config"])) for t in trials if t.user_attrs["config"] in truth]
    corrected = [(p, released_score(i) if i in stale else q) for (p, q), i in zip(pairs, ids)]
    tau = kendall([p for p, _ in corrected], [q for _, q in corrected])
    tau_table = kendall([p for p, _ in pairs], [q for _, q in pairs])
    return {"mode": "demo", "trials": len(trials), "with_table_rows": len(pairs), "wall_s": round(seconds, 1),
            "kendall_tau_vs_table": round(tau, 4), "stale_rows_scored_by_released_weights": sorted(set(ids) & stale),
            "kendall_tau_vs_table_as_is": round(tau_table, 4),
            "families": sorted({t.user_attrs["family"] for t in trials})}


def main() -> None:
    from nas_sr.data.esr_table import load_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bench-seeds", type=int, default=10)
    parser.add_argument("--proxy", type=Path, default=PROXY)
    parser.add_argument("--demo", action="store_true", help="README's set-up search instead")
    parser.add_argument("extra", nargs="*", help="--demo: more nas-sr search arguments (after --)")
    args = parser.parse_args()
    if not (SHARED / "esr" / "tests.pkl").is_file():
        raise SystemExit(f"end_to_end: the edge-SR table is not at {SHARED}/esr (set NAS_SR_SHARED)")
    table = load_table(SHARED / "esr" / "tests.pkl", trust_pickle=True)  # the release's own file
    result = demo(args, table) if args.demo else full(args, table)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
