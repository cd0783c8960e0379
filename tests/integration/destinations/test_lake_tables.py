"""The lake as Delta tables, on a local folder and on a real S3-compatible server: one
commit per batch, exactly once, in both modes, read back by delta-rs alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tests.integration.destinations import lake_writer
from tests.lake import committed_batches, lake_table
from xdm_connector.destinations.base import BatchState
from xdm_connector.destinations.lake_tables import COMMITTED, LakeTables, transaction_of, unsliced
from xdm_connector.domain.lake_modes import LakeMode
from xdm_connector.errors import DestinationError


def lake_in(url: str, mode: LakeMode = LakeMode.APPEND) -> LakeTables:
    return LakeTables(url, modes=lambda org, dataset: mode)


def batch(lake: LakeTables, tmp_path: Path, job: int, keys: list[str], *, files: int = 1) -> str:
    """A loading batch of job ``job`` of mapping m1, its records cut into ``files`` files."""
    batch_id = lake.create_batch(
        org="acme", dataset="people", batch_key=f"acme-m1-{job}", file_format="parquet"
    )
    for number in range(files):
        part = keys[number::files]
        path = tmp_path / f"{job}-{number}.parquet"
        pq.write_table(pa.table({"_id": part, "job": [job] * len(part)}), path)
        lake.put_file(batch_id, f"part-{number:05d}.parquet", path)
    return batch_id


def ids(url: str) -> list[str]:
    return sorted(str(key) for key in lake_table(url, "acme", "people")["_id"].to_pylist())


def test_a_batch_of_several_files_is_one_commit_visible_only_once_complete(
    lake_url: str, tmp_path: Path
) -> None:
    lake = lake_in(lake_url)
    first = batch(lake, tmp_path, 1, [str(n) for n in range(6)], files=3)
    assert lake.status(first).state is BatchState.LOADING
    assert ids(lake_url) == []
    lake.complete(first)
    status = lake.status(first)
    assert (status.state, status.records, status.version) == (BatchState.SUCCESS, 6, 0)
    assert ids(lake_url) == [str(n) for n in range(6)]
    table = DeltaTable(lake.table_uri("acme", "people"))
    assert table.version() == 0
    assert table.transaction_version("xdm-connector/acme/m1") == 1
    assert len(table.get_add_actions().column("path")) == 3


def test_a_table_the_lake_creates_checkpoints_its_log_every_ten_commits(
    tmp_path: Path,
) -> None:
    lake = lake_in(str(tmp_path / "lake"))
    for job in range(1, 12):
        lake.complete(batch(lake, tmp_path, job, [f"{job}-a", f"{job}-b"]))

    table = DeltaTable(lake.table_uri("acme", "people"))
    assert table.metadata().configuration["delta.checkpointInterval"] == "10"
    log = Path(lake.table_uri("acme", "people")) / "_delta_log"
    assert sorted(path.name for path in log.glob("*.checkpoint.parquet")) == [
        "00000000000000000009.checkpoint.parquet"
    ]
    assert table.version() == 10
    assert len(ids(str(tmp_path / "lake"))) == 22


def test_a_repeated_or_recovered_commit_never_doubles_the_records(
    lake_url: str, tmp_path: Path
) -> None:
    lake = lake_in(lake_url)
    first = batch(lake, tmp_path, 7, ["a", "b"])
    lake.complete(first)
    lake.complete(first)  # a retried complete
    # A worker killed between the commit and its record: the record still says loading.
    record = lake.batch(first)
    assert record is not None
    lake.storage.write_bytes(
        lake.record_path(first),
        pa.py_buffer(
            __import__("orjson").dumps({**record, "state": "loading", "version": None})
        ).to_pybytes(),
    )
    again = lake_in(lake_url)  # another worker recovers the job
    again.complete(first)
    assert again.status(first).version == 0
    assert ids(lake_url) == ["a", "b"]
    assert committed_batches(lake_url, "acme", "people") == [(first, 2)]


def test_upsert_keeps_one_row_per_key_the_latest(lake_url: str, tmp_path: Path) -> None:
    lake = lake_in(lake_url, LakeMode.UPSERT)
    lake.complete(batch(lake, tmp_path, 1, ["1", "2", "3"]))
    lake.complete(batch(lake, tmp_path, 2, ["2", "3", "4"], files=2))
    lake.complete(batch(lake, tmp_path, 3, ["4"]))
    table = lake_table(lake_url, "acme", "people").sort_by("_id")
    assert table["_id"].to_pylist() == ["1", "2", "3", "4"]
    assert table["job"].to_pylist() == [1, 2, 2, 3]
    commits = list(reversed(DeltaTable(lake.table_uri("acme", "people")).history()))
    assert [c["xdmc.committedAs"] for c in commits] == ["append", "upsert", "upsert"]
    # Files rewritten without the keys replaced, the batches' files added as they are.
    assert [c["operation"] for c in commits] == ["CREATE TABLE", "WRITE", "WRITE"]
    paths = DeltaTable(lake.table_uri("acme", "people")).get_add_actions().column("path")
    assert len([path for path in paths.to_pylist() if "/rewrites/" in str(path)]) == 2


def test_an_upsert_removes_a_file_it_replaces_every_row_of(tmp_path: Path) -> None:
    url = str(tmp_path / "lake")
    lake = lake_in(url, LakeMode.UPSERT)
    first = batch(lake, tmp_path, 1, ["1", "2"])
    lake.complete(first)
    lake.complete(batch(lake, tmp_path, 2, ["3"]))
    third = batch(lake, tmp_path, 3, ["2", "1"])
    lake.complete(third)
    assert ids(url) == ["1", "2", "3"]
    paths = DeltaTable(lake.table_uri("acme", "people")).get_add_actions().column("path")
    assert not any(str(path).startswith(first) for path in paths.to_pylist())
    assert not lake.storage.files(f"acme/people/{third}/rewrites")  # nothing to add back


def test_an_upsert_that_changes_the_columns_merges_them(lake_url: str, tmp_path: Path) -> None:
    lake = lake_in(lake_url, LakeMode.UPSERT)
    lake.complete(batch(lake, tmp_path, 1, ["1", "2"]))
    widened = lake.create_batch(
        org="acme", dataset="people", batch_key="acme-m1-2", file_format="parquet"
    )
    pq.write_table(pa.table({"_id": ["2"], "job": [2], "name": ["two"]}), tmp_path / "w.parquet")
    lake.put_file(widened, "part-00000.parquet", tmp_path / "w.parquet")
    before = DeltaTable(lake.table_uri("acme", "people")).to_pyarrow_table()
    try:
        lake.complete(widened)
    except DestinationError:  # delta-rs's merge keeps the table's columns or refuses
        assert ids(lake_url) == ["1", "2"]
        assert lake_table(lake_url, "acme", "people").equals(before)
        return
    table = lake_table(lake_url, "acme", "people").sort_by("_id")
    assert table["_id"].to_pylist() == ["1", "2"]
    assert table["job"].to_pylist() == [1, 2]
    assert DeltaTable(lake.table_uri("acme", "people")).history(1)[0]["operation"] == "MERGE"


def test_an_upsert_commits_only_on_the_version_it_read(lake_url: str, tmp_path: Path) -> None:
    lake = lake_in(lake_url, LakeMode.UPSERT)
    lake.complete(batch(lake, tmp_path, 1, ["1", "2"]))
    slow = batch(lake, tmp_path, 2, ["2", "3"])
    read = lake.table("acme", "people")
    other = LakeTables(lake_url, modes=lambda org, dataset: LakeMode.UPSERT)
    lake.table = lambda org, dataset, version=None: read  # type: ignore[method-assign]
    # Another worker adds key 3 after the slow one read the table: it must not be doubled.
    fast = other.create_batch(
        org="acme", dataset="people", batch_key="acme-m2-1", file_format="parquet"
    )
    pq.write_table(pa.table({"_id": ["3"], "job": [9]}), tmp_path / "fast.parquet")
    other.put_file(fast, "part-00000.parquet", tmp_path / "fast.parquet")
    other.complete(fast)
    with pytest.raises(DestinationError, match="lost to a concurrent one") as lost:
        lake.complete(slow)
    assert lost.value.transient
    del lake.table  # the next attempt reads the table anew
    lake.complete(slow)
    table = lake_table(lake_url, "acme", "people").sort_by("_id")
    assert table["_id"].to_pylist() == ["1", "2", "3"]
    assert table["job"].to_pylist() == [1, 2, 2]
    folder = f"acme/people/{slow}/rewrites"
    referenced = {
        str(path) for path in DeltaTable(lake.table_uri("acme", "people")).get_add_actions()
        .column("path").to_pylist()
    }  # fmt: skip
    leftovers = {lake.storage.relative(info) for info in lake.storage.files(folder)}
    assert {f"acme/people/{path}" for path in referenced} >= leftovers  # the lost rewrites went


def test_an_upsert_batch_without_a_record_key_is_refused(tmp_path: Path) -> None:
    lake = lake_in(str(tmp_path / "lake"), LakeMode.UPSERT)
    lake.complete(batch(lake, tmp_path, 1, ["1"]))
    keyless = lake.create_batch(
        org="acme", dataset="people", batch_key="acme-m1-2", file_format="parquet"
    )
    pq.write_table(pa.table({"name": ["x"]}), tmp_path / "keyless.parquet")
    lake.put_file(keyless, "part-00000.parquet", tmp_path / "keyless.parquet")
    with pytest.raises(DestinationError, match="merges on _id"):
        lake.complete(keyless)
    assert ids(str(tmp_path / "lake")) == ["1"]


def keyless_batch(lake: LakeTables, tmp_path: Path) -> str:
    batch_id = lake.create_batch(
        org="acme", dataset="people", batch_key="acme-m1-1", file_format="parquet"
    )
    pq.write_table(pa.table({"name": ["x", "y"]}), tmp_path / "keyless.parquet")
    lake.put_file(batch_id, "part-00000.parquet", tmp_path / "keyless.parquet")
    return batch_id


def test_the_first_batch_of_an_upsert_table_without_a_record_key_is_refused_too(
    tmp_path: Path,
) -> None:
    """The table it would create could merge no later batch: refused before it exists."""
    lake = lake_in(str(tmp_path / "lake"), LakeMode.UPSERT)
    keyless = keyless_batch(lake, tmp_path)
    with pytest.raises(DestinationError, match="map /_id or make the dataset's lake mode append"):
        lake.complete(keyless)
    lake.abort(keyless)
    assert lake.table("acme", "people") is None
    assert lake.status(keyless).state is BatchState.ABORTED
    assert not list((tmp_path / "lake" / "acme" / "people").rglob("*.parquet"))

    appended = lake_in(str(tmp_path / "other"), LakeMode.APPEND)
    taken = keyless_batch(appended, tmp_path)
    appended.complete(taken)
    assert appended.status(taken).records == 2


def test_abort_drops_a_loading_batch_and_withdraws_a_committed_append(
    lake_url: str, tmp_path: Path
) -> None:
    lake = lake_in(lake_url)
    kept = batch(lake, tmp_path, 1, ["1"])
    lake.complete(kept)
    loading = batch(lake, tmp_path, 2, ["2"])
    lake.abort(loading)
    assert lake.status(loading).state is BatchState.ABORTED
    with pytest.raises(DestinationError, match="aborted"):
        lake.complete(loading)
    withdrawn = batch(lake, tmp_path, 3, ["3"])
    lake.complete(withdrawn)
    assert ids(lake_url) == ["1", "3"]
    lake.abort(withdrawn)
    assert ids(lake_url) == ["1"]
    assert committed_batches(lake_url, "acme", "people") == [(kept, 1)]
    assert not lake.storage.exists(lake.staging("acme", "people", loading))


def test_the_lake_stores_parquet_only(tmp_path: Path) -> None:
    lake = lake_in(str(tmp_path / "lake"))
    with pytest.raises(DestinationError, match="Parquet"):
        lake.create_batch(org="acme", dataset="people", batch_key="k", file_format="jsonl")


def test_a_batch_key_names_its_transaction() -> None:
    assert transaction_of("acme", "acme-XDM-44-17").app_id == "xdm-connector/acme/XDM-44"
    assert transaction_of("acme", "acme-XDM-44-17").version == 17
    assert transaction_of("acme", "job-42").app_id == "xdm-connector/batch/job-42"


def test_nested_structs_sliced_at_an_offset_are_merged(tmp_path: Path) -> None:
    # delta-rs 1.6 panicked on a slice of nested structs that starts at an offset.
    nested = pa.table(
        {
            "_id": [str(n) for n in range(8)],
            "person": [{"name": {"first": f"p{n}", "last": None}} for n in range(8)],
        }
    )
    sliced = nested.to_batches()[0].slice(3, 4)
    assert sliced.column(1).offset == 3
    copied = unsliced(sliced)
    assert all(column.offset == 0 for column in copied.columns)
    assert copied.to_pylist() == sliced.to_pylist()
    lake = lake_in(str(tmp_path / "lake"), LakeMode.UPSERT)
    for job, part in enumerate([nested.slice(0, 4), pa.Table.from_batches([sliced])], start=1):
        path = tmp_path / f"nested-{job}.parquet"
        pq.write_table(part, path, row_group_size=2)
        batch_id = lake.create_batch(
            org="acme", dataset="people", batch_key=f"acme-m1-{job}", file_format="parquet"
        )
        lake.put_file(batch_id, "part-00000.parquet", path)
        lake.complete(batch_id)
    table = lake_table(str(tmp_path / "lake"), "acme", "people").sort_by("_id")
    assert table["_id"].to_pylist() == [str(n) for n in range(7)]
    assert lake.batch(batch_id) is not None
    assert (lake.batch(batch_id) or {})["state"] == COMMITTED


@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_two_workers_committing_to_one_table_lose_and_double_nothing(
    lake_url: str, mode: str
) -> None:
    jobs = 6
    environment = dict(os.environ)
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", lake_writer.__name__, lake_url, mapping, "1", str(jobs), mode],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mapping in ("m1", "m2")
    ]
    for writer in writers:
        out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err
        assert out.strip() == "done"
    expected = sorted(
        f"{mapping}-{job}-{n}"
        for mapping in ("m1", "m2")
        for job in range(1, jobs + 1)
        for n in range(lake_writer.ROWS)
    )
    assert ids(lake_url) == expected
    table = DeltaTable(f"{lake_url}/acme/people")
    assert table.transaction_version("xdm-connector/acme/m1") == jobs
    assert table.transaction_version("xdm-connector/acme/m2") == jobs
    assert len(committed_batches(lake_url, "acme", "people")) == 2 * jobs
