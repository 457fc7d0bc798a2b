"""Shared fixtures. Data beside the project (``../shared``) is found through ``NAS_SR_SHARED``."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

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


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """initdb into a temporary folder and pg_ctl start on a free port, as a non-root user.

    With ``password`` the server asks for it (scram-sha-256) of user ``postgres``; else it trusts.
    """

    def __init__(self, bindir: Path, password: str | None = None) -> None:
        self.bindir, self.port, self.password = bindir, _free_port(), password
        self.root = Path(tempfile.mkdtemp(prefix="nsr-pg-"))
        self.data = self.root / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as an unprivileged user
            user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
            if user is None:
                pytest.skip("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")
            runner = shutil.which("runuser")
            self.prefix = [runner, "-u", user, "--"] if runner else ["su", user, "-s", "/bin/sh", "-c"]
            os.chmod(self.root, 0o755)
            pw = pwd.getpwnam(user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        auth = ["--auth=trust"]
        if password is not None:
            pwfile = self.root / "pw"
            pwfile.write_text(password)
            os.chmod(pwfile, 0o644)
            auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        self._run([str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres", *auth, "-E", "UTF8",
                   "--no-sync"])
        self.start()

    def _run(self, argv: list[str]) -> None:
        if self.prefix and self.prefix[0] == "su":
            argv = [*self.prefix, " ".join(f"'{a}'" for a in argv)]
        else:
            argv = [*self.prefix, *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stdout[-800:]} {done.stderr[-800:]}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                   str(self.root / "log"), "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def url(self, db: str = "postgres", password: str | None = None) -> str:
        password = self.password if password is None else password
        user = "postgres" if password is None else f"postgres:{password}"
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        import psycopg

        name = f"db{time.monotonic_ns()}"
        secret = f" password={self.password}" if self.password else ""
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres{secret}",
                             autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def start_postgres(password: str | None = None) -> Postgres:
    """A throw-away PostgreSQL server; skips, saying why, without psycopg or the binaries."""
    pytest.importorskip("psycopg", reason="psycopg (pip install -e '.[test]') is needed for PostgreSQL storage")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin; "
                    "`.ci/run` installs them (apt-get install postgresql)")
    return Postgres(bindir, password)


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
