"""The reconciliation of a PostgreSQL source: the demo's profiles copied into PostgreSQL, a
due sweep deletes the records gone from it and the soft-deleted ones, in the job's commit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.integration.engine.conftest import INGEST, PROFILES
from tests.lake import lake_table
from xdm_connector.app import create_app
from xdm_connector.demo.setup import DEMO_ORG, demo_mapping, prepare_demo
from xdm_connector.demo.source import create_demo_source
from xdm_connector.domain.job_states import JobState
from xdm_connector.jobs.worker import Worker
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import create_organization
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

pytestmark = pytest.mark.postgres

SCHEMA = (
    """CREATE TABLE "postalAddress" (id INTEGER PRIMARY KEY, line1 VARCHAR(80),
    line2 VARCHAR(80), city VARCHAR(50), "zipCode" VARCHAR(10), "stateCode" VARCHAR(10),
    "countryCode" VARCHAR(2), "addrDefined" INTEGER NOT NULL DEFAULT 0,
    "addrQuality" VARCHAR(40))""",
    """CREATE TABLE profile (id INTEGER PRIMARY KEY, email VARCHAR(128),
    "firstName" VARCHAR(50), "middleName" VARCHAR(50), "lastName" VARCHAR(50),
    "birthDate" DATE, gender VARCHAR(10) NOT NULL DEFAULT 'unknown',
    "mobilePhone" VARCHAR(32), phone VARCHAR(32), "blackList" BOOLEAN NOT NULL DEFAULT false,
    "blackListEmail" INTEGER NOT NULL DEFAULT 0, "blackListMobile" INTEGER NOT NULL DEFAULT 0,
    "postalAddress_id" INTEGER REFERENCES "postalAddress"(id), created TIMESTAMP NOT NULL,
    "lastModified" TIMESTAMP NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)""",
)


def copy_demo(sqlite_path: Path, url: str) -> None:
    """The demo's rows (``PROFILES`` profiles) in the PostgreSQL database of ``url``."""
    engine = sa.create_engine(url)
    source = sqlite3.connect(sqlite_path)
    source.row_factory = sqlite3.Row
    try:
        with engine.begin() as connection:
            for statement in SCHEMA:
                connection.execute(sa.text(statement))
            for table in ("postalAddress", "profile"):
                rows = [dict(row) for row in source.execute(f'SELECT * FROM "{table}"')]
                if table == "profile":
                    for row in rows:
                        row["blackList"] = bool(row["blackList"])
                names = list(rows[0])
                columns = ", ".join(f'"{name}"' for name in names)
                values = ", ".join(f":{name}" for name in names)
                insert = f'INSERT INTO "{table}" ({columns}) VALUES ({values})'
                connection.execute(sa.text(insert), rows)
    finally:
        source.close()
        engine.dispose()


def test_a_due_sweep_on_a_postgresql_source(tmp_path: Path, postgres_source_url: str) -> None:
    settings = Settings(home=tmp_path / "home", embedded_worker=False)
    sqlite_path = tmp_path / "demo.db"
    create_demo_source(sqlite_path, profiles=PROFILES)
    copy_demo(sqlite_path, postgres_source_url)
    with TestClient(create_app(settings)) as client:
        store: Store = client.app.state.store  # type: ignore[attr-defined]
        create_organization(store, DEMO_ORG, postgres_source_url)
        setup = prepare_demo(settings, store, profiles=PROFILES)
        document = demo_mapping().document()
        document["deletes"] = {
            "softDeleteWhen": "@deleted = 1",
            "detectHardDeletes": True,
            "sweepIntervalMinutes": 0,
        }
        apply_mapping(store, DEMO_ORG, type(demo_mapping()).from_document(document))
        published = publish_mapping(
            store, SchemaRegistry.packaged(), DEMO_ORG, "XDM44", start=False
        )
        assert published.published, [line.message for line in published.log]
        credentials = {
            "client_id": setup.credentials.client_id,
            "client_secret": setup.credentials.client_secret,
            "grant_type": "client_credentials",
        }
        token = client.post("/ims/token/v3", data=credentials).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "X-Api-Key": setup.credentials.client_id}
        worker = Worker(store, settings)

        def run() -> tuple[str, int, str]:
            answer = client.post(INGEST, headers=headers)
            assert answer.status_code == 200, answer.text
            assert worker.run_once()
            job = store.jobs.get(DEMO_ORG, "XDM44", answer.json()["requestId"])
            return job.state, job.records_deleted, job.reason

        def lake_ids() -> list[int]:
            table = lake_table(settings.lake_root, DEMO_ORG, "profiles")
            return sorted(int(value) for value in table.column("_id").to_pylist())

        assert run()[0] == JobState.SUCCESS
        assert lake_ids() == list(range(1, PROFILES + 1))
        engine = sa.create_engine(postgres_source_url)
        with engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM profile WHERE id <= 50"))
            connection.execute(sa.text("UPDATE profile SET deleted = 1 WHERE id <= 100"))
            connection.execute(sa.text("""UPDATE profile SET "firstName" = 'R' WHERE id = 150"""))
        engine.dispose()
        state, deleted, reason = run()
        assert (state, deleted) == (JobState.SUCCESS, 100), reason
        assert lake_ids() == list(range(101, PROFILES + 1))
        table = lake_table(settings.lake_root, DEMO_ORG, "profiles").to_pylist()
        names = [row["person"]["name"]["firstName"] for row in table if row["_id"] == "150"]
        assert names == ["R"]
