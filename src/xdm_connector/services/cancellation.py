"""Cancelling an export job in progress: the job ends ``Aborted`` in the store at once.

The store is where a job's state lives, so a cancel is one write transaction that moves a
``Created`` or ``Uploaded`` job to ``Aborted`` and drops its lease::

    Created ──┐
              ├── cancel ──► Aborted  (reason: the contract's aborted message)
    Uploaded ─┘

The worker that runs the job learns it at its next store write or heartbeat: every change
of a held job is guarded by ``(lease owner, state in progress)``, so it gets ``LeaseLost``
and stops at its next batch boundary (``jobs/worker.py``). A job not claimed yet is never
claimed, since only ``Created`` jobs without a lease are. The ingestion API then answers
the request ``Aborted`` with the contract's message, which names a cancel among its causes.

The job's destination batch, when it has one, is aborted too (best effort, once the
cancel is committed) so that nothing of a cancelled job becomes visible; who cancelled is
kept in the job's details (``cancelledBy``) and in the audit trail (``cancel``, with the
request id and the state it was in), written in the cancel's transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from xdm_connector.destinations.factory import BatchAborter
from xdm_connector.domain.job_states import IN_PROGRESS_STATES, JobState
from xdm_connector.errors import Conflict, NotFound, XdmcError
from xdm_connector.store.audit import AuditAction
from xdm_connector.store.jobs import ABORTED_REASON
from xdm_connector.store.models import Job, utcnow
from xdm_connector.store.store import Store
from xdm_connector.store.webhooks import WebhookEvent, enqueue_job_event

log = logging.getLogger(__name__)

IN_PROGRESS = sorted(state.value for state in IN_PROGRESS_STATES)


@dataclass(frozen=True)
class Cancelled:
    """A cancelled job, as it is now in the store, and its state before the cancel."""

    job: Job
    previous_state: JobState


def cancel_job(
    store: Store,
    org_id: str,
    request_id: int,
    *,
    actor: str,
    aborter: BatchAborter | None = None,
) -> Cancelled:
    """End the job of ``org_id`` whose request id is ``request_id`` as ``Aborted`` if it
    is still in progress.

    ``NotFound`` for an unknown request (another organization's numbers are its own);
    ``Conflict`` for a job
    that has already ended (the one that ended it first wins: the transaction re-reads the
    state under the writer's lock). ``aborter`` then aborts the job's destination batch, when
    it has one (``OrgDestinations``); its failure is logged, never raised.
    """
    with store.atomic() as session:
        job = session.scalar(
            sa.select(Job)
            .where(Job.org_id == org_id, Job.request_id == request_id)
            .with_for_update()
        )
        if job is None:
            raise NotFound(f"unknown job {request_id}")
        if job.state not in IN_PROGRESS:
            raise Conflict(
                f"job {request_id} has already ended {job.state}: it cannot be cancelled"
            )
        previous = JobState(job.state)
        job.state = JobState.ABORTED
        job.reason = ABORTED_REASON
        job.ended_at = utcnow()
        job.lease_owner = None
        job.lease_expires_at = None
        job.details = {**(job.details or {}), "cancelledBy": actor}
        session.flush()
        details = {"requestId": job.request_id, "state": previous.value}
        store.tenants.audit.record(org_id, actor, AuditAction.CANCEL, job.mapping_id, details)
        enqueue_job_event(session, job.id, WebhookEvent.JOB_ENDED)
    log.info("job %s of mapping %s/%s cancelled by %s", job.id, org_id, job.mapping_id, actor)
    if aborter is not None and job.batch_id:
        try:
            aborter.abort_batch(org_id, job.batch_id)
        except XdmcError as exc:
            log.warning("aborting the batch of cancelled job %s failed: %s", job.id, exc)
    return Cancelled(job=job, previous_state=previous)
