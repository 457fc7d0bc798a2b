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
import math
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from nas_sr.search.constraints import Constraint, parse_constraint
from nas_sr.search.early_stopping import record_pruned
from nas_sr.search.early_stopping import trial_settings as es_settings
from nas_sr.search.objectives import DEFAULT_OBJECTIVES, Objective, parse_objectives
from nas_sr.search.reference import measure_references
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
    writer_lock,
)

if TYPE_CHECKING:
    import optuna

    from nas_sr.space import SearchSpace

SAMPLERS = STRATEGIES
DEFAULT_STORAGE = "sqlite:///studies/default.db"
#: Proposals in a row that repeat known configs before the space counts as exhausted.
MAX_DUPLICATES_IN_A_ROW = 200
CURVE_POINTS = 50


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
    seed: int = 0
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
            raise ValueError(f"study {opts.study!r} in {opts.storage} already has trials; add --resume to "
                             "continue it, or choose another --study")
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
    return study


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
    from optuna.trial import TrialState

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
        study = _open_study(opts, objectives, constraints)
    except BaseException:
        if lock is not None:
            lock.close()
        raise
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
    finite = all(b.size() is not None for b in opts.space.branches)
    total = opts.space.count() if finite else None
    settings = {"seed": opts.seed, **opts.settings}
    settings.setdefault("threads", max(1, int(opts.cpus_per_trial)))
    try:
        strategy = make_strategy(opts.sampler, opts.space, objectives, seed=opts.seed, trials=opts.trials,
                                 constraints=constraints,
                                 cost_fn=candidate_cost_fn(settings, flops="flops" in {o.key for o in objectives}
                                                           | {c.objective.key for c in constraints}))
    except BaseException:
        if lock is not None:
            lock.close()
        raise
    study.sampler = strategy.sampler()
    data = {"train": list(opts.train_images), "val": {k: list(v) for k, v in opts.val_sets.items()}}
    timeout = opts.trial_timeout if opts.trial_timeout is not None else default_trial_timeout(settings)
    try:
        runner = _Runner(opts, data, timeout)
    except BaseException:
        if lock is not None:
            lock.close()
        raise
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
    interrupts = _SafePointInterrupts()
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
                propose: Strategy | None = strategy
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
                _set_attrs(trial, {"config": key, "family": config["family"], "scale": config["scale"],
                                   "seed": opts.seed, "nas_sr_version": _version(), "sampler": opts.sampler,
                                   "sampler_seed": opts.seed})
                trial_settings = settings if board is None else es_settings(settings, board, trial.number, rungs)
                inflight[runner.submit(config, trial_settings)] = (trial, config, key)
            if not inflight:
                break
            ref, result = runner.wait_one(list(inflight), interrupts.check)
            trial, config, key = inflight.pop(ref)
            if result.get("node"):
                _set_attrs(trial, result["node"])
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
            bar.set_postfix(failed=failed, dup=duplicates, front=_front_size(study), refresh=True)
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
        if lock is not None:
            lock.close()
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


class _SafePointInterrupts:
    """Ctrl-C and SIGTERM stop the search at the next safe point (within a second), never inside a
    step that writes the study: a trial asked but not yet tracked would otherwise outlive the driver
    RUNNING. A second signal stops at once."""

    def __init__(self) -> None:
        import signal
        import threading

        self._pending = False
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._hold) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _hold(self, signum: int, frame: Any) -> None:
        if self._pending:
            raise KeyboardInterrupt
        self._pending = True

    def check(self) -> None:
        """Raise :class:`KeyboardInterrupt` if a signal came since the last safe point."""
        if self._pending:
            raise KeyboardInterrupt

    def restore(self) -> None:
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


def record_complete(study: "optuna.Study", trial: Any, config: Mapping[str, Any], result: Mapping[str, Any],
                    objectives: list[Objective], constraints: list[Constraint], store_dir: Path) -> str:
    """Record a finished training as COMPLETE; returns a failure reason instead when it cannot be."""
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    cost = result["cost"]
    latency = cost.get("latency") or {}
    # Costs are the deploy form's; params_train counts what training ran (the same without re-parameterisation).
    attrs: dict[str, Any] = {**result["metrics"], "params": cost["params"], "flops": cost["flops"],
                             "params_train": cost.get("params_train") or cost["params"],
                             "resolution": cost["resolution"], "steps": result["steps"],
                             "seconds": round(result["seconds"], 3), "final_loss": result["final_loss"]}
    if latency:
        attrs.update(latency_ms=latency["median_ms"], latency_iqr_ms=latency["iqr_ms"],
                     device=_device_text(latency["device"]))
    curve = result.get("curve") or []
    if result.get("rung_values"):  # early stopping: the values at each rung it passed
        attrs["rung_values"] = result["rung_values"]
    attrs["curve"] = curve[:: max(1, math.ceil(len(curve) / CURVE_POINTS))]
    try:
        values = [o.value(attrs) for o in objectives]
    except KeyError as exc:
        _set_attrs(trial, attrs)
        return f"objective value {exc.args[0]!r} missing from the trial's results"
    bad = [o.name for o, v in zip(objectives, values) if not math.isfinite(v)]
    _set_attrs(trial, attrs)
    if bad:
        return f"objective {', '.join(bad)} is not finite"
    for c in constraints:
        trial.set_constraint(c.text, c.violation(attrs))
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"trial{trial.number}_weights.pt"
            path.write_bytes(result["weights"])
            artifact = upload_artifact(artifact_store=FileSystemArtifactStore(str(store_dir)), file_path=str(path),
                                       study_or_trial=trial, mimetype="application/octet-stream")
    except OSError as exc:  # disk full, read-only folder...: this trial fails, the search goes on
        return f"weights not saved to {store_dir}: {type(exc).__name__}: {exc}".splitlines()[0]
    trial.set_user_attr("weights_artifact", artifact)
    study.tell(trial, values)
    return ""


def _set_attrs(trial: Any, attrs: Mapping[str, Any]) -> None:
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def _device_text(device: Mapping[str, Any]) -> str:
    return f"{device['kind']}|{device['name']}|{device['threads']} threads|{device['dtype']}|torch {device['torch_version']}"


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


def _traced(fn: Callable[..., dict[str, Any]], config: dict[str, Any], settings: dict[str, Any],
            data: Any) -> dict[str, Any]:
    """The Ray task body: ``fn``'s result with the provenance of where it ran (``node``)."""
    import socket

    node: dict[str, Any] = {"worker_pid": os.getpid(), "hostname": socket.gethostname()}
    try:
        import ray

        context = ray.get_runtime_context()
        node["ray_node_id"] = context.get_node_id()
        node["ray_node_ip"] = ray.util.get_node_ip_address()
        gpus = context.get_accelerator_ids().get("GPU") or []
        if gpus:
            node["ray_gpu_ids"] = ",".join(map(str, gpus))
    except Exception:  # noqa: BLE001 - not in a Ray worker (tests calling it directly)
        pass
    node["train_device"] = _train_device(str(settings.get("device", "cpu")))
    result = dict(fn(config, settings, data))
    result["node"] = node
    return result


def _train_device(device: str) -> str:
    """``cpu|<processor>`` or ``cuda:N|<GPU name>``: the device a trial trained on."""
    import platform

    if device.startswith("cuda"):
        try:
            import torch

            index = torch.device(device).index or 0
            return f"{device}|{torch.cuda.get_device_name(index)}"
        except Exception:  # noqa: BLE001 - no CUDA here: the trial fails in training, saying why
            return f"{device}|unavailable"
    return f"{device}|{platform.processor() or platform.machine()}"


def _lost_result(exc: BaseException) -> dict[str, Any]:
    """A failed result for a task whose worker or node died; ``lost`` makes it eligible for a retry."""
    import ray.exceptions as rex

    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 200:  # Ray's messages run on: keep whole sentences (node IP and id included)
        cut = first.rfind(". ", 0, 200)
        first = first[:cut + 1] if cut > 40 else first[:200]
    detail = f"{type(exc).__name__}: {first}"
    if isinstance(exc, rex.RayTaskError) and not isinstance(exc, rex.WorkerCrashedError):
        # The trial raised, not a lost worker: its own exception, not Ray's wrapper (coloured task name).
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            lines = str(cause).strip().splitlines()
            detail = f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
        return {"state": "fail", "reason": f"error: {detail}"[:300]}
    if isinstance(exc, getattr(rex, "NodeDiedError", ())) or "node" in detail.lower() and "died" in detail.lower():
        reason = f"node lost: {detail}"
    elif isinstance(exc, (rex.WorkerCrashedError, getattr(rex, "OutOfMemoryError", rex.WorkerCrashedError),
                          getattr(rex, "ActorDiedError", rex.WorkerCrashedError))):
        reason = f"worker died: {detail}"
    elif isinstance(exc, rex.TaskCancelledError):
        return {"state": "fail", "reason": f"cancelled: {detail}"[:300]}
    else:
        reason = f"ray task died: {detail}"
    return {"state": "fail", "reason": reason[:300], "lost": True}


def _check_resources(total: Mapping[str, float], opts: SearchOptions) -> None:
    """A clear error, not an endless wait, when no node could ever run one trial."""
    for name, need in (("CPU", opts.cpus_per_trial), ("GPU", opts.gpus_per_trial)):
        if need > 0 and total.get(name, 0.0) < need:
            raise ValueError(f"the Ray cluster has {total.get(name, 0.0):g} {name}(s) in all; a trial asks for "
                             f"{need:g} (--{name.lower()}s-per-trial)")


class _Runner:
    """Ray tasks (or, with ``trial_fn`` and no Ray, calls in this process)."""

    def __init__(self, opts: SearchOptions, data: dict[str, Any], timeout: float | None = None) -> None:
        import logging

        import ray

        from nas_sr.search.worker import run_trial

        self._started = False
        self._timeout = timeout
        self._submitted: dict[Any, float] = {}
        # A local single-user cluster: its token notice is noise on every run.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        if not ray.is_initialized():
            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                          logging_level=logging.WARNING, configure_logging=True)
            if opts.ray_address:
                ray.init(address=opts.ray_address, **kwargs)
            else:
                cpus = max(1, math.ceil(opts.workers * opts.cpus_per_trial))
                # "local": a fresh instance even when `ray start` runs on this machine (which a
                # bare ray.init() would join, refusing num_cpus)
                ray.init(address="local", num_cpus=cpus,
                         num_gpus=math.ceil(opts.workers * opts.gpus_per_trial),
                         _temp_dir=opts.ray_temp_dir, **kwargs)
            self._started = True
        self._ray = ray
        _check_resources(ray.cluster_resources(), opts)
        # Resources declared on the task: Ray runs each trial on a node that has them free.
        self._task = ray.remote(num_cpus=opts.cpus_per_trial, num_gpus=opts.gpus_per_trial,
                                max_retries=0)(_traced)
        self._fn = opts.trial_fn or run_trial
        self._data = ray.put(data)

    def submit(self, config: Mapping[str, Any], settings: Mapping[str, Any]) -> Any:
        ref = self._task.remote(self._fn, dict(config), dict(settings), self._data)
        self._submitted[ref] = time.monotonic()
        return ref

    def wait_one(self, refs: list[Any], poll: Callable[[], None]) -> tuple[Any, dict[str, Any]]:
        """The next finished task and its result; a task past the timeout is killed and fails.
        ``poll`` runs every second while waiting (it raises to stop the wait)."""
        ray = self._ray
        ready: list[Any] = []
        while not ready:
            poll()
            ready, _ = ray.wait(refs, num_returns=1, timeout=1.0)
            if not ready and self._timeout is not None:
                now = time.monotonic()
                late = next((r for r in refs if now - self._submitted.get(r, now) > self._timeout), None)
                if late is not None:
                    self.cancel(late)
                    self._submitted.pop(late, None)
                    return late, {"state": "fail", "reason": f"timeout: the trial ran past its "
                                  f"{self._timeout:g} s limit and was killed"}
        ref = ready[0]
        self._submitted.pop(ref, None)
        try:
            return ref, ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - the task died (worker crash, OOM kill, node lost...)
            return ref, _lost_result(exc)

    def cancel(self, ref: Any) -> None:
        try:
            self._ray.cancel(ref, force=True)
        except Exception:  # noqa: BLE001 - already finished
            pass

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
