"""One measured run, in a process of its own: ``python -m bench.probes NAME JSON-ARGS``.

Prints one JSON line: ``{"rows": ..., "seconds": ..., "peak_rss_mib": ...}``. The time
covers the work only (not the interpreter's start nor the imports); the peak resident
memory is the whole process's (``getrusage``), imports included, as a worker's would be
(for ``api_export``, the server's, which ran the job). The product's probes, and that
server, see only the packages of the run lock (``bench/harness.py``, ``bench/run_lock.py``).

Probes:

- ``export``: the product, end to end: a job of the demo mapping run by a ``Worker`` into
  the lake (plan, read, shape, validate, write, lake commit, job ``Success``): a first
  export into an empty Delta table (``lake="delta"``), or into the batch folders the lake
  kept before Delta tables (``lake="folders"``, ``destinations/lake.py``, which also writes
  JSON Lines, the platform's other upload format);
- ``merge``: a 1% change of the source merged by a second job into the upsert table the
  first job made (made in a process of its own, so the peak memory is the merge's);
- ``optimize``: the compaction of a table of 96 small commits (made in a process of its own);
- ``reconcile``: a reconciliation (``mappings reconcile --dry-run``) of the source against
  the upsert table a first job made of it (made in a process of its own): every key of both
  sides and its digest, compared;
- ``sqlite_read``: Python's ``sqlite3``, ``fetchmany`` over the source columns the mapping
  reads, nothing else done;
- ``psycopg_read``: psycopg 3, a server-side cursor, ``fetchmany`` over the same columns;
- ``mysqlclient_read``: mysqlclient (the fastest Python MySQL driver, C), an unbuffered
  cursor, ``fetchmany`` over the same columns;
- ``dlt``: dlt's ``sql_table`` with the pyarrow (or ConnectorX) backend into filesystem
  Parquet, the ``profile`` table or some of its columns (extract, normalize and load);
- ``api_export``: the simple mapping (8 direct fields) run as a user runs it: a server with
  its embedded worker, one ``POST`` trigger, the request followed through its event
  stream until ``Success``;
- ``adbc_sqlite_read``: ADBC's SQLite driver reading the same columns into Arrow, one thread;
- ``connectorx_read``: ConnectorX reading the same columns from PostgreSQL into Arrow.
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

from bench.harness import probe_command
from bench.sources import PLAIN_READ, SIMPLE_MAPPING, SIMPLE_READ, libpq_url, simple_mapping

FETCH_ROWS = 10_000
ARROW_BATCH_ROWS = 65_536
ORG = "bench"
Measured = tuple[int, float]
"""Rows (or records) and the seconds the probe's work took."""
DETAILS: dict[str, float] = {}
"""What a probe measured besides its rows and seconds, printed with them."""


def _cpu_seconds() -> float:
    """The CPU time of this process (every thread) and of its children waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _Timer:
    """The seconds of a probe's work, and its CPU seconds (into ``DETAILS``): on a machine
    busy with other work, the CPU a read or an export costs varies less than its time."""

    def __init__(self) -> None:
        self.started, self.cpu_started = time.perf_counter(), _cpu_seconds()

    def stop(self) -> float:
        DETAILS["cpu_seconds"] = round(_cpu_seconds() - self.cpu_started, 3)
        return time.perf_counter() - self.started


def _install(
    source_url: str, folder: Path, definition: Any, lake_mode: Any = None
) -> tuple[Any, Any]:
    """A new installation in ``folder``: the organization of ``source_url``, the demo's
    dataset in the lake (in its class's mode unless ``lake_mode``), and the mapping
    ``definition`` published; its settings and store."""
    from xdm_connector.demo.setup import DEMO_DATASET, DEMO_SCHEMA
    from xdm_connector.services.datasets import create_dataset
    from xdm_connector.services.mappings import apply_mapping
    from xdm_connector.services.organizations import create_organization, set_destination
    from xdm_connector.services.publication import publish_mapping
    from xdm_connector.settings import Settings
    from xdm_connector.store.store import Store
    from xdm_connector.xdm.registry import SchemaRegistry

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settings = Settings(home=folder, database_url=None, embedded_worker=False)
    store = Store(settings.store_url)
    store.upgrade()
    registry = SchemaRegistry.packaged()
    create_organization(store, ORG, source_url)
    create_dataset(
        store, registry, ORG, DEMO_DATASET, class_ref=DEMO_SCHEMA[0], field_groups=DEMO_SCHEMA[1:],
        lake_mode=lake_mode,
    )  # fmt: skip
    set_destination(store, ORG, {"type": "lake"})
    apply_mapping(store, ORG, definition)
    published = publish_mapping(store, registry, ORG, definition.id, start=False)
    if not published.published:
        raise SystemExit(f"bench: the mapping {definition.id} does not publish: {published.log}")
    return settings, store


def export(
    source_url: str, home: str, file_format: str, lake: str = "delta", keep: bool = False
) -> Measured:
    """The product: one job of the demo mapping into the lake (the job's run is timed);
    ``keep`` leaves its installation for the next probe."""
    from xdm_connector.demo.setup import demo_mapping
    from xdm_connector.jobs.worker import Worker
    from xdm_connector.pipeline.export import Exporter

    folder = Path(home)
    settings, store = _install(source_url, folder, demo_mapping())
    exporter = Exporter(store, settings)
    if lake == "folders":
        exporter.setup.destinations = FolderLake(store, settings, folder / "folders", file_format)
    elif file_format != "parquet":
        raise SystemExit("bench: the Delta lake stores Parquet only")
    worker = Worker(store, settings, exporter=exporter)
    records, elapsed = _run_job(store, worker)
    store.close()
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return records, elapsed


def api_export(source_url: str, home: str) -> Measured:
    """The product as a user runs it: ``xdm-connector serve`` (embedded store and worker),
    the simple mapping triggered with ``POST`` and the request followed through its event
    stream until it ends; the time from the trigger to the event that says ``Success``."""
    import os

    import httpx

    from bench.api import serving
    from xdm_connector.domain.lake_modes import LakeMode
    from xdm_connector.domain.mapping_definition import MappingDefinition
    from xdm_connector.security.credentials import ROLE_SQL, issue_token
    from xdm_connector.services.integrations import create_integration
    from xdm_connector.services.organizations import grant_role

    folder = Path(home)
    definition = MappingDefinition.from_document(simple_mapping())
    # An append table: the simple mapping maps no /_id, which an upsert table merges on.
    _, store = _install(source_url, folder, definition, LakeMode.APPEND)
    grant_role(store, ORG, "Administrators", ROLE_SQL)
    credentials = create_integration(store, ORG, groups=["Administrators"], name="bench")
    token = issue_token(store, credentials.client_id, credentials.client_secret, 3600)
    store.close()
    environment = {**os.environ, "XDMC_HOME": str(folder), "XDMC_LOG_LEVEL": "WARNING"}
    environment.pop("XDMC_DATABASE_URL", None)
    headers = {"Authorization": f"Bearer {token.access_token}", "X-Api-Key": credentials.client_id}
    path = f"/{ORG}/campaign/dataIngestion/xdmIngestion/{SIMPLE_MAPPING}/ingest"
    served = serving(folder, environment)
    with served as server, httpx.Client(base_url=server.base, timeout=30) as client:
        started, cpu_started = time.perf_counter(), server.cpu_seconds()
        answer = client.post(path, headers=headers).json()
        if "requestId" not in answer:
            raise SystemExit(f"bench: the trigger answered {answer}")
        request_id = answer["requestId"]
        status = _followed(client, f"{path}/events", request_id, headers)
        elapsed = time.perf_counter() - started
        DETAILS["cpu_seconds"] = round(server.cpu_seconds() - cpu_started, 3)
    if status["status"] != "Success":
        raise SystemExit(f"bench: the request ended {status}")
    # The server, a child waited for, ran the job: its peak memory is the probe's.
    server_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    DETAILS["peak_rss_mib"] = round(server_peak, 1)
    _record_job_times(folder, request_id)
    shutil.rmtree(folder, ignore_errors=True)
    return int(status["numRecords"]), elapsed


def _followed(client: Any, path: str, request_id: int, headers: dict[str, str]) -> Any:
    """The status body of the request's first event that does not say ``In Progress``, read
    from its event stream (``GET .../ingest/events``)."""
    import json

    with client.stream("GET", path, params={"requestId": request_id}, headers=headers) as events:
        for line in events.iter_lines():
            if line.startswith("data: "):
                status = json.loads(line.removeprefix("data: "))
                if status["status"] != "In Progress":
                    return status
    raise SystemExit(f"bench: the event stream of request {request_id} ended without its end")


def _record_job_times(folder: Path, request_id: int) -> None:
    """How the request's time divides: waiting for a worker (created to started) and the
    job's run (started to ended), from the store, into the probe's result."""
    from xdm_connector.settings import Settings
    from xdm_connector.store.store import Store

    store = Store(Settings(home=folder, database_url=None).store_url)
    try:
        job = store.jobs.get(ORG, SIMPLE_MAPPING, request_id)
    finally:
        store.close()
    if job.started_at is not None and job.ended_at is not None:
        DETAILS["wait_seconds"] = (job.started_at - job.created_at).total_seconds()
        DETAILS["job_seconds"] = (job.ended_at - job.started_at).total_seconds()


def _run_job(store: Any, worker: Any) -> Measured:
    """Trigger the demo mapping and run its job with ``worker``: its records and seconds."""
    from xdm_connector.demo.setup import DEMO_MAPPING
    from xdm_connector.domain.job_states import JobState

    request = store.jobs.request_ingestion(ORG, DEMO_MAPPING)
    started = time.perf_counter()
    if not worker.run_once():
        raise SystemExit("bench: the worker found no job")
    elapsed = time.perf_counter() - started
    job = store.jobs.get(ORG, DEMO_MAPPING, request.job.id)
    if job.state != JobState.SUCCESS:
        raise SystemExit(f"bench: the job ended {job.state}: {job.reason}")
    return int(job.records_ingested or 0), elapsed


def _prepare(probe: str, **arguments: Any) -> None:
    """Run another probe in a process of its own (its memory is not this probe's)."""
    import subprocess

    done = subprocess.run(
        probe_command(probe, arguments), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: preparing with {probe} failed:\n{done.stderr[-3000:]}")


def merge(source_path: str, home: str, percent: float = 1.0) -> Measured:
    """A second job merging ``percent`` of the source's rows, changed, into the upsert table
    (the demo's profiles) that a first job made; its records and seconds."""
    import sqlite3 as sqlite

    from xdm_connector.jobs.worker import Worker
    from xdm_connector.settings import Settings
    from xdm_connector.store.store import Store

    folder = Path(home)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    source = folder / "source.db"
    shutil.copyfile(source_path, source)  # changed below: the cached source stays as it is
    _prepare("export", source_url=f"sqlite:///{source}", home=str(folder / "home"),
             file_format="parquet", keep=True)  # fmt: skip
    with closing(sqlite.connect(source)) as conn, conn:
        (count,) = conn.execute("select count(*) from profile").fetchone()
        step = max(1, round(100 / percent))
        conn.execute(
            "update profile set lastModified = '2099-01-01 00:00:00.000000',"
            " email = 'merged' || id || '@example.com' where id % ? = 0",
            (step,),
        )
    settings = Settings(home=folder / "home", database_url=None, embedded_worker=False)
    store = Store(settings.store_url)
    records, elapsed = _run_job(store, Worker(store, settings))
    store.close()
    if records != count // step:
        raise SystemExit(f"bench: the merge job exported {records} records, not {count // step}")
    shutil.rmtree(folder, ignore_errors=True)
    return records, elapsed


def small_commits(home: str, commits: int) -> Measured:
    """The table the export left in ``home`` cut into ``commits`` small commits of a new
    dataset (``small``), as a 15-minute schedule makes them in a day."""
    import pyarrow.parquet as pq

    from xdm_connector.destinations.lake_tables import LakeTables
    from xdm_connector.settings import Settings

    settings = Settings(home=Path(home), database_url=None)
    lake = LakeTables(settings.lake_location)
    table = lake.table(ORG, "profiles")
    if table is None:
        raise SystemExit("bench: no table to cut")
    rows = table.to_pyarrow_table()
    size = -(-rows.num_rows // commits)
    started = time.perf_counter()
    for number in range(commits):
        part = Path(home) / f"small-{number}.parquet"
        pq.write_table(rows.slice(number * size, size), part)
        batch_id = lake.create_batch(
            org=ORG, dataset="small", batch_key=f"{ORG}-small-{number}", file_format="parquet"
        )
        lake.put_file(batch_id, "part-00000.parquet", part)
        lake.complete(batch_id)
        part.unlink()
    return rows.num_rows, time.perf_counter() - started


def optimize(source_path: str, home: str, commits: int = 96) -> Measured:
    """``lake optimize`` of a table of ``commits`` small commits holding the source's rows."""
    from xdm_connector.destinations.lake_maintenance import optimize_table
    from xdm_connector.destinations.lake_tables import LakeTables
    from xdm_connector.settings import Settings

    folder = Path(home)
    shutil.rmtree(folder, ignore_errors=True)
    _prepare("export", source_url=f"sqlite:///{source_path}", home=str(folder),
             file_format="parquet", keep=True)  # fmt: skip
    _prepare("small_commits", home=str(folder), commits=commits)
    lake = LakeTables(Settings(home=folder, database_url=None).lake_location)
    started = time.perf_counter()
    done = optimize_table(lake, ORG, "small")
    elapsed = time.perf_counter() - started
    if done.files_removed != commits:
        raise SystemExit(f"bench: optimize compacted {done.files_removed} files, not {commits}")
    table = lake.table(ORG, "small")
    rows = (
        0
        if table is None
        else sum(int(n) for n in table.get_add_actions().column("num_records").to_pylist())
    )
    shutil.rmtree(folder, ignore_errors=True)
    return rows, elapsed


def reconcile(source_path: str, home: str, prepared: bool = False, keep: bool = False) -> Measured:
    """The comparison of a reconciliation: the source's rows against as many records that a
    first job delivered into the upsert table; its source rows and seconds (CPU seconds
    besides). ``prepared``: ``home`` already holds that installation (left by a run with
    ``keep``), which a 10 M-record first export takes minutes to make."""
    from xdm_connector.demo.setup import DEMO_MAPPING
    from xdm_connector.pipeline.reconciliation import compare_mapping
    from xdm_connector.settings import Settings
    from xdm_connector.store.store import Store

    folder = Path(home)
    if not prepared:
        shutil.rmtree(folder, ignore_errors=True)
        _prepare("export", source_url=f"sqlite:///{source_path}", home=str(folder),
                 file_format="parquet", keep=True)  # fmt: skip
    settings = Settings(home=folder, database_url=None, embedded_worker=False)
    store = Store(settings.store_url)
    timer = _Timer()
    found = compare_mapping(store, settings, ORG, DEMO_MAPPING)
    elapsed = timer.stop()
    store.close()
    if any(found.document().values()):
        raise SystemExit(f"bench: the reconciliation found differences: {found.document()}")
    with closing(sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)) as conn:
        (rows,) = conn.execute("select count(*) from profile").fetchone()
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return int(rows), elapsed


def sqlite_read(path: str, query: str = PLAIN_READ) -> Measured:
    """Python's sqlite3 reading the mapping's source columns (those of ``query``)."""
    rows, timer = 0, _Timer()
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        cursor = conn.execute(query)
        while chunk := cursor.fetchmany(FETCH_ROWS):
            rows += len(chunk)
    return rows, timer.stop()


def psycopg_read(url: str, query: str = PLAIN_READ) -> Measured:
    """psycopg 3 reading the mapping's source columns (those of ``query``) through a
    server-side cursor."""
    import psycopg

    rows, timer = 0, _Timer()
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor(name="bench") as cursor:
        cursor.itersize = FETCH_ROWS
        cursor.execute(query)
        while chunk := cursor.fetchmany(FETCH_ROWS):
            rows += len(chunk)
    return rows, timer.stop()


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


def adbc_sqlite_read(path: str, query: str = SIMPLE_READ) -> Measured:
    """ADBC's SQLite driver reading ``query`` into Arrow batches on one thread (the read
    limit: what any Arrow-based export of those columns must at least do)."""
    import adbc_driver_sqlite
    import adbc_driver_sqlite.dbapi

    rows, timer = 0, _Timer()
    batch_rows = adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value
    with (
        closing(adbc_driver_sqlite.dbapi.connect(f"file:{path}?mode=ro")) as conn,
        closing(conn.cursor()) as cursor,
    ):
        cursor.adbc_statement.set_options(**{batch_rows: str(ARROW_BATCH_ROWS)})
        cursor.execute(query)
        for batch in cursor.fetch_record_batch():
            rows += batch.num_rows
    return rows, timer.stop()


def connectorx_read(url: str, query: str = SIMPLE_READ) -> Measured:
    """ConnectorX (Rust) reading ``query`` from PostgreSQL into one Arrow table, one
    connection (the read limit on PostgreSQL)."""
    import connectorx

    timer = _Timer()
    table = connectorx.read_sql(libpq_url(url), query, return_type="arrow")
    return table.num_rows, timer.stop()


def dlt_load(
    path: str = "",
    home: str = "",
    credentials: str = "",
    backend: str = "pyarrow",
    columns: list[str] | None = None,
) -> Measured:
    """dlt: ``sql_table`` of the ``profile`` table (``columns`` of it, or all) with the
    ``backend`` (pyarrow or connectorx) into filesystem Parquet (the run is timed); the
    source is the SQLite file at ``path`` or the database of ``credentials``."""
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
        credentials=credentials or f"sqlite:///{path}",
        table="profile",
        backend=backend,
        chunk_size=ARROW_BATCH_ROWS,
        included_columns=columns,
    )
    timer = _Timer()
    pipeline.run(table, loader_file_format="parquet")
    elapsed = timer.stop()
    trace = pipeline.last_trace
    normalized = trace.last_normalize_info if trace is not None else None
    if normalized is None:
        raise SystemExit("bench: dlt reported no normalize step")
    counts: dict[str, int] = dict(normalized.row_counts)
    rows = sum(count for name, count in counts.items() if not name.startswith("_dlt"))
    shutil.rmtree(folder, ignore_errors=True)
    return rows, elapsed


class FolderLake:
    """The organizations' destinations as the batch folders of ``destinations/lake.py``
    (the lake before Delta tables), taking files of ``file_format``."""

    def __init__(self, store: Any, settings: Any, root: Path, file_format: str) -> None:
        from xdm_connector.destinations.factory import OrgDestinations

        self._destinations = OrgDestinations(store, settings)
        self.store, self.settings = store, settings
        self.root, self.file_format = root, file_format

    def open(self, org_id: str) -> Any:
        from xdm_connector.destinations.factory import OpenedDestination
        from xdm_connector.destinations.lake import LakeDestination
        from xdm_connector.destinations.retrying import RetryingDestination

        folders = RetryingDestination(LakeDestination(self.root), self.settings.retry_policy())
        return OpenedDestination(folders, self.file_format)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._destinations, name)


PROBES: dict[str, Callable[..., Measured]] = {
    "export": export,
    "merge": merge,
    "small_commits": small_commits,
    "optimize": optimize,
    "reconcile": reconcile,
    "sqlite_read": sqlite_read,
    "psycopg_read": psycopg_read,
    "mysqlclient_read": mysqlclient_read,
    "dlt": dlt_load,
    "api_export": api_export,
    "adbc_sqlite_read": adbc_sqlite_read,
    "connectorx_read": connectorx_read,
}


def main(argv: list[str]) -> None:
    """Run the probe named by ``argv[0]`` with the keyword arguments in ``argv[1]``."""
    name, arguments = argv[0], json.loads(argv[1])
    rows, seconds = PROBES[name](**arguments)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result: dict[str, Any] = {"rows": rows, "seconds": seconds, "peak_rss_mib": round(peak, 1)}
    result.update(DETAILS)
    if "pyarrow" in sys.modules:  # what Arrow's own allocator held at most
        arrow = sys.modules["pyarrow"].default_memory_pool().max_memory() / 2**20
        result["arrow_peak_mib"] = round(arrow, 1)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
