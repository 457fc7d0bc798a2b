"""Search spaces: the edge-SR space, counting, enumeration, ranges and Optuna sampling."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nas_sr.cli import main
from nas_sr.models import registry
from nas_sr.models.base import Family
from nas_sr.models.esr_ids import esr_id_from_config
from nas_sr.space import Fixed, FloatRange, IntRange, SearchSpace, SpaceError, load_space

REPO = Path(__file__).resolve().parents[1]
EDGE_SR = REPO / "search_spaces" / "edge_sr.yaml"
EDGE_SR_SMALL = REPO / "search_spaces" / "edge_sr_small.yaml"


def key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True)


def space(*branches: dict[str, Any], scales: tuple[int, ...] = (2,)) -> SearchSpace:
    return SearchSpace.from_dict({"name": "t", "scales": list(scales), "branches": list(branches)})


def test_edge_sr_has_the_1185_configurations() -> None:
    edge_sr = load_space(EDGE_SR)
    configs = list(edge_sr.enumerate())
    assert edge_sr.count() == len(configs) == 1185
    assert len({key(c) for c in configs}) == 1185
    assert Counter(c["scale"] for c in configs) == {2: 395, 3: 395, 4: 395}
    assert {c["color"] for c in configs} == {"y"}


def test_edge_sr_ids_are_the_table_keys(esr_table: dict) -> None:
    ids = {esr_id_from_config(c) for c in load_space(EDGE_SR).enumerate()}
    assert ids == set(esr_table)


def test_edge_sr_small_is_a_small_x2_subset_of_the_table(esr_table: dict) -> None:
    small = load_space(EDGE_SR_SMALL)
    configs = list(small.enumerate())
    assert 40 <= small.count() == len(configs) <= 80
    assert {c["scale"] for c in configs} == {2}
    assert {esr_id_from_config(c) for c in configs} <= set(esr_table)
    assert {c["family"] for c in configs} == {"esr-max", "esr-tm", "esr-tr", "esr-cnn", "espcn", "fsrcnn", "bicubic"}


def test_enumerate_is_deterministic_and_canonical() -> None:
    first, second = list(load_space(EDGE_SR).enumerate()), list(load_space(EDGE_SR).enumerate())
    assert first == second
    assert first[0] == {"channels": 1, "color": "y", "family": "esr-max", "kernel_size": 3, "scale": 2}
    assert all(list(c) == sorted(c) for c in first)
    assert first[-1] == {"color": "y", "family": "bicubic", "scale": 4, "trainable": True}


def test_cli_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", "show", str(EDGE_SR), "--count"]) == 0
    assert capsys.readouterr().out == "1185\n"


@pytest.mark.slow
def test_cli_count_in_a_real_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nas_sr", "space", "show", "search_spaces/edge_sr.yaml", "--count"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "1185\n", "")


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_cli_enumerate(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", "show", str(EDGE_SR_SMALL), "--enumerate", "--format", fmt]) == 0
    out = capsys.readouterr().out
    configs = json.loads(out) if fmt == "json" else [json.loads(line) for line in out.splitlines()]
    assert configs == list(load_space(EDGE_SR_SMALL).enumerate())


def test_cli_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", "show", str(EDGE_SR)]) == 0
    out = capsys.readouterr().out
    assert "search space edge_sr" in out and "scales: 2, 3, 4; color: y" in out
    assert "espcn-wide" in out and "channels in 1..16" in out and "trainable = True (default)" in out
    assert out.rstrip().endswith("total: 1185 configurations")


def test_cli_format_needs_enumerate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["space", "show", str(EDGE_SR), "--format", "json"]) == 2
    assert "--format goes with --enumerate" in capsys.readouterr().err


def test_suggest_samples_configurations_of_the_space() -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    edge_sr = load_space(EDGE_SR)
    allowed = {key(c) for c in edge_sr.enumerate()}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = []
    study.optimize(lambda trial: configs.append(edge_sr.suggest(trial)) or 0.0, n_trials=80)
    assert all(key(c) in allowed for c in configs)
    assert len({c["family"] for c in configs}) >= 5 and len({c["scale"] for c in configs}) == 3
    branches = {b.name: b for b in edge_sr.branches}
    assert len({t.params["branch"] for t in study.trials}) >= 6
    for trial in study.trials:  # the chosen branch's varying hyper-parameters, named after it
        branch = branches[trial.params["branch"]]
        varying = {f"{branch.name}.{p}" for p, values in branch.params.items() if not isinstance(values, Fixed)}
        assert set(trial.params) == {"branch", "scale"} | varying
        assert trial.params["scale"] == configs[trial.number]["scale"]


def test_suggest_skips_fixed_values_and_a_single_scale() -> None:
    optuna = pytest.importorskip("optuna")
    tiny = space({"family": "esr-tm", "params": {"kernel_size": 5, "channels": {"low": 2, "high": 8, "step": 3}}})
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    config = tiny.suggest(trial)
    assert set(trial.params) == {"branch", "esr-tm.channels"}
    assert config["kernel_size"] == 5 and config["channels"] in (2, 5, 8) and config["scale"] == 2
    fixed = optuna.trial.FixedTrial({"branch": "esr-tm", "esr-tm.channels": 5})
    assert tiny.suggest(fixed) == {"channels": 5, "color": "y", "family": "esr-tm", "kernel_size": 5, "scale": 2}


def test_int_ranges_with_step_and_log() -> None:
    stepped = space({"family": "esr-max", "params": {"kernel_size": {"low": 3, "high": 9, "step": 2},
                                                     "channels": {"low": 1, "high": 64, "log": True}}},
                    scales=(2, 4))
    params = stepped.branches[0].params
    assert params["kernel_size"] == IntRange(3, 9, 2) and params["channels"] == IntRange(1, 64, 1, log=True)
    configs = list(stepped.enumerate())
    assert stepped.count() == len(configs) == 4 * 64 * 2
    assert sorted({c["kernel_size"] for c in configs}) == [3, 5, 7, 9]
    assert sorted({c["channels"] for c in configs}) == list(range(1, 65))


def test_branches_of_one_family_that_overlap_count_once() -> None:
    overlap = space({"family": "espcn", "name": "a", "params": {"width1": [0, 1, 2], "width2": [3, 9]}},
                    {"family": "espcn", "name": "b", "params": {"width1": [2, 3], "width2": [9, 15]}},
                    {"family": "espcn", "name": "c", "params": {"width1": 2, "width2": 9}},
                    scales=(2, 3))
    configs = list(overlap.enumerate())
    assert len({key(c) for c in configs}) == len(configs) == overlap.count() == (6 + 4 - 1) * 2
    assert "total: 18 configurations (4 in several branches counted once)" in overlap.summary()


class _Toy(Family):
    """A family with a float and a bool hyper-parameter, registered only during a test."""

    name = "toy"
    hyperparameters = {"rate": float, "depth": int, "gated": bool}
    defaults = {"gated": False}

    def build(self, config: Any) -> Any:
        raise NotImplementedError


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.family_names()  # load the built-in families first
    monkeypatch.setitem(registry._FAMILIES, "toy", _Toy())


def test_float_ranges(toy: None) -> None:
    stepped = space({"family": "toy", "params": {"rate": {"low": 0, "high": 1, "step": 0.25}, "depth": 2,
                                                 "gated": [True, False]}})
    assert stepped.branches[0].params["rate"] == FloatRange(0.0, 1.0, 0.25)
    configs = list(stepped.enumerate())
    assert stepped.count() == len(configs) == 10
    assert sorted({c["rate"] for c in configs}) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert {type(c["rate"]) for c in configs} == {float}


def test_continuous_ranges_can_be_sampled_but_not_counted(toy: None) -> None:
    optuna = pytest.importorskip("optuna")
    continuous = space({"family": "toy", "params": {"rate": {"low": 1e-4, "high": 0.1, "log": True},
                                                    "depth": [1, 2]}})
    for method in (continuous.count, lambda: next(continuous.enumerate())):
        with pytest.raises(SpaceError, match=r"^<dict>: branches\[0\]\.params\.rate: a continuous range "
                                             r"cannot be counted or enumerated; give it a step or a list"):
            method()
    assert "total: infinite (continuous ranges)" in continuous.summary()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    rates = [continuous.suggest(study.ask())["rate"] for _ in range(20)]
    assert all(1e-4 <= r <= 0.1 for r in rates) and len(set(rates)) == 20


def test_float_given_as_yaml_1e_string_gets_a_hint(toy: None) -> None:
    with pytest.raises(SpaceError, match=r"branches\[0\]\.params\.rate\.low: expected a float \(YAML reads"):
        space({"family": "toy", "params": {"rate": {"low": "1e-3", "high": 0.1}, "depth": 1}})


def test_merge_keys_share_params_and_may_be_overridden(tmp_path: Path) -> None:
    """``<<: *anchor`` (as the shipped vapsr.yaml uses) merges; a merged key may be set again, a key
    written twice may not."""
    text = """\
name: merged
scales: [2]
color: y
branches:
  - family: esr-tm
    params: &base {kernel_size: [3, 5], channels: [1, 2]}
  - family: esr-tr
    params:
      <<: *base
      channels: [4]
"""
    (tmp_path / "s.yaml").write_text(text)
    space = load_space(tmp_path / "s.yaml")
    assert space.count() == 4 + 2
    assert {c["channels"] for c in space.enumerate() if c["family"] == "esr-tr"} == {4}
    (tmp_path / "twice.yaml").write_text(text.replace("channels: [4]", "channels: [4]\n      channels: [8]"))
    with pytest.raises(SpaceError, match="duplicate key 'channels'"):
        load_space(tmp_path / "twice.yaml")
