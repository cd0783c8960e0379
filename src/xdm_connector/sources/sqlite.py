"""SQLite read through ADBC: the statement as written, in one or two threads.

ADBC's SQLite driver infers each column's Arrow type from the first batch. The statement
keeps each column in one storage class (``statements.sqlite_statement``); when a column
is NULL in the whole first batch (the driver would infer ``int64``), the reader starts
again with a typed first row (``statements.sqlite_typed_statement``).

A query that reads most of its first table (``scan``) is read by a table scan, split into
two ranges of that table's rowid read side by side (one per core, when the worker has
two): the batches of both come in the order they are read.

While another process writes the file, a read waits up to ``BUSY_TIMEOUT_MS`` for its
lock (the source's SQLAlchemy connections too), then fails as transient and is tried
again (``pipeline/source_retries.py``).

A source file is opened read-only by both SQLite libraries of the process, ADBC's and
Python's (reflection, small queries): ``read_only_uri`` asks for ``mode=ro``, so that no
connection of the connector writes it, checkpoints its WAL or deletes its ``-wal`` and
``-shm`` on closing, whatever another process does with it. Python's connections are not
pooled: one left open while ADBC's library closes the same file would lose its locks.
"""

from __future__ import annotations

import itertools
import sqlite3
import urllib.parse
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager, closing
from pathlib import Path
from typing import Any

import adbc_driver_sqlite
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from xdm_connector.errors import SOURCE_FAILED_MESSAGE, SourceError
from xdm_connector.sources.batches import conform, read_threads, rechunked
from xdm_connector.sources.statements import (
    FIRST_ROW_FLAG,
    AnySelect,
    compile_for_adbc,
    first_table,
    rowid,
    scan_hint,
    sqlite_dialect,
    sqlite_statement,
    sqlite_typed_statement,
)

BUSY_TIMEOUT_MS = 5_000
"""How long a read waits for another connection's lock before SQLite answers busy."""
_BATCH_ROWS = adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value
Batches = Generator[pa.RecordBatch, None, None]


def read_only_uri(path: Path) -> str:
    """The SQLite URI that opens ``path`` read-only, any character of it percent-encoded."""
    return f"file:{urllib.parse.quote(str(path), safe='/')}?mode=ro"


def read_only_engine(path: Path) -> sa.Engine:
    """A SQLAlchemy engine on the file ``path``, read-only, a new connection at each use."""
    uri = read_only_uri(path)
    # Python's sqlite3 takes its busy timeout in seconds; it waits as the ADBC reads do.
    timeout = BUSY_TIMEOUT_MS / 1000
    return sa.create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, timeout=timeout),
        poolclass=NullPool,
    )


def read_sqlite(
    path: Path,
    query: AnySelect,
    schema: pa.Schema,
    batch_rows: int,
    *,
    scan: bool,
    first_row: Callable[[AnySelect], tuple[Any, ...] | None],
    connecting: Callable[[], AbstractContextManager[None]],
) -> list[Batches] | None:
    """One generator of batches per range read; ``None`` when a parameter cannot be bound
    by ADBC. ``first_row`` runs a small query; ``connecting`` wraps the connection."""
    parts = _ranges(scan_hint(query), first_row) if scan else [query]
    compiled = [
        compile_for_adbc(sqlite_statement(part, schema), sqlite_dialect()) for part in parts
    ]
    if any(each is None for each in compiled):
        return None
    uri = read_only_uri(path)

    def run(statement: str, parameters: pa.RecordBatch | None) -> Batches:
        # ADBC's DB-API module imports pandas and polars when they are installed: loaded
        # by the first read, not by every process that imports the sources.
        import adbc_driver_sqlite.dbapi

        with connecting():
            conn = adbc_driver_sqlite.dbapi.connect(uri)
        with closing(conn), closing(conn.cursor()) as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            cursor.fetchall()
            cursor.adbc_statement.set_options(**{_BATCH_ROWS: str(batch_rows)})
            cursor.execute(statement, parameters)
            yield from cursor.fetch_record_batch()

    def batches(sql: str, parameters: pa.RecordBatch | None) -> Batches:
        rows = run(sql, parameters)
        first = next(rows, None)
        if first is None:
            return
        if _inferred_as_expected(first.schema, schema):
            yield conform(first, schema)
            yield from (conform(batch, schema) for batch in rows)
            return
        rows.close()
        typed = run(sqlite_typed_statement(sql, schema), parameters)
        first = next(typed)
        if not first.column(FIRST_ROW_FLAG)[0].as_py():
            raise SourceError(f"{SOURCE_FAILED_MESSAGE} SQLite reordered the rows.")
        # One row less in the first batch: batches of ``batch_rows`` again.
        conformed = (conform(batch, schema) for batch in itertools.chain([first.slice(1)], typed))
        yield from rechunked(conformed, batch_rows)

    return [batches(sql, parameters) for sql, parameters in filter(None, compiled)]


def _ranges(
    query: AnySelect, first_row: Callable[[AnySelect], tuple[Any, ...] | None]
) -> list[AnySelect]:
    """The query split into ranges of its first table's rowid, one per core (two at most).
    A view or a table without rowid is read whole."""
    table = first_table(query)
    cores = read_threads()
    if table is None or cores < 2:
        return [query]
    # One aggregate a subquery: SQLite answers a lone min() or max() of the rowid from the
    # b-tree's ends, but scans the whole table (or an index) for both in one query.
    ends = [sa.select(edge(rowid(table))).select_from(table) for edge in (sa.func.min, sa.func.max)]
    bounds = sa.select(*(end.scalar_subquery() for end in ends))
    try:
        low, high = first_row(bounds) or (None, None)
    except SourceError:
        return [query]
    if not isinstance(low, int) or not isinstance(high, int) or high - low < cores:
        return [query]
    step = (high - low) // cores + 1
    edges = [low + step * index for index in range(1, cores)]
    parts = [query.where(rowid(table) < edges[0])]
    parts += [
        query.where(rowid(table) >= a, rowid(table) < b) for a, b in itertools.pairwise(edges)
    ]
    return [*parts, query.where(rowid(table) >= edges[-1])]


def _inferred_as_expected(inferred: pa.Schema, expected: pa.Schema) -> bool:
    """Whether the driver inferred each column as the kind ``conform`` expects: text for
    text-like columns, doubles for reals, integers for integers and booleans."""
    for field in expected:
        given = inferred.field(field.name).type
        if pa.types.is_string(field.type) or pa.types.is_temporal(field.type):
            fits = pa.types.is_string(given) or pa.types.is_large_string(given)
        elif pa.types.is_floating(field.type):
            fits = pa.types.is_floating(given)
        elif pa.types.is_binary(field.type):
            fits = pa.types.is_binary(given) or pa.types.is_large_binary(given)
        else:
            fits = pa.types.is_integer(given)
        if not fits:
            return False
    return True
