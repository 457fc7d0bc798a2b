"""The search driver: the loop (ask, propose, dedupe, tell), Optuna ask/tell in this process.

Its parts live beside it: the options (:mod:`~nas_sr.search.options`), the strategies that propose
(:mod:`~nas_sr.search.strategy`, a registry), the runner (:mod:`~nas_sr.search.runner`: one Ray task
per trial, resources, timeouts, lost nodes), the typed data that crosses to the workers and back
(:mod:`~nas_sr.search.spec`: :class:`TrialSpec`, :class:`TrialResult`; the settings checked once,
here) and the recorder (:mod:`~nas_sr.search.record`, through the study layer :mod:`nas_sr.study`).

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

import sys
import time
from typing import Any, Mapping

from nas_sr.search.ahead import MIN_WORKERS, ProposalsAhead
from nas_sr.search.candidates import CANDIDATE_LR_SIDE, candidate_cost_fn
from nas_sr.search.constraints import Constraint, parse_constraint
from nas_sr.search.device_latency import device_models, predicted_attrs, with_predictions
from nas_sr.search.early_stopping import prepare as prepare_early_stopping
from nas_sr.search.early_stopping import record_pruned
from nas_sr.search.objectives import DEFAULT_OBJECTIVES, Objective, parse_objectives
from nas_sr.search.options import SearchOptions, SearchOutcome, default_trial_timeout
from nas_sr.search.progress import FrontOnBar, progress
from nas_sr.search.record import open_search_study, record_complete, record_node, record_started
from nas_sr.search.reference import measure_references
from nas_sr.search.runner import SafePointInterrupts
from nas_sr.search.runner import TrialRunner as _Runner  # tests replace driver._Runner
from nas_sr.search.spec import TrialSpec, WorkerSettings
from nas_sr.search.strategy import SpaceExhausted, Strategy, make_strategy, next_trial, strategy_names, tell_duplicate
from nas_sr.study.record import fail_stale_trials, fail_trial, write_attrs
from nas_sr.study.storage import StorageUnavailable, artifact_dir, writer_lock

__all__ = ["CANDIDATE_LR_SIDE", "SearchOptions", "SearchOutcome", "candidate_cost_fn", "default_trial_timeout",
           "run_search"]

#: Proposals in a row that repeat known configs before the space counts as exhausted.
MAX_DUPLICATES_IN_A_ROW = 200


def run_search(opts: SearchOptions) -> SearchOutcome:
    """Run the search until ``opts.trials`` trials are COMPLETE (those already there count)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    val_names = list(opts.val_sets)
    objectives = parse_objectives(opts.objectives or DEFAULT_OBJECTIVES, val_names)
    constraints = [parse_constraint(text, val_names) for text in opts.constraints]
    references = measure_references(opts.references, constraints, opts.space.scales, opts.val_sets, opts.settings)
    constraints = [c.resolved(references) for c in constraints]
    if opts.sampler not in strategy_names():
        raise ValueError(f"unknown sampler {opts.sampler!r} (expected one of {', '.join(strategy_names())})")
    if opts.trials < 1 or opts.workers < 1:
        raise ValueError("--trials and --workers must be positive")
    settings = {"seed": opts.seed, **opts.settings}
    settings.setdefault("threads", max(1, int(opts.cpus_per_trial)))
    worker_settings = WorkerSettings.from_dict(settings)  # checked once, here: every trial gets them typed
    lock = writer_lock(opts.storage)  # one search per SQLite file: a second one is refused
    try:
        return _search(opts, objectives, constraints, references, worker_settings)
    finally:
        if lock is not None:
            lock.close()  # its file goes too: none is left after a search, however it ended


def _search(opts: SearchOptions, objectives: list[Objective], constraints: list[Constraint],
            references: Mapping[str, Any], worker_settings: WorkerSettings) -> SearchOutcome:
    """:func:`run_search` once it holds the storage's writer lock."""
    from optuna.trial import TrialState

    val_names = list(opts.val_sets)
    study = open_search_study(opts, objectives, constraints)
    if references:
        write_attrs(study, {"references": {**study.user_attrs.get("references", {}), **references}})
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
    settings = worker_settings.raw
    devices = device_models(study, objectives, constraints, settings, opts.space, opts.seed)  # latency_ms@LABEL
    strategy = make_strategy(opts.sampler, opts.space, objectives, seed=opts.seed, trials=opts.trials,
                             constraints=constraints,
                             front_tolerance=float(study.user_attrs.get("front_tolerance", 0.0)),
                             cost_fn=with_predictions(candidate_cost_fn(settings, flops="flops" in {
                                 o.key for o in objectives} | {c.objective.key for c in constraints}), devices))
    study.sampler = strategy.sampler()
    data = {"train": list(opts.train_images), "val": {k: list(v) for k, v in opts.val_sets.items()}}
    timeout = opts.trial_timeout if opts.trial_timeout is not None else default_trial_timeout(settings)
    runner = _Runner(opts, data, timeout)
    # Many workers: each proposal is computed while trials run, not while a freed worker waits.
    proposer = (ProposalsAhead(strategy, opts.space, opts.storage, study.study_name, depth=opts.workers)
                if opts.workers >= MIN_WORKERS else strategy)
    board, rungs, pruned_keys = prepare_early_stopping(opts.early_stopping, study, objectives,
                                                       settings.get("max_steps"))
    start = time.perf_counter()
    store_dir = artifact_dir(opts.storage)
    failed = duplicates = dup_row = 0
    max_failures = opts.max_failures if opts.max_failures is not None else max(10, 2 * opts.trials)
    inflight: dict[Any, tuple[Any, dict[str, Any], str]] = {}  # task -> (trial, config, key)
    stopped = ""
    bar = progress(opts.progress, opts.study, opts.trials, len(done_keys))
    reason_on_exit = "driver error"
    asked: set[int] = set()  # trials asked and not yet told: none may outlive the loop RUNNING
    interrupts = SafePointInterrupts()
    front = FrontOnBar(opts.progress)
    def known_now() -> dict[str, int]:  # evaluated or running configurations -> trial
        return {**{k: t.number for t, _, k in inflight.values()}, **pruned_keys, **done_keys}

    def poll() -> None:  # while waiting for a result: stop on a signal; keep proposals ready
        interrupts.check()
        if isinstance(proposer, ProposalsAhead) and not stopped:
            proposer.top_up(known_now)

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
                known = known_now()
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
                record_started(trial, key, config, opts)
                trial_settings = worker_settings if board is None else worker_settings.with_rungs(
                    board, trial.number, rungs)
                inflight[runner.submit(TrialSpec(trial.number, config, key, trial_settings))] = (trial, config, key)
            if not inflight:
                break
            ref, result = runner.wait_one(list(inflight), poll)
            trial, config, key = inflight.pop(ref)
            record_node(trial, result)
            if result.state == "pruned" and board is not None:  # stopped at a rung: PRUNED
                record_pruned(study, trial, key, result)
                pruned_keys[key] = trial.number
                asked.discard(trial.number)
                continue
            if result.state == "complete":
                reason = record_complete(study, trial, config, result, objectives, constraints, store_dir,
                                         predicted=predicted_attrs(devices, config))
            else:
                reason = result.reason or "unknown failure"
                attempt = int(trial.user_attrs.get("attempt", 0))
                if result.lost and attempt < opts.max_retries and trial.params:
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
            bar.set_postfix(failed=failed, dup=duplicates, front=front(study), refresh=True)
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
