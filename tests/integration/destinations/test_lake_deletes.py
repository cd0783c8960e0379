"""Deletes in the lake's Delta tables: in the same commit as the job's records, exactly
once; an upsert table loses the rows, an append table gains a row per deleted key."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from tests.lake import lake_table
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.domain.lake_modes import SEQUENCE_COLUMN, LakeMode
from xdm_connector.pipeline.deletes import DeleteWriter, deletes_name
from xdm_connector.pipeline.row_sequence import RowSequence


def lake_in(url: str, mode: LakeMode) -> LakeTables:
    return LakeTables(url, modes=lambda org, dataset: mode)


def batch(
    lake: LakeTables,
    tmp_path: Path,
    job: int,
    keys: list[str],
    deleted: list[str],
    *,
    ordered: bool = False,
) -> str:
    """A loading batch of job ``job`` of mapping m1: records of ``keys``, deletes of
    ``deleted``; with their order of versions when ``ordered`` (an append table's)."""
    batch_id = lake.create_batch(
        org="acme", dataset="people", batch_key=f"acme-m1-{job}", file_format="parquet"
    )
    sequence = RowSequence(job) if ordered else None
    if keys:
        path = tmp_path / f"{job}.parquet"
        records = pa.table({"_id": keys, "job": [job] * len(keys)})
        if sequence is not None:
            records = records.append_column(SEQUENCE_COLUMN, sequence.take(len(keys)))
        pq.write_table(records, path)
        lake.put_file(batch_id, "part-00000.parquet", path)
    writer = DeleteWriter(tmp_path / f"deletes-{job}", sequence=sequence)
    writer.write(pa.array(deleted, pa.string()))
    for written in writer.close():
        lake.put_file(batch_id, deletes_name(written), written.path)
    return batch_id


def rows(url: str) -> list[tuple[str, object]]:
    table = lake_table(url, "acme", "people")
    return sorted(zip(table["_id"].to_pylist(), table["job"].to_pylist(), strict=True))


def test_an_upsert_commit_removes_the_deleted_keys_with_its_records(
    lake_url: str, tmp_path: Path
) -> None:
    lake = lake_in(lake_url, LakeMode.UPSERT)
    lake.complete(batch(lake, tmp_path, 1, ["a", "b", "c", "d"], []))
    second = batch(lake, tmp_path, 2, ["a", "e"], ["b", "c", "never-there"])
    lake.complete(second)
    lake.complete(second)  # repeated: nothing twice
    assert rows(lake_url) == [("a", 2), ("d", 1), ("e", 2)]
    table = DeltaTable(lake.table_uri("acme", "people"))
    commit = table.history()[0]
    assert (commit["xdmc.rows"], commit["xdmc.deletes"]) == ("2", "3")
    assert table.transaction_version("xdm-connector/acme/m1") == 2
    assert lake.batch(second)["deletes"] == 3  # type: ignore[index]


def test_a_batch_of_deletes_only_is_one_commit(lake_url: str, tmp_path: Path) -> None:
    lake = lake_in(lake_url, LakeMode.UPSERT)
    lake.complete(batch(lake, tmp_path, 1, ["a", "b"], []))
    lake.complete(batch(lake, tmp_path, 2, [], ["a"]))
    assert rows(lake_url) == [("b", 1)]
    table = DeltaTable(lake.table_uri("acme", "people"))
    assert table.version() == 1
    # A record inserted again after its delete comes back.
    lake.complete(batch(lake, tmp_path, 3, ["a"], []))
    assert rows(lake_url) == [("a", 3), ("b", 1)]


def test_an_append_table_keeps_a_row_per_delete(lake_url: str, tmp_path: Path) -> None:
    lake = lake_in(lake_url, LakeMode.APPEND)
    lake.complete(batch(lake, tmp_path, 1, ["a", "b"], []))
    lake.complete(batch(lake, tmp_path, 2, ["c"], ["a"]))
    table = lake_table(lake_url, "acme", "people")
    found = sorted(
        zip(
            table["_id"].to_pylist(),
            table["job"].to_pylist(),
            table["_xdmc_deleted"].to_pylist(),
            strict=True,
        ),
        key=lambda row: (row[0], row[1] is None),
    )
    assert found == [("a", 1, None), ("a", None, True), ("b", 1, None), ("c", 2, None)]
    deleted_at = [value for value in table["_xdmc_deleted_at"].to_pylist() if value is not None]
    assert len(deleted_at) == 1


def test_a_first_append_commit_with_deletes_creates_the_delete_columns(
    lake_url: str, tmp_path: Path
) -> None:
    lake = lake_in(lake_url, LakeMode.APPEND)
    lake.complete(batch(lake, tmp_path, 1, ["a"], ["z"]))
    table = lake_table(lake_url, "acme", "people")
    assert sorted(table.column_names) == ["_id", "_xdmc_deleted", "_xdmc_deleted_at", "job"]
    assert table.num_rows == 2


def test_an_append_table_gains_the_order_of_versions_of_the_first_batch_that_has_it(
    lake_url: str, tmp_path: Path
) -> None:
    lake = lake_in(lake_url, LakeMode.APPEND)
    lake.complete(batch(lake, tmp_path, 1, ["a", "b"], []))  # written before the column
    lake.complete(batch(lake, tmp_path, 2, ["a"], ["b"], ordered=True))
    lake.complete(batch(lake, tmp_path, 3, ["b"], [], ordered=True))
    table = lake_table(lake_url, "acme", "people")
    found = sorted(
        zip(table["_id"].to_pylist(), table[SEQUENCE_COLUMN].to_pylist(), strict=True),
        key=lambda row: (row[0], row[1] or 0),
    )
    # Records and deletes of a job share its sequence; older rows have none.
    first, second = 2 << 32, 3 << 32
    assert found == [("a", None), ("a", first), ("b", None), ("b", first + 1), ("b", second)]
    deleted = dict(
        zip(table[SEQUENCE_COLUMN].to_pylist(), table["_xdmc_deleted"].to_pylist(), strict=True)
    )
    assert deleted[first + 1] is True
