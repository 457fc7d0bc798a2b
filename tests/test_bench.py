"""nas_sr.bench: eSR-Bench's hypervolume measure, evals-to summaries, the CLI, runs on the real table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas_sr.bench.esr import hypervolume, unit_scale
from nas_sr.bench.runner import evals_to, summarize


def test_unit_scale_by_hand():
    # bicubic first: 30 dB, 1000 params, 10 fps; the best PSNR 34; params 10..1000; speed 10..1000
    table = np.array([[30.0, 1000.0, 10.0], [34.0, 100.0, 1000.0], [32.0, 10.0, 100.0]])
    unit = unit_scale(table, ["psnr", "parameters", "speed_AGX"], table)
    assert unit.ravel().tolist() == pytest.approx([0.0, 0.0, 0.0, 1.0, 0.5, 1.0, 0.5, 1.0, 0.5])
    below = unit_scale(np.array([[29.0, 1000.0, 10.0]]), ["psnr", "parameters", "speed_AGX"], table)
    assert below[0, 0] == pytest.approx(-0.25)  # worse than bicubic: below the reference


def test_hypervolume_by_hand():
    # reference (0, -0.1): one point (1, 1) spans 1 x 1.1
    assert hypervolume(np.array([[1.0, 1.0]])) == pytest.approx(1.1)
    # two points: (1, 0) and (0.5, 1): 1 x 0.1 + 0.5 x 1.0
    assert hypervolume(np.array([[1.0, 0.0], [0.5, 1.0]])) == pytest.approx(0.6)
    # a dominated point and one below bicubic add nothing
    assert hypervolume(np.array([[1.0, 0.0], [0.5, 1.0], [0.4, 0.5], [-0.2, 1.0]])) == pytest.approx(0.6)
    # 3-D (reference 0, -0.1, -0.1): 0.5 x 1.0 x 0.5, then a second box adds 0.5 x 0.1 x 0.6 - overlap
    assert hypervolume(np.array([[0.5, 0.9, 0.4]])) == pytest.approx(0.25)
    # with (1, 0, 0): its box 1 x 0.1 x 0.1, less the part inside the first box, 0.5 x 0.1 x 0.1
    both = hypervolume(np.array([[0.5, 0.9, 0.4], [1.0, 0.0, 0.0]]))
    assert both == pytest.approx(0.25 + 0.01 - 0.005)
    assert hypervolume(np.zeros((0, 2))) == 0.0


def test_evals_to_and_summary_on_known_sequences():
    curve = [0.1, 0.5, 0.9, 0.9, 0.96, 0.981, 0.99, 1.0]
    assert [evals_to(curve, t) for t in (0.9, 0.95, 0.98, 0.99, 1.0)] == [3, 5, 6, 7, 8]
    assert evals_to([0.1, 0.97], 0.98) is None
    curves = [[0.9, 0.95, 0.99], [0.5, 0.9, 0.95], [0.95, 0.99, 0.99], [0.1, 0.2, 0.3]]
    s = summarize(curves, (0.9, 0.99))
    assert s["hv_ratio"] == {"median": pytest.approx(0.97), "q25": pytest.approx(0.3 + 0.75 * 0.65), "q75": pytest.approx(0.99)}
    # runs reach 0.9 after 1, 2, 1 evaluations and never: median of (1, 1, 2, never) = 1.5
    assert s["evals_to"] == {"0.9": 1.5, "0.99": None}
    assert s["evals_to_iqr"]["0.9"] == [1.0, None]  # its 75 % quantile lies beyond a run that never got there


@pytest.fixture(scope="module")
def instance_b2(shared):
    from nas_sr.bench.esr import load_instance

    return load_instance(shared / "esr" / "tests.pkl", "B", 2, trust_pickle=True)


def test_instance_is_the_space_at_one_scale(instance_b2):
    assert len(instance_b2.rows) == 395 and instance_b2.space.scales == (2,)
    assert [o.name for o in instance_b2.objectives] == ["psnr", "log10_params"]
    assert instance_b2.hv_ratio(list(instance_b2.rows)) == 1.0
    from nas_sr.models.registry import config_key

    bicubic = config_key({"color": "y", "family": "bicubic", "scale": 2})
    assert instance_b2.units[bicubic][0] == 0.0
    attrs = instance_b2.attrs(bicubic)
    assert attrs["log10_params"] == pytest.approx(np.log10(attrs["table_parameters"]))


def test_runs_on_the_table(instance_b2):
    from optuna.trial import TrialState

    from nas_sr.bench.runner import run_strategy

    grid, _ = run_strategy(instance_b2, "grid", 395, 0)
    assert grid[-1] == 1.0 and grid[-2] <= 1.0 and len(grid) == 395
    curve, study = run_strategy(instance_b2, "random", 40, 1)
    assert len(curve) == 40 and all(a <= b for a, b in zip(curve, curve[1:]))  # monotone in budget
    trials = study.get_trials()
    assert len(trials) == 40  # every proposal spends an evaluation, repeats (PRUNED) included
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert curve[-1] == pytest.approx(instance_b2.hv_ratio([t.user_attrs["config"] for t in complete]))
    for t in trials:
        if t.state == TrialState.PRUNED:
            assert study.trials[t.user_attrs["duplicate_of"]].user_attrs["config"] == t.user_attrs["config"]


def test_tpe_sees_a_pruned_repeat_as_a_repeated_complete_trial(instance_b2):
    """The shared step tells a repeat PRUNED; a plain Optuna loop would tell it COMPLETE again with
    the same values. TPE proposes the same sequence either way (HSSP never picks a copy for its
    "below" group, and pruned trials join "above" like the copies do), so the bench is the baseline."""
    import optuna

    from nas_sr.bench.runner import run_strategy
    from nas_sr.models.registry import config_key
    from nas_sr.search.strategy import make_strategy

    _, study = run_strategy(instance_b2, "tpe", 60, 3)
    ours = [t.user_attrs["config"] for t in study.trials]
    plain = optuna.create_study(sampler=make_strategy("tpe", instance_b2.space, instance_b2.objectives, seed=3,
                                                      trials=60).sampler(),
                                directions=[o.direction for o in instance_b2.objectives])
    keys: list[str] = []

    def objective(trial):
        keys.append(config_key(instance_b2.space.suggest(trial)))
        attrs = instance_b2.attrs(keys[-1])
        return [o.value(attrs) for o in instance_b2.objectives]

    plain.optimize(objective, n_trials=60)
    assert len(set(keys)) < 60  # repeats happened
    assert keys == ours


def test_costs_known_before_training_include_parameters(shared):
    from nas_sr.bench.esr import load_instance
    from nas_sr.models.registry import config_key

    instance = load_instance(shared / "esr" / "tests.pkl", "A", 3, trust_pickle=True)
    config = next(instance.space.enumerate())
    costs = instance.cost_attrs(config)
    assert set(costs) == {"log10_speed_AGX", "log10_params"}  # no PSNR: that needs training
    assert costs["log10_params"] == pytest.approx(np.log10(instance.parameters[config_key(config)]))
    assert costs["log10_speed_AGX"] == pytest.approx(np.log10(instance.rows[config_key(config)][1]))


def test_cost_aware_records_why(instance_b2):
    from nas_sr.bench.runner import run_strategy

    curve, study = run_strategy(instance_b2, "cost-aware", 16, 0)
    trials = study.get_trials()
    assert len({t.user_attrs["config"] for t in trials}) == 16  # no repeats
    initial = [t for t in trials if t.user_attrs["proposal"] == "initial design"]
    # each family's smallest and largest configuration (bicubic has one): 1 + 6 x 2
    assert len(initial) == 13
    for family in ("esr-max", "esr-tm", "esr-tr", "esr-cnn", "espcn", "fsrcnn"):
        sizes = [instance_b2.parameters[k] for k in instance_b2.rows if f'"family":"{family}"' in k]
        tried = sorted(t.user_attrs["table_parameters"] for t in initial if t.user_attrs["family"] == family)
        assert tried == [min(sizes), max(sizes)]
    chosen = [t for t in trials if t.user_attrs["proposal"] == "expected HV improvement"]
    assert len(chosen) == 16 - len(initial) > 0
    for t in chosen:
        assert t.user_attrs["predicted_objective"] == "psnr"
        assert 25 < t.user_attrs["predicted_mean"] < 40 and t.user_attrs["predicted_std"] >= 0
        assert t.user_attrs["acquisition"] >= 0
    assert curve[-1] > curve[len(initial) - 1]


def test_cost_aware_initial_design_is_seeded(instance_b2):
    """Beyond each family's extremes, a long search's initial design draws inner candidates with
    its seed (so a median over seeds is over different runs); a short one keeps its trials for the
    model."""
    from nas_sr.search.cost_aware import CostAwareStrategy

    def design(seed, trials):
        strategy = CostAwareStrategy(instance_b2.space, instance_b2.objectives, instance_b2.cost_attrs,
                                     seed=seed, trials=trials)
        pool = strategy._prepare()
        return [pool[i].key for i in strategy._order]

    first, second = design(0, 100), design(1, 100)
    assert len(first) == len(second) == CostAwareStrategy.max_initial == 16
    assert first[:13] == second[:13]  # the 13 extremes, in the same order
    assert first[13:] != second[13:] and not set(first[13:]) & set(first[:13])
    assert design(0, 20) == first[:13]  # 20 trials: the extremes only


def test_cli_json_shape(cli, shared):
    status, out, err = cli("bench", "esr", "--table", str(shared / "esr" / "tests.pkl"), "--trust-pickle",
                           "--problem", "C", "--scale", "4", "--strategy", "random", "--budget", "15", "--seeds", "2",
                           "--format", "json")
    assert status == 0, err
    result = json.loads(out)
    assert list(result) == ["problem", "scale", "strategy", "budget", "seeds", "mode", "hv_ratio", "evals_to"]
    assert result["mode"] == "exact"
    assert (result["problem"], result["scale"], result["strategy"], result["budget"], result["seeds"]) == (
        "C", 4, "random", 15, 2)
    assert set(result["hv_ratio"]) == {"median", "q25", "q75"}
    assert 0 <= result["hv_ratio"]["q25"] <= result["hv_ratio"]["median"] <= result["hv_ratio"]["q75"] <= 1
    assert set(result["evals_to"]) == {"0.9", "0.95", "0.98", "0.99"}
    assert all(v is None or 1 <= v <= 15 for v in result["evals_to"].values())


def test_cli_one_line_errors(cli, shared, tmp_path):
    status, _, err = cli("bench", "esr", "--table", str(shared / "esr" / "tests.pkl"), "--problem", "A", "--scale", "2")
    assert status == 2 and "--trust-pickle" in err and err.count("\n") == 1
    status, _, err = cli("bench", "esr", "--table", str(tmp_path / "none.pkl"), "--trust-pickle", "--problem", "A",
                         "--scale", "2")
    assert status == 2 and "none.pkl" in err and err.count("\n") == 1
