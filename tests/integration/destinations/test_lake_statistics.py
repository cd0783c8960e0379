"""The statistics of the files each commit of the lake adds, as Delta readers see them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.domain.lake_modes import LakeMode


def commit(lake: LakeTables, key: str, ids: list[int], tmp_path: Path, score: int) -> str:
    batch_id = lake.create_batch(org="acme", dataset="people", batch_key=key, file_format="parquet")
    source = tmp_path / f"{key}.parquet"
    keys = [f"k{n:04d}" for n in ids]
    scores = [None if n % 10 == 0 else score + n for n in ids]
    pq.write_table(pa.table({"_id": keys, "score": pa.array(scores, pa.int64())}), source)
    lake.put_file(batch_id, "part-00000.parquet", source)
    lake.complete(batch_id)
    return batch_id


def add_actions(lake_url: str) -> dict[str, dict[str, Any]]:
    """Each current file of the table (its path), with its statistics as delta-rs reads them."""
    table = DeltaTable(f"{lake_url}/acme/people")
    rows = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    return {row["path"]: row for row in rows}


def files_read(lake_url: str, key: str) -> int:
    """How many files a reader filtering on ``_id = key`` opens."""
    dataset = DeltaTable(f"{lake_url}/acme/people").to_pyarrow_dataset()
    return len(list(dataset.get_fragments(filter=pc.field("_id") == key)))


def test_every_commit_adds_files_with_statistics_readers_skip_by(
    lake_url: str, tmp_path: Path
) -> None:
    lake = LakeTables(lake_url, modes=lambda org, dataset: LakeMode.UPSERT)
    first = commit(lake, "first", list(range(0, 100)), tmp_path, 1000)  # the table's creation
    second = commit(lake, "second", list(range(100, 200)), tmp_path, 2000)  # into its rows
    actions = add_actions(lake_url)
    assert len(actions) == 2
    by_batch = {path.partition("/")[0]: row for path, row in actions.items()}
    assert {
        batch: (
            row["num_records"],
            row["min._id"],
            row["max._id"],
            row["null_count._id"],
            row["min.score"],
            row["max.score"],
            row["null_count.score"],
        )
        for batch, row in by_batch.items()
    } == {
        first: (100, "k0000", "k0099", 0, 1001, 1099, 10),
        second: (100, "k0100", "k0199", 0, 2101, 2199, 10),
    }
    assert files_read(lake_url, "k0150") == 1
    assert files_read(lake_url, "k0500") == 0

    # An upsert rewrites the first file without its keys: the rewrite has its own.
    merged = commit(lake, "merged", [1, 2, 3], tmp_path, 3000)
    actions = add_actions(lake_url)
    rewrite = next(row for path, row in actions.items() if "/rewrites/" in path)
    assert (rewrite["num_records"], rewrite["min._id"], rewrite["max._id"]) == (
        97,
        "k0000",
        "k0099",
    )
    assert rewrite["null_count.score"] == 10
    added = next(row for path, row in actions.items() if path.startswith(f"{merged}/part"))
    assert (added["min._id"], added["max._id"], added["min.score"]) == ("k0001", "k0003", 3001)
    assert files_read(lake_url, "k0002") == 2  # the rewrite's range holds it, and the batch's
    assert files_read(lake_url, "k0150") == 1
    assert all(row["min._id"] is not None for row in actions.values())


def test_an_append_and_its_withdrawal_add_files_with_statistics(
    lake_url: str, tmp_path: Path
) -> None:
    lake = LakeTables(lake_url)  # append
    commit(lake, "first", list(range(0, 50)), tmp_path, 0)
    withdrawn = commit(lake, "second", list(range(50, 100)), tmp_path, 0)
    table = DeltaTable(f"{lake_url}/acme/people")
    table.optimize.compact()  # delta-rs's own files carry statistics too
    [compacted] = add_actions(lake_url).values()
    assert (compacted["min._id"], compacted["max._id"]) == ("k0000", "k0099")

    lake.abort(withdrawn)  # the compacted file removed, the first batch's added back
    [restored] = add_actions(lake_url).values()
    assert (restored["num_records"], restored["min._id"], restored["max._id"]) == (
        50,
        "k0000",
        "k0049",
    )
