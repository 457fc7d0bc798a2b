"""The typed data that crosses to the workers (``TrialSpec``, ``WorkerSettings``, ``TrialResult``) and
the strategy registry (issue 17)."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

from nas_sr.search.spec import TrialResult, TrialSpec, WorkerSettings


def test_worker_settings_are_checked_once_and_read_as_the_dict_given():
    raw = {"max_steps": 40, "batch_size": 4, "resolution": [64, 48], "latency": False, "latency_repeats": 2,
           "threads": 1, "cost_cache": "/tmp/c.json", "device": "cpu", "lr": None}
    settings = WorkerSettings.from_dict(raw)
    assert settings.train.max_steps == 40 and settings.train.batch_size == 4 and settings.train.threads == 1
    assert settings.train.lr == 1e-2  # None: the trainer's default
    assert (settings.resolution, settings.latency, settings.latency_repeats) == ((64, 48), False, 2)
    assert dict(settings) == raw and settings["batch_size"] == 4 and settings.get("nope", 7) == 7
    assert WorkerSettings.of(settings) is settings  # the worker does not check again
    with pytest.raises(ValueError, match="TrainSettings.patch_size"):
        WorkerSettings.from_dict({"patch_size": -1})


def test_worker_settings_with_rungs_validate_at_the_first_rung():
    settings = WorkerSettings.from_dict({"max_steps": 90}).with_rungs("board", 7, [10, 30])
    assert settings.train.validate_every == 10 and settings["validate_every"] == 10
    assert settings.early_stopping == {"board": "board", "trial": 7, "rungs": [10, 30]}


def test_spec_and_result_cross_a_process_boundary():
    spec = TrialSpec(3, {"family": "espcn", "scale": 2}, '{"family":"espcn"}', WorkerSettings.from_dict({}))
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec and again.settings.train == spec.settings.train
    result = TrialResult.from_dict({"state": "complete", "metrics": {"psnr_val": 30.0}, "cost": {"params": 1},
                                    "weights": b"w", "unknown": 1, "rung_values": None})
    assert (result.state, result.metrics, result.weights, result.rung_values) == ("complete", {"psnr_val": 30.0},
                                                                                  b"w", None)
    assert result.get("state") == "complete" and result.get("nothing", 5) == 5
    assert pickle.loads(pickle.dumps(result)) == result


def test_run_trial_with_bad_settings_fails_the_trial_not_the_caller():
    from nas_sr.search.worker import run_trial

    out = run_trial({"family": "bicubic", "scale": 2}, {"batch_size": 0}, {"train": [], "val": {}})
    assert out["state"] == "fail" and "TrainSettings.batch_size" in out["reason"]


def test_a_strategy_registers_itself():
    from nas_sr.search import strategy as module
    from nas_sr.space import SearchSpace

    @module.register_strategy("test-fixed")
    class Fixed(module.Strategy):
        name = "test-fixed"

        @classmethod
        def create(cls, name, space, objectives, *, seed=0, **context):
            made = cls(seed)
            made.context = context
            return made

    try:
        space = SearchSpace.from_dict({"name": "t", "scales": [2], "branches": [{"family": "bicubic"}]})
        made = module.make_strategy("test-fixed", space, [], seed=4, trials=9)
        assert isinstance(made, Fixed) and made.seed == 4 and made.context["trials"] == 9
        assert module.STRATEGIES[-1] == "test-fixed" and "test-fixed" in module.strategy_names()
        with pytest.raises(ValueError, match="registered already"):
            module.register_strategy("test-fixed")(type("Other", (module.Strategy,), {}))
    finally:
        module._REGISTRY.pop("test-fixed", None)
    assert module.STRATEGIES == ("tpe", "nsga2", "random", "grid", "cost-aware")
    with pytest.raises(ValueError, match=r"unknown sampler 'annealing' \(expected one of tpe, nsga2, random, grid, "
                                         r"cost-aware\)"):
        module.make_strategy("annealing", space, [])


def test_strategy_module_does_not_import_its_strategies():
    source = Path(__file__).resolve().parents[1] / "nas_sr" / "search" / "strategy.py"
    imported = {n.module for n in ast.walk(ast.parse(source.read_text())) if isinstance(n, ast.ImportFrom)}
    assert "nas_sr.search.cost_aware" not in imported, imported  # strategies register themselves
    assert imported & {"nas_sr.search.constraints", "nas_sr.study.record"}  # the check sees its imports
