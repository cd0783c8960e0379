"""Scale-out: one job finished by two workers, each pinned to one core, in slices, against
the same job finished by one worker pinned to one core (alone, a worker reads the job
whole: its best time, not a sliced job run slice after slice).

Each run makes a PostgreSQL metadata store anew (the database ``xdmc_bench_scale``; a
SQLite store in the run's folder when no server answers), the demo organization on the
cached SQLite source, and a lake; starts ``xdm-connector worker`` processes
(``taskset -c N``, ``XDMC_SLICE_ROWS`` for four slices), waits until they are idle,
triggers the job and times it until it ends ``Success``. The worker count alternates between repetitions;
the medians are kept, and the ratio is the two workers' time over the one worker's.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import sqlalchemy as sa
from psycopg import sql

from bench import run_lock
from bench.harness import ROOT
from bench.sources import libpq_url

if TYPE_CHECKING:
    from xdm_connector.store.store import Store

STORE_DATABASE = "xdmc_bench_scale"
SLICES = 4
"""Slices of the job: 2 M records in four, as the default ``XDMC_SLICE_ROWS`` cuts them."""
TIMEOUT_SECONDS = 1800.0
WORKER_COUNTS = (1, 2)


def measure_scale_out(
    server_url: str, sqlite_path: Path, work: Path, *, profiles: int, rounds: int
) -> dict[str, Any]:
    """Seconds of the job of ``profiles`` records, cut in ``SLICES`` slices, with one and
    with two workers, and their ratio."""
    if shutil.which("taskset") is None:
        return {"unavailable": "taskset is not installed (util-linux)"}
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        return {"unavailable": f"two cores are needed, this process has {cores}"}
    slice_rows = -(-profiles // SLICES)
    runs: dict[int, list[dict[str, float]]] = {count: [] for count in WORKER_COUNTS}
    for repetition in range(rounds):
        order = WORKER_COUNTS if repetition % 2 == 0 else tuple(reversed(WORKER_COUNTS))
        for count in order:
            measured = _run(server_url, sqlite_path, work / "scale-out", count, slice_rows)
            runs[count].append(measured)
            print(
                f"  scale #{repetition + 1} {count} worker(s): {measured['seconds']:.1f} s, "
                f"{measured['records']:,.0f} records, {measured['slices']:.0f} slices",
                flush=True,
            )
    seconds = {count: statistics.median(r["seconds"] for r in runs[count]) for count in runs}
    records = int(runs[1][0]["records"])
    return {
        "records": records,
        "slice_rows": slice_rows,
        "one_worker_seconds": round(seconds[1], 2),
        "two_workers_seconds": round(seconds[2], 2),
        "one_worker_rate": round(records / seconds[1], 1),
        "two_workers_rate": round(records / seconds[2], 1),
        "ratio": round(seconds[2] / seconds[1], 3),
        "runs": {str(count): found for count, found in runs.items()},
    }


def _run(
    server_url: str, sqlite_path: Path, folder: Path, workers: int, slice_rows: int
) -> dict[str, float]:
    from xdm_connector.domain.job_states import JobState
    from xdm_connector.store.store import Store

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    store_url = new_store_url(server_url, folder)
    store = Store(store_url)
    try:
        prepare_demo(store, sqlite_path)
        processes = start_workers(folder, store_url, workers, slice_rows)
        try:
            started = time.perf_counter()
            request = store.jobs.request_ingestion("demo", "XDM44").job.id
            deadline = time.monotonic() + TIMEOUT_SECONDS
            while JobState(state := store.jobs.get_by_id(request).state).in_progress:
                if time.monotonic() > deadline:
                    raise SystemExit(f"bench: the scale-out job is still {state}")
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
        finally:
            stop_workers(processes)
        job = store.jobs.get_by_id(request)
        if job.state != JobState.SUCCESS:
            logs = "\n".join(path.read_text()[-2000:] for path in folder.glob("worker-*.log"))
            raise SystemExit(f"bench: the scale-out job ended {job.state}: {job.reason}\n{logs}")
        slices = len(store.slices.of_job(job.id))
        return {"seconds": elapsed, "records": job.records_ingested, "slices": slices}
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def new_store_url(server_url: str, folder: Path, database: str = STORE_DATABASE) -> str:
    """A new PostgreSQL store (the database ``database``), or a SQLite one in ``folder``
    when no server answers."""
    try:
        with psycopg.connect(libpq_url(server_url), autocommit=True, connect_timeout=5) as admin:
            name = sql.Identifier(database)
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    except psycopg.OperationalError:
        return f"sqlite:///{folder / 'store.db'}"
    server = sa.make_url(server_url)
    return server.set(database=database).render_as_string(hide_password=False)


def prepare_demo(store: Store, sqlite_path: Path) -> None:
    """The demo organization on ``sqlite_path``, its dataset and published mapping."""
    from xdm_connector.demo.setup import DEMO_DATASET, DEMO_MAPPING, DEMO_SCHEMA, demo_mapping
    from xdm_connector.services.datasets import create_dataset
    from xdm_connector.services.mappings import apply_mapping
    from xdm_connector.services.organizations import create_organization
    from xdm_connector.services.publication import publish_mapping
    from xdm_connector.xdm.registry import SchemaRegistry

    store.upgrade()
    registry = SchemaRegistry.packaged()
    create_organization(store, "demo", f"sqlite:///{sqlite_path}")
    create_dataset(
        store,
        registry,
        "demo",
        DEMO_DATASET,
        class_ref=DEMO_SCHEMA[0],
        field_groups=DEMO_SCHEMA[1:],
    )
    apply_mapping(store, "demo", demo_mapping())
    if not publish_mapping(store, registry, "demo", DEMO_MAPPING, start=False).published:
        raise SystemExit("bench: the demo mapping does not publish")


def start_workers(
    folder: Path, store_url: str, count: int, slice_rows: int, **settings: str
) -> list[subprocess.Popen[bytes]]:
    """``count`` workers, worker N pinned to core N, idle once this answers; ``settings``
    are more of their ``XDMC_`` variables. They see only the packages of the run lock, as
    a user's installation would (``bench/run_lock.py``)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("XDMC_")}
    environment.update(
        XDMC_HOME=str(folder),
        XDMC_DATABASE_URL=store_url,
        XDMC_SLICE_ROWS=str(slice_rows),
        XDMC_WORKER_POLL_SECONDS="0.1",
        XDMC_LOG_FORMAT="text",
        XDMC_LOG_LEVEL="INFO",
        **settings,
    )
    processes = []
    logs = [folder / f"worker-{number}.log" for number in range(count)]
    for number, path in enumerate(logs):
        with path.open("wb") as log:
            command = ["taskset", "-c", str(number), *run_lock.command("xdm_connector", "worker")]
            processes.append(
                subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log)
            )
    deadline = time.monotonic() + 120
    while not all("started" in path.read_text(errors="replace") for path in logs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            stop_workers(processes)
            raise SystemExit("bench: the scale-out workers did not start")
        time.sleep(0.05)
    return processes


def stop_workers(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop the workers that still run (``SIGTERM``, then ``SIGKILL`` after a minute)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
