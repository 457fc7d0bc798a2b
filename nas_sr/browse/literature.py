"""Published results of the efficient-SR architectures the search space re-implements (VapSR, EMT,
HiT-SR, PAN, SPAN, RLFN), as plain data for reference points on the front.

One row per model and scale: ``params`` (the authors' class built from their option file), ``flops``
(fvcore multiply-adds at ``resolution``, about 1280x720 output), ``psnr_SET``/``ssim_SET`` (Y channel)
on the test sets where a number is at hand, and ``source``. Published numbers come from the paper
or the authors' README/test logs; where none is published (VapSR x2/x3, EMT), the released
checkpoints re-evaluated by the protocol stand in and ``source`` says so. Numbers only: no code of
the authors. Collected in ``specs/architectures.md`` of the project's shared data.

>>> frame = literature_frame()
>>> frame.loc[frame["model_id"] == "PAN x4", ["params", "psnr_Set5"]].values.tolist()
[[272419.0, 32.13]]
>>> round(float(flops_at(28.21e9, (1280, 720), (640, 360))) / 1e9, 4)  # 1/4 of the pixels
7.0525
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import pandas as pd

VAPSR = "VapSR (Zhou et al., ECCVW 2022), README of zhoumumu/VapSR"
EMT = "EMT (Zheng et al., 2023): released EMT_LSR checkpoint re-evaluated (no published number at hand)"
VAPSR_RE = "VapSR (Zhou et al., ECCVW 2022): released checkpoint re-evaluated (no published x2/x3 number at hand)"
HITSR = "HiT-SR (Zhang et al., ECCV 2024), paper table"
PAN = "PAN (Zhao et al., ECCVW 2020), authors' test logs (results/*.log)"
NTIRE = ("NTIRE 2024 efficient-SR challenge release: PSNR of the authors' code by the project's protocol "
         "(shared/specs/ntire_families.md), SSIM of the port; MACs fvcore at a 256x256 LR input (the NTIRE convention)")

_SETS = ("Set5", "Set14", "BSDS100", "Urban100", "Manga109")

# model, family, scale, params, fvcore GFLOPs, source, then (PSNR, SSIM) per set of _SETS (None: not at hand).
_TABLE: tuple[tuple[Any, ...], ...] = (
    ("VapSR x2", "vapsr", 2, 329_236, 75.08, VAPSR_RE, (38.12, 0.9610), (33.75, 0.9197), None, None, None),
    ("VapSR x3", "vapsr", 3, 336_811, 34.17, VAPSR_RE, (34.54, 0.9282), (30.51, 0.8454), None, None, None),
    ("VapSR x4", "vapsr", 4, 342_220, 19.81, VAPSR, (32.38, 0.8978), (28.77, 0.7852), (27.68, 0.7398),
     (26.35, 0.7941), None),
    ("VapSR-S x4", "vapsr", 4, 154_956, 9.09, VAPSR, (32.14, 0.8951), (28.64, 0.7826), (27.60, 0.7373),
     (26.05, 0.7852), None),
    ("EMT x2", "emt", 2, 741_876, 256.69, EMT, (38.31, 0.9616), (34.18, 0.9231), None, None, None),
    ("EMT x3", "emt", 3, 749_991, 116.17, EMT, (34.80, 0.9304), (30.70, 0.8490), None, None, None),
    ("EMT x4", "emt", 4, 761_352, 65.53, EMT, (32.64, 0.9003), (28.96, 0.7901), None, None, None),
    ("HiT-SIR x2", "hitsr", 2, 772_064, 209.89, HITSR, (38.22, 0.9613), (33.91, 0.9213), (32.35, 0.9019),
     (33.02, 0.9365), (39.38, 0.9782)),
    ("HiT-SIR x3", "hitsr", 3, 780_179, 94.19, HITSR, (34.72, 0.9298), (30.62, 0.8474), (29.27, 0.8101),
     (28.93, 0.8673), (34.40, 0.9496)),
    ("HiT-SIR x4", "hitsr", 4, 791_540, 53.84, HITSR, (32.51, 0.8991), (28.84, 0.7873), (27.73, 0.7424),
     (26.71, 0.8045), (31.23, 0.9176)),
    ("HiT-SNG x2", "hitsr", 2, 1_012_584, 213.87, HITSR, (38.21, 0.9612), (34.00, 0.9217), (32.35, 0.9020),
     (33.01, 0.9360), (39.32, 0.9782)),
    ("HiT-SNG x3", "hitsr", 3, 1_020_699, 99.48, HITSR, (34.74, 0.9297), (30.62, 0.8474), (29.26, 0.8100),
     (28.91, 0.8671), (34.38, 0.9495)),
    ("HiT-SNG x4", "hitsr", 4, 1_032_060, 57.73, HITSR, (32.55, 0.8991), (28.83, 0.7873), (27.74, 0.7426),
     (26.75, 0.8053), (31.24, 0.9176)),
    ("HiT-SRF x2", "hitsr", 2, 846_944, 226.48, HITSR, (38.26, 0.9615), (34.01, 0.9214), (32.37, 0.9023),
     (33.13, 0.9372), (39.47, 0.9787)),
    ("HiT-SRF x3", "hitsr", 3, 855_059, 101.57, HITSR, (34.75, 0.9300), (30.61, 0.8475), (29.29, 0.8106),
     (28.99, 0.8687), (34.53, 0.9502)),
    ("HiT-SRF x4", "hitsr", 4, 866_420, 57.99, HITSR, (32.55, 0.8999), (28.87, 0.7880), (27.75, 0.7432),
     (26.80, 0.8069), (31.26, 0.9171)),
    ("PAN x2", "pan", 2, 261_403, 70.57, PAN, (38.00, 0.9605), (33.59, 0.9181), (32.18, 0.8997),
     (32.01, 0.9273), (38.70, 0.9773)),
    ("PAN x3", "pan", 3, 261_403, 39.12, PAN, (34.40, 0.9272), (30.36, 0.8422), (29.10, 0.8049),
     (28.11, 0.8510), (33.58, 0.9448)),
    ("PAN x4", "pan", 4, 272_419, 28.21, PAN, (32.13, 0.8948), (28.61, 0.7822), (27.59, 0.7363),
     (26.11, 0.7854), (30.51, 0.9095)),
    ("SPAN ch28 x4", "span", 4, 150_688, 9.833807872, "SPAN (team 38, winner). " + NTIRE, (31.7395, 0.8897),
     (28.4008, 0.7768), (27.4457, 0.7309), None, None),
    ("RLFN x4", "rlfn", 4, 317_218, 19.67485952, "RLFN (the baseline). " + NTIRE, (32.0977, 0.8939),
     (28.5980, 0.7815), (27.5773, 0.7359), None, None),
)

#: LR input of the FLOPs column per scale (fvcore, ~1280x720 output; x3 gives 1281x720).
FLOPS_LR = {2: (640, 360), 3: (427, 240), 4: (320, 180)}
#: Rows whose FLOPs are counted at another LR input: the NTIRE challenge's 256x256.
OWN_FLOPS_LR = {"SPAN ch28 x4": (256, 256), "RLFN x4": (256, 256)}


def literature_rows() -> list[dict[str, Any]]:
    """The table as plain dicts (only the numbers at hand: a missing set has no key)."""
    rows = []
    for model_id, family, scale, params, gflops, source, *scores in _TABLE:
        lr_w, lr_h = OWN_FLOPS_LR.get(model_id, FLOPS_LR[scale])
        row: dict[str, Any] = {"model_id": model_id, "family": family, "scale": scale, "params": params,
                               "flops": round(gflops * 1e9), "resolution": [lr_w * scale, lr_h * scale],
                               "source": source}
        for name, score in zip(_SETS, scores):
            if score is not None:
                row[f"psnr_{name}"], row[f"ssim_{name}"] = score
        rows.append(row)
    return rows


def literature_frame() -> "pd.DataFrame":
    """:func:`literature_rows` as a DataFrame (numbers float64, missing ones NaN)."""
    import pandas as pd

    frame = pd.DataFrame(literature_rows())
    numeric = [c for c in frame if c.startswith(("psnr_", "ssim_")) or c in ("params", "flops")]
    frame[numeric] = frame[numeric].astype("float64")
    return frame


def published_points(keys: Sequence[str] = (), scales: Sequence[int] = (),
                     resolution: Sequence[int] | None = None) -> "pd.DataFrame":
    """Published rows at ``scales`` (all when empty) that have every column of ``keys``, FLOPs
    rescaled to the output ``resolution`` (w, h) when given: the points drawn beside a study.

    >>> points = published_points(["params", "psnr_Set5"], [4], (1024, 1024))
    >>> points.loc[points["model_id"] == "SPAN ch28 x4", ["params", "flops", "psnr_Set5"]].values.tolist()
    [[150688.0, 9833807872.0, 31.7395]]
    """
    table = literature_frame()
    if resolution:
        table["flops"] = [flops_at(f, r, resolution) for f, r in zip(table["flops"], table["resolution"])]
    if len(scales):
        table = table[table["scale"].isin(set(int(s) for s in scales))]
    if not all(k in table for k in keys):
        return table.iloc[:0]
    return table[table[list(keys)].notna().all(axis=1)]


def flops_at(flops: Any, resolution: Sequence[int], target: Sequence[int]) -> Any:
    """Multiply-adds measured at output ``resolution`` (w, h) rescaled to output ``target``: in
    proportion to the pixel count, as for convolutions (attention over fixed windows as well)."""
    return flops * (float(target[0]) * float(target[1])) / (float(resolution[0]) * float(resolution[1]))
