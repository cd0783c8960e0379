"""The lake on a real file system, read by DuckDB the way a user would."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xdm_connector.destinations.base import BatchState, BatchStatus, file_rows
from xdm_connector.destinations.lake import LakeDestination
from xdm_connector.errors import DestinationError, InvalidInput


def visible_rows(root: Path, org: str = "acme", dataset: str = "profiles") -> int:
    """What a reader globbing the dataset's Parquet files counts (0 when none)."""
    pattern = f"{root}/{org}/{dataset}/**/*.parquet"
    try:
        relation = duckdb.sql(f"select count(*) from '{pattern}'")
    except duckdb.IOException:  # no file matches
        return 0
    assert relation is not None
    [(count,)] = relation.fetchall()
    return int(count)


def parquet_file(folder: Path, name: str, rows: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    pq.write_table(pa.table({"_id": [f"id-{i}" for i in range(rows)]}), path)
    return path


def new_batch(lake: LakeDestination, key: str, dataset: str = "profiles") -> str:
    return lake.create_batch(org="acme", dataset=dataset, batch_key=key, file_format="parquet")


def test_a_batch_is_invisible_until_complete(tmp_path: Path) -> None:
    root, work = tmp_path / "lake", tmp_path / "work"
    lake = LakeDestination(root)
    batch_id = new_batch(lake, "job-1")
    lake.put_file(batch_id, "part-00000.parquet", parquet_file(work, "a.parquet", 10))
    lake.put_file(batch_id, "part-00001.parquet", parquet_file(work, "b.parquet", 5))
    assert visible_rows(root) == 0
    assert lake.status(batch_id) == BatchStatus(BatchState.LOADING)

    lake.complete(batch_id)
    assert visible_rows(root) == 15
    assert lake.status(batch_id) == BatchStatus(BatchState.SUCCESS, records=15)
    committed = root / "acme" / "profiles" / f"batch={batch_id}"
    assert sorted(p.name for p in committed.iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    assert not (root / "_staging" / "acme" / "profiles" / batch_id).exists()

    second = new_batch(lake, "job-2")
    lake.put_file(second, "part-00000.parquet", parquet_file(work, "c.parquet", 7))
    assert visible_rows(root) == 15
    lake.complete(second)
    assert visible_rows(root) == 22


def test_the_manifest_lists_committed_batches(tmp_path: Path) -> None:
    lake = LakeDestination(tmp_path / "lake")
    batch_id = new_batch(lake, "job-1")
    source = parquet_file(tmp_path / "work", "a.parquet", 4)
    lake.put_file(batch_id, "part-00000.parquet", source)
    lake.complete(batch_id)

    manifest = orjson.loads(
        (tmp_path / "lake" / "acme" / "profiles" / "_manifest.json").read_bytes()
    )
    assert manifest == lake.manifest("acme", "profiles")
    assert manifest["org"] == "acme"
    assert manifest["dataset"] == "profiles"
    [entry] = manifest["batches"]
    assert entry["id"] == batch_id
    assert entry["batchKey"] == "job-1"
    assert entry["fileFormat"] == "parquet"
    assert entry["rows"] == 4
    assert entry["files"] == [
        {"name": "part-00000.parquet", "rows": 4, "bytes": source.stat().st_size}
    ]
    assert entry["created"] <= entry["committed"]
    assert entry["committed"].endswith("Z")


def test_complete_twice_is_a_no_op(tmp_path: Path) -> None:
    lake = LakeDestination(tmp_path / "lake")
    batch_id = new_batch(lake, "job-1")
    lake.put_file(batch_id, "part-00000.parquet", parquet_file(tmp_path, "a.parquet", 3))
    lake.complete(batch_id)
    lake.complete(batch_id)
    assert new_batch(lake, "job-1") == batch_id  # a retry finds its complete batch
    assert len(lake.manifest("acme", "profiles")["batches"]) == 1
    assert visible_rows(tmp_path / "lake") == 3
    with pytest.raises(DestinationError, match="not loading"):
        lake.put_file(batch_id, "part-00001.parquet", tmp_path / "a.parquet")


def test_abort_drops_the_staging_and_a_new_attempt_starts_clean(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = LakeDestination(root)
    batch_id = new_batch(lake, "job-1")
    lake.put_file(batch_id, "part-00000.parquet", parquet_file(tmp_path, "a.parquet", 3))
    lake.abort(batch_id)
    assert lake.status(batch_id).state is BatchState.ABORTED
    assert not (root / "_staging" / "acme" / "profiles" / batch_id).exists()
    with pytest.raises(DestinationError, match="aborted"):
        lake.complete(batch_id)
    with pytest.raises(DestinationError, match="not loading"):
        lake.put_file(batch_id, "part-00000.parquet", tmp_path / "a.parquet")

    assert new_batch(lake, "job-1") == batch_id
    assert lake.status(batch_id).state is BatchState.LOADING
    lake.put_file(batch_id, "part-00009.parquet", parquet_file(tmp_path, "b.parquet", 2))
    lake.complete(batch_id)
    assert visible_rows(root) == 2
    [entry] = lake.manifest("acme", "profiles")["batches"]
    assert [f["name"] for f in entry["files"]] == ["part-00009.parquet"]


def test_abort_withdraws_a_complete_batch(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = LakeDestination(root)
    kept, withdrawn = new_batch(lake, "job-1"), new_batch(lake, "job-2")
    lake.put_file(kept, "part-00000.parquet", parquet_file(tmp_path, "a.parquet", 3))
    lake.put_file(withdrawn, "part-00000.parquet", parquet_file(tmp_path, "b.parquet", 4))
    lake.complete(kept)
    lake.complete(withdrawn)
    assert visible_rows(root) == 7

    lake.abort(withdrawn)
    assert visible_rows(root) == 3
    assert [b["id"] for b in lake.manifest("acme", "profiles")["batches"]] == [kept]
    assert lake.status(withdrawn).state is BatchState.ABORTED


def test_put_file_replaces_a_file_of_the_same_name(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = LakeDestination(root)
    batch_id = new_batch(lake, "job-1")
    lake.put_file(batch_id, "part-00000.parquet", parquet_file(tmp_path, "a.parquet", 9))
    lake.put_file(batch_id, "part-00000.parquet", parquet_file(tmp_path, "b.parquet", 2))
    (tmp_path / "b.parquet").unlink()  # the lake holds its own copy
    lake.complete(batch_id)
    assert visible_rows(root) == 2


def test_json_lines_batches_count_their_lines(tmp_path: Path) -> None:
    lake = LakeDestination(tmp_path / "lake")
    batch_id = lake.create_batch(org="acme", dataset="events", batch_key="k", file_format="jsonl")
    lines = tmp_path / "part.jsonl"
    lines.write_text('{"_id":"1"}\n{"_id":"2"}\n')
    lake.put_file(batch_id, "part-00000.jsonl", lines)
    lake.complete(batch_id)
    assert lake.status(batch_id).records == 2


def test_the_writers_record_counts_are_taken_without_reading_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = LakeDestination(tmp_path / "lake")
    batch_id = lake.create_batch(org="acme", dataset="events", batch_key="k", file_format="jsonl")
    lines = tmp_path / "part.jsonl"
    lines.write_text('{"_id":"1"}\n{"_id":"2"}\n{"_id":"3"}\n')
    lake.put_file(batch_id, "part-00000.jsonl", lines, rows=3)
    lake.put_file(batch_id, "part-00001.jsonl", lines)  # no count given: the lake counts
    lake.put_file(batch_id, "part-00002.jsonl", lines, rows=3)
    lake.put_file(batch_id, "part-00002.jsonl", lines)  # replaced without a count
    counted: list[str] = []

    def counting(path: Path) -> int | None:
        counted.append(path.name)
        return file_rows(path)

    monkeypatch.setattr("xdm_connector.destinations.lake.file_rows", counting)
    lake.complete(batch_id)
    assert counted == ["part-00001.jsonl", "part-00002.jsonl"]
    assert lake.status(batch_id).records == 9
    files = lake.manifest("acme", "events")["batches"][0]["files"]
    assert [file["rows"] for file in files] == [3, 3, 3]


@pytest.mark.parametrize(
    ("org", "dataset"), [("..", "profiles"), ("acme", "a/b"), ("_staging", "x"), ("acme", ".x")]
)
def test_unsafe_names_are_refused(tmp_path: Path, org: str, dataset: str) -> None:
    lake = LakeDestination(tmp_path / "lake")
    with pytest.raises(InvalidInput):
        lake.create_batch(org=org, dataset=dataset, batch_key="k", file_format="parquet")
    assert not (tmp_path / "lake").exists() or not any((tmp_path / "lake").rglob("*.json"))


def test_unsafe_file_names_and_unknown_batches_are_refused(tmp_path: Path) -> None:
    lake = LakeDestination(tmp_path / "lake")
    batch_id = new_batch(lake, "job-1")
    source = parquet_file(tmp_path, "a.parquet", 1)
    for name in ("../escape.parquet", "_manifest.json", ".hidden.parquet"):
        with pytest.raises(InvalidInput):
            lake.put_file(batch_id, name, source)
    with pytest.raises(InvalidInput):
        lake.status("../x")
    assert lake.status("0" * 32).state is BatchState.UNKNOWN
    with pytest.raises(DestinationError, match="Unknown batch"):
        lake.complete("0" * 32)
    with pytest.raises(DestinationError, match="No file"):
        lake.put_file(batch_id, "part-00000.parquet", tmp_path / "missing.parquet")


def test_batches_completed_together_all_reach_the_manifest(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = LakeDestination(root)
    ids = []
    for index in range(8):
        batch_id = new_batch(lake, f"job-{index}")
        lake.put_file(batch_id, "part-00000.parquet", parquet_file(tmp_path, f"{index}.parquet", 1))
        ids.append(batch_id)
    threads = [threading.Thread(target=lake.complete, args=(batch_id,)) for batch_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(b["id"] for b in lake.manifest("acme", "profiles")["batches"]) == sorted(ids)
    assert visible_rows(root) == 8
