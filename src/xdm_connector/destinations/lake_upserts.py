"""An upsert into a Delta table as files, one row group at a time: no join, no table in memory.

A batch's records replace the table's rows of the same ``_id``, and its deletes remove
theirs. Every file of the table is tested for the batch's keys on its ``_id`` column alone;
a file holding none is kept, a file holding some is rewritten without them into a new file
of the table's folder. Both read one row group at a time, in one thread:
``read_row_group`` holds about the row group, where ``iter_batches`` and the dataset
scanner read ahead and hold several times more. The commit (``LakeTables``) then removes
the rewritten files, adds their rewrites and the batch's record files as they landed. The
memory it takes is a row group and the batch's keys, whatever the table's size:
delta-rs's ``MERGE`` joins the batch with the whole table and holds far more.

::

    keys = batch_keys(filesystem, [record_file, delete_file])
    rewrites = without_keys(filesystem, table, table_files, keys, into=folder, written=[])
    # each Rewrite: the file removed, and its rewrite
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from xdm_connector.destinations.lake_statistics import file_statistics
from xdm_connector.destinations.lake_storage import fsync
from xdm_connector.domain.lake_modes import UPSERT_KEY

REWRITES_FOLDER = "rewrites"
"""Where in a batch's folder of the table (``<batch_id>/``) its rewrites are written: beside
its record files, yet not among them; dropped with the folder when the batch is aborted
uncommitted (a worker killed while rewriting). When such a batch is committed after all (its
job recovered), the killed attempt's rewrites stay, named by no commit: ``lake clean``
removes them (``LakeTables.stray_rewrites``)."""


@dataclass(frozen=True)
class Rewrite:
    """A file of the table that held some of the batch's keys, and the file of its other rows."""

    removed: str
    """The rewritten file's path in the table."""
    added: str | None
    """The path in the table of the rewrite; None when the batch replaces all its rows."""
    rows: int
    stats: str
    """The rewrite's Delta statistics, from the footer its writer produced."""


def batch_keys(filesystem: pafs.FileSystem, paths: Iterable[str]) -> pa.ChunkedArray:
    """The ``_id`` of every row of the files (a batch's records and deletes), as strings."""
    chunks = [
        pq.read_table(path, columns=[UPSERT_KEY], filesystem=filesystem)
        .column(UPSERT_KEY)
        .cast(pa.string())
        for path in paths
    ]
    return pa.chunked_array([c for chunk in chunks for c in chunk.chunks], pa.string())


def without_keys(
    filesystem: pafs.FileSystem,
    table: str,
    files: Iterable[str],
    keys: pa.ChunkedArray,
    *,
    into: str,
    written: list[str],
) -> list[Rewrite]:
    """Rewrite the ``files`` of the table at ``table`` (paths relative to it) that hold any
    of ``keys``, without those rows, into new files of its folder ``into``; answers the
    rewrites. Each file written is listed in ``written`` (relative to the table) as soon as
    it is begun, so that the caller removes them when the commit fails."""
    values = pc.unique(keys.combine_chunks()) if keys.num_chunks else pa.array([], pa.string())
    # Pre-buffering coalesces a row group's column reads into few requests, which an object
    # store needs; on a local disk it only holds the row group's bytes twice (~10 MiB).
    remote = not isinstance(filesystem, pafs.LocalFileSystem)
    pool = pa.default_memory_pool()
    rewrites = []
    for path in files:
        parquet = pq.ParquetFile(f"{table}/{path}", filesystem=filesystem, pre_buffer=remote)
        if not _holds_any(parquet, values):
            continue
        filesystem.create_dir(f"{table}/{into}", recursive=True)
        name = f"{into}/part-00000-{uuid.uuid4()}-c000.zstd.parquet"
        written.append(name)
        rows = 0
        with pq.ParquetWriter(
            f"{table}/{name}", parquet.schema_arrow, filesystem=filesystem, compression="zstd"
        ) as writer:
            for group in range(parquet.num_row_groups):
                read = parquet.read_row_group(group, use_threads=False)
                kept = read.filter(pc.invert(_in(read.column(UPSERT_KEY), values)))
                if kept.num_rows:
                    writer.write_table(kept)
                    rows += kept.num_rows
                del read, kept
                # Arrow's allocator keeps what a row group freed for itself: handed back,
                # the next row group's decoding does not add to the process's peak.
                pool.release_unused()
        stats = file_statistics(writer.writer.metadata)  # the footer just written
        if rows == 0:  # the batch replaces every row of the file: nothing to add back
            filesystem.delete_file(f"{table}/{name}")
            written.remove(name)
        elif not remote:
            fsync(Path(f"{table}/{name}"))  # on disk before a commit refers to it
        rewrites.append(Rewrite(path, name if rows else None, rows, stats))
    return rewrites


def _holds_any(parquet: pq.ParquetFile, values: pa.Array) -> bool:
    for group in range(parquet.num_row_groups):
        read = parquet.read_row_group(group, columns=[UPSERT_KEY], use_threads=False)
        if pc.any(_in(read.column(0), values)).as_py():
            return True
    return False


def _in(column: pa.ChunkedArray, values: pa.Array) -> pa.ChunkedArray:
    """Whether each key of ``column`` is one of ``values`` (null keys never are)."""
    found = pc.is_in(column.cast(pa.string()), value_set=values, skip_nulls=True)
    return pc.fill_null(found, False)
