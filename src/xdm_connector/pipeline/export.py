"""One export job, from plan to commit: the pipeline of ``DESIGN.md``.

plan → extract → shape → validate → write → deliver; the worker then commits (job
``Success`` and the new watermark in one transaction). The destination batch is created
only once the files are written, so a source failure leaves nothing behind; its id is
recorded on the job as soon as it exists, so a destination failure reports it
(``ACP-880096``). A read of the source that fails transiently is read again from the
start of the window, its files discarded (``pipeline/source_retries.py``).

Records that shaping or validation refuse are counted and sampled (primary key, XDM path,
value, reason). Above the mapping's ``rejectedThresholdPercent`` of the records read, the
job fails as the platform fails a batch over its partial-ingestion threshold: the batch is
created, aborted at once, and reported with ``ACP-880096`` (``TooManyRejected``).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from xdm_connector.destinations.base import BatchState, BatchStatus, Destination
from xdm_connector.destinations.factory import OpenedDestination, OrgDestinations
from xdm_connector.domain.batches import batch_key
from xdm_connector.domain.file_formats import FileFormat
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.domain.windows import (
    Bound,
    KeyRange,
    Since,
    Window,
    decode_bound,
    encode_bound,
    window_document,
)
from xdm_connector.errors import (
    UPLOAD_FAILED_MESSAGE,
    DestinationError,
    ExportError,
    InvalidInput,
    XdmcError,
)
from xdm_connector.logs import bind_log_context
from xdm_connector.pipeline.control import JobControl
from xdm_connector.pipeline.counts import RecordCounts
from xdm_connector.pipeline.faults import pause_at
from xdm_connector.pipeline.files import BatchFileWriter, WrittenFile
from xdm_connector.pipeline.lookback import LookBack
from xdm_connector.pipeline.plan import AUDIT_LABEL, KEY_LABEL, ExportPlan, plan_export
from xdm_connector.pipeline.shaping import RecordShaper
from xdm_connector.pipeline.slicing import run_slices, slice_ranges
from xdm_connector.pipeline.source_retries import read_with_retries
from xdm_connector.pipeline.validate import RecordChecks
from xdm_connector.pipeline.workfolders import WorkFolders
from xdm_connector.settings import FaultStage, Settings
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.schema import Resource, describe_resource
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import Job, Mapping, utcnow
from xdm_connector.store.store import Store
from xdm_connector.xdm.dataset_spec import dataset_schema
from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.schema import XedSchema

log = logging.getLogger(__name__)
_FINAL_STATES = frozenset({BatchState.SUCCESS, BatchState.FAILED, BatchState.ABORTED})
"""The states after which a batch no longer changes."""


class TooManyRejected(DestinationError):
    """More records were refused than the mapping's threshold allows; the batch is aborted.

    ``outcome`` is what the failed job records: counts, samples, the batch id.
    """

    def __init__(self, message: str, *, batch_id: str, outcome: JobOutcome) -> None:
        super().__init__(message, batch_id=batch_id)
        self.outcome = outcome


@dataclass(frozen=True)
class JobContext:
    """What a job (or a slice of it) exports: its mapping as published, where from, where to."""

    mapping: Mapping
    definition: MappingDefinition
    source_url: str
    dataset_id: str
    schema: XedSchema


@dataclass(frozen=True)
class SourceRead:
    """What one read of a job's source found: the window's upper bound and the look-back,
    then either the records written (``counts`` and ``files``) or, for a job cut into
    slices, their key ranges (read by the slices)."""

    until: Bound
    lookback: LookBack
    ranges: list[KeyRange]
    counts: RecordCounts
    files: list[WrittenFile]


@dataclass(frozen=True)
class ExportResult:
    """What a successful export records: counts, batch, and the new watermark."""

    outcome: JobOutcome
    watermark: dict[str, Any] | None


def describe_targeting_dimension(source: SourceDatabase, definition: MappingDefinition) -> Resource:
    """The mapping's targeting dimension in the source, with its links."""
    with source.translated_errors():
        return describe_resource(
            source.engine, definition.targeting_dimension, key=definition.primary_key
        )


class Exporter:
    """Runs export jobs against their source and destination.

    Each job delivers to its organization's destination (``destinations/factory.py``), in
    the file format that destination asks for; a ``destination`` given here serves every
    organization instead, with Parquet files (tests).
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        registry: SchemaRegistry | None = None,
        destination: Destination | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.registry = registry or SchemaRegistry.packaged()
        self.destination = destination
        self.destinations = OrgDestinations(store, settings, override=destination)
        self.work = WorkFolders(settings.home)

    def context(self, job: Job) -> JobContext:
        """What ``job`` exports: its mapping as published, its source and its dataset."""
        mapping = self.store.mappings.get(job.org_id, job.mapping_id)
        if mapping.published_definition is None:
            raise ExportError("the mapping is not published", code="ACP-880185")
        definition = MappingDefinition.from_document(mapping.published_definition)
        organization = self.store.tenants.get_organization(job.org_id)
        dataset = self.store.tenants.get_dataset(job.org_id, definition.dataset)
        schema = dataset_schema(self.registry, dataset.schema_spec)
        return JobContext(mapping, definition, organization.source_url, dataset.id, schema)

    def plan(self, source: SourceDatabase, context: JobContext) -> ExportPlan:
        """The job's mapping compiled against its source (``ACP-880185`` if it no longer
        fits: a table, view or column gone)."""
        try:
            resource = describe_targeting_dimension(source, context.definition)
            return plan_export(context.definition, context.schema, resource)
        except InvalidInput as exc:
            raise ExportError(exc.message, code="ACP-880185") from exc

    def run(self, job: Job, control: JobControl) -> ExportResult:
        """Export the job's window; raises ``ExportError`` or ``JobAborted`` on failure.

        A window of more than ``slice_rows`` rows, when other workers run, is cut into key
        ranges that every worker may take (``pipeline/slicing.py``); this worker takes part,
        then completes the batch.
        """
        context = self.context(job)
        workdir = self.work.of_job(job)
        try:
            with self.destinations.open(job.org_id) as chosen:
                read = read_with_retries(
                    lambda: self._read(job, context, workdir, control, chosen.file_format),
                    policy=self.settings.retry_policy(),
                    control=control,
                    retries=control.source_retries,
                    discard=lambda: shutil.rmtree(workdir, ignore_errors=True),
                    what=f"job {job.id}",
                )
                if read is None:
                    return ExportResult(JobOutcome(), context.mapping.watermark)
                counts, files, lookback = read.counts, read.files, read.lookback
                batch_id = ""
                if read.ranges:
                    batch_id = self._open_batch(chosen, job, context.dataset_id, control)
                    counts = run_slices(self, job, context, read.ranges, lookback, control)
                watermark = encode_bound(read.until)
                recent = lookback.document()
                if recent is not None:
                    watermark["lookback"] = recent
                counts.threshold = context.definition.rejected_threshold_percent
                if counts.over_threshold:
                    self._refuse(chosen, job, context.dataset_id, counts, control, batch_id)
                outcome = self._deliver(
                    chosen, job, context.dataset_id, files, counts, control, watermark, batch_id
                )
            return ExportResult(outcome, watermark)
        finally:
            # Before the worker records how the job ended, so that whoever sees it ended
            # finds its folders gone (those of its slices' dead workers too).
            shutil.rmtree(workdir, ignore_errors=True)
            self.remove_work(job.id)

    def remove_work(self, job_id: int) -> None:
        """Remove the work folders a job that ends left here (``pipeline/workfolders.py``);
        a failure is logged, and ``lake clean`` removes them later."""
        try:
            removed = self.work.remove_job(self.store, job_id)
        except XdmcError as exc:
            log.warning("the work folders of job %s stay: %s", job_id, exc)
            return
        if removed:
            log.info("job %s: %d work folders removed", job_id, len(removed))

    def _read(
        self,
        job: Job,
        context: JobContext,
        workdir: Path,
        control: JobControl,
        file_format: FileFormat,
    ) -> SourceRead | None:
        """One read of the job's window from its source, from the start: plan, high-water
        mark, then its rows written into files under ``workdir`` (or, when other workers
        can help, the key ranges of its slices). None when there is nothing to export."""
        mapping = context.mapping
        with SourceDatabase(context.source_url, self.store.product_data) as source:
            plan = self.plan(source, context)
            after = decode_bound(mapping.watermark)
            lookback = LookBack.start(
                mapping.watermark,
                seconds=self.settings.lookback_seconds,
                max_keys=self.settings.lookback_max_keys,
            )
            until = self._high_water(source, plan, after, lookback.since)
            if until is None:
                return None
            window = Window(after=after, until=until, since=lookback.since)
            lookback.plan_cutoff(until)
            self.store.jobs.set_window(job.id, control.owner, window_document(window))
            if self._others_can_help():
                ranges = slice_ranges(source, plan, window, self.settings.slice_rows)
                if ranges:
                    return SourceRead(until, lookback, ranges, RecordCounts(), [])
            counts, files = self.extract(
                source, plan, window, workdir, control, file_format, lookback
            )
        return SourceRead(until, lookback, [], counts, files)

    def _others_can_help(self) -> bool:
        """Whether other workers run to take slices (alone, a whole window reads faster)."""
        if self.settings.slice_rows <= 0:
            return False
        lease = timedelta(seconds=self.settings.lease_seconds)
        return len(self.store.workers.alive(utcnow(), lease)) >= 2

    def _pause_at(self, stage: FaultStage) -> None:
        pause_at(stage, self.settings.fault_pause_at, self.settings.home)

    def _high_water(
        self, source: SourceDatabase, plan: ExportPlan, after: Bound | None, since: Since | None
    ) -> Bound | None:
        """The job's upper bound; never before ``after`` (the look-back may find only
        older rows)."""
        # Read through SQLAlchemy so that the bound binds back with the same type processing.
        row = source.first_row(plan.high_water_query(after, since))
        if row is None:
            return None
        until = Bound(audit=row[0], key=row[1])
        if after is not None and (until.audit, until.key) < (after.audit, after.key):
            return after
        return until

    def extract(
        self,
        source: SourceDatabase,
        plan: ExportPlan,
        window: Window,
        workdir: Path,
        control: JobControl,
        file_format: FileFormat,
        lookback: LookBack,
        key_range: KeyRange | None = None,
    ) -> tuple[RecordCounts, list[WrittenFile]]:
        """Read the window's rows (of ``key_range`` only, for a slice), shape and check them, and
        write the accepted records into files under ``workdir``."""
        shaper = RecordShaper(plan.schema.root, plan.labels, plan.constant_paths)
        checks = RecordChecks(plan.schema, shaper.output_schema)
        counts = RecordCounts()
        writer = BatchFileWriter(
            workdir,
            file_format=file_format,
            schema=shaper.output_schema,
            max_file_bytes=self.settings.max_file_bytes,
            compression=self.settings.parquet_compression,
        )
        try:
            # A first export reads the whole table: a scan beats the audit index there.
            for batch in source.read_batches(
                plan.rows_query(window, key_range),
                batch_rows=self.settings.extract_batch_rows,
                scan=window.after is None and key_range is None,
            ):
                control.check()
                skipped = lookback.skip(batch.column(KEY_LABEL), batch.column(AUDIT_LABEL))
                if skipped is not None:
                    batch = batch.filter(pc.invert(skipped))
                lookback.processed(batch.column(KEY_LABEL), batch.column(AUDIT_LABEL))
                shaped = shaper.shape(batch)
                keys = batch.column(KEY_LABEL)
                counts.sample(shaped.problems, keys)
                records = shaped.records
                checked = checks.check(records)
                if checked.rejected_count:
                    accepted = pc.indices_nonzero(pc.invert(shaped.rejected))
                    counts.sample(checked.problems, keys.take(accepted))
                    records = records.filter(pc.invert(checked.rejected))
                counts.read += batch.num_rows
                counts.ingested += records.num_rows
                counts.rejected += batch.num_rows - records.num_rows
                if records.num_rows:
                    writer.write(records)
                self._pause_at("extract")
        finally:
            files = writer.close()
        self._pause_at("written")
        counts.skipped = lookback.skipped
        return counts, files

    def _open_batch(
        self,
        chosen: OpenedDestination,
        job: Job,
        dataset_id: str,
        control: JobControl,
        watermark: dict[str, Any] | None = None,
    ) -> str:
        """Create the job's batch and record it on the job at once (with ``watermark``)."""
        batch_id = chosen.destination.create_batch(
            org=job.org_id,
            dataset=dataset_id,
            batch_key=batch_key(job),
            file_format=chosen.file_format,
        )
        control.batch_id = batch_id
        bind_log_context(batch=batch_id)
        self.store.jobs.record_batch(job.id, control.owner, batch_id, watermark)
        return batch_id

    def _refuse(
        self,
        chosen: OpenedDestination,
        job: Job,
        dataset_id: str,
        counts: RecordCounts,
        control: JobControl,
        batch_id: str = "",
    ) -> None:
        """Fail the job over its threshold: its batch (created now if it has none) is
        aborted and reported."""
        batch_id = batch_id or self._open_batch(chosen, job, dataset_id, control)
        chosen.destination.abort(batch_id)
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

    def _deliver(
        self,
        chosen: OpenedDestination,
        job: Job,
        dataset_id: str,
        files: list[WrittenFile],
        counts: RecordCounts,
        control: JobControl,
        watermark: dict[str, Any],
        batch_id: str = "",
    ) -> JobOutcome:
        """Send the files into the job's batch (created now if it has none), complete it,
        and follow it until the destination accepts it."""
        details = counts.details()
        destination = chosen.destination
        if counts.ingested == 0:
            if batch_id:
                destination.abort(batch_id)  # a sliced job's batch, left empty
            return JobOutcome(
                records_read=counts.read, records_rejected=counts.rejected, details=details
            )
        try:
            # The watermark is kept with the batch before it completes: recovery needs both.
            if batch_id:
                self.store.jobs.record_batch(job.id, control.owner, batch_id, watermark)
            else:
                batch_id = self._open_batch(chosen, job, dataset_id, control, watermark)
            self._pause_at("created")
            for written in files:
                control.check()
                destination.put_file(batch_id, written.name, written.path, rows=written.rows)
            control.check()
            destination.complete(batch_id)
            self.store.jobs.mark_uploaded(job.id, control.owner, batch_id)
            status = self._await_success(destination, batch_id, control)
            self._pause_at("completed")
        except DestinationError as exc:
            exc.batch_id = exc.batch_id or batch_id
            raise
        # The destination may refuse some records and still succeed (partial ingestion).
        ingested = (
            counts.ingested if status.records is None else min(status.records, counts.ingested)
        )
        if status.errors:
            details["destinationErrors"] = status.errors
        return JobOutcome(
            records_read=counts.read,
            records_ingested=ingested,
            records_rejected=counts.rejected + counts.ingested - ingested,
            batch_id=batch_id,
            details=details,
        )

    def _await_success(
        self, destination: Destination, batch_id: str, control: JobControl
    ) -> BatchStatus:
        """The batch's final status once it succeeded; polls sooner at first, then less often
        (``Settings.status_poll_policy``)."""
        try:
            status = self.settings.status_poll_policy().poll(
                lambda: destination.status(batch_id),
                done=lambda status: status.state in _FINAL_STATES,
                check=control.check,
                what=f"status of batch {batch_id}",
            )
        except TimeoutError:
            raise DestinationError(
                f"batch {batch_id} was not processed in time", batch_id=batch_id, transient=True
            ) from None
        if status.state is not BatchState.SUCCESS:
            why = f": {status.error_text}" if status.errors else ""
            raise DestinationError(
                f"the destination ended batch {batch_id} {status.state.value}{why}",
                batch_id=batch_id,
                errors=status.errors,
            )
        return status
