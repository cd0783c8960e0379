"""Migration 0002 (audit trail, failed token requests) from 0001, on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from xdm_connector.store import schema_version
from xdm_connector.store.audit import AuditAction
from xdm_connector.store.store import Store

NEW_TABLES = {"audit_trail", "login_failures"}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/metadata.db"
    else:
        url = request.getfixturevalue("postgres_url")
    store = Store(url)
    yield store.engine
    store.close()


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _move(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as connection:
        config = schema_version.alembic_config(connection)
        (command.downgrade if down else command.upgrade)(config, revision)


def test_0002_adds_its_tables_and_keeps_the_data(engine: sa.Engine) -> None:
    _move(engine, "0001")
    assert not NEW_TABLES & _tables(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO organizations (id, source_url, created_at) "
                "VALUES ('acme', 'sqlite:///source.db', CURRENT_TIMESTAMP)"
            )
        )

    _move(engine, "0002")
    assert _tables(engine) >= NEW_TABLES
    indexes = {index["name"] for index in sa.inspect(engine).get_indexes("login_failures")}
    assert indexes == {"ix_login_failures_at", "ix_login_failures_subject_at"}
    foreign_keys = sa.inspect(engine).get_foreign_keys("audit_trail")
    assert [(key["referred_table"], key["options"].get("ondelete")) for key in foreign_keys] == [
        ("organizations", "CASCADE")
    ]

    _move(engine, "head")
    assert schema_version.is_current(engine)
    store = Store(engine.url.render_as_string(hide_password=False))
    try:
        assert [org.id for org in store.tenants.list_organizations()] == ["acme"]
        store.tenants.audit.record("acme", "operator", AuditAction.GRANT)
        assert [entry.action for entry in store.tenants.audit.entries("acme")] == ["grant"]
    finally:
        store.close()


def test_0002_downgrades_to_0001(engine: sa.Engine) -> None:
    _move(engine, "0002")
    _move(engine, "0001", down=True)
    assert not NEW_TABLES & _tables(engine)
    assert "organizations" in _tables(engine)
    _move(engine, "head")
    assert schema_version.is_current(engine)
