"""The ingestion API's hot reads: a request's status, and a trigger's mapping, in one
statement each.

Clients poll a request's status in a loop and repeat triggers while a request runs; each is
answered by one read of only the columns it shows. On PostgreSQL the ``a``-prefixed reads
run in the event loop (``async_reads.py``); on SQLite, in a worker thread through the
store's engine. Every change of a job still goes through ``JobQueue``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from anyio import to_thread
from sqlalchemy import event

from xdm_connector.store.jobs import in_progress_job_of_mapping
from xdm_connector.store.models import Job, Mapping
from xdm_connector.store.transactions import Transactions

if TYPE_CHECKING:
    from xdm_connector.store.async_reads import AsyncReads, PostgresQuery

ASYNC_CONNECTIONS = 4
"""PostgreSQL connections of a process for the reads run in its event loop: a read takes
a fraction of a millisecond, so a few serve every request the loop has in flight."""


class RequestStatus(NamedTuple):
    """What an ingestion request's status shows (``domain.request_status.status_body``)."""

    request_id: int
    mapping_id: str
    state: str
    batch_id: str
    records_ingested: int
    reason: str


class TriggerState(NamedTuple):
    """What a trigger needs to know of its mapping: whether it may run, and the id of its
    request in progress, if any."""

    publication_status: str
    execution_status: str
    running: int | None
    """The request id of the mapping's job in progress."""


# Built once: building a statement costs more than running it.
# Request ids are numbered per organization: every read by one is scoped by the organization.
_STATUS = sa.select(*(getattr(Job, name) for name in RequestStatus._fields)).where(
    Job.org_id == sa.bindparam("org_id"),
    Job.request_id == sa.bindparam("request_id"),
    Job.mapping_id == sa.bindparam("mapping_id"),
)
_TRIGGER = (
    sa.select(Mapping.publication_status, Mapping.execution_status, Job.request_id)
    .outerjoin(Job, in_progress_job_of_mapping())
    .where(Mapping.org_id == sa.bindparam("org_id"), Mapping.id == sa.bindparam("mapping_id"))
)


class IngestionRequests:
    """Reads of ingestion requests (jobs) that clients poll."""

    def __init__(self, store: Transactions) -> None:
        self._store = store
        self._async: AsyncReads | None = None
        self._status_query: PostgresQuery | None = None
        self._trigger_query: PostgresQuery | None = None
        if store.dialect == "postgresql":
            # psycopg's asynchronous connections, imported for a PostgreSQL store only.
            from xdm_connector.store.async_reads import AsyncReads, PostgresQuery

            reads = self._async = AsyncReads(store.engine.url, ASYNC_CONNECTIONS)
            # The event loop's connections close with the store's pool (``Store.close``).
            event.listen(store.engine, "engine_disposed", lambda _engine: reads.close())
            dialect = store.engine.dialect
            self._status_query = PostgresQuery.of(_STATUS, dialect)
            self._trigger_query = PostgresQuery.of(_TRIGGER, dialect)

    def status_of(self, org_id: str, mapping_id: str, request_id: int) -> RequestStatus | None:
        """The status of request ``request_id`` of that mapping of ``org_id``, or None."""
        row = self._store.first(_STATUS, _status_parameters(org_id, mapping_id, request_id))
        return None if row is None else RequestStatus(*row)

    async def astatus_of(
        self, org_id: str, mapping_id: str, request_id: int
    ) -> RequestStatus | None:
        """``status_of``, awaited."""
        parameters = _status_parameters(org_id, mapping_id, request_id)
        row = await self._afirst(_STATUS, self._status_query, parameters)
        return None if row is None else RequestStatus(*row)

    def trigger_state(self, org_id: str, mapping_id: str) -> TriggerState | None:
        """The mapping's publication and execution status and its request in progress, or
        None when the organization has no such mapping."""
        row = self._store.first(_TRIGGER, {"org_id": org_id, "mapping_id": mapping_id})
        return None if row is None else TriggerState(*row)

    async def atrigger_state(self, org_id: str, mapping_id: str) -> TriggerState | None:
        """``trigger_state``, awaited."""
        parameters = {"org_id": org_id, "mapping_id": mapping_id}
        row = await self._afirst(_TRIGGER, self._trigger_query, parameters)
        return None if row is None else TriggerState(*row)

    async def _afirst(
        self,
        statement: sa.Select[*tuple[Any, ...]],
        query: PostgresQuery | None,
        parameters: dict[str, Any],
    ) -> Sequence[Any] | None:
        if self._async is None or query is None:
            return await to_thread.run_sync(self._store.first, statement, parameters)
        return await self._async.first(query, parameters)


def _status_parameters(org_id: str, mapping_id: str, request_id: int) -> dict[str, Any]:
    return {"request_id": request_id, "org_id": org_id, "mapping_id": mapping_id}
