"""A chosen trial of a study: its config, its trained weights (the Optuna artifact) and its network
(as deployed). Export, profiling, re-training and the trial page all load trials through here."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    import torch
    from optuna.trial import FrozenTrial
    from torch import nn


def find_trial(study: "optuna.Study", number: int) -> "FrozenTrial":
    """Trial ``number`` of ``study``; ValueError naming the study and its trial numbers when absent."""
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        if trial.number == number:
            return trial
    have = f"trials 0..{trials[-1].number}" if trials else "no trials"
    raise ValueError(f"no trial {number} in study {study.study_name!r} ({have})")


def trial_config(trial: "FrozenTrial") -> dict[str, Any]:
    """The canonical config the trial trained (its ``config`` user attribute)."""
    text = trial.user_attrs.get("config")
    if not isinstance(text, str) or not text.startswith("{"):
        raise ValueError(f"trial {trial.number} has no config user attribute (not a nas-sr search trial)")
    return json.loads(text)


def trial_state_dict(trial: "FrozenTrial", storage_url: str) -> "dict[str, torch.Tensor]":
    """The trained state_dict of ``trial``, read from the artifact store beside ``storage_url``."""
    import io

    import torch
    from optuna.artifacts import FileSystemArtifactStore
    from optuna.artifacts.exceptions import ArtifactNotFound

    from nas_sr.study.storage import artifact_dir

    artifact = trial.user_attrs.get("weights_artifact")
    if not artifact:
        raise ValueError(f"trial {trial.number} has no weights (no weights_artifact user attribute; "
                         f"state {trial.state.name}): only COMPLETE search trials keep their weights")
    store_dir = artifact_dir(storage_url)
    try:
        with FileSystemArtifactStore(str(store_dir)).open_reader(artifact) as reader:
            data = reader.read()
    except (ArtifactNotFound, FileNotFoundError):
        raise ValueError(f"weights artifact {artifact} of trial {trial.number} is not in {store_dir}") from None
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def trial_model(trial: "FrozenTrial", storage_url: str, weights: bool = True) -> "nn.Module":
    """The trial's network as deployed (re-parameterised where its family trains another form), in
    eval mode, with its trained weights (``weights=False``: as built)."""
    from nas_sr.models import build_model, deploy_model
    from nas_sr.models.weights import load_weights

    config = trial_config(trial)
    model = build_model(config)
    if weights:
        load_weights(model, trial_state_dict(trial, storage_url), source=f"weights of trial {trial.number}")
    return deploy_model(config, model).eval()
