"""A worker keeps a mapping's plan for its next jobs on the same SQLite or PostgreSQL
source, and plans again once the source's schema changes: a column added is read, a
table renamed fails the job as a mapping that no longer fits (``ACP-880185``). On
PostgreSQL, a digest of the catalog tells a changed schema: a column's type or nullability,
a key, a foreign key, a table or view, one in another schema, an enumeration or its labels."""

from __future__ import annotations

import pytest
from bench.sources import POSTGRES_SCHEMA

from tests.integration.engine.conftest import Engine
from xdm_connector.domain.job_states import JobState
from xdm_connector.pipeline import setup
from xdm_connector.pipeline.plan import source_schema
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.product_data import ProductData
from xdm_connector.sources.schema import Resource

LATER = "2099-01-01 00:00:00"
"""A ``lastModified`` after every demo record's: the rows given it are the next delta."""
KEPT_SOURCES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""The sources whose schema a worker can tell unchanged cheaply (not MySQL's)."""


@pytest.fixture
def reflections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The targeting dimensions the set-up reflects, one entry a reflection."""
    reflected: list[str] = []
    describe = setup.describe_targeting_dimension

    def counted(source: SourceDatabase, definition: setup.MappingDefinition) -> Resource:
        reflected.append(definition.targeting_dimension)
        return describe(source, definition)

    monkeypatch.setattr(setup, "describe_targeting_dimension", counted)
    return reflected


def _change_three_rows(engine: Engine) -> None:
    engine.source(
        f"UPDATE profile SET email = 'kept.' || email, \"lastModified\" = '{LATER}' WHERE id <= 3"
    )


@pytest.mark.parametrize("source_kind", KEPT_SOURCES)
def test_a_worker_plans_a_mapping_once_while_its_source_keeps_its_schema(
    engine: Engine, reflections: list[str]
) -> None:
    first = engine.run()
    _change_three_rows(engine)
    second = engine.run()

    assert (first.state, second.state) == (JobState.SUCCESS, JobState.SUCCESS)
    assert second.records_ingested == 3
    assert reflections == ["profile"]


@pytest.mark.parametrize("source_kind", KEPT_SOURCES)
def test_a_changed_schema_is_planned_again(engine: Engine, reflections: list[str]) -> None:
    assert engine.run().state == JobState.SUCCESS
    engine.source("ALTER TABLE profile ADD COLUMN nickname TEXT")
    engine.source(f"UPDATE profile SET \"lastModified\" = '{LATER}' WHERE id <= 2")

    again = engine.run()

    assert (again.state, again.records_ingested) == (JobState.SUCCESS, 2)
    assert reflections == ["profile", "profile"]
    engine.source("ALTER TABLE profile RENAME TO former_profile")

    gone = engine.run()

    assert gone.state == JobState.FAILED
    assert gone.reason.startswith("ACP-880185 unknown table or view 'profile'"), gone.reason


@pytest.mark.postgres
@pytest.mark.parametrize(
    "change",
    [
        ['ALTER TABLE profile ALTER COLUMN "middleName" TYPE VARCHAR(300)'],
        ["ALTER TABLE profile ALTER COLUMN created DROP NOT NULL"],
        ["ALTER TABLE profile ADD COLUMN nickname TEXT"],
        ['ALTER TABLE profile DROP CONSTRAINT "profile_postalAddress_id_fkey"'],
        ["ALTER TABLE profile ADD CONSTRAINT email_once UNIQUE (email)"],
        ['ALTER TABLE "postalAddress" RENAME TO address'],
        ["CREATE TABLE nickname (id INTEGER PRIMARY KEY)"],
        ["CREATE VIEW recent AS SELECT id FROM profile"],
        ["CREATE SCHEMA crm", "CREATE TABLE crm.profile (id INTEGER PRIMARY KEY)"],
        ["CREATE TYPE tier AS ENUM ('gold')"],
        ["CREATE TYPE tier AS ENUM ('gold')", "ALTER TYPE tier ADD VALUE 'silver'"],
    ],
    ids=" ".join,
)
def test_each_change_reflection_would_read_changes_the_digest_of_postgresql(
    postgres_source_url: str, change: list[str]
) -> None:
    with SourceDatabase(postgres_source_url, ProductData.of_store("sqlite://")) as source:
        with source.engine.begin() as conn:
            conn.exec_driver_sql(POSTGRES_SCHEMA)
            conn.exec_driver_sql(change[0] if len(change) > 1 else "SELECT 1")
        before = source_schema(source)
        with source.engine.begin() as conn:
            conn.exec_driver_sql(change[-1])

        after = source_schema(source)

        assert before is not None
        assert after is not None
        assert after != before
        assert source_schema(source) == after
