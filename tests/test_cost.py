"""Cost model: parameter and multiply-add counts by hand, latency, the cost cache, ``nas-sr model info``."""

from __future__ import annotations

import json
import warnings

import pytest
from torch import nn

from nas_sr.cost import (
    Cost,
    CostCache,
    LatencyResult,
    count_flops,
    count_parameters,
    describe_device,
    measure_latency,
    model_cost,
)
from nas_sr.models.esr_ids import config_from_esr_id
from nas_sr.models.registry import build_model

HD = (1280, 720)


@pytest.mark.parametrize("model_id, params", [
    ("eSR-TM_s2_K7_C8", 3136),  # one 7x7 conv, 1 -> 2*4*8 channels, no bias
    ("FSRCNN_s3_D56_S12_M4", 12644),
    ("ESPCN_s2_D12_S24", 3796),
    ("eSR-MAX_s2_K3_C1", 36),
])
def test_parameter_counts(model_id, params):
    assert count_parameters(build_model(config_from_esr_id(model_id))) == params


def test_frozen_parameters_are_counted():
    model = build_model({"family": "bicubic", "scale": 2, "trainable": False})
    assert count_parameters(model) == 11 * 11


def test_flops_of_a_one_layer_esr_model():
    # 4 output channels (s*s phases of 1 filter), a 3x3 kernel, over a 640x360 LR grid.
    model = build_model(config_from_esr_id("eSR-MAX_s2_K3_C1"))
    assert count_flops(model, HD, 2, 1) == 4 * 9 * 640 * 360


def test_flops_of_fsrcnn_include_the_transposed_convolution():
    d, s, m, scale = 56, 12, 4, 3
    lr = (384 // scale) * (216 // scale)
    per_lr_pixel = (
        1 * d * 5 * 5    # feature extraction
        + d * s          # shrinking (1x1)
        + m * s * s * 9  # mapping
        + s * d          # expanding (1x1)
        + d * 1 * 9 * 9  # transposed 9x9 conv: every LR pixel spreads 9x9 taps per (in, out) pair
    )
    model = build_model(config_from_esr_id("FSRCNN_s3_D56_S12_M4"))
    assert count_flops(model, (384, 216), scale, 1) == per_lr_pixel * lr


def test_flops_reject_a_resolution_not_divisible_by_the_scale():
    model = build_model(config_from_esr_id("FSRCNN_s3_D56_S12_M4"))
    with pytest.raises(ValueError, match="not divisible by the scale 3"):
        count_flops(model, HD, 3, 1)


def test_flops_keep_training_mode_and_warn_nothing():
    model = build_model(config_from_esr_id("eSR-TM_s2_K7_C8")).train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert count_flops(model, (64, 64), 2, 1) == 64 * 7 * 7 * 32 * 32
    assert model.training


def test_latency_on_cpu():
    import torch

    threads = torch.get_num_threads()
    model = build_model(config_from_esr_id("eSR-MAX_s2_K3_C1"))
    result = measure_latency(model, (64, 48), 2, 1, threads=1, warmup=1, repeats=5)
    assert result.median_ms > 0 and result.iqr_ms >= 0
    assert result.repeats == 5
    assert result.peak_memory_bytes is None
    assert result.device.kind == "cpu" and result.device.name
    assert result.device.threads == 1 and result.device.dtype == "fp32"
    assert result.device.torch_version == torch.__version__
    assert torch.get_num_threads() == threads  # restored
    assert LatencyResult.from_dict(json.loads(json.dumps(result.as_dict()))) == result


@pytest.mark.parametrize("kwargs, message", [
    ({"dtype": "int8"}, "dtype"),
    ({"device": "tpu"}, "device"),
    ({"repeats": 0}, "repeats"),
    ({"threads": 0}, "threads"),
    ({"cpu_path": "fast"}, "cpu path 'fast' is not one of default, native"),
    ({"cpu_path": "native", "backend": "onnxruntime"}, "applies to the torch backend on cpu only"),
    ({"cpu_path": "native", "device": "cuda"}, "applies to the torch backend on cpu only"),
])
def test_latency_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        measure_latency(nn.Conv2d(1, 4, 3, padding=1), (8, 8), 1, 1, **kwargs)


def test_native_cpu_path_turns_onednn_off_only_while_measuring():
    import torch

    seen = []

    class Spy(nn.Conv2d):
        def forward(self, x):
            seen.append(torch.backends.mkldnn.enabled)
            return super().forward(x)

    before = torch.backends.mkldnn.enabled
    native = measure_latency(Spy(1, 8, 3, padding=1), (32, 24), 1, 1, threads=1, warmup=2, repeats=3,
                             cpu_path="native")
    assert seen == [False] * 5 and torch.backends.mkldnn.enabled == before
    assert native.device.cpu_path == "native" and native.device.key().endswith("|native conv")
    seen.clear()
    default = measure_latency(Spy(1, 8, 3, padding=1), (32, 24), 1, 1, threads=1, warmup=1, repeats=2)
    assert seen == [before] * 3 and default.device.cpu_path == "default"
    assert default.device.key() != native.device.key()  # the cost cache keeps the two apart
    assert LatencyResult.from_dict(json.loads(json.dumps(native.as_dict()))) == native
    old = {k: v for k, v in default.as_dict().items()}
    old["device"] = {k: v for k, v in old["device"].items() if k != "cpu_path"}  # recorded before the option
    assert LatencyResult.from_dict(old).device.cpu_path == "default"


def test_cost_round_trips_through_json():
    latency = LatencyResult(1.5, 0.1, 10, None, describe_device("cpu", threads=1))
    cost = Cost(36, 829440, HD, latency)
    assert Cost.from_dict(json.loads(json.dumps(cost.as_dict()))) == cost


def _counting(cost: Cost):
    calls = []

    def compute() -> Cost:
        calls.append(1)
        return cost

    return compute, calls


def test_cache_returns_the_stored_cost_without_recomputing(tmp_path):
    config = config_from_esr_id("eSR-MAX_s2_K3_C1")
    device = describe_device("cpu", threads=1)
    cost = Cost(36, 829440, HD, LatencyResult(1.5, 0.1, 10, None, device))
    compute, calls = _counting(cost)
    path = tmp_path / "sub" / "costs.json"
    assert CostCache(path).get_or_compute(config, HD, compute, device) == cost
    assert CostCache(path).get_or_compute(config, HD, compute, device) == cost  # from the file
    assert len(calls) == 1
    # Another device, dtype or resolution is another entry.
    assert CostCache(path).get(config, HD, describe_device("cpu", threads=1, dtype="fp16")) is None
    assert CostCache(path).get(config, (640, 360), device) is None
    assert CostCache(path).get(config, HD) is None


def test_model_cost_uses_the_cache(tmp_path, monkeypatch):
    import nas_sr.cost.cost as cost_module

    calls = []
    real = cost_module.measure_latency

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cost_module, "measure_latency", counting)
    config = {"family": "esr-max", "scale": 2, "kernel_size": 3, "channels": 1}
    cache = CostCache(tmp_path / "costs.json")
    kwargs = dict(latency=True, threads=1, warmup=0, repeats=2, cache=cache)
    first = model_cost(config, (32, 32), **kwargs)
    again = model_cost(config, (32, 32), **{**kwargs, "cache": CostCache(cache.path)})
    assert again == first and len(calls) == 1
    assert first.params == 36 and first.flops == 4 * 9 * 16 * 16


def test_cache_tolerates_a_corrupt_file(tmp_path):
    path = tmp_path / "costs.json"
    path.write_text("{not json")
    config = config_from_esr_id("eSR-MAX_s2_K3_C1")
    cache = CostCache(path)
    with pytest.warns(UserWarning, match="unreadable cost cache"):
        assert cache.get(config, HD) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        assert cache.get(config, (640, 360)) is None
        cache.put(config, Cost(36, 829440, HD))
    assert CostCache(path).get(config, HD) == Cost(36, 829440, HD)


def test_cache_reads_a_missing_file_as_empty(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert CostCache(tmp_path / "none.json").get({"family": "bicubic", "scale": 2}, HD) is None


# ---- nas-sr model info ----------------------------------------------------------------------


def test_model_info_json(cli):
    status, out, err = cli("model", "info", "eSR-TM_s2_K7_C8", "--format", "json")
    assert status == 0 and not err
    assert json.loads(out) == {
        "config": config_from_esr_id("eSR-TM_s2_K7_C8"),
        "params": 3136,
        "flops": 64 * 7 * 7 * 640 * 360,
        "resolution": [1280, 720],
    }


def test_model_info_json_config_scale_and_resolution(cli):
    config = '{"family":"esr-max","kernel_size":3,"channels":1}'
    status, out, _ = cli("model", "info", config, "--scale", "4", "--resolution", "64x32", "--format", "json")
    data = json.loads(out)
    assert status == 0 and data["config"]["scale"] == 4 and data["resolution"] == [64, 32]
    assert data["flops"] == 16 * 9 * 16 * 8


def test_model_info_default_resolution_is_the_papers_lr_427x240_at_x3(cli):
    status, out, _ = cli("model", "info", "bicubic", "--scale", "3", "--format", "json")
    data = json.loads(out)
    assert status == 0 and data["params"] == 15 * 15 and data["resolution"] == [1281, 720]


def test_model_info_table_with_latency(cli):
    status, out, _ = cli("model", "info", "eSR-MAX_s2_K3_C1", "--resolution", "32x32",
                         "--latency", "--threads", "1", "--repeats", "2")
    assert status == 0
    assert "params       36" in out and "latency" in out and "1 threads" in out


@pytest.mark.parametrize("argv, message", [
    (["eSR-XX_s2_K3_C1"], "not an edge-SR model id"),
    (["esr"], "family name"),
    (["{bad json"], "not valid JSON"),
    (["eSR-TM_s2_K7_C8", "--resolution", "12x"], "WIDTHxHEIGHT"),
    (["eSR-TM_s2_K7_C8", "--resolution", "101x100"], "not divisible"),
    (["eSR-TM_s2_K7_C8", "--scale", "5"], "is for scale 2, not 5"),
    (['{"family":"esr-tm","kernel_size":3,"channels":2}', "--scale", "5"], "scale=5"),
    (["esr-tm"], "names no scale"),
    (["esr-tm", "--scale", "2"], "missing key"),
    (["eSR-TM_s2_K7_C8", "--latency", "--device", "tpu"], "device"),
])
def test_model_info_errors(cli, argv, message):
    status, out, err = cli("model", "info", *argv)
    assert status == 2 and not out
    assert err.startswith("nas-sr model: error: ") and message in err
    assert err.count("\n") == 1


@pytest.mark.shared
def test_parameter_counts_match_the_edge_sr_table(esr_table):
    # The table's Bicubic rows count an equivalent sub-pixel conv (see nas_sr.models.bicubic).
    mismatches = {
        model_id: (count_parameters(build_model(config_from_esr_id(model_id))), int(row["parameters"]))
        for model_id, row in esr_table.items() if not model_id.startswith("Bicubic")
    }
    mismatches = {k: v for k, v in mismatches.items() if v[0] != v[1]}
    assert not mismatches


@pytest.mark.parametrize("preset, scale, params, gflops", [
    ("vapsr-s", 3, 164_539, 16.63),  # the spec's fvcore figures at LR 427x240
    ("pan", 4, 272_419, 28.21),
])
@pytest.mark.slow
def test_model_info_of_a_preset_matches_the_papers_cost(cli, preset, scale, params, gflops):
    status, out, _ = cli("model", "info", preset, "--scale", str(scale), "--format", "json")
    data = json.loads(out)
    assert status == 0 and data["params"] == params
    assert data["flops"] / 1e9 == pytest.approx(gflops, abs=0.005)
