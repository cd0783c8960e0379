"""Migration 0006: jobs keep their ids as request ids, and each organization's numbering
goes on after its highest one (on each backend)."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import command

from tests.integration.store.conftest import make_dataset, make_mapping, make_org
from xdm_connector.api.ingestion_contract import request_status, trigger
from xdm_connector.store import schema_version
from xdm_connector.store.store import Store

# The jobs of a store before 0006, numbered across organizations: (id, org, mapping, state).
JOBS = [
    (1, "acme", "XDM1", "Success"),
    (2, "globex", "XDM1", "Failed"),
    (3, "acme", "XDM1", "Aborted"),
    (4, "globex", "XDM1", "Success"),
    (5, "acme", "XDM2", "Created"),
]


def _move(store: Store, revision: str, *, down: bool = False) -> None:
    with store.engine.begin() as connection:
        config = schema_version.alembic_config(connection)
        (command.downgrade if down else command.upgrade)(config, revision)


def _insert_jobs(store: Store) -> None:
    with store.engine.begin() as connection:
        for job_id, org_id, mapping_id, state in JOBS:
            connection.execute(
                sa.text(
                    "INSERT INTO jobs (id, org_id, mapping_id, trigger, state, batch_id, "
                    "records_read, records_ingested, records_rejected, reason, attempt, "
                    "created_at) VALUES (:id, :org, :mapping, 'api', :state, '', 0, 0, 0, "
                    "'', 0, CURRENT_TIMESTAMP)"
                ),
                {"id": job_id, "org": org_id, "mapping": mapping_id, "state": state},
            )
        if connection.dialect.name == "postgresql":  # as if the ids came from the sequence
            connection.execute(sa.text("SELECT setval(pg_get_serial_sequence('jobs', 'id'), 5)"))


def test_0006_keeps_the_ids_and_numbers_on_per_organization(
    open_store: Callable[[], Store],
) -> None:
    store = open_store()
    store.upgrade()
    for org_id in ("acme", "globex", "initech"):
        make_org(store, org_id=org_id)
        make_dataset(store, org_id)
        make_mapping(store, "XDM1", org_id=org_id)
    make_mapping(store, "XDM2")
    _move(store, "0005", down=True)
    columns = {column["name"] for column in sa.inspect(store.engine).get_columns("jobs")}
    assert "request_id" not in columns
    _insert_jobs(store)

    _move(store, "head")

    assert schema_version.is_current(store.engine)
    with store.read() as session:
        rows = session.execute(sa.text("SELECT id, request_id FROM jobs ORDER BY id")).all()
        query = sa.text("SELECT id, last_request_id FROM organizations")
        counters = {str(row[0]): int(row[1]) for row in session.execute(query)}
    assert [tuple(row) for row in rows] == [(job_id, job_id) for job_id, *_ in JOBS]
    assert counters == {"acme": 5, "globex": 4, "initech": 0}
    # The requests answer by their old ids; the running one still blocks its mapping.
    assert request_status(store, "acme", "XDM1", 3).body["status"] == "Aborted"
    assert request_status(store, "globex", "XDM1", 4).body["status"] == "Success"
    assert request_status(store, "globex", "XDM1", 1).status_code == 404
    assert trigger(store, "acme", "XDM2").body["requestId"] == 5
    # New requests follow each organization's highest id; a new one's first is 1.
    assert trigger(store, "acme", "XDM1").body["requestId"] == 6
    assert trigger(store, "globex", "XDM1").body["requestId"] == 5
    assert trigger(store, "initech", "XDM1").body["requestId"] == 1


def test_0006_downgrades_to_0005(open_store: Callable[[], Store]) -> None:
    store = open_store()
    store.upgrade()
    make_org(store)
    make_dataset(store)
    make_mapping(store, "XDM1")
    store.jobs.request_ingestion("acme", "XDM1")

    _move(store, "0005", down=True)

    assert "request_id" not in {c["name"] for c in sa.inspect(store.engine).get_columns("jobs")}
    with store.read() as session:
        assert session.scalar(sa.text("SELECT count(*) FROM jobs")) == 1
    _move(store, "head")
    assert schema_version.is_current(store.engine)
    assert trigger(store, "acme", "XDM1").body["status"] == "In Progress"
