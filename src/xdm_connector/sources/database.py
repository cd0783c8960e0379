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

- **SQLite, ADBC** (``sources/sqlite.py``): the statement as written, with only the casts
  that keep each column in one storage class; with ``scan=True`` (the query reads most
  rows of its first table, a first export), a table scan in two rowid ranges read side by
  side, rather than an index SQLite's planner picks without statistics.
- **PostgreSQL, ADBC** (``sources/postgresql.py``): ``COPY`` streaming, the parameters
  handed over as transaction settings; a server-side cursor when they cannot be. Its
  connection may be opened ahead (``connect_ahead``) while the caller plans the read.
- **Anything else** (other dialects, SQLite in memory, a parameter ADBC cannot bind):
  SQLAlchemy with ``stream_results`` and ``partitions(batch_rows)``.

The ADBC readers read ahead in threads (``sources/batches.py``): the database and the
caller's work on the previous batch overlap. A batch holds at most ``batch_rows`` rows,
fewer for wide rows (about 8 MiB of Arrow memory, ``BATCH_BYTES``), so that memory stays
flat; an expression selected twice (one source column mapped to two XDM fields) is read
once and given twice, a constant column (a literal of the mapping) is not read at all
but repeated, and on PostgreSQL an integer cast to text or an ``Iif`` on an integer or
boolean column is computed in Arrow from the column it reads (``sources/derived.py``).

Every driver error becomes a ``SourceError`` (``ACP-880056``), transient when the database
was busy or its connection failed (``sources/driver_errors.py``); its message holds no
form of the URL's secrets (``mask_secrets``).
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

import adbc_driver_manager
import pyarrow as pa
import sqlalchemy as sa

from xdm_connector.errors import SOURCE_FAILED_MESSAGE, InvalidInput, SourceError, SourceRefused
from xdm_connector.masking import mask_secrets, remember_secrets
from xdm_connector.sources.batches import (
    prefetched,
    python_array,
    rows_per_batch,
    streamed_batches,
)
from xdm_connector.sources.derived import Compute, derived_columns
from xdm_connector.sources.driver_errors import is_transient
from xdm_connector.sources.mysql import (
    ConnectorXError,
    connectorx_uri,
    driver_url,
    mysql_engine,
    read_mysql,
)
from xdm_connector.sources.postgresql import EarlyConnection, read_postgresql
from xdm_connector.sources.product_data import ProductData, sqlite_file
from xdm_connector.sources.sqlite import read_only_engine, read_sqlite
from xdm_connector.sources.statements import (
    UNREADABLE_PREFIX,
    AnySelect,
    Constant,
    column_names,
    constant_columns,
    distinct_columns,
    portable_statement,
)
from xdm_connector.sources.urls import display_source_url, resolve_source_url, source_secrets

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10
_DRIVER_ERRORS = (
    sa.exc.SQLAlchemyError,
    adbc_driver_manager.Error,
    pa.ArrowException,
    OSError,
    ConnectorXError,
)


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

    >>> data = ProductData.of(settings)  # doctest: +SKIP
    >>> with SourceDatabase("sqlite:///crm.db", data) as source:  # doctest: +SKIP
    ...     for batch in source.read_batches(sa.select(profile), batch_rows=10_000):
    ...         print(batch.num_rows)

    The URL is the organization's, its secrets named (``sources/urls.py``): they are
    resolved here, after the URL is checked against the connector's own data
    (``product_data``: a URL stored before that rule is refused, never opened). Either
    refusal is a ``SourceError`` that is not transient. The engine is created on first use
    and released by ``dispose()``. A SQLite file must exist, and is opened read-only
    (``sources/sqlite.py``).
    """

    def __init__(
        self,
        url: str | sa.URL,
        product_data: ProductData,
        *,
        use_adbc: bool = True,
    ) -> None:
        try:
            product_data.check_source(url)
        except SourceRefused as exc:
            raise SourceError(f"{SOURCE_FAILED_MESSAGE} {exc.code} {exc.message}") from exc
        self.url = driver_url(resolve_source_url(url))
        self.use_adbc = use_adbc
        self._secrets = source_secrets(self.url)
        remember_secrets(self._secrets)
        self._engine: sa.Engine | None = None
        self._sqlite_path = sqlite_file(self.url) if self.backend == "sqlite" else None
        self._early: EarlyConnection | None = None

    def __repr__(self) -> str:
        return f"SourceDatabase({self.display_url!r})"

    @property
    def backend(self) -> str:
        """The database's kind: ``sqlite``, ``postgresql``..."""
        return self.url.get_backend_name()

    @property
    def display_url(self) -> str:
        """The URL as it may be shown or logged: its secrets masked."""
        return display_source_url(self.url)

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine, created on first use."""
        if self._engine is None:
            self._check_exists()
            if self._sqlite_path is not None:
                self._engine = read_only_engine(self._sqlite_path)
            elif self.backend == "postgresql":
                timeout = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
                self._engine = sa.create_engine(self.url, pool_pre_ping=True, connect_args=timeout)
            elif self.backend in ("mysql", "mariadb"):
                self._engine = mysql_engine(self.url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
            else:
                self._engine = sa.create_engine(self.url, pool_pre_ping=True)
        return self._engine

    def connect_ahead(self) -> None:
        """Start opening the connection of the next ADBC read of a PostgreSQL source, in a
        thread of its own, while the caller prepares the read (``sources/postgresql.py``);
        no effect on another source."""
        if self.use_adbc and self.backend == "postgresql" and self._early is None:
            self._early = EarlyConnection(self._libpq_uri())

    def dispose(self) -> None:
        """Close the engine's pooled connections, and a connection opened ahead that no
        read took; the next use creates a new engine."""
        if self._early is not None:
            self._early.close()
            self._early = None
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
        """The schema of every batch ``read_batches(query)`` yields; a batch of a MySQL read
        that met a zero date in a date column ``name`` (read as ``NULL``) has a text column
        ``UNREADABLE_PREFIX + name`` after them, with its text (``sources/mysql.py``)."""
        column_names(query)
        return _arrow_schema(query)

    def scalar(self, query: sa.Executable) -> Any:
        """The first column of the first row of ``query`` (``None`` without rows)."""
        with self.translated_errors(), self._connection() as conn:
            return conn.execute(query).scalar()

    def first_row(self, query: sa.Executable) -> tuple[Any, ...] | None:
        """The first row of ``query`` as a tuple (``None`` without rows)."""
        with self.translated_errors(), self._connection() as conn:
            row = conn.execute(query).first()
            return None if row is None else tuple(row)

    def read_batches(
        self, query: AnySelect, *, batch_rows: int, scan: bool = False
    ) -> Generator[pa.RecordBatch, None, None]:
        """Stream the rows of ``query`` as record batches of ``batch_rows`` rows (fewer for
        wide rows, see ``rows_per_batch``; the last one may be shorter; an empty result
        yields no batch), typed as ``expected_schema``.

        ``scan``: the query reads most rows of its first table (a first export), in any
        order; SQLite then scans that table in two ranges (and the last batch of each may
        be shorter). The connections are held until the generator is exhausted or closed
        (``close()``).
        """
        if batch_rows < 1:
            raise InvalidInput("batch_rows must be at least 1")
        full_schema = self.expected_schema(query)
        derived: dict[str, Compute] = {}
        if self.backend == "postgresql":
            query, derived = derived_columns(query, full_schema)
        query, copies = distinct_columns(query)
        batch_rows = rows_per_batch(_arrow_schema(query), batch_rows)
        query, constants = constant_columns(query)
        schema = _arrow_schema(query)
        fill = _Fill(full_schema, copies, constants, derived)
        with self.translated_errors():
            readers = self._read_adbc(query, schema, batch_rows, scan=scan)
            if readers is None and self.backend in ("mysql", "mariadb"):
                readers = self._read_mysql(query, schema, batch_rows, scan=scan)
            if readers is None:
                log.debug("reading %s through SQLAlchemy", self.display_url)
                reader = self._read_sqlalchemy(query, schema, batch_rows)
            else:
                reader = prefetched(*readers)
            try:
                for batch in reader:
                    yield fill(batch)
            finally:
                reader.close()

    # -- readers ---------------------------------------------------------------------------

    def _read_adbc(
        self, query: AnySelect, schema: pa.Schema, batch_rows: int, *, scan: bool
    ) -> list[Generator[pa.RecordBatch, None, None]] | None:
        """The ADBC readers of the query (SQLite file, PostgreSQL), or ``None``."""
        if not self.use_adbc:
            return None
        if self._sqlite_path is not None:
            self._check_exists()
            log.debug("reading %s through ADBC SQLite", self.display_url)
            return read_sqlite(
                self._sqlite_path,
                query,
                schema,
                batch_rows,
                scan=scan,
                first_row=self.first_row,
                connecting=self._connecting,
            )
        if self.backend == "postgresql":
            log.debug("reading %s through ADBC PostgreSQL", self.display_url)
            return read_postgresql(
                self._libpq_uri(),
                query,
                schema,
                batch_rows,
                connecting=self._connecting,
                early=self._early,
            )
        return None

    def _read_mysql(
        self, query: AnySelect, schema: pa.Schema, batch_rows: int, *, scan: bool
    ) -> list[Generator[pa.RecordBatch, None, None]]:
        """MySQL and MariaDB: ConnectorX by pages when it can read (``sources/mysql.py``),
        in ranges of the key side by side for a ``scan``; else PyMySQL with a server-side
        cursor."""
        uri = connectorx_uri(self.url) if self.use_adbc else None
        log.debug("reading %s through %s", self.display_url, "ConnectorX" if uri else "SQLAlchemy")
        return read_mysql(
            uri, query, schema, batch_rows, connect=self._connection, scan=scan,
            first_row=self.first_row,
        )  # fmt: skip

    def _libpq_uri(self) -> str:
        """The URL as libpq reads it, every part percent-encoded (libpq reads ``+`` as
        itself, not as a space), with a connection timeout unless it has one."""
        url = self.url
        userinfo = ""
        if url.username is not None or url.password is not None:
            userinfo = quote(url.username or "", safe="")
            if url.password is not None:
                userinfo += ":" + quote(str(url.password), safe="")
            userinfo += "@"
        host = url.host or ""
        host = f"[{quote(host, safe=':')}]" if ":" in host else quote(host, safe="")
        port = f":{url.port}" if url.port else ""
        database = "/" + quote(url.database, safe="") if url.database else ""
        parameters = dict(url.query)
        parameters.setdefault("connect_timeout", str(CONNECT_TIMEOUT_SECONDS))
        query = urlencode(parameters, doseq=True, quote_via=quote)
        return f"postgresql://{userinfo}{host}{port}{database}?{query}"

    def _read_sqlalchemy(
        self, query: AnySelect, schema: pa.Schema, batch_rows: int
    ) -> Generator[pa.RecordBatch, None, None]:
        statement = portable_statement(query, schema, numerics_as_doubles=False)
        yield from streamed_batches(self._connection, statement, schema, batch_rows)

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
        """Errors of the readers' connections, opened in their own threads."""
        try:
            yield
        except _DRIVER_ERRORS as exc:
            self._raise_source_error(exc)

    @contextmanager
    def translated_errors(self) -> Iterator[None]:
        """Driver errors raised in the block become ``SourceError``s, transient when the
        database could not be reached, their text without the URL's secrets."""
        try:
            yield
        except _DRIVER_ERRORS as exc:
            self._raise_source_error(exc)

    def _raise_source_error(self, exc: BaseException) -> NoReturn:
        """A ``SourceError`` with the first line of the driver's message, every form of the
        URL's secrets masked (a driver's message that held one is not chained to it),
        transient when ``is_transient`` says so."""
        text = str(exc)
        masked = mask_secrets(text, self._secrets)
        detail = masked.splitlines()[0] if masked.strip() else type(exc).__name__
        error = SourceError(
            f"{SOURCE_FAILED_MESSAGE} {self.display_url}: {detail}", transient=is_transient(exc)
        )
        if masked != text:
            raise error from None
        raise error from exc


def _arrow_schema(query: AnySelect) -> pa.Schema:
    """The Arrow types of the query's columns (``column_arrow_type``), by label."""
    return pa.schema(
        pa.field(str(column.key), column_arrow_type(column.type))
        for column in query.selected_columns
    )


class _Fill:
    """Completes a batch read by a query without its repeated or derived columns: a column
    selected twice (``distinct_columns``) is given twice, a constant (``constant_columns``)
    repeated on every row, a derived column (``derived_columns``) computed from the inputs
    read for it; no data copied but the constants' and the derived columns'."""

    def __init__(
        self,
        schema: pa.Schema,
        copies: dict[str, str],
        constants: dict[str, Constant],
        derived: dict[str, Compute],
    ) -> None:
        self.schema = schema
        self.copies = copies
        self.constants = {
            name: python_array([value], schema.field(name))[0] for name, value in constants.items()
        }
        self.derived = derived

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        unreadable = [
            name
            for name in batch.schema.names
            if name.startswith(UNREADABLE_PREFIX) and batch.column(name).null_count < len(batch)
        ]
        plain = len(batch.schema) == len(self.schema) - len(self.copies) - len(self.constants)
        if not self.copies and not self.constants and not self.derived and plain:
            return batch
        read = _ReadColumns(batch, self.copies)
        arrays = []
        for name in self.schema.names:
            constant = self.constants.get(name)
            derived = self.derived.get(name)
            if constant is not None:
                arrays.append(pa.repeat(constant, batch.num_rows))
            elif derived is not None:
                arrays.append(derived(read))
            else:
                arrays.append(read[name])
        fields = list(self.schema)
        for name in unreadable:  # the zero dates' texts of a MySQL read, where it met one
            fields.append(batch.schema.field(name))
            arrays.append(batch.column(name))
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


class _ReadColumns(Mapping[str, pa.Array]):
    """A batch's columns by the name the query gave them, copies included."""

    def __init__(self, batch: pa.RecordBatch, copies: dict[str, str]) -> None:
        self.batch = batch
        self.copies = copies

    def __getitem__(self, name: str) -> pa.Array:
        return self.batch.column(self.copies.get(name, name))

    def __iter__(self) -> Iterator[str]:
        return iter([*self.batch.schema.names, *self.copies])

    def __len__(self) -> int:
        return int(self.batch.num_columns) + len(self.copies)
