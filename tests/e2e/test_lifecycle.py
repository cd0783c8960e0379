"""Starting and stopping the long-running processes: what they say, and what they wait for.

A server says where it listens once it does; on SIGTERM or Ctrl-C, a server or a worker
says which job it lets finish and for how long at most, then that it stopped. A job is held
at its extract stage (``XDMC_FAULT_PAUSE_AT``, ``faults.py``) while the process is
told to stop, then let go.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    START_TIMEOUT_SECONDS,
    Installation,
    demo_credentials,
    token_for,
    wait_until_listening,
)
from xdm_connector.domain.job_states import JobState
from xdm_connector.faults import resume
from xdm_connector.settings import Settings
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

GRACE_SECONDS = 120


def said(log: Path, who: str = "xdm-connector") -> list[str]:
    """The lines a process printed for people (its logs, in the same file, are JSON)."""
    prefix = f"{who} "
    lines = log.read_text(errors="replace").splitlines()
    return [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]


def wait_for_line(process: subprocess.Popen[bytes], log: Path, line: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while line not in log.read_text(errors="replace"):
        assert process.poll() is None, f"the process exited:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"never said {line!r}:\n{log.read_text()}"
        time.sleep(0.05)


def job_of(installation: Installation, job_id: int) -> Job:
    settings = Settings(home=installation.home, database_url=installation.database_url)
    store = Store(settings.store_url)
    try:
        return store.jobs.get_by_id(job_id)
    finally:
        store.close()


def held_job(installation: Installation) -> int:
    """Trigger XDM44 through the API; answers its job's id once the job is held."""
    client = token_for(installation.base_url, demo_credentials(installation))
    triggered = client.trigger("XDM44")
    assert triggered.status_code == 200, triggered.text
    paused = installation.home / "faults" / "extract.paused"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not paused.exists():
        assert time.monotonic() < deadline, f"the job was not held:\n{installation.logs()}"
        time.sleep(0.05)
    job_id: int = triggered.json()["requestId"]
    return job_id


def let_go(installation: Installation) -> None:
    resume("extract", installation.home)


@pytest.fixture
def holding(installation: Installation) -> Installation:
    """The demo installation, whose worker holds a job at its extract stage."""
    installation.extra.update(
        XDMC_FAULT_PAUSE_AT="extract", XDMC_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS)
    )
    return installation


def test_serve_says_where_it_listens_and_lets_the_running_job_finish_on_sigterm(
    holding: Installation,
) -> None:
    server = holding.serve()
    log = holding.log_of(server)
    assert said(log) == [f"listening on {holding.base_url}"]
    job_id = held_job(holding)

    server.send_signal(signal.SIGTERM)
    waiting = (
        f"waiting up to {GRACE_SECONDS} s for job {job_id} (organization demo, mapping XDM44)"
        " to finish, then aborting it"
    )
    wait_for_line(server, log, waiting)
    assert server.poll() is None  # it waits for the job
    let_go(holding)

    assert server.wait(timeout=START_TIMEOUT_SECONDS) == 0
    assert said(log) == [f"listening on {holding.base_url}", "stopping", waiting, "stopped"]
    job = job_of(holding, job_id)
    assert job.state == JobState.SUCCESS, job.reason


def test_serve_in_processes_says_it_listens_once_every_one_serves(
    installation: Installation,
) -> None:
    server = installation.serve("--processes", "2", worker=False)
    log = installation.log_of(server)
    assert said(log) == [f"listening on {installation.base_url}"]
    assert httpx.get(f"{installation.base_url}/ready", timeout=30).status_code == 200

    server.send_signal(signal.SIGINT)
    assert server.wait(timeout=START_TIMEOUT_SECONDS) == 0
    assert said(log) == [f"listening on {installation.base_url}", "stopping", "stopped"]


def test_a_worker_says_which_job_it_waits_for_and_aborts_it_after_the_grace_period(
    holding: Installation,
) -> None:
    holding.extra["XDMC_SHUTDOWN_GRACE_SECONDS"] = "0"
    holding.serve(worker=False)  # takes the trigger; the worker below runs the job
    worker = holding.start("worker")
    log = holding.log_of(worker)
    job_id = held_job(holding)

    worker.send_signal(signal.SIGTERM)
    waiting = (
        f"waiting up to 0 s for job {job_id} (organization demo, mapping XDM44)"
        " to finish, then aborting it"
    )
    wait_for_line(worker, log, waiting)
    wait_for_line(worker, log, "did not finish within 0 s of the stop: aborting it")
    let_go(holding)

    assert worker.wait(timeout=START_TIMEOUT_SECONDS) == 0
    assert said(log, "xdm-connector worker") == ["stopping", waiting, "stopped"]
    job = job_of(holding, job_id)
    assert job.state == JobState.ABORTED, job.reason


def test_the_platform_service_says_where_it_listens_and_that_it_stopped(tmp_path: Path) -> None:
    installation = Installation(home=tmp_path, database_url=None)
    try:
        service = installation.start(
            "platform",
            "serve",
            "--home",
            str(tmp_path / "platform"),
            "--any-org",
            serving=installation.api,
        )
        log = installation.log_of(service)
        who = "xdm-connector platform service"
        wait_until_listening(service, log, who, installation.base_url)
        assert httpx.get(f"{installation.base_url}/health", timeout=30).status_code == 200

        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=START_TIMEOUT_SECONDS) == 0
        assert said(log, who) == [f"listening on {installation.base_url}", "stopping", "stopped"]
    finally:
        installation.stop()
