"""Engines for the metadata store: SQLite (embedded) or PostgreSQL (production).

SQLite runs in WAL mode with a busy timeout; pysqlite's own transaction handling is off so
that the store emits ``BEGIN`` itself, and ``BEGIN IMMEDIATE`` for writes: a write
transaction takes the database's write lock at its start, so two writers never both read
an old state and then collide at commit.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
IMMEDIATE = "xdmc_begin_immediate"


def normalize_url(url: str | URL) -> URL:
    """The URL with the driver the product uses: psycopg 3 for a bare ``postgresql://``."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_store_engine(url: str | URL) -> sa.Engine:
    """An engine for the metadata store at ``url``."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine = sa.create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def writer_engine(engine: sa.Engine) -> sa.Engine:
    """The same engine, beginning each transaction as a writer (``BEGIN IMMEDIATE`` on SQLite)."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{IMMEDIATE: True})
