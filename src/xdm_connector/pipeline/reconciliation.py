"""The reconciliation (sweep) of a mapping: the lake table compared with the whole source,
key by key, and repaired in the job's commit.

Both sides are reduced to ``(_id, digest)`` by one function, ``record_digests`` (DuckDB's
``md5`` of the record's columns as JSON, over the record shaped as the mapping makes it and
cast to the dataset's record schema), so that a record equal on both sides has one digest.
The source is read in Arrow batches, in no order (the join needs none), shaped and checked as an export does, and
its keys and digests written to ``source.parquet`` in the job's work folder; the lake table's
(its Arrow dataset, read in batches) to ``lake.parquet``. DuckDB then joins the two files;
no side is ever held whole in Python objects. A side of more than ``KEYS_PER_BUCKET`` rows
is first split by a hash of ``_id`` into buckets of about that many keys (every version of
a key in one bucket, on both sides), and the buckets are compared one after the other: a
join's memory is a bucket's, whatever the table's size::

    missing          lake keys without a live source record: deletes (soft-deleted ones
                     always, gone ones when ``detectHardDeletes``)
    differing        keys whose digests differ: exported again
    never delivered  live, valid source records the table lacks: exported again

The keys the job itself delivers are left to it: its own files' (``delivered_now``), or,
for a job cut into slices whose files other workers wrote, the keys of the source rows in
its window (``window``). The records to export again are read again by key (``ExportPlan.rows_by_key_query``), and
the candidate deletes are checked again against the source by their ``_id`` just before
they are written (a record inserted during the sweep is exported, never deleted); both
travel in the job's batch, so the lake applies them in the job's one commit
(``pipeline/export.py``).

An ``upsert`` table's rows are its current state. An ``append`` table keeps every version:
its current state is, per ``_id``, the row of the greatest ``_xdmc_sequence`` (the order of
versions its rows carry, ``pipeline/row_sequence.py``; rows of a table written before it,
which lack it, come before, ordered by their file's commit time, then their place in the
file), unless that row is a delete's (``_xdmc_deleted``); the lake side is reduced to that
before the join. At the platform, which keeps no table to read
back, ``lake.parquet`` is written from the records the product delivered there (a
``DeliveredSide``, ``pipeline/delivered_records.py``), and a gone key is deleted by the
identity it was delivered with.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

from xdm_connector.domain.lake_modes import (
    DELETED_COLUMN,
    SEQUENCE_COLUMN,
    UPSERT_KEY,
    LakeMode,
)
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.domain.windows import Window
from xdm_connector.errors import ExportError, InvalidInput
from xdm_connector.pipeline.control import JobControl
from xdm_connector.pipeline.delivered_records import delivered_side
from xdm_connector.pipeline.digests import record_digests
from xdm_connector.pipeline.duckdb_connections import bounded_connection
from xdm_connector.pipeline.extraction import Extracted, RecordFiles
from xdm_connector.pipeline.files import WrittenFile
from xdm_connector.pipeline.plan import DELETED_LABEL, IN_WINDOW_LABEL, KEY_LABEL, ExportPlan
from xdm_connector.pipeline.setup import JobRun, JobSetup
from xdm_connector.settings import Settings
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

if TYPE_CHECKING:
    import duckdb

SWEPT_AT = "sweptAt"
"""The watermark document's field of the last reconciliation's time (ISO 8601, UTC)."""
KEYS_PER_READ = 500
"""Keys read again per query (bound parameters: under every source's limit)."""
LAKE_BATCH_ROWS = 8_192
"""Rows of the lake table read at a time (all the record's columns, to digest them)."""
KEYS_PER_BUCKET = 250_000
"""Rows of a side compared at a time: DuckDB's join and grouping of a bucket this size fit
its memory cap (``duckdb_connections.MEMORY_LIMIT``); 10 M keys at once do not."""
SPLIT_BATCH_ROWS = 65_536
"""Rows of a side's file read at a time while it is split into buckets."""
SPLIT_BATCHES_PER_FILE = 16
"""Batches split into one file of each bucket before the next files: a Parquet writer keeps
each of its row groups' metadata (a few KiB) until it is closed, and a batch adds one row
group to every bucket."""
DIGEST = "_digest"
SEQUENCE = "_sequence"
LIVE = "_live"
COMMITTED_AT = "_committed_at"
ROW = "_row"
IN_JOB = "_in_job"
BUCKET = "_bucket"
SIDES = ("source", "lake")
"""The two sides' files, ``<side>.parquet``, and their buckets', ``<side>-buckets/<n>/``."""


@dataclass(frozen=True)
class Differences:
    """What a reconciliation found: keys to delete, and records to export again."""

    missing: int = 0
    differing: int = 0
    never_delivered: int = 0

    def document(self) -> dict[str, int]:
        """As the job's details and the command's report show them."""
        return {
            "missing": self.missing,
            "differing": self.differing,
            "neverDelivered": self.never_delivered,
        }


def sweep_due(
    definition: MappingDefinition, watermark: dict[str, Any] | None, now: dt.datetime
) -> bool:
    """Whether a job of the mapping reconciles: it has a ``deletes`` section, was exported
    before, and its last sweep is ``sweepIntervalMinutes`` old (0: every job)."""
    rules = definition.deletes
    if rules is None or not watermark:
        return False
    last = watermark.get(SWEPT_AT)
    if last is None:
        return True
    elapsed = now - dt.datetime.fromisoformat(str(last))
    return elapsed >= dt.timedelta(minutes=rules.sweep_interval_minutes)


@dataclass(frozen=True)
class Bucket:
    """One bucket of the comparison: the rows whose ``_id`` hashes to ``number`` modulo
    ``count``, in each side's files (a file or a pattern DuckDB reads; with one bucket, the
    sides' whole files)."""

    number: int
    count: int
    source: str
    lake: str

    def holds(self, column: str) -> str:
        """A DuckDB condition: ``column`` (text) belongs to this bucket."""
        return "TRUE" if self.count == 1 else f"{bucket_of(column, self.count)} = {self.number}"


def bucket_of(column: str, count: int) -> str:
    """A DuckDB expression: the bucket, of ``count``, of ``column`` (text)."""
    return f"hash({column}) % {count}"


class DeliveredSide(Protocol):
    """The delivered side when no table can be read back (the platform): the records the
    product delivered, kept by it (``pipeline/delivered_records.py``)."""

    def batches(self) -> Iterator[pa.Table]:
        """``(_id, _digest)`` of each delivered record, in key order, in bounded batches."""
        ...

    def identities(self, ids: list[Any]) -> tuple[pa.Array, pa.Array]:
        """The primary identities (namespaces, ids) the records of ``ids`` were sent with."""
        ...


class Reconciliation:
    """One reconciliation of a run's lake ``table`` with its ``source``, in ``folder``;
    the rows of ``window`` are the job's own (a sliced job's); the sides are compared
    ``keys_per_bucket`` keys at a time (``KEYS_PER_BUCKET`` unless given)."""

    def __init__(
        self,
        settings: Settings,
        run: JobRun,
        source: SourceDatabase,
        plan: ExportPlan,
        table: DeltaTable | None,
        folder: Path,
        window: Window | None = None,
        mode: LakeMode = LakeMode.UPSERT,
        delivered: DeliveredSide | None = None,
        keys_per_bucket: int | None = None,
    ) -> None:
        self.settings = settings
        self.window = window
        self.mode = mode
        self.run = run
        self.source = source
        self.plan = plan
        self.table = table
        self.folder = folder
        self.delivered = delivered
        self.keys_per_bucket = keys_per_bucket or KEYS_PER_BUCKET
        self._buckets: list[Bucket] | None = None
        self.rules = plan.definition.deletes
        self._id_path = _id_path(plan)
        self._records = RecordFiles(settings, run, plan, folder / "compare")
        self.schema = self._records.shaper.output_schema
        folder.mkdir(parents=True, exist_ok=True)

    def compare(self, delivered_now: list[WrittenFile] | None = None) -> Differences:
        """Write both sides' keys and digests, and count the differences; records in
        ``delivered_now`` (the job's own files) are left to the job."""
        self._write_source()
        self._write_lake()
        self._buckets = None
        found = Differences()
        for bucket in self._split():
            with self._connection(delivered_now or [], bucket) as connection:
                found = Differences(
                    missing=found.missing + _count(connection, "missing"),
                    differing=found.differing + _count(connection, "differing"),
                    never_delivered=found.never_delivered + _count(connection, "never_delivered"),
                )
        return found

    def repair(self, delivered_now: list[WrittenFile] | None = None) -> Extracted:
        """The records to export again and the keys to delete, written into files (under
        ``folder/repair``) for the job's batch, after ``compare``."""
        files = RecordFiles(self.settings, self.run, self.plan, self.folder / "repair")
        again = "SELECT _key FROM differing UNION ALL SELECT _key FROM never_delivered"
        try:
            for bucket in self._split():
                with self._connection(delivered_now or [], bucket) as connection:
                    for keys in _chunks(connection, again):
                        self.run.control.check()
                        for batch in self._read(self.plan.rows_by_key_query(keys)):
                            files.add(batch)
                    for ids in _chunks(connection, "SELECT _id FROM missing"):
                        self.run.control.check()
                        self._delete(files, ids)
        finally:
            extracted = files.close()
        return extracted

    def _delete(self, files: RecordFiles, ids: list[Any]) -> None:
        """Delete ``ids``, checked again against the source: a record found now (inserted
        meanwhile) is exported instead; a soft-deleted one stays a delete."""
        found: set[Any] = set()
        for batch in self._read(self.plan.rows_by_id_query(self._id_path, ids)):
            shaped = self._records.shaper.shape(batch)
            found.update(shaped.records.column(UPSERT_KEY).cast(pa.string()).to_pylist())
            files.add(batch)
        gone = [key for key in ids if key not in found]
        if gone and self.rules is not None and self.rules.detect_hard_deletes:
            identities = self.delivered.identities(gone) if self.delivered else None
            files.deletes.write(pa.array(gone, self.schema.field(UPSERT_KEY).type), identities)
            files.counts.deleted += len(gone)

    def _read(self, query: Any) -> Iterator[pa.RecordBatch]:
        yield from self.source.read_batches(query, batch_rows=self.settings.extract_batch_rows)

    def _live(self, batch: pa.RecordBatch) -> pa.Array:
        if self.plan.deleted is None:
            return pa.repeat(True, batch.num_rows)
        return pc.invert(pc.fill_null(batch.column(DELETED_LABEL), False))

    def _write_source(self) -> None:
        """``source.parquet``: each source row's key, ``_id``, digest (null: refused by the
        checks) and whether it lives."""
        shaper, checks = self._records.shaper, self._records.checks
        writer: pq.ParquetWriter | None = None
        try:
            for batch in self.source.read_batches(
                self.plan.all_rows_query(self.window), batch_rows=self.settings.extract_batch_rows
            ):
                self.run.control.check()
                shaped = shaper.shape(batch)
                accepted = pc.indices_nonzero(pc.invert(shaped.rejected))
                records = shaped.records
                checked = checks.check(records)
                valid = records.filter(pc.invert(checked.rejected))
                kept = accepted.filter(pc.invert(checked.rejected))
                digests = record_digests(valid, self.schema)
                live = self._live(batch).take(kept)
                in_job = (
                    pc.fill_null(batch.column(IN_WINDOW_LABEL), False).take(kept)
                    if self.window is not None
                    else pa.repeat(False, len(kept))
                )
                part = pa.table(
                    {
                        KEY_LABEL: batch.column(KEY_LABEL).take(kept),
                        UPSERT_KEY: valid.column(UPSERT_KEY).cast(pa.string()),
                        DIGEST: digests,
                        LIVE: live,
                        IN_JOB: in_job,
                    }
                )
                if writer is None:
                    writer = pq.ParquetWriter(self.folder / "source.parquet", part.schema)
                writer.write_table(part)
        finally:
            if writer is not None:
                writer.close()

    def _write_lake(self) -> None:
        """``lake.parquet``: each lake row's ``_id`` and digest; in an ``append`` table also
        its order of versions (``_xdmc_sequence``, null on rows written before it), its
        file's commit time, its place in its file, and whether it is a delete's. The
        delivered side's, when it is not a table, is one current row per key."""
        schema = pa.schema(
            [
                (UPSERT_KEY, pa.string()),
                (DIGEST, pa.string()),
                (SEQUENCE, pa.int64()),
                (COMMITTED_AT, pa.int64()),
                (ROW, pa.int64()),
                (DELETED_COLUMN, pa.bool_()),
            ]
        )
        with pq.ParquetWriter(self.folder / "lake.parquet", schema) as writer:
            if self.delivered is not None:
                for part in self.delivered.batches():
                    self.run.control.check()
                    # One current row per key: no order of versions to keep.
                    rows = part.num_rows
                    unordered = pa.nulls(rows, pa.int64())
                    columns = [*part.columns, unordered, unordered, unordered]
                    writer.write_table(pa.table([*columns, pa.repeat(False, rows)], schema=schema))
                return
            if self.table is None:
                return
            committed = _commit_times(self.table)
            dataset = self.table.to_pyarrow_dataset()
            own = [
                name for name in (SEQUENCE_COLUMN, DELETED_COLUMN) if name in dataset.schema.names
            ]
            names = [*self.schema.names, *own]
            for fragment in dataset.get_fragments():
                at = committed.get(_relative(fragment.path, self.table), 0)
                row = 0
                for batch in _fragment_batches(fragment, names, dataset.schema):
                    self.run.control.check()
                    if not batch.num_rows:
                        continue
                    rows = batch.num_rows
                    part = [
                        batch.column(UPSERT_KEY).cast(pa.string()),
                        record_digests(batch, self.schema),
                        _column_or_nulls(batch, SEQUENCE_COLUMN, pa.int64()),
                        pa.repeat(at, rows).cast(pa.int64()),
                        pa.arange(row, row + rows),
                        pc.fill_null(_column_or_nulls(batch, DELETED_COLUMN, pa.bool_()), False),
                    ]
                    writer.write_table(pa.table(part, schema=schema))
                    row += rows

    def _split(self) -> list[Bucket]:
        """The buckets of the comparison, after both sides are written: one when neither
        side has more than ``keys_per_bucket`` rows, else each side's rows split into
        as many files (once; ``compare`` and ``repair`` read the same)."""
        if self._buckets is not None:
            return self._buckets
        files = {side: self.folder / f"{side}.parquet" for side in SIDES}
        rows = max(_rows(path) for path in files.values())
        count = max(1, math.ceil(rows / self.keys_per_bucket))
        if count == 1:
            self._buckets = [Bucket(0, 1, str(files["source"]), str(files["lake"]))]
            return self._buckets
        parts = {side: self.folder / f"{side}-buckets" for side in SIDES}
        with bounded_connection(self.folder / "spill") as connection:
            for side, path in files.items():
                if path.exists():
                    self._split_side(connection, path, parts[side], count)
                    path.unlink()  # its buckets hold its rows: the work folder's disk, once
        self._buckets = [
            Bucket(n, count, str(parts["source"] / f"{n}/*"), str(parts["lake"] / f"{n}/*"))
            for n in range(count)
        ]
        return self._buckets

    def _split_side(
        self, connection: duckdb.DuckDBPyConnection, path: Path, folder: Path, count: int
    ) -> None:
        """``path``'s rows into files under ``folder/<n>/`` (at least one, empty or not),
        ``n`` the bucket of their ``_id``."""
        # Read back through DuckDB for its hash, the one the buckets' queries use (the
        # job's own keys are filtered by it); DuckDB's partitioned COPY is not used: it
        # holds each partition's rows in memory and exceeds the cap at 10 M keys.
        hashed = bucket_of(UPSERT_KEY, count)
        relation = connection.read_parquet(str(path)).select(f"*, {hashed} AS {BUCKET}")
        reader = relation.to_arrow_reader(SPLIT_BATCH_ROWS)
        schema = reader.schema.remove(reader.schema.get_field_index(BUCKET))
        for number in range(count):
            (folder / str(number)).mkdir(parents=True, exist_ok=True)

        def files(first: int) -> list[pq.ParquetWriter]:
            """A file for each bucket, from the side's ``first`` batch on."""
            return [
                pq.ParquetWriter(folder / str(number) / f"{first}.parquet", schema)
                for number in range(count)
            ]

        writers = files(0)
        try:
            for index, batch in enumerate(reader):
                self.run.control.check()
                if index and index % SPLIT_BATCHES_PER_FILE == 0:
                    _close(writers)
                    writers = files(index)
                order = pc.sort_indices(batch.column(BUCKET))
                buckets = batch.column(BUCKET).take(order)
                rows = pa.Table.from_batches([batch.drop_columns([BUCKET])]).take(order)
                start = 0
                # In the order of first appearance: the sorted buckets' order.
                for entry in pc.value_counts(buckets).to_pylist():
                    size = int(entry["counts"])
                    writers[int(entry["values"])].write_table(rows.slice(start, size))
                    start += size
        finally:
            _close(writers)

    def _connection(
        self, delivered_now: list[WrittenFile], bucket: Bucket
    ) -> duckdb.DuckDBPyConnection:
        """DuckDB with the views of the comparison over one bucket of the two files."""
        # Bounded: a join larger than its memory spills into the job's work folder.
        connection = bounded_connection(self.folder / "spill")
        connection.read_parquet(str(bucket.source)).create_view("source_rows")
        lake = connection.read_parquet(str(bucket.lake))
        if self.mode is LakeMode.APPEND:
            # The current state: each key's latest row, unless a delete's. Rows without an
            # order of versions were written before it: older than any with one.
            lake.create_view("lake_versions")
            connection.execute(
                """
                CREATE VIEW lake_rows AS SELECT _id, _digest FROM (
                  SELECT _id, _digest, _xdmc_deleted, row_number() OVER (
                    PARTITION BY _id
                    ORDER BY _sequence DESC NULLS LAST, _committed_at DESC, _row DESC
                  ) AS latest
                  FROM lake_versions)
                WHERE latest = 1 AND NOT _xdmc_deleted
                """
            )
        else:
            lake.create_view("lake_rows")
        # The job's own keys: its files', and its window's rows (a sliced job).
        connection.execute("CREATE VIEW window_rows AS SELECT _id FROM source_rows WHERE _in_job")
        if delivered_now:
            paths = [str(written.path) for written in delivered_now]
            files = (
                connection.read_parquet(paths)
                .select(f"CAST({UPSERT_KEY} AS VARCHAR) AS _id")
                .filter(bucket.holds("_id"))
            )
            files.union(connection.sql("SELECT _id FROM window_rows")).create_view("job_rows")
        else:
            connection.execute("CREATE VIEW job_rows AS SELECT _id FROM window_rows")
        hard = bool(self.rules and self.rules.detect_hard_deletes)
        connection.execute("CREATE TABLE rules AS SELECT ?::BOOLEAN AS hard", [hard])
        # A key the source lacks is deleted only when hard deletes are detected; a
        # soft-deleted one always. Joins, not NOT IN: DuckDB spills a join's hash table,
        # and a NULL in a NOT IN list would hide every difference.
        connection.execute(
            """
            CREATE VIEW job_keys AS SELECT CAST(_id AS VARCHAR) AS _id FROM job_rows;
            CREATE VIEW source_keys AS
              SELECT _id, bool_or(_live) AS live FROM source_rows GROUP BY _id;
            CREATE VIEW missing AS
              SELECT l._id FROM lake_rows l LEFT JOIN source_keys s ON s._id = l._id
              WHERE s.live IS NOT TRUE
                AND NOT EXISTS (SELECT 1 FROM job_keys j WHERE j._id = l._id)
                AND ((SELECT hard FROM rules) OR s._id IS NOT NULL);
            CREATE VIEW differing AS
              SELECT s._key FROM source_rows s JOIN lake_rows l ON l._id = s._id
              WHERE s._live AND s._digest IS DISTINCT FROM l._digest
                AND NOT EXISTS (SELECT 1 FROM job_keys j WHERE j._id = s._id);
            CREATE VIEW never_delivered AS
              SELECT s._key FROM source_rows s ANTI JOIN lake_rows l ON l._id = s._id
              WHERE s._live
                AND NOT EXISTS (SELECT 1 FROM job_keys j WHERE j._id = s._id);
            """
        )
        return connection


def _fragment_batches(
    fragment: Any, names: list[str], schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """The ``names`` columns of a table's file, ``LAKE_BATCH_ROWS`` rows at a time; a column
    the file lacks (an older file: a delete's columns) is null."""
    with fragment.open() as handle:
        # One thread, no buffering ahead: Arrow's dataset scan holds several row groups
        # decoded at once, and a thread pool's memory besides.
        parquet = pq.ParquetFile(handle, pre_buffer=False)
        present = [name for name in names if name in parquet.schema_arrow.names]
        for batch in parquet.iter_batches(LAKE_BATCH_ROWS, columns=present, use_threads=False):
            columns = [
                batch.column(name)
                if name in present
                else pa.nulls(batch.num_rows, schema.field(name).type)
                for name in names
            ]
            yield pa.record_batch(columns, names=names)


def _column_or_nulls(batch: pa.RecordBatch, name: str, kind: pa.DataType) -> pa.Array:
    """``batch``'s column ``name``, or nulls when the table has no such column."""
    return batch.column(name) if name in batch.schema.names else pa.nulls(batch.num_rows, kind)


def _commit_times(table: DeltaTable) -> dict[str, int]:
    """Each file of the table (its path in the log) → when its commit added it (ms)."""
    actions = table.get_add_actions(flatten=True)
    paths = actions.column("path").to_pylist()
    times = pc.cast(pa.chunked_array(actions.column("modification_time")), pa.int64())
    return dict(zip(paths, times.to_pylist(), strict=True))


def _relative(path: str, table: DeltaTable) -> str:
    """A fragment's path as the table's log names it (relative to the table's root)."""
    root = table.table_uri.rstrip("/").split("://", 1)[-1]
    return path.split(root, 1)[-1].lstrip("/") if root in path else path


def _id_path(plan: ExportPlan) -> str:
    for path in plan.targets:
        if path.strip("/") == UPSERT_KEY:
            return path
    raise ExportError(
        f"a reconciliation compares records by {UPSERT_KEY}: map /{UPSERT_KEY}",
        code="ACP-880185",
    )


def _close(writers: list[pq.ParquetWriter]) -> None:
    for writer in writers:
        writer.close()


def _rows(path: Path) -> int:
    """Rows of a side's file (none when the side wrote no file)."""
    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


def _count(connection: duckdb.DuckDBPyConnection, view: str) -> int:
    row = connection.execute(f"SELECT count(*) FROM {view}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


def _chunks(connection: duckdb.DuckDBPyConnection, query: str) -> Iterator[list[Any]]:
    """The first column of ``query``, ``KEYS_PER_READ`` values at a time."""
    reader = connection.sql(query).to_arrow_reader(KEYS_PER_READ)
    for batch in reader:
        if batch.num_rows:
            yield batch.column(0).to_pylist()


def renamed(files: list[WrittenFile], prefix: str) -> list[WrittenFile]:
    """``files`` named ``prefix`` and their own name in the batch (beside the job's)."""
    return [dataclasses.replace(written, name=prefix + written.name) for written in files]


def compare_mapping(store: Store, settings: Settings, org: str, mapping_id: str) -> Differences:
    """A dry run: the published mapping's source compared with its lake table, in a work
    folder of its own, removed after; nothing is written to the lake or the store."""
    setup = JobSetup(store, settings)
    # The context reads the job's organization and mapping only; this job is never stored.
    probe = Job(id=0, attempt=0, org_id=org, mapping_id=mapping_id)
    context = setup.context(probe)
    control = JobControl(owner="reconcile")
    workdir = setup.work.root / f"reconcile-{uuid.uuid4().hex[:8]}"
    with setup.running(probe, context, control, workdir) as run:
        tables = run.opened.tables
        delivered = delivered_side(store, run)
        table, mode = None, LakeMode.UPSERT
        if delivered is None:
            if tables is None:
                raise InvalidInput(
                    "only a mapping whose dataset is a table of the lake, or of the platform, "
                    "is reconciled"
                )
            table = tables.table(org, context.dataset_id)
            mode = tables.mode(org, context.dataset_id)

        def body(source: SourceDatabase, plan: ExportPlan, _lookback: object) -> Differences:
            reconciliation = Reconciliation(
                settings, run, source, plan, table, workdir, mode=mode, delivered=delivered
            )
            return reconciliation.compare()

        return setup.read(run, body, retries=control.source_retries, what="reconciliation")
