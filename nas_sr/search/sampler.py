"""The cost-aware strategy as a plain Optuna sampler, for a user's own ``study.optimize`` and for
Ray Tune's ``OptunaSearch`` (public as :class:`nas_sr.samplers.CostAwareSampler`; see docs/sampler.md).

The strategy (:class:`~nas_sr.search.cost_aware.CostAwareStrategy`, imported, not copied) proposes
a whole configuration at once, so the sampler samples *relatively*: its relative search space is
every parameter that :meth:`SearchSpace.suggest <nas_sr.space.SearchSpace.suggest>` may ask
(``branch``, ``scale``, ``<branch>.<hyper-parameter>``), and :meth:`~CostAwareSampler.sample_relative`
returns the proposal; what the user's define-by-run objective asks then gets the proposed values.
Parameters the proposal lacks (a learning rate of the user's own) go to an independent sampler
(Optuna's ``RandomSampler`` with the seed), as Optuna's own relative samplers do.

What the strategy reads of the study is a view in its own terms (:class:`_StrategyView`): each
trial's canonical config key from its parameters, its values for every objective (the study's
objective returns the trained ones; the known costs come from ``cost_fn``), RUNNING and WAITING
trials as configurations already taken (so concurrent workers spread and never repeat), FAIL
trials as trained at the worst value seen, which the strategy's model takes as censored (below
its floor: "at most this"), so a failing configuration is not proposed again.
"""

from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from nas_sr.search.constraints import Constraint, parse_constraint
from nas_sr.search.objectives import COSTS, QUALITY, Objective
from nas_sr.search.optuna_space import DefineByRun, contains, distributions, lowest_params

if TYPE_CHECKING:
    import os

    from nas_sr.search.strategy import Proposal
    from nas_sr.space import SearchSpace

#: Trials whose configuration the strategy must not propose again (besides COMPLETE ones).
_TAKEN = (TrialState.RUNNING, TrialState.WAITING, TrialState.PRUNED, TrialState.FAIL)


class NasSrCosts:
    """nas-sr's own count of a candidate's costs before training, the one ``nas-sr search`` uses
    (:func:`nas_sr.search.candidates.candidate_cost_fn`): ``params`` of the deployed model and, with
    ``flops``, its multiply-adds for an output of ``resolution``. Picklable (Ray Tune saves its
    searcher, sampler included)."""

    def __init__(self, resolution: tuple[int, int] = (1920, 1080), flops: bool = True,
                 cost_cache: "str | os.PathLike[str] | None" = None) -> None:
        self.resolution, self.flops, self.cost_cache = tuple(resolution), flops, cost_cache
        self._fn: Callable[[Mapping[str, Any]], dict[str, float]] | None = None

    def __call__(self, config: Mapping[str, Any]) -> dict[str, float]:
        if self._fn is None:
            from nas_sr.search.candidates import candidate_cost_fn

            self._fn = candidate_cost_fn({"resolution": self.resolution, "cost_cache": self.cost_cache},
                                         flops=self.flops)
        return self._fn(config)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fn": None}  # a closure: rebuilt on use


class CostAwareSampler(optuna.samplers.BaseSampler):
    """Optuna sampler that proposes the configurations of a nas-sr search space by the cost-aware
    strategy (expected hypervolume improvement under a model of the trained objective; the
    costs known exactly before training).

    Args:
        space: a :class:`~nas_sr.space.SearchSpace` or the path of a search-space YAML file. The
            study's objective samples a configuration with ``space.suggest(trial)``.
        objectives: the front's objectives, the nas-sr way: ``["psnr", "params"]``, ``"psnr,flops"``
            (``psnr``/``ssim`` maximised, ``params``/``flops``/``latency_ms`` minimised), or
            :class:`~nas_sr.search.Objective` instances for others.
        cost_fn: ``cost_fn(config) -> {"params": ..., "flops": ...}``, the costs known without
            training; an objective whose name it returns is never asked of the study. Default
            :class:`NasSrCosts` (``flops`` counted when an objective or constraint names them).
        seed: seeds the strategy and the independent sampler.
        n_trials: the trial budget, if known: a short one keeps most trials for the model.
        constraints: bounds on known costs (``"params<=20000"``): other candidates are never proposed.
        front_tolerance: near-ties (in the trained objective's units) count as on the front.
        independent_sampler: samples what the proposal lacks; default ``RandomSampler(seed)``.

    The study's objective returns the *trained* objectives only (:attr:`directions` gives their
    directions, in order), or the values of all objectives in order; either works. Each proposed
    trial records why as user attributes: ``proposal`` (``initial design`` or ``expected HV
    improvement``), then ``predicted_objective``, ``predicted_mean``, ``predicted_std`` and
    ``acquisition``. RUNNING and WAITING trials' configurations are taken (concurrent workers never
    repeat one); a FAIL trial counts as trained at the worst value seen (censored) and is not
    proposed again. One sampler serves one study. When every candidate has been tried the study
    stops (as Optuna's ``GridSampler`` does); a trial asked after that is sampled at random.

    :meth:`front`, :meth:`all_values` and :meth:`config` read the results in the front's terms;
    :meth:`define_by_run` is the space as Ray Tune's ``OptunaSearch`` takes it.
    """

    def __init__(self, space: "SearchSpace | str | os.PathLike[str]",
                 objectives: Sequence[str | Objective] | str = ("psnr", "params"), *,
                 cost_fn: Callable[[Mapping[str, Any]], Mapping[str, float]] | None = None, seed: int = 0,
                 n_trials: int | None = None, constraints: Sequence[str | Constraint] = (),
                 front_tolerance: float = 0.0, independent_sampler: optuna.samplers.BaseSampler | None = None) -> None:
        from nas_sr.search.cost_aware import CostAwareStrategy
        from nas_sr.space import SearchSpace, load_space

        self.space = space if isinstance(space, SearchSpace) else load_space(space)
        self.objectives = [_objective(o) for o in (objectives.split(",") if isinstance(objectives, str)
                                                   else objectives)]
        if not self.objectives:
            raise ValueError("CostAwareSampler needs at least one objective")
        self.constraints = [c if isinstance(c, Constraint) else parse_constraint(c, []) for c in constraints]
        if cost_fn is None:
            cost_fn = NasSrCosts(flops="flops" in {o.key for o in self.objectives}
                                 | {c.objective.key for c in self.constraints})
        self.cost_fn = _Memo(cost_fn)
        self.seed = seed
        self.strategy = CostAwareStrategy(self.space, self.objectives, self.cost_fn, constraints=self.constraints,
                                          seed=seed, trials=n_trials, front_tolerance=front_tolerance)
        self.independent_sampler = independent_sampler or optuna.samplers.RandomSampler(seed=seed)
        self._search_space: dict[str, BaseDistribution] | None = None
        self._trained: list[Objective] | None = None
        self._keys: dict[tuple, str | None] = {}   # frozen params -> config key
        self._pending: dict[int, tuple[str, dict[str, Any]]] = {}  # trial number -> proposed key, params
        self._candidate_keys: set[str] | None = None
        self._proposed = False
        self._lock = threading.Lock()

    # -- what the study holds -------------------------------------------------------------------
    @property
    def trained_objectives(self) -> list[Objective]:
        """The objectives that only training tells (those ``cost_fn`` does not return), in order."""
        if self._trained is None:
            known = set(self.cost_fn(self._probe_config()))
            self._trained = [o for o in self.objectives if o.key not in known]
            if not self._trained:
                raise ValueError(f"CostAwareSampler: cost_fn gives every objective ({', '.join(sorted(known))}); "
                                 "at least one must be trained")
        return self._trained

    @property
    def directions(self) -> list[str]:
        """The study's directions when its objective returns the trained objectives:
        ``optuna.create_study(directions=sampler.directions, sampler=sampler)``."""
        return [o.direction for o in self.trained_objectives]

    def config(self, trial: FrozenTrial | Mapping[str, Any]) -> dict[str, Any]:
        """The canonical configuration of a trial (or of its parameters)."""
        from optuna.trial import FixedTrial

        params = trial.params if isinstance(trial, FrozenTrial) else trial
        with warnings.catch_warnings():  # FixedTrial warns of a value outside the distribution: caught below
            warnings.simplefilter("ignore")
            return self.space.suggest(FixedTrial(dict(params)))

    def all_values(self, trial: FrozenTrial) -> list[float]:
        """A COMPLETE trial's value of every objective, in order (costs counted): its point on the front."""
        if trial.values is None:
            raise ValueError(f"trial {trial.number} has no values ({trial.state.name})")
        return self._all_values(list(trial.values), self.cost_fn(self.config(trial)))

    def front(self, study: optuna.Study) -> list[FrozenTrial]:
        """The COMPLETE trials on the Pareto front of all objectives (costs counted), by number;
        with ``front_tolerance``, near-ties in PSNR stay as ``nas-sr search`` reports them."""
        from nas_sr.study import margins, non_dominated

        trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if self._key(t.params)]
        keep = non_dominated([self.all_values(t) for t in trials], [o.direction for o in self.objectives],
                             margins(self.objectives, self.strategy.front_tolerance))
        return [trials[i] for i in keep]

    def define_by_run(self, key: str = "model") -> "DefineByRun":
        """Ray Tune's ``OptunaSearch`` space: ``{key: space.suggest(trial)}`` (picklable, as Ray saves it)."""
        return DefineByRun(self.space, key)

    # -- Optuna's sampler interface -------------------------------------------------------------
    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if trial.system_attrs.get("fixed_params"):  # an enqueued trial: its values win, the rest is independent
            return {}
        self._check_study(study)
        if self._search_space is None:
            self._search_space = distributions(self.space)
        return dict(self._search_space)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        from nas_sr.search.strategy import SpaceExhausted
        from nas_sr.study import write_sampled_attrs

        if not search_space:
            return {}
        with self._lock:  # threads (n_jobs > 1): each sees the others' proposals as taken
            try:
                proposal = self._propose(study, trial)
            except SpaceExhausted as exc:
                warnings.warn(f"CostAwareSampler: {exc}; trial {trial.number} is sampled at random", stacklevel=2)
                return {}
            if proposal is None:
                return {}
            self._proposed = True
            key = self._key(proposal.params)
            self._pending[trial.number] = (key or "", dict(proposal.params))
        if proposal.user_attrs:
            write_sampled_attrs(study, trial, proposal.user_attrs)
        return {k: v for k, v in proposal.params.items() if k in search_space}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        proposed = self._pending.get(trial.number, ("", {}))[1]
        if param_name in proposed and contains(param_distribution, proposed[param_name]):
            return proposed[param_name]  # asked outside the relative space: still the proposal's value
        return self.independent_sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.independent_sampler.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.independent_sampler.after_trial(study, trial, state, values)
        with self._lock:
            self._pending.pop(trial.number, None)
            if not self._proposed:  # the strategy has not counted its candidates' costs yet
                return
            left = self._candidates() - set(self._taken(study, None)) - {self._key(trial.params)}
        if not left:  # every candidate tried: stop as GridSampler does
            try:
                study.stop()
            except RuntimeError:  # ask-and-tell outside study.optimize: nothing to stop
                pass

    def reseed_rng(self) -> None:
        self.independent_sampler.reseed_rng()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- the strategy's view --------------------------------------------------------------------
    def _propose(self, study: optuna.Study, trial: FrozenTrial | None) -> "Proposal | None":
        taken = self._taken(study, trial)
        return self.strategy.propose(_StrategyView(study, self._trained_trials(study), self.objectives), taken)

    def _taken(self, study: optuna.Study, current: FrozenTrial | None) -> dict[str, int]:
        """Config key -> trial number of every configuration evaluated, running, queued or failed."""
        taken: dict[str, int] = {}
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, *_TAKEN)):
            if current is not None and t.number == current.number:
                continue
            if t.state in (TrialState.RUNNING, TrialState.WAITING) and t.number in self._pending:
                key: str | None = self._pending[t.number][0]  # its parameters may not all be asked yet
            else:
                key = self._key(t.params or t.system_attrs.get("fixed_params") or {})
            if key:
                taken.setdefault(key, t.number)
        return taken

    def _trained_trials(self, study: optuna.Study) -> list[FrozenTrial]:
        """COMPLETE trials with every objective's value and ``config`` (the key); FAIL trials at the
        worst trained values seen (the strategy takes values under its floor as censored)."""
        complete, failed = [], []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            key = self._key(t.params)
            if key is None:
                continue
            if t.state == TrialState.COMPLETE and t.values is not None:
                complete.append((t, key, self._all_values(list(t.values), self.cost_fn(self.config(t)))))
            elif t.state == TrialState.FAIL:
                failed.append((t, key))
        out = [_with(t, key, values) for t, key, values in complete]
        if complete and failed:
            worst = [min(v[j] for _, _, v in complete) if o.direction == "maximize" else
                     max(v[j] for _, _, v in complete) for j, o in enumerate(self.objectives)]
            for t, key in failed:
                costs = self.cost_fn(self.config(t))
                values = [costs[o.key] if o not in self.trained_objectives else w
                          for o, w in zip(self.objectives, worst)]
                out.append(_with(t, key, values, censored=True))
        return sorted(out, key=lambda t: t.number)

    def _all_values(self, values: list[float], costs: Mapping[str, float]) -> list[float]:
        if len(values) == len(self.objectives):
            return values
        trained = self.trained_objectives
        if len(values) != len(trained):
            raise ValueError(f"a trial has {len(values)} values; CostAwareSampler expects the trained objectives "
                             f"({', '.join(o.name for o in trained)}) or all ({', '.join(o.name for o in self.objectives)})")
        given = dict(zip((o.name for o in trained), values))
        return [given[o.name] if o.name in given else float(costs[o.key]) for o in self.objectives]

    def _check_study(self, study: optuna.Study) -> None:
        have = [d.name.lower() for d in study.directions]
        for wanted in (self.objectives, self.trained_objectives):
            if have == [o.direction for o in wanted]:
                return
        raise ValueError(f"the study's directions {have} are neither the trained objectives' "
                         f"({', '.join(f'{o.name}: {o.direction}' for o in self.trained_objectives)}) nor all "
                         f"objectives' ({', '.join(f'{o.name}: {o.direction}' for o in self.objectives)}); "
                         "create it with directions=sampler.directions")

    def _key(self, params: Mapping[str, Any]) -> str | None:
        """The config key of a trial's parameters; None when they are not a configuration of the space."""
        from nas_sr.models.registry import config_key

        frozen = tuple(sorted(params.items()))
        if frozen not in self._keys:
            try:
                self._keys[frozen] = config_key(self.config(params)) if params else None
            except Exception:  # noqa: BLE001 - a trial of another space, or parameters still being asked
                return None
        return self._keys[frozen]

    def _candidates(self) -> set[str]:
        """The keys of the strategy's candidates (the same pool, its costs already counted)."""
        if self._candidate_keys is None:
            from nas_sr.search.candidates import candidates

            pool = candidates(self.space, self.cost_fn, self.seed, self.strategy.max_candidates)
            known = set.intersection(*(set(c.costs) for c in pool)) if pool else set()
            bounds = [b for b in self.constraints if b.objective.key in known]  # as the strategy filters
            self._candidate_keys = {c.key for c in pool if all(b.violation(c.costs) <= 0 for b in bounds)}
        return self._candidate_keys

    def _probe_config(self) -> dict[str, Any]:
        from optuna.trial import FixedTrial

        for branch in self.space.branches:
            try:
                return self.space.suggest(FixedTrial(lowest_params(self.space, branch.name)))
            except Exception:  # noqa: BLE001 - lowest values not a valid combination: another branch
                continue
        raise ValueError(f"{self.space.source}: no branch's lowest values make a configuration")


class _StrategyView:
    """The study as the strategy reads it (``get_trials``): trials in its own terms; the rest of
    the study as it is."""

    def __init__(self, study: optuna.Study, trials: list[FrozenTrial], objectives: list[Objective]) -> None:
        self._study, self._trials = study, trials
        self.directions = [optuna.study.StudyDirection[o.direction.upper()] for o in objectives]
        self.metric_names = [o.name for o in objectives]

    def get_trials(self, deepcopy: bool = True, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        return [t for t in self._trials if states is None or t.state in states]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


def _with(trial: FrozenTrial, key: str, values: list[float], censored: bool = False) -> FrozenTrial:
    """A COMPLETE copy of ``trial`` with all objectives' ``values`` and the ``config`` key."""
    attrs = {**trial.user_attrs, "config": key, **({"censored": True} if censored else {})}
    out = optuna.trial.create_trial(state=TrialState.COMPLETE, values=values, params=trial.params,
                                    distributions=trial.distributions, user_attrs=attrs,
                                    system_attrs=trial.system_attrs)
    out.number = trial.number
    return out


class _Memo:
    """``cost_fn`` counted once per configuration (shared by the sampler and the strategy)."""

    def __init__(self, fn: Callable[[Mapping[str, Any]], Mapping[str, float]]) -> None:
        self.fn, self.cache = fn, {}  # type: ignore[var-annotated]

    def __call__(self, config: Mapping[str, Any]) -> dict[str, float]:
        from nas_sr.models.registry import config_key

        key = config_key(config)
        if key not in self.cache:
            self.cache[key] = {k: float(v) for k, v in self.fn(config).items()}
        return self.cache[key]


def _objective(item: str | Objective) -> Objective:
    """``"psnr"`` -> maximised, ``"params"`` -> minimised (``"psnr@Set5"`` keeps its set name)."""
    if isinstance(item, Objective):
        return item
    text = item.strip()
    name, _, where = text.partition("@")
    if name in COSTS and not where:
        return Objective(name, name, "minimize")
    if name in QUALITY:
        return Objective(text, f"{name}_{where}" if where else name, "maximize")
    raise ValueError(f"unknown objective {item!r} (expected psnr[@SET], ssim[@SET], {', '.join(COSTS)}; "
                     "or nas_sr.search.Objective(name, key, direction))")
