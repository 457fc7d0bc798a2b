"""A throw-away PostgreSQL server for tests and benchmarks: ``initdb`` into a temporary folder,
``pg_ctl start`` on a free port of 127.0.0.1, removed again by :meth:`PostgresServer.close`.

The server is tuned for speed, not durability (``fsync=off``, ``synchronous_commit=off``,
``full_page_writes=off``, ``initdb --no-sync``): its data live only as long as the process. It is
stopped at interpreter exit too (``atexit``), so a program that ends by an exception or
``sys.exit`` leaves no server behind; a program that may be stopped by SIGTERM should turn it into
``sys.exit`` (Python's default for SIGTERM ends the process without running ``atexit``).

initdb refuses to run as root: as root the server runs as user ``postgres`` (else ``nobody``)
through ``runuser`` (else ``su``).

Why a server cannot be started (no psycopg, no binaries, root without a user to run as) is
reported by :class:`PostgresUnavailable` with a one-line reason, for a caller to turn into a skip
or an exit message::

    try:
        server = PostgresServer()
    except PostgresUnavailable as error:
        sys.exit(f"prog: {error}")
    with server:
        url = server.new_database("bench")   # postgresql+psycopg://postgres@127.0.0.1:PORT/bench
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

#: Users the server runs as when this process is root (initdb refuses root), in order of preference.
SERVER_USERS = ("postgres", "nobody")
#: Where Debian/Ubuntu install each major version's binaries (``/usr/lib/postgresql/15/bin``).
VERSIONED_BINDIRS = "/usr/lib/postgresql/*/bin"
#: Seconds one initdb/pg_ctl command may take.
COMMAND_TIMEOUT = 120


class PostgresUnavailable(RuntimeError):
    """A PostgreSQL server cannot be started here; ``str()`` is a one-line reason."""


def find_postgres_binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: the one on ``PATH``, else the newest version under
    :data:`VERSIONED_BINDIRS`; :class:`PostgresUnavailable` when neither holds them."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    folders = [Path(p).parent for p in glob.glob(f"{VERSIONED_BINDIRS}/initdb")]
    folders = [f for f in folders if (f / "pg_ctl").exists()]
    if not folders:
        raise PostgresUnavailable(f"no PostgreSQL binaries (initdb, pg_ctl) on PATH or in {VERSIONED_BINDIRS}; "
                                  "`.ci/run` installs them (apt-get install postgresql)")
    return max(folders, key=_version_of)


def _version_of(bindir: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/9.6/bin`` -> (9, 6): numeric order, so 10 is newer than 9.6."""
    return tuple(int(n) for n in re.findall(r"\d+", bindir.parent.name))


def server_options(port: int, socket_dir: Path | str) -> str:
    """The ``postgres`` options of a throw-away server (``pg_ctl -o``): local TCP only, no fsync.

    >>> server_options(5433, "/tmp/x")  # doctest: +NORMALIZE_WHITESPACE
    '-p 5433 -k /tmp/x -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off
     -c full_page_writes=off -c max_connections=200'
    """
    # max_connections: a search with dozens of Ray workers opens a connection pool per worker.
    return (f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")


def postgres_url(port: int, db: str = "postgres", password: str | None = None) -> str:
    """The SQLAlchemy URL of database ``db`` as user ``postgres`` on 127.0.0.1:``port``.

    >>> postgres_url(5433, "nas")
    'postgresql+psycopg://postgres@127.0.0.1:5433/nas'
    >>> postgres_url(5433, "nas", password="secret")
    'postgresql+psycopg://postgres:secret@127.0.0.1:5433/nas'
    """
    user = "postgres" if password is None else f"postgres:{password}"
    return f"postgresql+psycopg://{user}@127.0.0.1:{port}/{db}"


def free_port() -> int:
    """A TCP port of 127.0.0.1 free now (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> str | None:
    """None when not root; else the user to run the server as (:class:`PostgresUnavailable` if none)."""
    if os.geteuid() != 0:
        return None
    import pwd

    for name in SERVER_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


def _require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable("psycopg (pip install -e '.[test]' or '.[postgres]') is needed for "
                                  "PostgreSQL storage") from None


class PostgresServer:
    """A running throw-away PostgreSQL server (see the module docstring); a context manager.

    Args:
        password: the password of user ``postgres`` (then connections need it, scram-sha-256);
            None: every local connection is trusted.
        bindir: the folder of ``initdb`` and ``pg_ctl``; None: :func:`find_postgres_binaries`.
        prefix: the name prefix of the temporary folder (data, socket, log): tells whose server it is.

    Raises:
        PostgresUnavailable: psycopg, the binaries or (as root) a user to run the server as is missing.
        RuntimeError: initdb or pg_ctl failed (the message holds the end of their output).

    Attributes: ``port``, ``password``, ``bindir``, ``root`` (the temporary folder), ``data`` (the
    data directory, ``root / "data"``; ``postgres -D`` shows it in ``ps``).
    """

    def __init__(self, password: str | None = None, *, bindir: Path | None = None, prefix: str = "nsr-pg-") -> None:
        _require_psycopg()
        self.bindir = find_postgres_binaries() if bindir is None else Path(bindir)
        user = _server_user()
        self.password = password
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.data = self.root / "data"
        self._owner = os.getpid()
        # Registered before initdb: a process that exits mid-start removes the folder (and a
        # server pg_ctl got going) all the same.
        atexit.register(self._close_at_exit)
        self._prefix: list[str] = []
        if user is not None:
            import pwd

            runner = shutil.which("runuser")
            self._prefix = [runner, "-u", user, "--"] if runner else ["su", user, "-s", "/bin/sh", "-c"]
            os.chmod(self.root, 0o755)
            entry = pwd.getpwnam(user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        auth = ["--auth=trust"]
        if password is not None:
            pwfile = self.root / "pw"
            pwfile.write_text(password)
            os.chmod(pwfile, 0o644)  # read by the server's user
            auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        try:
            self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", *auth, "-E", "UTF8",
                       "--no-sync"])
            self.start()
        except BaseException:
            self.close()
            raise

    def _run(self, argv: list[str]) -> None:
        if self._prefix and self._prefix[0] == "su":
            argv = [*self._prefix, " ".join(f"'{a}'" for a in argv)]
        else:
            argv = [*self._prefix, *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stdout[-800:]} {done.stderr[-800:]}")

    def start(self) -> None:
        """Start the server (again, after :meth:`stop`); returns once it accepts connections."""
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", server_options(self.port, self.root),
                   "-l", str(self.root / "log"), "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``pg_ctl stop -m mode``: smart, fast or immediate); :meth:`start` again later."""
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def url(self, db: str = "postgres", password: str | None = None) -> str:
        """The URL of database ``db`` with ``password`` (None: the server's own)."""
        return postgres_url(self.port, db, self.password if password is None else password)

    def new_database(self, name: str | None = None) -> str:
        """Create database ``name`` (None: a fresh ``db<ns>`` name); its URL."""
        import psycopg

        name = name or f"db{time.monotonic_ns()}"
        secret = f" password={self.password}" if self.password else ""
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres{secret}",
                             autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        """Stop the server at once and remove its folder; safe to call twice."""
        atexit.unregister(self._close_at_exit)
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.SubprocessError, OSError):
            pass  # not running (stopped, or never started)
        shutil.rmtree(self.root, ignore_errors=True)

    def _close_at_exit(self) -> None:
        # A child forked from this process (multiprocessing) inherits the handler: only the
        # process that started the server stops it.
        if os.getpid() == self._owner:
            self.close()

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresServer(port={self.port}, data={str(self.data)!r})"
