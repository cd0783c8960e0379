"""The API under load: ``POST`` trigger and ``GET`` status against ``/health``, with wrk.

The server runs as the product ships it, ``xdm-connector serve --processes N`` (uvicorn
with N processes sharing one listening socket), on a PostgreSQL metadata store (the
database ``xdmc_bench_store``, made anew each run), with no embedded worker, so that a
trigger finds its first job in progress and answers it: the
trigger's whole path (token, role, mapping, the store's one-job-per-mapping check) runs on
every request. Each endpoint gets the same load (64 connections, ``--api-seconds`` each),
in alternating rounds; the medians are kept. A ratio is taken within each round (an
endpoint's rate over ``/health``'s in the same round, seconds apart) and the median of the
rounds' ratios is reported: on a shared machine whose load drifts between rounds, that is
steadier than a ratio of medians taken from different rounds. The load average at the
start and end is recorded with the results.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from psycopg import sql

from bench import run_lock
from bench.harness import ROOT, process_cpu_seconds
from bench.sources import libpq_url

STORE_DATABASE = "xdmc_bench_store"
CONNECTIONS = 64
_PATH = "/demo/campaign/dataIngestion/xdmIngestion/XDM44/ingest"
_POST_SCRIPT = 'wrk.method = "POST"\n'
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def measure_api(server_url: str, *, processes: int, seconds: int, rounds: int) -> dict[str, Any]:
    """Requests per second and p99 latency of the three endpoints, and the ratios."""
    if shutil.which("wrk") is None:
        return {"unavailable": "wrk is not installed (apt-get install -y wrk)"}
    load_before = round(os.getloadavg()[0], 1)
    store_url = _fresh_database(server_url)
    home = Path(tempfile.mkdtemp(prefix="xdmc-bench-api-"))
    environment = {
        **os.environ,
        "XDMC_HOME": str(home),
        "XDMC_DATABASE_URL": store_url,
        "XDMC_EMBEDDED_WORKER": "false",
        "XDMC_LOG_LEVEL": "WARNING",
    }
    client_id, token = _prepare(home, store_url)
    try:
        with serving(home, environment, processes=processes) as server:
            base = server.base
            headers = {"Authorization": f"Bearer {token}", "X-Api-Key": client_id}
            first = httpx.post(base + _PATH, headers=headers, timeout=30).json()
            endpoints = {
                "health": (base + "/health", {}, False),
                "trigger": (base + _PATH, headers, True),
                "status": (f"{base}{_PATH}?requestId={first['requestId']}", headers, False),
            }
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in endpoints}
            for round_index in range(rounds):
                names = list(endpoints) if round_index % 2 == 0 else list(reversed(endpoints))
                for name in names:
                    url, endpoint_headers, post = endpoints[name]
                    runs[name].append(_wrk(url, endpoint_headers, post=post, seconds=seconds))
                    print(f"  api #{round_index + 1} {name}: {runs[name][-1]}", flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    result: dict[str, Any] = {
        "processes": processes,
        "connections": CONNECTIONS,
        "load_average": [load_before, round(os.getloadavg()[0], 1)],
    }
    for name, measured in runs.items():
        result[name] = {
            "requests_per_second": statistics.median(run["rps"] for run in measured),
            "p99_ms": statistics.median(run["p99_ms"] for run in measured),
            "errors": sum(run["errors"] for run in measured),
            "runs": measured,
        }
    for name in ("trigger", "status"):
        ratios = [
            run["rps"] / health["rps"]
            for run, health in zip(runs[name], runs["health"], strict=True)
        ]
        result[name]["ratios_by_round"] = [round(ratio, 3) for ratio in ratios]
        result[name]["ratio_to_health"] = round(statistics.median(ratios), 3)
    return result


@dataclass(frozen=True)
class Served:
    """A server started by ``serving``: its base URL and process id."""

    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """The CPU time the server's process has used so far (every thread of it)."""
        return process_cpu_seconds(self.pid)


@contextmanager
def serving(home: Path, environment: dict[str, str], *, processes: int = 1) -> Iterator[Served]:
    """``xdm-connector serve`` with ``environment`` (its log in ``home``), as the product
    ships it and as its run lock installs it (``bench/run_lock.py``), while the block runs;
    yields it once every process of it serves."""
    log = (home / "server.log").open("wb")
    # Bound here and handed over (--fd): no other process can take the port meanwhile.
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    worker = [] if environment.get("XDMC_EMBEDDED_WORKER", "true") == "true" else ["--no-worker"]
    with listening:
        server = subprocess.Popen(
            run_lock.command("xdm_connector", "serve", *worker,
                             "--fd", str(listening.fileno()), "--processes", str(processes)),
            cwd=ROOT, env=environment, start_new_session=True, stdout=log, stderr=log,
            pass_fds=(listening.fileno(),),
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, home / "server.log")
        yield Served(base, server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def _fresh_database(server_url: str) -> str:
    server = sa.make_url(server_url)
    with psycopg.connect(libpq_url(server_url), autocommit=True) as admin:
        name = sql.Identifier(STORE_DATABASE)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    return server.set(database=STORE_DATABASE).render_as_string(hide_password=False)


def _prepare(home: Path, store_url: str) -> tuple[str, str]:
    """The demo in the store; an integration's client id and a bearer token."""
    from xdm_connector.demo.setup import prepare_demo
    from xdm_connector.security.credentials import issue_token
    from xdm_connector.settings import Settings
    from xdm_connector.store.store import Store

    settings = Settings(home=home, database_url=store_url, embedded_worker=False)
    store = Store(settings.store_url)
    try:
        store.upgrade()
        setup = prepare_demo(settings, store, profiles=100)
        token = issue_token(
            store, setup.credentials.client_id, setup.credentials.client_secret, 86_400
        )
    finally:
        store.close()
    return setup.credentials.client_id, token.access_token


def _wait_ready(base: str, log: Path) -> None:
    """Until the server says it listens at ``base`` (every process of it serves)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if f"xdm-connector listening on {base}\n" in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"bench: the API server did not start:\n{log.read_text()[-3000:]}")


def _wrk(url: str, headers: dict[str, str], *, post: bool, seconds: int) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_POST_SCRIPT)
        script.flush()
        if post:
            command += ["-s", script.name]
        done = subprocess.run(
            [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
        )
    return _parse_wrk(done.stdout)


def _parse_wrk(output: str) -> dict[str, float]:
    """Requests per second, p99 latency (ms) and failed requests of a wrk report."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if rps is None or p99 is None:
        raise RuntimeError(f"bench: unexpected wrk output:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)", output)
    failed = int(errors.group(1)) if errors else 0
    if socket_errors:
        failed += sum(int(group) for group in socket_errors.groups())
    return {
        "rps": float(rps.group(1)),
        "p99_ms": round(float(p99.group(1)) * _UNITS[p99.group(2)], 3),
        "errors": failed,
    }
