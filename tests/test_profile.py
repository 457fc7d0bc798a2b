"""nas-sr profile: per-device latency attributes on finished trials, study export/merge, within_noise."""

from __future__ import annotations

import json

import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = ["--resolution", "64x64", "--repeats", "3", "--warmup", "1", "--threads", "1"]


def test_profile_records_per_device_columns(tmp_path, cli, make_study):
    from nas_sr.browse.query import open_study

    url = make_study(tmp_path)
    status, out, err = cli("profile", "--study", "s", "--storage", url, "--trials", "all", "--label", "box-1t", *FAST)
    assert status == 0, err
    assert "recorded latency_ms@box-1t" in out and "on 3 trial(s)" in out
    frame = open_study("s", url).trials()
    assert str(frame["latency_ms@box-1t"].dtype) == "float64"
    assert (frame["latency_ms@box-1t"] > 0).all() and (frame["latency_iqr_ms@box-1t"] >= 0).all()
    assert (frame["latency_cv@box-1t"] >= 0).all()
    device = json.loads(frame.loc[1, "latency_device@box-1t"])
    assert device["label"] == "box-1t" and device["resolution"] == "64x64" and device["threads"] == 1
    assert device["repeats"] == 3 and device["backend"] == "torch" and device["trained_weights"] is True
    assert list(frame["latency_ms"]) == [1.0, 2.0, 3.0]  # the search's own latency is kept
    # the device's front: its latency is an objective like any other (minimised)
    view = open_study("s", url)
    assert view.objective("latency_ms@box-1t").direction == "minimize"
    front = view.pareto(["psnr@val", "latency_ms@box-1t"])
    loss = frame[["psnr_val", "latency_ms@box-1t"]].to_numpy() * [-1, 1]
    dominated = {i for i, a in zip(frame.index, loss) if any((b <= a).all() and (b < a).any() for b in loss)}
    assert set(front.index) == set(frame.index) - dominated
    # nas-sr trials shows the column, with the recorded values
    status, out, _ = cli("trials", "--study", "s", "--storage", url, "--format", "json")
    rows = json.loads(out)
    assert [r["latency_ms@box-1t"] for r in rows] == pytest.approx(list(frame["latency_ms@box-1t"]))
    assert all("latency_cv@box-1t" in r for r in rows)
    # a second run on one trial replaces its values (one attribute row per key)
    status, _, err = cli("profile", "--study", "s", "--storage", url, "--trials", "2", "--label", "box-1t",
                         "--resolution", "128x128", "--repeats", "2", "--warmup", "0", "--threads", "1")
    assert status == 0, err
    again = open_study("s", url).trials()
    assert json.loads(again.loc[2, "latency_device@box-1t"])["resolution"] == "128x128"
    assert json.loads(again.loc[0, "latency_device@box-1t"])["resolution"] == "64x64"


def test_profile_onnxruntime_backend_and_default_label(tmp_path, cli, make_study):
    pytest.importorskip("onnxruntime")
    from nas_sr.browse.query import open_study

    url = make_study(tmp_path, make_study.configs[:1])
    status, out, err = cli("profile", "--study", "s", "--storage", url, "--backend", "onnxruntime", *FAST)
    assert status == 0, err
    frame = open_study("s", url).trials()
    assert frame.loc[0, "latency_ms@cpu-fp32-ort"] > 0
    assert json.loads(frame.loc[0, "latency_device@cpu-fp32-ort"])["backend"].startswith("onnxruntime ")


def test_profile_native_cpu_path_and_its_default_label(tmp_path, cli, make_study):
    from nas_sr.browse.query import open_study

    url = make_study(tmp_path, make_study.configs[:2])
    status, out, err = cli("profile", "--study", "s", "--storage", url, "--trials", "all", "--cpu-path", "native",
                           *FAST)
    assert status == 0, err
    assert "as 'cpu-fp32-native' (torch, native conv," in out
    frame = open_study("s", url).trials()
    assert (frame["latency_ms@cpu-fp32-native"] > 0).all()
    device = json.loads(frame.loc[1, "latency_device@cpu-fp32-native"])
    assert device["cpu_path"] == "native" and device["backend"] == "torch"
    assert torch.backends.mkldnn.enabled  # only the measurement ran without oneDNN


def test_latency_backends():
    pytest.importorskip("onnxruntime")
    from torch import nn

    from nas_sr.cost import measure_latency, model_cost

    conv = nn.Conv2d(1, 4, 3, padding=1)
    ort = measure_latency(conv, (32, 32), 1, 1, threads=1, warmup=1, repeats=4, backend="onnxruntime")
    assert ort.median_ms > 0 and ort.repeats == 4 and ort.device.backend.startswith("onnxruntime")
    assert ort.device.key().endswith(ort.device.backend) and ort.cv >= 0
    cost = model_cost({"family": "esr-max", "scale": 2, "kernel_size": 3, "channels": 1}, (64, 64),
                      latency=True, threads=1, repeats=2, backend="onnxruntime")
    assert cost.params == 36 and cost.latency.device.backend.startswith("onnxruntime")
    with pytest.raises(ValueError, match="fp32 on cpu only"):
        measure_latency(conv, (32, 32), 1, 1, dtype="fp16", backend="onnxruntime")
    with pytest.raises(ValueError, match="latency backend 'tvm'"):
        measure_latency(conv, (32, 32), 1, 1, backend="tvm")


def test_latency_spread_figures():
    from nas_sr.cost import describe_device
    from nas_sr.cost.latency import _result

    result = _result([1.0, 2.0, 3.0, 10.0], 4, None, describe_device("cpu", threads=1))
    assert result.median_ms == 2.5 and result.iqr_ms == pytest.approx(4.75 - 1.75)  # inclusive quartiles
    assert result.cv == pytest.approx(4.0826 / 4.0, abs=1e-4)  # sample standard deviation / mean


def test_missing_onnxruntime_is_one_line(tmp_path, cli, monkeypatch, make_study):
    import sys

    url = make_study(tmp_path, make_study.configs[:1])
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    status, out, err = cli("profile", "--study", "s", "--storage", url, "--backend", "onnxruntime", *FAST)
    assert status == 2 and err.strip().count("\n") == 0
    assert "needs onnxruntime: pip install 'nas-sr[export]'" in err


def test_profile_errors(tmp_path, cli, make_study):
    url = make_study(tmp_path, make_study.configs[:1])
    for args, message in [(["--trials", "7"], "no trial 7 in study 's' (trials 0..0)"),
                          (["--trials", "0,x"], "'x' is not a trial number"),
                          (["--label", "my pi"], "--label 'my pi'"),
                          (["--device", "tpu"], "device 'tpu'"),
                          (["--cpu-path", "fast"], "cpu path 'fast' is not one of default, native"),
                          (["--cpu-path", "native", "--backend", "onnxruntime"], "torch backend on cpu only")]:
        status, _, err = cli("profile", "--study", "s", "--storage", url, *FAST, *args)
        assert status == 2 and message in err and err.strip().count("\n") == 0, err


@pytest.mark.slow
def test_export_profile_merge_round_trip(tmp_path, cli, make_study):
    from nas_sr.browse.query import open_study
    from nas_sr.export import find_trial, trial_state_dict
    from nas_sr.study.storage import load_existing_study

    url = make_study(tmp_path / "")
    pi = tmp_path / "pi" / "pi.db"
    pi.parent.mkdir()
    status, out, err = cli("study", "export", "--study", "s", "--storage", url, "--out", str(pi), "--trials", "1,2")
    assert status == 0, err
    assert "exported 2 trial(s)" in out and "2 with weights" in out
    copy_url = f"sqlite:///{pi}"
    copy = load_existing_study("s", copy_url)
    original = load_existing_study("s", url)
    assert [t.user_attrs["origin_number"] for t in copy.get_trials()] == [1, 2]
    assert list(copy.metric_names) == ["psnr@val", "latency_ms", "params"]
    for copied in copy.get_trials():
        source = find_trial(original, copied.user_attrs["origin_number"])
        assert copied.values == source.values and copied.user_attrs["config"] == source.user_attrs["config"]
        a, b = trial_state_dict(copied, copy_url), trial_state_dict(source, url)
        assert all(torch.equal(a[k], b[k]) for k in b)  # the weights travelled with the copy
    status, _, err = cli("profile", "--study", "s", "--storage", copy_url, "--trials", "all", "--label", "pi", *FAST)
    assert status == 0, err
    status, out, err = cli("study", "merge", str(pi), "--into", url)
    assert status == 0, err
    assert "merged 8 profile attribute(s) onto 2 trial(s) of study 's' (labels: pi); 0 trial(s) already" in out
    merged, measured = open_study("s", url).trials(), open_study("s", copy_url).trials()
    assert pd_isna(merged.loc[0, "latency_ms@pi"])
    assert list(merged.loc[[1, 2], "latency_ms@pi"]) == list(measured["latency_ms@pi"])
    status, out, _ = cli("study", "merge", str(pi), "--into", url)  # idempotent
    assert "merged 0 profile attribute(s) onto 0 trial(s)" in out and "2 trial(s) already up to date" in out
    status, _, err = cli("study", "export", "--study", "s", "--storage", url, "--out", str(pi))
    assert status == 2 and "exists" in err


def test_merge_refuses_a_config_mismatch(tmp_path, cli, make_study):
    from nas_sr.profile import set_finished_user_attrs
    from nas_sr.study.storage import load_existing_study

    url = make_study(tmp_path, make_study.configs[:2])
    pi = tmp_path / "pi.db"
    assert cli("study", "export", "--study", "s", "--storage", url, "--out", str(pi))[0] == 0
    copy = load_existing_study("s", f"sqlite:///{pi}")
    set_finished_user_attrs(copy, {0: {"config": '{"family": "other"}', "latency_ms@pi": 5.0}})
    status, _, err = cli("study", "merge", str(pi), "--into", url)
    assert status == 2 and "does not match trial 0 of study 's'" in err
    assert "latency_ms@pi" not in load_existing_study("s", url).trials[0].user_attrs


def test_finished_trial_attrs_and_journal_refused(tmp_path, make_study):
    import optuna

    from nas_sr.profile import set_finished_user_attrs
    from nas_sr.study.storage import load_existing_study, open_storage

    url = make_study(tmp_path, make_study.configs[:1])
    study = load_existing_study("s", url)
    with pytest.raises(RuntimeError):  # what Optuna itself allows: not on a finished trial
        study._storage.set_trial_user_attr(study.trials[0]._trial_id, "x", 1)
    assert set_finished_user_attrs(study, {0: {"latency_ms@a": 1.5, "latency_cv@a": 0.01}}) == 2
    assert set_finished_user_attrs(study, {0: {"latency_ms@a": 2.5}}) == 1
    assert load_existing_study("s", url).trials[0].user_attrs["latency_ms@a"] == 2.5
    journal = optuna.create_study(storage=open_storage(f"journal:{tmp_path}/j.log"), study_name="j")
    journal.add_trial(optuna.trial.create_trial(value=1.0))
    with pytest.raises(ValueError, match="journal"):
        set_finished_user_attrs(journal, {0: {"latency_ms@a": 1.0}})


def test_within_noise_flags_neighbours_closer_than_their_spread(tmp_path, make_study):
    from nas_sr.browse.query import open_study
    from nas_sr.profile import set_finished_user_attrs, within_noise
    from nas_sr.study.storage import load_existing_study

    url = make_study(tmp_path)
    study = load_existing_study("s", url)
    set_finished_user_attrs(study, {0: {"latency_ms@pi": 10.0, "latency_iqr_ms@pi": 0.1},
                                    1: {"latency_ms@pi": 12.0, "latency_iqr_ms@pi": 2.5},
                                    2: {"latency_ms@pi": 30.0, "latency_iqr_ms@pi": 0.1}})
    frame = open_study("s", url).trials()
    flags = within_noise(frame, "pi")
    assert flags.name == "within_noise@pi" and flags.tolist() == [True, True, False]
    assert within_noise(frame, "pi", factor=0.5).tolist() == [False, False, False]
    assert within_noise(frame, "agx").isna().all()


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
