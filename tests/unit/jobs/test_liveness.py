"""Whether a lease's worker is certainly gone: by its host and pid, and this process's own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from xdm_connector.jobs import liveness

HOST = socket.gethostname()


@pytest.fixture
def ended_pid() -> int:
    """The pid of a process that ran and ended (and was reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def running_pid() -> Iterator[int]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_a_worker_whose_process_ended_on_this_host_is_gone(ended_pid: int) -> None:
    assert liveness.certainly_gone(f"{HOST}:{ended_pid}:0a1b2c3d")


def test_a_worker_whose_process_runs_is_not(running_pid: int) -> None:
    assert not liveness.certainly_gone(f"{HOST}:{running_pid}:0a1b2c3d")


def test_a_worker_of_another_host_is_left_to_its_lease(ended_pid: int) -> None:
    assert not liveness.certainly_gone(f"another-{HOST}:{ended_pid}:0a1b2c3d")


def test_this_process_s_pid_is_gone_unless_a_worker_of_it_has_the_name() -> None:
    earlier_life = f"{HOST}:{os.getpid()}:0a1b2c3d"
    assert liveness.certainly_gone(earlier_life)
    liveness.register(earlier_life)
    try:
        assert not liveness.certainly_gone(earlier_life)
    finally:
        liveness.unregister(earlier_life)
    assert liveness.certainly_gone(earlier_life)


@pytest.mark.parametrize("owner", ["a-lost-worker", f"{HOST}:not-a-pid:0a1b", "", ":"])
def test_a_name_of_another_form_is_left_to_its_lease(owner: str) -> None:
    assert not liveness.certainly_gone(owner)
