"""The deletes of a job: the record keys (``_id``) that its destination must delete.

A soft-deleted record (the mapping's ``softDeleteWhen`` is true) and a record gone from the
source (found by a reconciliation, ``pipeline/reconciliation.py``) are not exported as
records: each is a delete, written into Parquet files of its own beside the job's records
(``deletes-00000.parquet``, columns ``_id``, ``_xdmc_deleted`` = true and
``_xdmc_deleted_at``), and put into the same batch, so that they travel the same staged,
exactly-once path and land in the same commit (``destinations/lake_tables.py``)::

    writer = DeleteWriter(run.workdir)
    writer.write(ids)                # an Arrow array of record keys
    files = writer.close()
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from xdm_connector.domain.lake_modes import (
    DELETED_AT_COLUMN,
    DELETED_COLUMN,
    DELETES_PREFIX,
    UPSERT_KEY,
)
from xdm_connector.pipeline.files import WrittenFile

ROWS_PER_FILE = 1_000_000


def deletes_schema(key_type: pa.DataType) -> pa.Schema:
    """The schema of a file of deletes whose record keys are of ``key_type``."""
    return pa.schema(
        [
            pa.field(UPSERT_KEY, key_type),
            pa.field(DELETED_COLUMN, pa.bool_()),
            pa.field(DELETED_AT_COLUMN, pa.timestamp("us", tz="UTC")),
        ]
    )


def is_deletes_file(name: str) -> bool:
    """Whether a batch's file named ``name`` holds deletes, not records."""
    return name.startswith(DELETES_PREFIX)


def deletes_name(written: WrittenFile, prefix: str = "") -> str:
    """The name in a batch of a file of deletes, ``prefix`` (a slice's) after the marker."""
    return DELETES_PREFIX + prefix + written.name.removeprefix(DELETES_PREFIX)


class DeleteWriter:
    """Writes record keys to delete into rolled Parquet files in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.count = 0
        self._found = dt.datetime.now(dt.UTC)
        self._written: list[WrittenFile] = []
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._rows = 0

    def write(self, ids: pa.Array | pa.ChunkedArray) -> None:
        """Add the keys ``ids`` (nulls are left out: a record without key has no row)."""
        ids = ids.filter(ids.is_valid()) if ids.null_count else ids
        if not len(ids):
            return
        schema = deletes_schema(ids.type)
        if self._writer is not None and not self._writer.schema.equals(schema):
            self._finish()
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"{DELETES_PREFIX}{len(self._written):05d}.parquet"
            self._path = self.folder / name
            self._writer = pq.ParquetWriter(self._path, schema, compression="zstd")
        rows = len(ids)
        table = pa.table(
            [
                ids,
                pa.array([True] * rows, pa.bool_()),
                pa.array([self._found] * rows, pa.timestamp("us", tz="UTC")),
            ],
            schema=schema,
        )
        self._writer.write_table(table)
        self._rows += rows
        self.count += rows
        if self._rows >= ROWS_PER_FILE:
            self._finish()

    def close(self) -> list[WrittenFile]:
        """Finish the current file; answers every file written, in order."""
        self._finish()
        return list(self._written)

    def _finish(self) -> None:
        if self._writer is None or self._path is None:
            return
        self._writer.close()
        self._written.append(
            WrittenFile(self._path.name, self._path, self._rows, self._path.stat().st_size)
        )
        self._writer, self._path, self._rows = None, None, 0
