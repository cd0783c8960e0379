"""The statements the source readers send: the caller's query, typed for the driver.

A query's columns have SQLAlchemy types; each reader reads them as the Arrow types of
``column_arrow_type``. What the drivers need on top:

- **SQLite through ADBC** infers each column's Arrow type from the first batch and fails
  on a later value of another storage class. ``sqlite_statement`` makes the storage class
  follow the expected type where it could drift: text-like columns that are not plain
  strings are cast to ``TEXT``, real columns holding integers to ``REAL``; nothing else is
  touched, so the common query runs as written. A column NULL in the whole first batch is
  still inferred ``int64``: the reader then runs ``sqlite_typed_statement``, the same rows
  after one row of typed placeholders (``''``, ``0.0``, ``0``, ``X''``) that fixes the
  inference, marked by ``FIRST_ROW_FLAG``.
- **PostgreSQL through ADBC** (``portable_statement``): numerics as doubles, non-text
  types (uuid, json...) as text.
- Every reader: ``compile_for_adbc`` renders the SQL and its parameters as one Arrow row;
  the SQL of a statement built as an earlier one (a delta's read of a kept plan, other
  window bounds) is kept, its bound values read from the new statement.

``scan_hint`` asks SQLite to read a query's first table by a table scan (``NOT INDEXED``):
for a query that reads most of its rows, which SQLite cannot know without statistics;
``rowid`` lets such a scan be split into ranges read side by side.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.sql.cache_key import CacheKey
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import TypeCoerce
from sqlalchemy.sql.expression import ColumnClause

from xdm_connector.errors import InvalidInput

AnySelect: TypeAlias = sa.Select[*tuple[Any, ...]]
RESERVED_PREFIX = "_xdmc_"
FIRST_ROW_FLAG = f"{RESERVED_PREFIX}first"
UNREADABLE_PREFIX = f"{RESERVED_PREFIX}unreadable_"
"""A column ``UNREADABLE_PREFIX + name`` holds the text of a value of column ``name`` that
no Arrow type holds (a MySQL zero date), read as ``NULL`` in that column."""
_ADBC_PARAMETER_TYPES = (bool, int, float, str, dt.date, dt.datetime)
Constant: TypeAlias = bool | int | float | str
_NOT_INDEXED = "NOT INDEXED"


def column_names(query: AnySelect) -> list[str]:
    """The query's column names; ``InvalidInput`` unless distinct and not reserved."""
    names = [str(column.key or "") for column in query.selected_columns]
    if "" in names or len(set(names)) != len(names):
        raise InvalidInput(f"The query's columns need distinct names (label them): {names}")
    reserved = [name for name in names if name.startswith(RESERVED_PREFIX)]
    if reserved:
        raise InvalidInput(f"Column names starting with {RESERVED_PREFIX} are reserved: {reserved}")
    return names


def distinct_columns(query: AnySelect) -> tuple[AnySelect, dict[str, str]]:
    """The query selecting each distinct expression once, and for each column left out the
    name of the column that holds the same expression (a mapping may read one source
    column into several XDM fields: the database sends it once)."""
    kept: list[sa.ColumnElement[Any]] = []
    copies: dict[str, str] = {}
    identities = [_identity(column) for column in query.selected_columns]
    if any(identity is None for identity in identities):
        for column in query.selected_columns:
            same = next((k for k in kept if unlabeled(k).compare(unlabeled(column))), None)
            if same is not None and type(same.type) is type(column.type):
                copies[str(column.key)] = str(same.key)
            else:
                kept.append(column)
    else:
        # Grouped by structure (the plan's expressions keep theirs), not compared in pairs.
        by_shape: dict[Any, list[tuple[tuple[Any, ...], sa.ColumnElement[Any]]]] = {}
        for column, identity in zip(query.selected_columns, identities, strict=True):
            assert identity is not None
            shape, values = identity
            alike = by_shape.setdefault(shape, [])
            same = next((k for bound, k in alike if bound == values), None)
            if same is not None:
                copies[str(column.key)] = str(same.key)
            else:
                kept.append(column)
                alike.append((values, column))
    if not copies:
        return query, {}
    return query.with_only_columns(*kept, maintain_column_froms=True), copies


def _identity(column: sa.ColumnElement[Any]) -> tuple[Any, tuple[Any, ...]] | None:
    """What makes two selected expressions read the same values: their structure and type
    (SQLAlchemy's cache key, which leaves bound values out) and their bound values; None
    for an expression SQLAlchemy cannot key."""
    cache_key = unlabeled(column)._generate_cache_key()
    if cache_key is None:
        return None
    values = tuple(bind.effective_value for bind in cache_key.bindparams)
    return (cache_key.key, type(column.type)), values


def constant_columns(query: AnySelect) -> tuple[AnySelect, dict[str, Constant]]:
    """The query without its columns that are a bound constant (a boolean, an integer, a
    float or a text), and their values by column name: the reader repeats them rather than
    have the database send the same value on every row. A query of constants only is kept
    whole."""
    kept: list[sa.ColumnElement[Any]] = []
    constants: dict[str, Constant] = {}
    for column in query.selected_columns:
        value = uncoerced(unlabeled(column))
        bound = value.value if isinstance(value, sa.BindParameter) else None
        if (
            isinstance(value, sa.BindParameter)
            and not value.expanding
            and value.callable is None
            and isinstance(bound, bool | int | float | str)
        ):
            constants[str(column.key)] = bound
        else:
            kept.append(column)
    if not constants or not kept:
        return query, {}
    return query.with_only_columns(*kept, maintain_column_froms=True), constants


def unlabeled(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The expression a selected column labels."""
    return column.element if isinstance(column, sa.Label) else column


def uncoerced(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The expression inside ``type_coerce`` (which only types it, in Python)."""
    while isinstance(column, TypeCoerce):
        column = column.clause
    return column


def _inline(value: object) -> sa.BindParameter[Any]:
    """A constant of the reader's own, rendered inline rather than bound."""
    return sa.literal(value, literal_execute=True)


def _is_text_like(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_temporal(arrow_type))


def sqlite_statement(query: AnySelect, schema: pa.Schema) -> AnySelect:
    """The query with text-like and real columns in the storage class of their type."""
    columns: list[sa.ColumnElement[Any]] = []
    for column, field in zip(query.selected_columns, schema, strict=True):
        value = unlabeled(column)
        plain_text = isinstance(column.type, sa.String) and not isinstance(column.type, sa.Enum)
        if _is_text_like(field.type) and not plain_text:
            value = sa.cast(value, sa.Text)
        elif pa.types.is_floating(field.type):
            value = sa.case(
                (sa.func.typeof(value) == _inline("integer"), sa.cast(value, sa.Float)),
                else_=value,
            )
        columns.append(value.label(field.name))
    return query.with_only_columns(*columns, maintain_column_froms=True)


def sqlite_typed_statement(sql: str, schema: pa.Schema) -> str:
    """``sql`` (compiled) after one typed placeholder row, ``FIRST_ROW_FLAG`` set on it.

    SQLite runs the arms of a ``UNION ALL`` in order: the placeholder row comes first.
    """
    quote = SQLiteDialect_pysqlite().identifier_preparer.quote
    placeholders = []
    for field in schema:
        if _is_text_like(field.type):
            placeholder = "''"
        elif pa.types.is_floating(field.type):
            placeholder = "0.0"
        elif pa.types.is_binary(field.type):
            placeholder = "X''"
        else:
            placeholder = "0"
        placeholders.append(f"{placeholder} AS {quote(field.name)}")
    flag = quote(FIRST_ROW_FLAG)
    # Only the reader's own text around the compiled statement: no value is inlined.
    return (
        f"SELECT {', '.join(placeholders)}, 1 AS {flag} "  # noqa: S608
        f"UNION ALL SELECT *, 0 AS {flag} FROM ({sql})"
    )


def portable_statement(
    query: AnySelect, schema: pa.Schema, *, numerics_as_doubles: bool
) -> AnySelect:
    """The statement with non-text types read as text (uuid, json...) by the database, and
    numerics as doubles if asked."""
    columns: list[sa.ColumnElement[Any]] = []
    for column, field in zip(query.selected_columns, schema, strict=True):
        value = unlabeled(column)
        plain_text = isinstance(column.type, sa.String) and not isinstance(column.type, sa.Enum)
        as_double = numerics_as_doubles and not isinstance(column.type, sa.Float)
        if pa.types.is_floating(field.type) and as_double:
            value = sa.cast(value, sa.Double())
        elif pa.types.is_string(field.type) and not plain_text:
            value = sa.cast(value, sa.Text)
        columns.append(value.label(field.name))
    return query.with_only_columns(*columns, maintain_column_froms=True)


def first_table(query: AnySelect) -> sa.FromClause | None:
    """The table (or alias) the query reads first: the left of its joins."""
    froms = query.get_final_froms()
    if not froms:
        return None
    first = froms[0]
    while isinstance(first, sa.Join):
        first = first.left
    return first


def scan_hint(query: AnySelect) -> AnySelect:
    """The query with its first table read by a table scan on SQLite (``NOT INDEXED``);
    other databases ignore the hint."""
    first = first_table(query)
    return query if first is None else query.with_hint(first, _NOT_INDEXED, dialect_name="sqlite")


def rowid(table: sa.FromClause) -> sa.ColumnElement[int]:
    """SQLite's ``rowid`` of a table (or alias)."""
    return ColumnClause("rowid", sa.Integer(), _selectable=table)


class _HintedSQLiteCompiler(SQLiteCompiler):
    """Renders the table hints SQLite has: ``NOT INDEXED`` (SQLAlchemy renders none)."""

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text if text == _NOT_INDEXED else None


class _HintedSQLiteDialect(SQLiteDialect_pysqlite):
    statement_compiler = _HintedSQLiteCompiler


@functools.cache
def sqlite_dialect() -> sa.Dialect:
    """The SQLite dialect the ADBC reader compiles with."""
    return _HintedSQLiteDialect()


@functools.cache
def dollar_dialect() -> PGDialect:
    """The PostgreSQL dialect with ``$1`` parameters, as ADBC binds them."""
    return PGDialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


COMPILATIONS_KEPT = 64
"""How many compiled statements a process keeps, of statements built alike (a delta's read
of a kept plan: ``pipeline/setup.py``), whatever their bound values."""
_compilations: dict[tuple[Any, ...], _Compilation] = {}


@dataclass(frozen=True)
class _Compilation:
    """A statement's SQL, and where each of its positional parameters comes from: its index
    among the statement's bound parameters (in SQLAlchemy's cache key, the same for every
    statement built alike) and the type's conversion to the driver's value."""

    sql: str
    positions: tuple[int, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]


def compile_for_adbc(
    statement: AnySelect, dialect: sa.Dialect
) -> tuple[str, pa.RecordBatch | None] | None:
    """The SQL text and its positional parameters as a one-row batch; ``None`` when a
    parameter is of a kind ADBC cannot bind (a NULL, a Decimal...).

    A statement built as an earlier one (the same structure and types, other bound values)
    takes its compilation: only the values are bound anew, never written into the SQL."""
    cache_key = statement._generate_cache_key()
    kept_as = _compilation_key(cache_key, dialect)
    if cache_key is None or kept_as is None:
        return _parameters_of(_compiled(statement, dialect), dialect)
    compilation = _compilations.get(kept_as)
    if compilation is None:
        compiled = _compiled(statement, dialect)
        found = _compilation(compiled, dialect, cache_key.bindparams)
        if found is None:
            return _parameters_of(compiled, dialect)
        # Readers in threads share the dict: a clear between a get and a set costs a compile.
        if len(_compilations) >= COMPILATIONS_KEPT:
            _compilations.clear()
        compilation = _compilations[kept_as] = found
    values = []
    for position, process in zip(compilation.positions, compilation.processors, strict=True):
        value = cache_key.bindparams[position].effective_value
        values.append(process(value) if process is not None and value is not None else value)
    return _adbc_parameters(compilation.sql, values)


def _compiled(statement: AnySelect, dialect: sa.Dialect) -> sa.Compiled:
    return statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})


def _compilation_key(cache_key: CacheKey | None, dialect: sa.Dialect) -> tuple[Any, ...] | None:
    """What a statement's compilation is kept by (None: it is compiled each time): its
    structure, and the values of the parameters written into the SQL; a statement with an
    expanding parameter (``IN`` a list, as many placeholders as values) is not kept."""
    if cache_key is None or any(bind.expanding for bind in cache_key.bindparams):
        return None
    written = tuple(bind.effective_value for bind in cache_key.bindparams if bind.literal_execute)
    try:
        hash(written)
    except TypeError:
        return None
    return (dialect, cache_key.key, written)


def _compilation(
    compiled: sa.Compiled, dialect: sa.Dialect, binds: Sequence[sa.BindParameter[Any]]
) -> _Compilation | None:
    """``compiled`` with each parameter found among ``binds`` (None: one is not there)."""
    index = {id(bind): position for position, bind in reversed(list(enumerate(binds)))}
    positions: list[int] = []
    processors: list[Callable[[Any], Any] | None] = []
    assert isinstance(compiled, SQLCompiler)
    for name in compiled.positiontup or ():
        bind = compiled.binds.get(name)
        position = None if bind is None else index.get(id(bind))
        if bind is None or position is None:
            return None
        positions.append(position)
        processors.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
    return _Compilation(str(compiled), tuple(positions), tuple(processors))


def _parameters_of(
    compiled: sa.Compiled, dialect: sa.Dialect
) -> tuple[str, pa.RecordBatch | None] | None:
    """The SQL text of ``compiled`` and its parameters' values."""
    assert isinstance(compiled, SQLCompiler)
    given = compiled.construct_params()
    values: list[object] = []
    for name in compiled.positiontup or ():
        value = given[name]
        # an expanded IN parameter is named after its origin: ``id_1`` gives ``id_1_1``
        bind = compiled.binds.get(name)
        if bind is None:
            bind = compiled.binds.get(name.rsplit("_", 1)[0])
        if bind is not None and value is not None:
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            value = process(value) if process is not None else value
        values.append(value)
    return _adbc_parameters(str(compiled), values)


def _adbc_parameters(sql: str, values: list[object]) -> tuple[str, pa.RecordBatch | None] | None:
    """``sql`` and ``values`` as a one-row batch (None: a value ADBC cannot bind)."""
    if any(value is None or not isinstance(value, _ADBC_PARAMETER_TYPES) for value in values):
        return None
    if not values:
        return sql, None
    try:
        arrays = [pa.array([value]) for value in values]
    except (pa.ArrowException, OverflowError):
        return None
    names = [f"p{index}" for index in range(len(values))]
    return sql, pa.RecordBatch.from_arrays(arrays, names=names)
