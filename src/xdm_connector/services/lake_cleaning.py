"""Batches a dead worker left loading in the lake: found by age, then aborted.

A worker killed before its batch's commit leaves a ``loading`` batch record, its staged
files (``_staging/``), and perhaps files already moved into the table's folder but never
committed (invisible to every reader), that no job will ever complete or abort.
``clean_lake`` aborts the batches left loading longer than an age (their staged and
uncommitted files are dropped, their records say ``aborted``; a batch whose commit is in
the table after all is recorded as committed, never dropped), except any a job in progress
may still use::

    aborted = clean_lake(lake, store, older_than=timedelta(days=1), org="acme")
    # [LoadingBatch(id="3f2a...", org="acme", dataset="profiles",
    #               batch_key="acme-XDM44-17", last_activity=datetime(...))]

A batch is protected when a job in progress (``Created`` or ``Uploaded``) has it recorded,
or when its key is such a job's batch key (the worker may be between ``create_batch`` and
recording the batch). A job that left those states never comes back to them, so a batch
found unprotected stays unused: no lock with the workers is needed. The age counts from
the batch's last activity: its creation, or the last file put in its staging folder.

``clean_stray_rewrites`` removes the files an upsert killed while it rewrote the table's
files left in its batch's ``rewrites/`` folder (``lake_upserts.py``): when the job is
recovered, its batch's commit is tried again and adds rewrites of its own, and the killed
attempt's stay, referenced by no version of the table. ``lake vacuum`` never sees them: it
deletes only the files the log's ``remove`` actions name (a full vacuum, which lists the
folder, would also take the files of batches waiting for their commit). A file is removed
only when its batch is settled (committed or aborted), no job in progress holds the batch
(as above), and neither the batch's commit nor the table's current version adds it::

    removed = clean_stray_rewrites(lake, store, org="acme")
    # ["acme/profiles/3f2a.../rewrites/part-00000-9b1c...-c000.zstd.parquet"]

``clean_work_folders`` removes the work folders (``pipeline/workfolders.py``) that jobs
no longer in progress left on this machine, whatever their age, and those of jobs the
store does not know; never one of a job in progress::

    removed = clean_work_folders(WorkFolders(settings.home), store, org="acme")
    # [Path("var/work/job-17-1"), Path("var/work/job-18-slice-2-9f3e0a1b")]
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from xdm_connector.destinations.base import BatchState, check_name
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.domain.batches import batch_key
from xdm_connector.domain.job_states import IN_PROGRESS_STATES, JobState
from xdm_connector.pipeline.workfolders import WorkFolders
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

DEFAULT_AGE = dt.timedelta(days=1)


@dataclass(frozen=True)
class LoadingBatch:
    """A batch of the lake that is neither complete nor aborted."""

    id: str
    org: str
    dataset: str
    batch_key: str
    last_activity: dt.datetime


@dataclass(frozen=True)
class JobsInProgress:
    """The batch ids recorded on jobs in progress, and those jobs' batch keys."""

    batch_ids: frozenset[str]
    batch_keys: frozenset[str]

    def hold(self, batch: LoadingBatch) -> bool:
        """Whether a job in progress may still write ``batch``."""
        return self.holds(batch.id, batch.batch_key)

    def holds(self, batch_id: str, key: str) -> bool:
        """Whether a job in progress may still write the batch of this id and key."""
        return batch_id in self.batch_ids or key in self.batch_keys


def loading_batches(lake: LakeTables, *, org: str | None = None) -> list[LoadingBatch]:
    """The lake's loading batches (of ``org`` only, when given), least recently active first."""
    if org is not None:
        check_name(org, "Organization")
    found = []
    for record in lake.batches():
        if org is not None and record["org"] != org:
            continue
        if record["state"] != BatchState.LOADING:
            continue
        found.append(
            LoadingBatch(
                record["id"],
                record["org"],
                record["dataset"],
                str(record.get("batchKey") or ""),
                lake.last_activity(record),
            )
        )
    return sorted(found, key=lambda batch: (batch.last_activity, batch.id))


def jobs_in_progress(store: Store) -> JobsInProgress:
    """What the store's jobs in progress hold (read only)."""
    states = sorted(state.value for state in IN_PROGRESS_STATES)
    with store.read() as session:
        jobs = session.scalars(sa.select(Job).where(Job.state.in_(states))).all()
        return JobsInProgress(
            batch_ids=frozenset(job.batch_id for job in jobs if job.batch_id),
            batch_keys=frozenset(batch_key(job) for job in jobs),
        )


def clean_lake(
    lake: LakeTables,
    store: Store,
    *,
    older_than: dt.timedelta = DEFAULT_AGE,
    org: str | None = None,
    now: dt.datetime | None = None,
) -> list[LoadingBatch]:
    """Abort the batches left loading longer than ``older_than`` that no job in progress
    holds; answers those aborted."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - older_than
    stale = [batch for batch in loading_batches(lake, org=org) if batch.last_activity < cutoff]
    if not stale:
        return []
    held = jobs_in_progress(store)
    aborted = []
    for batch in stale:
        if held.hold(batch):
            continue
        lake.abort(batch.id)
        aborted.append(batch)
    return aborted


def clean_stray_rewrites(lake: LakeTables, store: Store, *, org: str | None = None) -> list[str]:
    """Remove the rewrites that upsert attempts killed before their commit left in settled
    batches (of ``org`` only, when given) no job in progress holds; answers the files
    removed, as paths below the lake's root."""
    if org is not None:
        check_name(org, "Organization")
    # The files first, then the jobs, as for the work folders: a batch found held is kept,
    # and one found free is never written again.
    strays = [
        (record, path)
        for record in lake.batches()
        if org is None or record["org"] == org
        for path in lake.stray_rewrites(record)
    ]
    if not strays:
        return []
    held = jobs_in_progress(store)
    removed = []
    for record, path in strays:
        if held.holds(record["id"], str(record.get("batchKey") or "")):
            continue
        lake.storage.delete(path)
        removed.append(path)
    return removed


def clean_work_folders(folders: WorkFolders, store: Store, *, org: str | None = None) -> list[Path]:
    """Remove the work folders of the jobs (of ``org`` only, when given) that are no longer
    in progress, and, without ``org``, of the jobs the store does not know; answers those
    removed."""
    if org is not None:
        check_name(org, "Organization")
    # The folders first, then the jobs: a folder listed was made by a job already claimed,
    # and a job found ended never runs again, so no folder of a running job is removed.
    job_ids = sorted({folder.job_id for folder in folders.listed()})
    if not job_ids:
        return []
    with store.read() as session:
        jobs = {
            job_id: (owner, state)
            for job_id, owner, state in session.execute(
                sa.select(Job.id, Job.org_id, Job.state).where(Job.id.in_(job_ids))
            )
        }
    removed = []
    for job_id in job_ids:
        known = jobs.get(job_id)
        if known is None:
            if org is None:
                removed += folders.remove_job(store, job_id)
            continue
        owner, state = known
        if JobState(state).in_progress or (org is not None and owner != org):
            continue
        removed += folders.remove_job(store, job_id)
    return removed
