"""End-to-end fixtures: the real ``xdm-connector`` command and server processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

COMMAND = [sys.executable, "-m", "xdm_connector"]
START_TIMEOUT_SECONDS = 60
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``e2e``: each runs the product's own processes."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


class ReservedPort:
    """A port of 127.0.0.1 held by a listening socket of the test process, from its first use
    until ``close``. A server process serves that socket (``--fd``): no other process can
    take the port between its choice and the server's start, so what answers there is the
    server the test started."""

    def __init__(self) -> None:
        self._socket: socket.socket | None = None

    @property
    def socket(self) -> socket.socket:
        if self._socket is None:
            self._socket = socket.socket()
            self._socket.bind(("127.0.0.1", 0))
            self._socket.listen()
        return self._socket

    @property
    def number(self) -> int:
        return int(self.socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.number}"

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def wait_until_listening(process: subprocess.Popen[bytes], log: Path, who: str, url: str) -> None:
    """Wait until the server process says it listens at ``url`` (once it serves)."""
    expected = f"{who} listening on {url}\n"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while expected not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the server did not start in time:\n{log.read_text()}")
        time.sleep(0.05)


@dataclass
class Installation:
    """One product installation: a home folder, a metadata store, and its processes."""

    home: Path
    database_url: str | None
    extra: dict[str, str] = field(default_factory=dict)
    """More variables for the environment of its processes."""
    api: ReservedPort = field(default_factory=ReservedPort)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_paths: dict[int, Path] = field(default_factory=dict)
    command: list[str] = field(default_factory=lambda: list(COMMAND))
    """How to run ``xdm-connector`` (another environment's Python, for the Airflow tests)."""

    @property
    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("XDMC_")}
        env.update(
            XDMC_HOME=str(self.home),
            # An idle worker looks for the jobs of other processes four times a second:
            # ten times, each of a test's workers took 8% of a core while it waited.
            XDMC_WORKER_POLL_SECONDS="0.25",
            XDMC_LOG_LEVEL="INFO",
        )
        if self.database_url:
            env["XDMC_DATABASE_URL"] = self.database_url
        return {**env, **self.extra}

    @property
    def port(self) -> int:
        return self.api.number

    @property
    def base_url(self) -> str:
        return self.api.url

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``xdm-connector ARGS`` against this installation."""
        result = subprocess.run(
            [*self.command, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"xdm-connector {' '.join(args)} failed:\n{result.stderr}")
        return result

    def log_of(self, process: subprocess.Popen[bytes]) -> Path:
        """Where a process started by ``start`` writes (its standard output and error)."""
        return self.log_paths[process.pid]

    def start(self, *args: str, serving: ReservedPort | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running ``xdm-connector`` process (``serve``, ``worker``); a server
        gets the socket of ``serving`` (``--fd``)."""
        fds: tuple[int, ...] = ()
        if serving is not None:
            fds = (serving.socket.fileno(),)
            args = (*args, "--fd", str(fds[0]))
        path = self.home / f"{args[0]}-{len(self.log_paths)}.log"
        with path.open("wb") as log:
            process = subprocess.Popen(
                [*self.command, *args], env=self.env, stdout=log, stderr=log, pass_fds=fds
            )
        self.processes.append(process)
        self.log_paths[process.pid] = path
        return process

    def serve(self, *options: str, worker: bool = True) -> subprocess.Popen[bytes]:
        """Start the server and wait until it says it listens."""
        flags = [*options, *([] if worker else ["--no-worker"])]
        process = self.start("serve", *flags, serving=self.api)
        wait_until_listening(process, self.log_of(process), "xdm-connector", self.base_url)
        return process

    def logs(self) -> str:
        """What the installation's processes wrote, for failure messages."""
        return "\n".join(path.read_text(errors="replace") for path in self.home.glob("*.log"))

    def stop(self) -> None:
        """Stop the processes (SIGTERM, then SIGKILL after 30 s) and free the ports."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        self.api.close()


@dataclass
class Client:
    """An API client holding a bearer token."""

    base_url: str
    client_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Api-Key": self.client_id}

    def ingest_url(self, mapping: str, org: str = "demo") -> str:
        return f"{self.base_url}/{org}/campaign/dataIngestion/xdmIngestion/{mapping}/ingest"

    def trigger(self, mapping: str, org: str = "demo") -> httpx.Response:
        return httpx.post(self.ingest_url(mapping, org), headers=self.headers, timeout=30)

    def status(self, mapping: str, request_id: int, org: str = "demo") -> httpx.Response:
        return httpx.get(
            self.ingest_url(mapping, org),
            params={"requestId": request_id},
            headers=self.headers,
            timeout=30,
        )

    def wait_until_done(self, mapping: str, request_id: int, org: str = "demo") -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            body: dict[str, Any] = self.status(mapping, request_id, org).json()
            if body["status"] != "In Progress":
                return body
            time.sleep(0.1)
        raise AssertionError(f"request {request_id} still in progress")


def token_for(base_url: str, credentials: dict[str, str]) -> Client:
    response = httpx.post(
        f"{base_url}/ims/token/v3",
        data={**credentials, "grant_type": "client_credentials"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return Client(base_url, credentials["client_id"], response.json()["access_token"])


def demo_credentials(installation: Installation) -> dict[str, str]:
    document: dict[str, str] = orjson.loads(
        (installation.home / "demo-credentials.json").read_bytes()
    )
    return document


@pytest.fixture(params=["sqlite", "postgresql"])
def installation(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Installation]:
    """A demo installation on each metadata store; its processes are stopped after."""
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    installed = Installation(home=tmp_path / "home", database_url=database_url)
    installed.home.mkdir()
    try:
        installed.cli("demo")
        yield installed
    finally:
        installed.stop()


def catalog_batch(
    platform_url: str, client: dict[str, str], batch_id: str, ims_org: str
) -> dict[str, Any]:
    """The batch as the local platform service's catalog shows it, read with ``client``
    (its ``client_id`` and ``client_secret``) for the IMS organization ``ims_org``."""
    token_url = f"{platform_url}/ims/token/v3"
    token = httpx.post(token_url, data=client, timeout=10).json()["access_token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "x-api-key": client["client_id"],
        "x-gw-ims-org-id": ims_org,
        "x-sandbox-name": "prod",
    }
    url = f"{platform_url}/data/foundation/catalog/batches/{batch_id}"
    answer = httpx.get(url, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    batch: dict[str, Any] = answer.json()[batch_id]
    return batch
