"""Shared fixtures. Data beside the project (``../shared``) is found through ``NAS_SR_SHARED``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nas_sr.testing import PostgresServer, PostgresUnavailable

SHARED = Path(os.environ.get("NAS_SR_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


#: Fixtures that start a Ray cluster, a PostgreSQL server or Chromium: a test that uses one (directly or
#: through another fixture) is marked ``slow``, so ``pytest -m "not slow"`` leaves it out.
SLOW_FIXTURES = frozenset({"ray_cluster", "cluster", "postgres", "postgres_with_password", "browser"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder; tests that use it skip, saying why, when it is absent."""
    if not (SHARED / "datasets").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set NAS_SR_SHARED to its path)")
    return SHARED


@pytest.fixture(scope="session")
def esr_table(shared: Path) -> dict:
    """The official edge-SR results table (model id -> metrics)."""
    import pickle

    with open(shared / "esr" / "tests.pkl", "rb") as f:
        return pickle.load(f)  # trusted test data shipped beside the project


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch CPU thread for a module's tests.

    On a small shared CPU two OpenMP threads that wait on each other under load make convs
    10-100x slower than one thread does (a 61x47 EMT forward: 20 s vs 1.4 s).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def centre_crops(split: str, size: int) -> list:
    """(name, uint8 image) of the bundled photos of ``split``, each cut to its central ``size`` square."""
    import numpy as np

    from nas_sr.data import load_bundled

    out = []
    for name, image in load_bundled(split):
        h, w = image.shape[:2]
        out.append((name, np.ascontiguousarray(image[(h - size) // 2:(h + size) // 2,
                                                     (w - size) // 2:(w + size) // 2])))
    return out


@pytest.fixture(scope="session")
def bundled_crops():
    """:func:`centre_crops`: small real training and validation images for tiny searches."""
    return centre_crops


@pytest.fixture(scope="session")
def photos():
    """The bundled training photos (scikit-image's), full size."""
    from nas_sr.data import load_bundled

    return load_bundled("train")


@pytest.fixture(scope="session")
def val_photos():
    """The bundled validation photos, full size."""
    from nas_sr.data import load_bundled

    return load_bundled("val")


class StudyFactory:
    """Makes a study as ``nas-sr search`` leaves it: COMPLETE trials of ``configs`` with config,
    costs and a weights artifact (random weights, seeded per trial); returns its SQLite URL."""

    configs = [
        {"family": "esr-max", "scale": 2, "color": "y", "kernel_size": 3, "channels": 2},
        {"family": "esr-tm", "scale": 2, "color": "y", "kernel_size": 5, "channels": 4},
        {"family": "espcn", "scale": 2, "color": "y", "width1": 0, "width2": 3},
    ]

    def __call__(self, tmp_path: Path, configs: list | None = None, name: str = "s") -> str:
        import io
        import warnings

        import optuna
        import torch
        from optuna.artifacts import FileSystemArtifactStore, upload_artifact

        from nas_sr.models import build_model, config_key
        from nas_sr.study.storage import artifact_dir

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        url = f"sqlite:///{tmp_path}/study.db"
        study = optuna.create_study(storage=url, study_name=name, directions=["maximize", "minimize", "minimize"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(["psnr@val", "latency_ms", "params"])
        study.set_user_attr("settings", {"batch_size": 4, "patch_size": 12, "patches": 64, "resolution": [64, 64],
                                         "latency_repeats": 2, "log_every": 5, "threads": 1, "device": "cpu"})
        study.set_user_attr("constraints", [])
        store = FileSystemArtifactStore(str(artifact_dir(url)))
        artifact_dir(url).mkdir(parents=True, exist_ok=True)
        for i, config in enumerate(self.configs if configs is None else configs):
            torch.manual_seed(i)
            model = build_model(config)
            trial = study.ask()
            attrs = {"config": config_key(config), "family": config["family"], "scale": 2, "psnr_val": 30.0 + i,
                     "latency_ms": 1.0 + i, "params": sum(p.numel() for p in model.parameters()), "seed": 0}
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
            buffer = io.BytesIO()
            torch.save(model.state_dict(), buffer)
            path = tmp_path / f"w{i}.pt"
            path.write_bytes(buffer.getvalue())
            trial.set_user_attr("weights_artifact", upload_artifact(artifact_store=store, file_path=str(path),
                                                                    study_or_trial=trial))
            study.tell(trial, [attrs["psnr_val"], attrs["latency_ms"], attrs["params"]])
        return url


@pytest.fixture(scope="session")
def make_study() -> StudyFactory:
    """:class:`StudyFactory` (``make_study(tmp_path[, configs][, name])``; ``make_study.configs``)."""
    return StudyFactory()


@pytest.fixture
def cli(capsys):
    """Run ``nas-sr ARGS...`` in-process; returns (exit status, stdout, stderr)."""
    from nas_sr.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


# --- PostgreSQL: a throw-away server -------------------------------------------------------------


def start_postgres(password: str | None = None) -> PostgresServer:
    """A throw-away PostgreSQL server (:class:`nas_sr.testing.PostgresServer`); skips, saying why,
    without psycopg, the binaries or (as root) a user to run it as."""
    try:
        return PostgresServer(password)
    except PostgresUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL server that trusts every local connection."""
    server = start_postgres()
    yield server
    server.close()


@pytest.fixture(scope="module")
def postgres_with_password():
    """A throw-away PostgreSQL server whose user ``postgres`` needs the password ``secret``."""
    server = start_postgres(password="secret")
    yield server
    server.close()
