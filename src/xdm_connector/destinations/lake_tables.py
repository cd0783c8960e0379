"""The lake: one Delta Lake table per dataset, on a local folder or in S3; one commit per job.

::

    <lake>/<org>/<dataset>/_delta_log/                  the dataset's Delta table: its log,
    <lake>/<org>/<dataset>/<batch_id>/part-00000.parquet   and the files of its commits
    <lake>/_staging/<org>/<dataset>/<batch_id>/         files put into a batch not yet complete
    <lake>/_batches/<batch_id>.json                     each batch's record

Any Delta reader sees the committed records only (``deltalake.DeltaTable(<lake>/acme/
profiles)``, DuckDB's ``delta_scan``, polars, pandas, Spark): a batch's files are put
outside the table, and ``complete`` makes them visible in **one Delta commit**, whatever
the number of files or of the workers that put them (a sliced job's slices). The table is
created by its first commit.

**Exactly once.** Each commit carries a Delta transaction identifier (``txn``): the
mapping as application id, the job as version (``transaction_of``). ``complete`` reads the
table's version for the mapping first, and a job already committed is not committed again;
two attempts racing to commit the same job conflict in delta-rs (a commit whose ``txn``
another commit took meanwhile fails), and the one that lost finds the job committed when
tried again. So a retried, recovered or repeated ``complete`` never doubles the data. The
commit's information names the batch, mapping and job (``xdmc.batch``, ``xdmc.mapping``,
``xdmc.job``): ``lake history`` shows them, ``lake query --as-of-request`` finds the version.

**Modes** (``domain/lake_modes.py``), read for each commit from ``modes``: ``append`` adds
the batch's files as they are (moved into the table's folder, not rewritten); ``upsert``
merges them on ``_id``: the table's files holding a key of the batch (a record's or a
delete's) are rewritten without those rows, one row group at a time, and the batch's
record files added as they are, in one commit (``lake_upserts.py``; a batch whose columns
are not the table's is merged by delta-rs's ``MERGE`` instead). Into an empty table an
upsert is a plain append, the same and faster. Every file a commit adds carries its Delta
statistics, read from its Parquet footer (``lake_statistics.py``), so readers skip files by
``_id`` or by a column's range. A table the lake creates writes a checkpoint of its log
every ten commits (``delta.checkpointInterval``, Delta's usual interval; delta-rs alone
waits for a hundred): opening the table, which each commit does, reads the last checkpoint
and at most nine log entries, not every commit since the table began.

**Concurrent commits** of several workers, on several machines, are Delta's optimistic
concurrency: a commit writes the log's next entry only if no other did (a local file
created exclusively; on S3 a conditional ``PUT`` with ``If-None-Match``, which S3 and
S3-compatible servers honour), and delta-rs retries an append over a concurrent one. An
upsert commits only on the version it read (any commit in between may have added a key it
adds, or rewritten a file it rewrites): one that loses fails transiently, its rewrites are
removed, and ``complete`` is tried again on the new version.

``abort`` drops a batch's staged files; on a committed ``append`` batch it withdraws the
batch's rows in a new commit (the next run exports its window again): its files, or, when a
compaction ran in between, the compacted files with the others they held added back
(``lake_withdrawal.py``). A committed
``upsert`` batch stays: its rows are the latest versions, which the next run writes again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable, Schema, Transaction, WriterProperties
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from deltalake.transaction import (
    AddAction,
    CommitProperties,
    RemoveAction,
    create_table_with_add_actions,
)

from xdm_connector.destinations.base import BatchState, BatchStatus, batch_id_for, check_name
from xdm_connector.destinations.lake_statistics import file_statistics
from xdm_connector.destinations.lake_storage import LakeStorage, lake_errors
from xdm_connector.destinations.lake_upserts import REWRITES_FOLDER, batch_keys, without_keys
from xdm_connector.destinations.lake_withdrawal import WITHDRAWN, LogCommit, withdrawal_plan
from xdm_connector.domain.lake_modes import (
    DELETED_COLUMN,
    DELETES_PREFIX,
    OWN_COLUMN_PREFIX,
    UPSERT_KEY,
    LakeMode,
)
from xdm_connector.errors import DestinationError

if TYPE_CHECKING:
    import pyarrow.dataset as pads

APPLICATION = "xdm-connector"
COMMITTED = "committed"
"""A batch record's state once its commit is in the table (``status`` says ``success``)."""
MERGE_ROW_GROUP_ROWS = 16_384
"""Rows per row group of the files delta-rs's ``MERGE`` rewrites (a batch that changes the
table's columns). Its writer holds a row group whole until it is written (by default about
a million rows: every profile of a 1 M-row table)."""
MERGE_WRITER = WriterProperties(max_row_group_size=MERGE_ROW_GROUP_ROWS)
TABLE_CONFIGURATION = {"delta.checkpointInterval": "10"}
"""The properties of a table the lake creates: a checkpoint of its log every ten commits."""
LakeModes = Callable[[str, str], LakeMode]
"""The mode of an organization's dataset, read when a batch commits."""


@dataclass(frozen=True)
class TableTransaction:
    """The Delta ``txn`` of a batch: an application id and a version that only grows."""

    app_id: str
    version: int
    mapping: str | None = None


def transaction_of(org: str, batch_key: str) -> TableTransaction:
    """The ``txn`` of a job's batch (key ``<org>-<mapping>-<job>``): the mapping as the
    application, the job as the version. Another key is its own application, version 0."""
    prefix = f"{org}-"
    if batch_key.startswith(prefix):
        mapping, _, job = batch_key[len(prefix) :].rpartition("-")
        if mapping and job.isdigit():
            return TableTransaction(f"{APPLICATION}/{org}/{mapping}", int(job), mapping)
    return TableTransaction(f"{APPLICATION}/batch/{batch_key}", 0)


class LandedFile(NamedTuple):
    """A batch's file in the table's folder: its path in the table and bytes; its rows,
    Delta statistics (``lake_statistics.py``) and Arrow schema, from its footer."""

    path: str
    size: int
    rows: int
    stats: str
    schema: pa.Schema


@dataclass(frozen=True)
class Merging:
    """A batch being merged into an upsert table: its record, its landed record and delete
    files, and its commit's properties."""

    record: dict[str, Any]
    files: list[LandedFile]
    deletes: list[LandedFile]
    properties: CommitProperties


class LakeTables:
    """Batches of Parquet files committed into the datasets' Delta tables."""

    def __init__(
        self,
        location: str | Path,
        *,
        modes: LakeModes | None = None,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.storage = LakeStorage.at(location)
        self._modes = modes
        self._after_commit = after_commit
        """Called between a batch's Delta commit and its record (crash tests pause there)."""

    # -- layout ----------------------------------------------------------------------------

    @staticmethod
    def table_folder(org: str, dataset: str) -> str:
        return f"{org}/{dataset}"

    @staticmethod
    def staging(org: str, dataset: str, batch_id: str) -> str:
        return f"_staging/{org}/{dataset}/{batch_id}"

    @staticmethod
    def landed(org: str, dataset: str, batch_id: str) -> str:
        """The folder in the table of a batch's files, before and after its commit."""
        return f"{org}/{dataset}/{batch_id}"

    @staticmethod
    def record_path(batch_id: str) -> str:
        return f"_batches/{batch_id}.json"

    def table_uri(self, org: str, dataset: str) -> str:
        """Where a Delta reader opens the dataset's table."""
        return self.storage.table_uri(
            check_name(org, "Organization"), check_name(dataset, "Dataset")
        )

    def table(self, org: str, dataset: str, version: int | None = None) -> DeltaTable | None:
        """The dataset's Delta table (as of ``version``), or None before its first commit."""
        uri = self.table_uri(org, dataset)
        try:
            return DeltaTable(uri, version=version)
        except TableNotFoundError:
            return None
        except DeltaError as exc:
            raise DestinationError(f"the lake table {uri} cannot be read: {exc}") from exc

    def mode(self, org: str, dataset: str) -> LakeMode:
        """How the dataset's table keeps records (``append`` without a ``modes``)."""
        return self._modes(org, dataset) if self._modes is not None else LakeMode.APPEND

    # -- the Destination seam --------------------------------------------------------------

    def create_batch(self, *, org: str, dataset: str, batch_key: str, file_format: str) -> str:
        check_name(org, "Organization")
        check_name(dataset, "Dataset")
        if file_format != "parquet":
            raise DestinationError(f"the lake stores Parquet, not {file_format}")
        batch_id = batch_id_for(org, dataset, batch_key)
        record = self._record(batch_id)
        if record is None or record["state"] == BatchState.ABORTED:
            self._write_record(_loading_record(batch_id, org, dataset, batch_key))
        return batch_id

    def put_file(self, batch_id: str, name: str, path: Path, *, rows: int | None = None) -> None:
        check_name(name, "File name")
        record = self._loading(batch_id)
        if not name.endswith(".parquet"):
            raise DestinationError(f"the lake stores Parquet files, not {name}", batch_id=batch_id)
        if not Path(path).is_file():
            raise DestinationError(f"No file to put at {path}", batch_id=batch_id)
        staging = self.staging(record["org"], record["dataset"], batch_id)
        with lake_errors(batch_id):
            self.storage.upload(Path(path), f"{staging}/{name}")

    def complete(self, batch_id: str) -> None:
        record = self._owned(batch_id)
        if record["state"] == COMMITTED:
            return
        if record["state"] == BatchState.ABORTED:
            raise DestinationError(f"Batch {batch_id} was aborted", batch_id=batch_id)
        try:
            committed = self._commit(record)
        except CommitFailedError as exc:
            # Another commit won the race for the table's next version: try again.
            raise DestinationError(
                f"the commit of batch {batch_id} lost to a concurrent one: {exc}",
                batch_id=batch_id,
                transient=True,
            ) from exc
        except DeltaError as exc:
            raise DestinationError(
                f"the lake could not commit batch {batch_id}: {exc}", batch_id=batch_id
            ) from exc
        if self._after_commit is not None:
            self._after_commit()
        self._write_record(committed)
        self.storage.delete_folder(self.staging(record["org"], record["dataset"], batch_id))

    def abort(self, batch_id: str) -> None:
        record = self._record(check_name(batch_id, "Batch id"))
        if record is None:
            raise DestinationError(f"Unknown batch {batch_id}", batch_id=batch_id)
        org, dataset = record["org"], record["dataset"]
        if record["state"] == BatchState.LOADING:
            record = self._settled(record)
        if record["state"] == COMMITTED and record.get("mode") == LakeMode.APPEND:
            try:
                self._withdraw(record)
            except CommitFailedError as exc:
                # A concurrent commit (a compaction) removed a file being withdrawn: the
                # withdrawal is planned again on the new version.
                raise DestinationError(
                    f"the withdrawal of batch {batch_id} lost to a concurrent commit: {exc}",
                    batch_id=batch_id,
                    transient=True,
                ) from exc
        self.storage.delete_folder(self.staging(org, dataset, batch_id))
        if record["state"] != COMMITTED:
            self.storage.delete_folder(self.landed(org, dataset, batch_id))
        self._write_record({**record, "state": BatchState.ABORTED})

    def status(self, batch_id: str) -> BatchStatus:
        record = self._record(check_name(batch_id, "Batch id"))
        if record is None:
            return BatchStatus(BatchState.UNKNOWN)
        match record["state"]:
            case "committed":
                return BatchStatus(
                    BatchState.SUCCESS,
                    records=record.get("rows"),
                    version=record.get("version"),
                    deletes=record.get("deletes"),
                )
            case BatchState.ABORTED:
                return BatchStatus(BatchState.ABORTED)
            case _ if "appId" in record:
                # A worker killed between the commit and the record leaves it loading: the
                # table says whether the commit is there (then the record is written).
                settled = self._settled(record)
                if settled["state"] == COMMITTED:
                    return BatchStatus(
                        BatchState.SUCCESS,
                        records=settled.get("rows"),
                        version=settled.get("version"),
                    )
                return BatchStatus(BatchState.LOADING)
            case _:
                return BatchStatus(BatchState.LOADING)

    # -- migration from batch folders ----------------------------------------------------------

    def begin_migrated_batch(self, *, org: str, dataset: str, batch_key: str) -> str:
        """A loading batch for ``batch_key`` (its id as the batch-folder lake gave it), made
        anew whatever record that id has: the batch-folder lake (``lake.py``) keeps its own
        records under the same ``_batches/``, which this lake cannot use. For ``lake
        migrate``, which then puts the batch's files and completes it as any batch."""
        batch_id = batch_id_for(
            check_name(org, "Organization"), check_name(dataset, "Dataset"), batch_key
        )
        self.storage.delete_folder(self.staging(org, dataset, batch_id))
        self._write_record({**_loading_record(batch_id, org, dataset, batch_key), "migrated": True})
        return batch_id

    def retire_folder_record(self, batch_id: str) -> bool:
        """Mark aborted a batch-folder lake's record left loading (a batch never committed
        there, without this lake's transaction); answers whether it was one."""
        record = self._record(check_name(batch_id, "Batch id"))
        if record is None or "appId" in record or record["state"] != BatchState.LOADING:
            return False
        self.storage.delete_folder(self.staging(record["org"], record["dataset"], batch_id))
        self._write_record({**record, "state": BatchState.ABORTED})
        return True

    def committed_batch_ids(self, org: str, dataset: str) -> set[str]:
        """The batches whose commit is in the table (not withdrawn)."""
        table = self.table(org, dataset)
        if table is None:
            return set()
        commits = table.history()
        withdrawn = {c.get("xdmc.batch") for c in commits if c.get(WITHDRAWN)}
        return {
            str(c["xdmc.batch"])
            for c in commits
            if c.get("xdmc.batch") and not c.get(WITHDRAWN) and c["xdmc.batch"] not in withdrawn
        }

    # -- reading -----------------------------------------------------------------------------

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        """A batch's record: org, dataset, key, state, and once committed its version and rows."""
        return self._record(check_name(batch_id, "Batch id"))

    def batches(self) -> Iterator[dict[str, Any]]:
        """Every batch record of the lake, by id."""
        for info in self.storage.files("_batches"):
            if info.base_name.endswith(".json") and not info.base_name.startswith("."):
                record = self._record(info.base_name.removesuffix(".json"))
                if record is not None:
                    yield record

    def last_activity(self, record: dict[str, Any]) -> dt.datetime:
        """When a loading batch was last touched: created, or a file put into it."""
        activity = _parse_time(record["created"])
        staging = self.staging(record["org"], record["dataset"], record["id"])
        landed = self.landed(record["org"], record["dataset"], record["id"])
        for info in [*self.storage.files(staging), *self.storage.files(landed)]:
            if info.mtime is not None:
                activity = max(activity, info.mtime.astimezone(dt.UTC))
        return activity

    def stray_rewrites(self, record: dict[str, Any]) -> list[str]:
        """The files of a settled upsert batch's ``rewrites/`` folder that its commit does
        not add, nor the table's current version: those of an attempt killed before its
        commit (the attempt tried again wrote its own). Paths below the lake's root. None
        for a loading batch (an attempt may be writing them), nor when the log entry of
        the batch's commit is gone (what it added can no longer be told)."""
        if record["state"] == BatchState.LOADING or record.get("mode") != LakeMode.UPSERT:
            return []
        org, dataset, batch_id = record["org"], record["dataset"], record["id"]
        folder = f"{batch_id}/{REWRITES_FOLDER}"
        found = [
            f"{folder}/{info.base_name}"
            for info in self.storage.files(f"{self.table_folder(org, dataset)}/{folder}")
        ]
        if not found:
            return []
        table = self.table(org, dataset)
        referenced = set(_paths(table)) if table is not None else set()
        version = record.get("version")
        if version is None and table is not None:
            version = (_commit_of(table, batch_id) or {}).get("version")
        if version is not None:
            try:
                referenced |= self._log_commit(org, dataset, int(version)).added
            except DestinationError:
                return []
        elif record["state"] == COMMITTED:
            return []  # committed, yet its commit cannot be found: nothing is told
        return [
            f"{self.table_folder(org, dataset)}/{path}" for path in found if path not in referenced
        ]

    # -- the commit ----------------------------------------------------------------------------

    def _commit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Commit a loading batch into its table; answers its record as committed. A batch
        whose transaction the table already holds is recorded, not committed again."""
        batch_id, org, dataset = record["id"], record["org"], record["dataset"]
        txn = TableTransaction(record["appId"], int(record["txnVersion"]), record.get("mapping"))
        table = self.table(org, dataset)
        if table is not None and (table.transaction_version(txn.app_id) or -1) >= txn.version:
            found = _commit_of(table, batch_id)
            landed = self.landed(org, dataset, batch_id)
            return {
                **record,
                "state": COMMITTED,
                "version": found.get("version") if found else table.version(),
                "rows": _rows_of(found),
                "mode": (found or {}).get("xdmc.committedAs", LakeMode.APPEND),
                "files": [f"{batch_id}/{info.base_name}" for info in self.storage.files(landed)],
                "committed": _now(),
            }
        mode = self.mode(org, dataset)
        placed = self._land(record)
        files = [found for found in placed if not _holds_deletes(found.path)]
        deletes = [found for found in placed if _holds_deletes(found.path)]
        if mode is LakeMode.UPSERT:
            # The first batch too: a table made without the key could merge no later one.
            self._check_upsert_key(record, files)
        rows = sum(found.rows for found in files)
        deleted = sum(found.rows for found in deletes)
        properties = CommitProperties(
            custom_metadata={
                "xdmc.batch": batch_id,
                "xdmc.mapping": txn.mapping or "",
                "xdmc.job": str(txn.version),
                "xdmc.mode": str(mode),
                "xdmc.rows": str(rows),
                "xdmc.deletes": str(deleted),
            },
            app_transactions=[Transaction(txn.app_id, txn.version)],
        )
        merge = (
            mode is LakeMode.UPSERT and table is not None and bool(placed) and _holds_rows(table)
        )
        # An upsert into an empty table is an append: how the commit was made says how
        # ``abort`` may withdraw it.
        stored_mode = LakeMode.UPSERT if merge else LakeMode.APPEND
        assert properties.custom_metadata is not None
        properties.custom_metadata["xdmc.committedAs"] = str(stored_mode)
        # The version the commit is made on (None: the commit creates the table).
        read: int | None = None
        if merge:
            assert table is not None
            read = table.version()
            self._merge(table, Merging(record, files, deletes, properties))
        else:
            if mode is LakeMode.APPEND and deletes and (table is not None or files):
                # An append table keeps a row per delete; an empty upsert table has no
                # row to delete.
                files = files + deletes
            if mode is LakeMode.APPEND:
                table = self._with_own_columns(org, dataset, table, files)
            read = None if table is None else table.version()
            self._append(org, dataset, table, files, properties)
        version = self._version_committed(org, dataset, batch_id, read)
        return {
            **record,
            "state": COMMITTED,
            "version": version,
            "rows": rows,
            "deletes": deleted,
            "mode": str(stored_mode),
            "files": [found.path for found in files],
            "committed": _now(),
        }

    def _settled(self, record: dict[str, Any]) -> dict[str, Any]:
        """A loading batch's record, or its committed one when the table holds its commit
        (a worker killed between the commit and its record): written, and answered."""
        table = self.table(record["org"], record["dataset"])
        if table is None:
            return record
        if (table.transaction_version(record["appId"]) or -1) < int(record["txnVersion"]):
            return record
        found = _commit_of(table, record["id"])
        if found is None:
            return record
        landed = self.landed(record["org"], record["dataset"], record["id"])
        settled = {
            **record,
            "state": COMMITTED,
            "version": found.get("version"),
            "rows": _rows_of(found),
            "mode": found.get("xdmc.committedAs", LakeMode.APPEND),
            "files": [f"{record['id']}/{info.base_name}" for info in self.storage.files(landed)],
            "committed": _now(),
        }
        self._write_record(settled)
        return settled

    def _land(self, record: dict[str, Any]) -> list[LandedFile]:
        """Move the batch's staged files into the table's folder (still unreferenced, so
        invisible); answers every file landed for the batch, its statistics read from its
        footer. A commit tried again finds the files an earlier attempt moved."""
        batch_id, org, dataset = record["id"], record["org"], record["dataset"]
        staging = self.staging(org, dataset, batch_id)
        landed = self.landed(org, dataset, batch_id)
        with lake_errors(batch_id):
            for info in self.storage.files(staging):
                if not info.base_name.startswith("."):
                    self.storage.move(f"{staging}/{info.base_name}", f"{landed}/{info.base_name}")
            files = []
            for info in self.storage.files(landed):
                if info.base_name.startswith("."):
                    continue
                path = self.storage.path(f"{landed}/{info.base_name}")
                footer = pq.read_metadata(path, filesystem=self.storage.filesystem)
                files.append(
                    LandedFile(
                        f"{batch_id}/{info.base_name}",
                        int(info.size or 0),
                        int(footer.num_rows),
                        file_statistics(footer),
                        footer.schema.to_arrow_schema(),
                    )
                )
        return files

    def _append(
        self,
        org: str,
        dataset: str,
        table: DeltaTable | None,
        files: list[LandedFile],
        properties: CommitProperties,
    ) -> None:
        """Add the landed files to the table, as they are, in one commit (creating the table)."""
        now = int(time.time() * 1000)
        actions = [_add(found.path, found.size, found.stats, now) for found in files]
        if table is None:
            if not files:
                return  # nothing to create a table with: the batch holds no record
            arrow = files[0].schema
            for found in files:
                if _holds_deletes(found.path):  # a delete's row's columns, after the records'
                    more = found.schema
                    arrow = pa.schema([*arrow, *(f for f in more if f.name not in arrow.names)])
                    break
            schema = Schema.from_arrow(arrow)
            try:
                create_table_with_add_actions(
                    self.table_uri(org, dataset),
                    schema,
                    actions,
                    mode="error",
                    configuration=TABLE_CONFIGURATION,
                    commit_properties=properties,
                )
            except DeltaError as exc:
                if self.table(org, dataset) is None:
                    raise
                # Another worker created the table first: commit again, into it.
                raise CommitFailedError(f"the table was created meanwhile: {exc}") from exc
            return
        adds: list[AddAction | RemoveAction] = list(actions)
        table.create_write_transaction(adds, "append", table.schema(), commit_properties=properties)

    def _merge(self, table: DeltaTable, merging: Merging) -> None:
        """Merge the landed files into the table on ``_id``, in one commit: the latest version
        of each record, and the rows of the deleted keys removed. Files that hold the
        batch's keys are rewritten without them (``lake_upserts.py``) when the batch's
        columns are the table's; a batch that changes them is left to delta-rs's
        ``MERGE``, which knows how."""
        if self._rewritable(table, merging.files):
            self._upsert(table, merging)
        else:
            self._delta_merge(table, merging)

    def _check_upsert_key(self, record: dict[str, Any], files: list[LandedFile]) -> None:
        """Refuse a batch for an upsert table whose records lack the key it merges on."""
        batch_id = record["id"]
        for found in files:
            if UPSERT_KEY not in found.schema.names:
                raise DestinationError(
                    f"an upsert table merges on {UPSERT_KEY}, which batch {batch_id} lacks: "
                    f"map /{UPSERT_KEY} or make the dataset's lake mode append",
                    batch_id=batch_id,
                )

    def _rewritable(self, table: DeltaTable, files: list[LandedFile]) -> bool:
        """Whether the batch's records are added as they landed: the table is a plain one
        (no partitions, no reader feature such as deletion vectors or column mapping) and
        the records' columns are the table's, with their types."""
        if table.metadata().partition_columns or table.protocol().min_reader_version > 1:
            return False
        wanted = _shape(table.schema())
        return all(_shape(Schema.from_arrow(found.schema)) == wanted for found in files)

    def _upsert(self, table: DeltaTable, merging: Merging) -> None:
        """The merge as files, in one commit made on the version read: the table's files
        holding the batch's keys removed and added back without them, the batch's record
        files added as they landed. The commit is refused when any other commit came first
        (a concurrent batch may add a key this one adds, or rewrite a file this one
        rewrites): ``complete`` is tried again, on the new version."""
        record, files, deletes = merging.record, merging.files, merging.deletes
        batch_id, org, dataset = record["id"], record["org"], record["dataset"]
        folder = self.table_folder(org, dataset)
        filesystem = self.storage.filesystem
        keys = batch_keys(
            filesystem,
            (self.storage.path(f"{folder}/{found.path}") for found in [*files, *deletes]),
        )
        written: list[str] = []
        try:
            with lake_errors(batch_id):
                rewrites = without_keys(
                    filesystem,
                    self.storage.path(folder),
                    _paths(table),
                    keys,
                    into=f"{batch_id}/{REWRITES_FOLDER}",
                    written=written,
                )
            now = int(time.time() * 1000)
            actions: list[AddAction | RemoveAction] = [
                RemoveAction(rewrite.removed, True, now) for rewrite in rewrites
            ]
            with lake_errors(batch_id):
                for rewrite in rewrites:
                    if rewrite.added is not None:
                        full = self.storage.path(f"{folder}/{rewrite.added}")
                        size = filesystem.get_file_info(full).size
                        actions.append(_add(rewrite.added, int(size or 0), rewrite.stats, now))
            actions += [_add(found.path, found.size, found.stats, now) for found in files]
            strict = CommitProperties(
                custom_metadata=merging.properties.custom_metadata,
                app_transactions=merging.properties.app_transactions,
                max_commit_retries=0,  # on the version read, or not at all
            )
            table.create_write_transaction(
                actions, "append", table.schema(), commit_properties=strict
            )
        except BaseException:
            # The rewrites of a commit that did not happen are nobody's: removed. (A commit
            # made before an error, in delta-rs's hooks after it, keeps them.)
            if self._version_after(org, dataset, batch_id) is None:
                for path in written:
                    self.storage.delete(f"{folder}/{path}")
            raise
        for found in deletes:  # read, never referenced
            self.storage.delete(f"{folder}/{found.path}")

    def _delta_merge(self, table: DeltaTable, merging: Merging) -> None:
        """delta-rs's ``MERGE`` of the landed files into the table, for a batch whose
        columns are not the table's."""
        record, files, deletes = merging.record, merging.files, merging.deletes
        batch_id, org, dataset = record["id"], record["org"], record["dataset"]
        source = self._landed_dataset(org, dataset, files)
        gone = self._landed_dataset(org, dataset, deletes)
        schema = source.schema if source is not None else pa.schema([])
        if source is None:
            assert gone is not None
            schema = pa.schema([gone.schema.field(UPSERT_KEY)])
        # One stream of both: records marked live, deletes marked deleted (other columns null).
        marked = pa.schema(
            [field.with_nullable(True) for field in schema] + [pa.field(DELETED_COLUMN, pa.bool_())]
        )

        def batches() -> Iterator[pa.RecordBatch]:
            if source is not None:
                for batch in source.to_batches():
                    batch = unsliced(batch)
                    live = pa.array([False] * batch.num_rows, pa.bool_())
                    yield pa.RecordBatch.from_arrays([*batch.columns, live], schema=marked)
            if gone is not None:
                for batch in gone.to_batches(columns=[UPSERT_KEY]):
                    rows = batch.num_rows
                    keys = batch.column(0).cast(schema.field(UPSERT_KEY).type)
                    columns = [
                        keys if field.name == UPSERT_KEY else pa.nulls(rows, field.type)
                        for field in schema
                    ]
                    dead = pa.array([True] * rows, pa.bool_())
                    yield pa.RecordBatch.from_arrays([*columns, dead], schema=marked)

        merger = table.merge(
            pa.RecordBatchReader.from_batches(marked, batches()),
            predicate=f"t.{UPSERT_KEY} = s.{UPSERT_KEY}",
            source_alias="s",
            target_alias="t",
            writer_properties=MERGE_WRITER,
            streamed_exec=True,  # the source is read as the merge goes, never collected
            commit_properties=merging.properties,
        ).when_matched_delete(predicate=f"s.{DELETED_COLUMN}")
        if source is not None:
            live = f"NOT s.{DELETED_COLUMN}"
            merger = merger.when_matched_update_all(
                predicate=live, except_cols=[DELETED_COLUMN]
            ).when_not_matched_insert_all(predicate=live, except_cols=[DELETED_COLUMN])
        merger.execute()
        # The merge wrote its own files: the landed ones are read, never referenced.
        self.storage.delete_folder(self.landed(org, dataset, batch_id))

    def _landed_dataset(
        self, org: str, dataset: str, files: list[LandedFile]
    ) -> pads.Dataset | None:
        if not files:
            return None
        # Imported by the first merge: Arrow's datasets import pandas when it is installed.
        import pyarrow.dataset as pads

        paths = [self.storage.path(f"{org}/{dataset}/{found.path}") for found in files]
        return pads.dataset(paths, format="parquet", filesystem=self.storage.filesystem)

    def _with_own_columns(
        self, org: str, dataset: str, table: DeltaTable | None, files: list[LandedFile]
    ) -> DeltaTable | None:
        """The append table, its schema holding the product's columns of the batch's files
        (a delete's row's, the order of versions: ``OWN_COLUMN_PREFIX``), added in a commit
        of their own, once: a schema change, no data. Before the table exists, its first
        commit creates it with them (``_append`` reads the first files' schemas)."""
        if table is None or not files:
            return table
        names = set(table.schema().to_arrow().names)
        # The first file of records and the first of deletes: each kind's files share columns.
        firsts = {_holds_deletes(found.path): found.schema for found in reversed(files)}
        missing: list[pa.Field] = []
        for schema in firsts.values():
            for field in schema:
                if field.name.startswith(OWN_COLUMN_PREFIX) and field.name not in names:
                    missing.append(field)
                    names.add(field.name)
        if not missing:
            return table
        fields = Schema.from_arrow(pa.schema(missing)).fields
        table.alter.add_columns(list(fields))
        return self.table(org, dataset)

    def _version_committed(
        self, org: str, dataset: str, batch_id: str, read: int | None
    ) -> int | None:
        """The table version of the batch's commit, just made on the table as of version
        ``read``: found in the log's entries after ``read`` (the next one, unless other
        commits came first), not in the table's whole log opened again; the table is opened
        when the commit created it."""
        if read is not None:
            version = read + 1
            while (text := self._log_entry(org, dataset, version)) is not None:
                info = LogCommit.parse(version, text).info
                if info.get("xdmc.batch") == batch_id and info.get(WITHDRAWN) is None:
                    return version
                version += 1
        return self._version_after(org, dataset, batch_id)

    def _version_after(self, org: str, dataset: str, batch_id: str) -> int | None:
        """The table version of the batch's commit (None: the batch held no record)."""
        table = self.table(org, dataset)
        if table is None:
            return None
        found = _commit_of(table, batch_id)
        return int(found["version"]) if found else None

    def _withdraw(self, record: dict[str, Any]) -> None:
        """Remove a committed append batch's rows from its table, in a new commit: its
        files, or the files a compaction made of them with the others they held added back
        (``lake_withdrawal.py``)."""
        org, dataset, batch_id = record["org"], record["dataset"], record["id"]
        table = self.table(org, dataset)
        if table is None:
            return
        committed = record.get("version")
        if committed is None:
            found = _commit_of(table, batch_id)
            committed = found["version"] if found else table.version()
        commits = (
            self._log_commit(org, dataset, version)
            for version in range(int(committed) + 1, table.version() + 1)
        )
        plan = withdrawal_plan(batch_id, record.get("files", []), commits, _paths(table))
        now = int(time.time() * 1000)
        actions: list[AddAction | RemoveAction] = [
            RemoveAction(path, True, now) for path in sorted(plan.removed)
        ]
        with lake_errors(batch_id):
            for path in sorted(plan.restored):
                actions.append(self._add_action(org, dataset, path, now, batch_id))
        if actions:
            table.create_write_transaction(
                actions,
                "append",
                table.schema(),
                commit_properties=CommitProperties(
                    custom_metadata={"xdmc.batch": batch_id, WITHDRAWN: "true"}
                ),
            )

    def _log_entry(self, org: str, dataset: str, version: int) -> bytes | None:
        """The text of the table's log entry of ``version`` (None: there is none)."""
        return self.storage.read_bytes(
            f"{self.table_folder(org, dataset)}/_delta_log/{version:020d}.json"
        )

    def _log_commit(self, org: str, dataset: str, version: int) -> LogCommit:
        """The table's log entry of ``version``."""
        text = self._log_entry(org, dataset, version)
        if text is None:
            raise DestinationError(
                f"the log of {org}/{dataset} has no version {version} any more: "
                "a batch committed before it cannot be withdrawn"
            )
        return LogCommit.parse(version, text)

    def _add_action(self, org: str, dataset: str, path: str, now: int, batch_id: str) -> AddAction:
        """An ``add`` of a file already in the table's folder (one a compaction removed)."""
        full = self.storage.path(f"{self.table_folder(org, dataset)}/{path}")
        info = self.storage.filesystem.get_file_info(full)
        if info.type != pafs.FileType.File:
            raise DestinationError(
                f"batch {batch_id} cannot be withdrawn: {org}/{dataset}/{path}, compacted with "
                "its files, was vacuumed since",
                batch_id=batch_id,
            )
        footer = pq.read_metadata(full, filesystem=self.storage.filesystem)
        return _add(path, int(info.size or 0), file_statistics(footer), now)

    # -- records -------------------------------------------------------------------------------

    def _record(self, batch_id: str) -> dict[str, Any] | None:
        data = self.storage.read_bytes(self.record_path(check_name(batch_id, "Batch id")))
        if data is None:
            return None
        document: dict[str, Any] = orjson.loads(data)
        return document

    def _owned(self, batch_id: str) -> dict[str, Any]:
        record = self._record(batch_id)
        if record is None:
            raise DestinationError(f"Unknown batch {batch_id}", batch_id=batch_id)
        return record

    def _loading(self, batch_id: str) -> dict[str, Any]:
        record = self._owned(batch_id)
        if record["state"] != BatchState.LOADING:
            raise DestinationError(
                f"Batch {batch_id} is not loading (complete or aborted)", batch_id=batch_id
            )
        return record

    def _write_record(self, record: dict[str, Any]) -> None:
        self.storage.write_bytes(
            self.record_path(record["id"]), orjson.dumps(record, option=orjson.OPT_INDENT_2)
        )


def unsliced(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with every column starting at offset 0: a copy when one does not.

    delta-rs (1.6) panicked writing nested structs of an array sliced at an offset; the
    Parquet reader hands out such slices when it cuts a row group into batches."""
    if all(column.offset == 0 for column in batch.columns):
        return batch
    return batch.take(pa.arange(0, batch.num_rows))  # a gather: new buffers


def _commit_of(table: DeltaTable, batch_id: str) -> dict[str, Any] | None:
    """The commit information of the batch's commit in the table's history, if any."""
    for commit in table.history():
        if commit.get("xdmc.batch") == batch_id and commit.get(WITHDRAWN) is None:
            return commit
    return None


def _rows_of(commit: dict[str, Any] | None) -> int | None:
    rows = (commit or {}).get("xdmc.rows")
    return int(rows) if rows is not None else None


def _paths(table: DeltaTable) -> list[str]:
    """The paths (relative to the table) of the table's current files."""
    paths = table.get_add_actions().column("path").to_pylist()
    return [str(path) for path in paths]


def _add(path: str, size: int, stats: str, now: int) -> AddAction:
    """The ``add`` of a file of the table, with its statistics (``file_statistics``)."""
    return AddAction(path, size, {}, now, True, stats)


_NULLABILITY = ("nullable", "containsNull", "valueContainsNull", "metadata")


def _shape(schema: Schema) -> list[tuple[str, Any]]:
    """A Delta schema's columns and types, by name, nullability and metadata aside."""

    def bare(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: bare(v) for k, v in value.items() if k not in _NULLABILITY}
        if isinstance(value, list):
            return [bare(item) for item in value]
        return value

    fields = orjson.loads(schema.to_json())["fields"]
    return sorted((field["name"], bare(field["type"])) for field in fields)


def _holds_deletes(path: str) -> bool:
    """Whether a landed file (``<batch>/<name>``) holds deletes, not records."""
    return path.rpartition("/")[2].startswith(DELETES_PREFIX)


def _holds_rows(table: DeltaTable) -> bool:
    return bool(_paths(table))


def _loading_record(batch_id: str, org: str, dataset: str, batch_key: str) -> dict[str, Any]:
    """The record of a batch just opened: loading, with the Delta transaction (``txn``) its
    commit will carry."""
    txn = transaction_of(org, batch_key)
    return {
        "id": batch_id,
        "org": org,
        "dataset": dataset,
        "batchKey": batch_key,
        "appId": txn.app_id,
        "txnVersion": txn.version,
        "mapping": txn.mapping,
        "state": BatchState.LOADING,
        "created": _now(),
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
