"""What a search is asked to do (:class:`SearchOptions`, filled by ``nas-sr search``), and what it did
(:class:`SearchOutcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from nas_sr.study.storage import DEFAULT_STORAGE

if TYPE_CHECKING:
    import optuna

    from nas_sr.space import SearchSpace


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
