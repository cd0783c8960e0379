"""The extraction stage: a window's rows read from the source, shaped into XDM records,
checked, and written into batch files.

The rows come as Arrow record batches (``sources/database.py``); the look-back skips the
versions already exported (``pipeline/lookback.py``); ``RecordShaper`` nests the flat
columns as the dataset's schema has them (``pipeline/shaping.py``); ``RecordChecks``
validates them (``pipeline/validate.py``). Records that shaping or validation refuse are
counted and sampled (primary key, XDM path, value, reason), not written. The accepted ones
go into files of the destination's format (``pipeline/files.py``), under the run's work
folder; nothing reaches the destination here (``pipeline/delivery.py`` sends them)::

    extracted = extract(settings, run, source, plan, window, lookback)
    extracted.counts.ingested, [written.name for written in extracted.files]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from xdm_connector.destinations.base import IdentityDeletes
from xdm_connector.domain.lake_modes import SEQUENCE_COLUMN, LakeMode
from xdm_connector.domain.windows import KeyRange, Window
from xdm_connector.faults import pause_at
from xdm_connector.pipeline.counts import RecordCounts
from xdm_connector.pipeline.deletes import DeleteWriter
from xdm_connector.pipeline.delivered_records import DeliveredEntries
from xdm_connector.pipeline.files import BatchFileWriter, WrittenFile
from xdm_connector.pipeline.lookback import LookBack
from xdm_connector.pipeline.plan import AUDIT_LABEL, DELETED_LABEL, KEY_LABEL, ExportPlan
from xdm_connector.pipeline.row_sequence import RowSequence
from xdm_connector.pipeline.setup import JobRun
from xdm_connector.pipeline.shaping import RecordShaper
from xdm_connector.pipeline.validate import RecordChecks
from xdm_connector.settings import Settings
from xdm_connector.sources.database import SourceDatabase


@dataclass(frozen=True)
class Extracted:
    """What one extraction wrote: its counts, and its files (in the order written)."""

    counts: RecordCounts
    files: list[WrittenFile]
    deletes: list[WrittenFile] = field(default_factory=list)
    """Files of the keys to delete (soft-deleted records), ``pipeline/deletes.py``."""
    entries: list[WrittenFile] = field(default_factory=list)
    """At the platform, the key, digest and identity of each record written
    (``pipeline/delivered_records.py``)."""


def extract(
    settings: Settings,
    run: JobRun,
    source: SourceDatabase,
    plan: ExportPlan,
    window: Window,
    lookback: LookBack,
    key_range: KeyRange | None = None,
) -> Extracted:
    """Read the window's rows (of ``key_range`` only, for a slice), shape and check them,
    and write the accepted records into files under the run's folder, in its destination's
    format, as ``settings`` size and compress them; raises ``JobAborted`` between record
    batches once the job must stop."""
    records = RecordFiles(settings, run, plan)
    try:
        # A first export reads the whole table: a scan beats the audit index there.
        for batch in source.read_batches(
            plan.rows_query(window, key_range),
            batch_rows=settings.extract_batch_rows,
            scan=window.after is None and key_range is None,
        ):
            run.control.check()
            skipped = lookback.skip(batch.column(KEY_LABEL), batch.column(AUDIT_LABEL))
            if skipped is not None:
                batch = batch.filter(pc.invert(skipped))
            lookback.processed(batch.column(KEY_LABEL), batch.column(AUDIT_LABEL))
            records.add(batch)
            pause_at("extract", settings.fault_pause_at, settings.home)
    finally:
        extracted = records.close()
    pause_at("written", settings.fault_pause_at, settings.home)
    extracted.counts.skipped = lookback.skipped
    return extracted


class RecordFiles:
    """Rows of a plan's query shaped, checked and written into files under ``folder`` (the
    run's folder by default): the accepted records, and the keys of the soft-deleted ones
    (``pipeline/deletes.py``); counts and samples the refused ones. Into an ``append``
    table of the lake every row also gets its order of versions (``SEQUENCE_COLUMN``)."""

    def __init__(
        self, settings: Settings, run: JobRun, plan: ExportPlan, folder: Path | None = None
    ) -> None:
        folder = run.workdir if folder is None else folder
        self.plan = plan
        self.shaper = RecordShaper(plan.schema.root, plan.labels, plan.constant_paths)
        self.checks = RecordChecks(plan.schema, self.shaper.output_schema)
        self.counts = RecordCounts()
        self.sequence = row_sequence(run)
        schema = self.shaper.output_schema
        if self.sequence is not None:
            schema = schema.append(pa.field(SEQUENCE_COLUMN, pa.int64()))
        self.writer = BatchFileWriter(
            folder,
            file_format=run.opened.file_format,
            schema=schema,
            max_file_bytes=settings.max_file_bytes,
            compression=settings.parquet_compression,
        )
        # A destination without files of deletes (the platform) deletes by identity.
        self.deletes = DeleteWriter(
            folder / "deletes",
            with_identities=not run.opened.takes_deletes,
            sequence=self.sequence,
        )
        # The platform keeps no table to compare with: the product keeps what it sent.
        self.entries = (
            DeliveredEntries(folder / "delivered", self.shaper.output_schema)
            if isinstance(run.opened.destination, IdentityDeletes)
            else None
        )

    def add(self, batch: pa.RecordBatch) -> None:
        """Shape, check and write the rows of ``batch``."""
        shaper, checks, counts = self.shaper, self.checks, self.counts
        if self.plan.deleted is not None:
            batch = _split_deletes(batch, shaper, self.deletes, counts)
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
            if self.sequence is None:
                self.writer.write(records)
            else:
                sequence = self.sequence.take(records.num_rows)
                self.writer.write(records.append_column(SEQUENCE_COLUMN, sequence))
            if self.entries is not None:
                self.entries.write(records)

    def close(self) -> Extracted:
        """Finish the files; answers the counts and every file written, in order."""
        try:
            files = self.writer.close()
        finally:
            delete_files = self.deletes.close()
            entries = self.entries.close() if self.entries is not None else []
        return Extracted(self.counts, files, delete_files, entries)


def row_sequence(run: JobRun) -> RowSequence | None:
    """The order of versions of the rows ``run`` writes, when its dataset is an ``append``
    table of the lake (None: an ``upsert`` table or the platform keep one row per key)."""
    tables = run.opened.tables
    if tables is None or tables.mode(run.job.org_id, run.context.dataset_id) != LakeMode.APPEND:
        return None
    return RowSequence(run.job.id)


def _split_deletes(
    batch: pa.RecordBatch, shaper: RecordShaper, deletes: DeleteWriter, counts: RecordCounts
) -> pa.RecordBatch:
    """The rows of ``batch`` that live; the keys of the soft-deleted ones go to ``deletes``."""
    deleted = pc.fill_null(batch.column(DELETED_LABEL), False)
    if not pc.any(deleted).as_py():
        return batch
    gone = shaper.shape(batch.filter(deleted)).records
    deletes.write_records(gone)
    counts.read += gone.num_rows
    counts.deleted += gone.num_rows
    return batch.filter(pc.invert(deleted))
