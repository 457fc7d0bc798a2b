"""GPU check, ready to run on a machine with one CUDA GPU: at most 8 minutes, one JSON line last.

Measures, each step skipped (saying why) when the time left cannot hold it:

* ``steps_per_s``: brief-training steps per second of three families (eSR-TM, ESPCN, FSRCNN; x2,
  the bundled photos, batch 16 of 32 px patches) on CUDA and on one CPU thread, and the ratio;
* ``amp``: the same FSRCNN training for a fixed number of steps in fp32, bf16 and fp16
  (``TrainSettings.precision``): PSNR on the bundled validation photos and steps/s each, and each
  mixed precision's PSNR difference to fp32;
* ``shared_gpu``: a real ``run_search`` of 4 trials at once on one GPU (``--gpus-per-trial
  0.25``: Ray's fractional GPUs), 8 trials of 300 steps: wall seconds, the GPU ids the trials ran
  on, failures;
* ``latency``: forward latency of the three families at a 1920x1080 output timed with CUDA
  events (``torch.cuda.Event``), beside ``nas_sr.cost.measure_latency`` (host clock around a
  synchronised pass);
* ``onnxruntime_cuda``: the ESPCN model in an ONNX Runtime session on ``CUDAExecutionProvider``
  when onnxruntime offers it (else why not).

Without CUDA it prints ``{"gpu": false, "reason": ...}`` and exits 0. ``--dry-run`` runs every
step on the CPU with tiny budgets (no Ray search; fp16 skipped), to check the script itself: the
test suite runs it.

    python benchmarks/gpu_check.py [--budget 480] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from typing import Any, Callable

FAMILIES = {
    "esr-tm": {"family": "esr-tm", "scale": 2, "color": "y", "kernel_size": 7, "channels": 8},
    "espcn": {"family": "espcn", "scale": 2, "color": "y", "width1": 22, "width2": 18},
    "fsrcnn": {"family": "fsrcnn", "scale": 2, "color": "y", "features": 56, "shrink": 12, "mapping_layers": 4},
}


class Clock:
    """The run's time budget: steps check what is left before they start."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()


def step(out: dict[str, Any], name: str, clock: Clock, needs: float, fn: Callable[[], Any]) -> None:
    """Run ``fn`` into ``out[name]`` if ``needs`` seconds are left; record why not otherwise."""
    if clock.left() < needs:
        out[name] = {"skipped": f"{clock.left():.0f} s left of the budget, the step needs about {needs:.0f} s"}
        return
    start = time.perf_counter()
    try:
        out[name] = fn()
    except Exception as exc:  # noqa: BLE001 - one failed step does not hide the others' figures
        out[name] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
    print(f"gpu_check: {name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)


#: The dry run's images are cropped to this side (pixels) and its batches are small: seconds on a CPU.
DRY_SIDE = 96
DRY = {"on": False}


def images(split: str) -> list[tuple[str, Any]]:
    from nas_sr.data.bundled import bundled_images

    found = bundled_images(split)  # type: ignore[arg-type]
    return [(name, image[:DRY_SIDE, :DRY_SIDE]) for name, image in found[:2]] if DRY["on"] else found


def _train(config: dict[str, Any], device: str, seconds: float | None, steps: int, precision: str = "fp32",
           threads: int | None = None) -> dict[str, float]:
    from nas_sr.train import TrainSettings, train

    small = DRY["on"]
    settings = TrainSettings(max_steps=steps, max_seconds=seconds, batch_size=2 if small else 16,
                             patch_size=8 if small else 32, patches=16 if small else TrainSettings.patches,
                             device=device, precision=precision, threads=1 if small else threads, seed=0)
    result = train(config, images("train"), {"val": images("val")}, settings)
    return {"steps": result.steps, "seconds": round(result.seconds, 3),
            "steps_per_s": round(result.steps / max(result.seconds, 1e-9), 1),
            "psnr_val": round(result.metrics["psnr_val"], 3)}


def steps_per_second(device: str, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, config in FAMILIES.items():
        fast = _train(config, device, seconds, 10**9)
        cpu = _train(config, "cpu", seconds, 10**9, threads=1)
        out[name] = {"device": fast["steps_per_s"], "cpu_1_thread": cpu["steps_per_s"],
                     "speedup": round(fast["steps_per_s"] / max(cpu["steps_per_s"], 1e-9), 1)}
    return out


def amp(device: str, steps: int, precisions: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for precision in precisions:
        out[precision] = _train(FAMILIES["fsrcnn"], device, None, steps, precision)
    for precision in precisions[1:]:
        out[precision]["psnr_minus_fp32"] = round(out[precision]["psnr_val"] - out["fp32"]["psnr_val"], 3)
    return out


def shared_gpu(trials: int = 8, steps: int = 300) -> dict[str, Any]:
    """``run_search`` with 4 trials at once on one GPU (0.25 GPU each)."""
    import ray
    from optuna.trial import TrialState

    from nas_sr.data.bundled import bundled_images
    from nas_sr.search.driver import SearchOptions, run_search
    from nas_sr.space import SearchSpace

    space = SearchSpace.from_dict({"name": "gpu", "scales": [2], "color": "y", "branches": [
        {"family": "espcn", "params": {"width1": [8, 16, 22, 32], "width2": [6, 12, 18]}}]})
    with tempfile.TemporaryDirectory() as tmp:
        ray.init(address="local", num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False)
        try:
            opts = SearchOptions(space=space, train_images=bundled_images("train"),
                                 val_sets={"val": bundled_images("val")}, study="gpu",
                                 storage=f"sqlite:///{tmp}/gpu.db", trials=trials, workers=4, sampler="random",
                                 gpus_per_trial=0.25, cpus_per_trial=1, progress=False, objectives="psnr,params",
                                 settings={"device": "cuda", "max_steps": steps, "latency": False,
                                           "cost_cache": f"{tmp}/costs.json"})
            start = time.perf_counter()
            outcome = run_search(opts)
            wall = time.perf_counter() - start
        finally:
            ray.shutdown()
        done = outcome.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return {"trials": trials, "workers": 4, "gpus_per_trial": 0.25, "wall_s": round(wall, 1),
                "complete": outcome.complete, "failed": outcome.failed,
                "gpu_ids": sorted({str(t.user_attrs.get("ray_gpu_ids")) for t in done}),
                "train_seconds_median": round(statistics.median(float(t.user_attrs["seconds"]) for t in done), 2)
                if done else None}


def latency(device: str, repeats: int) -> dict[str, Any]:
    import torch

    from nas_sr.cost import measure_latency
    from nas_sr.models.registry import build_model, canonical_config

    cuda = device.startswith("cuda")
    out: dict[str, Any] = {}
    width, height = (128, 128) if DRY["on"] else (1920, 1080)
    for name, config in FAMILIES.items():
        full = canonical_config(config)
        model = build_model(full).eval()
        host = measure_latency(model, (width, height), 2, 1, device=device, threads=1 if DRY["on"] else None,
                               warmup=3, repeats=repeats)
        row: dict[str, Any] = {"host_clock_median_ms": round(host.median_ms, 3)}
        if cuda:
            net = model.to(device)
            x = torch.rand(1, 1, height // 2, width // 2, device=device)
            times = []
            with torch.inference_mode():
                for _ in range(3):
                    net(x)
                for _ in range(repeats):
                    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    begin.record()
                    net(x)
                    end.record()
                    end.synchronize()
                    times.append(begin.elapsed_time(end))
            row["cuda_events_median_ms"] = round(statistics.median(times), 3)
            row["peak_memory_mb"] = round((host.peak_memory_bytes or 0) / 2**20, 1)
        out[name] = row
    return out


def onnxruntime_cuda(repeats: int) -> dict[str, Any]:
    try:
        import onnxruntime as ort
    except ImportError:
        return {"available": False, "reason": "onnxruntime is not installed"}
    providers = ort.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        return {"available": False, "reason": f"onnxruntime offers {', '.join(providers)}, not CUDAExecutionProvider"}
    import io

    import numpy as np
    import torch

    from nas_sr.models.registry import build_model, canonical_config

    model = build_model(canonical_config(FAMILIES["espcn"])).eval()
    x = torch.rand(1, 1, 540, 960)
    buffer = io.BytesIO()
    torch.onnx.export(model, (x,), buffer, input_names=["x"], output_names=["y"], dynamo=False)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    feed = {"x": x.numpy().astype(np.float32)}
    for _ in range(3):
        session.run(None, feed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1e3)
    return {"available": True, "providers": session.get_providers(), "espcn_median_ms": round(statistics.median(times), 3)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole check (default 480)")
    parser.add_argument("--dry-run", action="store_true", help="every step on the CPU with tiny budgets")
    args = parser.parse_args(argv)

    import torch

    result: dict[str, Any] = {"gpu": torch.cuda.is_available(), "dry_run": args.dry_run, "torch": torch.__version__,
                              "host": platform.node()}
    if not torch.cuda.is_available() and not args.dry_run:
        result["reason"] = (f"no CUDA device (torch {torch.__version__}, CUDA build "
                            f"{torch.version.cuda or 'none'}): nothing to measure; --dry-run checks the script on CPU")
        print(json.dumps(result))
        return result
    device = "cpu" if args.dry_run else "cuda"
    if not args.dry_run:
        result["device_name"] = torch.cuda.get_device_name(0)
    clock = Clock(args.budget)
    dry = DRY["on"] = args.dry_run
    step(result, "steps_per_s", clock, 10 if dry else 130, lambda: steps_per_second(device, 0.5 if dry else 20.0))
    precisions = ("fp32", "bf16") if dry else ("fp32", "bf16", "fp16")
    step(result, "amp", clock, 10 if dry else 120, lambda: amp(device, 20 if dry else 3000, precisions))
    if dry:
        result["shared_gpu"] = {"skipped": "dry run: no GPU to share"}
    else:
        step(result, "shared_gpu", clock, 120, shared_gpu)
    step(result, "latency", clock, 5 if dry else 30, lambda: latency(device, 3 if dry else 50))
    step(result, "onnxruntime_cuda", clock, 1 if dry else 20, lambda: onnxruntime_cuda(3 if dry else 50))
    result["seconds"] = round(args.budget - clock.left(), 1)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
