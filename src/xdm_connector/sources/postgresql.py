"""PostgreSQL read through ADBC: ``COPY`` streaming, without a value in the SQL text.

ADBC streams a query through ``COPY ... TO STDOUT`` (binary), about twice as fast as
fetching from a cursor, but only without bound parameters: with parameters it materializes
the whole result. So ``copy_statement`` takes the statement's parameters out of it:

- a text is handed over first, as a bound parameter of
  ``SELECT set_config('xdmc.p0', $1, true), ...`` (settings local to the read's
  transaction), and the statement reads it back once,
  ``(SELECT CAST(current_setting('xdmc.p0') AS TEXT))``: no text reaches the SQL;
- a number, boolean, date or date-time is written as a typed constant,
  ``CAST('2024-05-01T00:00:00' AS TIMESTAMP)``, from its Python value (never from text):
  the planner then sees it. A window's bounds read back from settings would be unknown to
  the planner, which guesses a third of the rows and hashes the wrong side of a join.

The read's transaction also has at least 64 MiB of work memory (``WORK_MEM_KB``; the
server's own setting when larger): with PostgreSQL's default of 4 MB, the hash of a
million-row dimension table spills to disk in batches, or the planner spreads the read
over parallel workers that cost the server more CPU in all. JIT compilation is off for
the read: compiling its expressions delays the first row by tens of milliseconds, for
expressions too simple to gain from it (the ones Arrow can compute are not even sent,
``sources/derived.py``).

Batches come by size from the driver and are cut to ``batch_rows`` rows.

A parameter of a kind this cannot carry (a list for ``IN``, a type other than text,
numbers, booleans, dates and date-times) reads through a server-side cursor instead,
``DECLARE ... CURSOR`` with bound parameters then ``FETCH FORWARD n`` per batch.

ADBC's driver loads the server's types as it connects (about 50 ms): an
``EarlyConnection`` opens the connection of a read in a thread of its own while the caller
plans the read, and the read takes it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, closing, contextmanager
from typing import TYPE_CHECKING, Any

import adbc_driver_postgresql
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.sql import visitors

from xdm_connector.sources.batches import BATCH_BYTES, conform, rechunked
from xdm_connector.sources.statements import (
    AnySelect,
    compile_for_adbc,
    dollar_dialect,
    portable_statement,
)

if TYPE_CHECKING:
    import adbc_driver_postgresql.dbapi

_USE_COPY = adbc_driver_postgresql.StatementOptions.USE_COPY.value
_BATCH_BYTES = adbc_driver_postgresql.StatementOptions.BATCH_SIZE_HINT_BYTES.value
_SETTING = "xdmc.p{}"
WORK_MEM_KB = 64 * 1024
"""The least work memory of a read's transaction, in kB (PostgreSQL's unit)."""
_CONSTANT_TEXT = re.compile(r"[0-9A-Za-z:.+\-]*")
"""What the text of a typed constant may hold (digits, signs, ``inf``, ISO dates)."""
Batches = Generator[pa.RecordBatch, None, None]


def connect(uri: str) -> adbc_driver_postgresql.dbapi.Connection:
    """A new ADBC connection to ``uri``. ADBC's DB-API module is imported by the first: it
    imports pandas and polars when they are installed, which a process that never reads
    (a command, a server without a worker) need not load."""
    import adbc_driver_postgresql.dbapi

    return adbc_driver_postgresql.dbapi.connect(uri)


class EarlyConnection:
    """An ADBC connection to ``uri`` opening in a thread of its own from now on; the first
    read that connects to the same URI takes it (``take``), ``close()`` closes it if none
    did."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._lock = threading.Lock()  # the read's thread takes it, the caller's closes it
        self._opening: Future[adbc_driver_postgresql.dbapi.Connection] | None = Future()
        opener = threading.Thread(
            target=self._open, args=(self._opening,), name="xdmc-source-connect", daemon=True
        )
        opener.start()

    def _open(self, opening: Future[adbc_driver_postgresql.dbapi.Connection]) -> None:
        try:
            opening.set_result(connect(self.uri))
        except BaseException as exc:  # raised again by ``take``, in the read's thread
            opening.set_exception(exc)

    def take(self, uri: str) -> adbc_driver_postgresql.dbapi.Connection | None:
        """The connection once open (its error raised, as the read's own connection would
        raise it), or ``None`` when it was taken or ``uri`` is another one."""
        with self._lock:
            if uri != self.uri or self._opening is None:
                return None
            opening, self._opening = self._opening, None
        return opening.result()

    def close(self) -> None:
        """Close the connection once open, unless a read took it; does not wait for it."""
        with self._lock:
            opening, self._opening = self._opening, None
        if opening is not None:
            opening.add_done_callback(_close_opened)


def _close_opened(opening: Future[adbc_driver_postgresql.dbapi.Connection]) -> None:
    if opening.exception() is None:
        opening.result().close()


def read_postgresql(
    uri: str,
    query: AnySelect,
    schema: pa.Schema,
    batch_rows: int,
    *,
    connecting: Callable[[], AbstractContextManager[None]],
    early: EarlyConnection | None = None,
) -> list[Batches] | None:
    """The batches of ``query`` from the database at ``uri`` (a libpq URI); ``None`` when a
    parameter cannot be bound by ADBC. ``connecting`` wraps the connection; the read takes
    ``early``'s connection when it is one to ``uri`` not taken yet."""
    statement = portable_statement(query, schema, numerics_as_doubles=True)
    settled = copy_statement(statement)
    opening = _Opening(uri, connecting, early)
    if settled is not None:
        compiled = compile_for_adbc(settled[0], dollar_dialect())
        if compiled is not None and compiled[1] is None:
            return [_copied(opening, compiled[0], settled[1], schema, batch_rows)]
    compiled = compile_for_adbc(statement, dollar_dialect())
    if compiled is None:
        return None
    return [_fetched(opening, compiled[0], compiled[1], schema, batch_rows)]


def copy_statement(statement: AnySelect) -> tuple[AnySelect, list[str]] | None:
    """The statement without bound parameters, its texts read back from settings and its
    other values written as typed constants; and the settings' values, in order (``None``
    when a parameter cannot be carried so)."""
    values: list[str] = []
    carried = True

    def replace(element: Any, **_: Any) -> Any:
        nonlocal carried
        if not isinstance(element, sa.BindParameter) or element.literal_execute:
            return None
        kind = _setting_type(element.type)
        value = element.effective_value
        if element.expanding or kind is None:
            carried = False
            return None
        if value is None:
            return sa.cast(sa.null(), kind)
        text = _setting_text(value)
        if text is None:
            carried = False
            return None
        if not isinstance(value, str) and _CONSTANT_TEXT.fullmatch(text):
            # made from a number, date or time, it holds no quote: a constant the planner sees
            constant: sa.ColumnElement[Any] = sa.literal_column(f"'{text}'")
            return sa.cast(constant, kind)
        name: sa.ColumnElement[str] = sa.literal_column(f"'{_SETTING.format(len(values))}'")
        values.append(text)
        return sa.select(sa.cast(sa.func.current_setting(name), kind)).scalar_subquery()

    replaced = visitors.replacement_traverse(statement, {}, replace)
    assert isinstance(replaced, sa.Select)
    return (replaced, values) if carried else None


def _setting_type(kind: sa.types.TypeEngine[Any]) -> sa.types.TypeEngine[Any] | None:
    if isinstance(kind, sa.Boolean):
        return sa.Boolean()
    if isinstance(kind, sa.Integer):
        return sa.BigInteger()
    if isinstance(kind, sa.Float):
        return sa.Double()
    if isinstance(kind, sa.Numeric):
        return sa.Numeric()
    if isinstance(kind, sa.DateTime):
        return sa.DateTime(timezone=kind.timezone)
    if isinstance(kind, sa.Date):
        return sa.Date()
    if isinstance(kind, sa.String | sa.types.NullType) and not isinstance(kind, sa.Enum):
        return sa.Text()
    return None


def _setting_text(value: object) -> str | None:
    """A parameter's value as PostgreSQL reads it back from text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | decimal.Decimal | str):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return None


def _begin_read(cursor: adbc_driver_postgresql.dbapi.Cursor) -> None:
    """Make the transaction read-only, with at least ``WORK_MEM_KB`` of work memory and
    without JIT compilation."""
    cursor.execute("SET TRANSACTION READ ONLY")
    least = pa.RecordBatch.from_arrays([pa.array([str(WORK_MEM_KB)])], names=["kb"])
    cursor.execute(
        "SELECT set_config('work_mem', $1, true) FROM pg_settings "
        "WHERE name = 'work_mem' AND CAST(setting AS BIGINT) < CAST($1 AS BIGINT)",
        least,
    )
    cursor.fetchall()
    cursor.execute("SET LOCAL jit = off")


class _Opening:
    """How a read opens its connection: ``early``'s when it has one to ``uri``, else a new
    one; either within ``connecting``."""

    def __init__(
        self,
        uri: str,
        connecting: Callable[[], AbstractContextManager[None]],
        early: EarlyConnection | None,
    ) -> None:
        self.uri = uri
        self.connecting = connecting
        self.early = early

    def __call__(self) -> adbc_driver_postgresql.dbapi.Connection:
        with self.connecting():
            taken = None if self.early is None else self.early.take(self.uri)
            if taken is not None:
                return taken
            return connect(self.uri)


@contextmanager
def _read_transaction(
    opening: _Opening,
) -> Iterator[
    tuple[
        adbc_driver_postgresql.dbapi.Connection,
        adbc_driver_postgresql.dbapi.Cursor,
        adbc_driver_postgresql.dbapi.Cursor,
    ]
]:
    """A connection (``opening``'s) in a read-only transaction, with two cursors: the
    first prepares the read, the second reads."""
    conn = opening()
    with closing(conn), closing(conn.cursor()) as prepare, closing(conn.cursor()) as read:
        _begin_read(prepare)
        yield conn, prepare, read


def _copied(
    opening: _Opening, sql: str, settings: list[str], schema: pa.Schema, batch_rows: int
) -> Batches:
    with _read_transaction(opening) as (conn, setup, copy):
        if settings:
            calls = ", ".join(
                f"set_config('{_SETTING.format(index)}', ${index + 1}, true)"
                for index in range(len(settings))
            )
            values = pa.RecordBatch.from_arrays(
                [pa.array([text], pa.string()) for text in settings],
                names=[f"p{index}" for index in range(len(settings))],
            )
            setup.execute(f"SELECT {calls}", values)
            setup.fetchall()
        copy.adbc_statement.set_options(**{_USE_COPY: "true", _BATCH_BYTES: str(BATCH_BYTES)})
        copy.execute(sql)
        yield from rechunked((conform(b, schema) for b in copy.fetch_record_batch()), batch_rows)
        conn.rollback()


def _fetched(
    opening: _Opening,
    sql: str,
    parameters: pa.RecordBatch | None,
    schema: pa.Schema,
    batch_rows: int,
) -> Batches:
    with _read_transaction(opening) as (conn, declare, fetch):
        declare.execute(f"DECLARE xdmc_read NO SCROLL CURSOR FOR {sql}", parameters)
        fetch.adbc_statement.set_options(**{_USE_COPY: "false"})
        while True:
            fetch.execute(f"FETCH FORWARD {batch_rows:d} FROM xdmc_read")
            table = fetch.fetch_arrow_table()
            for batch in table.to_batches(max_chunksize=batch_rows):
                yield conform(batch, schema)
            if table.num_rows < batch_rows:
                break
        conn.rollback()
