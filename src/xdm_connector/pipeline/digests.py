"""The digest of a record, by which a reconciliation tells two versions of it apart."""

from __future__ import annotations

import duckdb
import pyarrow as pa


def record_digests(records: pa.RecordBatch, schema: pa.Schema) -> pa.Array:
    """The digest of each record: the md5 of its columns of ``schema`` (cast to it) as JSON.
    Both sides of a reconciliation are digested here, so equal records agree."""
    table = pa.Table.from_batches([records]).select(schema.names).cast(schema)
    with duckdb.connect() as connection:
        connection.register("records", table)
        digests = connection.sql("SELECT md5(to_json(records)) FROM records").to_arrow_table()
    return digests.column(0).combine_chunks()
