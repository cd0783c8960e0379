"""Back after a crash: from the restart of a killed embedded server to the end of the
request its job was running.

The server runs as ``make run`` runs it (``DemoServer``: ``xdm-connector serve`` with its
embedded worker and SQLite store, the demo reading the cached source, which it only reads).
Each repetition prepares a home of its own, triggers the demo mapping through the API,
waits until its status is ``In Progress`` and the worker has claimed the job (its
``started_at`` in the store), then kills the server's process group with SIGKILL and starts
the server again on the same home. Timed: from before the restart to the status answer that
says ``Aborted`` or ``Success``, read every ``STATUS_POLL_SECONDS``. The median and the
maximum are kept, with each request's end and the seconds the restarted server took to
serve (its start, a part of every run's time).
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from bench.latency import DemoServer, profile_count

STATUS_POLL_SECONDS = 0.025
ENDED = ("Aborted", "Success")
_CLAIM_SECONDS = 60.0


def measure_recovery(cached_path: Path, *, repetitions: int) -> dict[str, Any]:
    """Median and maximum seconds from a killed server's restart to the end of its request,
    the demo mapping reading the source at ``cached_path``."""
    load_before = round(os.getloadavg()[0], 1)
    seconds = []
    serving_seconds = []
    endings = []
    for repetition in range(repetitions):
        server = DemoServer(cached_path)
        try:
            server.start()
            request_id = server.trigger()
            server.follow(request_id, ("In Progress", "Success"), STATUS_POLL_SECONDS)
            wait_until_claimed(server.home, request_id)
            server.kill()
            restarted = time.perf_counter()
            server.launch()
            serving = time.perf_counter() - restarted
            endings.append(server.follow(request_id, ENDED, STATUS_POLL_SECONDS))
            elapsed = time.perf_counter() - restarted
        finally:
            server.stop()
        seconds.append(round(elapsed, 2))
        serving_seconds.append(round(serving, 2))
        print(
            f"  recovery #{repetition + 1}: {elapsed:.2f} s ({serving:.2f} s to serve), "
            f"{endings[-1]}",
            flush=True,
        )
    return {
        "profiles": profile_count(cached_path),
        "median_seconds": round(statistics.median(seconds), 2),
        "max_seconds": max(seconds),
        "load_average": [load_before, round(os.getloadavg()[0], 1)],
        "runs_seconds": seconds,
        "serving_seconds": serving_seconds,
        "endings": endings,
    }


def wait_until_claimed(home: Path, request_id: int) -> None:
    """Until a worker has claimed the request's job (the API says ``In Progress`` from the
    trigger on, before any worker took it)."""
    deadline = time.monotonic() + _CLAIM_SECONDS
    store = f"file:{home / 'metadata.db'}?mode=ro"
    query = "SELECT started_at IS NOT NULL FROM jobs WHERE request_id = ?"
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(store, uri=True)) as connection:
            row = connection.execute(query, (request_id,)).fetchone()
        if row is not None and row[0]:
            return
        time.sleep(STATUS_POLL_SECONDS)
    raise RuntimeError(f"bench: no worker claimed request {request_id}")
