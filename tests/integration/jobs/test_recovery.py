"""Recovery of a job whose worker is gone, through the organizations' destinations alone
(no exporter): a real store, a destination in memory."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from xdm_connector.demo.setup import prepare_demo
from xdm_connector.destinations.base import BatchState
from xdm_connector.destinations.factory import OrgDestinations
from xdm_connector.destinations.memory import InMemoryDestination
from xdm_connector.domain.job_states import JobState
from xdm_connector.errors import LeaseLost
from xdm_connector.jobs import liveness
from xdm_connector.jobs.recovery import Recovered, Recovery
from xdm_connector.settings import Settings
from xdm_connector.store.models import Job, JobSlice, utcnow
from xdm_connector.store.slices import SliceOutcome, SliceState
from xdm_connector.store.store import Store

LOST = "a-lost-worker"
REAPER = "a-reaper"
WATERMARK = {"audit": {"type": "int", "value": 7}, "key": {"type": "int", "value": 7}}


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    return Settings(home=tmp_path, database_url=database_url, retry_attempts=1)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store(settings.store_url)
    opened.upgrade()
    prepare_demo(settings, opened, profiles=10)
    yield opened
    opened.close()


@pytest.fixture
def destination() -> InMemoryDestination:
    return InMemoryDestination()


@pytest.fixture
def recovery(store: Store, settings: Settings, destination: InMemoryDestination) -> Recovery:
    return Recovery(store, settings, OrgDestinations(store, settings, override=destination))


def lost_job(store: Store, destination: InMemoryDestination, *, complete: bool) -> Job:
    """A job whose worker died after it created its batch (and completed it, if
    ``complete``), its lease long expired; its work folder left behind."""
    request = store.jobs.request_ingestion("demo", "XDM44").job.id
    job = store.jobs.claim(LOST, timedelta(seconds=1), utcnow() - timedelta(minutes=5))
    assert job is not None
    assert job.id == request
    batch_id = destination.create_batch(
        org="demo", dataset="profiles", batch_key=f"job-{job.id}", file_format="parquet"
    )
    store.jobs.record_batch(job.id, LOST, batch_id, WATERMARK)
    if complete:
        destination.complete(batch_id)
        store.jobs.mark_uploaded(job.id, LOST, batch_id)
    return store.jobs.get_by_id(job.id)


def recover(recovery: Recovery) -> list[Recovered]:
    return recovery.recover_expired(REAPER, timedelta(minutes=1), utcnow())


def test_a_job_whose_batch_succeeded_ends_success_with_its_kept_watermark(
    store: Store, settings: Settings, destination: InMemoryDestination, recovery: Recovery
) -> None:
    job = lost_job(store, destination, complete=True)
    (settings.home / "work" / f"job-{job.id}-1").mkdir(parents=True)

    assert recover(recovery) == [Recovered(job.id, JobState.SUCCESS)]

    ended = store.jobs.get_by_id(job.id)
    assert ended.state == JobState.SUCCESS
    assert ended.batch_id == job.batch_id
    assert ended.details is not None
    assert ended.details["recovered"] is True
    assert store.mappings.get("demo", "XDM44").watermark == WATERMARK
    assert destination.batches[job.batch_id].state is BatchState.SUCCESS
    assert ("abort", job.batch_id) not in destination.calls
    assert list((settings.home / "work").iterdir()) == []


def test_a_job_whose_batch_was_still_loading_is_aborted_with_its_batch(
    store: Store, settings: Settings, destination: InMemoryDestination, recovery: Recovery
) -> None:
    job = lost_job(store, destination, complete=False)
    (settings.home / "work" / f"job-{job.id}-1").mkdir(parents=True)

    assert recover(recovery) == [Recovered(job.id, JobState.ABORTED)]

    ended = store.jobs.get_by_id(job.id)
    assert ended.state == JobState.ABORTED
    assert destination.batches[job.batch_id].state is BatchState.ABORTED
    assert store.mappings.get("demo", "XDM44").watermark is None
    assert list((settings.home / "work").iterdir()) == []


def test_a_job_whose_destination_cannot_be_asked_waits_with_its_batch_and_folder(
    store: Store, settings: Settings, destination: InMemoryDestination, recovery: Recovery
) -> None:
    job = lost_job(store, destination, complete=True)
    folder = settings.home / "work" / f"job-{job.id}-1"
    folder.mkdir(parents=True)
    destination.fail_on("status", call=1, transient=True)

    assert recover(recovery) == [Recovered(job.id, None)]

    kept = store.jobs.get_by_id(job.id)
    assert kept.state == JobState.UPLOADED
    assert kept.lease_owner == REAPER
    assert destination.batches[job.batch_id].state is BatchState.SUCCESS
    assert folder.is_dir()


def test_a_job_whose_worker_is_certainly_gone_is_recovered_before_its_lease_ends(
    store: Store, destination: InMemoryDestination, recovery: Recovery
) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    gone = f"{socket.gethostname()}:{ended.pid}:0a1b2c3d"
    job = store.jobs.request_ingestion("demo", "XDM44").job
    assert store.jobs.claim(gone, timedelta(minutes=5), utcnow()) is not None

    assert recover(recovery) == [Recovered(job.id, JobState.ABORTED)]
    assert store.jobs.get_by_id(job.id).state == JobState.ABORTED


def test_a_job_whose_worker_may_live_waits_for_its_lease(
    store: Store, destination: InMemoryDestination, recovery: Recovery
) -> None:
    elsewhere = f"another-{socket.gethostname()}:1:0a1b2c3d"
    job = store.jobs.request_ingestion("demo", "XDM44").job
    assert store.jobs.claim(elsewhere, timedelta(minutes=5), utcnow()) is not None

    assert recover(recovery) == []
    held = store.jobs.get_by_id(job.id)
    assert JobState(held.state).in_progress
    assert held.lease_owner == elsewhere


def test_a_worker_of_another_host_is_judged_by_its_postgresql_session_lock(
    store: Store, destination: InMemoryDestination, recovery: Recovery
) -> None:
    """A worker whose name promises a session lock lives while the lock is held; once its
    session ended, its job is recovered at once on PostgreSQL. SQLite has no sessions to
    ask: its lease is waited for."""
    elsewhere = f"another-{socket.gethostname()}:1:0a1b2c3d{liveness.SESSION_LOCK_SUFFIX}"
    job = store.jobs.request_ingestion("demo", "XDM44").job
    assert store.jobs.claim(elsewhere, timedelta(minutes=5), utcnow()) is not None
    session_lock = liveness.SessionLock(store, elsewhere) if store.dialect == "postgresql" else None
    if session_lock is not None:
        assert session_lock.hold()
        assert session_lock.check()
        try:
            assert recover(recovery) == []
            assert store.jobs.get_by_id(job.id).lease_owner == elsewhere
        finally:
            session_lock.release()

    recovered = recover(recovery)
    if session_lock is None:
        assert recovered == []
        assert store.jobs.get_by_id(job.id).lease_owner == elsewhere
    else:
        assert recovered == [Recovered(job.id, JobState.ABORTED)]
        assert store.jobs.get_by_id(job.id).state == JobState.ABORTED


def _ended_worker() -> str:
    """The name of a worker of this host whose process has ended."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return f"{socket.gethostname()}:{ended.pid}:0a1b2c3d"


def _sliced_job(store: Store, coordinator: str) -> Job:
    """A job ``coordinator`` holds for five minutes, cut into two slices."""
    job = store.jobs.request_ingestion("demo", "XDM44").job
    assert store.jobs.claim(coordinator, timedelta(minutes=5), utcnow()) is not None
    store.slices.create(job.id, coordinator, [(None, None), (None, None)], mapping_digest="d")
    return job


def _slice_of_a_gone_worker(store: Store) -> tuple[str, Job, JobSlice]:
    """A sliced job held by a worker that may live, and its slice that a worker of this
    host whose process has ended holds for five minutes; answers the job's worker too."""
    coordinator = f"another-{socket.gethostname()}:1:0a1b2c3d"
    job = _sliced_job(store, coordinator)
    piece = store.slices.claim(_ended_worker(), timedelta(minutes=5), utcnow())
    assert piece is not None
    return coordinator, job, piece


def test_a_slice_whose_worker_is_certainly_gone_is_pending_again_before_its_lease_ends(
    store: Store, recovery: Recovery
) -> None:
    coordinator, job, piece = _slice_of_a_gone_worker(store)

    assert recover(recovery) == []  # the job's own worker may live: it keeps the job
    pieces = store.slices.of_job(job.id)
    assert [(p.state, p.lease_owner) for p in pieces] == [(SliceState.PENDING, None)] * 2
    assert store.jobs.get_by_id(job.id).lease_owner == coordinator
    again = store.slices.claim(REAPER, timedelta(minutes=1), utcnow())
    assert again is not None
    assert again.number == piece.number


def test_a_slice_whose_worker_is_gone_while_it_sends_fails_as_lost(
    store: Store, recovery: Recovery
) -> None:
    _, job, piece = _slice_of_a_gone_worker(store)
    gone = str(piece.lease_owner)
    store.slices.sending(piece, gone)

    recover(recovery)
    lost = store.slices.of_job(job.id)[piece.number]
    assert (lost.state, lost.lease_owner) == (SliceState.FAILED, None)
    assert (lost.result or {})["error"]["kind"] == "lost"
    assert [p.number for p in store.slices.progress(job.id).failed] == [piece.number]
    with pytest.raises(LeaseLost):
        store.slices.finish(piece, gone, SliceOutcome(1, 1, 0, {}))


def test_the_slices_of_a_gone_coordinator_fail_and_its_job_is_aborted(
    store: Store, settings: Settings, recovery: Recovery
) -> None:
    gone = _ended_worker()
    job = _sliced_job(store, gone)
    piece = store.slices.claim(gone, timedelta(minutes=5), utcnow())
    assert piece is not None
    folder = settings.home / "work" / f"job-{job.id}-slice-{piece.number}-0a1b2c3d"
    folder.mkdir(parents=True)

    assert recover(recovery) == [Recovered(job.id, JobState.ABORTED)]
    states = [p.state for p in store.slices.of_job(job.id)]
    assert states == [SliceState.FAILED, SliceState.PENDING]
    assert not folder.exists()


def test_a_slice_whose_worker_may_live_keeps_its_lease(store: Store, recovery: Recovery) -> None:
    elsewhere = f"another-{socket.gethostname()}:1:0a1b2c3d"
    job = _sliced_job(store, elsewhere)
    assert store.slices.claim(elsewhere, timedelta(minutes=5), utcnow()) is not None

    assert recover(recovery) == []
    assert [p.lease_owner for p in store.slices.of_job(job.id)] == [elsewhere, None]


@pytest.mark.parametrize(
    ("refused", "delivered"), [(["b"], ["a", "c"]), (["b", None], [])], ids=["named", "unnamed"]
)
def test_a_job_whose_batch_succeeded_takes_back_what_the_platform_refused(
    store: Store,
    destination: InMemoryDestination,
    recovery: Recovery,
    refused: list[str | None],
    delivered: list[str],
) -> None:
    destination.refuse(refused)
    job = lost_job(store, destination, complete=True)
    sent = [(key, f"digest-{key}", None, None, False) for key in ("a", "b", "c")]
    store.delivered_records.stage(job.id, sent)

    assert recover(recovery) == [Recovered(job.id, JobState.SUCCESS)]

    ended = store.jobs.get_by_id(job.id)
    assert ended.records_refused == len(refused)
    pages = store.delivered_records.pages("demo", "XDM44")
    assert [row[0] for page in pages for row in page] == delivered
