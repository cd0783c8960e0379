"""Crashes with deletes: a real worker killed (``SIGKILL``) while its job carries deletes;
once recovered and run again, the deletes are applied exactly once (one commit of the
mapping holds them) and the upsert table holds exactly the source's live keys; at the
platform, the work order the killed worker created is followed, not created again."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.e2e.test_crashes import PROFILES, Crash
from tests.integration.local_platform.checks import lake_records
from tests.integration.local_platform.conftest import (
    IMS_ORG,
    SECRET_VARIABLE,
    LocalPlatform,
    running_platform,
)
from tests.lake import lake_commits
from xdm_connector.demo.setup import demo_mapping
from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import set_destination
from xdm_connector.services.publication import publish_mapping
from xdm_connector.store.models import StagedRecord
from xdm_connector.xdm.registry import SchemaRegistry

SOFT_DELETED = 50


@pytest.fixture(params=["sqlite", "postgresql"])
def crash(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Crash]:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    installation = Crash(tmp_path / "home", database_url)
    try:
        yield installation
    finally:
        installation.close()


def source(crash: Crash, statement: str) -> None:
    with sqlite3.connect(crash.settings.demo_source_path) as connection:
        connection.execute(statement)


@pytest.mark.parametrize("stage", ["written", "created", "completed"])
def test_deletes_are_applied_once_whatever_stage_a_worker_dies_at(crash: Crash, stage: str) -> None:
    source(crash, "ALTER TABLE profile ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")
    document = demo_mapping().document() | {"deletes": {"softDeleteWhen": "@deleted = 1"}}
    apply_mapping(crash.store, "demo", MappingDefinition.from_document(document))
    registry = SchemaRegistry.packaged()
    assert publish_mapping(crash.store, registry, "demo", "XDM44", start=False).published
    exporter = crash.worker()
    assert crash.wait_until_ended(crash.trigger()).state == JobState.SUCCESS
    exporter.terminate()
    exporter.wait(timeout=30)

    source(
        crash,
        "UPDATE profile SET deleted = 1, lastModified = '2030-01-01 00:00:00.000000' "
        f"WHERE id <= {SOFT_DELETED}",
    )
    first = crash.trigger()
    doomed = crash.worker(XDMC_FAULT_PAUSE_AT=stage)
    crash.wait_for(crash.home / "faults" / f"{stage}.paused")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    crash.worker()  # recovers the job once its lease expires, then runs the next ones
    ended = crash.wait_until_ended(first)
    expected = JobState.SUCCESS if stage == "completed" else JobState.ABORTED
    assert ended.state == expected, crash.logs()
    again = crash.wait_until_ended(crash.trigger())
    assert again.state == JobState.SUCCESS, again.reason

    live = list(range(SOFT_DELETED + 1, PROFILES + 1))
    assert sorted(map(int, crash.lake_ids())) == live
    commits = lake_commits(crash.settings.lake_root, "demo", "profiles")
    with_deletes = [c for c in commits if int(c.get("xdmc.deletes", "0")) > 0]
    assert [int(c["xdmc.deletes"]) for c in with_deletes] == [SOFT_DELETED]
    # The job whose commit applied the deletes counts them, recovered or not.
    applied, after = (ended, again) if stage == "completed" else (again, ended)
    assert applied.records_deleted == SOFT_DELETED
    assert after.records_deleted == 0


def exported_to(
    crash: Crash, platform: LocalPlatform, deletes: dict[str, object]
) -> dict[str, str]:
    """XDM44 to ``platform`` with ``deletes``, exported once by a worker; answers the
    environment a worker needs to reach the platform."""
    secret = {SECRET_VARIABLE: os.environ[SECRET_VARIABLE]}
    set_destination(crash.store, "demo", platform.destination())
    source(crash, "ALTER TABLE profile ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")
    document = demo_mapping().document() | {"deletes": deletes}
    apply_mapping(crash.store, "demo", MappingDefinition.from_document(document))
    registry = SchemaRegistry.packaged()
    assert publish_mapping(crash.store, registry, "demo", "XDM44", start=False).published
    exporter = crash.worker(**secret)
    assert crash.wait_until_ended(crash.trigger()).state == JobState.SUCCESS, crash.logs()
    exporter.terminate()
    exporter.wait(timeout=30)
    return secret


def test_a_worker_killed_after_creating_its_work_order_does_not_create_it_again(
    crash: Crash, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_platform(tmp_path / "platform", monkeypatch) as platform:
        secret = exported_to(crash, platform, {"softDeleteWhen": "@deleted = 1"})

        later = "lastModified = '2030-01-01 00:00:00.000000'"
        source(crash, f"UPDATE profile SET deleted = 1, {later} WHERE id <= {SOFT_DELETED}")
        source(crash, f"UPDATE profile SET {later} WHERE id > {PROFILES - 10}")  # 10 records
        first = crash.trigger()
        doomed = crash.worker(XDMC_FAULT_PAUSE_AT="ordered", **secret)
        crash.wait_for(crash.home / "faults" / "ordered.paused")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
        [created] = crash.store.jobs.get_by_id(first).work_orders or []

        crash.worker(**secret)  # recovers the job once its lease expires, then runs the next
        assert crash.wait_until_ended(first).state == JobState.ABORTED, crash.logs()
        again = crash.wait_until_ended(crash.trigger())
        assert again.state == JobState.SUCCESS, again.details
        assert (again.records_deleted, again.records_ingested) == (SOFT_DELETED, 10)
        assert again.details is not None
        assert again.details["workOrders"] == [created["id"]]  # followed, not created again
        listed = platform.call("GET", "/data/core/hygiene/workorder").json()
        assert [order["workorderId"] for order in listed["results"]] == [created["id"]]
        lake = platform.storage.root / "lake" / "prod" / IMS_ORG / "profiles"
        live = {str(n) for n in range(SOFT_DELETED + 1, PROFILES + 1)}
        assert {str(record["_id"]) for record in lake_records(lake)} == live


@pytest.mark.parametrize("stage", ["written", "created", "ordered", "completed"])
def test_a_platform_sweep_is_applied_once_whatever_stage_a_worker_dies_at(
    crash: Crash, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    with running_platform(tmp_path / "platform", monkeypatch) as platform:
        swept = {"softDeleteWhen": "@deleted = 1", "detectHardDeletes": True}
        secret = exported_to(crash, platform, swept | {"sweepIntervalMinutes": 0})

        source(crash, f"DELETE FROM profile WHERE id <= {SOFT_DELETED}")
        source(crash, f"UPDATE profile SET deleted = 1 WHERE id <= {2 * SOFT_DELETED}")
        later = "lastModified = '2030-01-01 00:00:00.000000'"
        source(crash, f"UPDATE profile SET {later} WHERE id > {PROFILES - 10}")  # 10 records
        first = crash.trigger()
        doomed = crash.worker(XDMC_FAULT_PAUSE_AT=stage, **secret)
        crash.wait_for(crash.home / "faults" / f"{stage}.paused")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)

        crash.worker(**secret)  # recovers the job once its lease expires, then runs the next
        ended = crash.wait_until_ended(first)
        expected = JobState.SUCCESS if stage == "completed" else JobState.ABORTED
        assert ended.state == expected, crash.logs()
        again = crash.wait_until_ended(crash.trigger())
        assert again.state == JobState.SUCCESS, again.details
        applied, after = (ended, again) if stage == "completed" else (again, ended)
        assert applied.records_deleted == 2 * SOFT_DELETED
        assert after.records_deleted == 0

        live = [str(n) for n in range(2 * SOFT_DELETED + 1, PROFILES + 1)]
        delivered = crash.store.delivered_records.pages("demo", "XDM44")
        assert [row[0] for page in delivered for row in page] == sorted(live)
        with crash.store.read() as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(StagedRecord)) == 0
        listed = platform.call("GET", "/data/core/hygiene/workorder").json()
        assert len(listed["results"]) == 1  # one work order, created once
        lake = platform.storage.root / "lake" / "prod" / IMS_ORG / "profiles"
        assert {str(record["_id"]) for record in lake_records(lake)} == set(live)
