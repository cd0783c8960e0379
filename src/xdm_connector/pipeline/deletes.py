"""The deletes of a job: the record keys (``_id``) that its destination must delete.

A soft-deleted record (the mapping's ``softDeleteWhen`` is true) and a record gone from the
source (found by a reconciliation, ``pipeline/reconciliation.py``) are not exported as
records: each is a delete, written into Parquet files of its own beside the job's records
(``deletes-00000.parquet``, columns ``_id``, ``_xdmc_deleted`` = true and
``_xdmc_deleted_at``; into an ``append`` table ``_xdmc_sequence`` too, the order of the
key's versions, ``pipeline/row_sequence.py``), and put into the same batch, so that they travel the same staged,
exactly-once path and land in the same commit (``destinations/lake_tables.py``)::

    writer = DeleteWriter(run.workdir)
    writer.write(ids)                # an Arrow array of record keys
    files = writer.close()

A destination that deletes by identity (the platform's Data Hygiene work orders) needs each
deleted record's primary identity too: a writer made ``with_identities`` adds the columns
``_xdmc_namespace`` and ``_xdmc_identity`` (the namespace code and the id of the record's
identity marked ``primary`` in its ``identityMap``), read back with ``read_identities``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from xdm_connector.domain.lake_modes import (
    DELETED_AT_COLUMN,
    DELETED_COLUMN,
    DELETES_PREFIX,
    SEQUENCE_COLUMN,
    UPSERT_KEY,
)
from xdm_connector.pipeline.files import WrittenFile
from xdm_connector.pipeline.row_sequence import RowSequence

ROWS_PER_FILE = 1_000_000
NAMESPACE_COLUMN = "_xdmc_namespace"
"""The namespace code of a deleted record's primary identity (``Email``)."""
IDENTITY_COLUMN = "_xdmc_identity"
"""The id of a deleted record's primary identity."""
IDENTITY_MAP = "identityMap"


def deletes_schema(
    key_type: pa.DataType, *, with_identities: bool = False, with_sequence: bool = False
) -> pa.Schema:
    """The schema of a file of deletes whose record keys are of ``key_type``, with the
    records' primary identities when ``with_identities``, and the rows' order of versions
    when ``with_sequence`` (an append table's)."""
    fields = [
        pa.field(UPSERT_KEY, key_type),
        pa.field(DELETED_COLUMN, pa.bool_()),
        pa.field(DELETED_AT_COLUMN, pa.timestamp("us", tz="UTC")),
    ]
    if with_sequence:
        fields.append(pa.field(SEQUENCE_COLUMN, pa.int64()))
    if with_identities:
        fields += [pa.field(NAMESPACE_COLUMN, pa.string()), pa.field(IDENTITY_COLUMN, pa.string())]
    return pa.schema(fields)


def primary_identities(records: pa.Table | pa.RecordBatch) -> tuple[pa.Array, pa.Array]:
    """The namespace code and id of each record's primary identity (the first identity of
    its ``identityMap`` marked ``"primary": true``); null for a record that has none."""
    if IDENTITY_MAP not in records.schema.names:
        nulls = pa.nulls(records.num_rows, pa.string())
        return nulls, nulls
    namespaces: list[str | None] = []
    ids: list[str | None] = []
    for identity_map in records.column(IDENTITY_MAP).to_pylist():
        found = _primary(identity_map or [])
        namespaces.append(found[0] if found else None)
        ids.append(found[1] if found else None)
    return pa.array(namespaces, pa.string()), pa.array(ids, pa.string())


def _primary(identity_map: list[tuple[str, Any]]) -> tuple[str, str] | None:
    for namespace, identities in identity_map:
        for identity in identities or []:
            if identity and identity.get("primary") is True and identity.get("id") is not None:
                return str(namespace), str(identity["id"])
    return None


def read_identities(path: Path) -> Iterator[tuple[str, str]]:
    """The primary identities (namespace code, id) of a file of deletes written
    ``with_identities``, in order; none from a file without them."""
    parquet = pq.ParquetFile(path)
    if IDENTITY_COLUMN not in parquet.schema_arrow.names:
        return
    for batch in parquet.iter_batches(columns=[NAMESPACE_COLUMN, IDENTITY_COLUMN]):
        valid = batch.filter(pc.is_valid(batch.column(IDENTITY_COLUMN)))
        namespaces = valid.column(NAMESPACE_COLUMN).to_pylist()
        yield from zip(namespaces, valid.column(IDENTITY_COLUMN).to_pylist(), strict=True)


def is_deletes_file(name: str) -> bool:
    """Whether a batch's file named ``name`` holds deletes, not records."""
    return name.startswith(DELETES_PREFIX)


def deletes_name(written: WrittenFile, prefix: str = "") -> str:
    """The name in a batch of a file of deletes, ``prefix`` (a slice's) after the marker."""
    return DELETES_PREFIX + prefix + written.name.removeprefix(DELETES_PREFIX)


class DeleteWriter:
    """Writes record keys to delete into rolled Parquet files in ``folder``; with their
    records' primary identities when ``with_identities`` (a platform's deletes), and each
    row's value of ``sequence`` when given (an append table's)."""

    def __init__(
        self, folder: Path, *, with_identities: bool = False, sequence: RowSequence | None = None
    ) -> None:
        self.folder = Path(folder)
        self.with_identities = with_identities
        self.sequence = sequence
        self.count = 0
        self._found = dt.datetime.now(dt.UTC)
        self._written: list[WrittenFile] = []
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._rows = 0

    def write_records(self, records: pa.Table | pa.RecordBatch) -> None:
        """Add the keys of the shaped ``records`` (and their primary identities when the
        writer keeps them)."""
        identities = primary_identities(records) if self.with_identities else None
        self.write(records.column(UPSERT_KEY), identities)

    def write(
        self,
        ids: pa.Array | pa.ChunkedArray,
        identities: tuple[pa.Array, pa.Array] | None = None,
    ) -> None:
        """Add the keys ``ids`` (nulls are left out: a record without key has no row), with
        their records' primary identities (namespace codes, ids) when given."""
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        if ids.null_count:
            valid = ids.is_valid()
            ids = ids.filter(valid)
            if identities is not None:
                identities = (identities[0].filter(valid), identities[1].filter(valid))
        if not len(ids):
            return
        if identities is None and self.with_identities:
            nulls = pa.nulls(len(ids), pa.string())
            identities = (nulls, nulls)
        schema = deletes_schema(
            ids.type, with_identities=identities is not None, with_sequence=bool(self.sequence)
        )
        if self._writer is not None and not self._writer.schema.equals(schema):
            self._finish()
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"{DELETES_PREFIX}{len(self._written):05d}.parquet"
            self._path = self.folder / name
            self._writer = pq.ParquetWriter(self._path, schema, compression="zstd")
        rows = len(ids)
        columns = [
            ids,
            pa.array([True] * rows, pa.bool_()),
            pa.array([self._found] * rows, pa.timestamp("us", tz="UTC")),
        ]
        if self.sequence is not None:
            columns.append(self.sequence.take(rows))
        table = pa.table([*columns, *(identities or ())], schema=schema)
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
