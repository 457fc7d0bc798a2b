"""nas_sr.search.strategy and cost_aware: exact EHVI, the strategies, cost-aware in a real run_search."""

from __future__ import annotations

import numpy as np
import pytest

from nas_sr.search.cost_aware import expected_hvi, uncovered


def _hv(points: np.ndarray, reference: np.ndarray) -> float:
    from optuna._hypervolume import compute_hypervolume

    inside = points[(points > reference).all(axis=1)]
    return float(compute_hypervolume(-inside, -reference)) if len(inside) else 0.0


@pytest.mark.parametrize("dims", [2, 3, 4])
def test_uncovered_is_the_hypervolume_gain_of_a_certain_point(dims):
    rng = np.random.default_rng(dims)
    front, boxes, reference = rng.random((6, dims - 1)), rng.random((20, dims - 1)), np.full(dims - 1, -0.1)
    gains = [_hv(np.vstack([front, b]), reference) - _hv(front, reference) for b in boxes]
    assert uncovered(front, boxes, reference) == pytest.approx(gains, abs=1e-12)


@pytest.mark.parametrize("dims", [2, 3])
def test_expected_hvi_matches_monte_carlo(dims):
    rng = np.random.default_rng(7)
    reference = np.full(dims, -0.1)
    front = rng.random((5, dims))
    others = rng.random((4, dims - 1))
    mean, std = rng.random(4), 0.05 + 0.3 * rng.random(4)
    exact = expected_hvi(front, others, mean, std, reference, axis=0)
    base = _hv(front, reference)
    for i in range(4):
        draws = rng.normal(mean[i], std[i], 4000)
        gains = [_hv(np.vstack([front, [p, *others[i]]]), reference) - base for p in draws]
        assert exact[i] == pytest.approx(np.mean(gains), abs=4 * np.std(gains) / np.sqrt(len(draws)) + 1e-9)


def test_tpe_is_multivariate_and_grouped():
    from nas_sr.search.strategy import make_strategy
    from nas_sr.space import SearchSpace

    space = SearchSpace.from_dict({"name": "t", "scales": [2], "branches": [{"family": "bicubic"}]})
    sampler = make_strategy("tpe", space, [], trials=200).sampler()
    assert sampler._multivariate and sampler._group and sampler._n_startup_trials == 10
    with pytest.raises(ValueError, match="unknown sampler 'annealing'"):
        make_strategy("annealing", space, [])


SPACE = {"name": "tiny", "scales": [2], "color": "y", "branches": [
    {"family": "esr-max", "params": {"kernel_size": [3, 5], "channels": [1, 2, 4]}},
    {"family": "esr-tm", "params": {"kernel_size": [3, 5], "channels": [2, 4]}}]}


def fake_trial(config, settings, data):
    """Costs as a real trial measures them (no latency); PSNR a known function of the parameters."""
    import io
    import math

    import torch

    from nas_sr.search.worker import measure_cost

    cost = measure_cost(config, settings)
    buffer = io.BytesIO()
    torch.save({}, buffer)
    bonus = 0.3 if config["family"] == "esr-tm" else 0.0
    return {"state": "complete", "cost": cost, "metrics": {"psnr_val": 30.0 + math.log10(cost["params"]) + bonus,
            "ssim_val": 0.9}, "steps": 1, "seconds": 0.0, "curve": [], "final_loss": 0.0,
            "weights": buffer.getvalue()}


@pytest.mark.slow
def test_cost_aware_is_the_default_of_a_real_search(tmp_path):
    import ray
    from optuna.trial import TrialState

    from nas_sr.cli import build_parser
    from nas_sr.search.driver import SearchOptions, run_search
    from nas_sr.space import SearchSpace

    assert build_parser().parse_args(["search"]).sampler == "cost-aware"  # `nas-sr search` with no arguments

    settings = {"latency": False, "resolution": [64, 64], "cost_cache": str(tmp_path / "costs.json")}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        opts = SearchOptions(space=SearchSpace.from_dict(SPACE), train_images=[], val_sets={"val": []}, study="ca",
                             storage=f"sqlite:///{tmp_path}/db.sqlite", trials=8, workers=2,
                             objectives="psnr,params,flops", settings=settings, progress=False, trial_fn=fake_trial)
        outcome = run_search(opts)
    finally:
        ray.shutdown()
    trials = outcome.study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert outcome.complete == len(complete) == 8 and len(trials) == 8  # no repeated proposal
    assert len({t.user_attrs["config"] for t in complete}) == 8
    assert all(t.user_attrs["sampler"] == "cost-aware" for t in trials)
    initial = [t for t in trials if t.user_attrs["proposal"] == "initial design"]
    # each family's smallest and largest: an 8-trial search keeps the other half for the model
    assert len(initial) == 4 and {t.user_attrs["family"] for t in initial} == {"esr-max", "esr-tm"}
    chosen = [t for t in trials if t.user_attrs["proposal"] == "expected HV improvement"]
    assert len(chosen) == 8 - len(initial)
    for t in chosen:
        assert t.user_attrs["predicted_objective"] == "psnr@val"
        assert np.isfinite(t.user_attrs["predicted_mean"]) and t.user_attrs["predicted_std"] >= 0
        assert t.user_attrs["acquisition"] >= 0
    assert len(initial) < 8
    # the candidates' costs came from the cost cache the trials share
    assert (tmp_path / "costs.json").is_file()


def test_candidate_flops_scale_from_a_small_input(tmp_path):
    """Candidates' FLOPs are counted on a 64x64 LR input and scaled by the pixel ratio: for
    convolutions that is the count at the search's resolution."""
    from nas_sr.cost import model_cost
    from nas_sr.search.driver import candidate_cost_fn

    cost = candidate_cost_fn({"resolution": (1920, 1080), "cost_cache": str(tmp_path / "costs.json")})
    for config in ({"family": "esr-cnn", "scale": 2, "channels": 4, "width1": 3, "width2": 6},
                   {"family": "fsrcnn", "scale": 3, "features": 19, "shrink": 6, "mapping_layers": 2}):
        full = model_cost(config, (1920, 1080))
        assert cost(config) == {"params": full.params, "flops": pytest.approx(full.flops, rel=1e-9)}
        # no objective or constraint needs FLOPs: the parameters alone, no forward pass
        assert candidate_cost_fn({"resolution": (1920, 1080)}, flops=False)(config) == {"params": full.params}


def _one_family(widest):
    """A cost-aware strategy over eSR-MAX 3x3 of 1..``widest`` channels (PSNR, parameters), prepared,
    and each candidate's channels."""
    from nas_sr.search.cost_aware import CostAwareStrategy
    from nas_sr.search.objectives import Objective
    from nas_sr.space import SearchSpace

    space = SearchSpace.from_dict({"name": "one", "scales": [2], "color": "y", "branches": [
        {"family": "esr-max", "params": {"kernel_size": [3], "channels": {"low": 1, "high": widest}}}]})
    objectives = [Objective("psnr", "psnr", "maximize"), Objective("params", "params", "minimize")]
    strategy = CostAwareStrategy(space, objectives, lambda c: {"params": 9.0 * c["channels"]})
    return strategy, np.array([c.config["channels"] for c in strategy._prepare()])


def test_a_failed_training_does_not_drag_its_neighbours_down():
    """A trained value far under the rest (a training that failed) is censored at the floor: the
    prediction for its untried neighbour stays near the family's trend, where an uncensored fit
    pulls it down."""
    from nas_sr.search.cost_aware import CostAwareStrategy

    strategy, channels = _one_family(16)
    trend = 30.0 + np.log2(channels)  # PSNR rises with the width
    trained = np.flatnonzero(channels != 9)
    target = trend[trained].copy()
    target[channels[trained] == 8] = 25.0  # width 8 failed to train
    neighbour = int(np.flatnonzero(channels == 9)[0])

    def predicted(noise):
        strategy.censored_noise, strategy._kernels = noise, {}
        mean, _ = strategy._predict(0, trained, target)
        return mean[neighbour]

    assert abs(predicted(CostAwareStrategy.censored_noise) - trend[neighbour]) < 0.05  # measured: 0.005
    assert predicted(0.0) < trend[neighbour] - 0.1  # measured: 0.22 low


def test_hyper_parameters_are_refitted_on_a_schedule_of_trained_trials():
    """The kernel is refitted every 5 trained trials, every 5 % beyond 100, counted in trained
    trials (the fitted rows stop growing at max_fit_rows, so a count of rows refitted at every
    proposal); in between the last fit's hyper-parameters are kept. A first fit on more rows than
    first_fit_rows starts from a fit on a subsample and ends near the full fit."""
    from nas_sr.search.cost_aware import CostAwareStrategy
    from nas_sr.search.objectives import Objective
    from nas_sr.space import SearchSpace

    space = SearchSpace.from_dict({"name": "grid", "scales": [2], "color": "y", "branches": [
        {"family": "espcn", "params": {"width1": {"low": 1, "high": 20}, "width2": {"low": 1, "high": 10}}}]})
    objectives = [Objective("psnr", "psnr", "maximize"), Objective("params", "params", "minimize")]
    strategy = CostAwareStrategy(space, objectives, lambda c: {"params": 9.0 * c["width1"] * c["width2"]}, seed=1)
    due = strategy._refit_due
    assert due(None, 16) and not due(16, 19) and due(16, 20)
    assert not due(400, 419) and due(400, 420)  # 5 % of 400: every 20
    pool = strategy._prepare()
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(pool), 80, replace=False))
    target = strategy._features[rows] @ rng.normal(size=strategy._features.shape[1]) + rng.normal(0, 0.05, 80)
    mean, _ = strategy._predict(0, rows, target, trained=300)
    kernel = strategy._kernels[0]
    assert strategy._fitted_at[0] == 300
    strategy._predict(0, rows, target, trained=301)
    assert np.array_equal(strategy._kernels[0].theta, kernel.theta) and strategy._fitted_at[0] == 300
    strategy._predict(0, rows, target, trained=315)
    assert strategy._fitted_at[0] == 315
    # From the subsample's start (80 rows > 60) or the default one: the same predictions, nearly.
    strategy.first_fit_rows, strategy._kernels, strategy._fitted_at = 1000, {}, {}
    direct, _ = strategy._predict(0, rows, target, trained=300)
    assert np.abs(mean - direct).max() < 0.1 * target.std()


def test_a_running_trial_is_taken_one_standard_deviation_below_its_prediction():
    """A pending candidate is fantasised at its predicted mean less ``pending_lie`` (calibrated)
    standard deviations, as data: the model is then surer of it, and its neighbours' predictions
    fall toward the lie."""
    strategy, channels = _one_family(32)
    trained = np.flatnonzero(np.isin(channels, [1, 2, 4, 8, 16, 32]))
    target = 30.0 + np.log2(channels[trained]) + np.array([0.1, -0.1, 0.05, -0.05, 0.1, -0.1])
    pending = np.flatnonzero(channels == 11)
    beside = int(np.flatnonzero(channels == 12)[0])

    def predict(lie):
        strategy.pending_lie, strategy._kernels, strategy._fitted_at = lie, {}, {}
        return strategy._predict(0, trained, target, pending)

    alone, spread = strategy._predict(0, trained, target)  # no trial running
    mean0, std0 = predict(0.0)
    mean1, std1 = predict(1.0)
    i = int(pending[0])
    assert spread[i] > 0.05  # untried: uncertain (measured 0.14)
    assert mean0[i] == pytest.approx(alone[i], abs=0.01 * spread[i]) and std0[i] < 0.9 * spread[i]  # at the mean
    # one standard deviation lower, as data with the model's noise: measured 0.54 of it lower
    assert alone[i] - spread[i] < mean1[i] < alone[i] - 0.3 * spread[i] and std1[i] < 0.9 * spread[i]
    assert mean1[beside] < mean0[beside] - 0.3 * spread[beside]  # the neighbour follows it (measured 0.53)
