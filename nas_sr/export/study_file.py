"""A standalone SQLite copy of some trials of a study (with their weights artifacts) to profile on a
target device, and the merge of its profiles back onto the original trials.

The copy keeps each trial's values, params, constraints and user attributes, plus
``origin_number`` (its number in the original study; copies are numbered 0, 1, ...); its
artifacts go to ``artifacts/`` beside the file, as for any SQLite study of nas-sr. Merging
matches a copy to its original by ``origin_number`` and config, and writes the profile
attributes (``latency_*@<label>``) that differ; running it twice writes nothing the second time.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna


@dataclass
class MergeReport:
    """What a merge wrote: attributes per original trial number, and the trials already up to date."""

    study: str
    written: dict[int, list[str]] = field(default_factory=dict)
    unchanged: list[int] = field(default_factory=list)

    @property
    def attributes(self) -> int:
        return sum(len(keys) for keys in self.written.values())

    def summary(self) -> str:
        labels = sorted({k.partition("@")[2] for keys in self.written.values() for k in keys})
        text = (f"merged {self.attributes} profile attribute(s) onto {len(self.written)} trial(s) of study "
                f"{self.study!r}" + (f" (labels: {', '.join(labels)})" if labels else ""))
        return text + f"; {len(self.unchanged)} trial(s) already up to date"


def _safe_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL (journal:PATH)
        return url


def export_study(name: str, storage_url: str, out: str | Path, trials: str = "all") -> "optuna.Study":
    """Copy the COMPLETE trials ``trials`` selects (``all``, ``pareto`` or ``ID,ID,...``) of study
    ``name`` into a new SQLite file ``out``, with their weights; returns the copy."""
    import optuna
    from optuna.artifacts import FileSystemArtifactStore

    from nas_sr.profile.measure import select_trials
    from nas_sr.study.record import write_attrs
    from nas_sr.study.storage import artifact_dir, load_existing_study, open_storage

    out = Path(out)
    if out.exists():
        raise ValueError(f"{out} exists; remove it or choose another --out")
    source = load_existing_study(name, storage_url)
    chosen = select_trials(source, trials)
    if not chosen:
        raise ValueError(f"study {name!r} in {storage_url} has no COMPLETE trials to export (--trials {trials})")
    url = f"sqlite:///{out}"
    target = optuna.create_study(storage=open_storage(url), study_name=name, directions=source.directions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if source.metric_names:
            target.set_metric_names(list(source.metric_names))
    write_attrs(target, {**source.user_attrs, "exported_from": {
        "study": name, "storage": _safe_url(storage_url), "trials": [t.number for t in chosen]}})
    src_store, dst_store = FileSystemArtifactStore(str(artifact_dir(storage_url))), None
    for trial in chosen:
        frozen = copy.deepcopy(trial)
        frozen.user_attrs["origin_number"] = trial.number
        target.add_trial(frozen)
        artifact = trial.user_attrs.get("weights_artifact")
        if artifact:
            if dst_store is None:
                artifact_dir(url).mkdir(parents=True, exist_ok=True)
                dst_store = FileSystemArtifactStore(str(artifact_dir(url)))
            try:
                with src_store.open_reader(artifact) as reader:
                    dst_store.write(artifact, reader)
            except FileNotFoundError:
                raise ValueError(f"weights artifact {artifact} of trial {trial.number} is not in "
                                 f"{artifact_dir(storage_url)}") from None
    return target


def _only_study(url: str, path: Path) -> str:
    from nas_sr.study.storage import existing_studies, open_storage

    names = existing_studies(open_storage(url))
    if len(names) != 1:
        raise ValueError(f"{path} holds {len(names)} studies ({', '.join(names) or 'none'}); not an exported study")
    return names[0]


def merge_study(path: str | Path, into: str, study: str | None = None) -> MergeReport:
    """Write the profile attributes of the exported study file ``path`` onto the matching trials
    of study ``study`` (default: the one it was exported from) in storage ``into``."""
    from nas_sr.search.predicted import refresh_predictions
    from nas_sr.profile.record import is_profile_key
    from nas_sr.study.record import write_finished_attrs
    from nas_sr.study.storage import load_existing_study

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such study file")
    url = f"sqlite:///{path}"
    copy_study = load_existing_study(_only_study(url, path), url)
    origin = copy_study.user_attrs.get("exported_from") or {}
    target = load_existing_study(study or origin.get("study") or copy_study.study_name, into)
    originals = {t.number: t for t in target.get_trials(deepcopy=False)}
    report = MergeReport(target.study_name)
    updates: dict[int, dict[str, Any]] = {}
    for trial in copy_study.get_trials(deepcopy=False):
        profile = {k: v for k, v in trial.user_attrs.items() if is_profile_key(k)}
        if not profile:
            continue
        number = int(trial.user_attrs.get("origin_number", trial.number))
        original = originals.get(number)
        if original is None:
            raise ValueError(f"{path}: trial {trial.number} comes from trial {number}, which study "
                             f"{target.study_name!r} in {into} does not have")
        if original.user_attrs.get("config") != trial.user_attrs.get("config"):
            raise ValueError(f"{path}: trial {trial.number} (config {trial.user_attrs.get('config')}) does not match "
                             f"trial {number} of study {target.study_name!r} (config {original.user_attrs.get('config')})")
        changed = {k: v for k, v in profile.items() if original.user_attrs.get(k) != v}
        if changed:
            updates[number] = changed
            report.written[number] = sorted(changed)
        else:
            report.unchanged.append(number)
    if updates:
        write_finished_attrs(target, updates)
        for label in sorted({k.partition("@")[2] for attrs in updates.values() for k in attrs}):
            refresh_predictions(target, label)  # a latency_ms@LABEL objective's predictor refits
    return report
