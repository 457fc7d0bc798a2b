"""Brief training (nas_sr.train): determinism, budgets, failures, callbacks and what it learns."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from nas_sr import build_model
from nas_sr.models.upscaler import torch_upscaler
from nas_sr.protocol import evaluate
from nas_sr.train import (
    TrainingDiverged,
    TrainingFailed,
    TrainingOutOfMemory,
    TrainingResult,
    TrainingStopped,
    TrainSettings,
    train,
)
from nas_sr.train import trainer as trainer_module

MAX = {"family": "esr-max", "scale": 2, "kernel_size": 3, "channels": 4}
TINY = TrainSettings(max_steps=20, batch_size=8, patch_size=12, patches=256, lr=5e-3, threads=1,
                     log_every=10)


@pytest.fixture(scope="module")
def small_val(val_photos):
    """Centre crops of the validation photos: validating them is quick."""
    crops = []
    for name, image in val_photos:
        h, w = image.shape[:2]
        crops.append((name, image[h // 2 - 48 : h // 2 + 48, w // 2 - 48 : w // 2 + 48]))
    return {"val": crops}


def run(photos, val, config=MAX, **changes):
    return train(config, photos, val, dataclasses.replace(TINY, **changes))


def psnr_of(model, config, images):
    return evaluate(torch_upscaler(model, config), images, config["scale"], config["color"],
                    "uint8" if config["color"] == "y" else "float").psnr


# -- determinism ---------------------------------------------------------------------------------

def test_same_seed_gives_identical_weights_and_other_seeds_differ(photos, small_val):
    rng_before = torch.random.get_rng_state()
    first, again, other = (run(photos, small_val, seed=s) for s in (0, 0, 1))
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # the caller's RNG is untouched
    assert first.state_dict.keys() == again.state_dict.keys() == other.state_dict.keys()
    assert all(torch.equal(first.state_dict[k], again.state_dict[k]) for k in first.state_dict)
    assert [p[2] for p in first.curve] == [p[2] for p in again.curve]
    assert first.metrics == again.metrics
    assert not all(torch.equal(first.state_dict[k], other.state_dict[k]) for k in first.state_dict)


# -- what training achieves ----------------------------------------------------------------------

def nearest(lr):
    return np.repeat(np.repeat(lr, 2, axis=0), 2, axis=1)


def test_training_improves_esr_max_far_beyond_its_initialisation(photos, val_photos):
    config = {**MAX, "color": "y"}
    torch.manual_seed(0)
    untrained = psnr_of(build_model(config), config, val_photos)
    nearest_psnr = evaluate(nearest, val_photos, 2, "y", "uint8").psnr
    result = train(config, photos, {"val": val_photos},
                   TrainSettings(max_steps=300, patches=1000, threads=1, log_every=50))
    trained = result.metrics["psnr_val"]
    # Measured on the bundled validation photos: untrained 15.9 dB (identity centre plus
    # Xavier noise), nearest-neighbour upscaling 31.56, bicubic 32.89; trained 300 steps with
    # the default settings 32.44-32.46 dB over seeds 0-2 (31.65-31.90 with oversample=1).
    assert untrained < 20 and nearest_psnr == pytest.approx(31.56, abs=0.01)
    assert trained > untrained + 15
    assert trained > nearest_psnr + 0.5
    assert 0.88 < result.metrics["ssim_val"] <= 1
    model = build_model(config)
    model.load_state_dict(result.state_dict)
    assert psnr_of(model, config, val_photos) == pytest.approx(trained, abs=1e-9)
    assert result.curve[-1][2] < result.curve[0][2]


def test_rgb_models_train_too(photos, small_val):
    config = {**MAX, "color": "rgb"}
    result = run(photos, small_val, config, max_steps=60)
    assert result.config["color"] == "rgb" and result.completed
    assert result.state_dict["filter.weight"].shape[1] == 3
    assert set(result.metrics) == {"psnr_val", "ssim_val"}
    assert result.metrics["psnr_val"] > 22  # untrained: ~16 dB


def test_two_validation_sets_also_give_their_mean(photos, small_val):
    crops = small_val["val"]
    result = run(photos, {"a": crops[:1], "b": crops[1:]}, max_steps=20)
    assert set(result.metrics) == {"psnr_a", "ssim_a", "psnr_b", "ssim_b", "psnr_mean", "ssim_mean"}
    assert result.metrics["psnr_a"] != result.metrics["psnr_b"]
    assert result.metrics["psnr_mean"] == pytest.approx((result.metrics["psnr_a"] + result.metrics["psnr_b"]) / 2)
    assert result.metrics["ssim_mean"] == pytest.approx((result.metrics["ssim_a"] + result.metrics["ssim_b"]) / 2)


@pytest.mark.parametrize("config", [
    {"family": "vapsr", "scale": 2, "num_feat": 16, "d_atten": 16, "num_block": 2},
    {"family": "pan", "scale": 3, "nf": 16, "unf": 8, "nb": 2},
    {"family": "emt", "scale": 2, "dim": 30, "n_blocks": 1, "n_layers": 3, "num_heads": 1},
    {"family": "hitsr", "scale": 4, "variant": "srf", "embed_dim": 24, "n_groups": 1, "depth": 2,
     "num_heads": 2},
], ids=lambda c: c["family"])
@pytest.mark.slow
def test_attention_families_train_on_cpu(photos, small_val, config):
    result = run(photos, small_val, config, max_steps=40, lr=1e-3, patch_size=16, log_every=20)
    first, last = result.curve[0][2], result.curve[-1][2]
    assert result.completed and math.isfinite(result.metrics["psnr_val"])
    assert last < first  # L1 went down (in the family's pixel range)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.slow
def test_mixed_precision_trains_as_well_as_fp32(photos, small_val, precision):
    # autocast runs on CPU too, so the GPU code path is exercised here (GPUs add fused kernels only)
    full = run(photos, small_val, max_steps=200, patches=512)
    mixed = run(photos, small_val, max_steps=200, patches=512, precision=precision)
    assert mixed.completed and all(v.dtype == torch.float32 for v in mixed.state_dict.values())
    assert not torch.equal(mixed.state_dict["filter.weight"], full.state_dict["filter.weight"])
    assert mixed.metrics["psnr_val"] == pytest.approx(full.metrics["psnr_val"], abs=0.3)


def test_the_bank_keeps_the_most_detailed_patches(photos):
    from nas_sr.data import PatchBank

    config = {**MAX, "color": "y"}

    def bank(oversample):
        return trainer_module._patch_bank(list(photos), config, TINY.replace(oversample=oversample),
                                          torch.device("cpu"), None)

    plain, picked, again = bank(1), bank(4), bank(4)
    direct = PatchBank.from_images(photos, 2, 12, "y", 256, 0)
    assert torch.equal(plain.lr, direct.lr) and torch.equal(plain.hr, direct.hr)
    assert len(picked) == 256
    assert torch.equal(picked.hr, again.hr) and torch.equal(picked.lr, again.lr)
    detail = picked.hr.flatten(1).std(dim=1)
    assert detail.min() >= torch.quantile(direct.hr.flatten(1).std(dim=1), 0.5)
    assert detail.mean() > 1.5 * direct.hr.flatten(1).std(dim=1).mean()


# -- budgets, curve, callbacks -------------------------------------------------------------------

def test_curve_has_a_point_every_log_every_steps_and_the_last(photos, small_val):
    result = run(photos, small_val, max_steps=25, log_every=10)
    assert [p[0] for p in result.curve] == [10, 20, 25]
    assert result.steps == 25 and result.completed and result.stop_reason == "steps"
    seconds = [p[1] for p in result.curve]
    assert seconds == sorted(seconds) and 0 < seconds[-1] <= result.seconds <= result.total_seconds
    assert all(0 < p[2] < 1 for p in result.curve)
    assert result.final_loss == result.curve[-1][2]
    data = json.loads(json.dumps(result.as_dict()))
    assert data["settings"]["max_steps"] == 25 and data["curve"][0][0] == 10
    assert "state_dict" not in data
    assert all(v.device.type == "cpu" for v in result.state_dict.values())


def test_max_seconds_ends_training_on_time(photos, small_val):
    result = run(photos, small_val, max_steps=10**6, max_seconds=1.0, log_every=100)
    assert result.stop_reason == "time" and result.completed
    assert 10 < result.steps < 10**6
    assert 1.0 <= result.seconds < 1.5
    assert result.curve[-1][0] == result.steps
    assert math.isfinite(result.final_loss)


def test_progress_returning_false_stops_early(photos, small_val):
    calls = []

    def progress(step, loss):
        calls.append((step, loss))
        return step < 20

    result = train(MAX, photos, small_val, TINY.replace(max_steps=100), progress=progress)
    assert [c[0] for c in calls] == [10, 20]
    assert result.steps == 20 and not result.completed and result.stop_reason == "stopped"
    assert [p[2] for p in result.curve] == [c[1] for c in calls]
    assert "psnr_val" in result.metrics  # the stopped weights are still validated


def test_progress_raising_training_stopped_stops_early(photos, small_val):
    def progress(step, loss):
        raise TrainingStopped("pruned")

    settings = dataclasses.replace(TINY, max_steps=100, max_seconds=30.0)
    result = train(MAX, photos, small_val, settings, progress=progress)
    assert result.steps == 10 and not result.completed and result.stop_reason == "stopped"


def test_validate_every_records_checkpoints(photos, small_val):
    seen = []
    result = train(MAX, photos, small_val, TINY.replace(max_steps=30, validate_every=10),
                   on_validation=lambda step, metrics: seen.append((step, metrics)))
    assert [s for s, _ in seen] == [10, 20, 30] == [v[0] for v in result.validation]
    assert all(set(m) == {"psnr_val"} for _, m in seen)
    assert seen[-1][1]["psnr_val"] == pytest.approx(result.metrics["psnr_val"])


def test_threads_and_onednn_are_restored(photos, small_val):
    before = torch.get_num_threads(), torch.backends.mkldnn.enabled
    for onednn in (True, False):
        run(photos, small_val, threads=1 if before[0] != 1 else 2, max_steps=2, onednn=onednn)
        assert (torch.get_num_threads(), torch.backends.mkldnn.enabled) == before


def test_the_schedule_is_torchs_cosine_annealing():
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=5e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=40, eta_min=1e-6)
    for step in range(41):
        assert trainer_module._cosine(step / 40, 5e-3, 1e-6) == pytest.approx(
            optimizer.param_groups[0]["lr"], rel=1e-9, abs=1e-12)
        optimizer.step()
        schedule.step()


# -- failures ------------------------------------------------------------------------------------

def test_a_huge_learning_rate_diverges_naming_the_step(photos, small_val):
    pattern = r"^training diverged at step 2: loss [\d.e+]+ > divergence_loss 10 \(lr 1000, esr-max x2\)$"
    with pytest.raises(TrainingDiverged, match=pattern) as info:
        run(photos, small_val, lr=1e3)
    assert isinstance(info.value, TrainingFailed) and isinstance(info.value, ValueError)
    assert info.value.step == 2 and info.value.loss > 10


def test_a_nan_loss_diverges_naming_the_step(photos, small_val, monkeypatch):
    class NanOnThirdCall(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.calls = inner, 0

        def forward(self, x):
            self.calls += 1
            y = self.inner(x)
            return y * float("nan") if self.calls == 3 else y

    monkeypatch.setattr(trainer_module, "build_model",
                        lambda config: NanOnThirdCall(build_model(config)))
    pattern = r"^training diverged at step 3: loss nan \(lr 0.005, esr-max x2\)$"
    with pytest.raises(TrainingDiverged, match=pattern) as info:
        run(photos, small_val, divergence_loss=None)
    assert info.value.step == 3 and math.isnan(info.value.loss)


def test_out_of_memory_is_reported_in_one_line(photos, small_val, monkeypatch):
    class Greedy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: "
                               "not enough memory: you tried to allocate 1099511627776 bytes.")

    monkeypatch.setattr(trainer_module, "build_model", lambda config: Greedy())
    before = torch.get_num_threads()
    with pytest.raises(TrainingOutOfMemory) as info:
        run(photos, small_val, threads=1 if before != 1 else 2)
    message = str(info.value)
    assert "\n" not in message and isinstance(info.value, TrainingFailed)
    assert message.startswith("out of memory on cpu training esr-max x2 "
                              "(batch 8 of 12 px LR patches, 256 in the bank): ")
    assert "not enough memory" in message
    assert torch.get_num_threads() == before


def test_other_errors_pass_through(photos, small_val, monkeypatch):
    monkeypatch.setattr(trainer_module, "build_model", lambda config: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run(photos, small_val)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_unavailable_device_is_a_clear_error(photos, small_val):
    with pytest.raises(ValueError, match=r"device is 'cuda' but CUDA is not available"):
        run(photos, small_val, device="cuda")


def test_bad_config_is_rejected_before_training(photos, small_val):
    with pytest.raises(ValueError, match="kernel_size=4 must be odd"):
        run(photos, small_val, {**MAX, "kernel_size": 4})


# -- settings ------------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("max_steps", 0), ("max_steps", 1.5), ("max_steps", True), ("max_seconds", -1),
    ("max_seconds", 0), ("max_seconds", float("inf")), ("batch_size", 0), ("patch_size", -3),
    ("patches", 0), ("lr", 0), ("lr", float("nan")), ("lr_min", -1e-6), ("lr_min", 1.0),
    ("seed", -1), ("seed", "0"), ("device", "gpu"), ("device", "cuda:x"), ("threads", 0),
    ("log_every", 0), ("validate_every", 0), ("divergence_loss", 0), ("anneal", "linear"),
    ("oversample", 0), ("onednn", None), ("precision", "fp8"), ("init_weights", ""),
])
def test_settings_reject_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError) as info:
        TrainSettings(**{field: value})
    message = str(info.value)
    assert message.startswith(f"TrainSettings.{field} must be ")
    assert message.endswith(f", got {value!r}") and "\n" not in message


def test_settings_round_trip_and_defaults():
    settings = TrainSettings(max_seconds=60, threads=2, device="cuda:1", validate_every=100)
    assert settings.max_seconds == 60.0 and isinstance(settings.max_seconds, float)
    data = json.loads(json.dumps(settings.as_dict()))
    assert TrainSettings.from_dict(data) == settings
    assert TrainSettings.from_dict({}) == TrainSettings()
    assert settings.replace(seed=3).seed == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"^TrainSettings: unknown field\(s\) epochs \(known: "):
        TrainSettings.from_dict({"epochs": 3})


def test_result_is_plain_data():
    fields = {f.name for f in dataclasses.fields(TrainingResult)}
    assert {"config", "steps", "seconds", "completed", "final_loss", "curve", "metrics",
            "state_dict", "settings"} <= fields


# -- warm start ----------------------------------------------------------------------------------

@pytest.mark.parametrize("config, file, psnr", [
    ({"family": "esr-tm", "scale": 2, "kernel_size": 7, "channels": 8},
     "esr/model-files/eSR-TM_s2_K7_C8.model", 35.6194),          # a plain state_dict
    ({"family": "vapsr", "scale": 4}, "weights/VapSR/VapSR_X4.pth", 32.3998),  # the authors' names
    # a deploy-form file into the training form (Conv3XC branches at gain 2)
    ({"family": "span", "scale": 4}, "weights/SPAN/team38_span_ch28_slim.pth", 31.7395),
    ({"family": "rlfn", "scale": 4}, "weights/RLFN/team00_rlfn.pth", 32.0977),  # pixels in [0, 255]
])
@pytest.mark.slow
def test_init_weights_starts_from_released_weights(shared, photos, config, file, psnr):
    from nas_sr.data import load_folder

    set5 = {"Set5": load_folder(shared / "datasets" / "Set5")}
    # lr 1e-9: one Adam step moves no weight measurably, so validation scores the released model
    result = run(photos, set5, config, max_steps=1, lr=1e-9, lr_min=0.0, patches=8, batch_size=1,
                 init_weights=str(shared / file))
    assert result.metrics["psnr_Set5"] == pytest.approx(psnr, abs=0.01)


def test_init_weights_that_do_not_fit_name_the_file(photos, small_val, tmp_path):
    path = tmp_path / "other.pt"
    torch.save(build_model({"family": "esr-max", "scale": 2, "kernel_size": 5, "channels": 4}).state_dict(), path)
    with pytest.raises(ValueError, match=rf"^{path} do not fit the model: shape mismatch filter.weight"):
        run(photos, small_val, init_weights=str(path))
