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
