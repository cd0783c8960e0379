"""The lake's scheduled upkeep: two workers on one store run each task once per interval."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tests.lake import lake_table
from xdm_connector.demo.setup import prepare_demo
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.jobs.maintenance import OPTIMIZE_TASK, VACUUM_TASK
from xdm_connector.jobs.worker import Worker
from xdm_connector.settings import Settings
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    return Settings(
        home=tmp_path,
        database_url=database_url,
        lake_optimize_interval_minutes=15,
        lake_vacuum_interval_hours=1,
        lake_vacuum_retain_hours=0,
    )


@pytest.fixture
def stores(settings: Settings) -> Iterator[list[Store]]:
    """Two stores on one database, as two worker processes open it."""
    opened = [Store(settings.store_url) for _ in range(2)]
    opened[0].upgrade()
    prepare_demo(settings, opened[0], profiles=10)
    yield opened
    for store in opened:
        store.close()


def small_commits(settings: Settings, tmp_path: Path, jobs: range) -> None:
    """A small commit into demo/profiles for each job, as a 15-minute schedule makes."""
    lake = LakeTables(settings.lake_location)
    for job in jobs:
        batch_id = lake.create_batch(
            org="demo", dataset="profiles", batch_key=f"demo-m-{job}", file_format="parquet"
        )
        path = tmp_path / f"{job}.parquet"
        pq.write_table(pa.table({"_id": [str(job)]}), path)
        lake.put_file(batch_id, "part-00000.parquet", path)
        lake.complete(batch_id)


def optimizations(settings: Settings) -> int:
    table = DeltaTable(f"{settings.lake_location}/demo/profiles")
    return sum(commit["operation"] == "OPTIMIZE" for commit in table.history())


def test_two_workers_run_each_upkeep_task_once_per_interval(
    settings: Settings, stores: list[Store], tmp_path: Path
) -> None:
    now = [utcnow()]
    workers = [Worker(store, settings, clock=lambda: now[0]) for store in stores]
    small_commits(settings, tmp_path, range(1, 4))
    # The table keeps removed files for no time: a vacuum retaining 0 hours is not refused.
    table = DeltaTable(f"{settings.lake_location}/demo/profiles")
    table.alter.set_table_properties({"delta.deletedFileRetentionDuration": "interval 0 hours"})

    def turn(at: timedelta, order: list[int]) -> None:
        now[0] = start + at
        for index in order:
            workers[index].run_once()

    start = now[0]
    turn(timedelta(0), [0, 1, 0])  # the first turn plans the tasks, one interval later
    assert optimizations(settings) == 0
    assert stores[0].maintenance.last_run(OPTIMIZE_TASK) == (None, None)

    turn(timedelta(minutes=15), [0, 1, 0, 1])
    assert optimizations(settings) == 1
    assert stores[1].maintenance.last_run(OPTIMIZE_TASK)[1] == workers[0].owner

    small_commits(settings, tmp_path, range(4, 7))
    turn(timedelta(minutes=29), [1, 0])  # not due yet
    assert optimizations(settings) == 1
    turn(timedelta(minutes=30), [1, 0, 1])
    assert optimizations(settings) == 2
    assert stores[0].maintenance.last_run(OPTIMIZE_TASK)[1] == workers[1].owner
    assert stores[0].maintenance.last_run(VACUUM_TASK) == (None, None)

    turn(timedelta(hours=1), [0, 1])
    ran_at, owner = stores[1].maintenance.last_run(VACUUM_TASK)
    assert (ran_at, owner) == (start + timedelta(hours=1), workers[0].owner)
    table = DeltaTable(f"{settings.lake_location}/demo/profiles")
    assert [c["operation"] for c in table.history()].count("VACUUM END") == 1
    assert len(table.get_add_actions()) == 1
    folder = settings.lake_root / "demo" / "profiles"
    data_files = [path for path in folder.rglob("*.parquet") if "_delta_log" not in path.parts]
    assert len(data_files) == 1  # the compacted small files are gone, the current one kept
    ids = sorted(lake_table(settings.lake_location, "demo", "profiles")["_id"].to_pylist())
    assert ids == [str(job) for job in range(1, 7)]
