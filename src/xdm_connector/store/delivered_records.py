"""What each mapping delivered to the platform, record by record, for its reconciliation.

The platform keeps no table the product can read back, so the product keeps its own: per
mapping, each delivered record's key (``_id``), its digest (``record_digests``) and its
primary identity (the namespace and id a work order deleting it names). A job in progress
*stages* its changes (``staged_records``: each record sent, each record deleted) before its
batch completes; the job's ``Success`` applies them in its own transaction (``apply``, called
by ``JobQueue.succeed``, whether the worker or the recovery of a lost worker ends the job),
and drops them. So a job that fails or is aborted changes nothing, and one that succeeds
changes the table once::

    records = store.delivered_records
    records.stage(job.id, [("c-1", "9f0e...", "Email", "a@example.com", False)])
    for page in records.pages("acme", "XDM44"):  # in key order, a page at a time
        ...

A staged delete removes its record's entry: the job's work orders deleting it completed
before the job's success.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xdm_connector.store.models import DeliveredRecord, Job, StagedRecord
from xdm_connector.store.transactions import Transactions

ROWS_PER_STATEMENT = 2_000
"""Rows deleted or read per statement (a page)."""
ROWS_PER_STAGING = 100_000
"""Rows staged per transaction on SQLite."""

_DELIVERED_COLUMNS = (
    DeliveredRecord.record_id,
    DeliveredRecord.digest,
    DeliveredRecord.namespace,
    DeliveredRecord.identity,
)
StagedRow = tuple[str, str | None, str | None, str | None, bool]
"""``(record_id, digest, namespace, identity, deleted)``: one change a job stages."""
DeliveredRow = tuple[str, str, str | None, str | None]
"""``(record_id, digest, namespace, identity)``: one delivered record."""


class DeliveredRecords:
    """The delivered records of the mappings, and the changes their jobs stage."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def stage(self, job_id: int, rows: Iterable[StagedRow], *, replace: bool = True) -> None:
        """Stage ``rows`` for the job, after dropping what it staged before (``replace``:
        the job's own delivery; a slice of the job adds to its job's). A record staged
        twice keeps its last change.

        PostgreSQL takes every row in one transaction, through ``COPY`` into a temporary
        table, then one ``INSERT ... ON CONFLICT``; SQLite, ``ROWS_PER_STAGING`` rows per
        transaction (each one short: SQLite has a single writer), by ``executemany``."""
        if replace:
            self.discard(job_id)
        if self._store.dialect == "postgresql":
            with self._store.write() as session:
                _copy_staged(session, job_id, rows)
            return
        chunk: list[tuple[Any, ...]] = []
        for row in rows:
            chunk.append((job_id, *row))
            if len(chunk) >= ROWS_PER_STAGING:
                self._insert_many(chunk)
                chunk = []
        if chunk:
            self._insert_many(chunk)

    def withdraw(self, job_id: int, record_ids: Iterable[str] | None = None) -> None:
        """Take back the records the job staged as sent among ``record_ids`` (``None``:
        every one): the destination refused them, so their delivered entries stay as they
        were and the next reconciliation exports them again. Staged deletes stay."""
        sent = (StagedRecord.job_id == job_id) & StagedRecord.deleted.is_(False)
        if record_ids is None:
            with self._store.write() as session:
                session.execute(sa.delete(StagedRecord).where(sent))
            return
        ids = list(record_ids)
        for start in range(0, len(ids), ROWS_PER_STATEMENT):
            chunk = ids[start : start + ROWS_PER_STATEMENT]
            with self._store.write() as session:
                session.execute(
                    sa.delete(StagedRecord).where(sent, StagedRecord.record_id.in_(chunk))
                )

    def discard(self, job_id: int) -> None:
        """Drop what the job staged."""
        with self._store.write() as session:
            drop(session, job_id)

    def staged_identities(self, job_id: int) -> Iterator[tuple[str, str]]:
        """The primary identities (namespace, id) of the records the job staged as deleted,
        in key order, a page at a time."""
        after = ""
        while True:
            with self._store.read() as session:
                page = session.execute(
                    sa.select(StagedRecord.record_id, StagedRecord.namespace, StagedRecord.identity)
                    .where(
                        StagedRecord.job_id == job_id,
                        StagedRecord.deleted.is_(True),
                        StagedRecord.record_id > after,
                    )
                    .order_by(StagedRecord.record_id)
                    .limit(ROWS_PER_STATEMENT)
                ).all()
            for _, namespace, identity in page:
                if namespace is not None and identity is not None:
                    yield namespace, identity
            if len(page) < ROWS_PER_STATEMENT:
                return
            after = page[-1][0]

    def pages(self, org_id: str, mapping_id: str) -> Iterator[list[DeliveredRow]]:
        """The mapping's delivered records in key order (its primary key's), a page of at
        most ``ROWS_PER_STATEMENT`` at a time, each page read by key from the last."""
        after = ""
        while True:
            query = (
                sa.select(*_DELIVERED_COLUMNS)
                .where(_of_mapping(org_id, mapping_id), DeliveredRecord.record_id > after)
                .order_by(DeliveredRecord.record_id)
                .limit(ROWS_PER_STATEMENT)
            )
            with self._store.read() as session:
                page = [(row[0], row[1], row[2], row[3]) for row in session.execute(query)]
            if page:
                yield page
            if len(page) < ROWS_PER_STATEMENT:
                return
            after = page[-1][0]

    def identities(
        self, org_id: str, mapping_id: str, record_ids: Sequence[str]
    ) -> dict[str, tuple[str, str]]:
        """The primary identities (namespace, id) of the mapping's delivered records among
        ``record_ids``, by key; a record delivered without one is left out."""
        found: dict[str, tuple[str, str]] = {}
        for start in range(0, len(record_ids), ROWS_PER_STATEMENT):
            chunk = list(record_ids[start : start + ROWS_PER_STATEMENT])
            query = sa.select(*_DELIVERED_COLUMNS).where(
                _of_mapping(org_id, mapping_id), DeliveredRecord.record_id.in_(chunk)
            )
            with self._store.read() as session:
                for record_id, _, namespace, identity in session.execute(query):
                    if namespace is not None and identity is not None:
                        found[record_id] = (namespace, identity)
        return found

    def count(self, org_id: str, mapping_id: str) -> int:
        """How many records of the mapping are delivered."""
        with self._store.read() as session:
            counted = session.scalar(
                sa.select(sa.func.count()).where(_of_mapping(org_id, mapping_id))
            )
        return int(counted or 0)

    def _insert_many(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert staged rows ``(job_id, record_id, digest, namespace, identity,
        deleted)`` in one transaction, in order: a record's later row replaces its earlier."""
        with self._store.write() as session:
            session.connection().exec_driver_sql(
                _UPSERT_STAGED.format(source="VALUES (?, ?, ?, ?, ?, ?)"), rows
            )


_STAGED_COLUMNS = "job_id, record_id, digest, namespace, identity, deleted"
_UPSERT_STAGED = (
    f"INSERT INTO staged_records ({_STAGED_COLUMNS}) {{source}} "
    "ON CONFLICT (job_id, record_id) DO UPDATE SET digest = excluded.digest, "
    "namespace = excluded.namespace, identity = excluded.identity, deleted = excluded.deleted"
)
"""The upsert of staged rows, from ``source`` (the rows' values, or a query)."""


def _copy_staged(session: Session, job_id: int, rows: Iterable[StagedRow]) -> None:
    """Stage ``rows`` for the job on PostgreSQL, in the session's transaction: ``COPY``
    into a temporary table, numbered in order, then one upsert of each record's last."""
    connection = session.connection()
    connection.exec_driver_sql(
        "CREATE TEMPORARY TABLE incoming_staged (seq bigint, record_id text, digest text, "
        "namespace text, identity text, deleted boolean) ON COMMIT DROP"
    )
    raw = connection.connection.driver_connection
    columns = "seq, record_id, digest, namespace, identity, deleted"
    with (
        raw.cursor() as cursor,  # type: ignore[union-attr]
        cursor.copy(f"COPY incoming_staged ({columns}) FROM STDIN") as copy,
    ):
        for seq, row in enumerate(rows):
            copy.write_row((seq, *row))
    last = (
        "SELECT DISTINCT ON (record_id) %(job_id)s, record_id, digest, namespace, identity, "
        "deleted FROM incoming_staged ORDER BY record_id, seq DESC"
    )
    connection.exec_driver_sql(_UPSERT_STAGED.format(source=last), {"job_id": job_id})


def apply(session: Session, job: Job) -> None:
    """Apply what ``job`` staged to its mapping's delivered records, and drop it, in the
    caller's transaction (the job's ``Success``)."""
    staged = sa.select(StagedRecord.record_id).where(StagedRecord.job_id == job.id)
    mine = _of_mapping(job.org_id, job.mapping_id)
    # Replaced or deleted entries go first: the insert then meets no key of the mapping's.
    session.execute(sa.delete(DeliveredRecord).where(mine, DeliveredRecord.record_id.in_(staged)))
    sent = sa.select(
        sa.literal(job.org_id),
        sa.literal(job.mapping_id),
        StagedRecord.record_id,
        StagedRecord.digest,
        StagedRecord.namespace,
        StagedRecord.identity,
    ).where(
        StagedRecord.job_id == job.id,
        StagedRecord.deleted.is_(False),
        StagedRecord.digest.is_not(None),
    )
    columns = ["org_id", "mapping_id", "record_id", "digest", "namespace", "identity"]
    session.execute(sa.insert(DeliveredRecord).from_select(columns, sent))
    drop(session, job.id)


def forget(session: Session, org_id: str, mapping_ids: Sequence[str]) -> None:
    """Forget what the mappings delivered, in the caller's transaction (their records now
    go somewhere else)."""
    session.execute(
        sa.delete(DeliveredRecord).where(
            DeliveredRecord.org_id == org_id, DeliveredRecord.mapping_id.in_(list(mapping_ids))
        )
    )


def drop(session: Session, job_id: int) -> None:
    """Drop what the job staged, in the caller's transaction (the job's end)."""
    session.execute(sa.delete(StagedRecord).where(StagedRecord.job_id == job_id))


def _of_mapping(org_id: str, mapping_id: str) -> sa.ColumnElement[bool]:
    return (DeliveredRecord.org_id == org_id) & (DeliveredRecord.mapping_id == mapping_id)


def _insert_of(session: Session, model: type[Any]) -> Any:
    """The dialect's ``INSERT`` of ``model``, which takes ``ON CONFLICT``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)
