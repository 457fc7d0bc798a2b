"""Parameters, multiply-adds and CPU latency at Full-HD (1920x1080) output of a few edge-SR models.

Run: ``python benchmarks/latency_cpu.py [--threads N] [--repeats N]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse

from nas_sr.cost import describe_device, model_cost
from nas_sr.models.esr_ids import config_from_esr_id

MODELS = (
    "Bicubic_s2",
    "eSR-MAX_s2_K3_C1",
    "eSR-TM_s2_K7_C8",
    "eSR-TR_s2_K7_C4",
    "eSR-CNN_s2_C4_D8_S4",
    "ESPCN_s2_D12_S24",
    "FSRCNN_s2_D56_S12_M4",
    "FSRCNN_s3_D56_S12_M4",
)
RESOLUTION = (1920, 1080)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    d = describe_device("cpu", args.threads)
    print(f"{d.name}, {d.threads} threads, {d.dtype}, torch {d.torch_version}; "
          f"output {RESOLUTION[0]}x{RESOLUTION[1]}, median (IQR) of {args.repeats} passes")
    print(f"{'model':<24}{'params':>10}{'GMACs':>10}{'ms':>10}{'IQR ms':>9}{'fps':>8}")
    for model_id in MODELS:
        cost = model_cost(config_from_esr_id(model_id), RESOLUTION, latency=True,
                          threads=args.threads, repeats=args.repeats)
        lat = cost.latency
        assert lat is not None
        print(f"{model_id:<24}{cost.params:>10,}{cost.flops / 1e9:>10.3f}{lat.median_ms:>10.2f}"
              f"{lat.iqr_ms:>9.2f}{1e3 / lat.median_ms:>8.1f}")


if __name__ == "__main__":
    main()
