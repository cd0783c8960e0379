"""Optimize and vacuum of the lake's Delta tables, on a local folder and on a real
S3-compatible server, alone and while other processes commit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tests.integration.destinations import lake_optimizer, lake_writer
from tests.lake import lake_table
from xdm_connector.destinations.lake_maintenance import (
    RETENTION_CODE,
    optimize_table,
    table_datasets,
    vacuum_table,
)
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.domain.lake_modes import LakeMode
from xdm_connector.errors import DestinationError, InvalidInput, NotFound


def lake_in(url: str, mode: LakeMode = LakeMode.APPEND) -> LakeTables:
    return LakeTables(url, modes=lambda org, dataset: mode)


def commit(lake: LakeTables, tmp_path: Path, job: int, keys: list[str]) -> str:
    """Job ``job`` of mapping m1 committed into acme/people: one small file."""
    batch_id = loading(lake, tmp_path, job, keys)
    lake.complete(batch_id)
    return batch_id


def loading(lake: LakeTables, tmp_path: Path, job: int, keys: list[str]) -> str:
    batch_id = lake.create_batch(
        org="acme", dataset="people", batch_key=f"acme-m1-{job}", file_format="parquet"
    )
    path = tmp_path / f"{job}.parquet"
    pq.write_table(pa.table({"_id": keys, "job": [job] * len(keys)}), path)
    lake.put_file(batch_id, "part-00000.parquet", path)
    return batch_id


def rows(url: str) -> list[tuple[str, int]]:
    table = lake_table(url, "acme", "people")
    return sorted(zip(table["_id"].to_pylist(), table["job"].to_pylist(), strict=True))


def files(url: str) -> list[str]:
    """The current files of acme/people, as paths below the lake's root."""
    paths = DeltaTable(f"{url}/acme/people").get_add_actions().column("path").to_pylist()
    return sorted(f"acme/people/{path}" for path in paths)


def test_optimize_compacts_small_files_and_keeps_every_row_and_transaction(
    lake_url: str, tmp_path: Path
) -> None:
    lake = lake_in(lake_url)
    for job in range(1, 9):
        commit(lake, tmp_path, job, [f"{job}-{n}" for n in range(5)])
    before = rows(lake_url)
    assert len(files(lake_url)) == 8

    done = optimize_table(lake, "acme", "people")

    assert (done.files_removed, done.files_added) == (8, 1)
    assert len(files(lake_url)) == 1
    assert rows(lake_url) == before
    table = DeltaTable(f"{lake_url}/acme/people")
    assert done.version == table.version() == 8
    assert table.history(1)[0]["operation"] == "OPTIMIZE"
    assert table.transaction_version("xdm-connector/acme/m1") == 8  # exactly once still holds
    assert optimize_table(lake, "acme", "people").files_removed == 0  # nothing left to compact
    assert table_datasets(lake, "acme") == ["people"]
    # A commit after the compaction lands as usual, and a repeated one is still refused.
    commit(lake, tmp_path, 9, ["9-0"])
    lake.complete(lake.create_batch(
        org="acme", dataset="people", batch_key="acme-m1-9", file_format="parquet"
    ))  # fmt: skip
    assert rows(lake_url) == sorted([*before, ("9-0", 9)])


def test_maintenance_of_a_dataset_without_a_table_is_not_found(lake_url: str) -> None:
    lake = lake_in(lake_url)
    with pytest.raises(NotFound):
        optimize_table(lake, "acme", "people")
    with pytest.raises(NotFound):
        vacuum_table(lake, "acme", "people", retain_hours=168)
    assert table_datasets(lake, "acme") == []


@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_optimize_while_another_process_commits_loses_and_doubles_nothing(
    lake_url: str, mode: str, tmp_path: Path
) -> None:
    jobs = 12
    stop = tmp_path / "stop"
    environment = dict(os.environ)
    optimizer = subprocess.Popen(
        [sys.executable, "-m", lake_optimizer.__name__, lake_url, str(stop)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writer = subprocess.Popen(
        [sys.executable, "-m", lake_writer.__name__, lake_url, "m1", "1", str(jobs), mode],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = writer.communicate(timeout=300)
    stop.touch()
    optimized, optimizer_err = optimizer.communicate(timeout=300)
    assert writer.returncode == 0, err
    assert out.strip() == "done"
    assert optimizer.returncode == 0, optimizer_err
    committed, _given_up = map(int, optimized.split())
    assert committed >= 1  # the last pass, at least, compacted what the writer left

    expected = sorted(
        (f"m1-{job}-{n}", job) for job in range(1, jobs + 1) for n in range(lake_writer.ROWS)
    )
    assert rows(lake_url) == expected
    table = DeltaTable(f"{lake_url}/acme/people")
    assert table.transaction_version("xdm-connector/acme/m1") == jobs
    assert len(files(lake_url)) == 1
    operations = [commit["operation"] for commit in table.history()]
    assert operations.count("OPTIMIZE") == committed


def test_vacuum_deletes_removed_files_only_never_a_batch_waiting_for_its_commit(
    lake_url: str, tmp_path: Path
) -> None:
    lake = lake_in(lake_url)
    for job in range(1, 5):
        commit(lake, tmp_path, job, [f"{job}-{n}" for n in range(3)])
    small = files(lake_url)
    optimize_table(lake, "acme", "people")
    current = files(lake_url)
    before = rows(lake_url)
    # A batch staged, not committed; and files in the table's folder that no commit names
    # (a batch whose files were landed when its worker stopped).
    waiting = loading(lake, tmp_path, 5, ["5-0", "5-1"])
    storage = lake.storage
    stray = f"acme/people/{waiting}-landed/part-00000.parquet"
    storage.upload(tmp_path / "5.parquet", stray)
    staged = [
        storage.relative(info) for info in storage.files(lake.staging("acme", "people", waiting))
    ]
    assert staged

    with pytest.raises(InvalidInput) as refused:
        vacuum_table(lake, "acme", "people", retain_hours=0)
    assert refused.value.code == RETENTION_CODE
    assert all(storage.exists(path) for path in small)
    kept = vacuum_table(lake, "acme", "people", retain_hours=168)
    assert kept.files_removed == 0  # removed moments ago: within the retention

    done = vacuum_table(lake, "acme", "people", retain_hours=0, force=True)

    assert done.files_removed == len(small)
    assert not any(storage.exists(path) for path in small)
    assert files(lake_url) == current
    assert rows(lake_url) == before
    assert storage.exists(stray)
    assert all(storage.exists(path) for path in staged)
    lake.complete(waiting)  # the waiting batch still commits whole
    assert rows(lake_url) == sorted([*before, ("5-0", 5), ("5-1", 5)])


def people(jobs: list[int]) -> list[tuple[str, int]]:
    """The rows that ``commit`` wrote for ``jobs``."""
    return sorted((f"{job}-{n}", job) for job in jobs for n in range(3))


def test_a_batch_compacted_after_its_commit_is_withdrawn_whole(
    lake_url: str, tmp_path: Path
) -> None:
    lake = lake_in(lake_url)
    batches = {job: commit(lake, tmp_path, job, [f"{job}-{n}" for n in range(3)]) for job in (1, 2)}
    # Job 3 commits, then a compaction takes its file with the others, then job 3 is
    # cancelled: its withdrawal finds its rows in the compacted file.
    batches[3] = commit(lake, tmp_path, 3, [f"3-{n}" for n in range(3)])
    assert optimize_table(lake, "acme", "people").files_removed == 3

    lake.abort(batches[3])

    assert rows(lake_url) == people([1, 2])
    assert lake.status(batches[3]).state == "aborted"
    lake.abort(batches[3])  # again: nothing more withdrawn
    assert rows(lake_url) == people([1, 2])
    table = DeltaTable(f"{lake_url}/acme/people")
    assert table.transaction_version("xdm-connector/acme/m1") == 3  # job 3 stays taken


def test_withdrawals_through_a_chain_of_compactions(lake_url: str, tmp_path: Path) -> None:
    lake = lake_in(lake_url)
    batches = {}
    for job in (1, 2, 3):
        batches[job] = commit(lake, tmp_path, job, [f"{job}-{n}" for n in range(3)])
    optimize_table(lake, "acme", "people")
    for job in (4, 5):
        batches[job] = commit(lake, tmp_path, job, [f"{job}-{n}" for n in range(3)])
    optimize_table(lake, "acme", "people")  # the compacted file compacted again
    batches[6] = commit(lake, tmp_path, 6, [f"6-{n}" for n in range(3)])

    lake.abort(batches[2])  # in the first compaction, then the second
    assert rows(lake_url) == people([1, 3, 4, 5, 6])
    lake.abort(batches[4])  # in the second; the first was undone by the withdrawal above
    assert rows(lake_url) == people([1, 3, 5, 6])
    optimize_table(lake, "acme", "people")
    lake.abort(batches[6])
    assert rows(lake_url) == people([1, 3, 5])


def test_a_withdrawal_refuses_rows_another_writer_rewrote(lake_url: str, tmp_path: Path) -> None:
    lake = lake_in(lake_url)
    batch_id = commit(lake, tmp_path, 1, ["1-0", "1-1"])
    DeltaTable(f"{lake_url}/acme/people").delete("_id = '1-0'")

    with pytest.raises(DestinationError, match="cannot be withdrawn"):
        lake.abort(batch_id)
    assert rows(lake_url) == [("1-1", 1)]
