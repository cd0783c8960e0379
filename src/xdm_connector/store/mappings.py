"""Data mappings and their publication log in the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from xdm_connector.domain.job_states import IN_PROGRESS_STATES
from xdm_connector.domain.mapping_status import ExecutionStatus, PublicationStatus
from xdm_connector.errors import Conflict, InvalidInput
from xdm_connector.store.models import Dataset, Job, Mapping, PublicationLogEntry, utcnow
from xdm_connector.store.transactions import Transactions, required_row
from xdm_connector.store.webhooks import WebhookEvent, enqueue_mapping_event

IN_PROGRESS = sorted(state.value for state in IN_PROGRESS_STATES)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class LogLine:
    """One line to write to a publication log."""

    level: str
    code: str
    message: str


class MappingDraft(TypedDict):
    """What a draft mapping is made of: its label, dataset and editable definition."""

    label: str
    dataset_id: str
    definition: dict[str, Any]


def _check_dataset(session: Session, org_id: str, dataset_id: str) -> None:
    """``InvalidInput`` unless the organization has the dataset (a fault of the definition)."""
    if session.get(Dataset, (org_id, dataset_id)) is None:
        raise InvalidInput(f"unknown dataset {dataset_id}")


class MappingRecords:
    """Queries and state changes of data mappings."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def save(
        self, org_id: str, mapping_id: str, **draft: Unpack[MappingDraft]
    ) -> tuple[Mapping, bool]:
        """Create a draft mapping or replace an existing one's editable definition.

        A published mapping keeps running its published definition until published again.
        Answers the mapping and whether it was created.
        """
        # Create first: the primary key decides between simultaneous savers.
        try:
            mapping = self.create(org_id, mapping_id, **draft)
        except Conflict:
            pass
        else:
            return mapping, True
        with self._store.write() as session:
            _check_dataset(session, org_id, draft["dataset_id"])
            mapping = self._get(session, org_id, mapping_id)
            mapping.label = draft["label"]
            mapping.dataset_id = draft["dataset_id"]
            mapping.definition = draft["definition"]
            return mapping, False

    def create(self, org_id: str, mapping_id: str, **draft: Unpack[MappingDraft]) -> Mapping:
        """Create a draft mapping; ``Conflict`` when the id is taken (decided by the key)."""
        try:
            with self._store.write() as session:
                _check_dataset(session, org_id, draft["dataset_id"])
                mapping = Mapping(
                    org_id=org_id,
                    id=mapping_id,
                    **draft,
                    publication_status=PublicationStatus.DRAFT,
                    execution_status=ExecutionStatus.STOPPED,
                    published_definition=None,
                    next_run_at=None,
                    watermark=None,
                )
                session.add(mapping)
                session.flush()
                return mapping
        except IntegrityError as exc:
            raise Conflict(f"mapping {mapping_id} already exists") from exc

    def delete_draft(self, org_id: str, mapping_id: str) -> None:
        """Delete a draft mapping with its log and jobs; a published one is a ``Conflict``."""
        with self._store.write() as session:
            mapping = self._get(session, org_id, mapping_id)
            if mapping.publication_status != PublicationStatus.DRAFT:
                raise Conflict(f"mapping {mapping_id} is published: unpublish it first")
            running = sa.select(Job.id).where(
                Job.org_id == org_id, Job.mapping_id == mapping_id, Job.state.in_(IN_PROGRESS)
            )
            if session.scalar(running.limit(1)) is not None:
                raise Conflict(f"an export of mapping {mapping_id} is in progress")
            session.delete(mapping)

    def get(self, org_id: str, mapping_id: str) -> Mapping:
        """The mapping, or ``NotFound``."""
        with self._store.read() as session:
            return self._get(session, org_id, mapping_id)

    def list_for_org(self, org_id: str) -> list[Mapping]:
        """The organization's mappings, by id."""
        with self._store.read() as session:
            query = sa.select(Mapping).where(Mapping.org_id == org_id).order_by(Mapping.id)
            return list(session.scalars(query))

    def publish(
        self,
        org_id: str,
        mapping_id: str,
        *,
        definition: dict[str, Any],
        interval_seconds: int,
        resend: bool,
        start: bool,
        log: Sequence[LogLine],
    ) -> Mapping:
        """Make ``definition`` the running one; ``resend`` resets the watermark."""
        with self._store.write() as session:
            mapping = self._get(session, org_id, mapping_id)
            mapping.published_definition = definition
            mapping.interval_seconds = interval_seconds
            mapping.publication_status = PublicationStatus.PUBLISHED
            mapping.execution_status = ExecutionStatus.STARTED if start else ExecutionStatus.STOPPED
            mapping.next_run_at = utcnow() if start else None
            if resend:
                mapping.watermark = None
            self._log(session, org_id, mapping_id, log)
            session.flush()
            enqueue_mapping_event(session, mapping, WebhookEvent.MAPPING_PUBLISHED)
            return mapping

    def log_failed_publication(self, org_id: str, mapping_id: str, log: Sequence[LogLine]) -> None:
        """Record the log of a publication that failed validation; the mapping is unchanged."""
        with self._store.write() as session:
            self._get(session, org_id, mapping_id)
            self._log(session, org_id, mapping_id, log)

    def set_execution(self, org_id: str, mapping_id: str, status: ExecutionStatus) -> Mapping:
        """Start or stop a published mapping's schedule."""
        with self._store.write() as session:
            mapping = self._get(session, org_id, mapping_id)
            if mapping.publication_status != PublicationStatus.PUBLISHED:
                raise Conflict(f"mapping {mapping_id} is not published")
            mapping.execution_status = status
            mapping.next_run_at = utcnow() if status == ExecutionStatus.STARTED else None
            return mapping

    def unpublish(self, org_id: str, mapping_id: str) -> Mapping:
        """Take a mapping back to ``Draft``; it no longer runs."""
        with self._store.write() as session:
            mapping = self._get(session, org_id, mapping_id)
            mapping.publication_status = PublicationStatus.DRAFT
            mapping.execution_status = ExecutionStatus.STOPPED
            mapping.next_run_at = None
            session.flush()
            enqueue_mapping_event(session, mapping, WebhookEvent.MAPPING_UNPUBLISHED)
            return mapping

    def publication_log(self, org_id: str, mapping_id: str) -> list[PublicationLogEntry]:
        """The mapping's publication log, oldest first."""
        with self._store.read() as session:
            self._get(session, org_id, mapping_id)
            query = (
                sa.select(PublicationLogEntry)
                .where(
                    PublicationLogEntry.org_id == org_id,
                    PublicationLogEntry.mapping_id == mapping_id,
                )
                .order_by(PublicationLogEntry.id)
            )
            return list(session.scalars(query))

    @staticmethod
    def _get(session: Session, org_id: str, mapping_id: str) -> Mapping:
        return required_row(session, Mapping, (org_id, mapping_id), f"unknown mapping {mapping_id}")

    @staticmethod
    def _log(session: Session, org_id: str, mapping_id: str, log: Sequence[LogLine]) -> None:
        session.add_all(
            PublicationLogEntry(
                org_id=org_id,
                mapping_id=mapping_id,
                level=line.level,
                code=line.code,
                message=line.message,
            )
            for line in log
        )
