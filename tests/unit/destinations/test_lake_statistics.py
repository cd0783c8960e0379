"""Delta file statistics read from a Parquet footer, compared with those delta-rs writes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import write_deltalake

from xdm_connector.destinations.lake_statistics import file_statistics

UTC = dt.UTC


def records() -> pa.Table:
    return pa.table(
        {
            "_id": ["b", "a", None, "c"],
            "count": pa.array([3, None, 1, 7], pa.int32()),
            "ratio": [0.5, float("nan"), None, 2.5],
            "flag": [True, None, False, True],
            "day": pa.array([dt.date(2024, 5, 1), None, dt.date(2023, 1, 2), None]),
            "at": pa.array(
                [
                    dt.datetime(2024, 1, 1, 1, 2, 3, 456789, tzinfo=UTC),
                    dt.datetime(2023, 6, 1, 0, 0, 0, 999, tzinfo=UTC),
                    None,
                    None,
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "person": pa.array(
                [{"name": "x", "age": 3}, {"name": None, "age": 9}, None, {"name": "y", "age": 1}]
            ),
            "tags": [["a"], [], None, ["b", "c"]],
            "price": pa.array([1, 2, 3, 4], pa.decimal128(10, 2)),
            "blob": [b"\x00", b"\x01", None, b"\x02"],
        }
    )


def test_statistics_across_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "part.parquet"
    pq.write_table(records(), path, row_group_size=2)
    stats = orjson.loads(file_statistics(pq.read_metadata(path)))

    assert stats == {
        "numRecords": 4,
        "minValues": {
            "_id": "a",
            "count": 1,
            "ratio": 0.5,
            "flag": False,
            "day": "2023-01-02",
            "at": "2023-06-01T00:00:00.000Z",  # cut down to its millisecond
            "person": {"name": "x", "age": 1},
        },
        "maxValues": {
            "_id": "c",
            "count": 7,
            "ratio": 2.5,
            "flag": True,
            "day": "2024-05-01",
            "at": "2024-01-01T01:02:03.457Z",  # raised to the next
            "person": {"name": "y", "age": 9},
        },
        "nullCount": {
            "_id": 1,
            "count": 1,
            "ratio": 1,
            "flag": 1,
            "day": 2,
            "at": 2,
            "person": {"name": 2, "age": 1},
            "price": 0,
            "blob": 1,
        },
    }


def test_the_columns_delta_rs_gives_a_range_have_the_same(tmp_path: Path) -> None:
    table = records().drop_columns(["ratio", "at", "tags", "price", "blob"])
    write_deltalake(str(tmp_path / "table"), table)
    log = (tmp_path / "table" / "_delta_log" / f"{0:020d}.json").read_bytes().splitlines()
    [theirs] = [action["add"] for action in map(orjson.loads, log) if "add" in action]
    written = tmp_path / "table" / theirs["path"]

    ours = orjson.loads(file_statistics(pq.read_metadata(written)))
    expected = orjson.loads(theirs["stats"])
    for key in ("numRecords", "minValues", "maxValues", "nullCount"):
        assert ours[key] == expected[key], key


def test_a_file_without_rows_has_its_count_alone(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(records().slice(0, 0), path)
    assert orjson.loads(file_statistics(pq.read_metadata(path))) == {"numRecords": 0}
