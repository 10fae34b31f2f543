"""Engines for both ways to run: SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 10_000
WRITE_OPTION = "vigilo_write"


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    """An async engine for `url`; SQLite gets WAL, a busy timeout, foreign keys and BEGIN IMMEDIATE."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        configure_sqlite(engine.sync_engine)
        return engine
    # A wait for a connection is bounded: better a quick 500 in the log than a request hanging 30 s.
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_timeout=10)


def configure_sqlite(engine: Engine) -> None:
    """Apply the pragmas and emit our own BEGIN (SQLAlchemy's documented recipe).

    SQLite allows one writer; a transaction that reads and then writes fails with "database is
    locked" when it has to upgrade its lock. Units of work that write open their transaction with
    the WRITE_OPTION execution option (see app/db/transactions.py) and get BEGIN IMMEDIATE, which
    waits for the lock up front; read-only transactions stay deferred so readers never queue.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
