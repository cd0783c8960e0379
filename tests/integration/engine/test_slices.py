"""Sliced jobs: a window of more than ``slice_rows`` rows, when other workers run, is cut by
primary-key ranges that workers export into one batch, completed when its last slice is
written."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.engine.conftest import (
    JOBS,
    PROFILES,
    SOURCE_KINDS,
    Engine,
    OnRetry,
    engine_settings,
)
from tests.integration.sources.sqlite_writer import LockingWriter
from tests.lake import committed_batches
from xdm_connector.demo.setup import DEMO_SCHEMA, demo_mapping
from xdm_connector.destinations.base import BatchState
from xdm_connector.destinations.memory import InMemoryDestination
from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.domain.windows import Bound, KeyRange, Window
from xdm_connector.jobs.worker import Worker
from xdm_connector.pipeline import extraction
from xdm_connector.pipeline.export import Exporter
from xdm_connector.pipeline.plan import KEY_LABEL, describe_targeting_dimension, plan_export
from xdm_connector.pipeline.slicing import slice_ranges
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.product_data import ProductData
from xdm_connector.store.models import Job, JobSlice, utcnow
from xdm_connector.store.slices import SliceState
from xdm_connector.xdm.dataset_spec import dataset_schema
from xdm_connector.xdm.registry import SchemaRegistry

SLICE_ROWS = 40
SLICES = 5  # 200 profiles: cut after the 40th, 80th, 120th and 160th key
WAIT_SECONDS = 30.0


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings that slice the demo's 200 profiles in five."""
    return engine_settings(request, tmp_path, slice_rows=SLICE_ROWS)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _peer(engine: Engine) -> Worker:
    """Another worker, present in the store (it takes slices only when it runs)."""
    peer = Worker(engine.store, engine.settings)
    peer.announce()
    return peer


def test_a_worker_alone_reads_the_window_whole(engine: Engine) -> None:
    job = engine.run()

    assert (job.state, job.records_ingested) == (JobState.SUCCESS, PROFILES)
    assert engine.store.slices.of_job(job.id) == []


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_a_sliced_job_exports_every_record_once_in_one_batch(engine: Engine) -> None:
    _peer(engine)
    job = engine.run()

    assert job.state == JobState.SUCCESS, job.reason
    assert (job.records_read, job.records_ingested, job.records_rejected) == (PROFILES, PROFILES, 0)
    ids = engine.lake_ids()
    assert len(ids) == PROFILES
    assert len(set(ids)) == PROFILES
    batches = committed_batches(engine.settings.lake_root, "demo", "profiles")
    assert batches == [(job.batch_id, PROFILES)]
    pieces = engine.store.slices.of_job(job.id)
    assert [piece.state for piece in pieces] == [SliceState.WRITTEN] * SLICES
    assert [piece.records_read for piece in pieces] == [SLICE_ROWS] * SLICES
    assert pieces[0].key_after is None
    assert pieces[-1].key_until is None
    assert [piece.key_until for piece in pieces[:-1]] == [piece.key_after for piece in pieces[1:]]
    assert engine.status(job.id)["numRecords"] == PROFILES
    detail = engine.client.get(f"{JOBS}/{job.id}", headers=engine.headers).json()
    assert [(view["number"], view["state"]) for view in detail["slices"]] == [
        (number, "written") for number in range(SLICES)
    ]
    assert detail["slices"][0]["keyAfter"] is None
    assert detail["slices"][0]["keyUntil"] == SLICE_ROWS
    assert sum(view["recordsIngested"] for view in detail["slices"]) == PROFILES
    assert {view["worker"] for view in detail["slices"]} == {engine.worker.owner}


def _run_with_even_rows_changed(engine: Engine, peer: Worker) -> Job:
    """The even rows' ``lastName`` set to ``Sliced`` an hour ahead (100 rows: cut in three
    slices), then a job run beside ``peer``."""
    in_an_hour = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    engine.source(
        "UPDATE profile SET lastName = 'Sliced', lastModified = ? WHERE id % 2 = 0",
        in_an_hour.isoformat(" ", timespec="milliseconds"),
    )
    peer.announce()
    return engine.run()


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_an_incremental_sliced_window_takes_the_latest_version_of_each_row(
    engine: Engine,
) -> None:
    peer = _peer(engine)
    first = engine.run()
    second = _run_with_even_rows_changed(engine, peer)

    assert second.state == JobState.SUCCESS, second.reason
    assert second.records_ingested == PROFILES // 2
    assert len(engine.store.slices.of_job(second.id)) == 3  # 100 rows: cut after 40 and 80
    # The demo's dataset is of a record class: its table keeps one row per _id, the latest.
    assert sorted(engine.lake_ids()) == sorted(set(engine.lake_ids()))
    assert len(engine.lake_ids()) == PROFILES
    names = engine.lake().column("person").combine_chunks().field("name").field("lastName")
    assert names.to_pylist().count("Sliced") == PROFILES // 2
    watermark = engine.store.mappings.get("demo", "XDM44").watermark
    assert watermark is not None
    assert watermark != (first.watermark or {})
    # Nothing changed since: the next run finds nothing, the look-back skips what it saw.
    peer.announce()
    third = engine.run()
    assert (third.state, third.records_ingested) == (JobState.SUCCESS, 0)


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_a_sliced_job_sweeps_once_after_its_slices_in_its_one_commit(engine: Engine) -> None:
    engine.source("ALTER TABLE profile ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")
    document = demo_mapping().document()
    document["deletes"] = {
        "softDeleteWhen": "@deleted = 1",
        "detectHardDeletes": True,
        "sweepIntervalMinutes": 0,
    }
    apply_mapping(engine.store, "demo", MappingDefinition.from_document(document))
    publish_mapping(engine.store, SchemaRegistry.packaged(), "demo", "XDM44", start=False)
    peer = _peer(engine)
    assert engine.run().state == JobState.SUCCESS

    # Gone (1-10), soft-deleted (11-20) and changed (31) without their audit value: only
    # the sweep sees them; the even rows changed with it: the window, cut in three slices.
    engine.source("DELETE FROM profile WHERE id <= 10")
    engine.source("UPDATE profile SET deleted = 1 WHERE id > 10 AND id <= 20")
    engine.source("UPDATE profile SET firstName = 'Repaired' WHERE id = 31")
    job = _run_with_even_rows_changed(engine, peer)

    assert job.state == JobState.SUCCESS, job.reason
    assert len(engine.store.slices.of_job(job.id)) == 3
    assert job.records_deleted == 20  # 5 soft deletes in the window, 15 found by the sweep
    assert job.details is not None
    found = job.details["reconciliation"]
    assert (found["missing"], found["differing"], found["recordsRepaired"]) == (15, 1, 1)
    assert sorted(map(int, engine.lake_ids())) == list(range(21, PROFILES + 1))
    rows = engine.lake().select(["_id", "person"]).to_pylist()
    names = {row["_id"]: row["person"]["name"] for row in rows}
    assert names["31"]["firstName"] == "Repaired"
    assert [key for key, name in names.items() if name["lastName"] == "Sliced"] == [
        key for key in names if int(key) % 2 == 0
    ]
    commits = committed_batches(engine.settings.lake_root, "demo", "profiles")
    assert [batch for batch, _ in commits].count(job.batch_id) == 1


def _memory_workers(engine: Engine) -> tuple[InMemoryDestination, Worker, Worker]:
    destination = InMemoryDestination()
    exporter = Exporter(engine.store, engine.settings, destination=destination)
    return (
        destination,
        Worker(engine.store, engine.settings, exporter=exporter),
        Worker(engine.store, engine.settings, exporter=exporter),
    )


def _put_files(destination: InMemoryDestination) -> int:
    return sum(1 for method, _ in destination.calls if method == "put_file")


def _run_side_by_side(
    engine: Engine, destination: InMemoryDestination, coordinator: Worker, helper: Worker
) -> int:
    """A request run by ``coordinator``, ``helper`` taking a slice while the coordinator's
    first file hangs (``destination.hang("put_file")``); answers the request's id."""
    request_id = engine.trigger()
    running = threading.Thread(target=coordinator.run_once)
    running.start()
    helping = threading.Thread(target=helper.run_once)
    try:
        _wait_for(lambda: _put_files(destination) == 1, "the coordinator sends its first file")
        helping.start()
        _wait_for(lambda: _put_files(destination) == 2, "the other worker sends a file")
    finally:
        destination.release()
        running.join(timeout=WAIT_SECONDS)
        if helping.is_alive():
            helping.join(timeout=WAIT_SECONDS)
    return request_id


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_two_workers_share_the_slices_of_one_job(engine: Engine) -> None:
    destination, coordinator, helper = _memory_workers(engine)
    helper.announce()
    destination.hang("put_file", timeout=WAIT_SECONDS)
    request_id = _run_side_by_side(engine, destination, coordinator, helper)

    job = engine.store.jobs.get("demo", "XDM44", request_id)
    assert job.state == JobState.SUCCESS, job.reason
    assert job.records_ingested == PROFILES
    pieces = engine.store.slices.of_job(job.id)
    workers = {(piece.result or {}).get("worker") for piece in pieces}
    assert workers == {coordinator.owner, helper.owner}
    (batch,) = destination.batches.values()
    assert batch.state is BatchState.SUCCESS
    assert batch.records == PROFILES
    assert batch.given_rows == batch.rows  # each slice's writer gave its counts
    assert len(batch.files) == SLICES


def test_stopping_workers_name_the_job_and_the_slice_they_let_finish(engine: Engine) -> None:
    destination, coordinator, helper = _memory_workers(engine)
    helper.announce()
    destination.hang("put_file", timeout=WAIT_SECONDS)
    request_id = engine.trigger()
    running = threading.Thread(target=coordinator.run_once)
    running.start()
    helping = threading.Thread(target=helper.run_once)
    try:
        _wait_for(lambda: _put_files(destination) == 1, "the coordinator sends its first file")
        helping.start()
        _wait_for(lambda: _put_files(destination) == 2, "the other worker sends a file")
        held = helper.stop_claiming()
        coordinating = coordinator.stop_claiming()
    finally:
        destination.release()
        running.join(timeout=WAIT_SECONDS)
        helping.join(timeout=WAIT_SECONDS)

    assert str(coordinating) == f"job {request_id} (organization demo, mapping XDM44)"
    assert held is not None
    assert held.slice_number is not None
    of_job = f"of job {request_id} (organization demo, mapping XDM44)"
    assert str(held) == f"slice {held.slice_number} {of_job}"
    # Both let their work finish; neither claims more.
    job = engine.store.jobs.get("demo", "XDM44", request_id)
    assert job.state == JobState.SUCCESS, job.reason
    assert coordinator.stop_claiming() is None
    next_request = engine.trigger()
    assert not coordinator.run_once()
    assert engine.store.jobs.get("demo", "XDM44", next_request).state == JobState.CREATED


def test_a_slice_that_fails_elsewhere_fails_the_job_and_aborts_its_batch(engine: Engine) -> None:
    destination, coordinator, helper = _memory_workers(engine)
    helper.announce()
    destination.hang("put_file", timeout=WAIT_SECONDS)
    destination.fail_on("put_file", call=2, message="the disk is full")
    request_id = _run_side_by_side(engine, destination, coordinator, helper)

    job = engine.store.jobs.get("demo", "XDM44", request_id)
    assert job.state == JobState.FAILED
    assert job.reason.startswith("ACP-880096")
    assert job.batch_id
    assert (job.details or {})["error"] == "the disk is full"
    assert [batch.state for batch in destination.batches.values()] == [BatchState.ABORTED]
    failed = [p for p in engine.store.slices.of_job(job.id) if p.state == SliceState.FAILED]
    assert [(p.result or {})["error"]["kind"] for p in failed] == ["destination"]
    assert engine.store.mappings.get("demo", "XDM44").watermark is None


def _lose_a_slice(
    engine: Engine, lose: Callable[[InMemoryDestination], None]
) -> tuple[InMemoryDestination, Worker, Job]:
    """A request whose coordinator waits on its first file while ``lose`` makes another
    worker take a slice and be lost in it; answers the destination, the coordinator and
    the ended job."""
    destination, coordinator, _ = _memory_workers(engine)
    _peer(engine)
    destination.hang("put_file", timeout=WAIT_SECONDS)
    request_id = engine.trigger()
    running = threading.Thread(target=coordinator.run_once)
    running.start()
    try:
        _wait_for(lambda: _put_files(destination) == 1, "the coordinator sends its first file")
        lose(destination)
    finally:
        destination.release()
        running.join(timeout=WAIT_SECONDS)
    return destination, coordinator, engine.store.jobs.get("demo", "XDM44", request_id)


def _claim_as(engine: Engine, owner: str, lease: timedelta) -> JobSlice:
    piece = engine.store.slices.claim(owner, lease, utcnow())
    assert piece is not None
    return piece


def test_a_slice_lost_before_it_sent_anything_runs_again(engine: Engine) -> None:
    """A worker takes a slice, then dies before sending: it never heartbeats, its lease
    runs out, the coordinator runs the slice itself, and the job succeeds."""
    lost: list[JobSlice] = []
    destination, coordinator, job = _lose_a_slice(
        engine,
        lambda _: lost.append(_claim_as(engine, "elsewhere:1:gone", timedelta(milliseconds=100))),
    )

    assert job.state == JobState.SUCCESS, job.reason
    assert job.records_ingested == PROFILES
    assert [batch.state for batch in destination.batches.values()] == [BatchState.SUCCESS]
    pieces = engine.store.slices.of_job(job.id)
    assert {piece.state for piece in pieces} == {SliceState.WRITTEN}
    again = pieces[lost[0].number]
    assert (again.result or {})["worker"] == coordinator.owner
    assert sum(piece.records_ingested for piece in pieces) == PROFILES


def test_a_slice_whose_worker_is_certainly_gone_runs_again_before_its_lease_ends(
    engine: Engine,
) -> None:
    """A slice held for an hour by a worker of this host whose process has ended: the
    coordinator does not wait for the lease (``jobs/liveness.py``)."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = f"{socket.gethostname()}:{int(ended.stdout)}:deadbeef"
    lost: list[JobSlice] = []
    _, _, job = _lose_a_slice(
        engine, lambda _: lost.append(_claim_as(engine, dead, timedelta(hours=1)))
    )

    assert job.state == JobState.SUCCESS, job.reason
    assert job.records_ingested == PROFILES
    again = engine.store.slices.of_job(job.id)[lost[0].number]
    assert again.state == SliceState.WRITTEN
    assert (again.result or {})["worker"] != dead


def test_a_slice_lost_while_it_sent_its_files_aborts_the_job(engine: Engine) -> None:
    def lose_while_sending(_: InMemoryDestination) -> None:
        doomed = "elsewhere:1:gone"
        piece = _claim_as(engine, doomed, timedelta(milliseconds=300))
        engine.store.slices.sending(piece, doomed)  # then it dies: its lease runs out

    destination, _, job = _lose_a_slice(engine, lose_while_sending)

    assert job.state == JobState.ABORTED
    assert [batch.state for batch in destination.batches.values()] == [BatchState.ABORTED]
    assert engine.store.mappings.get("demo", "XDM44").watermark is None
    failed = [p for p in engine.store.slices.of_job(job.id) if p.state == SliceState.FAILED]
    assert [(p.result or {})["error"]["kind"] for p in failed] == ["lost"]
    # The mapping runs again, on the lake, and exports every record once.
    _peer(engine)
    again = engine.run()
    assert (again.state, again.records_ingested) == (JobState.SUCCESS, PROFILES)
    assert sorted(set(engine.lake_ids())) == sorted(engine.lake_ids())


@pytest.mark.usefixtures("short_busy_timeout")
def test_a_slice_whose_source_is_locked_is_read_again(
    engine: Engine,
    on_retry: Callable[[Callable[[], None]], OnRetry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first slice written, a writer locks the source: the next slice meets the lock,
    reads again once the writer commits, and the job's details count it."""
    _peer(engine)
    with LockingWriter(engine.settings.demo_source_path) as writer:
        locked: list[str] = []

        def lock_after_the_first_slice(stage: str, setting: str | None, home: Path) -> None:
            if stage == "written" and not locked:
                writer.lock()
                locked.append(stage)

        monkeypatch.setattr(extraction, "pause_at", lock_after_the_first_slice)
        on_retry(writer.commit)
        job = engine.run()

    assert job.state == JobState.SUCCESS, job.reason
    assert job.records_ingested == PROFILES
    ids = engine.lake_ids()
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == PROFILES
    pieces = engine.store.slices.of_job(job.id)
    retried = [(piece.result or {}).get("sourceRetries", {}).get("count") for piece in pieces]
    assert retried == [None, 1, None, None, None]
    assert job.details is not None
    assert job.details["sourceRetries"]["count"] == 1
    assert "database is locked" in job.details["sourceRetries"]["lastError"]["message"]
    detail = engine.client.get(f"{JOBS}/{job.request_id}", headers=engine.headers).json()
    assert detail["sourceRetries"] == 1


def test_a_window_within_one_slice_is_not_cut(engine: Engine) -> None:
    peer = _peer(engine)
    engine.run()
    engine.source(
        "UPDATE profile SET lastModified = strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 hour') WHERE id <= 10"
    )

    peer.announce()
    job = engine.run()

    assert (job.state, job.records_ingested) == (JobState.SUCCESS, 10)
    assert engine.store.slices.of_job(job.id) == []


@pytest.mark.parametrize(
    "source",
    [
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
@pytest.mark.parametrize(
    ("key_type", "key_of"),
    [
        pytest.param(sa.Integer, lambda number: number, id="integer-keys-cut-by-value"),
        pytest.param(sa.String(8), lambda number: f"k{number:02d}", id="text-keys-cut-by-row"),
    ],
)
def test_slice_keys_cut_a_window_on_each_source(
    source: str,
    key_type: sa.types.TypeEngine[Any],
    key_of: Callable[[int], Any],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    if source in ("postgresql", "mysql"):
        url = request.getfixturevalue("postgres_url" if source == "postgresql" else "mysql_url")
    engine = sa.create_engine(url)
    profile = sa.Table(
        "profile",
        sa.MetaData(),
        sa.Column("id", key_type, primary_key=True),
        sa.Column("email", sa.String(120)),
        sa.Column("modified", sa.DateTime, nullable=False),
    )
    profile.metadata.create_all(engine)
    start = datetime(2026, 1, 1)
    with engine.begin() as connection:
        connection.execute(
            profile.insert(),
            [
                {"id": key_of(number), "email": f"p{number}@example.org", "modified": start}
                for number in range(1, 24)
            ],
        )
    definition = MappingDefinition.from_document(
        {
            "id": "SLICES",
            "targetingDimension": "profile",
            "dataset": "profiles",
            "auditFields": ["@modified"],
            "fieldMappings": [{"source": "@email", "xdm": "/personalEmail/address"}],
        }
    )
    schema = dataset_schema(
        SchemaRegistry.packaged(), {"class": DEMO_SCHEMA[0], "fieldGroups": list(DEMO_SCHEMA[1:])}
    )
    with SourceDatabase(url, ProductData.of_store("sqlite://")) as database:
        plan = plan_export(definition, schema, describe_targeting_dimension(database, definition))
        # Keys 4 to 22: 19 rows, four slices of at most 5 (by value or by row, the same here).
        window = Window(after=Bound(start, key_of(3)), until=Bound(start, key_of(22)))
        ranges = slice_ranges(database, plan, window, rows_per_slice=5)
        assert ranges == [
            KeyRange(None, key_of(8)),
            KeyRange(key_of(8), key_of(13)),
            KeyRange(key_of(13), key_of(18)),
            KeyRange(key_of(18), None),
        ]
        keys = [
            batch.column(KEY_LABEL).to_pylist()
            for keys_range in ranges
            for batch in database.read_batches(plan.rows_query(window, keys_range), batch_rows=64)
        ]
        assert [key for part in keys for key in part] == [key_of(n) for n in range(4, 23)]
        assert slice_ranges(database, plan, window, rows_per_slice=19) == []
    engine.dispose()
