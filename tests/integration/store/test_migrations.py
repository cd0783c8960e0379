"""Migrations: an empty database reaches the models' schema, idempotently, on both backends."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError

from tests.integration.store.conftest import make_org, make_world
from xdm_connector.domain.job_states import JobState, JobTrigger
from xdm_connector.store import schema_version
from xdm_connector.store.models import Base, Job
from xdm_connector.store.store import Store

# One process of the product: open the store, say so, wait for the signal, migrate.
PROCESS_START = """
import sys
from xdm_connector.store.store import Store

store = Store(sys.argv[1])
try:
    store.ping()
    print("ready", flush=True)
    sys.stdin.readline()
    store.upgrade()
    print("upgraded", flush=True)
except Exception as exc:
    print(f"failed: {type(exc).__name__}: {exc}", flush=True)
finally:
    store.close()
"""


# A process of the product that opens a current store: does it load Alembic?
CURRENT_STORE_START = """
import sys
from xdm_connector.store.store import Store

store = Store(sys.argv[1])
try:
    store.upgrade()
finally:
    store.close()
print("alembic" in sys.modules)
"""


def _tables(store: Store) -> set[str]:
    return set(sa.inspect(store.engine).get_table_names()) - {"alembic_version"}


def _revision(store: Store) -> set[str]:
    with store.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def test_upgrade_creates_the_models_tables_and_is_idempotent(
    open_store: Callable[[], Store],
) -> None:
    store = open_store()
    assert _tables(store) == set()
    assert not schema_version.is_current(store.engine)

    store.upgrade()

    assert _tables(store) == set(Base.metadata.tables)
    assert schema_version.is_current(store.engine)
    revision = _revision(store)
    assert len(revision) == 1

    make_org(store)
    store.upgrade()

    assert _revision(store) == revision
    assert _tables(store) == set(Base.metadata.tables)
    assert schema_version.is_current(store.engine)
    assert [org.id for org in store.tenants.list_organizations()] == ["acme"]

    other = open_store()
    assert schema_version.is_current(other.engine)
    other.upgrade()
    assert _revision(other) == revision
    assert [org.id for org in other.tenants.list_organizations()] == ["acme"]


def test_the_head_revision_is_alembics_head() -> None:
    scripts = ScriptDirectory.from_config(schema_version.alembic_config())
    assert scripts.get_heads() == [schema_version.HEAD_REVISION]


def test_a_process_finds_a_current_store_current_without_loading_alembic(
    database_url: str, store: Store
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CURRENT_STORE_START, database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "False"
    assert schema_version.current_revisions(store.engine) == {schema_version.HEAD_REVISION}


def test_a_store_of_an_earlier_revision_is_upgraded(open_store: Callable[[], Store]) -> None:
    store = open_store()
    schema_version.upgrade(store.engine, "0013")
    assert schema_version.current_revisions(store.engine) == {"0013"}
    assert not schema_version.is_current(store.engine)

    store.upgrade()

    assert schema_version.current_revisions(store.engine) == {schema_version.HEAD_REVISION}
    assert _tables(store) == set(Base.metadata.tables)


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def _job(state: JobState, request_id: int) -> Job:
    return Job(
        org_id="acme",
        request_id=request_id,
        mapping_id="XDM1",
        trigger=JobTrigger.API,
        state=state,
    )


def test_partial_unique_index_allows_one_job_in_progress_per_mapping(store: Store) -> None:
    indexes = {index["name"]: index for index in sa.inspect(store.engine).get_indexes("jobs")}
    assert "uq_jobs_one_in_progress" in indexes
    index = indexes["uq_jobs_one_in_progress"]
    assert index["unique"]
    assert index["column_names"] == ["org_id", "mapping_id"]
    if store.dialect == "sqlite":
        query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    else:
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    with store.engine.connect() as connection:
        ddl = connection.execute(sa.text(query), {"name": "uq_jobs_one_in_progress"}).scalar_one()
    assert "WHERE" in ddl.upper()
    assert "'Created'" in ddl
    assert "'Uploaded'" in ddl

    make_world(store)
    with store.write() as session:
        session.add_all(
            _job(state, number)
            for number, state in enumerate(
                (JobState.SUCCESS, JobState.SUCCESS, JobState.FAILED, JobState.ABORTED), 1
            )
        )
        session.add(_job(JobState.UPLOADED, 5))
    for number, second in enumerate((JobState.CREATED, JobState.UPLOADED), 6):
        with pytest.raises(IntegrityError), store.write() as session:
            session.add(_job(second, number))
    with store.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 5


def test_processes_starting_together_on_an_empty_database_all_upgrade(
    database_url: str, open_store: Callable[[], Store]
) -> None:
    """``serve``, ``worker`` and every CLI command migrate the store when they start.

    Several processes started together (an API and its workers) on a new database must
    all start: one migrates, the others wait and find the schema current.
    """
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS_START, database_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs: list[tuple[str, str]] = []
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
    finally:
        for process in processes:
            try:
                outputs.append(process.communicate(timeout=60))
            except subprocess.TimeoutExpired:
                process.kill()
                outputs.append(process.communicate())

    answers = [(out + err).strip() for out, err in outputs]
    assert answers == ["upgraded"] * len(processes), "\n".join(answers)
    store = open_store()
    assert schema_version.is_current(store.engine)
    assert _tables(store) == set(Base.metadata.tables)
