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
>>> [t.user_attrs["proposal"] for t in study.trials]  # doctest: +NORMALIZE_WHITESPACE
['initial design', 'initial design', 'initial design',
 'expected HV improvement', 'expected HV improvement', 'expected HV improvement']
>>> len({sampler.config(t)["width1"] * 10 + sampler.config(t)["width2"] for t in study.trials})  # all distinct
6
>>> sampler.all_values(study.trials[0])  # the trial's point on the front: psnr, params
[30.3, 142.0]
"""

from nas_sr.search.optuna_space import DefineByRun
from nas_sr.search.sampler import CostAwareSampler, NasSrCosts

__all__ = ["CostAwareSampler", "DefineByRun", "NasSrCosts"]
