"""Study storage helpers: open a storage, find studies, fail trials with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

STALE_REASON = "stale: driver stopped"


def open_storage(url: str) -> "optuna.storages.BaseStorage":
    """An Optuna RDB storage; for SQLite, the database's folder is created first."""
    import optuna

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(url)


def artifact_dir(url: str) -> Path:
    """Where trial artifacts (weights) go: ``artifacts/`` beside a SQLite database, else ``studies/artifacts``."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).expanduser().parent / "artifacts"
    return Path("studies") / "artifacts"


def existing_studies(storage: "str | optuna.storages.BaseStorage") -> list[str]:
    import optuna

    return sorted(optuna.study.get_all_study_names(storage=storage))


def load_existing_study(name: str, url: str) -> "optuna.Study":
    """Load study ``name``; ValueError listing the existing studies when there is none by that name."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).expanduser().exists():
        raise ValueError(f"no study database at {url}")
    storage = open_storage(url)
    names = existing_studies(storage)
    if name not in names:
        raise ValueError(f"no study {name!r} in {url} (existing: {', '.join(names) or 'none'})")
    return optuna.load_study(study_name=name, storage=storage)


def fail_trial(study: "optuna.Study", number: int, reason: str) -> None:
    """Mark RUNNING trial ``number`` FAIL with user attribute ``fail_reason``."""
    from optuna.trial import TrialState

    storage = study._storage
    trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    if storage.get_trial(trial_id).state != TrialState.RUNNING:
        return
    storage.set_trial_user_attr(trial_id, "fail_reason", reason)
    study.tell(number, state=TrialState.FAIL, skip_if_finished=True)


def fail_stale_trials(study: "optuna.Study", reason: str = STALE_REASON) -> int:
    """Fail every RUNNING trial of the study (left by a driver that was killed); returns how many."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        fail_trial(study, trial.number, reason)
    return len(stale)
