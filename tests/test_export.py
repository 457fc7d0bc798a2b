"""nas-sr export: pth / ONNX / TorchScript round trips on eSR, VapSR and SPAN (its deploy form), checked
against PyTorch; errors."""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ESR = {"family": "esr-tm", "scale": 2, "color": "y", "kernel_size": 7, "channels": 8}  # eSR-TM_s2_K7_C8
VAPSR = {"family": "vapsr", "scale": 2, "num_feat": 8, "d_atten": 8, "num_block": 1, "upsampler_width": 8}
#: Trains as Conv3XC branches; every export holds the merged deploy form.
SPAN = {"family": "span", "scale": 2, "channels": 8, "blocks": 1, "gain": 2}
#: Its ESA pooling path: exported graphs take LR sides of 21 and more.
RLFN = {"family": "rlfn", "scale": 2, "channels": 8, "mid_channels": 8, "esa_channels": 4, "blocks": 1}
HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))




def built(config, seed=0):
    from nas_sr.models import build_model, canonical_config

    torch.manual_seed(seed)
    full = canonical_config(config)
    return build_model(full).eval(), full


@pytest.mark.parametrize("config", [ESR, VAPSR, SPAN, RLFN], ids=["esr-tm", "vapsr", "span", "rlfn"])
@pytest.mark.parametrize("fmt", ["pth", "torchscript", "onnx"])
@pytest.mark.slow
def test_round_trip_matches_pytorch(tmp_path, config, fmt):
    if fmt == "onnx" and not HAS_ONNX:
        pytest.skip("onnx, onnxscript and onnxruntime are not installed (pip install 'nas-sr[export]')")
    from nas_sr.export import export_model, load_pth
    from nas_sr.models import deploy_model, get_family

    model, full = built(config)
    result = export_model(model, full, fmt, tmp_path / f"m.{fmt}")
    colors = 1 if full["color"] == "y" else 3
    pixel = get_family(full["family"]).input_range  # errors on the [0, 1] scale, as export_model's
    x = torch.rand(1, colors, 29, 41) * pixel  # a third size: the height/width axes are dynamic
    with torch.no_grad():  # the file holds the deploy form, whose output is the training form's
        expected = deploy_model(full, model)(x).numpy()
        assert float(np.abs(model(x).numpy() - expected).max()) / pixel < 1e-4
    # float32 rounding is relative: an untrained SPAN outputs up to ~35 (its input is scaled by 255)
    tolerance = 1e-5 * max(1.0, float(np.abs(expected).max()) / pixel)
    assert result.ok and result.max_abs_error < tolerance and len(result.errors) == 2
    assert result.checked_shapes[0][2:] != result.checked_shapes[1][2:]  # two input sizes
    if fmt == "pth":
        loaded, config_back = load_pth(result.path)
        assert config_back == full
        got = loaded(x).detach().numpy()
    elif fmt == "torchscript":
        extra = {"nas_sr_config.json": ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13: torch.jit is deprecated
            loaded = torch.jit.load(str(result.path), _extra_files=extra)
        assert json.loads(extra["nas_sr_config.json"]) == full
        got = loaded(x).detach().numpy()
    else:
        import onnx
        import onnxruntime as ort

        props = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
        assert json.loads(props["nas_sr_config"]) == full
        session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
        assert [d if isinstance(d, int) else "dyn" for d in session.get_inputs()[0].shape] == [1, colors, "dyn", "dyn"]
        got = session.run(None, {"lr": x.numpy()})[0]
    assert got.shape == (1, colors, 58, 82)
    assert float(np.abs(got - expected).max()) / pixel < tolerance


def test_window_families_take_multiples_of_their_windows():
    from nas_sr.export.formats import check_shapes, sizes_rule

    emt = {"family": "emt", "scale": 2, "color": "rgb", "window_long": 16, "window_short": 8, "pa_after": 0}
    assert sizes_rule(emt) == "height and width multiples of 16 (its windows)"
    assert all(h % 16 == 0 and w % 16 == 0 for _, _, h, w in check_shapes(emt))
    assert sizes_rule({**VAPSR, "color": "rgb"}) == "any height and width"
    assert sizes_rule(RLFN) == "height and width of at least 21"


def test_pth_is_read_by_read_state_dict(tmp_path):
    """``nas-sr evaluate --weights FILE.pth`` reads the state_dict entry of a pth export."""
    from nas_sr.export import export_model
    from nas_sr.models.weights import read_state_dict

    model, full = built(ESR)
    path = export_model(model, full, "pth", tmp_path / "m.pth").path
    state = read_state_dict(path)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_cli_exports_the_trials_trained_weights(tmp_path, cli, make_study):
    from nas_sr.export import load_pth, trial_state_dict
    from nas_sr.study.storage import load_existing_study

    url = make_study(tmp_path)
    out = tmp_path / "t1.pth"
    status, text, err = cli("export", "--study", "s", "--storage", url, "--trial", "1", "--format", "pth",
                            "--out", str(out))
    assert status == 0, err
    assert "max abs error vs PyTorch: 0 at inputs" in text and "trial 1 (esr-tm)" in text
    loaded, config = load_pth(out)
    assert config["family"] == "esr-tm" and config["channels"] == 4
    trained = trial_state_dict(load_existing_study("s", url).trials[1], url)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in trained.items())
    status, text, err = cli("export", "--study", "s", "--storage", url, "--trial", "2", "--format", "torchscript",
                            "--out", str(tmp_path / "t2.pt"))
    assert status == 0 and "any height and width" in text, err


def test_cli_tolerance_failure_exits_1(tmp_path, cli, make_study):
    url = make_study(tmp_path)
    status, text, err = cli("export", "--study", "s", "--storage", url, "--trial", "0", "--format", "torchscript",
                            "--out", str(tmp_path / "t.pt"), "--tolerance", "-1")
    assert status == 1 and "differs from PyTorch" in err


def test_cli_errors_are_one_line(tmp_path, cli, monkeypatch, make_study):
    import optuna

    from nas_sr.study.storage import load_existing_study

    url = make_study(tmp_path)
    study = load_existing_study("s", url)
    failed = study.ask()
    failed.set_user_attr("config", json.dumps(ESR, sort_keys=True))
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    base = ["export", "--study", "s", "--storage", url, "--out", str(tmp_path / "x.onnx")]
    cases = [(["--trial", "99", "--format", "pth"], "no trial 99 in study 's' (trials 0..3)"),
             (["--trial", "3", "--format", "pth"], "trial 3 has no weights"),
             (["--trial", "0", "--format", "tflite"], "--format 'tflite' is not one of pth, onnx, torchscript"),
             (["--trial", "0", "--format", "pth", "--study", "nope"], "no study 'nope'")]
    for args, message in cases:
        status, _, err = cli(*base, *args)
        assert status == 2 and message in err and err.strip().count("\n") == 0, err
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    status, _, err = cli(*base, "--trial", "0", "--format", "onnx")
    assert status == 2 and "ONNX export needs onnxruntime: pip install 'nas-sr[export]'" in err
