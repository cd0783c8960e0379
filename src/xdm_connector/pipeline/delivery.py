"""The delivery stage: a job's batch at its organization's destination, opened, filled,
completed and followed until the destination says it is final.

The batch is created only once the job's files are written, so a source failure leaves
nothing behind; its id is recorded on the job as soon as it exists, and the watermark the
job commits with it before it completes (recovery needs both: ``jobs/recovery.py``), so a
destination failure reports it (``ACP-880096``). The batch's status is then polled with
``Settings.status_poll_policy``, until it succeeds, fails or is aborted.

Above the mapping's ``rejectedThresholdPercent`` of the records read, the job fails as the
platform fails a batch over its partial-ingestion threshold: the batch is created, aborted
at once, and reported with ``ACP-880096`` (``TooManyRejected``).

The platform may refuse records of a batch itself: within its partial-ingestion threshold
the batch succeeds without them, beyond it the batch fails (``BatchRefused``). Either way
the job counts them apart (``records_refused``) and reads samples of them back from the
destination's diagnostics (``RefusalReader``), kept beside the product's own rejected
samples. A batch that would cross the destination's limits (``BatchGuardrails``: the
platform's files, bytes and record size per batch) fails the job before anything is sent. A sliced job's batch is
opened before its slices run, and each slice puts its own files into it (``put``).

Deletes go into the batch as files of deletes at a lake (``put_deletes``); at a destination
that deletes by identity (the platform) they become work orders, created, recorded and
followed before the batch completes (``pipeline/work_orders.py``)::

    delivery = Delivery(store, settings, run)
    outcome = delivery.deliver(extracted.files, extracted.counts, watermark)
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, NoReturn

from xdm_connector.destinations.base import (
    BatchGuardrails,
    BatchState,
    BatchStatus,
    IdentityDeletes,
    RefusalReader,
    RefusedRecord,
)
from xdm_connector.domain.batches import batch_key
from xdm_connector.errors import UPLOAD_FAILED_MESSAGE, DestinationError
from xdm_connector.faults import pause_at
from xdm_connector.logs import bind_log_context
from xdm_connector.pipeline.counts import MAX_REJECTED_SAMPLES, RecordCounts
from xdm_connector.pipeline.deletes import deletes_name
from xdm_connector.pipeline.delivered_records import stage, withdraw_refused
from xdm_connector.pipeline.files import WrittenFile
from xdm_connector.pipeline.setup import JobRun
from xdm_connector.pipeline.work_orders import WorkOrders
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.store import Store

log = logging.getLogger(__name__)

_FINAL_STATES = frozenset({BatchState.SUCCESS, BatchState.FAILED, BatchState.ABORTED})
"""The states after which a batch no longer changes."""


class BatchRefused(DestinationError):
    """The job's records were refused: the batch is over (failed or aborted), and
    ``outcome`` is what the failed job records: counts, samples, errors, the batch id."""

    def __init__(
        self,
        message: str,
        *,
        batch_id: str,
        outcome: JobOutcome,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, batch_id=batch_id, errors=errors)
        self.outcome = outcome


class TooManyRejected(BatchRefused):
    """More records were rejected than the mapping's threshold allows; the batch is
    aborted before any file is sent."""


class Delivery:
    """Delivers the files of one ``run`` of a job into the job's batch at the run's
    destination (its organization's, already retried), in the dataset of the job's
    mapping; the job's control stops it between files."""

    def __init__(self, store: Store, settings: Settings, run: JobRun) -> None:
        self.store = store
        self.settings = settings
        self.job = run.job
        self.dataset_id = run.context.dataset_id
        self.destination = run.opened.destination
        self.file_format = run.opened.file_format
        self.control = run.control
        self.takes_deletes = run.opened.takes_deletes
        self.work_orders = (
            WorkOrders(store, settings, run)
            if isinstance(self.destination, IdentityDeletes)
            else None
        )

    def open_batch(self, watermark: dict[str, Any] | None = None) -> str:
        """Create the job's batch and record it on the job at once (with ``watermark``)."""
        job, control = self.job, self.control
        batch_id = self.destination.create_batch(
            org=job.org_id,
            dataset=self.dataset_id,
            batch_key=batch_key(job),
            file_format=self.file_format,
        )
        control.batch_id = batch_id
        bind_log_context(batch=batch_id)
        self.store.jobs.record_batch(job.id, control.owner, batch_id, watermark)
        return batch_id

    def put(self, batch_id: str, files: list[WrittenFile], *, prefix: str = "") -> None:
        """Send ``files`` into the batch, each named ``prefix`` and its own name; raises
        ``JobAborted`` between files, and after the last, once the job must stop."""
        for written in files:
            self.control.check()
            self.destination.put_file(
                batch_id, prefix + written.name, written.path, rows=written.rows
            )
        self.control.check()

    def put_deletes(self, batch_id: str, files: list[WrittenFile], *, prefix: str = "") -> None:
        """Send files of deletes (``pipeline/deletes.py``) into the batch, when its
        destination takes deletes (a lake); another's are left out, their keys counted."""
        if files and self.takes_deletes:
            for written in files:
                self.control.check()
                self.destination.put_file(
                    batch_id, deletes_name(written, prefix), written.path, rows=written.rows
                )
        self.control.check()

    def refuse(self, counts: RecordCounts, batch_id: str = "") -> NoReturn:
        """Fail the job over its threshold: its batch (created now if it has none) is
        aborted and reported (``TooManyRejected``)."""
        batch_id = batch_id or self.open_batch()
        self.destination.abort(batch_id)
        message = (
            f"{counts.rejected} of {counts.read} records were rejected "
            f"({counts.rejected_percent:.2f} %), above the mapping's threshold of "
            f"{counts.threshold:g} %"
        )
        details = {**counts.details(), "error": message}
        outcome = JobOutcome(
            records_read=counts.read,
            records_rejected=counts.rejected,
            batch_id=batch_id,
            reason=UPLOAD_FAILED_MESSAGE,
            details=details,
        )
        raise TooManyRejected(message, batch_id=batch_id, outcome=outcome)

    def deliver(
        self,
        files: list[WrittenFile],
        counts: RecordCounts,
        watermark: dict[str, Any],
        batch_id: str = "",
        deletes: list[WrittenFile] | None = None,
        *,
        entries: list[WrittenFile] | None = None,
    ) -> JobOutcome:
        """Send the files into the job's batch (created now if it has none), complete it,
        and follow it until the destination accepts it; a sliced job's batch (``batch_id``)
        already holds its files, and is aborted when nothing was written into it. At the
        platform, the records sent (``entries``) and deleted are staged first; a sliced
        job's slices staged theirs; those the platform refused are taken back once it
        succeeded."""
        job, control, destination = self.job, self.control, self.destination
        details = counts.details()
        if self.work_orders is not None:
            stage(self.store, job.id, entries or [], deletes or [], replace=not batch_id)
        if counts.deleted and not self.takes_deletes and self.work_orders is None:
            details["deletesNotDelivered"] = (
                "the destination does not take deletes yet: the deleted records stay there"
            )
        sends_deletes = bool(counts.deleted) and self.takes_deletes
        if counts.ingested == 0 and not sends_deletes:
            if batch_id:
                destination.abort(batch_id)  # a sliced job's batch, left empty
            self._order_deletes(counts, details)
            return JobOutcome(
                records_read=counts.read, records_rejected=counts.rejected, details=details
            )
        settings = self.settings
        if not batch_id:
            self._guard(files, counts)
        try:
            # The watermark is kept with the batch before it completes: recovery needs both.
            if batch_id:
                self.store.jobs.record_batch(job.id, control.owner, batch_id, watermark)
            else:
                batch_id = self.open_batch(watermark)
            pause_at("created", settings.fault_pause_at, settings.home)
            self.put(batch_id, files)
            self.put_deletes(batch_id, deletes or [])
            # The platform's deletes complete before the batch does: a job killed in
            # between is aborted, and run again it follows the same work orders.
            self._order_deletes(counts, details)
            destination.complete(batch_id)
            self.store.jobs.mark_uploaded(job.id, control.owner, batch_id)
            status = self._await_success(batch_id)
            pause_at("completed", settings.fault_pause_at, settings.home)
        except DestinationError as exc:
            exc.batch_id = exc.batch_id or batch_id
            raise
        # The destination may refuse some records and still succeed (partial ingestion).
        # Every record sent is then either delivered or refused.
        refused = min(status.refused, counts.ingested)
        if status.state is not BatchState.SUCCESS:
            ingested = 0
        elif status.records is None:
            ingested = counts.ingested - refused
        else:
            ingested = min(status.records, counts.ingested)
            refused = counts.ingested - ingested
        if self.work_orders is not None and status.state is BatchState.SUCCESS:
            withdraw_refused(self.store, job.id, destination, batch_id, refused)
        details["rejectedSamples"] = counts.with_refused(self._refused(batch_id, refused))
        if status.errors:
            details["destinationErrors"] = status.errors
        if status.version is not None:
            details["tableVersion"] = status.version  # the lake's commit: visible from it on
        outcome = JobOutcome(
            records_read=counts.read,
            records_ingested=ingested,
            records_rejected=counts.rejected,
            records_refused=refused,
            batch_id=batch_id,
            details=details,
        )
        if status.state is not BatchState.SUCCESS:
            share = 100.0 * refused / counts.ingested
            message = (
                f"the platform refused {refused} of the {counts.ingested} records of batch "
                f"{batch_id} ({share:.2f} %), more than its partial ingestion allows: "
                "the batch failed and nothing of it was kept"
            )
            details["error"] = message
            failed = replace(outcome, reason=UPLOAD_FAILED_MESSAGE)
            raise BatchRefused(message, batch_id=batch_id, outcome=failed, errors=status.errors)
        return outcome

    def _order_deletes(self, counts: RecordCounts, details: dict[str, Any]) -> None:
        """Delete the job's deleted records at a destination that deletes by identity (the
        platform's work orders, ``pipeline/work_orders.py``), those the job and its slices
        staged, counted in ``details``; a deleted record without a primary identity stays
        there, and is noted."""
        if self.work_orders is None or not counts.deleted:
            return
        staged = self.store.delivered_records.staged_identities(self.job.id)
        deleted, ids = self.work_orders.send_identities(staged)
        details["recordsDeleted"] = deleted
        if ids:
            details["workOrders"] = ids
        if deleted < counts.deleted:
            details["deletesNotDelivered"] = (
                f"{counts.deleted - deleted} of the {counts.deleted} deleted records stay at "
                "the destination: it deletes by primary identity, and they have none (or "
                "share one)"
            )

    def _guard(self, files: list[WrittenFile], counts: RecordCounts) -> None:
        """Fail the job before anything is sent when its batch would cross the
        destination's limits (``BatchGuardrails``: the platform's guardrails), with why."""
        if not isinstance(self.destination, BatchGuardrails):
            return
        breach = self.destination.breach([written.path for written in files])
        if not breach:
            return
        details = {**counts.details(), "error": breach}
        outcome = JobOutcome(
            records_read=counts.read,
            records_rejected=counts.rejected,
            reason=UPLOAD_FAILED_MESSAGE,
            details=details,
        )
        raise BatchRefused(breach, batch_id="", outcome=outcome)

    def _refused(self, batch_id: str, refused: int) -> list[RefusedRecord]:
        """Samples of the records the destination refused in the batch, read back from its
        diagnostics; none when it keeps none. Only samples: a failure to read them is
        logged and leaves the job's counts and outcome as they are."""
        if not refused or not isinstance(self.destination, RefusalReader):
            return []
        try:
            return self.destination.refused_records(batch_id, MAX_REJECTED_SAMPLES)
        except DestinationError as exc:
            log.warning("the refused records of batch %s could not be read: %s", batch_id, exc)
            return []

    def _await_success(self, batch_id: str) -> BatchStatus:
        """The batch's final status once it succeeded, or failed for the records it refused
        (``BatchStatus.refused``); polls sooner at first, then less often
        (``Settings.status_poll_policy``)."""
        try:
            status = self.settings.status_poll_policy().poll(
                lambda: self.destination.status(batch_id),
                done=lambda status: status.state in _FINAL_STATES,
                check=self.control.check,
                what=f"status of batch {batch_id}",
            )
        except TimeoutError:
            raise DestinationError(
                f"batch {batch_id} was not processed in time", batch_id=batch_id, transient=True
            ) from None
        if status.state is BatchState.FAILED and status.refused:
            return status
        if status.state is not BatchState.SUCCESS:
            # The errors are kept apart (``errors``): the message does not repeat them.
            why = f" ({len(status.errors)} errors)" if status.errors else ""
            raise DestinationError(
                f"the destination ended batch {batch_id} {status.state.value}{why}",
                batch_id=batch_id,
                errors=status.errors,
            )
        return status
