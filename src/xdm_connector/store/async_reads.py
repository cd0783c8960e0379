"""Reads run in the event loop: a few asynchronous PostgreSQL connections.

The ingestion API's status poll and repeated trigger each answer from one short read. Sent
from a worker thread through SQLAlchemy, the hop to the thread and back and the library's
bookkeeping cost several times the query itself; here psycopg's ``AsyncConnection`` sends
it from the event loop, as a prepared statement, and the loop serves other requests while
the server answers::

    reads = AsyncReads(engine.url, size=4)             # the store's engine
    statement = sa.select(Job.state).where(Job.id == sa.bindparam("job_id"))
    query = PostgresQuery.of(statement, engine.dialect)
    row = await reads.first(query, {"job_id": 3520})      # ('Created',) or None
    reads.close()

Connections are opened on first use, at most ``size`` at once, in autocommit: each read
sees what was committed before it began, as ``Store.read()`` does on PostgreSQL. They
belong to the event loop that opened them; used from another loop (a new test client), the
old loop's connections are closed and new ones opened. A read that fails on a connection
that sat idle is tried once more on a new connection (the server may have closed the old
one); a connection on which a read failed is never used again.

Why not ``psycopg_pool.AsyncConnectionPool``: it opens only inside a running loop, runs
tasks of its own in that loop and closes only from one, whereas these connections follow
each new loop and close synchronously with the store's engine (at shutdown, outside any
loop); and its check of an idle connection costs a round trip on every read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import URL

from xdm_connector.errors import StoreError

_Connection = psycopg.AsyncConnection[tuple[Any, ...]]


@dataclass(frozen=True)
class PostgresQuery:
    """A Core ``SELECT`` compiled once to PostgreSQL text, with its fixed parameters (an
    ``IN`` list's values); the caller's bound parameters are given at each read."""

    text: str
    defaults: Mapping[str, Any]

    @classmethod
    def of(cls, statement: sa.Select[*tuple[Any, ...]], dialect: sa.Dialect) -> PostgresQuery:
        """The statement as ``dialect`` (psycopg's) writes it: ``%(name)s`` placeholders,
        ``IN`` lists expanded."""
        compiled = statement.compile(dialect=dialect)
        unbound = {name: None for name, value in compiled.params.items() if value is None}
        expanded = compiled.construct_expanded_state(unbound)
        defaults = {name: value for name, value in expanded.parameters.items() if value is not None}
        return cls(text=expanded.statement, defaults=defaults)


class AsyncReads:
    """Up to ``size`` asynchronous connections to the PostgreSQL database at ``url``, for
    short reads from the event loop. Not thread-safe: one event loop uses it at a time."""

    def __init__(self, url: URL, size: int) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Connection] = []

    async def first(
        self, query: PostgresQuery, parameters: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """The first row of ``query`` with ``parameters`` bound, or None."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        bound = {**query.defaults, **parameters}
        async with self._slots:
            if self._idle:
                try:
                    return await self._first(loop, self._idle.pop(), query.text, bound)
                except psycopg.OperationalError:
                    pass  # the server closed it while it was idle: try a new one
            try:
                return await self._first(loop, await self._connect(), query.text, bound)
            except psycopg.OperationalError as exc:
                raise StoreError(f"metadata store error: {type(exc).__name__}") from exc

    def close(self) -> None:
        """Close the idle connections; one in use is closed when its read ends."""
        self._loop = None
        idle, self._idle = self._idle, []
        for connection in idle:
            _close(connection)

    async def _first(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: _Connection,
        text: str,
        parameters: Mapping[str, Any],
    ) -> tuple[Any, ...] | None:
        try:
            cursor = await connection.execute(text, parameters, prepare=True)
            row = await cursor.fetchone()
        except psycopg.OperationalError:
            _close(connection)
            raise
        except psycopg.Error as exc:
            # E.g. a prepared statement that a migration made stale: start afresh next time.
            _close(connection)
            raise StoreError(f"metadata store error: {type(exc).__name__}") from exc
        except BaseException:
            # Cancelled mid-read: what the server sends next is unknown, so never reuse it.
            _close(connection)
            raise
        self._give_back(loop, connection)
        return row

    async def _connect(self) -> _Connection:
        try:
            return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the metadata store: {type(exc).__name__}") from exc

    def _give_back(self, loop: asyncio.AbstractEventLoop, connection: _Connection) -> None:
        if loop is self._loop and not connection.closed:
            self._idle.append(connection)
        else:
            _close(connection)

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.close()
        self._loop = loop
        self._slots = asyncio.Semaphore(self._size)


def _close(connection: _Connection) -> None:
    # ``AsyncConnection.close()`` sends nothing and awaits nothing; closing the libpq
    # connection directly lets ``close()`` above run outside an event loop (at shutdown).
    connection.pgconn.finish()
