"""A small delta's latency: the trigger to ``Success`` of a job that exports a few changed
records of a large table, on the embedded default.

The server runs as ``make run`` runs it: ``xdm-connector serve`` with its embedded worker
and a SQLite metadata store, the demo organization reading a copy of the cached SQLite
source (the cache stays as it is), its dataset an ``append`` table (an ``upsert`` table's
merge rewrites the files holding the changed keys: a measure of delta-rs, not of the
latency). A first trigger exports the whole table; then each
repetition changes ``CHANGED`` records of the source (a new email and ``lastModified``),
triggers the demo mapping through the API and reads its status every ``STATUS_POLL_SECONDS``
until it says ``Success``: the seconds from before the trigger's request to the answer
that says ``Success``. The median and the 95th percentile are kept, and the median CPU
time the server's process spent from the trigger to ``Success`` (its API, the status reads
and the job; less at the mercy of other work on a shared machine than the wall time).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.harness import ROOT, process_cpu_seconds

CHANGED = 100
STATUS_POLL_SECONDS = 0.005
TIMEOUT_SECONDS = 600.0
_PATH = "/demo/campaign/dataIngestion/xdmIngestion/XDM44/ingest"


def measure_latency(
    cached_path: Path, work: Path, *, repetitions: int, changed: int = CHANGED
) -> dict[str, Any]:
    """Median and p95 milliseconds from a trigger to ``Success`` of a ``changed``-record
    delta of a copy (in ``work``) of the source at ``cached_path``."""
    load_before = round(os.getloadavg()[0], 1)
    sqlite_path = copied_source(cached_path, work)
    server = DemoServer(sqlite_path)
    try:
        server.start()
        server.trigger_until_success()  # the first export: the whole table
        milliseconds, cpu_milliseconds = [], []
        for repetition in range(repetitions):
            change_records(sqlite_path, changed, repetition)
            cpu_before = server.cpu_seconds()
            elapsed = server.trigger_until_success() * 1000
            milliseconds.append(round(elapsed, 1))
            cpu_milliseconds.append(round((server.cpu_seconds() - cpu_before) * 1000, 1))
            print(f"  latency #{repetition + 1}: {elapsed:.0f} ms", flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "profiles": profile_count(cached_path),
        "changed": changed,
        "median_ms": round(statistics.median(milliseconds), 1),
        "p95_ms": round(percentile(milliseconds, 95), 1),
        "server_cpu_median_ms": round(statistics.median(cpu_milliseconds), 1),
        "load_average": [load_before, round(os.getloadavg()[0], 1)],
        "runs_ms": milliseconds,
    }


def copied_source(cached_path: Path, work: Path) -> Path:
    """A copy of the cached source in ``work``, which the deltas change."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    copied = work / cached_path.name
    shutil.copyfile(cached_path, copied)
    return copied


def profile_count(sqlite_path: Path) -> int:
    """The records of the source's ``profile`` table."""
    with closing(sqlite3.connect(sqlite_path)) as connection:
        (profiles,) = connection.execute("SELECT count(*) FROM profile").fetchone()
    return int(profiles)


def percentile(values: list[float], percent: float) -> float:
    """The ``percent`` percentile of ``values``, interpolated between the nearest two."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def change_records(sqlite_path: Path, count: int, repetition: int) -> None:
    """Change ``count`` records of the source, spread over the table, as an application
    would: a new email and ``lastModified`` now."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with closing(sqlite3.connect(sqlite_path)) as connection, connection:
        (rows,) = connection.execute("SELECT max(id) FROM profile").fetchone()
        step = max(1, rows // count)
        ids = [(1 + repetition + index * step,) for index in range(count)]
        connection.executemany(
            f"UPDATE profile SET email = 'delta{repetition}.' || id || '@example.com', "
            f"lastModified = '{now}' WHERE id = ?",
            ids,
        )


class DemoServer:
    """``xdm-connector serve`` on a home of its own, the demo reading ``sqlite_path``;
    ``python_path`` runs another copy of the product's code (a comparison)."""

    def __init__(self, sqlite_path: Path, *, python_path: str | None = None) -> None:
        self.sqlite_path = sqlite_path
        self.python_path = python_path
        self.home = Path(tempfile.mkdtemp(prefix="xdmc-bench-demo-"))
        self.base = ""
        self.headers: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._client = httpx.Client(timeout=30)

    def start(self) -> None:
        """Prepare the demo on the source and start the server; returns once it serves."""
        (self.home / "demo-source.db").symlink_to(self.sqlite_path.resolve())
        client_id, token = self._prepare()
        self.headers = {"Authorization": f"Bearer {token}", "X-Api-Key": client_id}
        self.launch()

    def launch(self) -> None:
        """Start the server on the prepared home (again, after ``kill``); returns once it
        serves."""
        environment = {
            **os.environ,
            "XDMC_HOME": str(self.home),
            "XDMC_LOG_LEVEL": "WARNING",
        }
        environment.pop("XDMC_DATABASE_URL", None)
        if self.python_path is not None:
            environment["PYTHONPATH"] = self.python_path
        log = (self.home / "server.log").open("wb")
        listening = socket.create_server(("127.0.0.1", 0))
        port = listening.getsockname()[1]
        with listening, log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "xdm_connector", "serve", "--fd", str(listening.fileno())],
                cwd=ROOT, env=environment, start_new_session=True, stdout=log, stderr=log,
                pass_fds=(listening.fileno(),),
            )  # fmt: skip
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        # Read often: the recovery row times a restart up to its first answer.
        while f"listening on {self.base}" not in self._log():
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"bench: the server did not start:\n{self._log()[-3000:]}")
            time.sleep(0.02)

    def trigger(self) -> int:
        """Trigger the demo mapping; the request's id."""
        answer = self._client.post(self.base + _PATH, headers=self.headers).json()
        return int(answer["requestId"])

    def follow(self, request_id: int, until: tuple[str, ...], poll_seconds: float) -> str:
        """Read the request's status every ``poll_seconds`` while it is ``In Progress``;
        the status it reached, one of ``until``."""
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            url = f"{self.base}{_PATH}?requestId={request_id}"
            status = self._client.get(url, headers=self.headers).json()
            if status["status"] in until:
                return str(status["status"])
            if status["status"] != "In Progress" or time.monotonic() > deadline:
                raise RuntimeError(f"bench: the job ended {status}:\n{self._log()[-3000:]}")
            time.sleep(poll_seconds)

    def trigger_until_success(self) -> float:
        """Trigger the demo mapping and follow its status until ``Success``: the seconds."""
        started = time.perf_counter()
        self.follow(self.trigger(), ("Success",), STATUS_POLL_SECONDS)
        return time.perf_counter() - started

    def cpu_seconds(self) -> float:
        """The CPU time the running server's process has used so far."""
        assert self._process is not None
        return process_cpu_seconds(self._process.pid)

    def kill(self) -> None:
        """SIGKILL the server and every process it started (its process group)."""
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=60)
            self._process = None

    def stop(self) -> None:
        """Stop the server and remove its home."""
        self._client.close()
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGTERM)
            self._process.wait(timeout=60)
        shutil.rmtree(self.home, ignore_errors=True)

    def _log(self) -> str:
        return (self.home / "server.log").read_text(errors="replace")

    def _prepare(self) -> tuple[str, str]:
        """The demo in the server's store; an integration's client id and a bearer token."""
        from xdm_connector.demo.setup import DEMO_DATASET, DEMO_ORG, DEMO_SCHEMA, prepare_demo
        from xdm_connector.domain.lake_modes import LakeMode
        from xdm_connector.security.credentials import issue_token
        from xdm_connector.services.datasets import create_dataset
        from xdm_connector.services.organizations import create_organization
        from xdm_connector.settings import Settings
        from xdm_connector.store.store import Store
        from xdm_connector.xdm.registry import SchemaRegistry

        settings = Settings(home=self.home, database_url=None, embedded_worker=False)
        store = Store(settings.store_url)
        try:
            store.upgrade()
            # The demo's dataset as an append table (prepare_demo keeps what exists).
            create_organization(store, DEMO_ORG, f"sqlite:///{settings.demo_source_path}")
            append_table = {"field_groups": DEMO_SCHEMA[1:], "lake_mode": LakeMode.APPEND}
            registry = SchemaRegistry.packaged()
            create_dataset(
                store, registry, DEMO_ORG, DEMO_DATASET, class_ref=DEMO_SCHEMA[0], **append_table
            )
            setup = prepare_demo(settings, store)
            token = issue_token(
                store, setup.credentials.client_id, setup.credentials.client_secret, 86_400
            )
        finally:
            store.close()
        return setup.credentials.client_id, token.access_token
