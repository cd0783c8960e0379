"""The polled read of an ingestion request's status, and the pool behind it."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.integration.store.conftest import make_dataset, make_mapping, make_org
from xdm_connector.jobs.ingestion import status_body
from xdm_connector.store import engine
from xdm_connector.store.store import Store


def test_a_requests_status_is_read_in_one_statement(store: Store) -> None:
    make_org(store)
    make_org(store, org_id="globex")
    make_dataset(store)
    make_mapping(store, "XDM1")
    make_mapping(store, "XDM2")
    request = store.jobs.request_ingestion("acme", "XDM1").job

    found = store.requests.status_of("acme", "XDM1", request.id)

    assert found is not None
    assert status_body(found) == status_body(store.jobs.get("acme", "XDM1", request.id))
    assert status_body(found) == {
        "batchId": "",
        "info": "Mapping Id: XDM1.",
        "numRecords": 0,
        "requestId": request.id,
        "status": "In Progress",
    }
    # Only the request of that mapping, in that organization.
    assert store.requests.status_of("acme", "XDM2", request.id) is None
    assert store.requests.status_of("globex", "XDM1", request.id) is None
    assert store.requests.status_of("acme", "XDM1", request.id + 1) is None


@pytest.mark.postgres
def test_a_pooled_connection_closed_while_idle_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart or an idle timeout: the ping at checkout finds it, the pool reopens."""
    store = Store(postgres_url, pool_size=1)
    try:
        store.upgrade()
        store.ping()
        monkeypatch.setattr(engine, "PING_AFTER_IDLE_SECONDS", 0.0)
        database = make_url(postgres_url).database
        conninfo = make_url(postgres_url).set(drivername="postgresql", database="postgres")
        with psycopg.connect(conninfo.render_as_string(hide_password=False)) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert ended is not None
        assert ended[0] >= 1
        store.ping()  # on a new connection: the old one failed its ping
    finally:
        store.close()
