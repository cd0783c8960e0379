"""Export jobs in the store: the table is the work queue.

A worker claims a ``Created`` job by taking its lease, heartbeats to keep it, and ends it
with one transaction that checks it still holds the lease. Every change of a job in
progress is guarded by ``(id, lease_owner, state in progress)``, so a worker that lost its
lease (reaped, aborted, claimed elsewhere) can change nothing.

Every transaction that starts or ends a job also writes its ``job.started`` or
``job.ended`` webhook event to the outbox (``store/webhooks.py``): an event is never lost
to a crash between the change and its notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from xdm_connector.domain.job_states import IN_PROGRESS_STATES, JobState, JobTrigger
from xdm_connector.domain.mapping_status import (
    ExecutionStatus,
    PublicationStatus,
    check_triggerable,
)
from xdm_connector.errors import LeaseLost, NotFound, StoreError
from xdm_connector.store import delivered_records
from xdm_connector.store.models import Job, Mapping, Organization, utcnow
from xdm_connector.store.transactions import Transactions
from xdm_connector.store.webhooks import WebhookEvent, enqueue_job_event

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


IN_PROGRESS = sorted(state.value for state in IN_PROGRESS_STATES)


def in_progress_job_of_mapping() -> sa.ColumnElement[bool]:
    """The join of a mapping to its job in progress (at most one, by a unique index)."""
    return sa.and_(
        Job.org_id == Mapping.org_id,
        Job.mapping_id == Mapping.id,
        Job.state.in_(IN_PROGRESS),
    )


ABORTED_REASON = (
    "Ingestion request aborted due to some issue with data ingestion service. "
    "Please submit a new request"
)
REQUEST_ATTEMPTS = 5


@dataclass(frozen=True)
class JobRequest:
    """The outcome of asking for a job: the job, and whether this call created it."""

    job: Job
    created: bool


@dataclass(frozen=True)
class JobOutcome:
    """What a finished job records."""

    records_read: int = 0
    records_ingested: int = 0
    records_rejected: int = 0
    """Refused by the product."""
    records_refused: int = 0
    """Sent, and refused by the destination."""
    batch_id: str = ""
    reason: str = ""
    details: dict[str, Any] | None = None


class JobQueue:
    """Creation, claiming, leases and outcomes of export jobs."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def request_ingestion(
        self, org_id: str, mapping_id: str, trigger: JobTrigger = JobTrigger.API
    ) -> JobRequest:
        """An API-triggered job (or ``trigger``'s) for a published, stopped mapping.

        At most one job per mapping is in progress; when one is, it is answered instead of
        a new one. The unique index decides under concurrency, not this code.
        """
        # A read first: a trigger of a mapping whose job runs (the common repeat) answers it
        # without a write; the write below still decides when two triggers race.
        with self._store.read() as session:
            found = session.execute(
                sa.select(Mapping.publication_status, Mapping.execution_status, Job)
                .outerjoin(Job, in_progress_job_of_mapping())
                .where(Mapping.org_id == org_id, Mapping.id == mapping_id)
            ).first()
        if found is None:
            raise NotFound(f"unknown mapping {mapping_id}")
        publication, execution, running = found
        check_triggerable(mapping_id, publication, execution)
        if running is not None:
            return JobRequest(job=running, created=False)
        for _ in range(REQUEST_ATTEMPTS):
            try:
                with self._store.write() as session:
                    # The statuses alone: the mapping's watermark and definitions are large.
                    statuses = session.execute(
                        sa.select(Mapping.publication_status, Mapping.execution_status).where(
                            Mapping.org_id == org_id, Mapping.id == mapping_id
                        )
                    ).first()
                    if statuses is None:
                        raise NotFound(f"unknown mapping {mapping_id}")
                    check_triggerable(mapping_id, *statuses)
                    job = self._new_job(session, org_id, mapping_id, trigger)
                    session.add(job)
                    session.flush()
                    _notify(session)
                    return JobRequest(job=job, created=True)
            except IntegrityError:
                running = self.in_progress(org_id, mapping_id)
                if running is not None:
                    return JobRequest(job=running, created=False)
        raise StoreError(f"could not create a job for mapping {mapping_id}")

    def in_progress(self, org_id: str, mapping_id: str) -> Job | None:
        """The mapping's job in progress, if any."""
        with self._store.read() as session:
            return session.scalar(
                sa.select(Job).where(
                    Job.org_id == org_id, Job.mapping_id == mapping_id, Job.state.in_(IN_PROGRESS)
                )
            )

    def get(self, org_id: str, mapping_id: str, request_id: int) -> Job:
        """The job of that mapping whose request id (within ``org_id``) is ``request_id``,
        or ``NotFound``."""
        with self._store.read() as session:
            job = session.scalar(
                sa.select(Job).where(
                    Job.org_id == org_id,
                    Job.request_id == request_id,
                    Job.mapping_id == mapping_id,
                )
            )
        if job is None:
            raise NotFound(f"unknown request {request_id}")
        return job

    def get_by_id(self, job_id: int) -> Job:
        """The job with this key (``Job.id``), whatever its organization (workers only)."""
        return self._store.get(Job, job_id, f"unknown job {job_id}")

    def list_for_mapping(self, org_id: str, mapping_id: str, limit: int = 50) -> list[Job]:
        """The mapping's latest jobs, newest first."""
        with self._store.read() as session:
            query = (
                sa.select(Job)
                .where(Job.org_id == org_id, Job.mapping_id == mapping_id)
                .order_by(Job.id.desc())
                .limit(limit)
            )
            return list(session.scalars(query))

    def schedule_due(self, now: datetime) -> list[Job]:
        """Jobs for the started mappings whose next run time has come.

        Each slot is taken by a conditional update of ``next_run_at``, so any number of
        schedulers create one job per slot; a mapping with a job in progress skips the slot.
        """
        created: list[Job] = []
        with self._store.read() as session:
            due = session.execute(
                sa.select(Mapping.org_id, Mapping.id, Mapping.next_run_at, Mapping.interval_seconds)
                .where(
                    Mapping.execution_status == ExecutionStatus.STARTED,
                    Mapping.publication_status == PublicationStatus.PUBLISHED,
                    Mapping.next_run_at <= now,
                )
                .order_by(Mapping.next_run_at)
            ).all()
        for org_id, mapping_id, slot, interval in due:
            with self._store.write() as session:
                taken = _rowcount(
                    session.execute(
                        sa.update(Mapping)
                        .where(
                            Mapping.org_id == org_id,
                            Mapping.id == mapping_id,
                            Mapping.next_run_at == slot,
                            Mapping.execution_status == ExecutionStatus.STARTED,
                        )
                        .values(next_run_at=now + timedelta(seconds=interval))
                    )
                )
                if not taken:
                    continue
                try:
                    # The request id is taken inside the savepoint: a slot skipped for a job
                    # in progress leaves no gap in the organization's numbering.
                    with session.begin_nested():
                        job = self._new_job(session, org_id, mapping_id, JobTrigger.SCHEDULE)
                        session.add(job)
                except IntegrityError:
                    continue
                _notify(session)
                created.append(job)
        return created

    def claim(self, owner: str, lease: timedelta, now: datetime) -> Job | None:
        """Take the lease of the oldest unclaimed job, if there is one."""
        with self._store.write() as session:
            query = (
                sa.select(Job)
                .where(Job.state == JobState.CREATED, Job.lease_owner.is_(None))
                .order_by(Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            job = session.scalar(query)
            if job is None:
                return None
            job.lease_owner = owner
            job.lease_expires_at = now + lease
            job.attempt += 1
            job.started_at = now
            session.flush()
            enqueue_job_event(session, job.id, WebhookEvent.JOB_STARTED)
            return job

    def heartbeat(self, job_id: int, owner: str, lease: timedelta) -> None:
        """Extend the lease; ``LeaseLost`` when the worker no longer holds the job."""
        self._update_held(job_id, owner, lease_expires_at=utcnow() + lease)

    def set_window(self, job_id: int, owner: str, window: dict[str, Any]) -> None:
        """Record the window of rows the job exports."""
        self._update_held(job_id, owner, window=window)

    def record_batch(
        self, job_id: int, owner: str, batch_id: str, watermark: dict[str, Any] | None = None
    ) -> None:
        """Remember the destination batch as soon as it exists, with the watermark the job
        commits on success (recovery needs both if the worker dies after the batch
        completes)."""
        self._update_held(job_id, owner, batch_id=batch_id, watermark=watermark)

    def record_work_orders(
        self, job_id: int, owner: str, work_orders: list[dict[str, Any]]
    ) -> None:
        """Remember the job's delete work orders at the platform as soon as each exists."""
        self._update_held(job_id, owner, work_orders=work_orders)

    def mark_uploaded(self, job_id: int, owner: str, batch_id: str) -> None:
        """The batch's files are sent and it is complete; the destination now validates it."""
        self._update_held(
            job_id, owner, state=JobState.UPLOADED, batch_id=batch_id, uploaded_at=utcnow()
        )

    def holds(self, job_id: int, owner: str) -> bool:
        """Whether ``owner`` still holds the job in progress (a cheap read, polled while a
        job runs so that a cancel stops it within a second)."""
        with self._store.read() as session:
            found = session.scalar(
                sa.select(Job.id).where(
                    Job.id == job_id, Job.lease_owner == owner, Job.state.in_(IN_PROGRESS)
                )
            )
        return found is not None

    def succeed(
        self, job: Job, owner: str, outcome: JobOutcome, watermark: dict[str, Any] | None
    ) -> None:
        """End the job ``Success``, advance its mapping's watermark and apply the changes it
        staged to its delivered records (``store/delivered_records.py``), in one transaction."""
        with self._store.write() as session:
            self._end_held(session, job.id, owner, JobState.SUCCESS, outcome)
            delivered_records.apply(session, job)
            if watermark is not None:
                session.execute(
                    sa.update(Mapping)
                    .where(Mapping.org_id == job.org_id, Mapping.id == job.mapping_id)
                    .values(watermark=watermark)
                )

    def fail(
        self, job_id: int, owner: str, outcome: JobOutcome, *, retry_at: datetime | None = None
    ) -> None:
        """End the job ``Failed`` with its reason.

        ``retry_at`` (a scheduled job that failed transiently) brings its mapping's next run
        forward to then, if the mapping is still started and not due sooner.
        """
        with self._store.write() as session:
            self._end_held(session, job_id, owner, JobState.FAILED, outcome)
            if retry_at is not None:
                _bring_forward(session, job_id, retry_at)

    def abort_held(
        self, job_id: int, owner: str, outcome: JobOutcome, *, retry_at: datetime | None = None
    ) -> None:
        """End a job this worker holds as ``Aborted`` (shutdown, cancel, recovery);
        ``retry_at`` as for ``fail``."""
        with self._store.write() as session:
            self._end_held(
                session,
                job_id,
                owner,
                JobState.ABORTED,
                JobOutcome(**{**outcome.__dict__, "reason": outcome.reason or ABORTED_REASON}),
            )
            if retry_at is not None:
                _bring_forward(session, job_id, retry_at)

    def reap_expired(self, now: datetime) -> list[Job]:
        """Abort every job in progress whose lease has expired; answers them."""
        with self._store.write() as session:
            expired = list(
                session.scalars(
                    sa.select(Job)
                    .where(Job.state.in_(IN_PROGRESS), Job.lease_expires_at < now)
                    .with_for_update(skip_locked=True)
                )
            )
            for job in expired:
                job.state = JobState.ABORTED
                job.reason = ABORTED_REASON
                job.ended_at = now
                job.lease_owner = None
                job.lease_expires_at = None
            session.flush()
            for job in expired:
                enqueue_job_event(session, job.id, WebhookEvent.JOB_ENDED)
            return expired

    def expired(self, now: datetime) -> list[Job]:
        """The jobs in progress whose lease has expired (their worker is gone or stuck)."""
        with self._store.read() as session:
            return list(
                session.scalars(
                    sa.select(Job)
                    .where(Job.state.in_(IN_PROGRESS), Job.lease_expires_at < now)
                    .order_by(Job.id)
                )
            )

    def take_expired(self, job_id: int, owner: str, lease: timedelta, now: datetime) -> Job | None:
        """Take over the lease of a job whose lease has expired, to recover it; None when
        another worker took it first (or it ended, or its lease was renewed)."""
        with self._store.write() as session:
            taken = _rowcount(
                session.execute(
                    sa.update(Job)
                    .where(
                        Job.id == job_id,
                        Job.state.in_(IN_PROGRESS),
                        Job.lease_expires_at < now,
                    )
                    .values(lease_owner=owner, lease_expires_at=now + lease)
                )
            )
            return session.get(Job, job_id) if taken else None

    def leased(self, now: datetime) -> list[Job]:
        """The jobs in progress whose lease still runs, with their owner."""
        with self._store.read() as session:
            return list(
                session.scalars(
                    sa.select(Job)
                    .where(Job.state.in_(IN_PROGRESS), Job.lease_expires_at >= now)
                    .order_by(Job.id)
                )
            )

    def take_from(
        self, job_id: int, gone: str, owner: str, lease: timedelta, now: datetime
    ) -> Job | None:
        """Take over the lease of a job held by ``gone``, a worker known to be gone, to
        recover it; None when it ended or changed hands meanwhile."""
        with self._store.write() as session:
            taken = _rowcount(
                session.execute(
                    sa.update(Job)
                    .where(Job.id == job_id, Job.state.in_(IN_PROGRESS), Job.lease_owner == gone)
                    .values(lease_owner=owner, lease_expires_at=now + lease)
                )
            )
            return session.get(Job, job_id) if taken else None

    def _update_held(self, job_id: int, owner: str, **values: Any) -> None:
        with self._store.write() as session:
            self._update_held_in(session, job_id, owner, values)

    @staticmethod
    def _update_held_in(session: Session, job_id: int, owner: str, values: dict[str, Any]) -> None:
        """Update the job in progress that ``owner`` holds, or raise ``LeaseLost``."""
        updated = _rowcount(
            session.execute(
                sa.update(Job)
                .where(Job.id == job_id, Job.lease_owner == owner, Job.state.in_(IN_PROGRESS))
                .values(**values)
            )
        )
        if not updated:
            raise LeaseLost(f"job {job_id} is no longer held by {owner}")

    @staticmethod
    def _end_held(
        session: Session, job_id: int, owner: str, state: JobState, outcome: JobOutcome
    ) -> None:
        values: dict[str, Any] = {
            "state": state,
            "ended_at": utcnow(),
            "lease_owner": None,
            "lease_expires_at": None,
            "records_read": outcome.records_read,
            "records_ingested": outcome.records_ingested,
            "records_rejected": outcome.records_rejected,
            "records_refused": outcome.records_refused,
            "records_deleted": int((outcome.details or {}).get("recordsDeleted", 0)),
            "lookback_dropped": int((outcome.details or {}).get("lookbackDropped", 0)),
            "reason": outcome.reason,
        }
        if outcome.batch_id:
            values["batch_id"] = outcome.batch_id
        if outcome.details is not None:
            values["details"] = outcome.details
        JobQueue._update_held_in(session, job_id, owner, values)
        if state is not JobState.SUCCESS:
            delivered_records.drop(session, job_id)  # what it staged is never applied
        enqueue_job_event(session, job_id, WebhookEvent.JOB_ENDED)

    @staticmethod
    def _new_job(session: Session, org_id: str, mapping_id: str, trigger: JobTrigger) -> Job:
        """A new job of the mapping, with the organization's next request id.

        The counter's update locks the organization's row (PostgreSQL) or runs in the
        writer's transaction (SQLite ``BEGIN IMMEDIATE``) until the job is committed, so
        concurrent jobs of one organization take distinct, consecutive ids; a transaction
        that fails gives its number back by rolling back.
        """
        request_id = session.execute(
            sa.update(Organization)
            .where(Organization.id == org_id)
            .values(last_request_id=Organization.last_request_id + 1)
            .returning(Organization.last_request_id)
        ).scalar_one_or_none()
        if request_id is None:
            raise NotFound(f"unknown organization {org_id}")
        return Job(
            org_id=org_id,
            request_id=request_id,
            mapping_id=mapping_id,
            trigger=trigger,
            state=JobState.CREATED,
            batch_id="",
            records_read=0,
            records_ingested=0,
            records_rejected=0,
            records_refused=0,
            reason="",
            attempt=0,
            created_at=utcnow(),
        )


JOBS_CHANNEL = "xdmc_jobs"


def _notify(session: Session) -> None:
    """Wake the idle workers when the transaction commits (PostgreSQL ``NOTIFY``)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_notify(JOBS_CHANNEL, "")))


def _bring_forward(session: Session, job_id: int, retry_at: datetime) -> None:
    """Bring the next run of the job's mapping forward to ``retry_at``, if the mapping is
    still started and not due sooner."""
    job = session.get(Job, job_id)
    if job is None:
        return
    session.execute(
        sa.update(Mapping)
        .where(
            Mapping.org_id == job.org_id,
            Mapping.id == job.mapping_id,
            Mapping.execution_status == ExecutionStatus.STARTED,
            sa.or_(Mapping.next_run_at.is_(None), Mapping.next_run_at > retry_at),
        )
        .values(next_run_at=retry_at)
    )


def _rowcount(result: sa.Result[Any]) -> int:
    """Rows matched by an UPDATE (its result is always a cursor result)."""
    return cast("sa.CursorResult[Any]", result).rowcount
