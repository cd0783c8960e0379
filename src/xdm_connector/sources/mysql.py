"""MySQL and MariaDB read into Arrow: ConnectorX, page by page of the first table's key.

**URLs**: ``mysql://user@host/db`` and ``mariadb://user@host/db`` connect with PyMySQL
(``mysql+pymysql://``, ``mariadb+pymysql://``; ``driver_url``); any other SQLAlchemy MySQL
URL (``mysql+mysqldb://``...) is taken as written, its driver installed by the user. Every
connection of the source (SQLAlchemy's, and the reader's) runs in UTC (``SET time_zone``),
so that a ``TIMESTAMP`` column is read, and compared with the window's bounds, in UTC;
``DATETIME`` has no zone and is read as written (the export takes a zone-less value as UTC).

**The fast reader** is ConnectorX (Rust): it decodes MySQL's binary protocol straight into
Arrow, well over twice the rows a second of the fastest Python driver. It runs a statement
whole and holds its rows until they are read, so the statement is cut into **pages** of the
first table's primary key: each page is the statement's rows after the last key of the
page before, in key order (``key > after ORDER BY key LIMIT n``), at most
``PAGE_BATCHES`` batches of them, and the next page is read while the caller works on
this one. The pages are separate statements: a row changed between two of them is read as
it is when its page is read, which the cursor's look-back covers as it covers a row
changed during any read. A first export (``scan``, rows in any order) of an integer key
reads the key's range in ``read_threads()`` parts side by side, each in its pages, so that
the server computes each part's rows on a core of its own; the first part has no lower
bound and the last no upper one, so a key written beyond the range once it was measured is
read too.

ConnectorX binds no parameter: the statement's values are written into it as literals,
none of them as text a value chose: a string is its UTF-8 bytes in hexadecimal
(``_utf8mb4 X'416c696365'``), a number is rendered by Python, a date or time by
``isoformat`` (digits and separators); a value of another kind, or a query the pages
cannot cut (no single-column key, a ``LIMIT``, a ``GROUP BY``...) reads through
SQLAlchemy and PyMySQL instead, with a server-side cursor (``stream_results``), in
bounded memory too. ConnectorX opens a connection per page, and sets it to UTC before the
page's statement (its ``pre_execution_query``), whatever zone the server's sessions start
in.

**Zero dates**: MySQL may store ``0000-00-00``, or a date with a zero month or day, in a
``DATE`` or ``DATETIME`` column; no date type of Python or Arrow holds one. The statement
reads such a value as ``NULL`` and its text in a column of its own,
``UNREADABLE_PREFIX + name``; the export rejects the row with that text as its reason
(``pipeline/shaping.py``), instead of failing the job.

``tinyint(1)``, MySQL's ``BOOLEAN``, is a boolean when reflected (``sources/schema.py``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import math
import operator
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BinaryExpression, BooleanClauseList
from sqlalchemy.sql.functions import FunctionElement

from xdm_connector.errors import SourceError
from xdm_connector.sources.batches import conform, read_threads, rechunked, streamed_batches
from xdm_connector.sources.statements import (
    RESERVED_PREFIX,
    UNREADABLE_PREFIX,
    AnySelect,
    first_table,
    unlabeled,
)

DRIVER = "pymysql"
"""The driver of ``mysql://`` and ``mariadb://`` URLs, which come with the product."""
PAGE_BATCHES = 4
"""A page of the fast reader holds at most this many batches of the first table's rows."""
UTC_SESSION = "SET time_zone = '+00:00'"
_PAGE_KEY = f"{RESERVED_PREFIX}page_key"
Batches = Generator[pa.RecordBatch, None, None]
Connect = Callable[[], AbstractContextManager[sa.Connection]]
FirstRow = Callable[[AnySelect], tuple[Any, ...] | None]


def driver_url(url: sa.URL) -> sa.URL:
    """``mysql://`` and ``mariadb://`` with the driver that comes with the product."""
    if url.drivername in ("mysql", "mariadb"):
        return url.set(drivername=f"{url.drivername}+{DRIVER}")
    return url


def mysql_engine(url: sa.URL, *, connect_timeout: int) -> sa.Engine:
    """A SQLAlchemy engine on the MySQL or MariaDB database of ``url``, each of its
    connections in UTC."""
    arguments: dict[str, Any] = {}
    if url.get_driver_name() in ("pymysql", "mysqldb"):
        arguments["connect_timeout"] = connect_timeout
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args=arguments)

    @sa.event.listens_for(engine, "connect")
    def in_utc(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute(UTC_SESSION)
        finally:
            cursor.close()

    return engine


def connectorx_uri(url: sa.URL) -> str:
    """The URL as ConnectorX reads it (``mysql://``, no driver), every part encoded."""
    plain = url.set(drivername="mysql", query={})
    return plain.render_as_string(hide_password=False)


# -- statements --------------------------------------------------------------------------------


class _ValidDate(FunctionElement[Any]):
    """A date or date-time, ``NULL`` when it is a zero date (``0000-00-00``, or a zero
    month or day): MySQL's date arithmetic refuses those, and only those."""

    inherit_cache = True

    def __init__(self, value: sa.ColumnElement[Any]) -> None:
        super().__init__(value)
        self.type = value.type


@compiles(_ValidDate)
def _valid_date(element: _ValidDate, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} + INTERVAL 0 DAY)"


def mysql_statement(query: AnySelect, schema: pa.Schema) -> AnySelect:
    """The query as the MySQL readers send it: non-text types that are read as text cast to
    ``CHAR``, and each date or date-time read as ``NULL`` when it is a zero date, its text
    then in a column ``UNREADABLE_PREFIX + name``."""
    columns: list[sa.ColumnElement[Any]] = []
    unreadable: list[sa.ColumnElement[Any]] = []
    for column, field in zip(query.selected_columns, schema, strict=True):
        value = unlabeled(column)
        plain_text = isinstance(column.type, sa.String) and not isinstance(column.type, sa.Enum)
        if pa.types.is_string(field.type) and not plain_text:
            value = sa.cast(value, sa.String())
        elif pa.types.is_date32(field.type) or pa.types.is_timestamp(field.type):
            valid = _ValidDate(value)
            text = sa.case((valid.is_(None), sa.cast(value, sa.String())))
            unreadable.append(text.label(UNREADABLE_PREFIX + field.name))
            value = valid
        columns.append(value.label(field.name))
    return query.with_only_columns(*columns, *unreadable, maintain_column_froms=True)


def _schema_read(statement: AnySelect, schema: pa.Schema) -> pa.Schema:
    """``schema`` and the text columns of the zero dates ``mysql_statement`` added."""
    extra = [
        pa.field(str(column.key), pa.string())
        for column in statement.selected_columns[len(schema) :]
    ]
    return pa.schema([*schema, *extra])


class _Unrenderable(ValueError):
    """A value the fast reader cannot write into its statement."""


def mysql_literal(value: object) -> str:
    """A value as a MySQL literal that no text of the value can change: strings and bytes
    in hexadecimal, numbers by Python, dates and times by ``isoformat``."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Unrenderable(value)
        text = repr(float(value))
        return text if "e" in text else f"{text}e0"
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise _Unrenderable(value)
        return format(value, "f")
    if isinstance(value, str):
        return f"_utf8mb4 X'{value.encode().hex()}'"
    if isinstance(value, bytes):
        return f"X'{value.hex()}'"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return f"TIMESTAMP'{value.isoformat(' ')}'"
    if isinstance(value, dt.date):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, dt.time) and value.tzinfo is None:
        return f"TIME'{value.isoformat()}'"
    raise _Unrenderable(value)


@functools.cache
def literal_dialect() -> sa.Dialect:
    """The MySQL dialect that writes values as literals (``mysql_literal``).

    SQLAlchemy's MySQL dialects take about 50 ms to import: the first MySQL read loads
    them, not every process that imports the sources.
    """
    from sqlalchemy.dialects.mysql.mysqldb import MySQLCompiler_mysqldb
    from sqlalchemy.dialects.mysql.pymysql import MySQLDialect_pymysql

    class LiteralCompiler(MySQLCompiler_mysqldb):
        """MySQL's compiler writing every value as ``mysql_literal``."""

        def render_literal_value(self, value: Any, type_: Any) -> str:
            return mysql_literal(value)

    class LiteralDialect(MySQLDialect_pymysql):
        statement_compiler = LiteralCompiler

    return LiteralDialect()


def literal_sql(statement: sa.ClauseElement) -> str | None:
    """The statement's SQL with its values written in (``None`` when one cannot be)."""
    try:
        compiled = statement.compile(
            dialect=literal_dialect(), compile_kwargs={"literal_binds": True}
        )
        return str(compiled)
    except (_Unrenderable, sa.exc.CompileError):
        return None


# -- readers ---------------------------------------------------------------------------------


def _page_key(query: AnySelect) -> sa.ColumnElement[Any] | None:
    """The first table's single-column primary key, when the query can be read in pages of
    it: one row per key (every join to a table on that table's whole primary key), and no
    ``LIMIT``, ``ORDER BY``, grouping or ``DISTINCT`` of its own."""
    if (
        query._limit_clause is not None
        or query._offset_clause is not None
        or query._group_by_clauses
        or query._having_criteria
        or query._distinct
        or query._order_by_clauses
    ):
        return None
    froms = query.get_final_froms()
    if len(froms) != 1:
        return None
    table = first_table(query)
    if not isinstance(table, sa.Table | sa.Alias) or not _joins_to_one(froms[0]):
        return None
    key = list(table.primary_key)
    if len(key) != 1 or not isinstance(key[0].type, sa.Integer | sa.String):
        return None
    column: sa.ColumnElement[Any] = table.columns[key[0].name]
    return column


def _joins_to_one(source: sa.FromClause) -> bool:
    """Whether each join of ``source`` meets at most one row of its right side: its
    condition equals the right table's whole primary key (with ``AND``)."""
    if not isinstance(source, sa.Join):
        return True
    right = source.right
    if not isinstance(right, sa.Table | sa.Alias) or not _joins_to_one(source.left):
        return False
    key = {column.name for column in right.primary_key}
    met: set[str] = set()
    for clause in _conjuncts(source.onclause):
        if isinstance(clause, BinaryExpression) and clause.operator is operator.eq:
            for side in (clause.left, clause.right):
                if isinstance(side, sa.Column) and side.table is right:
                    met.add(side.name)
    return bool(key) and key <= met


def _conjuncts(clause: sa.ColumnElement[Any] | None) -> list[sa.ColumnElement[Any]]:
    if clause is None:
        return []
    if isinstance(clause, BooleanClauseList) and clause.operator is operator.and_:
        return [part for each in clause.clauses for part in _conjuncts(each)]
    return [clause]


def read_mysql(
    uri: str | None,
    query: AnySelect,
    schema: pa.Schema,
    batch_rows: int,
    *,
    connect: Connect,
    scan: bool = False,
    first_row: FirstRow | None = None,
) -> list[Batches]:
    """One generator of the batches of ``query`` per range read: ConnectorX page by page
    when ``uri`` (its URL) is given and the query can be cut, else PyMySQL (``connect``)
    with a server-side cursor. ``scan`` (a first export, rows in any order) with
    ``first_row`` (which runs a small query): an integer key's range is read in parts
    side by side, so that the server computes each part's rows on a core of its own."""
    statement = mysql_statement(query, schema)
    read_schema = _schema_read(statement, schema)
    key = _page_key(query)
    if uri is None or key is None or literal_sql(statement) is None:
        return [streamed_batches(connect, statement, read_schema, batch_rows)]
    edges = _key_edges(key, first_row) if scan and first_row is not None else []
    bounds = list(zip([None, *edges], [*edges, None], strict=True))
    return [
        _paged(uri, statement, key, read_schema, batch_rows, after=low, through=high)
        for low, high in bounds
    ]


def _key_edges(key: sa.ColumnElement[Any], first_row: FirstRow) -> list[int]:
    """The keys that cut an integer key's range into ``read_threads()`` parts of about as
    many keys: a part holds the keys above the edge before it, up to its own edge. No edge
    for a key of another kind, a range too small to cut, or bounds the source would not
    give."""
    parts = read_threads()
    if parts < 2 or not isinstance(key.type, sa.Integer):
        return []
    # MySQL answers min() and max() of a primary key from the ends of its index.
    try:
        low, high = first_row(sa.select(sa.func.min(key), sa.func.max(key))) or (None, None)
    except SourceError:
        return []
    if not isinstance(low, int) or not isinstance(high, int) or high - low < parts:
        return []
    step = (high - low) // parts + 1
    return [low + step * index - 1 for index in range(1, parts)]


def _paged(
    uri: str,
    statement: AnySelect,
    key: sa.ColumnElement[Any],
    schema: pa.Schema,
    batch_rows: int,
    *,
    after: Any = None,
    through: Any = None,
) -> Batches:
    """Pages of ``PAGE_BATCHES * batch_rows`` rows in key order, each after the last key of
    the one before (``key > after ORDER BY key LIMIT n``); the keys above ``after`` and up
    to ``through`` when they are given."""
    page_rows = batch_rows * PAGE_BATCHES
    statement = statement.add_columns(key.label(_PAGE_KEY))
    if through is not None:
        statement = statement.where(key <= through)
    while True:
        page = statement if after is None else statement.where(key > after)
        sql = literal_sql(page.order_by(key).limit(page_rows))
        if sql is None:  # the last key is a value of another kind (the first page's was not)
            raise ConnectorXError(f"a key of type {type(after).__name__} cannot be read on")
        rows = 0
        for batch in rechunked(_pages_batches(uri, sql, schema, batch_rows), batch_rows):
            rows += batch.num_rows
            keys = batch.column(_PAGE_KEY)
            after = keys[len(keys) - 1].as_py()
            yield batch.drop_columns([_PAGE_KEY])
        if rows < page_rows:
            return


class ConnectorXError(Exception):
    """An error of ConnectorX's (its own ``RuntimeError``, or a panic of its Rust code)."""


def _pages_batches(
    uri: str, sql: str, schema: pa.Schema, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    # Imported here: only a MySQL read uses ConnectorX, some 17 MiB loaded.
    import connectorx

    try:
        reader = connectorx.read_sql(
            uri,
            sql,
            return_type="arrow_stream",
            batch_size=batch_rows,
            pre_execution_query=[UTC_SESSION],
        )
        for batch in reader:
            if batch.num_rows:
                read = conform(batch, schema)
                yield read.append_column(_PAGE_KEY, batch.column(_PAGE_KEY))
    except GeneratorExit:
        raise
    except BaseException as exc:
        # A panic of the Rust code is a BaseException (pyo3's PanicException): a driver
        # error like the others, never a reason to stop the process.
        if isinstance(exc, RuntimeError) or type(exc).__name__ == "PanicException":
            raise ConnectorXError(
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            ) from None
        raise
