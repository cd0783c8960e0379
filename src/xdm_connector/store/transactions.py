"""``Transactions`` over the metadata database, which every query of the store runs in.

Every state change is one short transaction. ``write()`` begins as a writer (SQLite:
``BEGIN IMMEDIATE``), ``read()`` as a reader (on PostgreSQL without a transaction of its
own, see ``engine.py``). Objects come back detached and loaded, so
callers never trigger lazy loads outside a transaction.

``atomic()`` makes several changes one transaction: every ``write()`` of the same store
made inside it, in the same thread, joins it as a savepoint instead of committing on its
own. A service uses it to write a change and its audit entry together::

    with store.atomic():
        store.mappings.unpublish("acme", "XDM44")
        store.tenants.audit.record("acme", actor, AuditAction.UNPUBLISH, "XDM44")

Reads inside it (``read()``) still run on their own connection and do not see its
uncommitted changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from xdm_connector.errors import NotFound, StoreError
from xdm_connector.store import schema_version
from xdm_connector.store.engine import (
    DEFAULT_POOL_SIZE,
    create_store_engine,
    reader_engine,
    writer_engine,
)
from xdm_connector.store.principals import watch_credential_changes

RowT = TypeVar("RowT")

_ATOMIC: ContextVar[tuple[Transactions, Session] | None] = ContextVar("xdmc_atomic", default=None)
"""The store and the session of the ``atomic()`` transaction open in this context, if any."""


class Transactions:
    """Short transactions on the metadata database (SQLite or PostgreSQL): the engine the
    store's query classes share (``Store`` attaches them)."""

    def __init__(self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        try:
            self.engine = create_store_engine(url, pool_size=pool_size)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the metadata store: {exc}") from exc
        self._reader_engine = reader_engine(self.engine)
        self._reader = sessionmaker(self._reader_engine, expire_on_commit=False)
        self._writer = sessionmaker(writer_engine(self.engine), expire_on_commit=False)
        for factory in (self._reader, self._writer):
            watch_credential_changes(factory)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def upgrade(self) -> None:
        """Apply the migrations that the store lacks."""
        try:
            schema_version.upgrade(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate the metadata store: {exc}") from exc

    def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers a trivial query."""
        with self.read() as session:
            session.execute(sa.select(1))

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any error.

        Inside ``atomic()``, a savepoint of its transaction instead: rolled back on any
        error, committed with the rest.
        """
        with self._joined_or_new() as (session, _):
            yield session

    @contextmanager
    def atomic(self) -> Iterator[Session]:
        """One write transaction that every ``write()`` of this store inside joins (in
        this thread): all of it is committed at the end, or none of it on any error."""
        with self._joined_or_new() as (session, new):
            if not new:
                yield session
                return
            token = _ATOMIC.set((self, session))
            try:
                yield session
            finally:
                _ATOMIC.reset(token)

    def get(self, model: type[RowT], key: Any, missing: str) -> RowT:
        """The row of ``model`` with the primary key ``key``, or ``NotFound(missing)``."""
        with self.read() as session:
            return required_row(session, model, key, missing)

    @contextmanager
    def _joined_or_new(self) -> Iterator[tuple[Session, bool]]:
        """A savepoint of the ``atomic()`` transaction open in this thread, else a new write
        transaction; with whether it is new."""
        joined = self._joined()
        if joined is not None:
            with self._savepoint(joined) as session:
                yield session, False
            return
        with self._session(self._writer) as session:
            yield session, True

    def _joined(self) -> Session | None:
        current = _ATOMIC.get()
        return current[1] if current is not None and current[0] is self else None

    @contextmanager
    def _savepoint(self, session: Session) -> Iterator[Session]:
        try:
            with session.begin_nested():
                yield session
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"metadata store error: {type(exc).__name__}") from exc

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read: a transaction on SQLite; on PostgreSQL, statements in autocommit, each
        seeing what was committed before it began (``engine.reader_engine``)."""
        with self._session(self._reader) as session:
            yield session

    def first(
        self, statement: sa.Select[*tuple[Any, ...]], parameters: Mapping[str, Any]
    ) -> sa.Row[*tuple[Any, ...]] | None:
        """The first row of a read-only Core ``statement`` given its bound ``parameters``.

        It runs as ``read()`` would (same isolation), on a pooled connection without an ORM
        session: a few times less work per call, for the reads that clients poll.
        """
        try:
            with self._reader_engine.connect() as connection:
                return connection.execute(statement, parameters).first()
        except SQLAlchemyError as exc:
            raise StoreError(f"metadata store error: {type(exc).__name__}") from exc

    @contextmanager
    def _session(self, factory: sessionmaker[Session]) -> Iterator[Session]:
        try:
            with factory.begin() as session:
                yield session
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"metadata store error: {type(exc).__name__}") from exc


def required_row(session: Session, model: type[RowT], key: Any, missing: str) -> RowT:
    """The row of ``model`` with the primary key ``key`` in ``session``, or
    ``NotFound(missing)``."""
    row = session.get(model, key)
    if row is None:
        raise NotFound(missing)
    return row
