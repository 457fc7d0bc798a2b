"""Literature results as a reference study: the official edge-SR table (``nas-sr import-esr``).

Each of the table's models becomes one COMPLETE trial with user attributes ``reference`` (true),
``source``, ``model_id``, ``family``, ``scale``, ``config`` (canonical JSON), ``psnr_SET`` /
``ssim_SET`` / ``lpips_SET`` per test set, ``params``, and per device of the table (``AGX``,
``MaxQ``, ``RPI``) ``fps_DEV`` and ``latency_ms_DEV`` (1000 / fps, Full-HD output), plus the table's
power/memory columns. The study (user attribute ``reference: true``) has the objectives
``psnr@Set5`` (maximise) and ``params`` (minimise), so its own front is the table's front.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from nas_sr.data.esr_table import load_table

__all__ = ["DEVICES", "METRIC_NAMES", "SOURCE", "esr_attrs", "import_esr", "load_table"]

if TYPE_CHECKING:
    import optuna

SOURCE = "edge-SR (Navarrete Michelini et al., WACV 2022), official results table tests.pkl"
DEVICES = {"AGX": "Jetson AGX Xavier", "MaxQ": "GTX1080 MaxQ", "RPI": "Raspberry Pi 400"}
METRIC_NAMES = ["psnr@Set5", "params"]


def esr_attrs(model_id: str, row: Mapping[str, Any], stale: bool = False) -> dict[str, Any]:
    """User attributes of one row of the edge-SR table.

    >>> a = esr_attrs("eSR-TM_s2_K7_C8", {"psnr_Set5": 36.1, "parameters": 1000, "speed_RPI": 20.0})
    >>> a["family"], a["scale"], a["params"], a["latency_ms_RPI"], a["config"]
    ('esr-tm', 2, 1000, 50.0, '{"channels":8,"color":"y","family":"esr-tm","kernel_size":7,"scale":2}')
    """
    from nas_sr.models.esr_ids import config_from_esr_id
    from nas_sr.models.registry import config_key

    config = config_from_esr_id(model_id)
    attrs: dict[str, Any] = {"reference": True, "source": SOURCE, "model_id": model_id,
                             "family": config["family"], "scale": int(config["scale"]), "config": config_key(config)}
    for key, value in row.items():
        if key == "parameters":
            attrs["params"] = int(value)
        elif key.startswith("speed_"):
            device = key.removeprefix("speed_")
            attrs[f"fps_{device}"] = float(value)
            if value and math.isfinite(float(value)):
                attrs[f"latency_ms_{device}"] = 1000.0 / float(value)
        elif isinstance(value, (int, float)) or hasattr(value, "item"):
            number = value.item() if hasattr(value, "item") else value
            attrs[key] = number if isinstance(number, int) else float(number)
    if stale:
        attrs["stale"] = True
    return attrs


def import_esr(path: "str | Path", study: str, storage: str, replace: bool = False,
               trust_pickle: bool = False) -> "optuna.Study":
    """Store the table at ``path`` as reference study ``study``; ValueError if it exists (unless
    ``replace``), or unless ``trust_pickle`` (see :func:`load_table`). Rows listed in
    ``stale_espcn.txt`` beside the table get ``stale: true``."""
    import optuna

    from nas_sr.study.bulk import bulk_add_trials
    from nas_sr.study.record import write_attrs
    from nas_sr.study.storage import existing_studies, open_storage

    path = Path(path)
    table = load_table(path, trust_pickle)
    stale_file = path.parent / "stale_espcn.txt"
    stale = set()
    if stale_file.exists():
        stale = {line.strip() for line in stale_file.read_text().splitlines()
                 if line.strip() and not line.startswith("#")}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = open_storage(storage)
    if study in existing_studies(store):
        if not replace:
            raise ValueError(f"study {study!r} already exists in {storage} (add --replace to overwrite it)")
        optuna.delete_study(study_name=study, storage=store)
    created = optuna.create_study(study_name=study, storage=store, directions=["maximize", "minimize"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        created.set_metric_names(METRIC_NAMES)
    write_attrs(created, {"reference": True, "source": SOURCE, "devices": DEVICES})
    trials = []
    for model_id in sorted(table):
        attrs = esr_attrs(model_id, table[model_id], model_id in stale)
        trials.append(optuna.trial.create_trial(values=[attrs["psnr_Set5"], attrs["params"]], user_attrs=attrs))
    bulk_add_trials(created, trials)
    return created
