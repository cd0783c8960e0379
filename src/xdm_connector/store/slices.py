"""Slices of large jobs in the store: primary-key ranges any worker may take.

The worker holding a job (its coordinator) cuts the job's window into key ranges and
records them here, with the job's batch already created. Every worker, the coordinator
included, claims a ``pending`` slice of a job in progress with its own lease
(``FOR UPDATE SKIP LOCKED``: no two workers take one slice), writes its files, says it is
``sending`` before it puts the first into the batch, and marks it ``written`` with its
counts. The coordinator completes the batch when every slice is written; a ``failed`` slice
ends the job.

A slice is lost when its lease expired or its worker is certainly gone (``recover_lost``,
judged by ``jobs/liveness.py``): a ``running`` one put nothing into the batch and becomes
``pending`` again, for any worker to claim; a ``sending`` one may have put files that
cannot be told from the ones a new run would put, so it fails and its job is aborted.

Every change of a slice is guarded by ``(job, number, lease_owner, state running or
sending)``, and a slice is only claimed while its job is in progress, so a worker that lost
its slice, or whose job ended, can change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

import sqlalchemy as sa

from xdm_connector.domain.job_states import IN_PROGRESS_STATES
from xdm_connector.errors import LeaseLost
from xdm_connector.store.jobs import JOBS_CHANNEL
from xdm_connector.store.models import Job, JobSlice, utcnow
from xdm_connector.store.transactions import Transactions

IN_PROGRESS = sorted(state.value for state in IN_PROGRESS_STATES)


class SliceState(StrEnum):
    """Where one slice of a job stands."""

    PENDING = "pending"
    RUNNING = "running"
    SENDING = "sending"
    """Held, its files going into the batch: lost now, it cannot be run again."""
    WRITTEN = "written"
    FAILED = "failed"


HELD_STATES = (SliceState.RUNNING, SliceState.SENDING)
"""The states of a slice a worker holds under its lease."""

LOST_KIND = "lost"
"""The error kind of a slice failed because its worker was lost (``recover_lost``)."""


@dataclass(frozen=True)
class SliceOutcome:
    """What a written slice records for its job."""

    records_read: int
    records_ingested: int
    records_rejected: int
    result: dict[str, Any]


@dataclass(frozen=True)
class SliceProgress:
    """The slices of one job, counted by state, and those that ended the job's hopes."""

    total: int
    written: int
    failed: list[JobSlice]

    @property
    def done(self) -> bool:
        """Whether every slice is written."""
        return self.written == self.total


@dataclass(frozen=True)
class LostSlice:
    """A slice whose worker was lost, and what became of it: ``pending`` again
    (``released``), or ``failed`` (it was sending, or its job's worker is gone too)."""

    job_id: int
    number: int
    owner: str
    released: bool


class SliceQueue:
    """Creation, claiming, leases and outcomes of job slices."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def create(
        self,
        job_id: int,
        owner: str,
        ranges: Sequence[tuple[dict[str, Any] | None, dict[str, Any] | None]],
        *,
        mapping_digest: str,
    ) -> None:
        """Record the job's key ranges (``encode_value`` documents, None for an open end) as
        pending slices, and wake the idle workers; only the worker holding the job may."""
        with self._store.write() as session:
            held = session.scalar(
                sa.select(Job.id).where(
                    Job.id == job_id, Job.lease_owner == owner, Job.state.in_(IN_PROGRESS)
                )
            )
            if held is None:
                raise LeaseLost(f"job {job_id} is no longer held by {owner}")
            session.add_all(
                JobSlice(
                    job_id=job_id,
                    number=number,
                    key_after=after,
                    key_until=until,
                    mapping_digest=mapping_digest,
                    state=SliceState.PENDING,
                    records_read=0,
                    records_ingested=0,
                    records_rejected=0,
                )
                for number, (after, until) in enumerate(ranges)
            )
            if session.get_bind().dialect.name == "postgresql":
                session.execute(sa.select(sa.func.pg_notify(JOBS_CHANNEL, "")))

    def claim(
        self, owner: str, lease: timedelta, now: datetime, *, job_id: int | None = None
    ) -> JobSlice | None:
        """Take the lease of the first pending slice of a job in progress (of ``job_id``
        only, when given), if there is one."""
        with self._store.write() as session:
            query = (
                sa.select(JobSlice)
                .join(Job, Job.id == JobSlice.job_id)
                .where(JobSlice.state == SliceState.PENDING, Job.state.in_(IN_PROGRESS))
                .order_by(JobSlice.job_id, JobSlice.number)
                .limit(1)
                .with_for_update(of=JobSlice, skip_locked=True)
            )
            if job_id is not None:
                query = query.where(JobSlice.job_id == job_id)
            piece = session.scalar(query)
            if piece is None:
                return None
            piece.state = SliceState.RUNNING
            piece.lease_owner = owner
            piece.lease_expires_at = now + lease
            piece.started_at = now
            return piece

    def heartbeat(self, piece: JobSlice, owner: str, lease: timedelta) -> None:
        """Extend the slice's lease; ``LeaseLost`` when the worker no longer holds it or
        its job is over."""
        self._update_held(piece, owner, lease_expires_at=utcnow() + lease)

    def holds(self, piece: JobSlice, owner: str) -> bool:
        """Whether ``owner`` still holds the slice of a job still in progress."""
        with self._store.read() as session:
            found = session.scalar(
                sa.select(JobSlice.number)
                .join(Job, Job.id == JobSlice.job_id)
                .where(*self._held(piece, owner), Job.state.in_(IN_PROGRESS))
            )
        return found is not None

    def sending(self, piece: JobSlice, owner: str) -> None:
        """Say that the slice's files go into the batch now; from here on, a loss of its
        worker fails the job (``recover_lost``). ``LeaseLost`` when the worker no longer
        holds it: it must put nothing."""
        self._update_held(piece, owner, state=SliceState.SENDING)

    def finish(self, piece: JobSlice, owner: str, outcome: SliceOutcome) -> None:
        """Mark the slice ``written`` with its counts and the worker that wrote it."""
        self._update_held(
            piece,
            owner,
            state=SliceState.WRITTEN,
            records_read=outcome.records_read,
            records_ingested=outcome.records_ingested,
            records_rejected=outcome.records_rejected,
            result={**outcome.result, "worker": owner},
            lease_owner=None,
            lease_expires_at=None,
            ended_at=utcnow(),
        )

    def fail(self, piece: JobSlice, owner: str, error: dict[str, Any]) -> None:
        """Mark the slice ``failed``; its job fails with ``error``."""
        self._update_held(
            piece,
            owner,
            state=SliceState.FAILED,
            result={"error": error},
            lease_owner=None,
            lease_expires_at=None,
            ended_at=utcnow(),
        )

    def progress(self, job_id: int) -> SliceProgress:
        """How far the job's slices are."""
        with self._store.read() as session:
            pieces = list(
                session.scalars(
                    sa.select(JobSlice).where(JobSlice.job_id == job_id).order_by(JobSlice.number)
                )
            )
        return SliceProgress(
            total=len(pieces),
            written=sum(1 for piece in pieces if piece.state == SliceState.WRITTEN),
            failed=[piece for piece in pieces if piece.state == SliceState.FAILED],
        )

    def recover_lost(
        self,
        owner: str,
        now: datetime,
        gone: Callable[[str], bool],
        *,
        job_id: int | None = None,
    ) -> list[LostSlice]:
        """Recover, as ``owner``, the held slices of jobs in progress (of ``job_id`` only,
        when given) whose lease expired before ``now`` or whose worker is ``gone``: a
        ``running`` one becomes ``pending`` again, a ``sending`` one ``failed``, as does
        any whose job's own worker is ``gone`` (that job is recovered, hence aborted).
        Each change is guarded by the lost worker's name: no two workers recover one slice.

        ``gone`` is asked once per worker (not ``owner``), outside any transaction."""
        with self._store.read() as session:
            query = (
                sa.select(JobSlice, Job.lease_owner)
                .join(Job, Job.id == JobSlice.job_id)
                .where(
                    JobSlice.state.in_(HELD_STATES),
                    JobSlice.lease_owner.is_not(None),
                    Job.state.in_(IN_PROGRESS),
                )
                .order_by(JobSlice.job_id, JobSlice.number)
            )
            if job_id is not None:
                query = query.where(JobSlice.job_id == job_id)
            held = [(row[0], row[1]) for row in session.execute(query)]
        if not held:
            return []
        judged: dict[str, bool] = {owner: False}

        def certainly_gone(worker: str | None) -> bool:
            if worker is None:
                return False
            if worker not in judged:
                judged[worker] = gone(worker)
            return judged[worker]

        lost: list[LostSlice] = []
        for piece, coordinator in held:
            worker = piece.lease_owner
            if worker is None:  # released meanwhile
                continue
            expired = piece.lease_expires_at is not None and piece.lease_expires_at < now
            if not expired and not certainly_gone(worker):
                continue
            release = piece.state == SliceState.RUNNING and not certainly_gone(coordinator)
            if self._recover(piece, worker, release=release):
                lost.append(LostSlice(piece.job_id, piece.number, worker, release))
        return lost

    def _recover(self, piece: JobSlice, worker: str, *, release: bool) -> bool:
        """Release the lost ``worker``'s slice (``pending``), or fail it; answers whether it
        was still the worker's, in the same state."""
        if release:
            values: dict[str, Any] = {"state": SliceState.PENDING, "started_at": None}
        else:
            error = {
                "kind": LOST_KIND,
                "code": LeaseLost.code,
                "message": f"slice {piece.number} of job {piece.job_id}: its worker {worker} "
                + (
                    "was lost while it sent its files"
                    if piece.state == SliceState.SENDING
                    else "was lost with the job's own"
                ),
            }
            values = {"state": SliceState.FAILED, "result": {"error": error}, "ended_at": utcnow()}
        with self._store.write() as session:
            updated = cast(
                "sa.CursorResult[Any]",
                session.execute(
                    sa.update(JobSlice)
                    .where(
                        JobSlice.job_id == piece.job_id,
                        JobSlice.number == piece.number,
                        JobSlice.lease_owner == worker,
                        JobSlice.state == piece.state,
                    )
                    .values(lease_owner=None, lease_expires_at=None, **values)
                ),
            ).rowcount
            if updated and release and session.get_bind().dialect.name == "postgresql":
                # Wake the idle workers: the slice is theirs to claim again.
                session.execute(sa.select(sa.func.pg_notify(JOBS_CHANNEL, "")))
        return bool(updated)

    def of_job(self, job_id: int) -> list[JobSlice]:
        """The job's slices, in key order."""
        with self._store.read() as session:
            return list(
                session.scalars(
                    sa.select(JobSlice).where(JobSlice.job_id == job_id).order_by(JobSlice.number)
                )
            )

    @staticmethod
    def _held(piece: JobSlice, owner: str) -> tuple[sa.ColumnElement[bool], ...]:
        return (
            JobSlice.job_id == piece.job_id,
            JobSlice.number == piece.number,
            JobSlice.lease_owner == owner,
            JobSlice.state.in_(HELD_STATES),
        )

    def _update_held(self, piece: JobSlice, owner: str, **values: Any) -> None:
        with self._store.write() as session:
            job_running = (
                sa.select(Job.id).where(Job.id == piece.job_id, Job.state.in_(IN_PROGRESS)).exists()
            )
            result = session.execute(
                sa.update(JobSlice).where(*self._held(piece, owner), job_running).values(**values)
            )
            updated = cast("sa.CursorResult[Any]", result).rowcount
        if not updated:
            raise LeaseLost(f"slice {piece.number} of job {piece.job_id} is no longer held")
