"""Helpers for tests and benchmarks of nas-sr (as ``optuna.testing`` is Optuna's): nothing of the
engine uses them, and they import nothing of the package.

* :mod:`nas_sr.testing.postgres`: :class:`PostgresServer`, a throw-away PostgreSQL server (a temp
  folder, a free port, stopped at exit); :class:`PostgresUnavailable` says why one cannot start;
  :func:`find_postgres_binaries`.
"""

from nas_sr.testing.postgres import PostgresServer, PostgresUnavailable, find_postgres_binaries

__all__ = ["PostgresServer", "PostgresUnavailable", "find_postgres_binaries"]
