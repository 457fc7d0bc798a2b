"""The candidates of a pool-based strategy and what it knows of them before training: each one's
costs (:func:`candidate_cost_fn`), the pool (:func:`candidates`), the model's inputs
(:func:`features`) and the study's state of the pool (:func:`pool_state`). Used by the
``cost-aware`` strategy (:mod:`nas_sr.search.cost_aware`) and eSR-Bench's ``botorch`` peer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from nas_sr.search.strategy import CostFn, SpaceExhausted, grid_params

if TYPE_CHECKING:
    import numpy as np
    import optuna

    from nas_sr.space import SearchSpace


#: Candidates' FLOPs are counted on an LR input of this side and scaled by the pixel ratio.
CANDIDATE_LR_SIDE = 64


def candidate_cost_fn(settings: Mapping[str, Any],
                      flops: bool = True) -> Callable[[Mapping[str, Any]], dict[str, float]]:
    """Parameters and (with ``flops``) multiply-adds of a candidate before training
    (``nas_sr.cost.model_cost`` through the cost cache); latency is measured by the trial itself.

    Multiply-adds are counted on a ``CANDIDATE_LR_SIDE``-square LR input and scaled by the pixel
    ratio to the search's resolution: convolutions (and attention in windows that tile the input)
    cost the same per pixel, so the estimate is their count at that resolution, in a fraction of
    the time (a cost-aware search prepares up to 2000 candidates). Each trial counts its own
    FLOPs at the search's resolution. Without ``flops`` (no objective or constraint needs them)
    only the parameters are counted: no forward pass at all.
    """
    from nas_sr.cost import CostCache, count_parameters, model_cost
    from nas_sr.models.registry import build_model, canonical_config, deploy_model

    resolution = tuple(settings.get("resolution", (1920, 1080)))
    cache = CostCache(settings.get("cost_cache"))

    def cost(config: Mapping[str, Any]) -> dict[str, float]:
        full = canonical_config(config)
        if not flops:
            return {"params": float(count_parameters(deploy_model(full, build_model(full))))}
        side = CANDIDATE_LR_SIDE * int(full["scale"])
        small = (side, side) if side * side < resolution[0] * resolution[1] else resolution
        found = model_cost(full, small, cache=cache)  # type: ignore[arg-type]
        ratio = resolution[0] * resolution[1] / (small[0] * small[1])
        return {"params": float(found.params), "flops": float(found.flops) * ratio}

    return cost


#: Candidates scored per proposal: every configuration of a finite space up to this many, else a sample.
MAX_CANDIDATES = 2000
#: Size of that sample (larger spaces): building a big model to count its costs takes up to ~70 ms.
SAMPLED_CANDIDATES = 500


@dataclass(frozen=True)
class Candidate:
    """A configuration the strategy may propose: its Optuna parameters, config, key and known costs."""

    params: dict[str, Any]
    config: dict[str, Any]
    key: str
    costs: Mapping[str, float]


def candidates(space: "SearchSpace", cost_fn: CostFn, seed: int = 0,
               limit: int = MAX_CANDIDATES) -> list[Candidate]:
    """Every configuration of a finite space of at most ``limit``, else ``min(limit,
    SAMPLED_CANDIDATES)`` random draws (Optuna's random sampler over ``space.suggest``), each once,
    with its costs."""
    import optuna
    from optuna.trial import FixedTrial

    from nas_sr.models.registry import config_key

    finite = all(b.size() is not None for b in space.branches)
    drawn: list[dict[str, Any]]
    if finite and space.count() <= limit:
        drawn = list(grid_params(space))
    else:
        study = optuna.create_study(storage=optuna.storages.InMemoryStorage(),
                                    sampler=optuna.samplers.RandomSampler(seed=seed))
        drawn = []
        for _ in range(min(limit, SAMPLED_CANDIDATES)):
            trial = study.ask()
            space.suggest(trial)
            drawn.append(dict(trial.params))
    out: dict[str, Candidate] = {}
    for params in drawn:
        config = space.suggest(FixedTrial(params))
        key = config_key(config)
        if key not in out:
            out[key] = Candidate(params, config, key, dict(cost_fn(config)))
    return list(out.values())


def pool_state(name: str, pool: Sequence[Candidate], study: "optuna.Study",
               known: Mapping[str, int]) -> tuple[dict[str, int], list[int], list[tuple[int, list[float], bool]]]:
    """What a strategy over a candidate pool knows of it: each candidate's index by key, the free
    ones (neither evaluated nor running; :class:`SpaceExhausted` when none is left) and the trained
    ones, as (index, values, feasible), from the study's COMPLETE trials."""
    from optuna.trial import TrialState

    index = {c.key: i for i, c in enumerate(pool)}
    free = [i for i, c in enumerate(pool) if c.key not in known]
    if not free:
        raise SpaceExhausted(f"{name}: every one of the {len(pool)} candidates is evaluated or running")
    trained: list[tuple[int, list[float], bool]] = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        i = index.get(t.user_attrs.get("config", ""))
        if i is not None and t.values is not None:
            trained.append((i, list(t.values), all(v <= 0 for v in t.constraints.values())))
    return index, free, trained


def features(configs: Sequence[Mapping[str, Any]], costs: Sequence[Mapping[str, float]]) -> "np.ndarray":
    """Model inputs in [0, 1]: one-hot family and scale, each cost (log10 when positive and spread
    over a decade or more), each family's hyper-parameters (0 for other families; log(1 + v) when
    non-negative and spread over a factor of 4 or more, as sizes act by ratios; categorical values
    one-hot).

    >>> x = features([{"family": "a", "scale": 2, "k": 1}, {"family": "b", "scale": 2, "k": 3}],
    ...              [{"params": 10.0}, {"params": 1000.0}])
    >>> x.tolist()  # family a, family b, log10 params, a's k, b's k
    [[1.0, 0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0, 1.0]]
    """
    import numpy as np

    columns: list[np.ndarray] = []
    families = sorted({c["family"] for c in configs})
    for name, values in (("family", families), ("scale", sorted({c["scale"] for c in configs}))):
        if len(values) > 1:
            columns += [np.array([float(c[name] == v) for c in configs]) for v in values]
    for key in sorted({k for c in costs for k in c}):
        column = np.array([float(c.get(key, math.nan)) for c in costs])
        if np.nanmin(column) > 0 and np.nanmax(column) >= 10 * np.nanmin(column):
            column = np.log10(column)
        columns.append(_unit(column))
    for family in families:
        rows = [i for i, c in enumerate(configs) if c["family"] == family]
        for key in sorted({k for i in rows for k in configs[i]} - {"family", "scale", "color"}):
            values = [configs[i].get(key) for i in rows]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                column = np.zeros(len(configs))
                numbers = np.array(values, dtype=float)
                if numbers.min() >= 0 and numbers.max() >= 4 * max(numbers.min(), 1.0):
                    numbers = np.log1p(numbers)
                column[rows] = _unit(numbers) if len(set(values)) > 1 else 1.0
                columns.append(column)
            else:
                for value in sorted(set(map(str, values))):
                    columns.append(np.array([float(c["family"] == family and str(c.get(key)) == value)
                                             for c in configs]))
    return np.stack(columns, axis=1) if columns else np.zeros((len(configs), 1))


def _unit(column: "np.ndarray") -> "np.ndarray":
    import numpy as np

    column = np.nan_to_num(column, nan=float(np.nanmin(column)) if np.isfinite(column).any() else 0.0)
    low, high = column.min(), column.max()
    return (column - low) / (high - low) if high > low else np.ones_like(column)
