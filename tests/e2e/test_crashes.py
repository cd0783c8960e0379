"""Crashes: a real ``xdm-connector worker`` killed (``SIGKILL``) at each stage of an export.

Each test pauses the worker at one stage (``XDMC_FAULT_PAUSE_AT``, ``faults.py``),
kills it there, and lets a second worker recover the job once its lease expires. Then:
the job ended ``Aborted`` (``Success`` when the lake had committed its batch),
nothing half-written is visible in the lake, no work folder of the job is left, and the
next run exports every record exactly once: the lake holds as many records as the
source, with unique keys.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.lake import lake_commits, lake_table
from xdm_connector.demo.setup import prepare_demo
from xdm_connector.domain.job_states import JobState
from xdm_connector.faults import resume
from xdm_connector.settings import Settings
from xdm_connector.store.models import Job, JobSlice, utcnow
from xdm_connector.store.store import Store

PROFILES = 300
LEASE_SECONDS = "1.5"
TIMEOUT_SECONDS = 60


class Crash:
    """An installation whose worker processes the test starts and kills."""

    def __init__(self, home: Path, database_url: str | None) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.settings = Settings(home=home, database_url=database_url)
        self.store = Store(self.settings.store_url)
        self.store.upgrade()
        prepare_demo(self.settings, self.store, profiles=PROFILES)
        self.processes: list[subprocess.Popen[bytes]] = []

    def worker(self, **env: str) -> subprocess.Popen[bytes]:
        variables = {k: v for k, v in os.environ.items() if not k.startswith("XDMC_")}
        variables.update(
            XDMC_HOME=str(self.home),
            XDMC_LEASE_SECONDS=LEASE_SECONDS,
            XDMC_WORKER_POLL_SECONDS="0.25",
            XDMC_EXTRACT_BATCH_ROWS="100",
            XDMC_LOG_FORMAT="text",
        )
        variables.update(env)
        if self.settings.database_url:
            variables["XDMC_DATABASE_URL"] = self.settings.database_url
        with (self.home / f"worker-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "xdm_connector", "worker"],
                env=variables,
                stdout=log,
                stderr=log,
            )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.home.glob("worker-*.log"))

    def wait_for(self, path: Path) -> None:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while not path.exists():
            assert time.monotonic() < deadline, f"{path.name} never appeared\n{self.logs()}"
            time.sleep(0.05)

    def wait_until_ended(self, job_id: int) -> Job:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            job = self.store.jobs.get_by_id(job_id)
            if not JobState(job.state).in_progress:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job.state}\n{self.logs()}"
            time.sleep(0.05)

    def work_folders(self, job_id: int) -> list[str]:
        return sorted(path.name for path in (self.home / "work").glob(f"job-{job_id}-*"))

    def trigger(self) -> int:
        return self.store.jobs.request_ingestion("demo", "XDM44").job.id

    def lake_ids(self) -> list[str]:
        """The ``_id`` of every record a Delta reader sees in the demo's table."""
        table = lake_table(self.settings.lake_root, "demo", "profiles")
        return [str(value) for value in table["_id"].to_pylist()]

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def crash(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Crash]:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    installation = Crash(tmp_path / "home", database_url)
    try:
        yield installation
    finally:
        installation.close()


@pytest.mark.parametrize("stage", ["extract", "written", "created", "committed", "completed"])
def test_a_worker_killed_at_each_stage(crash: Crash, stage: str) -> None:
    first = crash.trigger()
    doomed = crash.worker(XDMC_FAULT_PAUSE_AT=stage)
    crash.wait_for(crash.home / "faults" / f"{stage}.paused")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    assert crash.work_folders(first) == [f"job-{first}-1"]  # what the killed worker left

    # Killed mid-export: no batch is visible, except once the lake committed it.
    accepted = stage in ("committed", "completed")
    visible = crash.lake_ids()
    assert visible == (visible if accepted else [])
    assert len(visible) in (0, PROFILES)

    crash.worker()  # recovers the job once its lease expires, then runs the next ones
    ended = crash.wait_until_ended(first)
    assert crash.work_folders(first) == [], crash.logs()
    watermark = crash.store.mappings.get("demo", "XDM44").watermark
    if accepted:
        assert ended.state == JobState.SUCCESS, crash.logs()
        assert ended.records_ingested == PROFILES
        assert watermark is not None
    else:
        assert ended.state == JobState.ABORTED, crash.logs()
        assert ended.reason.startswith("Ingestion request aborted")
        assert watermark is None
        assert crash.lake_ids() == []

    again = crash.wait_until_ended(crash.trigger())
    assert again.state == JobState.SUCCESS, again.reason
    assert again.records_ingested == (0 if accepted else PROFILES)
    ids = crash.lake_ids()
    assert len(ids) == PROFILES
    assert sorted(map(int, ids)) == list(range(1, PROFILES + 1))


def test_a_worker_killed_on_this_host_is_recovered_before_its_lease_ends(crash: Crash) -> None:
    """A worker started again on the host of a killed one recovers the killed one's job at
    once: no process has its pid any more, so its lease (five minutes here) is not waited
    for."""
    first = crash.trigger()
    doomed = crash.worker(XDMC_FAULT_PAUSE_AT="extract", XDMC_LEASE_SECONDS="300")
    crash.wait_for(crash.home / "faults" / "extract.paused")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    held = crash.store.jobs.get_by_id(first)
    assert held.lease_expires_at is not None

    crash.worker(XDMC_LEASE_SECONDS="300")
    ended = crash.wait_until_ended(first)
    assert ended.state == JobState.ABORTED, crash.logs()
    assert utcnow() < held.lease_expires_at  # the killed worker's lease still ran
    assert "is gone; recovering it now" in crash.logs()
    again = crash.wait_until_ended(crash.trigger())
    assert again.state == JobState.SUCCESS, again.reason
    assert sorted(map(int, crash.lake_ids())) == list(range(1, PROFILES + 1))


@pytest.fixture
def postgres_crash(postgres_store_url: str, tmp_path: Path) -> Iterator[Crash]:
    installation = Crash(tmp_path / "home", postgres_store_url)
    try:
        yield installation
    finally:
        installation.close()


def test_a_worker_whose_postgresql_session_ended_is_recovered_before_its_lease_ends(
    postgres_crash: Crash,
) -> None:
    """A worker killed while another runs: its session lock is free once its session ended,
    so the other worker recovers its job at once, not after its lease (two minutes here).
    The killed process is left a zombie until the end: its pid still answers, so only the
    session lock can say it is gone, as for a worker of another host."""
    crash = postgres_crash
    first = crash.trigger()
    doomed = crash.worker(XDMC_FAULT_PAUSE_AT="extract", XDMC_LEASE_SECONDS="120")
    crash.wait_for(crash.home / "faults" / "extract.paused")
    survivor = crash.worker(XDMC_LEASE_SECONDS="120", XDMC_WORKER_POLL_SECONDS="0.5")
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while "started" not in (crash.home / "worker-1.log").read_text(errors="replace"):
        assert time.monotonic() < deadline, crash.logs()
        time.sleep(0.05)
    held = crash.store.jobs.get_by_id(first)
    assert held.lease_owner is not None
    assert f":{doomed.pid}:" in held.lease_owner
    assert held.lease_expires_at is not None

    os.kill(doomed.pid, signal.SIGKILL)
    ended = crash.wait_until_ended(first)
    assert ended.state == JobState.ABORTED, crash.logs()
    assert utcnow() < held.lease_expires_at  # the killed worker's lease still ran
    os.kill(doomed.pid, 0)  # not reaped yet: its pid alone would say it may live
    assert "is gone; recovering it now" in crash.logs()
    assert survivor.poll() is None
    doomed.wait(timeout=30)
    again = crash.wait_until_ended(crash.trigger())
    assert again.state == JobState.SUCCESS, again.reason
    assert sorted(map(int, crash.lake_ids())) == list(range(1, PROFILES + 1))


def _kill_in_a_slice(crash: Crash, *, lease: str, reap: bool) -> tuple[int, str, JobSlice]:
    """A sliced job whose coordinator pauses once it has written its first slice, and a
    second worker killed in the next slice before sending anything; the coordinator is
    then let go. ``reap``: the killed process is waited for (else it stays a zombie, its
    pid still answering). Answers the job's id, the killed worker's pid as its name holds
    it, and its slice as it held it."""
    sliced = {"XDMC_SLICE_ROWS": "50", "XDMC_LEASE_SECONDS": lease}  # 300 profiles: six slices
    # The coordinator stops once it has written its first slice, before sending it.
    crash.worker(XDMC_FAULT_PAUSE_AT="written", **sliced)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while "started" not in crash.logs():
        assert time.monotonic() < deadline, "the coordinator did not start"
        time.sleep(0.05)
    # A worker about to start is there to take slices: the coordinator cuts the job. It is
    # heard from until the test's time-out, so that however long the coordinator takes to
    # claim the job, it is still there.
    heard_until = utcnow() + timedelta(seconds=TIMEOUT_SECONDS)
    crash.store.workers.announce("a-worker-about-to-start", heard_until)
    first = crash.trigger()
    crash.wait_for(crash.home / "faults" / "written.paused")
    assert "cut into 6 slices" in crash.logs()
    # Another worker takes the next slice, and dies in it.
    doomed = crash.worker(XDMC_FAULT_PAUSE_AT="extract", **sliced)
    crash.wait_for(crash.home / "faults" / "extract.paused")
    os.kill(doomed.pid, signal.SIGKILL)
    if reap:
        doomed.wait(timeout=30)
    assert any("-slice-" in name for name in crash.work_folders(first))
    tag = f":{doomed.pid}:"
    (lost,) = [p for p in crash.store.slices.of_job(first) if tag in (p.lease_owner or "")]
    resume("written", crash.home)
    return first, tag, lost


def test_a_worker_killed_in_a_slice_of_another_workers_job(crash: Crash) -> None:
    first, doomed, _ = _kill_in_a_slice(crash, lease=LEASE_SECONDS, reap=True)

    # The coordinator writes the other slices, then runs the lost one again: it had sent
    # nothing into the batch.
    ended = crash.wait_until_ended(first)
    assert ended.state == JobState.SUCCESS, crash.logs()
    assert ended.records_ingested == PROFILES
    assert crash.work_folders(first) == [], crash.logs()
    assert "it runs again" in crash.logs()
    writers = {(piece.result or {})["worker"] for piece in crash.store.slices.of_job(first)}
    assert not any(doomed in writer for writer in writers)
    ids = crash.lake_ids()
    assert sorted(map(int, ids)) == list(range(1, PROFILES + 1))


def test_a_slice_of_a_worker_whose_postgresql_session_ended_runs_again_before_its_lease_ends(
    postgres_crash: Crash,
) -> None:
    """As above with two-minute leases, the killed worker left a zombie: only its session
    lock says that it is gone, and its slice runs again long before its lease ends."""
    crash = postgres_crash
    first, doomed, lost = _kill_in_a_slice(crash, lease="120", reap=False)
    assert lost.lease_expires_at is not None

    ended = crash.wait_until_ended(first)
    assert ended.state == JobState.SUCCESS, crash.logs()
    assert utcnow() < lost.lease_expires_at  # the killed worker's lease still ran
    assert ended.records_ingested == PROFILES
    zombie = crash.processes[1]
    os.kill(zombie.pid, 0)  # not reaped yet: its pid alone would say it may live
    zombie.wait(timeout=30)
    again = crash.store.slices.of_job(first)[lost.number]
    assert doomed not in str((again.result or {})["worker"])
    assert "it runs again" in crash.logs()
    assert crash.work_folders(first) == [], crash.logs()
    assert sorted(map(int, crash.lake_ids())) == list(range(1, PROFILES + 1))


def test_a_worker_killed_between_a_merge_and_its_record_leaves_one_row_per_key(
    crash: Crash,
) -> None:
    first = crash.worker()
    initial = crash.trigger()
    assert crash.wait_until_ended(initial).state == JobState.SUCCESS
    first.terminate()
    first.wait(timeout=30)
    changed = [3, 5, 8]
    with sqlite3.connect(crash.settings.demo_source_path) as source:
        source.execute(
            "update profile set lastModified = '2030-01-01 00:00:00.000000',"
            " email = 'changed' || id || '@example.com' where id in (3, 5, 8)"
        )
    merged = crash.trigger()
    doomed = crash.worker(XDMC_FAULT_PAUSE_AT="committed")
    crash.wait_for(crash.home / "faults" / "committed.paused")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)

    crash.worker()
    ended = crash.wait_until_ended(merged)
    assert ended.state == JobState.SUCCESS, crash.logs()
    assert ended.records_ingested == len(changed)
    table = lake_table(crash.settings.lake_root, "demo", "profiles")
    ids = sorted(int(str(key)) for key in table["_id"].to_pylist())
    assert ids == list(range(1, PROFILES + 1))  # one row per key
    emails = {
        int(str(row["_id"])): row["personalEmail"]["address"]
        for row in table.select(["_id", "personalEmail"]).to_pylist()
    }
    assert {key: emails[key] for key in changed} == {
        key: f"changed{key}@example.com" for key in changed
    }
    commits = lake_commits(crash.settings.lake_root, "demo", "profiles")
    assert [commit["xdmc.job"] for commit in commits] == [str(initial), str(merged)]
    assert commits[-1]["xdmc.committedAs"] == "upsert"
