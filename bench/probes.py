"""One measured run, in a process of its own: ``python -m bench.probes NAME JSON-ARGS``.

Prints one JSON line: ``{"rows": ..., "seconds": ..., "peak_rss_mib": ...}``. The time
covers the work only (not the interpreter's start nor the imports); the peak resident
memory is the whole process's (``getrusage``), imports included, as a worker's would be.

Probes:

- ``export``: the product, end to end: a job of the demo mapping run by a ``Worker`` into
  the lake (plan, read, shape, validate, write, lake commit, job ``Success``);
- ``sqlite_read``: Python's ``sqlite3``, ``fetchmany`` over the source columns the mapping
  reads, nothing else done;
- ``psycopg_read``: psycopg 3, a server-side cursor, ``fetchmany`` over the same columns;
- ``mysqlclient_read``: mysqlclient (the fastest Python MySQL driver, C), an unbuffered
  cursor, ``fetchmany`` over the same columns;
- ``dlt``: dlt's ``sql_table`` with the pyarrow backend into filesystem Parquet, the
  ``profile`` table (extract, normalize and load).
"""

from __future__ import annotations

import json
import resource
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from bench.sources import PLAIN_READ, libpq_url

FETCH_ROWS = 10_000
ORG = "bench"
Measured = tuple[int, float]
"""Rows (or records) and the seconds the probe's work took."""


def export(source_url: str, home: str, file_format: str) -> Measured:
    """The product: one job of the demo mapping into the lake (the job's run is timed)."""
    from xdm_connector.demo.setup import DEMO_DATASET, DEMO_MAPPING, DEMO_SCHEMA, demo_mapping
    from xdm_connector.domain.job_states import JobState
    from xdm_connector.jobs.worker import Worker
    from xdm_connector.services.datasets import create_dataset
    from xdm_connector.services.mappings import apply_mapping
    from xdm_connector.services.organizations import create_organization, set_destination
    from xdm_connector.services.publication import publish_mapping
    from xdm_connector.settings import Settings
    from xdm_connector.store.store import Store
    from xdm_connector.xdm.registry import SchemaRegistry

    folder = Path(home)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settings = Settings(home=folder, database_url=None, embedded_worker=False)
    store = Store(settings.store_url)
    store.upgrade()
    registry = SchemaRegistry.packaged()
    create_organization(store, ORG, source_url)
    create_dataset(
        store, registry, ORG, DEMO_DATASET, class_ref=DEMO_SCHEMA[0], field_groups=DEMO_SCHEMA[1:]
    )
    lake_format = "json" if file_format == "jsonl" else "parquet"
    set_destination(store, ORG, {"type": "lake", "fileFormat": lake_format})
    apply_mapping(store, ORG, demo_mapping())
    publish_mapping(store, registry, ORG, DEMO_MAPPING, start=False)
    request = store.jobs.request_ingestion(ORG, DEMO_MAPPING)
    worker = Worker(store, settings)
    started = time.perf_counter()
    if not worker.run_once():
        raise SystemExit("bench: the worker found no job")
    elapsed = time.perf_counter() - started
    job = store.jobs.get(ORG, DEMO_MAPPING, request.job.id)
    if job.state != JobState.SUCCESS:
        raise SystemExit(f"bench: the job ended {job.state}: {job.reason}")
    store.close()
    shutil.rmtree(folder, ignore_errors=True)
    return int(job.records_ingested or 0), elapsed


def sqlite_read(path: str) -> Measured:
    """Python's sqlite3 reading the mapping's source columns."""
    rows, started = 0, time.perf_counter()
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        cursor = conn.execute(PLAIN_READ)
        while chunk := cursor.fetchmany(FETCH_ROWS):
            rows += len(chunk)
    return rows, time.perf_counter() - started


def psycopg_read(url: str) -> Measured:
    """psycopg 3 reading the mapping's source columns through a server-side cursor."""
    import psycopg

    rows, started = 0, time.perf_counter()
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor(name="bench") as cursor:
        cursor.itersize = FETCH_ROWS
        cursor.execute(PLAIN_READ)
        while chunk := cursor.fetchmany(FETCH_ROWS):
            rows += len(chunk)
    return rows, time.perf_counter() - started


def mysqlclient_read(url: str) -> Measured:
    """mysqlclient (C, libmariadb) reading the mapping's source columns, unbuffered
    (``SSCursor``), ``fetchmany``."""
    import MySQLdb
    import MySQLdb.cursors
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    rows, started = 0, time.perf_counter()
    conn = MySQLdb.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=str(parsed.password or ""),
        database=parsed.database or "",
        charset="utf8mb4",
        cursorclass=MySQLdb.cursors.SSCursor,
    )
    with closing(conn), closing(conn.cursor()) as cursor:
        cursor.execute(PLAIN_READ.replace('"', "`"))
        while chunk := cursor.fetchmany(FETCH_ROWS):
            rows += len(chunk)
    return rows, time.perf_counter() - started


def dlt_load(path: str, home: str) -> Measured:
    """dlt: ``sql_table(backend="pyarrow")`` into filesystem Parquet (the run is timed)."""
    import dlt
    from dlt.sources.sql_database import sql_table

    folder = Path(home)
    shutil.rmtree(folder, ignore_errors=True)
    pipeline = dlt.pipeline(
        pipeline_name="bench",
        pipelines_dir=str(folder / "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=(folder / "lake").as_uri()),
        dataset_name="bench",
    )
    table = sql_table(
        credentials=f"sqlite:///{path}", table="profile", backend="pyarrow", chunk_size=65_536
    )
    started = time.perf_counter()
    pipeline.run(table, loader_file_format="parquet")
    elapsed = time.perf_counter() - started
    trace = pipeline.last_trace
    normalized = trace.last_normalize_info if trace is not None else None
    if normalized is None:
        raise SystemExit("bench: dlt reported no normalize step")
    counts: dict[str, int] = dict(normalized.row_counts)
    rows = sum(count for name, count in counts.items() if not name.startswith("_dlt"))
    shutil.rmtree(folder, ignore_errors=True)
    return rows, elapsed


PROBES: dict[str, Callable[..., Measured]] = {
    "export": export,
    "sqlite_read": sqlite_read,
    "psycopg_read": psycopg_read,
    "mysqlclient_read": mysqlclient_read,
    "dlt": dlt_load,
}


def main(argv: list[str]) -> None:
    """Run the probe named by ``argv[0]`` with the keyword arguments in ``argv[1]``."""
    name, arguments = argv[0], json.loads(argv[1])
    rows, seconds = PROBES[name](**arguments)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result: dict[str, Any] = {"rows": rows, "seconds": seconds, "peak_rss_mib": round(peak, 1)}
    if "pyarrow" in sys.modules:  # what Arrow's own allocator held at most
        arrow = sys.modules["pyarrow"].default_memory_pool().max_memory() / 2**20
        result["arrow_peak_mib"] = round(arrow, 1)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
