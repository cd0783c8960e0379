"""The export engine on each metadata store: the app in-process, the demo source, the lake.

``engine`` bundles what a test drives: the store, an API client with the demo
integration's token, a worker that runs jobs on the real lake (or on ``memory``, an
``InMemoryDestination``, when a test asks for ``memory_worker``), and helpers to change the
source and read the lake.

The demo's source is its SQLite file; a module that overrides ``source_kind`` with
``SOURCE_KINDS`` runs its tests on the demo copied into MariaDB too (``postgresql``: into a
PostgreSQL database beside the store's, for tests whose SQL both servers speak).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa
from bench.sources import copy_into_mysql, copy_into_postgres
from fastapi.testclient import TestClient

from tests.lake import lake_table
from xdm_connector.app import create_app
from xdm_connector.demo.setup import DEMO_ORG, prepare_demo
from xdm_connector.demo.source import create_demo_source
from xdm_connector.domain.job_states import JobState, JobTrigger
from xdm_connector.jobs.worker import Worker
from xdm_connector.services.organizations import create_organization
from xdm_connector.settings import Settings
from xdm_connector.sources import sqlite as sqlite_source
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

PROFILES = 200
BUSY_TIMEOUT_MS = 200
"""How long SQLite waits for a lock in the tests that lock the source (5 s in the product)."""
INGEST = "/demo/campaign/dataIngestion/xdmIngestion/XDM44/ingest"
JOBS = "/demo/campaign/dataIngestion/xdmMapping/XDM44/jobs"
SOURCE_KINDS = ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)]
"""The demo's source in its SQLite file, and copied into MariaDB."""
EVERY_SOURCE_KIND = [*SOURCE_KINDS, pytest.param("postgresql", marks=pytest.mark.postgres)]
"""``SOURCE_KINDS``, and the demo copied into PostgreSQL."""


@dataclass
class Engine:
    """One installation driven in-process."""

    settings: Settings
    store: Store
    client: TestClient
    headers: dict[str, str]
    worker: Worker
    source_kind: str
    """``sqlite`` (the demo's file), ``mysql`` or ``postgresql`` (the demo copied into
    MariaDB or PostgreSQL)."""
    source_url: str
    """The demo source's SQLAlchemy URL."""

    def trigger(self) -> int:
        """A new ingestion request through the API; answers its id."""
        answer = self.client.post(INGEST, headers=self.headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "Success", answer.text
        request_id: int = answer.json()["requestId"]
        return request_id

    def run(self) -> Job:
        """Trigger a request and run it to its end; answers the job."""
        request_id = self.trigger()
        assert self.worker.run_once()
        return self.store.jobs.get("demo", "XDM44", request_id)

    def reconcile(self) -> Job:
        """Request a job that sweeps (``mappings reconcile``) and run it; it must succeed
        and say what its reconciliation found."""
        requested = self.store.jobs.request_ingestion("demo", "XDM44", JobTrigger.RECONCILE)
        assert self.worker.run_once()
        job = self.store.jobs.get("demo", "XDM44", requested.job.request_id)
        assert job.state == JobState.SUCCESS, job.reason
        assert job.details is not None
        assert "reconciliation" in job.details
        return job

    def status(self, request_id: int) -> dict[str, Any]:
        """The ingestion API's answer for a request."""
        answer = self.client.get(INGEST, params={"requestId": request_id}, headers=self.headers)
        body: dict[str, Any] = answer.json()
        return body

    def source(self, statement: str, *parameters: Any) -> None:
        """Run a statement on the demo source database (parameters marked ``?``)."""
        if self.source_kind == "sqlite":
            with sqlite3.connect(self.settings.demo_source_path) as connection:
                connection.execute(statement, parameters)
            return
        engine = sa.create_engine(self.source_url)
        try:
            with engine.begin() as connection:
                # In PyMySQL's style: %s, a literal % doubled.
                marked = statement.replace("%", "%%").replace("?", "%s")
                connection.exec_driver_sql(marked, parameters)
        finally:
            engine.dispose()

    def source_rows(self, query: str) -> list[tuple[Any, ...]]:
        """The rows of ``query`` on the demo source database."""
        engine = sa.create_engine(self.source_url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.exec_driver_sql(query)]
        finally:
            engine.dispose()

    def concat(self, *parts: str) -> str:
        """SQL joining the texts ``parts`` (SQL expressions), in the source's spelling."""
        if self.source_kind != "mysql":
            return " || ".join(parts)
        return f"concat({', '.join(parts)})"

    def lake(self) -> pa.Table:
        """Every committed record of the demo dataset, as a Delta reader sees them."""
        return lake_table(self.settings.lake_root, "demo", "profiles")

    def lake_ids(self) -> list[str]:
        """The ``_id`` of every committed record, duplicates included."""
        return [str(value) for value in self.lake().column("_id").to_pylist()]

    def lake_latest(self) -> dict[str, Any]:
        """Per ``_id``, the latest exported ``_repo.modifyDate``."""
        table = self.lake()
        modified = pc.struct_field(table.column("_repo"), [1]).to_pylist()
        latest: dict[str, Any] = {}
        for key, at in zip(table.column("_id").to_pylist(), modified, strict=True):
            if key not in latest or at > latest[key]:
                latest[key] = at
        return latest


def engine_settings(request: pytest.FixtureRequest, tmp_path: Path, **overrides: Any) -> Settings:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    values: dict[str, Any] = {
        "home": tmp_path / "home",
        "database_url": database_url,
        "embedded_worker": False,
        "lease_seconds": 5,
        "retry_base_seconds": 0.01,
        "retry_max_seconds": 0.05,
    }
    return Settings(**(values | overrides))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings of an installation on each metadata store."""
    return engine_settings(request, tmp_path)


@pytest.fixture
def source_kind() -> str:
    """The demo's source: its SQLite file (a module may override this with ``SOURCE_KINDS``)."""
    return "sqlite"


@pytest.fixture
def engine(
    settings: Settings, source_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Engine]:
    """The demo (``PROFILES`` profiles) served in-process, with a worker on the lake."""
    source_url = f"sqlite:///{settings.demo_source_path}"
    with TestClient(create_app(settings)) as client:
        store: Store = client.app.state.store  # type: ignore[attr-defined]
        if source_kind in ("mysql", "postgresql"):
            copy = tmp_path / "demo-copy.db"
            create_demo_source(copy, profiles=PROFILES)
            if source_kind == "mysql":
                source_url = request.getfixturevalue("mysql_url")
                copy_into_mysql(source_url, copy)
            else:
                source_url = request.getfixturevalue("postgres_source_url")
                copy_into_postgres(source_url, copy)
            create_organization(store, DEMO_ORG, source_url)
        setup = prepare_demo(settings, store, profiles=PROFILES)
        credentials = {
            "client_id": setup.credentials.client_id,
            "client_secret": setup.credentials.client_secret,
            "grant_type": "client_credentials",
        }
        token = client.post("/ims/token/v3", data=credentials).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "X-Api-Key": setup.credentials.client_id}
        worker = Worker(store, settings)
        yield Engine(settings, store, client, headers, worker, source_kind, source_url)


class OnRetry(logging.Handler):
    """Runs ``action`` each time a worker logs that it reads its source again."""

    def __init__(self, action: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.action = action
        self.heard = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.heard += 1
        self.action()


@pytest.fixture
def on_retry() -> Iterator[Callable[[Callable[[], None]], OnRetry]]:
    """``on_retry(action)``: run ``action`` when a worker reads its source again (in the
    worker's thread, before it waits), e.g. to let a locking writer commit."""
    logger = logging.getLogger("xdm_connector.pipeline.source_retries")
    handlers: list[OnRetry] = []

    def listen(action: Callable[[], None]) -> OnRetry:
        handler = OnRetry(action)
        logger.addHandler(handler)
        handlers.append(handler)
        return handler

    yield listen
    for handler in handlers:
        logger.removeHandler(handler)


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite answers busy after ``BUSY_TIMEOUT_MS`` instead of 5 s: the tests wait less."""
    monkeypatch.setattr(sqlite_source, "BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
