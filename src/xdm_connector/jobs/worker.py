"""The worker: claims export jobs from the store and runs them, one at a time.

A loop turn reaps expired leases (``jobs/recovery.py``), creates the jobs of due
schedules and runs the lake's upkeep when its slot is due (``jobs/maintenance.py``), once
every ``XDMC_WORKER_POLL_SECONDS`` at most (a turn woken by a new job sooner goes straight
to its claim), then claims one slice of a running job (``pipeline/slicing.py``) or, when
there is none, one job, which the export's stages run (``pipeline/export.py``). While a job runs, a heartbeat thread
extends its lease and checks every second that the worker still holds the job; when it no
longer does (the job was cancelled, aborted or reaped), the pipeline is told to stop at its
next batch boundary, and the batch it made is aborted through the organization's
destinations unless the job ended ``Success`` (recovered by a reaper). However a job ends,
its details say how often its source was read again after a transient error, and why
(``pipeline/source_retries.py``).

A stop ends the claims at once and lets the job or slice that runs finish within
``XDMC_SHUTDOWN_GRACE_SECONDS``, then aborts it at its next batch boundary; ``stop_claiming``
names it, so that a stopping process can say what it waits for.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from xdm_connector.domain.job_states import IN_PROGRESS_STATES, JobState, JobTrigger
from xdm_connector.errors import (
    SOURCE_FAILED_MESSAGE,
    UPLOAD_FAILED_MESSAGE,
    DestinationError,
    ExportError,
    LeaseLost,
    SourceError,
    XdmcError,
)
from xdm_connector.expressions.grammar import prepare_parser
from xdm_connector.jobs import liveness
from xdm_connector.jobs.maintenance import ScheduledMaintenance
from xdm_connector.jobs.new_jobs import NewJobs
from xdm_connector.jobs.notify import Wakeups, wakeups_for
from xdm_connector.jobs.recovery import Recovery
from xdm_connector.logs import log_context
from xdm_connector.pipeline.control import JobAborted, JobControl, keep_alive
from xdm_connector.pipeline.delivery import BatchRefused
from xdm_connector.pipeline.export import Exporter
from xdm_connector.pipeline.slicing import aborted_document, error_document
from xdm_connector.pipeline.source_retries import DETAILS_KEY
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import Job, JobSlice, utcnow
from xdm_connector.store.store import Store

log = logging.getLogger(__name__)

INTERNAL_FAILURE = "XDMC-500 The export failed on an internal error; see the worker's log."


def failure_reason(exc: ExportError) -> str:
    """The job's reason for an export error, in the contract's words where it has them."""
    if isinstance(exc, SourceError):
        return SOURCE_FAILED_MESSAGE
    if isinstance(exc, DestinationError):
        return UPLOAD_FAILED_MESSAGE
    return exc.message if exc.message.startswith(exc.code) else f"{exc.code} {exc.message}"


def with_source_retries(outcome: JobOutcome, control: JobControl) -> JobOutcome:
    """``outcome`` whose details also say how often the job's source was read again."""
    retries = control.source_retries.document()
    if retries is None:
        return outcome
    return replace(outcome, details={**(outcome.details or {}), DETAILS_KEY: retries})


@dataclass(frozen=True)
class RunningWork:
    """A job, or a slice of a job, that a worker runs: what a stopping worker waits for."""

    job_id: int
    org_id: str = ""
    mapping_id: str = ""
    slice_number: int | None = None

    def __str__(self) -> str:
        piece = "" if self.slice_number is None else f"slice {self.slice_number} of "
        of = f" (organization {self.org_id}, mapping {self.mapping_id})" if self.org_id else ""
        return f"{piece}job {self.job_id}{of}"


class Worker:
    """Runs export jobs from the store until stopped.

    ``clock`` is the time it schedules and claims by (tests move it instead of waiting).
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        exporter: Exporter | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.settings = settings
        self.exporter = exporter or Exporter(store, settings)
        # The exporter's destinations serve the jobs it runs, their recovery and their aborts.
        self.destinations = self.exporter.setup.destinations
        self.recovery = Recovery(store, settings, self.destinations)
        self.maintenance = ScheduledMaintenance(store, settings, self.destinations)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # On PostgreSQL the worker holds a session lock for its life, which its name promises:
        # other workers then know at once when its session ends (``jobs/liveness.py``).
        self._session_lock: liveness.SessionLock | None = None
        if store.dialect == "postgresql":
            self.owner += liveness.SESSION_LOCK_SUFFIX
            self._session_lock = liveness.SessionLock(store, self.owner)
        liveness.register(self.owner)
        self.exporter.slices.workers_gone = partial(liveness.certainly_gone, store=store)
        self.lease = timedelta(seconds=settings.lease_seconds)
        self._clock = clock
        self._stopping = threading.Event()
        self._wakeups: Wakeups | None = None
        self._running: JobControl | None = None
        self._work: RunningWork | None = None
        # Held from the stop check to the claim's end: a stop sees the claimed work, or none.
        self._claiming = threading.Lock()
        self._thread: threading.Thread | None = None
        self._announced_at = -float("inf")
        self._housekept_at = -float("inf")

    def announce(self) -> None:
        """Say in the store that this worker runs (the coordinators of large jobs count the
        workers there to take slices)."""
        self.store.workers.announce(self.owner, self._clock())
        self._announced_at = time.monotonic()

    def run_once(self, *, housekeeping: bool = True) -> bool:
        """One turn of the loop; answers whether a job or a slice was run (never once
        stopping). ``housekeeping``: recover expired leases, create the jobs of due
        schedules and run the lake's due upkeep before claiming."""
        if self._session_lock is not None and not self._session_lock.hold():
            return False  # a job taken without the lock would look lost to other workers
        if time.monotonic() - self._announced_at >= self.settings.lease_seconds / 3:
            self.announce()
        now = self._clock()
        if housekeeping:
            self._housekept_at = time.monotonic()
            self.recovery.recover_expired(self.owner, self.lease, now)
            self.store.jobs.schedule_due(now)
            self.maintenance.run_due(self.owner, now)
        claimed = self._claim(now)
        if claimed is None:
            return False
        try:
            if isinstance(claimed, JobSlice):
                self._run_slice(claimed)
            else:
                self._run(claimed)
        finally:
            self._work = None
        return True

    def _claim(self, now: datetime) -> Job | JobSlice | None:
        """A slice of a running job, else a job, unless stopping; what it is becomes
        ``_work``."""
        with self._claiming:
            if self._stopping.is_set():
                return None
            # Slices of jobs already running first: a started job ends before a new one starts.
            piece = self.store.slices.claim(self.owner, self.lease, now)
            if piece is not None:
                self._work = RunningWork(piece.job_id, slice_number=piece.number)
                return piece
            job = self.store.jobs.claim(self.owner, self.lease, now)
            if job is not None:
                self._work = RunningWork(job.id, job.org_id, job.mapping_id)
            return job

    def run(self) -> None:
        """Loop until ``stop()``: run jobs; when there is none, wait for a notification of a
        new job (PostgreSQL; on SQLite, a job committed by this process) or the poll
        interval."""
        if self.store.dialect == "postgresql":
            wakeups: Wakeups = wakeups_for(self.store, self._stopping)
        else:
            wakeups = NewJobs(self._stopping)
        self._wakeups = wakeups
        presence = threading.Thread(target=self._present, name="xdmc-presence", daemon=True)
        presence.start()
        prepare_parser()
        log.info("worker %s started", self.owner)
        try:
            while not self._stopping.is_set():
                # A turn woken by a new job within the poll interval of the last
                # housekeeping claims at once: the housekeeping still runs once an interval.
                since = time.monotonic() - self._housekept_at
                housekeeping = since >= self.settings.worker_poll_seconds
                try:
                    worked = self.run_once(housekeeping=housekeeping)
                except XdmcError as exc:
                    log.error("worker turn failed: %s", exc)
                    worked = False
                except Exception:
                    # The loop outlives any one turn: a worker that stops looping is lost.
                    log.exception("worker turn failed on an internal error")
                    worked = False
                if not worked:
                    wakeups.wait(self.settings.worker_poll_seconds)
        finally:
            wakeups.close()
            presence.join()
            if self._session_lock is not None:
                self._session_lock.release()
            try:
                self.store.workers.leave(self.owner)
            except XdmcError as exc:
                log.warning("worker %s could not say it stops: %s", self.owner, exc)
            liveness.unregister(self.owner)

    def _present(self) -> None:
        """Announce this worker while it runs, even while it waits idle for a long time."""
        interval = self.settings.lease_seconds / 3
        while True:
            try:
                self.announce()
            except XdmcError as exc:
                log.warning("worker %s could not announce itself: %s", self.owner, exc)
            if self._session_lock is not None:
                self._session_lock.check()
            if self._stopping.wait(interval):
                return

    def start_in_thread(self) -> None:
        """Run the loop in a daemon thread (the embedded worker of ``serve``)."""
        self._thread = threading.Thread(target=self.run, name="xdmc-worker", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Stop claiming; a running job may finish within the grace period, else is aborted.

        Safe to call from a signal handler: it only sets events and starts a timer.
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        if isinstance(self._wakeups, NewJobs):
            self._wakeups.wake()
        timer = threading.Timer(self.settings.shutdown_grace_seconds, self._abort_running)
        timer.daemon = True
        timer.start()

    def stop_claiming(self) -> RunningWork | None:
        """``request_stop()``, and what this worker still runs (it lets it finish within the
        grace period, ``settings.shutdown_grace_seconds``): None when idle. A claim under way
        is waited for, so nothing starts after the answer."""
        self.request_stop()
        with self._claiming:
            work = self._work
        if work is None or work.org_id:
            return work
        try:  # a slice: name its job's organization and mapping
            job = self.store.jobs.get_by_id(work.job_id)
        except XdmcError:
            return work
        return replace(work, org_id=job.org_id, mapping_id=job.mapping_id)

    def is_looping(self) -> bool:
        """Whether the loop's thread (``start_in_thread``) still runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, *, say: Callable[[str], None] | None = None) -> None:
        """``request_stop()``, then wait for the loop's thread to end; ``say`` is told which
        job it waits for, and for how long at most."""
        running = self.stop_claiming()
        if running is not None and say is not None:
            grace = self.settings.shutdown_grace_seconds
            say(f"waiting up to {grace:g} s for {running} to finish, then aborting it")
        if self._thread is not None:
            self._thread.join()

    def _abort_running(self) -> None:
        running, work = self._running, self._work
        if running is not None:
            grace = self.settings.shutdown_grace_seconds
            log.warning("%s did not finish within %g s of the stop: aborting it", work, grace)
            running.abort.set()

    def _run(self, job: Job) -> None:
        control = JobControl(owner=self.owner)
        heartbeat = threading.Thread(
            target=self._heartbeat,
            args=(job, control),
            name=f"xdmc-heartbeat-{job.id}",
            daemon=True,
        )
        self._running = control
        heartbeat.start()
        try:
            with log_context(org=job.org_id, mapping=job.mapping_id, job=job.id):
                self._export(job, control)
        finally:
            self._running = None
            control.finished.set()
            heartbeat.join()

    def _export(self, job: Job, control: JobControl) -> None:
        log.info("job %s of mapping %s/%s started", job.id, job.org_id, job.mapping_id)
        try:
            result = self.exporter.run(job, control)
            outcome = with_source_retries(result.outcome, control)
            self.store.jobs.succeed(job, self.owner, outcome, result.watermark)
            log.info("job %s succeeded: %s records", job.id, result.outcome.records_ingested)
        except JobAborted as exc:
            log.warning("job %s aborted", job.id)
            self._release_batch(job, exc.batch_id or control.batch_id)
            self._end(self.store.jobs.abort_held, job, JobOutcome(batch_id=exc.batch_id))
        except BatchRefused as exc:  # its batch is over: nothing to abort, nothing to retry
            log.warning("job %s failed: %s", job.id, exc.message)
            self._end(self.store.jobs.fail, job, with_source_retries(exc.outcome, control))
        except ExportError as exc:
            batch_id = exc.batch_id if isinstance(exc, DestinationError) else ""
            errors = exc.errors if isinstance(exc, DestinationError) else []
            log.warning("job %s failed: %s %s", job.id, exc.code, exc.message)
            self._abort_batch(job, batch_id or control.batch_id)
            details = {"error": exc.message, **({"destinationErrors": errors} if errors else {})}
            outcome = with_source_retries(
                JobOutcome(batch_id=batch_id, reason=failure_reason(exc), details=details), control
            )
            retry_at = None
            if exc.transient and job.trigger == JobTrigger.SCHEDULE:
                retry_at = self._clock() + timedelta(seconds=self.settings.retry_delay_seconds)
                log.info(
                    "job %s failed transiently: its mapping runs again at %s", job.id, retry_at
                )
            try:
                self.store.jobs.fail(job.id, self.owner, outcome, retry_at=retry_at)
            except LeaseLost:
                log.warning("job %s was already ended elsewhere", job.id)
        except LeaseLost:
            log.warning("job %s: lease lost, the job was ended elsewhere", job.id)
            self._release_batch(job, control.batch_id)
        except Exception:
            log.exception("job %s failed on an internal error", job.id)
            outcome = with_source_retries(JobOutcome(reason=INTERNAL_FAILURE), control)
            self._end(self.store.jobs.fail, job, outcome)

    def _run_slice(self, piece: JobSlice) -> None:
        """Export one slice of another worker's job into its batch, and say how it ended."""
        control = JobControl(owner=self.owner)
        self._running = control
        slices = self.store.slices
        try:
            with log_context(job=piece.job_id):
                try:
                    outcome = self.exporter.slices.run(piece, control)
                    slices.finish(piece, self.owner, outcome)
                except JobAborted:
                    if slices.holds(piece, self.owner):  # stopped here (shutdown), not lost
                        slices.fail(piece, self.owner, aborted_document())
                    log.warning("slice %s of job %s aborted", piece.number, piece.job_id)
                except ExportError as exc:
                    log.warning("slice %s of job %s failed: %s", piece.number, piece.job_id, exc)
                    slices.fail(piece, self.owner, error_document(exc, control.source_retries))
                except LeaseLost:
                    log.warning("slice %s of job %s was lost", piece.number, piece.job_id)
                except XdmcError as exc:
                    log.warning("slice %s of job %s failed: %s", piece.number, piece.job_id, exc)
                    slices.fail(piece, self.owner, error_document(ExportError(exc.message)))
                except Exception:
                    log.exception("slice %s of job %s failed", piece.number, piece.job_id)
                    slices.fail(piece, self.owner, error_document(None))
        except LeaseLost:
            log.warning("slice %s of job %s ended elsewhere", piece.number, piece.job_id)
        finally:
            self._running = None
            control.finished.set()

    def _end(
        self, ending: Callable[[int, str, JobOutcome], None], job: Job, outcome: JobOutcome
    ) -> None:
        try:
            ending(job.id, self.owner, outcome)
        except LeaseLost:
            log.warning("job %s was already ended elsewhere", job.id)

    def _release_batch(self, job: Job, batch_id: str) -> None:
        """Abort the batch of a job this worker stops, unless the job succeeded, or another
        worker took it over to recover it."""
        if not batch_id:
            return
        try:
            now = self.store.jobs.get_by_id(job.id)
            if now.state == JobState.SUCCESS:
                return
            if now.state in IN_PROGRESS_STATES and now.lease_owner != self.owner:
                return  # recovered by another worker, which decides on the batch
        except XdmcError as exc:
            log.warning("job %s: cannot read its state (%s); aborting its batch", job.id, exc)
        self._abort_batch(job, batch_id)

    def _abort_batch(self, job: Job, batch_id: str = "") -> None:
        """Abort the job's destination batch, if it has one (best effort)."""
        batch_id = batch_id or job.batch_id
        if batch_id:
            self.destinations.abort_batch(job.org_id, batch_id)

    def _heartbeat(self, job: Job, control: JobControl) -> None:
        keep_alive(
            control,
            control.finished,
            lease_seconds=self.settings.lease_seconds,
            extend=lambda: self.store.jobs.heartbeat(job.id, self.owner, self.lease),
            holds=lambda: self.store.jobs.holds(job.id, self.owner),
            what=f"job {job.id}",
        )
