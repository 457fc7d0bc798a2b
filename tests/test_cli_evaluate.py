"""``nas-sr evaluate``: published numbers through the command line, and one-line errors."""

from __future__ import annotations

import json

import pytest


def test_released_weights_table(cli, shared):
    weights = shared / "esr" / "model-files" / "eSR-TM_s2_K7_C8.model"
    status, out, err = cli("evaluate", "--model", "eSR-TM_s2_K7_C8", "--weights", str(weights),
                           "--dataset", str(shared / "datasets" / "Set5"),
                           "--dataset", str(shared / "datasets" / "Set14"), "--format", "json")
    assert status == 0 and not err
    rows = json.loads(out)
    assert [r["dataset"] for r in rows] == ["Set5", "Set14"]
    assert rows[0]["psnr"] == pytest.approx(35.6194, abs=0.01)
    assert rows[1]["psnr"] == pytest.approx(31.7667, abs=0.01)
    assert rows[0]["y_convention"] == "uint8" and len(rows[1]["images"]) == 14


@pytest.mark.parametrize("model, scale, file, psnr, ssim", [
    ("vapsr", 4, "VapSR/VapSR_X4.pth", 32.3998, 0.8974),  # BasicSR checkpoint: params_ema picked
    ("emt", 4, "EMT/EMT_LSR_x4.pth", 32.6391, 0.9003),    # inputs in [0, 255]
    ("pan", 2, "PAN/PANx2_DF2K.pth", 37.9999, 0.9605),    # a bare state_dict
])
@pytest.mark.slow
def test_authors_checkpoints_as_distributed(cli, shared, model, scale, file, psnr, ssim):
    status, out, err = cli("evaluate", "--model", model, "--scale", str(scale),
                           "--weights", str(shared / "weights" / file),
                           "--dataset", str(shared / "datasets" / "Set5"), "--format", "json")
    assert status == 0 and not err
    row, = json.loads(out)
    assert row["psnr"] == pytest.approx(psnr, abs=0.02) and row["ssim"] == pytest.approx(ssim, abs=0.001)
    assert row["y_convention"] == "float"  # RGB models are scored as BasicSR computes Y


def test_matlab_bicubic_baseline(cli, shared):
    status, out, _ = cli("evaluate", "--model", "bicubic", "--scale", "2",
                         "--dataset", str(shared / "datasets" / "Set5"))
    assert status == 0
    line = next(l for l in out.splitlines() if l.startswith("Set5"))
    psnr, ssim = map(float, line.split()[2:4])
    assert psnr == pytest.approx(33.66, abs=0.02) and ssim == pytest.approx(0.9299, abs=0.001)


@pytest.mark.parametrize("argv, message", [
    (["--model", "eSR-TM_s2_K7_C4", "--weights", "{w}"], "do not fit the model: shape mismatch filter.weight"),
    (["--model", "eSR-TM_s2_K7_C8", "--weights", "{missing}"], "no such weights file"),
    (["--model", "eSR-XX_s2_K7_C8"], "is not an edge-SR model id"),
    (["--model", '{"family": "esr-tm", "kernel_size": 7'], "is not valid JSON"),
    (["--model", "bicubic"], "--model bicubic needs --scale"),
    (["--model", "eSR-TM_s2_K7_C8", "--scale", "3"], "is for scale 2, not 3"),
])
def test_errors_are_one_line(cli, shared, tmp_path, argv, message):
    weights = shared / "esr" / "model-files" / "eSR-TM_s2_K7_C8.model"
    argv = [a.replace("{w}", str(weights)).replace("{missing}", str(tmp_path / "none.model")) for a in argv]
    status, out, err = cli("evaluate", *argv, "--dataset", str(shared / "datasets" / "Set5"))
    assert status == 2 and not out
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_missing_dataset_folder(cli, tmp_path):
    status, _, err = cli("evaluate", "--model", "bicubic", "--scale", "2", "--dataset", str(tmp_path / "nope"))
    assert status == 2 and f"{tmp_path / 'nope'}: no such image folder" in err
