"""What crosses the Ray boundary: a :class:`TrialSpec` goes to the worker, a :class:`TrialResult`
comes back. Both are plain, typed data; the worker never touches the study.

The run's settings (a dict from the command line: trainer settings such as ``max_steps`` and
``batch_size``, and cost settings such as ``resolution`` and ``latency_repeats``) are checked once,
by :meth:`WorkerSettings.from_dict` in the driver, before any trial; the worker then reads typed
fields. A :class:`WorkerSettings` is also a read-only mapping of the settings as given, so a
stand-in trial body (``SearchOptions.trial_fn(config, settings, data)``) reads it as a dict.

>>> settings = WorkerSettings.from_dict({"max_steps": 40, "resolution": [64, 64], "latency": False})
>>> settings.train.max_steps, settings.resolution, settings.latency, settings["max_steps"]
(40, (64, 64), False, 40)
>>> WorkerSettings.from_dict({"max_seconds": 5}).train.max_steps  # a time budget alone
1000000000
>>> WorkerSettings.from_dict({"batch_size": 0})
Traceback (most recent call last):
...
ValueError: TrainSettings.batch_size must be an integer >= 1, got 0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Iterator

#: ``max_steps`` for a time budget alone (the trainer stops on time first).
UNBOUNDED_STEPS = 10**9
#: Settings the worker reads itself; the rest go to the trainer's ``TrainSettings``.
COST_KEYS = ("resolution", "latency", "latency_repeats", "threads", "cost_cache", "device")


@dataclasses.dataclass(frozen=True)
class WorkerSettings(Mapping):
    """One search's worker settings, validated: the trainer's, the cost measurement's, and (MO-ASHA)
    the rung protocol of one trial."""

    #: The settings as given (what the study records as ``settings``, and what ``trial_fn`` reads).
    raw: Mapping[str, Any]
    train: Any  # nas_sr.train.TrainSettings (its module loads torch-free, but on use)
    resolution: tuple[int, int] = (1920, 1080)
    latency: bool = True
    latency_repeats: int = 5
    threads: int | None = None
    cost_cache: str | None = None
    device: str = "cpu"
    #: MO-ASHA: ``{"board": actor, "trial": number, "rungs": [...]}`` (:mod:`nas_sr.search.early_stopping`).
    early_stopping: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any]) -> "WorkerSettings":
        """Check ``settings`` once; ValueError naming a bad trainer setting."""
        from nas_sr.train.settings import TrainSettings

        known = {f.name for f in dataclasses.fields(TrainSettings)}
        chosen = {k: v for k, v in settings.items() if k in known and v is not None}
        if "max_steps" not in chosen and chosen.get("max_seconds"):
            chosen["max_steps"] = UNBOUNDED_STEPS  # a time budget alone
        resolution = settings.get("resolution") or (1920, 1080)
        return cls(raw=dict(settings), train=TrainSettings(**chosen),
                   resolution=(int(resolution[0]), int(resolution[1])),
                   latency=bool(settings.get("latency", True)),
                   latency_repeats=int(settings.get("latency_repeats", 5)),
                   threads=settings.get("threads"), cost_cache=settings.get("cost_cache"),
                   device=str(settings.get("device", "cpu")), early_stopping=settings.get("early_stopping"))

    @classmethod
    def of(cls, settings: "Mapping[str, Any] | WorkerSettings") -> "WorkerSettings":
        """``settings`` itself when already checked, else :meth:`from_dict` of it."""
        return settings if isinstance(settings, WorkerSettings) else cls.from_dict(settings)

    def with_rungs(self, board: Any, trial: int, rungs: list[int]) -> "WorkerSettings":
        """These settings for one MO-ASHA trial: validation at the first rung, the rung protocol."""
        protocol = {"board": board, "trial": trial, "rungs": list(rungs)}
        return dataclasses.replace(self, raw={**self.raw, "validate_every": rungs[0], "early_stopping": protocol},
                                   train=self.train.replace(validate_every=rungs[0]), early_stopping=protocol)

    # A read-only mapping of ``raw``.
    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclasses.dataclass(frozen=True)
class TrialSpec:
    """One trial's work: its number, canonical config (and key) and the run's settings."""

    number: int
    config: dict[str, Any]
    key: str
    settings: WorkerSettings


@dataclasses.dataclass
class TrialResult:
    """What a trial's task returns. ``state``: ``complete``, ``fail`` (``reason``; ``lost`` when its
    worker or node died, so it may run again) or ``pruned`` (stopped at a rung)."""

    state: str
    reason: str = ""
    lost: bool = False
    #: ``nas_sr.cost.Cost.as_dict()``: params, flops, params_train, resolution, latency.
    cost: dict[str, Any] | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    steps: int | None = None
    seconds: float | None = None
    final_loss: float | None = None
    curve: list[list[float]] = dataclasses.field(default_factory=list)
    #: The trained state_dict as ``torch.save`` bytes.
    weights: bytes | None = None
    rung_values: list[dict[str, Any]] | None = None
    stopped_at_rung: int | None = None
    #: Where it ran (worker pid, host, Ray node, GPUs, training device): the trial's provenance.
    node: dict[str, Any] = dataclasses.field(default_factory=dict)
    pid: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrialResult":
        """The result of a trial body's dict (``state`` required; unknown keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names and v is not None})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def get(self, name: str, default: Any = None) -> Any:
        """A field by name (as a result dict was read before results were typed)."""
        return getattr(self, name, default)
