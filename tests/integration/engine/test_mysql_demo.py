"""The demo's profiles copied into MariaDB export through the API as they do from SQLite:
the same records, in the same XDM shape."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from bench.sources import copy_into_mysql
from fastapi.testclient import TestClient

from tests.integration.engine.conftest import INGEST, PROFILES
from tests.lake import lake_table
from xdm_connector.app import create_app
from xdm_connector.demo.setup import DEMO_ORG, prepare_demo
from xdm_connector.demo.source import create_demo_source
from xdm_connector.domain.job_states import JobState
from xdm_connector.jobs.worker import Worker
from xdm_connector.services.organizations import create_organization
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store

pytestmark = pytest.mark.mysql


def export_demo(home: Path, source_url: str | None = None) -> pa.Table:
    """The demo installed in ``home`` (its organization reading ``source_url`` when given),
    one ingestion request through the API, run by a worker: the lake's records."""
    settings = Settings(home=home, embedded_worker=False)
    with TestClient(create_app(settings)) as client:
        store: Store = client.app.state.store  # type: ignore[attr-defined]
        if source_url is not None:
            create_organization(store, DEMO_ORG, source_url)
        setup = prepare_demo(settings, store, profiles=PROFILES)
        credentials = {
            "client_id": setup.credentials.client_id,
            "client_secret": setup.credentials.client_secret,
            "grant_type": "client_credentials",
        }
        token = client.post("/ims/token/v3", data=credentials).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "X-Api-Key": setup.credentials.client_id}
        answer = client.post(INGEST, headers=headers)
        assert answer.status_code == 200, answer.text
        request_id = answer.json()["requestId"]
        assert Worker(store, settings).run_once()
        job = store.jobs.get(DEMO_ORG, "XDM44", request_id)
        assert job.state == JobState.SUCCESS, job.reason
        assert (job.records_read, job.records_rejected) == (PROFILES, 0)
        status = client.get(INGEST, params={"requestId": request_id}, headers=headers).json()
        assert status["numRecords"] == PROFILES
    table = lake_table(settings.lake_root, DEMO_ORG, "profiles")
    return table.take(pc.sort_indices(table, [("_id", "ascending")]))


def test_the_demo_copied_into_mariadb_exports_the_same_records(
    tmp_path: Path, mysql_url: str
) -> None:
    source = tmp_path / "demo-source.db"
    create_demo_source(source, profiles=PROFILES)
    copy_into_mysql(mysql_url, source)
    # The URL a user writes: mysql://, the driver coming with the product.
    user_url = mysql_url.replace("mysql+pymysql://", "mysql://", 1)

    from_sqlite = export_demo(tmp_path / "sqlite")
    from_mariadb = export_demo(tmp_path / "mariadb", user_url)

    assert from_mariadb.schema == from_sqlite.schema
    assert from_mariadb.num_rows == PROFILES
    assert from_mariadb.to_pylist() == from_sqlite.to_pylist()
