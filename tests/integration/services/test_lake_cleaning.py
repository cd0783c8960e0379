"""Cleaning the batches a dead worker left loading, on a real Delta lake and a real store."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tests.integration.services import lake_rewriter
from tests.lake import committed_batches, lake_table
from xdm_connector.demo.setup import demo_mapping, prepare_demo
from xdm_connector.destinations.base import BatchState
from xdm_connector.destinations.lake_maintenance import vacuum_table
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.destinations.lake_upserts import REWRITES_FOLDER
from xdm_connector.domain.batches import batch_key
from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.lake_modes import LakeMode
from xdm_connector.errors import InvalidInput
from xdm_connector.pipeline.workfolders import WorkFolders
from xdm_connector.services.lake_cleaning import (
    clean_lake,
    clean_stray_rewrites,
    clean_work_folders,
    loading_batches,
)
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import Job, utcnow
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

HOUR = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=10)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    settings = Settings(home=tmp_path / "home", database_url=database_url)
    settings.home.mkdir()
    opened = Store(settings.store_url)
    opened.upgrade()
    prepare_demo(settings, opened, profiles=5)
    # A second mapping, so that two jobs can be in progress at once.
    apply_mapping(opened, "demo", demo_mapping().model_copy(update={"id": "XDM45"}))
    assert publish_mapping(
        opened, SchemaRegistry.packaged(), "demo", "XDM45", start=False
    ).published
    yield opened
    opened.close()


@pytest.fixture
def lake(tmp_path: Path) -> LakeTables:
    return LakeTables(tmp_path / "lake")


def claimed(store: Store, mapping_id: str, at: dt.datetime | None = None) -> Job:
    request = store.jobs.request_ingestion("demo", mapping_id).job
    job = store.jobs.claim("a-worker", LEASE, at or utcnow())
    assert job is not None
    assert job.id == request.id
    return job


def open_batch(lake: LakeTables, key: str, tmp_path: Path, org: str = "demo") -> str:
    """A loading batch holding one Parquet file, as a worker leaves it when it dies."""
    batch_id = lake.create_batch(org=org, dataset="profiles", batch_key=key, file_format="parquet")
    source = tmp_path / f"{batch_id}.parquet"
    pq.write_table(pa.table({"_id": ["1", "2", "3"]}), source)
    lake.put_file(batch_id, "part-00000.parquet", source)
    return batch_id


def staging(lake: LakeTables, batch_id: str, org: str = "demo") -> Path:
    return lake.storage.local_path(lake.staging(org, "profiles", batch_id))


def test_only_old_batches_no_job_in_progress_holds_are_aborted(
    store: Store, lake: LakeTables, tmp_path: Path
) -> None:
    # A worker died after create_batch, before it recorded the batch; its lease expired.
    dead = claimed(store, "XDM44", at=utcnow() - 2 * LEASE)
    dead_batch = open_batch(lake, batch_key(dead), tmp_path)
    assert [job.id for job in store.jobs.reap_expired(utcnow())] == [dead.id]
    assert store.jobs.get_by_id(dead.id).state == JobState.ABORTED
    # A job in progress with its batch recorded, and one between create_batch and recording.
    running = claimed(store, "XDM44")
    running_batch = open_batch(lake, batch_key(running), tmp_path)
    store.jobs.record_batch(running.id, "a-worker", running_batch)
    starting = claimed(store, "XDM45")
    starting_batch = open_batch(lake, batch_key(starting), tmp_path)
    # Another organization's lost batch, and a committed batch.
    other_batch = open_batch(lake, "lost", tmp_path, org="other")
    committed = open_batch(lake, "done", tmp_path)
    lake.complete(committed)

    assert {batch.id for batch in loading_batches(lake)} == {
        dead_batch,
        running_batch,
        starting_batch,
        other_batch,
    }
    # Younger than the age: nothing is touched.
    assert clean_lake(lake, store, older_than=HOUR) == []
    assert staging(lake, dead_batch).is_dir()

    later = dt.datetime.now(dt.UTC) + 2 * HOUR
    aborted = clean_lake(lake, store, older_than=HOUR, org="demo", now=later)

    assert [(batch.id, batch.org, batch.batch_key) for batch in aborted] == [
        (dead_batch, "demo", batch_key(dead))
    ]
    assert lake.status(dead_batch).state == BatchState.ABORTED
    assert not staging(lake, dead_batch).exists()
    for kept in (running_batch, starting_batch):
        assert lake.status(kept).state == BatchState.LOADING
        assert (staging(lake, kept) / "part-00000.parquet").is_file()
    assert lake.status(other_batch).state == BatchState.LOADING
    assert lake.status(committed).state == BatchState.SUCCESS
    assert committed_batches(lake.storage.url, "demo", "profiles") == [(committed, 3)]

    # The jobs in progress still finish their batches.
    lake.complete(running_batch)
    assert lake.status(running_batch).records == 3
    # Without --org, the other organization's lost batch goes too; a second run finds none.
    assert [batch.id for batch in clean_lake(lake, store, older_than=HOUR, now=later)] == [
        other_batch
    ]
    assert not staging(lake, other_batch, org="other").exists()
    assert clean_lake(lake, store, older_than=HOUR, now=later) == []
    assert {batch.id for batch in loading_batches(lake)} == {starting_batch}


def test_a_file_put_recently_keeps_an_old_batch(
    store: Store, lake: LakeTables, tmp_path: Path
) -> None:
    batch_id = open_batch(lake, "slow", tmp_path)
    created = next(batch for batch in loading_batches(lake) if batch.id == batch_id)
    # The folder was written a day after the batch was created (a long upload).
    touched = (created.last_activity + dt.timedelta(days=1)).timestamp()
    folder = staging(lake, batch_id)
    os.utime(folder / "part-00000.parquet", (touched, touched))
    half_a_day_later = created.last_activity + dt.timedelta(days=1, hours=12)

    assert clean_lake(lake, store, older_than=dt.timedelta(days=1), now=half_a_day_later) == []
    assert folder.is_dir()
    two_days_later = created.last_activity + dt.timedelta(days=2, hours=1)
    assert [
        batch.id
        for batch in clean_lake(lake, store, older_than=dt.timedelta(days=1), now=two_days_later)
    ] == [batch_id]


def test_an_empty_lake_and_a_bad_organization(store: Store, lake: LakeTables) -> None:
    assert clean_lake(lake, store, older_than=dt.timedelta(0)) == []
    with pytest.raises(InvalidInput):
        clean_lake(lake, store, older_than=dt.timedelta(0), org="../etc")


def upsert_batch(lake: LakeTables, key: str, tmp_path: Path, ids: range, email: str) -> str:
    """A loading batch of the demo's profiles holding the records ``ids``."""
    batch_id = lake.create_batch(
        org="demo", dataset="profiles", batch_key=key, file_format="parquet"
    )
    source = tmp_path / f"{batch_id}.parquet"
    keys = [str(n) for n in ids]
    pq.write_table(pa.table({"_id": keys, "email": [f"{email}{n}" for n in keys]}), source)
    lake.put_file(batch_id, "part-00000.parquet", source)
    return batch_id


def rewrites(lake: LakeTables, batch_id: str) -> set[str]:
    """The files in the batch's rewrites folder, as paths in the table."""
    folder = f"{batch_id}/{REWRITES_FOLDER}"
    return {f"{folder}/{info.base_name}" for info in lake.storage.files(f"demo/profiles/{folder}")}


def killed_while_rewriting(lake_url: str, batch_id: str, tmp_path: Path) -> None:
    """Complete the batch in a process of its own, killed (SIGKILL) once its rewrites are
    written, before its commit."""
    paused = tmp_path / f"{batch_id}.paused"
    worker = subprocess.Popen(
        [sys.executable, "-m", lake_rewriter.__name__, lake_url, batch_id, str(paused)],
        env=dict(os.environ),
    )
    deadline = time.monotonic() + 60
    while not paused.exists():
        assert worker.poll() is None, "the rewriting worker ended before its rewrites"
        assert time.monotonic() < deadline, "the rewriting worker never paused"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)


def test_rewrites_of_an_upsert_killed_before_its_commit_are_removed(
    store: Store, lake_url: str, tmp_path: Path
) -> None:
    lake = LakeTables(lake_url, modes=lambda org, dataset: LakeMode.UPSERT)
    lake.complete(upsert_batch(lake, "first", tmp_path, range(100), "old"))
    job = claimed(store, "XDM44")
    merging = upsert_batch(lake, batch_key(job), tmp_path, range(3), "new")
    killed_while_rewriting(lake_url, merging, tmp_path)
    strays = rewrites(lake, merging)
    assert len(strays) == 1  # the killed attempt's rewrite of the table's one file

    # The job's recovery completes the batch: its commit adds a rewrite of its own.
    lake.complete(merging)
    assert lake.status(merging).state == BatchState.SUCCESS
    referenced = {str(path) for path in DeltaTable(f"{lake_url}/demo/profiles").file_uris()}
    written = rewrites(lake, merging)
    assert len(written) == 2
    assert {path for path in written if f"{lake_url}/demo/profiles/{path}" in referenced} == (
        written - strays
    )
    # A vacuum deletes only what the log says was removed: not the strays.
    vacuum_table(lake, "demo", "profiles", retain_hours=0, force=True)
    assert rewrites(lake, merging) == written
    # The job is still in progress: its batch is not touched.
    assert clean_stray_rewrites(lake, store) == []

    store.jobs.fail(job.id, "a-worker", JobOutcome(reason="XDMC-500 lost"))
    assert clean_stray_rewrites(lake, store, org="other") == []
    assert clean_stray_rewrites(lake, store, org="demo") == [
        f"demo/profiles/{path}" for path in strays
    ]
    assert rewrites(lake, merging) == written - strays
    assert clean_stray_rewrites(lake, store) == []
    table = lake_table(lake_url, "demo", "profiles")
    assert sorted(table["_id"].to_pylist(), key=int) == [str(n) for n in range(100)]
    emails = dict(zip(table["_id"].to_pylist(), table["email"].to_pylist(), strict=True))
    assert [emails[str(n)] for n in (0, 1, 2, 3)] == ["new0", "new1", "new2", "old3"]


def test_rewrites_of_an_upsert_killed_then_aborted_go_with_the_batch(
    store: Store, lake_url: str, tmp_path: Path
) -> None:
    lake = LakeTables(lake_url, modes=lambda org, dataset: LakeMode.UPSERT)
    lake.complete(upsert_batch(lake, "first", tmp_path, range(10), "old"))
    merging = upsert_batch(lake, "merging", tmp_path, range(3), "new")
    killed_while_rewriting(lake_url, merging, tmp_path)
    assert len(rewrites(lake, merging)) == 1

    later = dt.datetime.now(dt.UTC) + 2 * HOUR
    assert [batch.id for batch in clean_lake(lake, store, older_than=HOUR, now=later)] == [merging]
    assert rewrites(lake, merging) == set()
    assert clean_stray_rewrites(lake, store) == []
    table = lake_table(lake_url, "demo", "profiles")
    assert sorted(table["email"].to_pylist()) == sorted(f"old{n}" for n in range(10))


def leftover(home: Path, name: str) -> Path:
    """A work folder holding a file, as a worker leaves it when it is killed."""
    folder = home / "work" / name
    folder.mkdir(parents=True)
    (folder / "part-00000.parquet").write_bytes(b"PAR1" * 4096)
    return folder


def test_work_folders_of_jobs_no_longer_in_progress_are_removed(
    store: Store, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    folders = WorkFolders(home)
    assert clean_work_folders(folders, store) == []  # no work folder at all
    ended = claimed(store, "XDM44", at=utcnow() - 2 * LEASE)
    assert [job.id for job in store.jobs.reap_expired(utcnow())] == [ended.id]
    running = claimed(store, "XDM44")
    starting = store.jobs.request_ingestion("demo", "XDM45").job  # not claimed yet
    orphans = [leftover(home, f"job-{ended.id}-1"), leftover(home, f"job-{ended.id}-slice-2-0a1b")]
    unknown = leftover(home, "job-999999-1")
    kept = [
        leftover(home, f"job-{running.id}-1"),
        leftover(home, f"job-{running.id}-slice-0-9f3e0a1b"),
        leftover(home, f"job-{starting.id}-1"),
        leftover(home, "notes"),
    ]

    assert clean_work_folders(folders, store, org="other") == []
    assert clean_work_folders(folders, store, org="demo") == orphans
    assert unknown.is_dir()
    assert clean_work_folders(folders, store) == [unknown]
    assert sorted(path for path in (home / "work").iterdir()) == sorted(kept)
    assert all((path / "part-00000.parquet").is_file() for path in kept if path.name != "notes")

    # Once the running job ends, its folders go too.
    store.jobs.fail(running.id, "a-worker", JobOutcome(reason="XDMC-500 lost"))
    assert clean_work_folders(folders, store) == kept[:2]
    assert clean_work_folders(folders, store) == []
    with pytest.raises(InvalidInput):
        clean_work_folders(folders, store, org="../etc")
