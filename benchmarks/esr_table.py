"""Every released edge-SR model evaluated by the protocol, against the official table.

Prints, per dataset and scale, the mean and spread of (table - ours) PSNR and the Spearman
rank correlation with the table, excluding the stale ESPCN rows listed beside the table.

    python benchmarks/esr_table.py [--shared ../shared] [--limit N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from tqdm import tqdm

from nas_sr import build_model, config_from_esr_id
from nas_sr.protocol.images import list_images, read_image
from nas_sr.models.weights import load_weights, read_state_dict
from nas_sr.protocol import luma, make_lr, mod_crop, psnr, to_uint8

DATASETS = ("Set5", "Set14", "BSDS100")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("NAS_SR_SHARED", str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--shared", type=Path, default=Path(default))
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N models")
    parser.add_argument("--json", type=Path, default=None, help="also write per-model PSNR here")
    args = parser.parse_args()

    with open(args.shared / "esr" / "tests.pkl", "rb") as f:
        table = pickle.load(f)  # the official table shipped beside the project
    stale = {line.strip() for line in (args.shared / "esr" / "stale_espcn.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")}
    ids = sorted(table)[: args.limit]
    images = {d: [read_image(p) for p in list_images(args.shared / "datasets" / d)] for d in DATASETS}
    # LR inputs and HR Y planes, computed once per dataset and scale.
    pairs = {
        (d, s): [(torch.from_numpy(make_lr(hr, s, "y", "uint8")).float()[None, None] / 255,
                  luma(mod_crop(hr, s), "uint8")) for hr in images[d]]
        for d in DATASETS for s in (2, 3, 4)
    }
    ours: dict[str, dict[str, float]] = {}
    with torch.inference_mode():
        for model_id in tqdm(ids, desc="released models", unit="model"):
            config = config_from_esr_id(model_id)
            model = build_model(config).eval()
            load_weights(model, read_state_dict(args.shared / "esr" / "model-files" / f"{model_id}.model"))
            s = config["scale"]
            ours[model_id] = {
                d: float(np.mean([psnr(to_uint8(model(lr)[0, 0].double().numpy() * 255), hr_y, s)
                                  for lr, hr_y in pairs[(d, s)]]))
                for d in DATASETS
            }

    print(f"\n{len(ours)} released models; {len(stale & set(ours))} stale ESPCN rows excluded from the statistics")
    print(f"{'dataset':8} {'scale':>5} {'n':>4} {'mean(table-ours)':>17} {'std':>7} {'min':>7} {'max':>7} {'spearman':>9}")
    summary = {}
    for d in DATASETS:
        for s in (2, 3, 4):
            keys = [k for k in ours if config_from_esr_id(k)["scale"] == s and k not in stale]
            if len(keys) < 3:
                continue
            t = np.array([table[k][f"psnr_{d}"] for k in keys])
            o = np.array([ours[k][d] for k in keys])
            rho = float(spearmanr(t, o).statistic)
            diff = t - o
            summary[f"{d}_x{s}"] = {"n": len(keys), "mean": float(diff.mean()), "std": float(diff.std()),
                                    "spearman": rho}
            print(f"{d:8} {s:>5} {len(keys):>4} {diff.mean():>17.4f} {diff.std():>7.4f} "
                  f"{diff.min():>7.4f} {diff.max():>7.4f} {rho:>9.4f}")
    print(json.dumps({"min_spearman": min(v["spearman"] for v in summary.values())}))
    if args.json:
        args.json.write_text(json.dumps({"psnr": ours, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
