"""The search driver: Optuna ask/tell in this process, one Ray task per trial.

The driver is the only writer to the study: workers get plain data (config, settings, images)
and return plain data (:func:`nas_sr.search.worker.run_trial`). A trial is COMPLETE only when
trained to its full budget; every other outcome is FAIL with the reason in ``fail_reason``.
No trial is left RUNNING: in-flight trials are failed on any exit of the loop ("interrupted"
on Ctrl-C), and RUNNING trials of a killed driver are failed ("stale: driver stopped") when
the search starts again.

Duplicates: a proposal whose canonical config is already COMPLETE (or in flight) is not
trained again; its trial is told PRUNED with user attribute ``duplicate_of`` (the trial
number that holds the result) and the driver asks again. PRUNED trials do not count.

Early stopping (``SearchOptions.early_stopping``, MO-ASHA: :mod:`nas_sr.search.early_stopping`):
a trial that a rung stops is told PRUNED with user attributes ``rung_values`` and
``stopped_at_rung`` (and ``early_stopped``), never COMPLETE; its config is not trained again.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from nas_sr.search.ahead import MIN_WORKERS, ProposalsAhead
from nas_sr.search.constraints import Constraint, parse_constraint
from nas_sr.search.early_stopping import record_pruned
from nas_sr.search.early_stopping import trial_settings as es_settings
from nas_sr.search.objectives import DEFAULT_OBJECTIVES, Objective, parse_objectives
from nas_sr.search.record import record_complete, set_attrs
from nas_sr.search.reference import measure_references
from nas_sr.search.runner import SafePointInterrupts
from nas_sr.search.runner import TrialRunner as _Runner  # tests replace driver._Runner
from nas_sr.search.strategy import (
    STRATEGIES,
    SamplerStrategy,
    SpaceExhausted,
    Strategy,
    grid_params,
    make_strategy,
    next_trial,
    tell_duplicate,
)
from nas_sr.search.study import (
    StorageUnavailable,
    artifact_dir,
    existing_studies,
    fail_trial,
    fail_stale_trials,
    hide_password,
    writer_lock,
)

if TYPE_CHECKING:
    import optuna

    from nas_sr.space import SearchSpace

SAMPLERS = STRATEGIES
DEFAULT_STORAGE = "sqlite:///studies/default.db"
#: Proposals in a row that repeat known configs before the space counts as exhausted.
MAX_DUPLICATES_IN_A_ROW = 200
#: Seconds between reads of the front's size for the progress bar (each reads every trial).
FRONT_EVERY_S = 5.0


@dataclass
class SearchOptions:
    """Everything a search needs; the CLI fills it from its arguments."""

    space: "SearchSpace"
    train_images: Sequence[tuple[str, Any]]
    val_sets: Mapping[str, Sequence[tuple[str, Any]]]
    study: str = "default"
    storage: str = DEFAULT_STORAGE
    trials: int = 20
    workers: int = 2
    #: ``cost-aware`` (the default), ``tpe``, ``nsga2``, ``random`` or ``grid``.
    sampler: str = "cost-aware"
    objectives: str | None = None
    constraints: Sequence[str] = ()
    #: Reference models a constraint may name (``psnr@val>=rlfn``): preset name -> weights file.
    references: Mapping[str, Any] = field(default_factory=dict)
    resume: bool = False
    #: Continue a study that has trials without ``resume`` when it searched the same space, saying so
    #: (``nas-sr search`` without ``--study``: re-running the set-up command continues the demo).
    auto_resume: bool = False
    seed: int = 0
    #: The reported front keeps trials whose PSNR is within this many dB of beating every trial that
    #: dominates them (the front with its uncertainty; ``nas-sr search`` gives 0.05, about the brief
    #: training's seed-to-seed spread); recorded on the study, aimed at by the cost-aware strategy.
    front_tolerance: float = 0.0
    #: Worker settings: trainer settings (max_steps, max_seconds, batch_size, patch_size, lr,
    #: device...) and cost settings (resolution, latency, latency_repeats, threads, cost_cache).
    settings: dict[str, Any] = field(default_factory=dict)
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    #: An existing Ray cluster: ``auto``, ``HOST:PORT`` or ``ray://HOST:10001``; None starts a local one.
    ray_address: str | None = None
    ray_temp_dir: str | None = None
    max_failures: int | None = None
    #: Re-runs of a configuration whose trial was lost with its worker or node (or a killed driver).
    max_retries: int = 2
    progress: bool = True
    #: Replaces the Ray task body (for benchmarks and tests): ``fn(config, settings, data) -> dict``.
    trial_fn: Callable[..., dict[str, Any]] | None = None
    #: Multi-objective early stopping (``nas_sr.search.early_stopping.EarlyStopping``); None: off.
    early_stopping: Any = None
    #: Wall-clock seconds after which a trial's task is killed and the trial FAILs ("timeout");
    #: None: :func:`default_trial_timeout` of the settings' budget.
    trial_timeout: float | None = None


@dataclass
class SearchOutcome:
    study: "optuna.Study"
    complete: int
    failed: int
    duplicates: int
    seconds: float
    stopped: str = ""  # why the search stopped before reaching its COMPLETE count


def _open_study(opts: SearchOptions, objectives: list[Objective], constraints: list[Constraint]) -> "optuna.Study":
    import optuna

    from nas_sr.search.study import open_storage

    storage = open_storage(opts.storage)
    sampler = make_sampler(opts.sampler, opts.seed, opts.trials)
    names = existing_studies(storage)
    if opts.study in names:
        study = optuna.load_study(study_name=opts.study, storage=storage, sampler=sampler)
        has_trials = bool(study.get_trials(deepcopy=False))
        if has_trials and not opts.resume:
            space = study.user_attrs.get("space")
            if not (opts.auto_resume and _same_space(space, opts.space.source)):
                held = f" (a search of {space}, not {opts.space.source})" if opts.auto_resume else ""
                raise ValueError(f"study {opts.study!r} in {hide_password(opts.storage)} already has trials{held}; "
                                 "add --resume to continue it, or choose another --study")
            _say_continued(study, opts)
        old = list(study.metric_names or [])
        if opts.objectives is not None and old and old != [o.name for o in objectives]:
            raise ValueError(f"study {opts.study!r} has objectives {','.join(old)}; --objectives "
                             f"{opts.objectives!r} differs (use another --study)")
        return study
    study = optuna.create_study(storage=storage, study_name=opts.study, sampler=sampler,
                                directions=[o.direction for o in objectives])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.name for o in objectives])
    study.set_user_attr("space", opts.space.source)
    study.set_user_attr("constraints", [c.text for c in constraints])
    study.set_user_attr("settings", _jsonable(opts.settings))
    study.set_user_attr("front_tolerance", float(opts.front_tolerance))
    return study


def _same_space(recorded: Any, source: str) -> bool:
    """Whether a study's recorded space is the file ``source`` (paths compared resolved)."""
    from pathlib import Path

    if not isinstance(recorded, str):
        return False
    return recorded == source or Path(source).is_file() and Path(recorded).resolve() == Path(source).resolve()


def _say_continued(study: "optuna.Study", opts: SearchOptions) -> None:
    """The one line that says an existing study is continued, and what is left to train."""
    from optuna.trial import TrialState

    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    left = ("nothing to train (--trials N trains more" if done >= opts.trials
            else f"training up to --trials {opts.trials} (")
    print(f"nas-sr search: continuing study {opts.study!r} of {hide_password(opts.storage)}: {done} COMPLETE "
          f"trials, {left}; --study NAME starts a fresh study)", file=sys.stderr)


def default_trial_timeout(settings: Mapping[str, Any]) -> float | None:
    """A hung trial's limit: 3x its time budget plus 10 minutes (cost measurement, patches,
    validation and a slow node fit well inside); None for a steps-only budget.

    >>> default_trial_timeout({"max_seconds": 12})
    636.0
    >>> default_trial_timeout({"max_steps": 1000}) is None
    True
    """
    seconds = settings.get("max_seconds")
    return 3.0 * float(seconds) + 600.0 if seconds else None


def make_sampler(name: str, seed: int, trials: int) -> "optuna.samplers.BaseSampler":
    """The Optuna sampler of strategy ``name``: tpe (multivariate, grouped), nsga2, random; grid and
    cost-aware propose their own trials (enqueued) over a random sampler."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r} (expected one of {', '.join(SAMPLERS)})")
    if name in ("grid", "cost-aware"):
        return Strategy(seed).sampler()
    return SamplerStrategy(name, seed, trials).sampler()


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


def run_search(opts: SearchOptions) -> SearchOutcome:
    """Run the search until ``opts.trials`` trials are COMPLETE (those already there count)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    val_names = list(opts.val_sets)
    objectives = parse_objectives(opts.objectives or DEFAULT_OBJECTIVES, val_names)
    constraints = [parse_constraint(text, val_names) for text in opts.constraints]
    references = measure_references(opts.references, constraints, opts.space.scales, opts.val_sets, opts.settings)
    constraints = [c.resolved(references) for c in constraints]
    if opts.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {opts.sampler!r} (expected one of {', '.join(SAMPLERS)})")
    if opts.trials < 1 or opts.workers < 1:
        raise ValueError("--trials and --workers must be positive")
    lock = writer_lock(opts.storage)  # one search per SQLite file: a second one is refused
    try:
        return _search(opts, objectives, constraints, references)
    finally:
        if lock is not None:
            lock.close()  # its file goes too: none is left after a search, however it ended


def _search(opts: SearchOptions, objectives: list[Objective], constraints: list[Constraint],
            references: Mapping[str, Any]) -> SearchOutcome:
    """:func:`run_search` once it holds the storage's writer lock."""
    from optuna.trial import TrialState

    val_names = list(opts.val_sets)
    study = _open_study(opts, objectives, constraints)
    if references:
        study.set_user_attr("references", {**study.user_attrs.get("references", {}), **references})
    if opts.objectives is None and study.metric_names:  # resuming: the study's own objectives
        objectives = parse_objectives(",".join(study.metric_names), val_names)
    stale_trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    stale = fail_stale_trials(study)
    if stale:
        print(f"nas-sr search: marked {stale} stale RUNNING trial(s) FAIL (stale: driver stopped)", file=sys.stderr)
    # Configurations lost with a worker, a node or the driver, to run again: (params, attempt, trial number).
    retries: list[tuple[dict[str, Any], int, int]] = [
        (dict(t.params), int(t.user_attrs.get("attempt", 0)) + 1, t.number) for t in stale_trials
        if int(t.user_attrs.get("attempt", 0)) < opts.max_retries and t.params]

    done_keys: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        done_keys.setdefault(t.user_attrs.get("config", ""), t.number)
    if len(done_keys) >= opts.trials:  # a continued study with nothing left to train: no Ray to start
        return SearchOutcome(study, len(done_keys), 0, 0, 0.0)
    finite = all(b.size() is not None for b in opts.space.branches)
    total = opts.space.count() if finite else None
    settings = {"seed": opts.seed, **opts.settings}
    settings.setdefault("threads", max(1, int(opts.cpus_per_trial)))
    strategy = make_strategy(opts.sampler, opts.space, objectives, seed=opts.seed, trials=opts.trials,
                             constraints=constraints,
                             front_tolerance=float(study.user_attrs.get("front_tolerance", 0.0)),
                             cost_fn=candidate_cost_fn(settings, flops="flops" in {o.key for o in objectives}
                                                       | {c.objective.key for c in constraints}))
    study.sampler = strategy.sampler()
    data = {"train": list(opts.train_images), "val": {k: list(v) for k, v in opts.val_sets.items()}}
    timeout = opts.trial_timeout if opts.trial_timeout is not None else default_trial_timeout(settings)
    runner = _Runner(opts, data, timeout)
    # Many workers: each proposal is computed while trials run, not while a freed worker waits.
    proposer = (ProposalsAhead(strategy, opts.space, opts.storage, study.study_name)
                if opts.workers >= MIN_WORKERS else strategy)
    board, rungs, pruned_keys = _early_stopping(opts, study, objectives, settings)
    start = time.perf_counter()
    store_dir = artifact_dir(opts.storage)
    failed = duplicates = dup_row = 0
    max_failures = opts.max_failures if opts.max_failures is not None else max(10, 2 * opts.trials)
    inflight: dict[Any, tuple[Any, dict[str, Any], str]] = {}
    stopped = ""
    bar = _progress(opts, len(done_keys))
    reason_on_exit = "driver error"
    asked: set[int] = set()  # trials asked and not yet told: none may outlive the loop RUNNING
    interrupts = SafePointInterrupts()
    front = (-FRONT_EVERY_S, 0)  # (when, the front's size) shown on the progress bar
    try:
        while True:
            interrupts.check()
            complete = len(done_keys)
            if complete >= opts.trials and not inflight:
                break
            # Fill the free workers.
            while not stopped and len(inflight) < opts.workers and complete + len(inflight) < opts.trials:
                if total is not None and len(done_keys) + len(pruned_keys) + len(inflight) >= total:
                    stopped = f"every one of the {total} configurations of the space is evaluated or running"
                    break
                known = {**{k: t.number for t, _, k in inflight.values()}, **pruned_keys, **done_keys}
                propose: Strategy | None = proposer
                if retries:  # a lost trial's configuration first
                    params, attempt, lost = retries.pop(0)
                    study.enqueue_trial(params, user_attrs={"retry_of": lost, "attempt": attempt},
                                        skip_if_exists=False)
                    propose = None
                try:
                    step = next_trial(study, opts.space, propose, known)
                except SpaceExhausted as exc:
                    stopped = str(exc)
                    break
                trial, config, key = step.trial, step.config, step.key
                asked.add(trial.number)
                if step.twin is not None:
                    tell_duplicate(study, step)
                    asked.discard(trial.number)
                    duplicates += 1
                    dup_row += 1
                    if dup_row >= MAX_DUPLICATES_IN_A_ROW:
                        stopped = f"{dup_row} proposals in a row repeated evaluated configurations"
                    continue
                dup_row = 0
                set_attrs(trial, {"config": key, "family": config["family"], "scale": config["scale"],
                                   "seed": opts.seed, "nas_sr_version": _version(), "sampler": opts.sampler,
                                   "sampler_seed": opts.seed})
                trial_settings = settings if board is None else es_settings(settings, board, trial.number, rungs)
                inflight[runner.submit(config, trial_settings)] = (trial, config, key)
            if not inflight:
                break
            ref, result = runner.wait_one(list(inflight), interrupts.check)
            trial, config, key = inflight.pop(ref)
            if result.get("node"):
                set_attrs(trial, result["node"])
            if result.get("state") == "pruned" and board is not None:  # stopped at a rung: PRUNED
                record_pruned(study, trial, key, result)
                pruned_keys[key] = trial.number
                asked.discard(trial.number)
                continue
            if result.get("state") == "complete":
                reason = record_complete(study, trial, config, result, objectives, constraints, store_dir)
            else:
                reason = result.get("reason", "unknown failure")
                attempt = int(trial.user_attrs.get("attempt", 0))
                if result.get("lost") and attempt < opts.max_retries and trial.params:
                    retries.append((dict(trial.params), attempt + 1, trial.number))
                    reason += f" (retry {attempt + 1} of {opts.max_retries} queued)"
            if reason:
                fail_trial(study, trial.number, reason)
                failed += 1
                bar.write(f"trial {trial.number} FAIL: {reason}")
                if failed >= max_failures:
                    stopped = f"{failed} failed trials (limit {max_failures})"
            else:
                done_keys[key] = trial.number
                bar.update(1)
            asked.discard(trial.number)
            if opts.progress and time.monotonic() - front[0] > FRONT_EVERY_S:  # it reads every trial
                front = (time.monotonic(), _front_size(study))
            bar.set_postfix(failed=failed, dup=duplicates, front=front[1], refresh=True)
        reason_on_exit = ""
    except KeyboardInterrupt:
        reason_on_exit = "interrupted"
        raise
    except StorageUnavailable:
        reason_on_exit = "storage unavailable"  # nothing can be written: --resume fails and re-queues them
        raise
    except Exception as exc:
        reason_on_exit = f"driver error: {type(exc).__name__}: {exc}".splitlines()[0]
        raise
    finally:
        bar.close()
        if isinstance(proposer, ProposalsAhead):
            proposer.close()
        for ref in inflight:
            runner.cancel(ref)
        if reason_on_exit != "storage unavailable":
            for number in asked:
                try:
                    fail_trial(study, number, reason_on_exit or "driver error")
                except StorageUnavailable:
                    break
        interrupts.restore()
        runner.close()
    if stopped and len(done_keys) < opts.trials:
        print(f"nas-sr search: stopped with {len(done_keys)} of {opts.trials} COMPLETE trials: {stopped}",
              file=sys.stderr)
    else:
        stopped = ""
    return SearchOutcome(study, len(done_keys), failed, duplicates, time.perf_counter() - start, stopped)


def _early_stopping(opts: SearchOptions, study: "optuna.Study", objectives: list[Objective],
                    settings: Mapping[str, Any]) -> tuple[Any, list[int], dict[str, int]]:
    """The MO-ASHA rung board (a Ray actor), its rung steps and the PRUNED configs; None when off."""
    from optuna.trial import TrialState

    from nas_sr.search.early_stopping import start_board

    es = opts.early_stopping
    if es is None or not es.active:
        return None, [], {}
    rungs = es.rungs(settings.get("max_steps"))
    study.set_user_attr("early_stopping", {**es.as_dict(), "rungs": rungs})
    pruned = {t.user_attrs["config"]: t.number
              for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
              if t.user_attrs.get("early_stopped") and t.user_attrs.get("config")}
    return start_board(objectives, es, study), rungs, pruned


def _version() -> str:
    from nas_sr import __version__

    return __version__


def _jsonable(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))


def _front_size(study: "optuna.Study") -> int:
    try:
        return len(study.best_trials)
    except Exception:  # noqa: BLE001 - no complete trial yet
        return 0


class _Bar:
    """A do-nothing stand-in for tqdm."""

    def update(self, n: int) -> None: ...
    def set_postfix(self, **kw: Any) -> None: ...
    def write(self, text: str) -> None:
        print(text, file=sys.stderr)
    def close(self) -> None: ...


def _progress(opts: SearchOptions, initial: int) -> Any:
    if not opts.progress:
        return _Bar()
    from tqdm import tqdm

    return tqdm(total=opts.trials, initial=min(initial, opts.trials), desc=f"search {opts.study}",
                unit="trial", file=sys.stderr, dynamic_ncols=True)


