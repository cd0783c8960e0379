"""Recovery of jobs whose worker is gone: ask the destination, then finish or abort.

A job in progress whose lease has expired lost its worker (killed, machine lost, stuck past
its lease); so did a job whose worker is certainly gone although its lease still runs (a
server killed and started again on the same host, or a worker whose PostgreSQL session
ended: ``jobs/liveness.py``). A worker's reaper takes the job's lease over (one
transaction: no two reapers recover the same job, and the lost worker can change nothing
any more), then:

===============================================  =========================================
the job's batch at the destination               the job
===============================================  =========================================
``SUCCESS`` (complete, the store not told yet)   ``Success`` with the watermark the job
                                                 kept (``jobs.watermark``): not exported
                                                 twice; the records the platform refused
                                                 taken back from what it delivered
still processing, after the upload               kept in progress, asked again next lease
none, loading, failed, aborted, unknown          its batch aborted, then ``Aborted``; the
                                                 watermark untouched, the next run exports
                                                 the same rows again (a scheduled job's
                                                 mapping runs after ``retry_delay``)
the destination cannot be asked                  asked again next lease; aborted after
                                                 ``GIVE_UP_SECONDS``
===============================================  =========================================

The batch is asked about and aborted through the organizations' destinations
(``destinations/factory.py``, as a cancel does), and the work folders the lost worker left
on this machine removed (``pipeline/workfolders.py``), *before* the job is marked, so a reaper that dies in between
leaves a job that the next reaper recovers the same way. A job kept waiting keeps its
folders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from xdm_connector.destinations.base import BatchState, BatchStatus
from xdm_connector.destinations.factory import OrgDestinations
from xdm_connector.domain.job_states import JobState, JobTrigger
from xdm_connector.errors import LeaseLost, XdmcError
from xdm_connector.jobs import liveness
from xdm_connector.pipeline.delivered_records import withdraw_refused
from xdm_connector.pipeline.slicing import recover_lost_slices
from xdm_connector.pipeline.workfolders import WorkFolders
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

log = logging.getLogger(__name__)

GIVE_UP_SECONDS = 3600.0
"""How long a job's batch may stay unknowable (or processing) before the job is aborted."""


@dataclass(frozen=True)
class Recovered:
    """What recovery did with an expired job: ``Success``, ``Aborted``, or kept (waiting)."""

    job_id: int
    state: JobState | None


class Recovery:
    """Recovers the jobs of ``store`` whose worker is gone: asks their organization's
    destination (``destinations``) about their batch, and removes the work folders they left
    under ``settings.home``."""

    def __init__(self, store: Store, settings: Settings, destinations: OrgDestinations) -> None:
        self.store = store
        self.destinations = destinations
        self.work = WorkFolders(settings.home)
        self.retry_delay = timedelta(seconds=settings.retry_delay_seconds)

    def recover_expired(self, owner: str, lease: timedelta, now: datetime) -> list[Recovered]:
        """Recover, as ``owner``, every job whose lease expired before ``now``, and every job
        whose worker is certainly gone although its lease still runs (``jobs/liveness.py``);
        first, the slices of jobs in progress whose worker was lost, likewise
        (``pipeline/slicing.py``): pending again for any worker to claim, or failed."""
        store = self.store
        judged: dict[str, bool] = {}  # one question per worker, however many jobs it holds

        def certainly_gone(worker: str) -> bool:
            if worker not in judged:
                judged[worker] = liveness.certainly_gone(worker, store)
            return judged[worker]

        # Slices first: those of a job whose worker is gone fail, and the job, recovered
        # below, is aborted with no slice left running.
        recover_lost_slices(store, owner, certainly_gone)
        lost: list[Job] = []
        for expired in store.jobs.expired(now):
            job = store.jobs.take_expired(expired.id, owner, lease, now)
            if job is not None:
                lost.append(job)
        for held in store.jobs.leased(now):
            gone = held.lease_owner
            if gone is None or gone == owner or not certainly_gone(gone):
                continue
            job = store.jobs.take_from(held.id, gone, owner, lease, now)
            if job is not None:
                log.warning("job %s: its worker %s is gone; recovering it now", job.id, gone)
                lost.append(job)
        done: list[Recovered] = []
        for job in lost:
            try:
                done.append(self._recover(owner, job, now))
            except LeaseLost:
                log.warning("job %s was ended elsewhere while it was recovered", job.id)
        return done

    def _recover(self, owner: str, job: Job, now: datetime) -> Recovered:
        store = self.store
        status = self._status(job)
        if status is not None and status.state is BatchState.SUCCESS and job.watermark is not None:
            records = status.records if status.records is not None else job.records_ingested
            # The lake's commit counts its deletes; the platform's work orders, the job's.
            ordered = sum(int(entry.get("identities", 0)) for entry in job.work_orders or [])
            deleted = status.deletes or ordered
            outcome = JobOutcome(
                records_read=records,
                records_ingested=records,
                records_refused=status.refused,
                batch_id=job.batch_id,
                details={
                    **(job.details or {}),
                    "recovered": True,
                    **({"recordsDeleted": deleted} if deleted else {}),
                },
            )
            if status.refused:
                self._withdraw_refused(job, status.refused)
            self.work.remove_ended(store, job.id)
            store.jobs.succeed(job, owner, outcome, job.watermark)
            log.warning("job %s recovered: its batch %s had succeeded", job.id, job.batch_id)
            return Recovered(job.id, JobState.SUCCESS)
        waiting = status is None or (
            job.state == JobState.UPLOADED and status.state is BatchState.PROCESSING
        )
        started = job.started_at or job.created_at
        if waiting and (now - started).total_seconds() < GIVE_UP_SECONDS:
            log.warning(
                "job %s: its batch %s is not final yet; asking again later", job.id, job.batch_id
            )
            return Recovered(job.id, None)
        if job.batch_id:
            self.destinations.abort_batch(job.org_id, job.batch_id)
        self.work.remove_ended(store, job.id)
        retry_at = None
        if job.trigger == JobTrigger.SCHEDULE:
            # A lost worker is a transient failure: the schedule retries as for any other.
            retry_at = now + self.retry_delay
        store.jobs.abort_held(job.id, owner, JobOutcome(batch_id=job.batch_id), retry_at=retry_at)
        log.warning("job %s aborted: its worker was lost", job.id)
        return Recovered(job.id, JobState.ABORTED)

    def _withdraw_refused(self, job: Job, refused: int) -> None:
        """Take back what the platform refused in the job's batch, as its delivery would
        have once the batch succeeded (its worker may have died first): never recorded as
        delivered, those records are exported again by the next reconciliation."""
        assert job.batch_id is not None
        try:
            with self.destinations.open(job.org_id) as chosen:
                withdraw_refused(self.store, job.id, chosen.destination, job.batch_id, refused)
        except XdmcError as exc:
            log.warning("job %s: its refused records are unknown, all are taken back: %s",
                        job.id, exc)  # fmt: skip
            withdraw_refused(self.store, job.id, None, job.batch_id, refused)

    def _status(self, job: Job) -> BatchStatus | None:
        """The state of the job's batch (``UNKNOWN`` without one); None if it cannot be asked."""
        if not job.batch_id:
            return BatchStatus(BatchState.UNKNOWN)
        try:
            with self.destinations.open(job.org_id) as chosen:
                return chosen.destination.status(job.batch_id)
        except XdmcError as exc:
            log.warning("job %s: the status of batch %s is unknown: %s", job.id, job.batch_id, exc)
            return None
