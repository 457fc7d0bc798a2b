"""nas-sr's cost-aware search strategy as an Optuna sampler, for your own ``study.optimize`` or Ray
Tune's ``OptunaSearch(sampler=...)`` (docs/sampler.md has both examples).

The objective samples a whole configuration of a nas-sr search space with ``space.suggest(trial)``
and returns what it trains (PSNR here; the parameter count is known without training, the sampler
counts it itself). The first trials are the strategy's initial design (each family's smallest and
largest candidate, then a few in between), the rest are chosen by expected hypervolume improvement:

>>> import optuna
>>> from nas_sr.samplers import CostAwareSampler
>>> from nas_sr.space import SearchSpace
>>> space = SearchSpace.from_dict({"name": "tiny", "scales": [2], "branches": [
...     {"family": "espcn", "params": {"width1": [0, 1, 2], "width2": [3, 6, 9]}}]})
>>> sampler = CostAwareSampler(space, ["psnr", "params"], seed=0, n_trials=6)
>>> sampler.directions  # what the objective returns: the trained objectives
['maximize']
>>> def objective(trial):
...     config = space.suggest(trial)  # {'family': 'espcn', 'scale': 2, 'width1': ..., ...}
...     return 30.0 + 0.1 * config["width2"] + 0.05 * config["width1"]  # your training here
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> study = optuna.create_study(directions=sampler.directions, sampler=sampler)
>>> study.optimize(objective, n_trials=6)
>>> proposals = [t.user_attrs["proposal"] for t in study.trials]  # why each trial was chosen
>>> proposals[0], proposals[-1]
('initial design', 'expected HV improvement')
>>> len({tuple(sorted(sampler.config(t).items())) for t in study.trials})  # six distinct configurations
6
>>> front = sampler.front(study)  # COMPLETE trials on the (psnr, params) front, the parameters counted
>>> all(len(sampler.all_values(t)) == 2 for t in front) and len(front) >= 1
True
"""

from nas_sr.search.optuna_space import DefineByRun
from nas_sr.search.sampler import CostAwareSampler, NasSrCosts

__all__ = ["CostAwareSampler", "DefineByRun", "NasSrCosts"]
