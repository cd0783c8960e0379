"""Engines for the metadata store: SQLite (embedded) or PostgreSQL (production).

SQLite runs in WAL mode with a busy timeout; pysqlite's own transaction handling is off so
that the store emits ``BEGIN`` itself, and ``BEGIN IMMEDIATE`` for writes: a write
transaction takes the database's write lock at its start, so two writers never both read
an old state and then collide at commit.

JSON columns (a mapping's watermark, a job's details) are written by orjson, some twenty
times faster than the standard library on documents that grow with the look-back; a
document orjson refuses (an integer past 64 bits) falls back to the standard library. They
are read by the standard library, which keeps such an integer whole where orjson would
make it a float.

PostgreSQL is a round trip away: a read runs its statements in autocommit (no ``BEGIN``
and ``COMMIT`` around them), and a pooled connection is pinged before use only when it
has been idle for ``PING_AFTER_IDLE_SECONDS``, not at every checkout.
"""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 30_000
DEFAULT_POOL_SIZE = 10
IMMEDIATE = "xdmc_begin_immediate"
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "xdmc_idle_since"


def normalize_url(url: str | URL) -> URL:
    """The URL with the driver the product uses: psycopg 3 for a bare ``postgresql://``."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def json_text(document: Any) -> str:
    """The text a JSON column stores for ``document``."""
    try:
        return orjson.dumps(document).decode()
    except TypeError:  # an integer past 64 bits, a key that is not a string
        return json.dumps(document)


def create_store_engine(url: str | URL, *, pool_size: int = DEFAULT_POOL_SIZE) -> sa.Engine:
    """An engine for the metadata store at ``url``.

    On PostgreSQL, ``pool_size`` connections stay open; give it the number of threads that
    use the store at once (an API process: its thread pool), because a connection opened
    past it is closed when it is given back, and opening one costs the server a process.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = sa.create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            json_serializer=json_text,
        )
        _ping_idle_connections(engine)
        return engine
    engine = sa.create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        json_serializer=json_text,
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


def reader_engine(engine: sa.Engine) -> sa.Engine:
    """The same engine, for read transactions: autocommit on PostgreSQL.

    A read there runs each statement on its own, as a statement of a ``READ COMMITTED``
    transaction would (it sees what was committed before it began), without the two round
    trips of ``BEGIN`` and ``COMMIT``; it takes no lock. SQLite keeps its transaction, which
    costs no round trip and gives the reads one snapshot.
    """
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _ping_idle_connections(engine: sa.Engine) -> None:
    """Ping a pooled connection at checkout if it has been idle ``PING_AFTER_IDLE_SECONDS``.

    A connection that sat in the pool may have been closed by the server (a restart, an
    idle timeout); one given back a moment ago has not, and pinging it would add a round
    trip to every transaction. A failed ping makes the pool open a new connection.
    """

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("the pooled connection is closed") from exc
