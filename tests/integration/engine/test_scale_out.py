"""Several ``xdm-connector worker`` processes on one PostgreSQL store share the jobs, and the
slices of a large job: each job and each slice is run by one worker, once, and idle workers
are woken by ``NOTIFY`` (their poll interval is far longer than the test)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from tests.lake import committed_batches
from xdm_connector.demo.setup import demo_mapping, prepare_demo
from xdm_connector.domain.job_states import JobState
from xdm_connector.faults import resume
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.models import Job, utcnow
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

PROFILES = 50
MAPPINGS = 8
TIMEOUT_SECONDS = 60.0
SLICED_PROFILES = 2_000
SLICE_ROWS = 100


@contextmanager
def running_workers(
    count: int, store: Store, settings: Settings, tmp_path: Path, **environment: str
) -> Iterator[list[Path]]:
    """``count`` worker processes on ``store``, started, listening for ``NOTIFY`` (their
    poll is far longer than the test) and counted by the store as running (a job's
    coordinator cuts it into slices only when it sees other workers); their logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDMC_")}
    env.update(
        XDMC_HOME=str(settings.home),
        XDMC_DATABASE_URL=str(settings.database_url),
        XDMC_WORKER_POLL_SECONDS="600",
        XDMC_LOG_FORMAT="text",
        **environment,
    )
    logs = [tmp_path / f"worker-{number}.log" for number in range(count)]
    processes = []
    try:
        for path in logs:
            with path.open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "xdm_connector", "worker"],
                        env=env,
                        stdout=log,
                        stderr=log,
                    )
                )
        deadline = time.monotonic() + TIMEOUT_SECONDS
        # A worker says it started once it listens; the store lists it once it announced.
        lease = timedelta(seconds=settings.lease_seconds)
        while not (
            all("started" in path.read_text() for path in logs)
            and len(store.workers.alive(utcnow(), lease)) == count
        ):
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        yield logs
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def wait_until_slices_held_by_two(store: Store, job_id: int) -> None:
    """Return once two workers at least hold a slice of the job at the same time."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while len({p.lease_owner for p in store.slices.of_job(job_id) if p.lease_owner}) < 2:
        assert time.monotonic() < deadline, "two workers never held a slice at once"
        time.sleep(0.05)


def wait_until_ended(store: Store, requests: list[int]) -> list[Job]:
    """The jobs of ``requests`` once none is in progress."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        jobs = [store.jobs.get_by_id(request) for request in requests]
        if all(not JobState(job.state).in_progress for job in jobs):
            return jobs
        assert time.monotonic() < deadline, [job.state for job in jobs]
        time.sleep(0.05)


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_share_jobs_without_double_work(
    workers: int, postgres_store_url: str, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, database_url=postgres_store_url)
    store = Store(settings.store_url)
    store.upgrade()
    prepare_demo(settings, store, profiles=PROFILES)
    registry = SchemaRegistry.packaged()
    ids = [f"XDM{number}" for number in range(1, MAPPINGS + 1)]
    for mapping_id in ids:
        apply_mapping(store, "demo", demo_mapping().model_copy(update={"id": mapping_id}))
        assert publish_mapping(store, registry, "demo", mapping_id, start=False).published

    try:
        with running_workers(workers, store, settings, tmp_path) as logs:
            requests = [store.jobs.request_ingestion("demo", m).job.id for m in ids]
            jobs = wait_until_ended(store, requests)
    finally:
        store.close()

    assert [job.state for job in jobs] == [JobState.SUCCESS] * MAPPINGS
    assert [job.attempt for job in jobs] == [1] * MAPPINGS
    assert [job.records_ingested for job in jobs] == [PROFILES] * MAPPINGS
    batches = committed_batches(settings.lake_root, "demo", "profiles")
    assert sorted(batch for batch, _ in batches) == sorted(j.batch_id for j in jobs)
    assert sum(rows for _, rows in batches) == PROFILES * MAPPINGS
    runs = Counter(
        int(found)
        for path in logs
        for found in re.findall(r"job (\d+) of mapping \S+ started", path.read_text())
    )
    assert runs == Counter(requests), "a job was run by two workers"


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_share_the_slices_of_a_large_job(
    workers: int, postgres_store_url: str, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, database_url=postgres_store_url)
    store = Store(settings.store_url)
    store.upgrade()
    prepare_demo(settings, store, profiles=SLICED_PROFILES)

    try:
        # Each worker waits in its first slice (the extract fault stage) until two hold one:
        # on a busy machine too, one worker cannot write every slice before the others wake.
        with running_workers(
            workers,
            store,
            settings,
            tmp_path,
            XDMC_SLICE_ROWS=str(SLICE_ROWS),
            XDMC_FAULT_PAUSE_AT="extract",
        ) as logs:
            request = store.jobs.request_ingestion("demo", "XDM44").job.id
            wait_until_slices_held_by_two(store, request)
            resume("extract", settings.home)
            (job,) = wait_until_ended(store, [request])
        pieces = store.slices.of_job(job.id)
    finally:
        store.close()

    assert job.state == JobState.SUCCESS, job.reason
    assert job.records_ingested == SLICED_PROFILES
    assert len(pieces) == SLICED_PROFILES // SLICE_ROWS
    assert sum(piece.records_ingested for piece in pieces) == SLICED_PROFILES
    writers = Counter((piece.result or {}).get("worker") for piece in pieces)
    assert len(writers) >= 2, f"one worker wrote every slice: {writers}"
    started = Counter(
        (int(job_id), int(number))
        for path in logs
        for number, job_id in re.findall(r"slice (\d+) of job (\d+) started", path.read_text())
    )
    assert started == Counter((job.id, piece.number) for piece in pieces), "a slice ran twice"
    assert committed_batches(settings.lake_root, "demo", "profiles") == [
        (job.batch_id, SLICED_PROFILES)
    ]
