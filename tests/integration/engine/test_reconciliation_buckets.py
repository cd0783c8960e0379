"""A reconciliation compared in several buckets finds and repairs what the comparison in one
finds: the same missing, differing and never delivered keys, on upsert and append tables,
the job's own keys left to it in every bucket."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from xdm_connector.pipeline import reconciliation
from xdm_connector.pipeline.reconciliation import Bucket, Reconciliation

from .conftest import PROFILES, SOURCE_KINDS, Engine
from .test_reconciliation import (
    ADDED,
    add_profiles,
    create_history,
    current_state,
    publish_with_sweep,
    reconcile,
    run_cli,
)

__all__ = ["run_cli"]  # the fixture, shared with the reconciliation's other tests

KEYS_PER_BUCKET = 50
"""Keys of a bucket in these tests: 400 delivered records make 8 buckets (an append table's
further versions, more)."""
NEW = 30
"""Profiles inserted with an old audit value: never delivered until a sweep."""
FOUND = {"missing": 200, "differing": 2, "neverDelivered": NEW, "dryRun": True}
"""What a dry run finds after ``drift``: the job's own record differs too (a dry run has no
job)."""
CONVERGED = {"missing": 0, "differing": 0, "neverDelivered": 0, "dryRun": True}


def drift(engine: Engine) -> None:
    """200 keys to delete, one record changed without its audit value, ``NEW`` records the
    next window misses, and one record the next job exports itself."""
    total = PROFILES + ADDED
    engine.source("DELETE FROM profile WHERE id <= 100")
    engine.source("UPDATE profile SET deleted = 1 WHERE id > 100 AND id <= 200")
    engine.source("UPDATE profile SET firstName = 'Repaired' WHERE id = 300")
    email = engine.concat("'new'", "email")
    engine.source(
        "INSERT INTO profile (id, email, firstName, lastName, gender, created, lastModified) "
        f"SELECT id + {NEW}, {email}, firstName, lastName, gender, created, lastModified "
        f"FROM profile WHERE id > {total - NEW}"
    )
    engine.source(
        "UPDATE profile SET firstName = 'Exported', "
        f"lastModified = '2030-01-01 00:00:00.000000' WHERE id = {total}"
    )


def count_buckets(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of buckets of each comparison from now on."""
    counts: list[int] = []
    split = Reconciliation._split

    def counted(self: Reconciliation) -> list[Bucket]:
        buckets = split(self)
        counts.append(len(buckets))
        return buckets

    monkeypatch.setattr(Reconciliation, "_split", counted)
    return counts


def dry_runs(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch, counts: list[int]
) -> dict[str, int]:
    """The dry run's report in one bucket, which the same in buckets of ``KEYS_PER_BUCKET``
    keys equals; then several buckets stay in force."""
    whole = reconcile(run_cli, "--dry-run")
    assert counts[-1] == 1
    monkeypatch.setattr(reconciliation, "KEYS_PER_BUCKET", KEYS_PER_BUCKET)
    split = reconcile(run_cli, "--dry-run")
    assert counts[-1] >= 8
    assert split == whole
    return split


def exported(engine: Engine, dataset: str) -> None:
    """The demo's profiles and their copies exported into ``dataset`` by a mapping that
    sweeps at every job."""
    add_profiles(engine)
    publish_with_sweep(engine, dataset=dataset)
    assert engine.run().state == "Success"


def swept_in_buckets(engine: Engine, run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """After ``drift``: the dry runs in one bucket and in several agree, and a job sweeping
    in several deletes and repairs what they found, its own record left to it."""
    drift(engine)
    counts = count_buckets(monkeypatch)
    assert dry_runs(run_cli, monkeypatch, counts) == FOUND
    swept = engine.run()
    assert swept.state == "Success", swept.reason
    assert counts[-1] >= 8
    assert swept.records_deleted == 200
    assert swept.details is not None
    assert swept.details["reconciliation"]["recordsRepaired"] == 1 + NEW


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_an_upsert_table_compared_in_buckets_converges_as_in_one(
    engine: Engine, run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported(engine, "profiles")
    swept_in_buckets(engine, run_cli, monkeypatch)
    total = PROFILES + ADDED
    assert sorted(map(int, engine.lake_ids())) == list(range(201, total + NEW + 1))
    names = {row["_id"]: row["person"]["name"]["firstName"] for row in engine.lake().to_pylist()}
    assert (names["300"], names[str(total)]) == ("Repaired", "Exported")
    assert reconcile(run_cli, "--dry-run") == CONVERGED


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_an_append_table_compared_in_buckets_converges_as_in_one(
    engine: Engine, run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_history(engine)
    exported(engine, "history")
    # A second version of some records: each key's latest row is compared, in its bucket.
    engine.source(
        "UPDATE profile SET firstName = 'Second', "
        "lastModified = '2029-01-01 00:00:00.000000' WHERE id > 250 AND id <= 300"
    )
    assert engine.run().state == "Success"
    swept_in_buckets(engine, run_cli, monkeypatch)
    total = PROFILES + ADDED
    state = current_state(engine)
    assert sorted(map(int, state)) == list(range(201, total + NEW + 1))
    assert state["300"] == "Repaired"
    assert reconcile(run_cli, "--dry-run") == CONVERGED
