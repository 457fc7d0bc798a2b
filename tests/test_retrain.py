"""nas-sr retrain: a chosen trial trained again, recorded as a new trial linked to it."""

from __future__ import annotations


import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_torch_thread")




def test_retrain_records_a_linked_trial_with_its_own_weights(tmp_path, make_study, bundled_crops):
    from nas_sr.export import trial_model, trial_state_dict
    from nas_sr.export.retrain import retrain_trial
    from nas_sr.study.storage import load_existing_study

    url = make_study(tmp_path)
    new = retrain_trial("s", url, 1, 30, None, bundled_crops("train", 96), {"val": bundled_crops("val", 64)})
    assert new.state.name == "COMPLETE", new.user_attrs.get("fail_reason")
    study = load_existing_study("s", url)
    original = study.trials[1]
    assert new.number == 3 and new.user_attrs["retrain_of"] == 1
    assert new.user_attrs["retrain_budget"] == {"steps": 30, "seconds": None}
    assert new.user_attrs["steps"] == 30 and new.user_attrs["config"] == original.user_attrs["config"]
    assert new.values[0] == new.user_attrs["psnr_val"] and new.values[2] == original.user_attrs["params"]
    assert new.user_attrs["weights_artifact"] != original.user_attrs["weights_artifact"]
    before, after = trial_state_dict(original, url), trial_state_dict(new, url)
    assert not all(torch.equal(before[k], after[k]) for k in before)  # trained from scratch, its own weights
    assert trial_model(new, url) is not None


def test_retrain_cli(tmp_path, cli, make_study):
    url = make_study(tmp_path)
    status, out, err = cli("retrain", "--study", "s", "--storage", url, "--trial", "0", "--steps", "20",
                           "--threads", "1")
    assert status == 0, err
    assert "trial 3 = retrain of trial 0: 20 steps" in out
    status, out, _ = cli("trials", "--study", "s", "--storage", url, "--format", "csv")
    header, *rows = out.splitlines()
    assert "retrain_of" in header.split(",")
    status, _, err = cli("retrain", "--study", "s", "--storage", url, "--trial", "42", "--steps", "5")
    assert status == 2 and "no trial 42 in study 's'" in err and err.strip().count("\n") == 0
