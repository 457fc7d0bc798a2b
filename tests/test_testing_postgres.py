"""nas_sr.testing.postgres: finding the binaries, the reasons a server cannot start, and a server's
life (a database per name, a password, nothing left behind by close() or by an exiting process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nas_sr.testing.postgres as pg
from nas_sr.testing import PostgresServer, PostgresUnavailable, find_postgres_binaries


def _fake_bindir(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    return folder


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_missing_binaries_are_reported_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pg, "VERSIONED_BINDIRS", str(tmp_path / "lib" / "*" / "bin"))
    with pytest.raises(PostgresUnavailable) as error:
        find_postgres_binaries()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("no PostgreSQL binaries (initdb, pg_ctl) on PATH or in ")
    assert "apt-get install postgresql" in message


def test_path_needs_both_binaries_else_the_newest_version_is_taken(tmp_path, monkeypatch):
    monkeypatch.setattr(pg, "VERSIONED_BINDIRS", str(tmp_path / "lib" / "*" / "bin"))
    for version in ("9.6", "10", "15"):
        _fake_bindir(tmp_path / "lib" / version / "bin", "initdb", "pg_ctl")
    _fake_bindir(tmp_path / "lib" / "16" / "bin", "initdb")  # no pg_ctl: not a usable install
    on_path = _fake_bindir(tmp_path / "path", "initdb")
    monkeypatch.setenv("PATH", str(on_path))
    assert find_postgres_binaries() == tmp_path / "lib" / "15" / "bin"  # 15 > 10 > 9.6, numerically
    (on_path / "pg_ctl").write_text("#!/bin/sh\n")
    (on_path / "pg_ctl").chmod(0o755)
    assert find_postgres_binaries() == on_path.resolve()


def test_missing_psycopg_is_reported_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    monkeypatch.setattr(pg, "find_postgres_binaries", lambda: pytest.fail("looked for binaries"))
    with pytest.raises(PostgresUnavailable, match=r"^psycopg \(pip install .*\) is needed for PostgreSQL storage$"):
        PostgresServer()


def test_root_without_a_user_to_run_the_server_as(tmp_path, monkeypatch):
    import pwd

    def no_user(name):
        raise KeyError(name)

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(pwd, "getpwnam", no_user)
    monkeypatch.setattr(pg.tempfile, "mkdtemp", lambda **kw: pytest.fail("made a folder"))
    with pytest.raises(PostgresUnavailable, match="^running as root and no 'postgres' or 'nobody' user to run "
                                                   "PostgreSQL as$"):
        PostgresServer(bindir=_fake_bindir(tmp_path / "bin", "initdb", "pg_ctl"))


@pytest.mark.slow
def test_server_with_password_databases_and_close(tmp_path):
    import psycopg

    try:
        server = PostgresServer(password="secret", prefix="nsr-test-pg-")
    except PostgresUnavailable as error:
        pytest.skip(str(error))
    with server:
        assert server.root.name.startswith("nsr-test-pg-") and server.data == server.root / "data"
        url = server.new_database("bench")
        assert url == f"postgresql+psycopg://postgres:secret@127.0.0.1:{server.port}/bench"
        assert server.url("x", password="other") == f"postgresql+psycopg://postgres:other@127.0.0.1:{server.port}/x"
        dsn = f"host=127.0.0.1 port={server.port} user=postgres dbname=bench"
        with psycopg.connect(f"{dsn} password=secret") as c:
            assert c.execute("SELECT current_database(), current_setting('fsync')").fetchone() == ("bench", "off")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(f"{dsn} password=wrong")
        assert server.new_database().startswith(f"postgresql+psycopg://postgres:secret@127.0.0.1:{server.port}/db")
    assert not server.root.exists() and _refused(server.port)
    server.close()  # twice: nothing left to do, no error


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["sys.exit(3)", "raise SystemExit(3)", "signal-term"])
def test_an_exiting_process_leaves_no_server(tmp_path, ending):
    """The server stops at interpreter exit, however the process ends short of os._exit (SIGTERM
    turned into sys.exit, as benchmarks/scale.py does)."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from nas_sr.testing import PostgresServer, PostgresUnavailable
        try:
            server = PostgresServer(prefix="nsr-test-pg-")
        except PostgresUnavailable as error:
            print("UNAVAILABLE", error, flush=True)
            sys.exit(0)
        print(server.port, server.root, flush=True)
        if {ending!r} == "signal-term":
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()
        {ending if ending != "signal-term" else "pass"}
        """)
    env = {**os.environ, "PYTHONPATH": str(Path(pg.__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env)
    if done.stdout.startswith("UNAVAILABLE"):
        pytest.skip(done.stdout.strip())
    port, root = done.stdout.split()
    assert done.returncode in (3, 128 + 15), done.stderr
    assert not Path(root).exists() and _refused(int(port))
