"""benchmarks/gpu_check.py: without CUDA it says why and exits cleanly; its CPU dry run runs every
step that needs no GPU and reports numbers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_why(capsys):
    import json

    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the check would run")
    result = _module().main([])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(line) == result and result["gpu"] is False and "no CUDA device" in result["reason"]
    assert "steps_per_s" not in result


@pytest.mark.slow
def test_dry_run_measures_every_cpu_step(capsys):
    import json

    result = _module().main(["--dry-run", "--budget", "300"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert set(result["steps_per_s"]) == {"esr-tm", "espcn", "fsrcnn"}
    assert all(row["device"] > 0 and row["cpu_1_thread"] > 0 for row in result["steps_per_s"].values())
    assert result["amp"]["fp32"]["steps"] == 20 and "psnr_minus_fp32" in result["amp"]["bf16"]
    assert all(row["host_clock_median_ms"] > 0 for row in result["latency"].values())
    assert "skipped" in result["shared_gpu"] and "available" in result["onnxruntime_cuda"]
    assert result["seconds"] < 300
