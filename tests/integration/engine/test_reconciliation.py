"""The reconciliation through the export: a due sweep deletes the records gone from the
source and repairs the ones whose audit value was not touched, in the job's commit; a dry
run reports the same differences and changes nothing."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from tests.lake import lake_table
from xdm_connector.cli import app as cli
from xdm_connector.demo.setup import DEMO_SCHEMA, demo_mapping
from xdm_connector.destinations.lake_maintenance import optimize_table
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.domain.lake_modes import DELETED_COLUMN, SEQUENCE_COLUMN, LakeMode
from xdm_connector.pipeline import extraction
from xdm_connector.pipeline.reconciliation import Reconciliation
from xdm_connector.services.datasets import create_dataset
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.publication import publish_mapping
from xdm_connector.xdm.registry import SchemaRegistry

from .conftest import PROFILES, SOURCE_KINDS, Engine

ADDED = 200
"""Profiles copied from the demo's, so that 200 live records remain after 200 deletes."""
CONVERGED = {"missing": 0, "differing": 0, "neverDelivered": 0, "dryRun": True}


@pytest.fixture
def run_cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner of ``xdm-connector`` on the engine's store."""
    monkeypatch.setenv("XDMC_HOME", str(engine.settings.home))
    if engine.settings.database_url:
        monkeypatch.setenv("XDMC_DATABASE_URL", engine.settings.database_url)
    return CliRunner()


def reconcile(run_cli: CliRunner, *options: str) -> dict[str, Any]:
    """``mappings reconcile`` of the demo mapping; answers its JSON report."""
    done = run_cli.invoke(cli, ["mappings", "reconcile", "--org", "demo", "XDM44", *options])
    assert done.exit_code == 0, done.output
    report: dict[str, Any] = orjson.loads(done.stdout)
    return report


def publish_with_sweep(engine: Engine, interval: int = 0, dataset: str = "profiles") -> None:
    document = demo_mapping().document()
    document["dataset"] = dataset
    document["deletes"] = {
        "softDeleteWhen": "@deleted = 1",
        "detectHardDeletes": True,
        "sweepIntervalMinutes": interval,
    }
    apply_mapping(engine.store, "demo", type(demo_mapping()).from_document(document))
    result = publish_mapping(engine.store, SchemaRegistry.packaged(), "demo", "XDM44", start=False)
    assert [line.message for line in result.log if line.level == "error"] == []


def add_profiles(engine: Engine) -> None:
    engine.source("ALTER TABLE profile ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")
    email = engine.concat("'copy'", "email")
    engine.source(
        "INSERT INTO profile (id, email, firstName, lastName, gender, created, lastModified) "
        f"SELECT id + {PROFILES}, {email}, firstName, lastName, gender, created, "
        "lastModified FROM profile"
    )


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_a_due_sweep_leaves_the_upsert_table_with_the_sources_live_keys(
    engine: Engine, run_cli: CliRunner
) -> None:
    add_profiles(engine)
    total = PROFILES + ADDED
    publish_with_sweep(engine)
    first = engine.run()
    assert first.state == "Success"
    assert sorted(map(int, engine.lake_ids())) == list(range(1, total + 1))

    # Gone (100), soft-deleted (100), and one changed without its audit value: none of
    # them is in the next window.
    engine.source("DELETE FROM profile WHERE id <= 100")
    engine.source("UPDATE profile SET deleted = 1 WHERE id > 100 AND id <= 200")
    engine.source("UPDATE profile SET firstName = 'Repaired' WHERE id = 300")
    live = list(range(201, total + 1))

    before = engine.lake()
    jobs = len(engine.store.jobs.list_for_mapping("demo", "XDM44"))
    report = reconcile(run_cli, "--dry-run")
    assert report == {"missing": 200, "differing": 1, "neverDelivered": 0, "dryRun": True}
    # A dry run changes nothing: not the lake, not the jobs.
    assert engine.lake().equals(before)
    assert len(engine.store.jobs.list_for_mapping("demo", "XDM44")) == jobs

    second = engine.run()
    assert second.state == "Success", second.reason
    assert second.records_deleted == 200
    assert sorted(map(int, engine.lake_ids())) == live
    table = engine.lake()
    names = {
        row["_id"]: row["person"]["name"]["firstName"]
        for row in table.select(["_id", "person"]).to_pylist()
    }
    repaired = [name for key, name in names.items() if int(key) == 300]
    assert repaired == ["Repaired"]
    assert second.details is not None
    assert second.details["reconciliation"]["missing"] == 200
    assert second.details["reconciliation"]["recordsRepaired"] == 1

    # Converged: the next sweep finds nothing.
    assert reconcile(run_cli, "--dry-run") == CONVERGED


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_reconcile_requests_a_job_that_sweeps_before_it_is_due(
    engine: Engine, run_cli: CliRunner
) -> None:
    add_profiles(engine)
    publish_with_sweep(engine, interval=1440)
    assert engine.run().state == "Success"
    swept = engine.run()  # never swept: due; the first export read the whole source
    assert swept.details is not None
    assert swept.details["reconciliation"]["missing"] == 0
    engine.source("DELETE FROM profile WHERE id <= 10")
    assert engine.run().records_deleted == 0  # swept a moment ago: not due

    report = reconcile(run_cli)
    assert (report["missing"], report["dryRun"]) == (10, False)
    assert engine.worker.run_once()
    job = engine.store.jobs.get("demo", "XDM44", report["requestId"])
    assert (job.state, job.trigger, job.records_deleted) == ("Success", "reconcile", 10)
    assert sorted(map(int, engine.lake_ids())) == list(range(11, PROFILES + ADDED + 1))


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_a_record_inserted_during_the_sweep_is_not_deleted(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_profiles(engine)
    publish_with_sweep(engine)
    assert engine.run().state == "Success"
    engine.source("DELETE FROM profile WHERE id <= 20")
    compare = Reconciliation.compare

    def then_insert(self: Reconciliation, *args: Any) -> Any:
        found = compare(self, *args)
        # Back between the comparison and the deletes, with an old audit value: only the
        # check of the candidate deletes against the source can see it.
        engine.source(
            "INSERT INTO profile (id, email, firstName, lastName, gender, created, "
            "lastModified) SELECT 5, 'back@example.com', firstName, lastName, gender, "
            f"created, lastModified FROM profile WHERE id = {PROFILES + 5}"
        )
        return found

    monkeypatch.setattr(Reconciliation, "compare", then_insert)
    job = engine.run()
    assert job.state == "Success", job.reason
    assert job.records_deleted == 19
    assert sorted(map(int, engine.lake_ids())) == [5, *range(21, PROFILES + ADDED + 1)]


def create_history(engine: Engine) -> None:
    """The dataset ``history``: the demo's schema, kept as an append table."""
    create_dataset(
        engine.store,
        SchemaRegistry.packaged(),
        "demo",
        "history",
        class_ref=DEMO_SCHEMA[0],
        field_groups=DEMO_SCHEMA[1:],
        lake_mode=LakeMode.APPEND,
    )


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_a_due_sweep_leaves_an_append_tables_current_state_equal_to_the_source(
    engine: Engine, run_cli: CliRunner
) -> None:
    create_history(engine)
    add_profiles(engine)
    total = PROFILES + ADDED
    publish_with_sweep(engine, dataset="history")
    assert engine.run().state == "Success"
    assert current_state(engine) == {str(key): None for key in range(1, total + 1)}

    engine.source("DELETE FROM profile WHERE id <= 100")
    engine.source("UPDATE profile SET deleted = 1 WHERE id > 100 AND id <= 200")
    engine.source("UPDATE profile SET firstName = 'Repaired' WHERE id = 300")
    report = reconcile(run_cli, "--dry-run")
    assert report == {"missing": 200, "differing": 1, "neverDelivered": 0, "dryRun": True}

    swept = engine.run()
    assert swept.state == "Success", swept.reason
    assert swept.records_deleted == 200
    state = current_state(engine)
    assert sorted(map(int, state)) == list(range(201, total + 1))
    assert state["300"] == "Repaired"
    # Deleted, then inserted again: the key's latest row is a record again.
    engine.source(
        "INSERT INTO profile (id, email, firstName, lastName, gender, created, lastModified) "
        "SELECT 5, 'back@example.com', 'Back', lastName, gender, created, lastModified "
        f"FROM profile WHERE id = {PROFILES + 5}"
    )
    assert engine.run().state == "Success"
    assert current_state(engine)["5"] == "Back"
    assert reconcile(run_cli, "--dry-run") == CONVERGED


def current_state(engine: Engine) -> dict[str, str | None]:
    """An append table's current state as a reader rebuilds it: per ``_id``, the row of
    the latest commit unless it is a delete's; each key's first name when it was changed
    to one of the test's (else None)."""
    uri = f"{engine.settings.lake_root}/demo/history"
    state: dict[str, str | None] = {}
    seen: set[str] = set()
    for version in range(DeltaTable(uri).version() + 1):
        actions = DeltaTable(uri, version=version).get_add_actions(flatten=True)
        files = actions.column("path").to_pylist()
        for added in [path for path in files if path not in seen]:  # this commit's rows
            for row in pq.read_table(f"{uri}/{added}").to_pylist():
                if row.get(DELETED_COLUMN):
                    state.pop(row["_id"], None)
                    continue
                name = row["person"]["name"]["firstName"]
                state[row["_id"]] = name if name in ("Repaired", "Back") else None
        seen.update(files)
    return state


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
@pytest.mark.parametrize("older_table", [False, True], ids=["ordered", "older-table"])
def test_an_append_tables_latest_versions_win_after_optimize(
    engine: Engine, run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch, older_table: bool
) -> None:
    create_history(engine)
    add_profiles(engine)
    publish_with_sweep(engine, interval=1440, dataset="history")
    with monkeypatch.context() as patched:
        if older_table:  # its first export written before the order of versions
            patched.setattr(extraction, "row_sequence", lambda run: None)
        assert engine.run().state == "Success"
    # Two more versions of 50 records, each in a commit of its own, then one compaction of
    # every file: the rows' files and places are no longer their commits'.
    for day, name in enumerate(("Second", "Third"), start=1):
        engine.source(
            f"UPDATE profile SET firstName = '{name}', "
            f"lastModified = '2030-01-0{day} 00:00:00.000000' WHERE id <= 50"
        )
        assert engine.run().state == "Success"
    lake = LakeTables(engine.settings.lake_location)
    assert optimize_table(lake, "demo", "history").files_removed >= 3
    assert reconcile(run_cli, "--dry-run") == CONVERGED
    names = latest_names(engine)
    assert len(names) == PROFILES + ADDED
    assert {names[str(key)] for key in range(1, 51)} == {"Third"}
    assert "Second" not in {names[str(key)] for key in range(51, PROFILES + ADDED + 1)}


def latest_names(engine: Engine) -> dict[str, str]:
    """An append table's current state as the README tells a reader to rebuild it: per
    ``_id``, the row of the greatest ``_xdmc_sequence`` (rows without one come first),
    unless a delete's; each key's first name."""
    table = lake_table(engine.settings.lake_root, "demo", "history")
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for row in table.to_pylist():
        order = -1 if row[SEQUENCE_COLUMN] is None else row[SEQUENCE_COLUMN]
        if row["_id"] not in latest or order > latest[row["_id"]][0]:
            latest[row["_id"]] = (order, row)
    return {
        key: row["person"]["name"]["firstName"]
        for key, (_, row) in latest.items()
        if not row.get(DELETED_COLUMN)
    }
