"""Several ``xdm-connector worker`` processes on one PostgreSQL store share the jobs: each job
is run by one worker, once, and idle workers are woken by ``NOTIFY`` (their poll interval is
far longer than the test)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from xdm_connector.demo.setup import demo_mapping, prepare_demo
from xdm_connector.destinations.lake import LakeDestination
from xdm_connector.jobs.states import JobState
from xdm_connector.mappings.service import apply_mapping, publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

PROFILES = 50
MAPPINGS = 8
TIMEOUT_SECONDS = 20.0


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_share_jobs_without_double_work(
    workers: int, postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, database_url=postgres_url)
    store = Store(settings.store_url)
    store.upgrade()
    prepare_demo(settings, store, profiles=PROFILES)
    registry = SchemaRegistry.packaged()
    ids = [f"XDM{number}" for number in range(1, MAPPINGS + 1)]
    for mapping_id in ids:
        apply_mapping(store, "demo", demo_mapping().model_copy(update={"id": mapping_id}))
        assert publish_mapping(store, registry, "demo", mapping_id, start=False).published

    environment = {k: v for k, v in os.environ.items() if not k.startswith("XDMC_")}
    environment.update(
        XDMC_HOME=str(tmp_path),
        XDMC_DATABASE_URL=postgres_url,
        XDMC_WORKER_POLL_SECONDS="60",
        XDMC_LOG_FORMAT="text",
    )
    logs = [tmp_path / f"worker-{number}.log" for number in range(workers)]
    processes = []
    for path in logs:
        with path.open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "xdm_connector", "worker"],
                    env=environment,
                    stdout=log,
                    stderr=log,
                )
            )
    try:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        # Every worker has made its first turn and now waits on its 60-second poll.
        while not all("started" in path.read_text() for path in logs):
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        time.sleep(0.5)
        started = time.monotonic()
        requests = [store.jobs.request_ingestion("demo", m).job.id for m in ids]
        while True:
            jobs = [store.jobs.get_by_id(request) for request in requests]
            if all(not JobState(job.state).in_progress for job in jobs):
                break
            assert time.monotonic() < deadline, [job.state for job in jobs]
            time.sleep(0.05)
        assert time.monotonic() - started < TIMEOUT_SECONDS
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        store.close()

    assert [job.state for job in jobs] == [JobState.SUCCESS] * MAPPINGS
    assert [job.attempt for job in jobs] == [1] * MAPPINGS
    assert [job.records_ingested for job in jobs] == [PROFILES] * MAPPINGS
    manifest = LakeDestination(settings.lake_root).manifest("demo", "profiles")
    assert sorted(batch["id"] for batch in manifest["batches"]) == sorted(j.batch_id for j in jobs)
    assert sum(batch["rows"] for batch in manifest["batches"]) == PROFILES * MAPPINGS
    runs = Counter(
        int(found)
        for path in logs
        for found in re.findall(r"job (\d+) of mapping \S+ started", path.read_text())
    )
    assert runs == Counter(requests), "a job was run by two workers"
