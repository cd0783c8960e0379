"""The export jobs of an organization, as the monitoring screen lists them.

"Status of data export to platform" shows one row per job, newest first, optionally of
one mapping and one state, a page at a time::

    page = job_history(store, "acme", mapping_id="XDM44", state=JobState.FAILED, limit=25)
    page.total          # every job that matches, across pages
    page.rows[0].label  # "Profiles to Platform", the label of the job's mapping

``latest_jobs`` answers the last job of each mapping, for the list of data mappings;
``failure_cause`` says in words why a failed job failed.
Both only read: one query each, whatever the number of mappings.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from xdm_connector.domain.job_states import IN_PROGRESS_STATES, JobState
from xdm_connector.errors import NotFound
from xdm_connector.store.models import Job, Mapping
from xdm_connector.store.store import Store

IN_PROGRESS = sorted(state.value for state in IN_PROGRESS_STATES)
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 200


def failure_cause(job: Job) -> str:
    """Why a failed job failed, in words (``details.error``: an unset secret variable, a
    token refused, an unknown dataset, records refused...), where its ``reason`` (the
    contract's words, ``ACP-880096 ... check the error in the Platform UI``) does not say;
    ``""`` when the reason says it all or the job did not fail."""
    if job.state != JobState.FAILED:
        return ""
    cause = str((job.details or {}).get("error") or "")
    return "" if cause.strip() == job.reason.strip() else cause


@dataclass(frozen=True)
class JobRow:
    """A job with the label of its mapping."""

    job: Job
    label: str


@dataclass(frozen=True)
class JobPage:
    """One page of an organization's jobs: ``rows`` from ``offset``, of ``total``."""

    rows: list[JobRow]
    total: int
    offset: int
    limit: int
    running: int = 0
    """Jobs in progress of the mapping filtered on (of every mapping without one), whatever
    the state filtered on: a page of ``Failed`` jobs changes when one of them ends."""

    @property
    def has_previous(self) -> bool:
        """Whether rows come before this page."""
        return self.offset > 0

    @property
    def has_next(self) -> bool:
        """Whether rows follow this page."""
        return self.offset + len(self.rows) < self.total

    @property
    def number(self) -> int:
        """The page's number, from 1."""
        return self.offset // self.limit + 1

    @property
    def count(self) -> int:
        """How many pages there are (1 when there is no row)."""
        return max(1, -(-self.total // self.limit))


def job_history(
    store: Store,
    org_id: str,
    *,
    mapping_id: str | None = None,
    state: JobState | None = None,
    offset: int = 0,
    limit: int = DEFAULT_PAGE_SIZE,
) -> JobPage:
    """The organization's jobs, newest first, filtered by mapping and state."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, offset)
    conditions = [Job.org_id == org_id]
    if mapping_id:
        conditions.append(Job.mapping_id == mapping_id)
    in_progress = [*conditions, Job.state.in_(IN_PROGRESS)]
    if state is not None:
        conditions.append(Job.state == state.value)
    count = sa.select(sa.func.count()).select_from(Job)
    with store.read() as session:
        total = session.scalar(count.where(*conditions))
        running = session.scalar(count.where(*in_progress))
        rows = session.execute(
            sa.select(Job, Mapping.label)
            .join(Mapping, sa.and_(Mapping.org_id == Job.org_id, Mapping.id == Job.mapping_id))
            .where(*conditions)
            .order_by(Job.id.desc())
            .offset(offset)
            .limit(limit)
        ).all()
    return JobPage(
        rows=[JobRow(job=job, label=label) for job, label in rows],
        total=int(total or 0),
        offset=offset,
        limit=limit,
        running=int(running or 0),
    )


def latest_jobs(store: Store, org_id: str) -> dict[str, Job]:
    """The last job of each of the organization's mappings that has one, by mapping id."""
    last = (
        sa.select(sa.func.max(Job.id).label("id"))
        .where(Job.org_id == org_id)
        .group_by(Job.mapping_id)
        .subquery()
    )
    with store.read() as session:
        jobs = session.scalars(sa.select(Job).join(last, Job.id == last.c.id))
        return {job.mapping_id: job for job in jobs}


def organization_job(store: Store, org_id: str, request_id: int) -> JobRow:
    """The job of the organization whose request id is ``request_id``, with its mapping's
    label; ``NotFound`` when it has none (another organization's numbers are its own)."""
    with store.read() as session:
        row = session.execute(
            sa.select(Job, Mapping.label)
            .join(Mapping, sa.and_(Mapping.org_id == Job.org_id, Mapping.id == Job.mapping_id))
            .where(Job.org_id == org_id, Job.request_id == request_id)
        ).first()
    if row is None:
        raise NotFound(f"unknown job {request_id}")
    return JobRow(job=row[0], label=row[1])
