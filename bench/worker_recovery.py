"""Back after a crash, with several workers: from the SIGKILL of the worker holding a sliced
job to the end of its request.

Each repetition makes a PostgreSQL metadata store anew (the database ``STORE_DATABASE``)
with the demo organization on the cached SQLite source, and starts ``WORKERS``
``xdm-connector worker`` processes, each pinned to a core of its own, with leases of
``LEASE_SECONDS`` (well above the goal, so that a lease cannot be what ends the request)
and the job cut into ``SLICES`` slices. It triggers the demo mapping, waits until the
workers hold a slice each, kills the worker holding the job with SIGKILL, and times from
the kill to the job's end (``Aborted``, or ``Success``), read from the store every
``POLL_SECONDS``. The median and the maximum are kept, with each request's end.

A small job on a busy machine may end before the second worker claims a slice: with
``hold_slices`` (for the tests), every worker waits in its first slice after its first
record batch (the ``extract`` fault stage, ``faults.py``) until the kill, so that both hold
one whatever the load; the survivor then goes on.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.scaleout import new_store_url, prepare_demo, start_workers, stop_workers

if TYPE_CHECKING:
    from xdm_connector.store.store import Store

STORE_DATABASE = "xdmc_bench_worker_recovery"
WORKERS = 2
SLICES = 4
LEASE_SECONDS = 120
POLL_SECONDS = 0.025
TIMEOUT_SECONDS = 600.0


def measure_worker_recovery(
    server_url: str,
    sqlite_path: Path,
    work: Path,
    *,
    profiles: int,
    repetitions: int,
    hold_slices: bool = False,
) -> dict[str, Any]:
    """Median and maximum seconds from the SIGKILL of the worker holding a sliced job of
    ``profiles`` records to the end of its request, ``WORKERS`` workers on PostgreSQL;
    ``hold_slices`` keeps each worker in its first slice until the kill."""
    load_before = round(os.getloadavg()[0], 1)
    seconds: list[float] = []
    endings: list[str] = []
    for repetition in range(repetitions):
        measured = _round(server_url, sqlite_path, work / "worker-recovery", profiles, hold_slices)
        if "unavailable" in measured:
            return measured
        seconds.append(round(measured["seconds"], 2))
        endings.append(measured["ending"])
        print(
            f"  worker recovery #{repetition + 1}: {seconds[-1]:.2f} s, {endings[-1]}",
            flush=True,
        )
    return {
        "profiles": profiles,
        "workers": WORKERS,
        "lease_seconds": LEASE_SECONDS,
        "median_seconds": round(statistics.median(seconds), 2),
        "max_seconds": max(seconds),
        "load_average": [load_before, round(os.getloadavg()[0], 1)],
        "runs_seconds": seconds,
        "endings": endings,
    }


def _round(
    server_url: str, sqlite_path: Path, folder: Path, profiles: int, hold_slices: bool
) -> dict[str, Any]:
    from xdm_connector.domain.job_states import JobState
    from xdm_connector.faults import resume
    from xdm_connector.store.store import Store

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    store_url = new_store_url(server_url, folder, STORE_DATABASE)
    if not store_url.startswith("postgresql"):
        shutil.rmtree(folder, ignore_errors=True)
        return {"unavailable": "no PostgreSQL server answers"}
    store = Store(store_url)
    try:
        prepare_demo(store, sqlite_path)
        processes = start_workers(
            folder,
            store_url,
            WORKERS,
            -(-profiles // SLICES),
            XDMC_LEASE_SECONDS=str(LEASE_SECONDS),
            **({"XDMC_FAULT_PAUSE_AT": "extract"} if hold_slices else {}),
        )
        try:
            request = store.jobs.request_ingestion("demo", "XDM44").job.id
            holder = _holder_once_sliced(store, request)
            (doomed,) = [p for p in processes if f":{p.pid}:" in holder]
            os.kill(doomed.pid, signal.SIGKILL)
            killed = time.perf_counter()
            if hold_slices:
                resume("extract", folder)
            deadline = time.monotonic() + TIMEOUT_SECONDS
            while JobState(state := store.jobs.get_by_id(request).state).in_progress:
                if time.monotonic() > deadline:
                    raise SystemExit(f"bench: the killed worker's job is still {state}")
                time.sleep(POLL_SECONDS)
            elapsed = time.perf_counter() - killed
        finally:
            stop_workers(processes)
        ending = JobState(store.jobs.get_by_id(request).state).api_status
        return {"seconds": elapsed, "ending": ending}
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def _holder_once_sliced(store: Store, job_id: int) -> str:
    """The name of the worker holding the job, once every worker holds one of its slices."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        job = store.jobs.get_by_id(job_id)
        # Only a held slice has a lease owner (a pending, written or failed one has none).
        holders = {piece.lease_owner for piece in store.slices.of_job(job_id) if piece.lease_owner}
        if job.lease_owner and len(holders) >= WORKERS:
            return job.lease_owner
        if job.ended_at is not None:
            break
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"bench: job {job_id} was not sliced across {WORKERS} workers")
