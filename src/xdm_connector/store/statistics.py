"""Figures about export jobs for monitoring, computed from the store at scrape time.

Counting from the jobs table (rather than in process memory) gives the same figures from
every API process and survives restarts: the store is the one source of truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from xdm_connector.domain.job_states import JobState
from xdm_connector.store.models import Job, JobSlice, Mapping, UtcDateTime, WorkerPresence, utcnow
from xdm_connector.store.slices import SliceState
from xdm_connector.store.transactions import Transactions

RECENT_JOBS_FOR_DURATIONS = 1000


@dataclass(frozen=True)
class JobStatistics:
    """Everything ``/metrics`` exposes."""

    jobs_by_state: dict[tuple[str, str], int]
    """(organization, state) → number of jobs."""
    records: dict[str, tuple[int, int, int, int, int, int]]
    """organization → records read, ingested, rejected (by the product), refused (by the
    destination) and deleted by all its jobs, and the versions their look-back forgot."""
    queue_depth: int
    """Jobs created and not yet claimed by a worker."""
    durations: Sequence[float]
    """Seconds from start to end of the most recent ended jobs."""
    last_success: dict[tuple[str, str], datetime | None]
    """(organization, mapping) of every published mapping → end of its last successful job."""
    slices_pending: int
    """Slices of running jobs that no worker has taken yet."""
    workers: int
    """Workers heard from within ``alive_within``."""


def job_statistics(store: Transactions, alive_within: timedelta) -> JobStatistics:
    """Read the figures in one transaction; a worker counts when heard from within
    ``alive_within`` (a lease)."""
    with store.read() as session:
        by_state = session.execute(
            sa.select(Job.org_id, Job.state, sa.func.count()).group_by(Job.org_id, Job.state)
        ).all()
        records = session.execute(
            sa.select(
                Job.org_id,
                sa.func.coalesce(sa.func.sum(Job.records_read), 0),
                sa.func.coalesce(sa.func.sum(Job.records_ingested), 0),
                sa.func.coalesce(sa.func.sum(Job.records_rejected), 0),
                sa.func.coalesce(sa.func.sum(Job.records_refused), 0),
                sa.func.coalesce(sa.func.sum(Job.records_deleted), 0),
                sa.func.coalesce(sa.func.sum(Job.lookback_dropped), 0),
            ).group_by(Job.org_id)
        ).all()
        queue_depth = session.scalar(
            sa.select(sa.func.count())
            .select_from(Job)
            .where(Job.state == JobState.CREATED, Job.lease_owner.is_(None))
        )
        ended = session.execute(
            sa.select(Job.started_at, Job.ended_at)
            .where(Job.started_at.is_not(None), Job.ended_at.is_not(None))
            .order_by(Job.id.desc())
            .limit(RECENT_JOBS_FOR_DURATIONS)
        ).all()
        last_success = session.execute(
            sa.select(
                Mapping.org_id,
                Mapping.id,
                # max() loses the column's type on SQLite: give it back.
                sa.type_coerce(sa.func.max(Job.ended_at), UtcDateTime()),
            )
            .outerjoin(
                Job,
                sa.and_(
                    Job.org_id == Mapping.org_id,
                    Job.mapping_id == Mapping.id,
                    Job.state == JobState.SUCCESS,
                ),
            )
            .where(Mapping.published_definition.is_not(None))
            .group_by(Mapping.org_id, Mapping.id)
        ).all()
        slices_pending = session.scalar(
            sa.select(sa.func.count())
            .select_from(JobSlice)
            .where(JobSlice.state == SliceState.PENDING)
        )
        workers = session.scalar(
            sa.select(sa.func.count())
            .select_from(WorkerPresence)
            .where(WorkerPresence.seen_at >= utcnow() - alive_within)
        )
    return JobStatistics(
        jobs_by_state={(org, state): count for org, state, count in by_state},
        records={
            org: (int(read), int(done), int(rejected), int(refused), int(deleted), int(dropped))
            for org, read, done, rejected, refused, deleted, dropped in records
        },
        queue_depth=int(queue_depth or 0),
        durations=[(end - start).total_seconds() for start, end in ended if start and end],
        last_success={(org, mapping): at for org, mapping, at in last_success},
        slices_pending=int(slices_pending or 0),
        workers=int(workers or 0),
    )
