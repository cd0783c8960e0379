"""``lake migrate``: a lake of batch folders (written by the batch-folder lake itself) made
into Delta tables in place, on a real store, read back by delta-rs alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tests.lake import lake_table
from xdm_connector.demo.setup import prepare_demo
from xdm_connector.destinations.factory import OrgDestinations
from xdm_connector.destinations.lake import LakeDestination
from xdm_connector.destinations.lake_history import table_history
from xdm_connector.destinations.lake_tables import COMMITTED
from xdm_connector.errors import Conflict, InvalidInput
from xdm_connector.services.lake_cleaning import loading_batches
from xdm_connector.services.lake_migration import migrate_lake
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store

PERSON = pa.struct([pa.field("name", pa.string())])
SCHEMA = pa.schema([("_id", pa.string()), ("v", pa.int64()), ("person", PERSON)])


@dataclass
class Installation:
    settings: Settings
    store: Store
    destinations: OrgDestinations
    jobs: list[tuple[int, int]]
    """(job id, request id) of three ended jobs of mapping XDM44."""


@pytest.fixture(params=["sqlite", "postgresql"])
def installation(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Installation]:
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_store_url")
    settings = Settings(home=tmp_path / "home", database_url=database_url)
    settings.home.mkdir()
    store = Store(settings.store_url)
    store.upgrade()
    prepare_demo(settings, store, profiles=5)
    spec = store.tenants.get_dataset("demo", "profiles").schema_spec
    store.tenants.create_dataset("demo", "visits", spec, "append")
    jobs = []
    for _ in range(3):
        store.jobs.request_ingestion("demo", "XDM44")
        job = store.jobs.claim("a-worker", timedelta(minutes=5), utcnow())
        assert job is not None
        store.jobs.succeed(job, "a-worker", JobOutcome(), None)
        jobs.append((job.id, job.request_id))
    yield Installation(settings, store, OrgDestinations(store, settings), jobs)
    store.close()


def records(keys: list[int], version: int) -> list[dict[str, object]]:
    return [{"_id": str(k), "v": version, "person": {"name": f"p{k}-{version}"}} for k in keys]


def old_batch(
    lake: LakeDestination, dataset: str, key: str, rows: list[dict[str, object]], fmt: str,
    tmp_path: Path, *, complete: bool = True,
) -> str:  # fmt: skip
    """A batch of the batch-folder lake, as the exports before Delta tables wrote it."""
    batch_id = lake.create_batch(org="demo", dataset=dataset, batch_key=key, file_format=fmt)
    path = tmp_path / f"{batch_id}.{'parquet' if fmt == 'parquet' else 'jsonl'}"
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows, SCHEMA), path)
    else:
        path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    lake.put_file(batch_id, f"part-00000{path.suffix}", path)
    if complete:
        lake.complete(batch_id)
    return batch_id


def test_batch_folders_become_one_commit_each_with_their_jobs_and_requests(
    installation: Installation, tmp_path: Path
) -> None:
    root = installation.settings.lake_root
    old = LakeDestination(root)
    (j1, r1), (j2, r2), (j3, r3) = installation.jobs
    key = "demo-XDM44-{}".format
    old_batch(old, "profiles", key(j1), records([1, 2, 3, 4], 1), "parquet", tmp_path)
    old_batch(old, "profiles", key(j2), records([3, 4, 5, 6], 2), "jsonl", tmp_path)
    old_batch(old, "profiles", key(j3), records([1, 7], 3), "parquet", tmp_path)
    old_batch(old, "visits", key(j1), records([1, 2], 1), "jsonl", tmp_path)
    old_batch(old, "visits", key(j2), records([1, 2], 2), "parquet", tmp_path)
    lost = old_batch(old, "visits", "lost", records([9], 9), "parquet", tmp_path, complete=False)

    migrated = migrate_lake(root, installation.destinations, org="demo")

    assert [
        (b.dataset, b.job_id, b.request_id, b.rows, b.version, b.skipped) for b in migrated
    ] == [
        ("profiles", j1, r1, 4, 0, False),
        ("profiles", j2, r2, 4, 1, False),
        ("profiles", j3, r3, 2, 2, False),
        ("visits", j1, r1, 2, 0, False),
        ("visits", j2, r2, 2, 1, False),
    ]
    # Upsert: one row per key, the latest batch's.
    profiles = lake_table(root, "demo", "profiles").sort_by("_id").to_pylist()
    latest = {1: 3, 2: 1, 3: 2, 4: 2, 5: 2, 6: 2, 7: 3}
    assert profiles == [
        {"_id": str(k), "v": v, "person": {"name": f"p{k}-{v}"}} for k, v in sorted(latest.items())
    ]
    # Append: every version of every record, the JSON Lines batch typed as the Parquet one.
    visits = lake_table(root, "demo", "visits")
    assert visits.schema == SCHEMA
    assert sorted((r["_id"], r["v"]) for r in visits.to_pylist()) == [
        ("1", 1), ("1", 2), ("2", 1), ("2", 2)
    ]  # fmt: skip
    lake = installation.destinations.lake("demo")
    history = table_history(lake, installation.store, "demo", "profiles")
    assert [(v.version, v.job_id, v.request_id, v.mapping_id) for v in history] == [
        (2, j3, r3, "XDM44"), (1, j2, r2, "XDM44"), (0, j1, r1, "XDM44")
    ]  # fmt: skip
    table = DeltaTable(lake.table_uri("demo", "profiles"))
    assert table.transaction_version("xdm-connector/demo/XDM44") == j3
    assert all((lake.batch(b.batch_id) or {})["state"] == COMMITTED for b in migrated)
    # The batch never committed in the old lake is not migrated, and no longer loading.
    assert (lake.batch(lost) or {})["state"] == "aborted"
    assert loading_batches(lake, org="demo") == []

    again = migrate_lake(root, installation.destinations)

    assert [b.skipped for b in again] == [True] * 5
    assert [(b.batch_id, b.version) for b in again] == [(b.batch_id, b.version) for b in migrated]
    assert DeltaTable(lake.table_uri("demo", "profiles")).version() == 2
    assert DeltaTable(lake.table_uri("demo", "visits")).version() == 1
    assert lake_table(root, "demo", "profiles").sort_by("_id").to_pylist() == profiles


def test_a_table_with_later_jobs_is_refused_and_bad_names_too(
    installation: Installation, tmp_path: Path
) -> None:
    root = installation.settings.lake_root
    old = LakeDestination(root)
    (j1, _), (j2, _), _ = installation.jobs
    old_batch(old, "visits", f"demo-XDM44-{j2}", records([1], 2), "parquet", tmp_path)
    migrate_lake(root, installation.destinations, org="demo", dataset="visits")
    # A batch of an earlier job appears in the manifest after the table took a later one.
    old_batch(old, "visits", f"demo-XDM44-{j1}", records([1], 1), "parquet", tmp_path)
    with pytest.raises(Conflict, match="migrate batch folders before"):
        migrate_lake(root, installation.destinations, org="demo")
    assert DeltaTable(f"{root}/demo/visits").version() == 0
    with pytest.raises(InvalidInput):
        migrate_lake(root, installation.destinations, dataset="visits")
    with pytest.raises(InvalidInput):
        migrate_lake(root, installation.destinations, org="../demo")
    with pytest.raises(InvalidInput):
        migrate_lake(tmp_path / "nowhere", installation.destinations)
