"""The records a job delivers to the platform, kept for the reconciliation.

The platform keeps no table the product can read back, so the product keeps its own
(``store/delivered_records.py``). While a job writes its records, ``DeliveredEntries``
writes beside them, into ``delivered/entries-00000.parquet``, each record's ``_id``, its
digest (``record_digests``, as the reconciliation computes it) and its primary identity.
Before the batch completes, the job's delivery stages these entries and its deletes in the
store (``stage``), where the job's ``Success`` applies them; a slice stages its own, added
to its job's. The work orders then read the staged deletes' identities back
(``DeliveredRecords.staged_identities``), so a sliced job sends every slice's deletes once.
Once the batch succeeded, the records the platform refused in it are taken back
(``withdraw_refused``): never recorded as delivered, they are exported again by the next
reconciliation::

    entries = DeliveredEntries(folder, shaper.output_schema)
    entries.write(records)
    stage(store, job.id, entries.close(), delete_files)

A reconciliation of a platform mapping reads the delivered side from the store in key order,
a page at a time (``StoredDelivered``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.parquet as pq

from xdm_connector.destinations.base import IdentityDeletes
from xdm_connector.domain.lake_modes import UPSERT_KEY
from xdm_connector.errors import DestinationError
from xdm_connector.pipeline.deletes import IDENTITY_COLUMN, NAMESPACE_COLUMN, primary_identities
from xdm_connector.pipeline.digests import record_digests
from xdm_connector.pipeline.files import WrittenFile
from xdm_connector.pipeline.setup import JobRun
from xdm_connector.store.delivered_records import StagedRow
from xdm_connector.store.store import Store

log = logging.getLogger(__name__)

DIGEST_COLUMN = "_digest"
ENTRIES_SCHEMA = pa.schema(
    [
        (UPSERT_KEY, pa.string()),
        (DIGEST_COLUMN, pa.string()),
        (NAMESPACE_COLUMN, pa.string()),
        (IDENTITY_COLUMN, pa.string()),
    ]
)


class DeliveredEntries:
    """Writes the key, digest and primary identity of each record a job writes (shaped to
    ``schema``) into ``folder/entries-00000.parquet``."""

    def __init__(self, folder: Path, schema: pa.Schema) -> None:
        self.path = Path(folder) / "entries-00000.parquet"
        self.schema = schema
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, records: pa.RecordBatch) -> None:
        """Add the entries of the shaped, checked ``records``; one without key is left out."""
        if UPSERT_KEY not in records.schema.names:
            return
        namespaces, identities = primary_identities(records)
        entries = pa.table(
            [
                records.column(UPSERT_KEY).cast(pa.string()),
                record_digests(records, self.schema),
                namespaces,
                identities,
            ],
            schema=ENTRIES_SCHEMA,
        )
        entries = entries.filter(entries.column(UPSERT_KEY).is_valid())
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, ENTRIES_SCHEMA, compression="zstd")
        self._writer.write_table(entries)
        self.rows += entries.num_rows

    def close(self) -> list[WrittenFile]:
        """Finish the file; answers it (none when nothing was written)."""
        if self._writer is None:
            return []
        self._writer.close()
        self._writer = None
        return [WrittenFile(self.path.name, self.path, self.rows, self.path.stat().st_size)]


def stage(
    store: Store,
    job_id: int,
    entries: list[WrittenFile],
    deletes: list[WrittenFile],
    *,
    replace: bool = True,
) -> None:
    """Stage in the store the records sent (``entries``) and deleted (files of deletes
    written with identities) by the job, or by a slice of it (``replace=False``)."""
    store.delivered_records.stage(job_id, _staged_rows(entries, deletes), replace=replace)


def _staged_rows(entries: list[WrittenFile], deletes: list[WrittenFile]) -> Iterator[StagedRow]:
    for written in entries:
        for batch in pq.ParquetFile(written.path).iter_batches():
            rows = zip(
                *(batch.column(name).to_pylist() for name in ENTRIES_SCHEMA.names), strict=True
            )
            for record_id, digest, namespace, identity in rows:
                yield record_id, digest, namespace, identity, False
    for written in deletes:
        parquet = pq.ParquetFile(written.path)
        if IDENTITY_COLUMN not in parquet.schema_arrow.names:
            continue
        columns = [UPSERT_KEY, NAMESPACE_COLUMN, IDENTITY_COLUMN]
        for batch in parquet.iter_batches(columns=columns):
            ids = batch.column(UPSERT_KEY).cast(pa.string()).to_pylist()
            namespaces = batch.column(NAMESPACE_COLUMN).to_pylist()
            for record_id, namespace, identity in zip(
                ids, namespaces, batch.column(IDENTITY_COLUMN).to_pylist(), strict=True
            ):
                yield record_id, None, namespace, identity, True


@runtime_checkable
class RefusedKeys(Protocol):
    """A destination that tells the key of each record it refused in a batch."""

    def refused_keys(self, batch_id: str) -> list[str | None]:
        """The ``_id`` of each record the batch refused (``None``: a refused row without
        one), one entry per refused record; empty when the destination cannot tell."""
        ...


def withdraw_refused(
    store: Store, job_id: int, destination: object, batch_id: str, refused: int
) -> None:
    """Take back from what the job staged the records its destination refused in the
    batch (``refused`` of them), once the batch succeeded: they were not delivered, so the
    next reconciliation exports them again, and one refused again is counted again.

    The refused keys come from the destination's error diagnostics; when it cannot name
    them all (no diagnostics, a failure to read them, a refused row without its ``_id``),
    every record the job sent is taken back, so that none is recorded as delivered that
    may not be."""
    if refused <= 0:
        return
    keys: list[str | None] = []
    if isinstance(destination, RefusedKeys):
        try:
            keys = destination.refused_keys(batch_id)
        except DestinationError as exc:
            log.warning("the refused records of batch %s could not be read: %s", batch_id, exc)
    named = [key for key in keys if key is not None]
    # A refused row without its key (a corrupt row, or a platform that leaves it out) may
    # be any record of the batch.
    store.delivered_records.withdraw(job_id, set(named) if len(named) >= refused else None)


class StoredDelivered:
    """The delivered side of a platform mapping's reconciliation: its delivered records in
    the store, streamed in key order (``Reconciliation``'s ``DeliveredSide``)."""

    def __init__(self, store: Store, org_id: str, mapping_id: str) -> None:
        self.records = store.delivered_records
        self.org_id = org_id
        self.mapping_id = mapping_id

    def batches(self) -> Iterator[pa.Table]:
        """``(_id, _digest)`` of each delivered record, in key order, a page at a time."""
        schema = pa.schema([(UPSERT_KEY, pa.string()), (DIGEST_COLUMN, pa.string())])
        for page in self.records.pages(self.org_id, self.mapping_id):
            ids = [row[0] for row in page]
            digests = [row[1] for row in page]
            yield pa.table([pa.array(ids, pa.string()), pa.array(digests, pa.string())], schema)

    def identities(self, ids: list[Any]) -> tuple[pa.Array, pa.Array]:
        """The primary identities (namespaces, ids) the records of ``ids`` were delivered
        with; null for one delivered without."""
        found = self.records.identities(self.org_id, self.mapping_id, [str(key) for key in ids])
        pairs = [found.get(str(key)) for key in ids]
        namespaces = pa.array([pair[0] if pair else None for pair in pairs], pa.string())
        return namespaces, pa.array([pair[1] if pair else None for pair in pairs], pa.string())


def delivered_side(store: Store, run: JobRun) -> StoredDelivered | None:
    """The delivered side of the run's reconciliation when its destination keeps no table
    to read back (the platform, which deletes by identity); None for the lake."""
    if not isinstance(run.opened.destination, IdentityDeletes):
        return None
    return StoredDelivered(store, run.job.org_id, run.job.mapping_id)
