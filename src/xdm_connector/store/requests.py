"""The ingestion API's polled read: a request's status, in one statement.

Clients poll a request's status in a loop, so it is read by one Core statement on a pooled
connection (``Store.first``) rather than through an ORM session, and only the columns the
status shows. Every change of a job still goes through ``JobQueue``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from xdm_connector.store.models import Job

if TYPE_CHECKING:
    from xdm_connector.store.store import Store

STATUS_COLUMNS = (
    Job.id,
    Job.org_id,
    Job.mapping_id,
    Job.state,
    Job.batch_id,
    Job.records_ingested,
    Job.reason,
)
"""What an ingestion request's status shows (``jobs.ingestion.status_body``)."""

# Built once: building a statement costs more than running it.
_STATUS = sa.select(*STATUS_COLUMNS).where(
    Job.id == sa.bindparam("request_id"),
    Job.org_id == sa.bindparam("org_id"),
    Job.mapping_id == sa.bindparam("mapping_id"),
)


class IngestionRequests:
    """Reads of ingestion requests (jobs) that clients poll."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def status_of(self, org_id: str, mapping_id: str, request_id: int) -> Job | None:
        """The request ``request_id`` of that mapping, or None.

        The answer is a transient ``Job`` holding ``STATUS_COLUMNS`` only (the others are
        None): enough for its status, not for the worker.
        """
        row = self._store.first(
            _STATUS, {"request_id": request_id, "org_id": org_id, "mapping_id": mapping_id}
        )
        return None if row is None else Job(**row._asdict())
