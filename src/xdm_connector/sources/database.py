"""A source database read as Arrow record batches, with flat memory whatever its size.

``SourceDatabase(url).read_batches(select, batch_rows=65_536)`` yields record batches
whose schema is fixed by the statement's SQLAlchemy column types (``expected_schema``):

==========================  =================================  ===========================
SQLAlchemy type             Arrow type                         note
==========================  =================================  ===========================
Boolean                     bool                               SQLite's 0/1 included
Integer (any width)         int64
Float, Numeric              float64                            XDM numbers are doubles
Date                        date32                             SQLite text ``YYYY-MM-DD``
DateTime                    timestamp[us] (``UTC`` if zoned)   SQLite text, space or ``T``
LargeBinary                 binary
anything else               string                             rendered as text by the SQL
==========================  =================================  ===========================

Three readers, chosen per call:

- **SQLite, ADBC**: the driver infers each column's Arrow type from the first batch
  (``adbc.sqlite.query.batch_rows`` rows) and fails on a later value of another storage
  class (``Type mismatch in column 2: expected INT64 but got DOUBLE``); a column that is
  NULL in the whole first batch is inferred ``int64``. The statement is therefore
  rewritten so that inference cannot go wrong: text-like columns are selected as
  ``COALESCE(CAST(x AS TEXT), '')``, real columns as doubles defaulting to ``0.0``, and one
  extra integer column per 62 of them carries their NULL flags as bits
  (``CASE WHEN x IS NULL THEN 2^i ELSE 0 END + ...``); the reader puts the NULLs back.
  Integer and boolean columns need nothing: an all-NULL first batch infers ``int64``.
- **PostgreSQL, ADBC**: ADBC streams a query through ``COPY`` only without bound
  parameters (with parameters it materializes the whole result), so the statement runs as
  ``DECLARE ... CURSOR`` with its parameters bound server-side, then ``FETCH FORWARD n``
  per batch. Numerics are selected as doubles, non-text types (uuid, json, ...) as text.
- **Anything else** (other dialects, SQLite in memory, a parameter ADBC cannot bind):
  SQLAlchemy with ``stream_results`` and ``partitions(batch_rows)``.

Every driver error becomes a ``SourceError`` (``ACP-880056``), transient when the database
could not be reached; messages never contain the URL's password.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import operator
import urllib.parse
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias

import adbc_driver_manager
import adbc_driver_postgresql.dbapi
import adbc_driver_sqlite.dbapi
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.base import PGDialect

from xdm_connector.errors import SOURCE_FAILED_MESSAGE, InvalidInput, SourceError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10
_MASK_BITS = 62
_RESERVED_PREFIX = "_xdmc_"
_ADBC_PARAMETER_TYPES = (bool, int, float, str, dt.date, dt.datetime)
_DRIVER_ERRORS = (sa.exc.SQLAlchemyError, adbc_driver_manager.Error, pa.ArrowException, OSError)
_TEXT, _REAL, _PLAIN = "text", "real", "plain"
AnySelect: TypeAlias = sa.Select[*tuple[Any, ...]]
_SQLITE_BATCH_ROWS = adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value
_POSTGRESQL_USE_COPY = adbc_driver_postgresql.StatementOptions.USE_COPY.value


def column_arrow_type(sa_type: sa.types.TypeEngine[Any]) -> pa.DataType:
    """The Arrow type a column of this SQLAlchemy type is read as (table in the module doc)."""
    if isinstance(sa_type, sa.Interval | sa.Time):
        return pa.string()
    if isinstance(sa_type, sa.types.TypeDecorator):
        return column_arrow_type(sa_type.impl_instance)
    if isinstance(sa_type, sa.Boolean):
        return pa.bool_()
    if isinstance(sa_type, sa.Integer):
        return pa.int64()
    if isinstance(sa_type, sa.Float | sa.Numeric):
        return pa.float64()
    if isinstance(sa_type, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if sa_type.timezone else None)
    if isinstance(sa_type, sa.Date):
        return pa.date32()
    if isinstance(sa_type, sa.LargeBinary):
        return pa.binary()
    return pa.string()


class SourceDatabase:
    """An organization's source database, read-only, from a SQLAlchemy URL.

    >>> with SourceDatabase("sqlite:///var/demo-source.db") as source:  # doctest: +SKIP
    ...     for batch in source.read_batches(sa.select(profile), batch_rows=10_000):
    ...         print(batch.num_rows)

    The engine is created on first use and released by ``dispose()``. A SQLite file is
    opened read-only and must exist.
    """

    def __init__(self, url: str | sa.URL, *, use_adbc: bool = True) -> None:
        self.url = sa.make_url(url)
        self.use_adbc = use_adbc
        self._engine: sa.Engine | None = None
        backend = self.url.get_backend_name()
        database = self.url.database or ""
        self._sqlite_path: Path | None = None
        if backend == "sqlite" and database not in ("", ":memory:") and "uri" not in self.url.query:
            self._sqlite_path = Path(database).expanduser().resolve()

    def __repr__(self) -> str:
        return f"SourceDatabase({self.display_url!r})"

    @property
    def display_url(self) -> str:
        """The URL as it may be shown or logged: its password masked."""
        return self.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine, created on first use."""
        if self._engine is None:
            self._check_exists()
            if self._sqlite_path is not None:
                quoted = urllib.parse.quote(str(self._sqlite_path))
                url = sa.make_url(f"sqlite:///file:{quoted}?mode=ro&uri=true")
                self._engine = sa.create_engine(url)
            elif self.url.get_backend_name() == "postgresql":
                timeout = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
                self._engine = sa.create_engine(self.url, pool_pre_ping=True, connect_args=timeout)
            else:
                self._engine = sa.create_engine(self.url, pool_pre_ping=True)
        return self._engine

    def dispose(self) -> None:
        """Close the engine's pooled connections; the next use creates a new engine."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> SourceDatabase:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.dispose()

    def expected_schema(self, query: AnySelect) -> pa.Schema:
        """The schema of every batch ``read_batches(query)`` yields."""
        names = _column_names(query)
        return pa.schema(
            pa.field(name, column_arrow_type(column.type))
            for name, column in zip(names, query.selected_columns, strict=True)
        )

    def scalar(self, query: sa.Executable) -> Any:
        """The first column of the first row of ``query`` (``None`` without rows)."""
        with self._translated_errors(), self._connection() as conn:
            return conn.execute(query).scalar()

    def first_row(self, query: sa.Executable) -> tuple[Any, ...] | None:
        """The first row of ``query`` as a tuple (``None`` without rows)."""
        with self._translated_errors(), self._connection() as conn:
            row = conn.execute(query).first()
            return None if row is None else tuple(row)

    def read_batches(
        self, query: AnySelect, *, batch_rows: int
    ) -> Generator[pa.RecordBatch, None, None]:
        """Stream the rows of ``query`` as record batches of ``batch_rows`` rows (the last one
        may be shorter; an empty result yields no batch), typed as ``expected_schema``.

        The connection is held until the generator is exhausted or closed (``close()``).
        """
        if batch_rows < 1:
            raise InvalidInput("batch_rows must be at least 1")
        schema = self.expected_schema(query)
        backend = self.url.get_backend_name()
        with self._translated_errors():
            if self.use_adbc and self._sqlite_path is not None:
                self._check_exists()
                reader = self._read_sqlite_adbc(query, schema, batch_rows)
            elif self.use_adbc and backend == "postgresql":
                reader = self._read_postgresql_adbc(query, schema, batch_rows)
            else:
                reader = None
            if reader is None:
                log.debug("reading %s through SQLAlchemy", self.display_url)
                reader = self._read_sqlalchemy(query, schema, batch_rows)
            yield from reader

    # -- readers ---------------------------------------------------------------------------

    def _read_sqlite_adbc(
        self, query: AnySelect, schema: pa.Schema, batch_rows: int
    ) -> Iterator[pa.RecordBatch] | None:
        assert self._sqlite_path is not None
        rewritten, masks = _sqlite_statement(query, schema)
        compiled = _compile(rewritten, self.engine.dialect)
        if compiled is None:
            return None
        sql, parameters = compiled
        uri = f"file:{urllib.parse.quote(str(self._sqlite_path))}?mode=ro"
        log.debug("reading %s through ADBC SQLite", self.display_url)

        def batches() -> Iterator[pa.RecordBatch]:
            with self._connecting():
                conn = adbc_driver_sqlite.dbapi.connect(uri)
            with closing(conn), closing(conn.cursor()) as cursor:
                cursor.adbc_statement.set_options(**{_SQLITE_BATCH_ROWS: str(batch_rows)})
                cursor.execute(sql, parameters)
                for batch in cursor.fetch_record_batch():
                    yield _conform(batch, schema, masks)

        return batches()

    def _read_postgresql_adbc(
        self, query: AnySelect, schema: pa.Schema, batch_rows: int
    ) -> Iterator[pa.RecordBatch] | None:
        statement = _portable_statement(query, schema, numerics_as_doubles=True)
        compiled = _compile(statement, _dollar_dialect())
        if compiled is None:
            return None
        sql, parameters = compiled
        query_params = dict(self.url.query)
        query_params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_SECONDS))
        uri = self.url.set(drivername="postgresql", query=query_params)
        log.debug("reading %s through ADBC PostgreSQL", self.display_url)

        def batches() -> Iterator[pa.RecordBatch]:
            with self._connecting():
                conn = adbc_driver_postgresql.dbapi.connect(uri.render_as_string(False))
            with closing(conn), closing(conn.cursor()) as declare, closing(conn.cursor()) as fetch:
                declare.execute("SET TRANSACTION READ ONLY")
                declare.execute(f"DECLARE xdmc_read NO SCROLL CURSOR FOR {sql}", parameters)
                fetch.adbc_statement.set_options(**{_POSTGRESQL_USE_COPY: "false"})
                while True:
                    fetch.execute(f"FETCH FORWARD {batch_rows:d} FROM xdmc_read")
                    table = fetch.fetch_arrow_table()
                    for batch in table.to_batches(max_chunksize=batch_rows):
                        yield _conform(batch, schema, {})
                    if table.num_rows < batch_rows:
                        break
                conn.rollback()

        return batches()

    def _read_sqlalchemy(
        self, query: AnySelect, schema: pa.Schema, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        statement = _portable_statement(query, schema, numerics_as_doubles=False)
        with self._connection() as conn:
            streaming = conn.execution_options(stream_results=True, yield_per=batch_rows)
            with closing(streaming.execute(statement)) as result:
                for rows in result.partitions(batch_rows):
                    columns = list(zip(*rows, strict=True))
                    arrays = [
                        _python_array(list(values), field)
                        for values, field in zip(columns, schema, strict=True)
                    ]
                    yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    # -- errors ----------------------------------------------------------------------------

    def _check_exists(self) -> None:
        if self._sqlite_path is not None and not self._sqlite_path.is_file():
            raise SourceError(
                f"{SOURCE_FAILED_MESSAGE} The SQLite database {self._sqlite_path} does not exist."
            )

    @contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        with self._connecting():
            conn = self.engine.connect()
        with conn:
            yield conn

    @contextmanager
    def _connecting(self) -> Iterator[None]:
        """Driver errors raised while connecting are transient: the server may come back."""
        try:
            yield
        except _DRIVER_ERRORS as exc:
            raise self._source_error(exc, transient=True) from exc

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except _DRIVER_ERRORS as exc:
            transient = isinstance(
                exc, sa.exc.OperationalError | adbc_driver_manager.OperationalError
            )
            raise self._source_error(exc, transient=transient) from exc

    def _source_error(self, exc: BaseException, *, transient: bool) -> SourceError:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if self.url.password:
            detail = detail.replace(str(self.url.password), "***")
        return SourceError(
            f"{SOURCE_FAILED_MESSAGE} {self.display_url}: {detail}", transient=transient
        )


# -- statements ------------------------------------------------------------------------------


def _column_names(query: AnySelect) -> list[str]:
    names = [str(column.key or "") for column in query.selected_columns]
    if "" in names or len(set(names)) != len(names):
        raise InvalidInput(f"The query's columns need distinct names (label them): {names}")
    reserved = [name for name in names if name.startswith(_RESERVED_PREFIX)]
    if reserved:
        raise InvalidInput(
            f"Column names starting with {_RESERVED_PREFIX} are reserved: {reserved}"
        )
    return names


def _unlabeled(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return column.element if isinstance(column, sa.Label) else column


def _inline(value: object) -> sa.BindParameter[Any]:
    """A constant of the reader's own, rendered inline rather than bound."""
    return sa.literal(value, literal_execute=True)


def _sqlite_statement(
    query: AnySelect, schema: pa.Schema
) -> tuple[AnySelect, dict[str, tuple[str, int]]]:
    """The statement with never-NULL text and real columns plus their NULL-flag columns.

    Answers the rewritten statement and, per flagged column, its flag column and bit.
    """
    columns: list[sa.ColumnElement[Any]] = []
    flagged: list[tuple[str, sa.ColumnElement[Any]]] = []
    for column, field in zip(query.selected_columns, schema, strict=True):
        inner = _unlabeled(column)
        kind = _sqlite_kind(field.type)
        value = inner
        if kind == _TEXT:
            value = sa.func.coalesce(sa.cast(inner, sa.Text), _inline(""))
        elif kind == _REAL:
            as_double = sa.case(
                (sa.func.typeof(inner) == _inline("integer"), sa.cast(inner, sa.Float)),
                else_=inner,
            )
            value = sa.func.coalesce(as_double, _inline(0.0))
        if kind != _PLAIN:
            flagged.append((field.name, inner))
        columns.append(value.label(field.name))
    masks: dict[str, tuple[str, int]] = {}
    for group_start in range(0, len(flagged), _MASK_BITS):
        mask_name = f"{_RESERVED_PREFIX}nulls_{group_start // _MASK_BITS}"
        group = flagged[group_start : group_start + _MASK_BITS]
        bits = [
            sa.case((inner.is_(None), _inline(1 << bit)), else_=_inline(0))
            for bit, (_, inner) in enumerate(group)
        ]
        columns.append(functools.reduce(operator.add, bits).label(mask_name))
        masks.update({name: (mask_name, bit) for bit, (name, _) in enumerate(group)})
    return query.with_only_columns(*columns, maintain_column_froms=True), masks


def _sqlite_kind(arrow_type: pa.DataType) -> str:
    if pa.types.is_string(arrow_type) or pa.types.is_temporal(arrow_type):
        return _TEXT
    return _REAL if pa.types.is_floating(arrow_type) else _PLAIN


def _portable_statement(
    query: AnySelect, schema: pa.Schema, *, numerics_as_doubles: bool
) -> AnySelect:
    """The statement with non-text types read as text (uuid, json...) by the database, and
    numerics as doubles if asked."""
    columns: list[sa.ColumnElement[Any]] = []
    for column, field in zip(query.selected_columns, schema, strict=True):
        value = _unlabeled(column)
        plain_text = isinstance(column.type, sa.String) and not isinstance(column.type, sa.Enum)
        as_double = numerics_as_doubles and not isinstance(column.type, sa.Float)
        if pa.types.is_floating(field.type) and as_double:
            value = sa.cast(value, sa.Double())
        elif pa.types.is_string(field.type) and not plain_text:
            value = sa.cast(value, sa.Text)
        columns.append(value.label(field.name))
    return query.with_only_columns(*columns, maintain_column_froms=True)


@functools.cache
def _dollar_dialect() -> PGDialect:
    return PGDialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


def _compile(statement: AnySelect, dialect: sa.Dialect) -> tuple[str, pa.RecordBatch | None] | None:
    """The SQL text and its positional parameters as a one-row batch; ``None`` when a
    parameter is of a kind ADBC cannot bind (a NULL, a Decimal...)."""
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
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
        if value is None or not isinstance(value, _ADBC_PARAMETER_TYPES):
            return None
        values.append(value)
    if not values:
        return str(compiled), None
    try:
        arrays = [pa.array([value]) for value in values]
    except (pa.ArrowException, OverflowError):
        return None
    names = [f"p{index}" for index in range(len(values))]
    return str(compiled), pa.RecordBatch.from_arrays(arrays, names=names)


# -- arrays ----------------------------------------------------------------------------------


def _conform(
    batch: pa.RecordBatch, schema: pa.Schema, masks: dict[str, tuple[str, int]]
) -> pa.RecordBatch:
    """The batch in the expected schema: NULL flags applied, each column cast."""
    arrays = []
    for field in schema:
        array = batch.column(field.name)
        if field.name in masks:
            mask_name, bit = masks[field.name]
            flags = pc.bit_wise_and(batch.column(mask_name), pa.scalar(1 << bit, pa.int64()))
            array = pc.if_else(pc.not_equal(flags, 0), pa.scalar(None, array.type), array)
        arrays.append(_cast_column(array, field))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _cast_column(array: pa.Array, field: pa.Field) -> pa.Array:
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    target = field.type
    if array.type == target:
        return array
    textual = pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
    try:
        if textual and pa.types.is_date32(target):
            return pc.cast(pc.utf8_slice_codeunits(array, 0, 10), target)
        if textual and pa.types.is_timestamp(target):
            return _parse_timestamps(array, target)
        return pc.cast(array, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise _column_error(field) from exc


def _parse_timestamps(array: pa.Array, target: pa.TimestampType) -> pa.Array:
    """ISO-8601 text as timestamps; a zone-less text read into a zoned type is UTC."""
    try:
        return pc.cast(array, target)
    except pa.ArrowInvalid:
        other = pa.timestamp(target.unit, tz=None if target.tz else "UTC")
        return pc.cast(pc.cast(array, other), target)


def _python_array(values: Sequence[object], field: pa.Field) -> pa.Array:
    """Python values of a column as an Arrow array of the field's type."""
    try:
        return pa.array(values, type=field.type)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    try:
        inferred = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        raise _column_error(field) from exc
    return _cast_column(inferred, field)


def _column_error(field: pa.Field) -> SourceError:
    return SourceError(
        f"{SOURCE_FAILED_MESSAGE} Column {field.name!r} holds a value that cannot be read "
        f"as {field.type}."
    )
