"""Opening a study's storage: URLs (SQLite, PostgreSQL, journal files), retries while the database
connection is lost, SQLite's one-writer lock and its clean-up, the folders a study's files go to,
and finding and loading existing studies.

Every command opens storages here (``nas_sr.study.open_storage``); nothing else of nas-sr builds an
Optuna storage from a URL, except the read-only SQLite view of ``nas-sr serve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

#: The storage of every command that is given none.
DEFAULT_STORAGE = "sqlite:///studies/default.db"


class StorageUnavailable(RuntimeError):
    """The study database stayed unreachable through every retry."""


#: Tries and first back-off delay (seconds, doubling) for a storage call that loses its connection.
STORAGE_TRIES = 5
STORAGE_FIRST_DELAY = 0.5
JOURNAL_PREFIX = "journal:"


def open_storage(url: str, tries: int | None = None,
                 first_delay: float | None = None) -> "optuna.storages.BaseStorage":
    """The study storage of ``url``, its calls retried with back-off when the connection drops.

    * ``sqlite:///PATH`` (the default, one machine): the database's folder is created first; the
      search driver is its only writer (workers return plain data), so no 'database is locked'.
    * ``postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB`` (clusters; any SQLAlchemy URL works):
      connections are checked before use (``pool_pre_ping``).
    * ``journal:PATH``: Optuna's JournalStorage on an append-only file (shared file systems, NFS).

    A URL that can never work (unknown scheme, missing driver, a folder, a file that is not a
    database, a wrong password, no such database; a read-only file on its first write) is a
    one-line ValueError naming it, password masked; an unreachable server is retried, then
    :class:`StorageUnavailable`.
    """
    import optuna

    tries = STORAGE_TRIES if tries is None else tries
    first_delay = STORAGE_FIRST_DELAY if first_delay is None else first_delay
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

        path = Path(url.removeprefix(JOURNAL_PREFIX)).expanduser()
        if path.is_dir():
            raise ValueError(f"storage URL {url!r}: {path} is a folder, not a journal file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            inner: optuna.storages.BaseStorage = JournalStorage(
                JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
        except OSError as exc:
            raise ValueError(f"storage URL {url!r}: cannot open the journal file ({exc.strerror})") from None
    else:
        engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///")).expanduser()
            if path.is_dir():
                raise ValueError(f"storage URL {url!r}: {path} is a folder, not a database file")
            path.parent.mkdir(parents=True, exist_ok=True)
            engine_kwargs = {"connect_args": {"timeout": 60}}  # readers (nas-sr pareto) wait, never fail
        try:
            try:
                rdb = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
            except Exception as exc:  # noqa: BLE001 - unreachable at start: retried like any call
                if not _is_connection_error(exc):
                    raise
                rdb = _retry(lambda: optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs), "connect",
                             tries - 1, first_delay)
        except StorageUnavailable as exc:
            raise StorageUnavailable(f"storage URL {hide_password(url)!r}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a URL that can never work: say which and why
            raise ValueError(storage_problem(url, exc)) from None
        from nas_sr.study.batched import batched_storage

        # Optuna's cached RDB storage; a trial's attribute writes batched into one transaction
        inner = batched_storage(optuna.storages.get_storage(rdb), rdb.engine)
    return __getattr__("RetryingStorage")(inner, tries, first_delay, url)


def _is_connection_error(exc: BaseException) -> bool:
    """A lost or refused database connection (anywhere in the exception's chain)."""
    import sqlalchemy.exc

    if _is_permanent(exc):
        return False
    for link in _chain(exc):
        if isinstance(link, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                             sqlalchemy.exc.DisconnectionError, ConnectionError)):
            return True
        if isinstance(link, sqlalchemy.exc.DBAPIError) and link.connection_invalidated:
            return True
    return False


#: Database errors that retrying cannot cure (wrong password, no such database, a read-only or
#: foreign file): they end at once with a one-line ValueError naming the storage.
_PERMANENT = ("password authentication failed", "no password supplied", "authentication failed",
              "does not exist", "readonly database", "read-only", "file is not a database",
              "unable to open database file")


def _chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from (at most 10)."""
    out: list[BaseException] = []
    while exc is not None and len(out) < 10:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _is_permanent(exc: BaseException) -> bool:
    """A database error (anywhere in the chain) that names a cause no retry can cure."""
    import sqlalchemy.exc

    chain = _chain(exc)
    return any(isinstance(e, sqlalchemy.exc.DBAPIError) for e in chain) and any(
        marker in str(e).lower() for e in chain for marker in _PERMANENT)


def hide_password(url: str) -> str:
    """``url`` with its password masked, as messages show it.

    >>> hide_password("postgresql+psycopg://nas:secret@db:5432/nas")
    'postgresql+psycopg://nas:***@db:5432/nas'
    """
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL: nothing to hide
        return url


def storage_problem(url: str, exc: BaseException) -> str:
    """A one-line account of why the storage ``url`` cannot be opened or written.

    >>> import sqlalchemy.exc
    >>> storage_problem("foo://x", sqlalchemy.exc.NoSuchModuleError("Can't load plugin: sqlalchemy.dialects:foo"))
    "storage URL 'foo://x': unknown scheme 'foo' (expected sqlite:///PATH, postgresql+psycopg://USER:PW@HOST:PORT/DB or journal:PATH)"
    """
    import sqlalchemy.exc

    expected = "expected sqlite:///PATH, postgresql+psycopg://USER:PW@HOST:PORT/DB or journal:PATH"
    shown = hide_password(url)
    if isinstance(exc, sqlalchemy.exc.NoSuchModuleError):
        return f"storage URL {shown!r}: unknown scheme {url.partition(':')[0]!r} ({expected})"
    if isinstance(exc, sqlalchemy.exc.ArgumentError):
        return f"storage URL {shown!r}: not a storage URL ({expected})"
    if isinstance(exc, ImportError):
        hint = " (pip install -e '.[postgres]')" if "postgres" in url else ""
        return f"storage URL {shown!r}: its database driver is not installed{hint}: {exc}"
    original = next((e.orig for e in _chain(exc) if isinstance(e, sqlalchemy.exc.DBAPIError)), exc)
    text = " ".join(str(original).replace("FATAL:", " ").split())
    return f"storage URL {shown!r}: {text[:300] or type(original).__name__}"


def _retry(call: Any, name: str, tries: int, first_delay: float) -> Any:
    import time

    delay = first_delay
    for attempt in range(1, max(1, tries) + 1):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001
            if not _is_connection_error(exc):
                raise
            if attempt >= tries:
                text = str(exc).strip().splitlines()
                raise StorageUnavailable(f"study database unreachable ({name}, {tries} tries): "
                                         f"{type(exc).__name__}: {text[0] if text else ''}"[:300]) from None
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _retrying_method(name: str) -> Any:
    def method(self: "RetryingStorage", *args: Any, **kwargs: Any) -> Any:
        bound = getattr(self._inner, name)
        try:
            return _retry(lambda: bound(*args, **kwargs), name, self._tries, self._first_delay)
        except StorageUnavailable as exc:
            if self._url:
                raise StorageUnavailable(f"storage URL {hide_password(self._url)!r}: {exc}") from None
            raise
        except Exception as exc:
            if self._url and _is_permanent(exc):  # e.g. a read-only file
                raise ValueError(storage_problem(self._url, exc)) from None
            raise

    method.__name__ = name
    return method


def _make_retrying_storage() -> type:
    import optuna

    base = optuna.storages.BaseStorage
    names = [n for n, v in vars(base).items() if callable(v) and not n.startswith("_")]
    namespace: dict[str, Any] = {n: _retrying_method(n) for n in names}

    def __init__(self: Any, inner: Any, tries: int = STORAGE_TRIES, first_delay: float = STORAGE_FIRST_DELAY,
                 url: str = "") -> None:
        self._inner, self._tries, self._first_delay, self._url = inner, tries, first_delay, url

    def __getattr__(self: Any, name: str) -> Any:  # anything else the inner storage has
        if name in ("_inner", "_url"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    namespace.update(__init__=__init__, __getattr__=__getattr__, __module__=__name__, __doc__=(
        "An Optuna storage whose every call is retried with doubling back-off while the database "
        "connection is lost; :class:`StorageUnavailable` when it does not come back."))
    return type("RetryingStorage", (base,), namespace)


def __getattr__(name: str) -> Any:  # RetryingStorage is built on first use (Optuna imported lazily)
    if name == "RetryingStorage":
        cls = globals().get("_RetryingStorage") or _make_retrying_storage()
        globals()["_RetryingStorage"] = cls
        return cls
    raise AttributeError(name)


def writer_lock(url: str) -> "WriterLock | None":
    """Claim SQLite's single writer for this process (an ``flock`` on ``<db>.lock``, released on exit,
    ``kill -9`` included); ValueError when another search holds it. None for other storages."""
    if not url.startswith("sqlite:///"):
        return None
    path = Path(url.removeprefix("sqlite:///")).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return WriterLock(Path(f"{path}.lock"), url)


class WriterLock:
    """An exclusive ``flock`` on a lock file, the file removed on :meth:`close`.

    Removing it is safe because a lock counts only while its file is still the one at the path: a
    process that locked a file just removed (it opened it before the removal) sees another file, or
    none, at the path and tries again there.

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> first = WriterLock(folder / "db.lock", "sqlite:///db")
    >>> WriterLock(folder / "db.lock", "sqlite:///db")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: another nas-sr search is writing sqlite:///db: SQLite takes one writer; ...
    >>> first.close(); (folder / "db.lock").exists()
    False
    """

    def __init__(self, path: Path, url: str) -> None:
        import fcntl
        import os

        self.path = path
        while True:
            handle = open(path, "a")  # noqa: SIM115 - held until close()
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise ValueError(f"another nas-sr search is writing {url}: SQLite takes one writer; wait for it "
                                 "to finish, use another database file, or share one study with "
                                 "postgresql+psycopg://... or journal:PATH") from None
            try:
                if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                    break
            except FileNotFoundError:
                pass
            handle.close()  # the holder removed this file meanwhile: lock the one at the path now
        self._handle = handle

    def close(self) -> None:
        """Remove the lock file, then release it (removed first, so no one locks a file that then goes)."""
        if self._handle.closed:
            return
        self.path.unlink(missing_ok=True)
        self._handle.close()


def output_dir(url: str) -> Path:
    """The folder of everything commands write for a storage: the folder of a SQLite database or
    journal file, else ``studies``.

    >>> output_dir("sqlite:///studies/default.db"), output_dir("postgresql+psycopg://nas:pw@db/nas")
    (PosixPath('studies'), PosixPath('studies'))
    """
    for prefix in ("sqlite:///", JOURNAL_PREFIX):
        if url.startswith(prefix):
            return Path(url.removeprefix(prefix)).expanduser().parent
    return Path("studies")


def artifact_dir(url: str) -> Path:
    """Where trial artifacts (weights) go: ``artifacts/`` in :func:`output_dir`."""
    return output_dir(url) / "artifacts"


def output_file(url: str, study: str, what: str) -> Path:
    """The default file of page ``what`` (front, report) of ``study``: ``<study>_<what>.html`` in
    :func:`output_dir`, characters a file name cannot hold written ``_``.

    >>> output_file("sqlite:///runs/nas.db", "esr", "report")
    PosixPath('runs/esr_report.html')
    >>> output_file("journal:/tmp/j.log", "x4/vapsr", "front")
    PosixPath('/tmp/x4_vapsr_front.html')
    """
    import re

    name = re.sub(r"[^\w.-]", "_", study)
    return output_dir(url) / f"{name}_{what}.html"


def existing_studies(storage: "str | optuna.storages.BaseStorage") -> list[str]:
    import optuna

    return sorted(optuna.study.get_all_study_names(storage=storage))


def load_existing_study(name: str, url: str) -> "optuna.Study":
    """Load study ``name``; ValueError listing the existing studies when there is none by that name."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).expanduser().exists():
        raise ValueError(f"no study database at {url}")
    try:
        storage = open_storage(url)
        names = existing_studies(storage)
    except StorageUnavailable as exc:  # a reader has nothing to resume: a plain one-line error
        raise ValueError(str(exc)) from None
    if name not in names:
        raise ValueError(f"no study {name!r} in {hide_password(url)} (existing: {', '.join(names) or 'none'})")
    return optuna.load_study(study_name=name, storage=storage)
