"""One export job, from set-up to delivery, as stages; the worker then commits it (job
``Success`` and the new watermark in one transaction, ``jobs/worker.py``).

::

    set-up      the mapping as published, its source and dataset (pipeline/setup.py)
    plan        the mapping compiled against the source, the look-back started, and the
                window up to the high-water mark read now, recorded on the job
    extract     rows read, shaped, checked and written into files (pipeline/extraction.py),
                or, for a window too large for one worker, cut into slices that every
                worker extracts into the batch (pipeline/slicing.py)
    deliver     the batch opened, filled, completed and followed (pipeline/delivery.py)

A read of the source that fails transiently is read again from the start of the window,
its files discarded (``pipeline/source_retries.py``). Records that shaping or validation
refuse are counted and sampled; above the mapping's ``rejectedThresholdPercent`` the job
fails with its batch aborted (``TooManyRejected``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from xdm_connector.destinations.base import Destination
from xdm_connector.domain.job_states import JobTrigger
from xdm_connector.domain.lake_modes import LakeMode
from xdm_connector.domain.windows import (
    Bound,
    KeyRange,
    Since,
    Window,
    decode_bound,
    encode_bound,
    window_document,
)
from xdm_connector.pipeline.control import JobControl
from xdm_connector.pipeline.counts import RecordCounts
from xdm_connector.pipeline.delivered_records import delivered_side
from xdm_connector.pipeline.delivery import Delivery
from xdm_connector.pipeline.extraction import extract
from xdm_connector.pipeline.files import WrittenFile
from xdm_connector.pipeline.lookback import LookBack
from xdm_connector.pipeline.plan import ExportPlan
from xdm_connector.pipeline.reconciliation import SWEPT_AT, Reconciliation, renamed, sweep_due
from xdm_connector.pipeline.setup import JobRun, JobSetup
from xdm_connector.pipeline.slicing import SliceRunner, slice_ranges
from xdm_connector.settings import Settings
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import Job, utcnow
from xdm_connector.store.store import Store

log = logging.getLogger(__name__)


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
    deletes: list[WrittenFile]
    entries: list[WrittenFile] = dataclasses.field(default_factory=list)
    """At the platform, what the job's records are (``pipeline/delivered_records.py``)."""
    reconciled: dict[str, Any] | None = None
    """What the job's reconciliation found, when it swept (``pipeline/reconciliation.py``)."""
    sweep_at: datetime | None = None
    """When a job cut into slices sweeps, once its slices are written: its read time."""
    window: Window | None = None
    """The window of a job cut into slices."""


@dataclass(frozen=True)
class ExportResult:
    """What a successful export records: counts, batch, and the new watermark."""

    outcome: JobOutcome
    watermark: dict[str, Any] | None


def high_water(
    source: SourceDatabase, plan: ExportPlan, after: Bound | None, since: Since | None
) -> Bound | None:
    """The job's upper bound: the last row in export order now; never before ``after``
    (the look-back may find only older rows). None when the window has no row."""
    # Read through SQLAlchemy so that the bound binds back with the same type processing.
    row = source.first_row(plan.high_water_query(after, since))
    if row is None:
        return None
    until = Bound(audit=row[0], key=row[1])
    if after is not None and (until.audit, until.key) < (after.audit, after.key):
        return after
    return until


class Exporter:
    """Runs export jobs (``run``) and the slices of large ones (``slices``), against their
    source and their organization's destination (``JobSetup``: a ``destination`` given
    here serves every organization instead, tests)."""

    def __init__(
        self, store: Store, settings: Settings, *, destination: Destination | None = None
    ) -> None:
        self.settings = settings
        self.setup = JobSetup(store, settings, destination=destination)
        self.slices = SliceRunner(self.setup)

    def run(self, job: Job, control: JobControl) -> ExportResult:
        """Export the job's window; raises ``ExportError`` or ``JobAborted`` on failure.

        A window of more than ``slice_rows`` rows, when other workers run, is cut into key
        ranges that every worker may take (``pipeline/slicing.py``); this worker takes part,
        then completes the batch.
        """
        setup = self.setup
        context = setup.context(job)
        try:
            with setup.running(job, context, control, setup.work.of_job(job)) as run:
                read = setup.read(
                    run,
                    lambda source, plan, lookback: self._read(run, source, plan, lookback),
                    retries=control.source_retries,
                    what=f"job {job.id}",
                )
                if read is None:
                    return ExportResult(JobOutcome(), context.mapping.watermark)
                delivery = Delivery(setup.store, self.settings, run)
                counts, files, lookback = read.counts, read.files, read.lookback
                batch_id = ""
                if read.ranges:
                    batch_id = delivery.open_batch()
                    counts = self.slices.coordinate(job, context, read.ranges, lookback, control)
                    if read.sweep_at is not None:
                        read = self._sweep_slices(run, dataclasses.replace(read, counts=counts))
                        counts, files = read.counts, read.files
                watermark = encode_bound(read.until)
                recent = lookback.document()
                if recent is not None:
                    watermark["lookback"] = recent
                counts.lookback_dropped = lookback.dropped
                narrowed = lookback.narrowing_warning(
                    repaired=context.definition.deletes is not None
                )
                if narrowed is not None:
                    log.warning("job %s: %s", job.id, narrowed)
                    counts.warnings.append(narrowed)
                counts.threshold = context.definition.rejected_threshold_percent
                if counts.over_threshold:
                    delivery.refuse(counts, batch_id)
                swept_at = (context.mapping.watermark or {}).get(SWEPT_AT)
                if read.reconciled is not None:
                    swept_at = read.reconciled.get("at", swept_at)  # none when skipped
                if swept_at is not None:
                    watermark[SWEPT_AT] = swept_at
                outcome = delivery.deliver(
                    files, counts, watermark, batch_id, read.deletes, entries=read.entries
                )
                if read.reconciled is not None and outcome.details is not None:
                    outcome.details["reconciliation"] = read.reconciled
            return ExportResult(outcome, watermark)
        finally:
            # Before the worker records how the job ended, so that whoever sees it ended
            # finds its folders gone (its own is, once the run ends; those of its slices'
            # dead workers too).
            setup.work.remove_ended(setup.store, job.id)

    def _read(
        self, run: JobRun, source: SourceDatabase, plan: ExportPlan, lookback: LookBack
    ) -> SourceRead | None:
        """One read of the job's window from its planned source: its high-water mark, then
        its rows written into files under the run's folder (or, when other workers can
        help, the key ranges of its slices). None when there is nothing to export."""
        after = decode_bound(run.context.mapping.watermark)
        until = high_water(source, plan, after, lookback.since)
        now = utcnow()
        sweep = run.job.trigger == JobTrigger.RECONCILE or sweep_due(
            run.context.definition, run.context.mapping.watermark, now
        )
        if until is None:
            if not sweep or after is None:
                return None
            until = after  # nothing new, yet the sweep is due: it runs on its own
        window = Window(after=after, until=until, since=lookback.since)
        lookback.plan_cutoff(until)
        self.setup.store.jobs.set_window(run.job.id, run.control.owner, window_document(window))
        if self._others_can_help():
            ranges = slice_ranges(source, plan, window, self.settings.slice_rows)
            if ranges:
                # The sweep waits for the slices: once per job, after its records are read.
                return SourceRead(
                    until,
                    lookback,
                    ranges,
                    RecordCounts(),
                    [],
                    [],
                    sweep_at=now if sweep else None,
                    window=window,
                )
        extracted = extract(self.settings, run, source, plan, window, lookback)
        read = SourceRead(
            until,
            lookback,
            [],
            extracted.counts,
            extracted.files,
            extracted.deletes,
            extracted.entries,
        )
        if sweep:
            read = self._sweep(run, source, plan, read, now)
        return read

    def _sweep_slices(self, run: JobRun, read: SourceRead) -> SourceRead:
        """The sweep of a job cut into slices, once they are written: the rows of its
        window are the slices' (``Reconciliation``'s ``window``)."""
        assert read.sweep_at is not None
        at = read.sweep_at
        return self.setup.read(
            run,
            lambda source, plan, _lookback: self._sweep(run, source, plan, read, at, read.window),
            retries=run.control.source_retries,
            what=f"the reconciliation of job {run.job.id}",
        )

    def _sweep(
        self,
        run: JobRun,
        source: SourceDatabase,
        plan: ExportPlan,
        read: SourceRead,
        now: datetime,
        window: Window | None = None,
    ) -> SourceRead:
        """The job's read with its reconciliation's repairs and deletes added (a table of
        the lake, or the platform's records as the product delivered them; another
        destination is noted, not swept)."""
        tables = run.opened.tables
        org, dataset = run.job.org_id, run.context.dataset_id
        delivered = delivered_side(self.setup.store, run)
        table, mode = None, LakeMode.UPSERT
        if delivered is None:
            if tables is None:
                note = {"skipped": "only a table of the lake, or the platform, is reconciled"}
                return dataclasses.replace(read, reconciled=note)
            table, mode = tables.table(org, dataset), tables.mode(org, dataset)
        sweep = Reconciliation(
            self.settings, run, source, plan, table, run.workdir / "sweep", window, mode, delivered
        )
        delivered_now = [*read.files, *read.deletes]
        differences = sweep.compare(delivered_now)
        repair = sweep.repair(delivered_now)
        counts = read.counts
        counts.add(repair.counts)
        reconciled = {
            "at": now.isoformat(),
            **differences.document(),
            "recordsRepaired": repair.counts.ingested,
        }
        return dataclasses.replace(
            read,
            counts=counts,
            files=[*read.files, *renamed(repair.files, "repair-")],
            deletes=[*read.deletes, *renamed(repair.deletes, "repair-")],
            entries=[*read.entries, *repair.entries],
            reconciled=reconciled,
        )

    def _others_can_help(self) -> bool:
        """Whether other workers run to take slices (alone, a whole window reads faster)."""
        if self.settings.slice_rows <= 0:
            return False
        lease = timedelta(seconds=self.settings.lease_seconds)
        return len(self.setup.store.workers.alive(utcnow(), lease)) >= 2
