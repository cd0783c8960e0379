"""The worker and the export pipeline on a real store and source, with a fake destination."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xdm_connector.demo.setup import demo_mapping, prepare_demo
from xdm_connector.destinations.base import BatchState
from xdm_connector.destinations.memory import InMemoryDestination
from xdm_connector.domain.job_states import JobState
from xdm_connector.jobs import worker as worker_module
from xdm_connector.jobs.new_jobs import NewJobs
from xdm_connector.jobs.recovery import Recovered
from xdm_connector.jobs.worker import Worker
from xdm_connector.pipeline.export import Exporter
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

PROFILES = 300
WAKE_POLL_SECONDS = 3600.0
"""An idle worker's poll far longer than a test: only a wake-up ends its wait."""
WAKE_TIMEOUT_SECONDS = 60.0
UPLOAD_FAILED = "ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI."


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    return Settings(home=tmp_path, database_url=database_url, lease_seconds=5)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store(settings.store_url)
    opened.upgrade()
    prepare_demo(settings, opened, profiles=PROFILES)
    yield opened
    opened.close()


@pytest.fixture
def destination() -> InMemoryDestination:
    return InMemoryDestination()


@pytest.fixture
def worker(store: Store, settings: Settings, destination: InMemoryDestination) -> Worker:
    return Worker(store, settings, exporter=Exporter(store, settings, destination=destination))


def trigger(store: Store) -> int:
    return store.jobs.request_ingestion("demo", "XDM44").job.id


def test_a_job_exports_every_record_once_then_only_changes(
    store: Store, worker: Worker, destination: InMemoryDestination, settings: Settings
) -> None:
    first = trigger(store)
    assert worker.run_once()
    job = store.jobs.get("demo", "XDM44", first)
    assert job.state == JobState.SUCCESS
    assert (job.records_read, job.records_ingested, job.records_rejected) == (PROFILES, PROFILES, 0)
    batch = destination.batches[job.batch_id]
    assert batch.state is BatchState.SUCCESS
    assert batch.records == PROFILES
    assert batch.given_rows == batch.rows  # the writer's counts reach the destination
    assert store.mappings.get("demo", "XDM44").watermark is not None
    assert job.window is not None
    assert job.window["after"] is None
    assert not (settings.home / "work").exists() or not any((settings.home / "work").iterdir())

    later = "2030-01-01 00:00:00.000000"
    with sqlite3.connect(settings.demo_source_path) as source:
        source.execute(
            "update profile set lastModified = ?, email = 'changed' || id || '@example.com'"
            " where id in (3, 5, 8)",
            (later,),
        )
    second = trigger(store)
    assert worker.run_once()
    assert exported_emails(store, destination, second) == {
        "changed3@example.com",
        "changed5@example.com",
        "changed8@example.com",
    }

    # A row with the same audit value as the last high-water mark, but a later key.
    with sqlite3.connect(settings.demo_source_path) as source:
        source.execute(
            "insert into profile (id, email, lastModified, created, gender)"
            " values (?, 'tied@example.com', ?, ?, 'female')",
            (PROFILES + 1, later, later),
        )
    third = trigger(store)
    assert worker.run_once()
    assert exported_emails(store, destination, third) == {"tied@example.com"}


def exported_emails(store: Store, destination: InMemoryDestination, request: int) -> set[str]:
    job = store.jobs.get("demo", "XDM44", request)
    assert job.state == JobState.SUCCESS, job.reason
    emails: set[str] = set()
    for content in destination.batches[job.batch_id].files.values():
        table = pq.read_table(pa.BufferReader(content))
        emails.update(row["address"] for row in table.column("personalEmail").to_pylist())
    assert job.records_ingested == len(emails)
    return emails


def test_the_parquet_codec_setting_reaches_the_batch_files(
    store: Store, settings: Settings, destination: InMemoryDestination
) -> None:
    snappy = settings.model_copy(update={"parquet_compression": "snappy"})
    worker = Worker(store, snappy, exporter=Exporter(store, snappy, destination=destination))
    request = trigger(store)
    assert worker.run_once()
    job = store.jobs.get("demo", "XDM44", request)
    assert job.state == JobState.SUCCESS, job.reason
    [content] = destination.batches[job.batch_id].files.values()
    columns = pq.read_metadata(pa.BufferReader(content)).row_group(0)
    assert {columns.column(i).compression for i in range(columns.num_columns)} == {"SNAPPY"}


def test_nothing_new_succeeds_without_a_batch(store: Store, worker: Worker) -> None:
    trigger(store)
    worker.run_once()
    again = trigger(store)
    worker.run_once()
    job = store.jobs.get("demo", "XDM44", again)
    assert job.state == JobState.SUCCESS
    assert (job.records_ingested, job.batch_id) == (0, "")


def test_a_destination_failure_reports_the_batch_and_keeps_the_watermark(
    store: Store, worker: Worker, destination: InMemoryDestination
) -> None:
    destination.fail_on("put_file", call=1)
    request = trigger(store)
    worker.run_once()
    job = store.jobs.get("demo", "XDM44", request)
    assert job.state == JobState.FAILED
    assert job.reason == UPLOAD_FAILED
    assert job.batch_id
    assert destination.batches[job.batch_id].state is BatchState.ABORTED
    assert store.mappings.get("demo", "XDM44").watermark is None
    # The mapping can run again, and then exports everything.
    retried = trigger(store)
    worker.run_once()
    assert store.jobs.get("demo", "XDM44", retried).records_ingested == PROFILES


def test_a_batch_the_destination_refuses_fails_the_job(
    store: Store, worker: Worker, destination: InMemoryDestination
) -> None:
    destination.end_failed(
        [{"code": "INGEST-1212-400", "description": "Encountered 3 errors in the data."}]
    )
    request = trigger(store)
    worker.run_once()
    job = store.jobs.get("demo", "XDM44", request)
    assert (job.state, job.reason) == (JobState.FAILED, UPLOAD_FAILED)
    assert job.batch_id in destination.batches


def test_an_unreadable_source_fails_without_a_batch(
    store: Store, worker: Worker, destination: InMemoryDestination, settings: Settings
) -> None:
    settings.demo_source_path.unlink()
    request = trigger(store)
    worker.run_once()
    job = store.jobs.get("demo", "XDM44", request)
    assert job.state == JobState.FAILED
    assert job.reason == "ACP-880056 Failed to fetch the record from the database."
    assert job.batch_id == ""
    assert destination.batches == {}


def test_a_stop_past_its_grace_period_aborts_the_job_and_its_batch(
    store: Store,
    settings: Settings,
    destination: InMemoryDestination,
    caplog: pytest.LogCaptureFixture,
) -> None:
    impatient = settings.model_copy(update={"shutdown_grace_seconds": 0})
    worker = Worker(store, impatient, exporter=Exporter(store, impatient, destination=destination))
    destination.hang("put_file", timeout=30)
    request = trigger(store)
    running = threading.Thread(target=worker.run_once)
    running.start()
    aborting = f"job {request} (organization demo, mapping XDM44) did not finish within 0 s"
    try:
        while not destination.batches and running.is_alive():
            threading.Event().wait(0.05)
        assert str(worker.stop_claiming()) == f"job {request} (organization demo, mapping XDM44)"
        deadline = time.monotonic() + 30
        while not any(aborting in record.getMessage() for record in caplog.records):
            assert time.monotonic() < deadline, "the grace period never ended"
            threading.Event().wait(0.05)
        destination.release()
    finally:
        running.join(timeout=30)
    job = store.jobs.get("demo", "XDM44", request)
    assert job.state == JobState.ABORTED
    assert job.reason.startswith("Ingestion request aborted")
    assert destination.batches[job.batch_id].state is BatchState.ABORTED
    assert store.mappings.get("demo", "XDM44").watermark is None


def test_an_expired_lease_is_reaped(store: Store, worker: Worker) -> None:
    request = trigger(store)
    claimed = store.jobs.claim(
        "a-lost-worker", timedelta(seconds=1), utcnow() - timedelta(minutes=5)
    )
    assert claimed is not None
    assert claimed.id == request
    worker.run_once()
    job = store.jobs.get("demo", "XDM44", request)
    assert job.state == JobState.ABORTED
    assert trigger(store) != request


def test_a_scheduled_job_whose_worker_is_gone_runs_again_after_the_retry_delay(
    store: Store, worker: Worker, settings: Settings
) -> None:
    definition = demo_mapping().model_copy(update={"interval_minutes": 60})
    apply_mapping(store, "demo", definition)
    assert publish_mapping(store, SchemaRegistry.packaged(), "demo", "XDM44").published
    (scheduled,) = store.jobs.schedule_due(utcnow())
    lost_at = utcnow() - timedelta(minutes=5)
    claimed = store.jobs.claim("a-lost-worker", timedelta(seconds=1), lost_at)
    assert claimed is not None
    assert claimed.id == scheduled.id

    before = utcnow()
    worker.run_once()

    assert store.jobs.get_by_id(scheduled.id).state == JobState.ABORTED
    next_run = store.mappings.get("demo", "XDM44").next_run_at
    assert next_run is not None
    assert next_run <= utcnow() + timedelta(seconds=settings.retry_delay_seconds)
    assert next_run >= before + timedelta(seconds=settings.retry_delay_seconds)


def test_a_started_mapping_runs_on_its_schedule(
    store: Store, worker: Worker, settings: Settings
) -> None:
    definition = demo_mapping().model_copy(update={"interval_minutes": 5})
    apply_mapping(store, "demo", definition)
    assert publish_mapping(store, SchemaRegistry.packaged(), "demo", "XDM44").published
    mapping = store.mappings.get("demo", "XDM44")
    assert (mapping.execution_status, mapping.interval_seconds) == ("Started", 300)
    before = utcnow()
    assert worker.run_once()
    jobs = store.jobs.list_for_mapping("demo", "XDM44")
    assert [(job.trigger, job.state, job.records_ingested) for job in jobs] == [
        ("schedule", JobState.SUCCESS, PROFILES)
    ]
    next_run = store.mappings.get("demo", "XDM44").next_run_at
    assert next_run is not None
    assert next_run >= before + timedelta(minutes=5)
    assert not worker.run_once()


def leftover(settings: Settings, name: str) -> Path:
    """A work folder holding a file, as a worker leaves it when it is killed."""
    folder = settings.home / "work" / name
    folder.mkdir(parents=True)
    (folder / "part-00000.parquet").write_bytes(b"PAR1" * 4096)
    return folder


def work_folders(settings: Settings) -> list[str]:
    root = settings.home / "work"
    return sorted(path.name for path in root.iterdir()) if root.is_dir() else []


@pytest.mark.parametrize("ending", [JobState.SUCCESS, JobState.FAILED])
def test_a_job_that_ends_leaves_no_work_folder(
    store: Store,
    worker: Worker,
    destination: InMemoryDestination,
    settings: Settings,
    ending: JobState,
) -> None:
    if ending == JobState.FAILED:
        destination.fail_on("put_file", call=1)
    request = trigger(store)
    # A worker killed in a slice of this job on this machine left its folder.
    leftover(settings, f"job-{request}-slice-3-0badc0de")
    worker.run_once()
    assert store.jobs.get_by_id(request).state == ending
    assert work_folders(settings) == []


def test_recovery_removes_the_work_folders_the_lost_workers_left(
    store: Store, worker: Worker, settings: Settings
) -> None:
    apply_mapping(store, "demo", demo_mapping().model_copy(update={"id": "XDM45"}))
    assert publish_mapping(store, SchemaRegistry.packaged(), "demo", "XDM45", start=False).published
    lost_at = utcnow() - timedelta(minutes=5)
    request = trigger(store)
    lost = store.jobs.claim("a-lost-worker", timedelta(seconds=1), lost_at)
    assert lost is not None
    assert lost.id == request
    store.slices.create(lost.id, "a-lost-worker", [(None, None), (None, None)], mapping_digest="")
    live = store.slices.claim("a-live-worker", timedelta(minutes=10), utcnow(), job_id=lost.id)
    dead = store.slices.claim("a-dead-worker", timedelta(seconds=1), lost_at, job_id=lost.id)
    assert (live and live.number, dead and dead.number) == (0, 1)
    busy = store.jobs.request_ingestion("demo", "XDM45").job.id
    assert store.jobs.claim("a-busy-worker", timedelta(minutes=10), utcnow()) is not None
    leftover(settings, f"job-{lost.id}-1")
    leftover(settings, f"job-{lost.id}-slice-0-aaaa1111")  # its worker still runs
    leftover(settings, f"job-{lost.id}-slice-1-bbbb2222")
    leftover(settings, f"job-{busy}-1")

    worker.run_once()

    assert store.jobs.get_by_id(lost.id).state == JobState.ABORTED
    assert store.jobs.get_by_id(busy).state == JobState.CREATED
    assert work_folders(settings) == [f"job-{lost.id}-slice-0-aaaa1111", f"job-{busy}-1"]


def test_a_job_committed_in_this_process_wakes_the_waiting_worker(store: Store) -> None:
    """A job committed in this process ends an idle worker's wait at once."""
    stopping = threading.Event()
    wakeups = NewJobs(stopping)
    waiter = threading.Thread(target=wakeups.wait, args=(WAKE_POLL_SECONDS,))
    try:
        waiter.start()
        store.jobs.request_ingestion("demo", "XDM44")
        waiter.join(WAKE_TIMEOUT_SECONDS)
        assert not waiter.is_alive()
    finally:
        stopping.set()
        wakeups.wake()
        wakeups.close()


def test_a_job_rolled_back_with_its_transaction_wakes_no_worker(store: Store) -> None:
    stopping = threading.Event()
    wakeups = NewJobs(stopping)
    try:

        def trigger_then_fail() -> None:
            with store.atomic():
                store.jobs.request_ingestion("demo", "XDM44")  # a savepoint of the transaction
                assert not wakeups.arrived.is_set()  # not committed yet
                raise RuntimeError("the service's next step failed")

        with pytest.raises(RuntimeError):
            trigger_then_fail()
        assert not wakeups.arrived.is_set()
        assert store.jobs.in_progress("demo", "XDM44") is None
        store.jobs.request_ingestion("demo", "XDM44")
        assert wakeups.arrived.is_set()
    finally:
        wakeups.close()


def test_an_idle_worker_runs_a_triggered_job_without_waiting_for_its_poll(
    store: Store, settings: Settings
) -> None:
    """On SQLite the trigger of the same process wakes the worker; on PostgreSQL, NOTIFY.
    The woken turn goes straight to its claim: the first turn's housekeeping is recent."""
    settings = settings.model_copy(update={"worker_poll_seconds": WAKE_POLL_SECONDS})
    exporter = Exporter(store, settings, destination=InMemoryDestination())
    worker = Worker(store, settings, exporter=exporter)
    turns = housekeeping_turns(worker)
    worker.start_in_thread()
    try:
        time.sleep(0.5)  # the worker's first turn found nothing: it waits for an hour
        job_id = store.jobs.request_ingestion("demo", "XDM44").job.id
        deadline = time.monotonic() + WAKE_TIMEOUT_SECONDS
        while JobState(store.jobs.get_by_id(job_id).state).in_progress:
            assert time.monotonic() < deadline, "the worker was not woken"
            time.sleep(0.05)
        assert store.jobs.get_by_id(job_id).state == JobState.SUCCESS
        assert len(turns) == 1  # neither the woken turn nor the one after the job housekept
    finally:
        worker.stop()


def housekeeping_turns(worker: Worker) -> list[float]:
    """When the worker's turns recover expired leases, one entry a turn (from now on)."""
    turns: list[float] = []
    recover = worker.recovery.recover_expired

    def counted(owner: str, lease: timedelta, now: datetime) -> list[Recovered]:
        turns.append(time.monotonic())
        return recover(owner, lease, now)

    worker.recovery.recover_expired = counted  # type: ignore[method-assign]
    return turns


def test_a_worker_builds_the_expression_parser_before_its_first_turn(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parser's grammar analysis is paid as the worker starts, not by its first job."""
    worker = Worker(
        store, settings, exporter=Exporter(store, settings, destination=InMemoryDestination())
    )
    events: list[str] = []
    monkeypatch.setattr(worker_module, "prepare_parser", lambda: events.append("parser"))
    recover = worker.recovery.recover_expired

    def turn(owner: str, lease: timedelta, now: datetime) -> list[Recovered]:
        events.append("turn")
        return recover(owner, lease, now)

    worker.recovery.recover_expired = turn  # type: ignore[method-assign]
    worker.start_in_thread()
    try:
        deadline = time.monotonic() + WAKE_TIMEOUT_SECONDS
        while "turn" not in events:
            assert time.monotonic() < deadline, "the worker took no turn"
            time.sleep(0.01)
    finally:
        worker.stop()
    assert events[:2] == ["parser", "turn"]


def test_an_idle_worker_keeps_its_housekeeping_every_poll_interval(
    store: Store, settings: Settings
) -> None:
    settings = settings.model_copy(update={"worker_poll_seconds": 0.1})
    worker = Worker(
        store, settings, exporter=Exporter(store, settings, destination=InMemoryDestination())
    )
    turns = housekeeping_turns(worker)
    worker.start_in_thread()
    try:
        time.sleep(1.0)
    finally:
        worker.stop()
    assert len(turns) >= 3, turns
    assert all(later - earlier >= 0.1 for earlier, later in itertools.pairwise(turns))
