"""A worker keeps a mapping's plan for its next jobs on the same SQLite source, and plans
again once the source's schema changes: a column added is read, a table renamed fails the
job as a mapping that no longer fits (``ACP-880185``)."""

from __future__ import annotations

import pytest

from tests.integration.engine.conftest import Engine
from xdm_connector.domain.job_states import JobState
from xdm_connector.pipeline import setup
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.schema import Resource

LATER = "2099-01-01 00:00:00"
"""A ``lastModified`` after every demo record's: the rows given it are the next delta."""


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


def test_a_worker_plans_a_mapping_once_while_its_source_keeps_its_schema(
    engine: Engine, reflections: list[str]
) -> None:
    first = engine.run()
    engine.source(
        f"UPDATE profile SET email = 'kept.' || email, lastModified = '{LATER}' WHERE id <= 3"
    )
    second = engine.run()

    assert (first.state, second.state) == (JobState.SUCCESS, JobState.SUCCESS)
    assert second.records_ingested == 3
    assert reflections == ["profile"]


def test_a_changed_schema_is_planned_again(engine: Engine, reflections: list[str]) -> None:
    assert engine.run().state == JobState.SUCCESS
    engine.source("ALTER TABLE profile ADD COLUMN nickname TEXT")
    engine.source(f"UPDATE profile SET lastModified = '{LATER}' WHERE id <= 2")

    again = engine.run()

    assert (again.state, again.records_ingested) == (JobState.SUCCESS, 2)
    assert reflections == ["profile", "profile"]
    engine.source("ALTER TABLE profile RENAME TO former_profile")

    gone = engine.run()

    assert gone.state == JobState.FAILED
    assert gone.reason.startswith("ACP-880185 unknown table or view 'profile'"), gone.reason
