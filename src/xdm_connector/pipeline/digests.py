"""The digest of a record, by which a reconciliation tells two versions of it apart."""

from __future__ import annotations

import pyarrow as pa

from xdm_connector.pipeline.duckdb_connections import bounded_connection

DIGEST_ROWS = 2_048
"""Records digested per DuckDB query: their JSON text is this many rows at most."""


def record_digests(records: pa.RecordBatch, schema: pa.Schema) -> pa.Array:
    """The digest of each record: the md5 of its columns of ``schema`` (cast to it) as JSON.
    Both sides of a reconciliation are digested here, so equal records agree."""
    table = pa.Table.from_batches([records]).select(schema.names).cast(schema)
    parts: list[pa.ChunkedArray] = []
    with bounded_connection() as connection:
        # In slices: the JSON of a whole batch would be held at once.
        for start in range(0, max(table.num_rows, 1), DIGEST_ROWS):
            connection.register("records", table.slice(start, DIGEST_ROWS))
            digests = connection.sql("SELECT md5(to_json(records)) FROM records")
            parts.append(digests.to_arrow_table().column(0))
            connection.unregister("records")
    return pa.chunked_array(
        [chunk for part in parts for chunk in part.chunks], pa.string()
    ).combine_chunks()
