"""nas_sr.samplers.CostAwareSampler: the cost-aware strategy as an Optuna sampler, in a plain
``study.optimize``, with ask-and-tell, with threads and through Ray Tune's ``OptunaSearch``."""

from __future__ import annotations

import doctest
import math
import pickle
import re
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas_sr.samplers import CostAwareSampler
from nas_sr.space import SearchSpace

ROOT = Path(__file__).resolve().parents[1]

TINY = SearchSpace.from_dict({"name": "tiny", "scales": [2], "branches": [
    {"family": "espcn", "params": {"width1": [0, 1, 2], "width2": [3, 6, 9]}}]})
# 36 configurations of three families, each family's PSNR a saturating curve of its log parameters.
SYNTHETIC = SearchSpace.from_dict({"name": "synthetic", "scales": [2], "branches": [
    {"family": "espcn", "params": {"width1": [0, 1, 2, 3], "width2": [3, 6, 9]}},
    {"family": "esr-tm", "params": {"kernel_size": [3, 5, 7], "channels": [2, 4, 6, 8]}},
    {"family": "fsrcnn", "params": {"features": [6, 12, 19], "shrink": [1, 3], "mapping_layers": [1, 4]}}]})
BASE = {"espcn": 28.0, "esr-tm": 28.6, "fsrcnn": 27.4}


@pytest.fixture(autouse=True)
def quiet():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def synthetic_psnr(config, params):
    return BASE[config["family"]] + 1.2 * math.tanh(math.log10(params) - 2.0) + 0.1 * (config.get("kernel_size") == 5)


def keys(sampler, trials):
    return [sampler._key(t.params) for t in trials]


def hypervolume(points, reference=(27.0, 5.0)):
    """Area dominated by (psnr, params) points (PSNR up, log10 params down) up to ``reference``."""
    front, best = [], reference[0]
    for x, psnr in sorted((math.log10(p), q) for q, p in points):
        if psnr > best:
            front.append((x, psnr))
            best = psnr
    return sum(((front[i + 1][0] if i + 1 < len(front) else reference[1]) - x) * (psnr - reference[0])
               for i, (x, psnr) in enumerate(front))


def test_the_module_example_runs():
    import nas_sr.samplers

    result = doctest.testmod(nas_sr.samplers, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0


def test_optimize_proposes_distinct_configs_first_by_design_then_by_the_model():
    sampler = CostAwareSampler(SYNTHETIC, ["psnr", "params"], seed=0, n_trials=12)
    assert sampler.directions == ["maximize"] and [o.name for o in sampler.trained_objectives] == ["psnr"]

    def objective(trial):
        config = SYNTHETIC.suggest(trial)
        return synthetic_psnr(config, sampler.cost_fn(config)["params"])

    proposed = []
    propose = sampler.strategy.propose

    def spy(study, known):  # what the strategy proposed, to compare with what the objective got
        proposal = propose(study, known)
        proposed.append(proposal.params)
        return proposal

    sampler.strategy.propose = spy
    study = optuna.create_study(directions=sampler.directions, sampler=sampler)
    study.optimize(objective, n_trials=12)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 12
    assert [t.params for t in trials] == proposed  # every parameter the objective asked: the proposal's
    assert len(set(keys(sampler, trials))) == 12
    proposals = [t.user_attrs["proposal"] for t in trials]
    design = proposals.index("expected HV improvement")
    assert design >= 3 and proposals[:design] == ["initial design"] * design
    assert proposals[design:] == ["expected HV improvement"] * (12 - design)
    for t in trials[design:]:  # the model's explanation, as nas-sr search records it
        assert t.user_attrs["predicted_objective"] == "psnr"
        assert 26 < t.user_attrs["predicted_mean"] < 31 and t.user_attrs["predicted_std"] >= 0
        assert t.user_attrs["acquisition"] >= 0
    # the design covers every family
    assert {sampler.config(t)["family"] for t in trials[:design]} == {"espcn", "esr-tm", "fsrcnn"}
    front = sampler.front(study)
    assert front and all(len(sampler.all_values(t)) == 2 for t in front)
    assert sampler.all_values(trials[0])[1] == sampler.cost_fn(sampler.config(trials[0]))["params"]


def test_more_hypervolume_than_random_sampling_with_the_same_budget():
    counted = CostAwareSampler(SYNTHETIC, ["psnr", "params"]).cost_fn
    points = [(synthetic_psnr(c, counted(c)["params"]), counted(c)["params"]) for c in SYNTHETIC.enumerate()]
    best = hypervolume(points)

    def reached(sampler):
        def objective(trial):
            config = SYNTHETIC.suggest(trial)
            return synthetic_psnr(config, counted(config)["params"])

        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=10)
        configs = [SYNTHETIC.suggest(optuna.trial.FixedTrial(t.params)) for t in study.trials]
        return hypervolume([(t.value, counted(c)["params"]) for t, c in zip(study.trials, configs)]) / best

    seeds = range(5)
    aware = [reached(CostAwareSampler(SYNTHETIC, ["psnr", "params"], seed=s, n_trials=10, cost_fn=counted))
             for s in seeds]
    random = [reached(optuna.samplers.RandomSampler(seed=s)) for s in seeds]
    # measured: cost-aware 0.976 at every seed (0.988 before the floor at the median and the
    # reference at -0.02, chosen on eSR-Bench); random 0.65-0.98 (mean 0.88)
    assert min(aware) >= 0.97
    assert sum(aware) / 5 >= sum(random) / 5 + 0.05
    assert sum(a > r for a, r in zip(aware, random)) >= 4


def test_running_trials_are_taken_so_concurrent_asks_never_repeat():
    sampler = CostAwareSampler(TINY, ["psnr", "params"], seed=0)
    study = optuna.create_study(directions=sampler.directions, sampler=sampler)
    asked = [study.ask() for _ in range(9)]  # nine workers at once: none told yet
    configs = [TINY.suggest(t) for t in asked]
    assert len({(c["width1"], c["width2"]) for c in configs}) == 9
    for t, c in zip(asked, configs):
        study.tell(t, 30 + 0.1 * c["width2"])
    # threads share one sampler: proposals are made one at a time, each seeing the others'
    sampler = CostAwareSampler(SYNTHETIC, ["psnr", "params"], seed=1)
    study = optuna.create_study(directions=sampler.directions, sampler=sampler)
    study.optimize(lambda t: synthetic_psnr(c := SYNTHETIC.suggest(t), sampler.cost_fn(c)["params"]),
                   n_trials=10, n_jobs=2)
    assert len(set(keys(sampler, study.trials))) == 10


def test_a_failed_config_is_censored_not_proposed_again_and_a_spent_space_stops_the_study():
    sampler = CostAwareSampler(TINY, ["psnr", "params"], seed=0)
    bad = (2, 9)  # the largest: in the initial design

    def objective(trial):
        config = TINY.suggest(trial)
        if (config["width1"], config["width2"]) == bad:
            raise RuntimeError("out of memory")
        return 30 + 0.1 * config["width2"] + 0.05 * config["width1"]

    study = optuna.create_study(directions=sampler.directions, sampler=sampler)
    study.optimize(objective, n_trials=30, catch=(RuntimeError,))
    assert len(study.trials) == 9  # every configuration once, then the study stopped
    assert len(set(keys(sampler, study.trials))) == 9
    assert [t.state for t in study.trials].count(TrialState.FAIL) == 1
    # the strategy sees the failure as trained at the worst value (censored), not as untried
    seen = {t.number: t for t in sampler._trained_trials(study)}
    failed = next(t for t in study.trials if t.state == TrialState.FAIL)
    worst = min(t.value for t in study.trials if t.state == TrialState.COMPLETE)
    assert seen[failed.number].values == [worst, sampler.cost_fn(sampler.config(failed))["params"]]
    assert seen[failed.number].user_attrs["censored"] is True


def test_all_values_or_trained_values_and_a_clear_error_otherwise(tmp_path):
    from nas_sr.samplers import NasSrCosts

    sampler = CostAwareSampler(TINY, "psnr,params,flops", seed=0, cost_fn=NasSrCosts(cost_cache=tmp_path / "c.json"))
    assert sampler.directions == ["maximize"]

    def objective(trial):  # every objective, in order: also accepted
        config = TINY.suggest(trial)
        costs = sampler.cost_fn(config)
        return 30 + 0.1 * config["width2"], costs["params"], costs["flops"]

    study = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=6)
    assert len(set(keys(sampler, study.trials))) == 6
    assert study.trials[-1].user_attrs["proposal"] == "expected HV improvement"
    # the default counting is the search's own: FLOPs only when an objective or constraint names them
    from nas_sr.search.candidates import candidate_cost_fn

    config = TINY.suggest(study.trials[0])
    assert sampler.cost_fn(config) == candidate_cost_fn({"cost_cache": tmp_path / "c.json"})(config)
    assert CostAwareSampler(TINY, ["psnr", "params"]).cost_fn(config) == {"params": sampler.cost_fn(config)["params"]}
    wrong = optuna.create_study(direction="minimize", sampler=CostAwareSampler(TINY, ["psnr", "params"]))
    with pytest.raises(ValueError, match="directions=sampler.directions"):
        wrong.optimize(lambda t: TINY.suggest(t)["width2"], n_trials=1)
    with pytest.raises(ValueError, match="at least one must be trained"):
        _ = CostAwareSampler(TINY, ["params"]).directions
    with pytest.raises(ValueError, match="unknown objective 'speed'"):
        CostAwareSampler(TINY, ["psnr", "speed"])


def test_parameters_outside_the_proposal_are_sampled_independently():
    sampler = CostAwareSampler(TINY, ["psnr", "params"], seed=0)
    study = optuna.create_study(directions=sampler.directions, sampler=sampler)
    study.enqueue_trial({"branch": "espcn", "espcn.width1": 1, "espcn.width2": 6})
    rates = []

    def objective(trial):
        config = TINY.suggest(trial)
        rates.append(trial.suggest_float("lr", 1e-4, 1e-2, log=True))  # the user's own: not the strategy's
        return 30 + 0.1 * config["width2"] + math.log10(rates[-1])

    study.optimize(objective, n_trials=4)
    first = study.trials[0]
    assert sampler.config(first)["width1"] == 1 and "proposal" not in first.user_attrs  # the queued trial
    assert len(set(keys(sampler, study.trials))) == 4 and len(set(rates)) == 4
    assert all(1e-4 <= r <= 1e-2 for r in rates)
    # sample_independent answers a proposed parameter with the proposal's value
    trial = study.ask()
    config = TINY.suggest(trial)
    frozen = study.trials[-1]
    distribution = optuna.distributions.CategoricalDistribution([3, 6, 9])
    assert sampler.sample_independent(study, frozen, "espcn.width2", distribution) == config["width2"]


def test_the_sampler_pickles_midway_and_goes_on():
    """Ray Tune saves its searcher (the sampler within) with pickle."""
    sampler = CostAwareSampler(TINY, ["psnr", "params"], seed=0)
    study = optuna.create_study(directions=sampler.directions, sampler=sampler)
    objective = lambda t: 30 + 0.1 * TINY.suggest(t)["width2"]  # noqa: E731
    study.optimize(objective, n_trials=4)
    study.sampler = pickle.loads(pickle.dumps(sampler))
    study.optimize(objective, n_trials=3)
    assert len(set(keys(sampler, study.trials))) == 7


def test_a_study_in_a_database_continues_with_a_new_sampler(tmp_path):
    storage = f"sqlite:///{tmp_path}/study.db"
    objective = lambda t: 30 + 0.1 * TINY.suggest(t)["width2"] + 0.05 * TINY.suggest(t)["width1"]  # noqa: E731
    first = CostAwareSampler(TINY, ["psnr", "params"], seed=0)
    optuna.create_study(storage=storage, study_name="s", directions=first.directions, sampler=first).optimize(
        objective, n_trials=4)
    second = CostAwareSampler(TINY, ["psnr", "params"], seed=0)  # another process, the same study
    study = optuna.load_study(storage=storage, study_name="s", sampler=second)
    study.optimize(objective, n_trials=3)
    assert len(set(keys(second, study.trials))) == 7
    assert study.trials[-1].user_attrs["proposal"] == "expected HV improvement"  # recorded in the database


def test_a_constraint_on_a_known_cost_keeps_candidates_out():
    sampler = CostAwareSampler(TINY, ["psnr", "params"], seed=0, constraints=["params<=300"])
    study = optuna.create_study(directions=sampler.directions, sampler=sampler)
    study.optimize(lambda t: 30 + 0.1 * TINY.suggest(t)["width2"], n_trials=9)
    params = [sampler.cost_fn(sampler.config(t))["params"] for t in study.trials]
    small = [c for c in TINY.enumerate() if sampler.cost_fn(c)["params"] <= 300]
    assert 0 < len(small) < 9 and len(study.trials) == len(small) and max(params) <= 300


@pytest.mark.slow
def test_ray_tune_optuna_search_with_two_concurrent_trials(tmp_path):
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    sampler = CostAwareSampler(TINY, ["psnr", "params"], seed=0, n_trials=6)
    storage = optuna.storages.InMemoryStorage()

    def trainable(config):
        import time

        time.sleep(0.5)  # the two concurrent trials overlap
        model = config["model"]
        return {"psnr": 30 + 0.1 * model["width2"] + 0.05 * model["width1"]}

    searcher = OptunaSearch(sampler.define_by_run("model"), metric="psnr", mode="max", sampler=sampler,
                            storage=storage, study_name="cost-aware")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        results = tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=searcher, num_samples=6,
                                                                   max_concurrent_trials=2),
                             run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0)).fit()
    finally:
        ray.shutdown()
    frame = results.get_dataframe()
    assert len(frame) == 6 and not results.errors
    assert len(set(zip(frame["config/model/width1"], frame["config/model/width2"]))) == 6
    study = optuna.load_study(study_name="cost-aware", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    proposals = [t.user_attrs["proposal"] for t in study.trials]
    assert proposals[0] == "initial design" and proposals[-1] == "expected HV improvement"


def _doc_blocks() -> list[str]:
    text = (ROOT / "docs" / "sampler.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["study.optimize", "OptunaSearch"])
def test_the_documented_examples_run(which, tmp_path, monkeypatch):
    """docs/sampler.md's examples as written, on a smaller budget (its STEPS, TRIALS line)."""
    block = next(b for b in _doc_blocks() if which in b)
    assert "STEPS, TRIALS = " in block
    code = re.sub(r"STEPS, TRIALS = .*", "STEPS, TRIALS = 20, 4", block)
    monkeypatch.chdir(ROOT)
    if which == "OptunaSearch":
        import ray

        code = code.replace("tune.RunConfig(", f"tune.RunConfig(storage_path={str(tmp_path)!r}, ")
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    namespace: dict = {"__name__": "__main__"}
    try:
        exec(compile(code, f"docs/sampler.md ({which})", "exec"), namespace)  # noqa: S102 - the project's own docs
    finally:
        if which == "OptunaSearch":
            import ray

            ray.shutdown()
    assert len(namespace["front"]) >= 1
