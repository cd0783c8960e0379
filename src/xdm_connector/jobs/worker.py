"""The worker: claims export jobs from the store and runs them, one at a time.

Each loop turn reaps expired leases, creates the jobs of due schedules, then claims one
job. While a job runs, a heartbeat thread extends its lease; when the lease is lost (the
job was aborted or reaped), the pipeline is told to stop at its next batch boundary.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

from xdm_connector.errors import (
    SOURCE_FAILED_MESSAGE,
    UPLOAD_FAILED_MESSAGE,
    DestinationError,
    ExportError,
    LeaseLost,
    SourceError,
    XdmcError,
)
from xdm_connector.logs import log_context
from xdm_connector.pipeline.export import Exporter, JobAborted, JobControl
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import Job, utcnow
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


class Worker:
    """Runs export jobs from the store until stopped."""

    def __init__(
        self, store: Store, settings: Settings, *, exporter: Exporter | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.exporter = exporter or Exporter(store, settings)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=settings.lease_seconds)
        self._stopping = threading.Event()
        self._running: JobControl | None = None
        self._thread: threading.Thread | None = None

    def run_once(self) -> bool:
        """One turn of the loop; answers whether a job was run."""
        now = utcnow()
        for expired in self.store.jobs.reap_expired(now):
            log.warning("job %s aborted: its lease expired", expired.id)
            self.exporter.abort_batch(expired)
        self.store.jobs.schedule_due(now)
        claimed = self.store.jobs.claim(self.owner, self.lease, now)
        if claimed is None:
            return False
        self._run(claimed)
        return True

    def run(self) -> None:
        """Loop until ``stop()``: run jobs, sleep when there is none."""
        while not self._stopping.is_set():
            try:
                worked = self.run_once()
            except XdmcError as exc:
                log.error("worker turn failed: %s", exc)
                worked = False
            if not worked:
                self._stopping.wait(self.settings.worker_poll_seconds)

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
        timer = threading.Timer(self.settings.shutdown_grace_seconds, self._abort_running)
        timer.daemon = True
        timer.start()

    def stop(self) -> None:
        """``request_stop()``, then wait for the loop's thread to end."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join()

    def _abort_running(self) -> None:
        running = self._running
        if running is not None:
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
            self.store.jobs.succeed(job, self.owner, result.outcome, result.watermark)
            log.info("job %s succeeded: %s records", job.id, result.outcome.records_ingested)
        except JobAborted as exc:
            log.warning("job %s aborted", job.id)
            self.exporter.abort_batch(job, exc.batch_id)
            self._end(self.store.jobs.abort_held, job, JobOutcome(batch_id=exc.batch_id))
        except ExportError as exc:
            batch_id = exc.batch_id if isinstance(exc, DestinationError) else ""
            log.warning("job %s failed: %s %s", job.id, exc.code, exc.message)
            self.exporter.abort_batch(job, batch_id)
            outcome = JobOutcome(
                batch_id=batch_id, reason=failure_reason(exc), details={"error": exc.message}
            )
            self._end(self.store.jobs.fail, job, outcome)
        except LeaseLost:
            log.warning("job %s: lease lost, the job was ended elsewhere", job.id)
        except Exception:
            log.exception("job %s failed on an internal error", job.id)
            self._end(self.store.jobs.fail, job, JobOutcome(reason=INTERNAL_FAILURE))

    def _end(
        self, ending: Callable[[int, str, JobOutcome], None], job: Job, outcome: JobOutcome
    ) -> None:
        try:
            ending(job.id, self.owner, outcome)
        except LeaseLost:
            log.warning("job %s was already ended elsewhere", job.id)

    def _heartbeat(self, job: Job, control: JobControl) -> None:
        interval = self.settings.lease_seconds / 3
        while not control.finished.wait(interval):
            try:
                self.store.jobs.heartbeat(job.id, self.owner, self.lease)
            except LeaseLost:
                control.abort.set()
                return
            except XdmcError as exc:
                log.warning("heartbeat of job %s failed: %s", job.id, exc)
