"""A busy or cut-off source is waited for and read again; a wrong one fails at once.

On each metadata store: the demo's SQLite source locked by another process (past the
busy timeout, then committing once the worker says it reads again; or committing a few
times a second while requests follow one another), a PostgreSQL source whose connection
is ended by ``pg_terminate_backend`` in the middle of the read or cut without a word as the
read's statement starts, and sources that fail
for what is asked of them. The job's details, through the API and the job's page, say
how often the source was read again and why.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from psycopg import sql

from tests.integration.engine.conftest import (
    INGEST,
    JOBS,
    PROFILES,
    Engine,
    OnRetry,
)
from tests.integration.sources.sqlite_writer import BusyWriter, LockingWriter
from tests.integration.sources.tcp_proxy import CuttingProxy
from tests.integration.store.test_requests import terminate_backends
from xdm_connector.destinations.memory import InMemoryDestination
from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.jobs.worker import Worker
from xdm_connector.pipeline import extraction
from xdm_connector.pipeline.export import Exporter
from xdm_connector.services.datasets import create_dataset
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import create_organization
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.sources import postgresql
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

SOURCE_FAILED = "ACP-880056 Failed to fetch the record from the database."


@pytest.mark.usefixtures("short_busy_timeout")
def test_a_source_locked_past_the_busy_timeout_is_read_again(
    engine: Engine, on_retry: Callable[[Callable[[], None]], OnRetry]
) -> None:
    with LockingWriter(engine.settings.demo_source_path) as writer:
        writer.lock()
        # The writer commits once the worker has met its lock and says it reads again.
        heard = on_retry(writer.commit)
        request_id = engine.trigger()
        assert engine.worker.run_once()

    job = engine.store.jobs.get("demo", "XDM44", request_id)
    assert job.state == JobState.SUCCESS, job.reason
    assert heard.heard == 1
    assert job.records_ingested == PROFILES
    assert sorted(engine.lake_ids()) == sorted(set(engine.lake_ids()))  # each record once
    assert len(engine.lake_ids()) == PROFILES
    assert job.details is not None
    retries = job.details["sourceRetries"]
    assert retries["count"] == 1
    assert retries["lastError"]["errorClass"] == "sqlite3.OperationalError"
    assert "database is locked" in retries["lastError"]["message"]
    assert retries["lastError"]["message"].startswith(SOURCE_FAILED)
    detail = engine.client.get(f"{JOBS}/{request_id}", headers=engine.headers).json()
    assert (detail["sourceRetries"], detail["lastSourceError"]) == (
        1,
        {"errorClass": "sqlite3.OperationalError", "message": retries["lastError"]["message"]},
    )
    body = engine.status(request_id)
    assert (body["status"], body["numRecords"]) == ("Success", PROFILES)


@pytest.mark.usefixtures("short_busy_timeout")
def test_a_source_locked_for_longer_than_the_retries_fails_the_request(engine: Engine) -> None:
    engine.worker = Worker(engine.store, engine.settings.model_copy(update={"retry_attempts": 3}))
    with LockingWriter(engine.settings.demo_source_path) as writer:
        writer.lock()
        request_id = engine.trigger()
        assert engine.worker.run_once()
        writer.commit()

    job = engine.store.jobs.get("demo", "XDM44", request_id)
    assert (job.state, job.reason) == (JobState.FAILED, SOURCE_FAILED)
    assert job.details is not None
    assert job.details["sourceRetries"]["count"] == 2
    assert "database is locked" in job.details["error"]
    answer = engine.client.get(INGEST, params={"requestId": request_id}, headers=engine.headers)
    assert answer.content == (
        b'{"batchId": "", "info": "Mapping Id: XDM44. ACP-880056 Failed to fetch the record '
        b'from the database.", "numRecords": 0, "requestId": %d, "status": "Failed"}' % request_id
    )


def test_requests_succeed_while_a_writer_commits_a_few_times_a_second(engine: Engine) -> None:
    statuses = []
    with BusyWriter(engine.settings.demo_source_path, hold=0.1, pause=0.1):
        for _ in range(12):
            request_id = engine.trigger()
            assert engine.worker.run_once()
            statuses.append(engine.status(request_id)["status"])
    assert statuses == ["Success"] * 12


def test_what_the_source_refuses_fails_at_once_without_reading_again(engine: Engine) -> None:
    # Were either read again, the first wait alone would hold the test for a minute.
    patient = engine.settings.model_copy(update={"retry_base_seconds": 60.0})
    engine.worker = Worker(engine.store, patient)
    engine.source("ALTER TABLE profile RENAME TO former_profile")

    gone = engine.run()

    assert gone.state == JobState.FAILED
    assert gone.reason.startswith("ACP-880185 unknown table or view 'profile'"), gone.reason
    engine.settings.demo_source_path.write_bytes(b"not a database, whatever its name " * 100)

    unreadable = engine.run()

    assert (unreadable.state, unreadable.reason) == (JobState.FAILED, SOURCE_FAILED)
    for job in (gone, unreadable):
        assert job.details is not None
        assert "sourceRetries" not in job.details
        detail = engine.client.get(f"{JOBS}/{job.request_id}", headers=engine.headers).json()
        assert (detail["sourceRetries"], detail["lastSourceError"]) == (0, None)


# -- a PostgreSQL source --------------------------------------------------------------------

SOURCE_ROWS = 100_000
SECRET = "s3cret-of-the-source"
MAPPING = {
    "id": "PROFILES",
    "targetingDimension": "profile",
    "dataset": "profiles",
    "mapToXdmArray": True,
    "fieldMappings": [
        {"source": "ToString(@id)", "xdm": "/_id"},
        {"source": "@email", "xdm": "/personalEmail/address"},
        {"source": "@note", "xdm": "/person/name/fullName"},
        {"source": "@email", "xdm": "/identityMap/Email/0/id"},
        {"source": "true", "xdm": "/identityMap/Email/0/primary"},
    ],
}


@pytest.fixture
def source_url(postgres_server_url: str) -> Iterator[str]:
    """A PostgreSQL source database of its own (not the store's), with ``SOURCE_ROWS``
    profiles of about 200 bytes each: far more than a read holds in its buffers."""
    server = sa.make_url(postgres_server_url)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"xdmc_source_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = server.set(database=name)
    try:
        with psycopg.connect(url.set(drivername="postgresql").render_as_string(False)) as source:
            source.execute(
                "CREATE TABLE profile (id INTEGER PRIMARY KEY, email TEXT, note TEXT, "
                '"lastModified" TIMESTAMP NOT NULL)'
            )
            source.execute(
                "INSERT INTO profile SELECT g, 'p' || g || '@example.com', repeat('n', 150), "
                "TIMESTAMP '2024-01-01' + g * INTERVAL '1 second' "
                "FROM generate_series(1, %s) AS g",
                (SOURCE_ROWS,),
            )
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    (tmp_path / "home").mkdir()
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        lease_seconds=10,
        retry_base_seconds=0.01,
        retry_max_seconds=0.05,
        extract_batch_rows=2_000,
    )


def _organization(store: Store, source_url: str, *, publish: bool = True) -> None:
    """``acme`` reading ``source_url``, with the dataset and the mapping ``PROFILES``
    published and stopped (validated against the source when ``publish``)."""
    registry = SchemaRegistry.packaged()
    store.upgrade()
    create_organization(store, "acme", source_url)
    create_dataset(
        store,
        registry,
        "acme",
        "profiles",
        class_ref="profile",
        field_groups=["profile-person-details", "profile-personal-details", "identitymap"],
    )
    definition = MappingDefinition.from_document(MAPPING)
    apply_mapping(store, "acme", definition)
    if publish:
        assert publish_mapping(store, registry, "acme", "PROFILES", start=False).published
        return
    store.mappings.publish(
        "acme",
        "PROFILES",
        definition=definition.document(),
        interval_seconds=900,
        resend=False,
        start=False,
        log=[],
    )


@pytest.mark.postgres
def test_a_refused_authentication_fails_at_once(
    store_settings: Settings, postgres_server_url: str
) -> None:
    nobody = sa.make_url(postgres_server_url).set(username="nobody_at_all")
    store = Store(store_settings.store_url)
    try:
        _organization(store, nobody.render_as_string(hide_password=False), publish=False)
        patient = store_settings.model_copy(update={"retry_base_seconds": 60.0})
        worker = Worker(
            store, patient, exporter=Exporter(store, patient, destination=InMemoryDestination())
        )
        request_id = store.jobs.request_ingestion("acme", "PROFILES").job.request_id

        assert worker.run_once()

        job = store.jobs.get("acme", "PROFILES", request_id)
        assert (job.state, job.reason) == (JobState.FAILED, SOURCE_FAILED)
        assert job.details is not None
        assert 'role "nobody_at_all" does not exist' in job.details["error"]
        assert "sourceRetries" not in job.details
    finally:
        store.close()


@pytest.mark.postgres
def test_a_postgresql_connection_terminated_mid_read_is_read_again_from_the_start(
    store_settings: Settings, source_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(store_settings.store_url)
    # A password named by the URL (the test server trusts any): it must show nowhere.
    monkeypatch.setenv("XDMC_TEST_SOURCE_SECRET", SECRET)
    with_secret = sa.make_url(source_url).set(password="${XDMC_TEST_SOURCE_SECRET}")
    try:
        _organization(store, with_secret.render_as_string(hide_password=False))
        destination = InMemoryDestination()
        exporter = Exporter(store, store_settings, destination=destination)
        worker = Worker(store, store_settings, exporter=exporter)
        # Small driver batches: when the first batch is written, the server still sends.
        monkeypatch.setattr(postgresql, "BATCH_BYTES", 64 * 1024)
        killed: list[int] = []

        def kill_once(stage: str, setting: str | None, home: Path) -> None:
            """At the export's fault point after the first batch: end the read's backend."""
            if stage == "extract" and not killed:
                killed.append(terminate_backends(source_url))

        monkeypatch.setattr(extraction, "pause_at", kill_once)
        request_id = store.jobs.request_ingestion("acme", "PROFILES").job.request_id

        assert worker.run_once()

        job = store.jobs.get("acme", "PROFILES", request_id)
        assert job.state == JobState.SUCCESS, job.reason
        assert killed
        assert killed[0] >= 1
        assert (job.records_read, job.records_ingested) == (SOURCE_ROWS, SOURCE_ROWS)
        ids: list[str] = []
        for content in destination.batches[job.batch_id].files.values():
            ids.extend(pq.read_table(pa.BufferReader(content), columns=["_id"])["_id"].to_pylist())
        assert len(ids) == SOURCE_ROWS
        assert set(ids) == {str(key) for key in range(1, SOURCE_ROWS + 1)}
        assert job.details is not None
        retries = job.details["sourceRetries"]
        assert retries["count"] == 1
        message = retries["lastError"]["message"]
        assert message.startswith(SOURCE_FAILED)
        # libpq says so, or only that the server closed the connection, by the time it reads
        assert (
            "terminating connection due to administrator command" in message
            or "server closed the connection unexpectedly" in message
        ), message
        assert ":***@" in message
        assert SECRET not in json.dumps(job.details)
    finally:
        store.close()


@pytest.mark.postgres
def test_a_postgresql_connection_cut_as_the_read_starts_is_read_again(
    store_settings: Settings, source_url: str
) -> None:
    """A connection that drops while the read's statement runs gives libpq an error without
    a SQLSTATE, which some releases of the ADBC driver answered by ending the process."""
    store = Store(store_settings.store_url)
    server = sa.make_url(source_url)
    try:
        with CuttingProxy(server.host or "127.0.0.1", server.port or 5432, b"COPY (") as proxy:
            through_proxy = server.set(host="127.0.0.1", port=proxy.port)
            _organization(store, through_proxy.render_as_string(hide_password=False))
            destination = InMemoryDestination()
            exporter = Exporter(store, store_settings, destination=destination)
            worker = Worker(store, store_settings, exporter=exporter)
            request_id = store.jobs.request_ingestion("acme", "PROFILES").job.request_id

            assert worker.run_once()

            assert proxy.cuts == 1
        job = store.jobs.get("acme", "PROFILES", request_id)
        assert job.state == JobState.SUCCESS, job.reason
        assert (job.records_read, job.records_ingested) == (SOURCE_ROWS, SOURCE_ROWS)
        ids: list[str] = []
        for content in destination.batches[job.batch_id].files.values():
            ids.extend(pq.read_table(pa.BufferReader(content), columns=["_id"])["_id"].to_pylist())
        assert sorted(ids, key=int) == [str(key) for key in range(1, SOURCE_ROWS + 1)]
        assert job.details is not None
        retries = job.details["sourceRetries"]
        assert retries["count"] == 1
        message = retries["lastError"]["message"]
        assert message.startswith(SOURCE_FAILED)
        assert "server closed the connection unexpectedly" in message, message
    finally:
        store.close()
