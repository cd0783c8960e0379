"""Batch files: Parquet and JSON Lines, rolled at a size limit, named deterministically."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from xdm_connector.domain.file_formats import FileFormat
from xdm_connector.errors import InvalidInput
from xdm_connector.pipeline import files
from xdm_connector.pipeline.files import BatchFileWriter, json_lines, json_threads, start_writeback
from xdm_connector.settings import ParquetCompression, Settings

IDENTITY = pa.struct([("id", pa.string()), ("primary", pa.bool_())])
SCHEMA = pa.schema(
    [
        ("_id", pa.string()),
        ("person", pa.struct([("birthDate", pa.date32()), ("score", pa.float64())])),
        ("identityMap", pa.map_(pa.string(), pa.list_(IDENTITY))),
        ("modified", pa.timestamp("us", tz="UTC")),
    ]
)


def records(count: int, start: int = 0) -> pa.RecordBatch:
    rows = [
        {
            "_id": f"profile-{i:06d}",
            "person": {"birthDate": dt.date(1980, 1, 1) + dt.timedelta(days=i), "score": None}
            if i % 3
            else None,
            "identityMap": [("Email", [{"id": f"p{i}@example.com", "primary": True}])]
            if i % 2
            else None,
            "modified": dt.datetime(2024, 1, 31, 12, 30, 0, i % 1000, tzinfo=dt.UTC),
        }
        for i in range(start, start + count)
    ]
    return pa.RecordBatch.from_pylist(rows, schema=SCHEMA)


@pytest.mark.parametrize("file_format", ["parquet", "jsonl"])
def test_files_roll_at_the_size_limit(tmp_path: Path, file_format: FileFormat) -> None:
    writer = BatchFileWriter(
        tmp_path, file_format=file_format, schema=SCHEMA, max_file_bytes=20_000
    )
    for start in range(0, 6000, 1500):
        writer.write(records(1500, start))
    written = writer.close()

    assert len(written) > 2
    extension = "parquet" if file_format == "parquet" else "jsonl"
    assert [w.name for w in written] == [f"part-{i:05d}.{extension}" for i in range(len(written))]
    assert sorted(p.name for p in tmp_path.iterdir()) == [w.name for w in written]
    assert sum(w.rows for w in written) == 6000
    for file in written:
        assert file.path == tmp_path / file.name
        assert file.bytes == file.path.stat().st_size
    assert all(file.bytes >= 20_000 for file in written[:-1])
    assert all(file.bytes < 2 * 20_000 for file in written)


def test_parquet_reads_back_equal_to_what_was_written(tmp_path: Path) -> None:
    writer = BatchFileWriter(tmp_path, file_format="parquet", schema=SCHEMA, max_file_bytes=30_000)
    batches = [records(1000, start) for start in range(0, 3000, 1000)]
    for batch in batches:
        writer.write(batch)
    written = writer.close()

    read = pa.concat_tables(pq.read_table(file.path) for file in written)
    assert read.schema == SCHEMA
    assert read.equals(pa.Table.from_batches(batches))
    assert [pq.read_metadata(file.path).num_rows for file in written] == [w.rows for w in written]


def test_json_lines_are_xed_documents(tmp_path: Path) -> None:
    writer = BatchFileWriter(tmp_path, file_format="jsonl", schema=SCHEMA)
    writer.write(records(4))
    [written] = writer.close()

    lines = written.path.read_bytes().splitlines()
    assert written.rows == len(lines) == 4
    assert [orjson.loads(line) for line in lines] == [
        {"_id": "profile-000000", "modified": "2024-01-31T12:30:00Z"},
        {
            "_id": "profile-000001",
            "person": {"birthDate": "1980-01-02"},
            "identityMap": {"Email": [{"id": "p1@example.com", "primary": True}]},
            "modified": "2024-01-31T12:30:00.000001Z",
        },
        {
            "_id": "profile-000002",
            "person": {"birthDate": "1980-01-03"},
            "modified": "2024-01-31T12:30:00.000002Z",
        },
        {
            "_id": "profile-000003",
            "identityMap": {"Email": [{"id": "p3@example.com", "primary": True}]},
            "modified": "2024-01-31T12:30:00.000003Z",
        },
    ]


def test_json_lines_of_an_empty_batch_is_empty() -> None:
    assert json_lines(records(0)) == b""


def test_the_same_rows_give_the_same_files(tmp_path: Path) -> None:
    def write(folder: Path) -> list[tuple[str, int, bytes]]:
        writer = BatchFileWriter(folder, file_format="jsonl", schema=SCHEMA, max_file_bytes=5_000)
        writer.write(records(300))
        return [(w.name, w.rows, w.path.read_bytes()) for w in writer.close()]

    assert write(tmp_path / "one") == write(tmp_path / "two")


@pytest.mark.parametrize("threads", [1, 2])
def test_json_text_keeps_the_batch_order_whatever_its_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    monkeypatch.setattr("xdm_connector.pipeline.files.json_threads", lambda: threads)
    batches = [records(40 + 7 * index) for index in range(12)]
    writer = BatchFileWriter(tmp_path, file_format="jsonl", schema=SCHEMA)
    for batch in batches:
        writer.write(batch)
    [written] = writer.close()
    assert written.path.read_bytes() == b"".join(json_lines(batch) for batch in batches)


def test_json_text_has_two_threads_only_beside_more_than_two_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for cores, threads in ((1, 1), (2, 1), (3, 2), (16, 2)):
        monkeypatch.setattr("os.sched_getaffinity", lambda _pid, n=cores: set(range(n)))
        assert json_threads() == threads


def test_no_rows_no_file(tmp_path: Path) -> None:
    writer = BatchFileWriter(tmp_path / "out", file_format="parquet", schema=SCHEMA)
    writer.write(records(0))
    assert writer.close() == []
    assert writer.close() == []
    assert not (tmp_path / "out").exists()


def test_a_batch_of_another_schema_is_refused(tmp_path: Path) -> None:
    writer = BatchFileWriter(tmp_path, file_format="parquet", schema=SCHEMA)
    with pytest.raises(InvalidInput, match="differs"):
        writer.write(pa.record_batch({"_id": ["x"]}))
    writer.close()


def test_writing_after_close_is_refused(tmp_path: Path) -> None:
    writer = BatchFileWriter(tmp_path, file_format="parquet", schema=SCHEMA)
    writer.write(records(2))
    assert len(writer.close()) == 1
    with pytest.raises(InvalidInput, match="closed"):
        writer.write(records(2))


@pytest.mark.parametrize(("file_format", "limit"), [("csv", 10), ("parquet", 0)])
def test_bad_settings_are_refused(tmp_path: Path, file_format: Any, limit: int) -> None:
    with pytest.raises(InvalidInput):
        BatchFileWriter(tmp_path, file_format=file_format, schema=SCHEMA, max_file_bytes=limit)


def test_a_failure_in_the_writer_thread_is_raised_by_the_next_call(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    writer = BatchFileWriter(blocked, file_format="parquet", schema=SCHEMA)
    writer.write(records(10))
    with pytest.raises(OSError, match=r"not-a-folder|Not a directory|exists"):
        writer.close()
    with pytest.raises(InvalidInput, match="closed"):
        writer.write(records(1))


def test_json_lines_made_side_by_side_keep_the_order_of_the_batches(tmp_path: Path) -> None:
    writer = BatchFileWriter(tmp_path, file_format="jsonl", schema=SCHEMA, max_file_bytes=40_000)
    sizes = [1, 700, 3, 250, 0, 90, 1200, 5]
    starts = [sum(sizes[:index]) for index in range(len(sizes))]
    for start, size in zip(starts, sizes, strict=True):
        writer.write(records(size, start))
    written = writer.close()
    assert len(written) > 3
    text = b"".join(file.path.read_bytes() for file in written)
    assert text == json_lines(records(sum(sizes)))
    assert [file.rows for file in written] == [
        len(file.path.read_bytes().splitlines()) for file in written
    ]


def test_a_failure_making_json_text_is_raised_by_a_later_call(tmp_path: Path) -> None:
    schema = pa.schema([("_id", pa.string()), ("blob", pa.binary())])
    writer = BatchFileWriter(tmp_path, file_format="jsonl", schema=schema)
    writer.write(pa.RecordBatch.from_pylist([{"_id": "a", "blob": b"x"}], schema=schema))
    with pytest.raises(InvalidInput, match="JSON Lines cannot hold"):
        writer.close()


@pytest.mark.parametrize(
    ("compression", "codec"),
    [
        (None, "ZSTD"),
        ("snappy", "SNAPPY"),
        ("lz4", "LZ4"),
        ("gzip", "GZIP"),
        ("none", "UNCOMPRESSED"),
    ],
)
def test_parquet_files_use_the_codec_asked_for(
    tmp_path: Path, compression: ParquetCompression | None, codec: str
) -> None:
    options = {} if compression is None else {"compression": compression}
    writer = BatchFileWriter(tmp_path, file_format="parquet", schema=SCHEMA, **options)
    writer.write(records(100))
    [written] = writer.close()

    metadata = pq.read_metadata(written.path)
    columns = metadata.row_group(0)
    assert {columns.column(i).compression for i in range(columns.num_columns)} == {codec}
    assert pq.read_table(written.path).to_batches()[0].equals(records(100))


def test_the_codec_setting_is_read_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDMC_PARQUET_COMPRESSION", "snappy")
    assert Settings(home=tmp_path).parquet_compression == "snappy"
    monkeypatch.delenv("XDMC_PARQUET_COMPRESSION")
    assert Settings(home=tmp_path).parquet_compression == "zstd"
    with pytest.raises(ValidationError):
        Settings(home=tmp_path, parquet_compression="brotli")  # type: ignore[arg-type]


@pytest.mark.parametrize("file_format", ["parquet", "jsonl"])
def test_each_slice_written_is_handed_to_the_disk_before_the_file_closes(
    tmp_path: Path, file_format: FileFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[tuple[str, int]] = []

    def record(sink: IO[bytes]) -> None:
        sink.flush()
        handed.append((Path(sink.name).name, Path(sink.name).stat().st_size))

    monkeypatch.setattr(files, "start_writeback", record)
    writer = BatchFileWriter(
        tmp_path, file_format=file_format, schema=SCHEMA, max_file_bytes=20_000
    )
    for start in range(0, 6000, 1500):
        writer.write(records(1500, start))
    written = writer.close()

    assert {name for name, _ in handed} == {file.name for file in written}
    for file in written:
        sizes = [size for name, size in handed if name == file.name]
        assert sizes == sorted(sizes)
        assert 0 < sizes[-1] <= file.bytes
        if file_format == "parquet":  # a slice is a row group
            assert len(sizes) == pq.read_metadata(file.path).num_row_groups


def test_starting_the_writeback_flushes_what_python_buffers(tmp_path: Path) -> None:
    path = tmp_path / "part-00000.parquet"
    with path.open("wb") as sink:
        sink.write(b"x" * 100)
        assert path.stat().st_size == 0  # still in Python's buffer
        start_writeback(sink)
        assert path.stat().st_size == 100
    assert path.read_bytes() == b"x" * 100


def test_the_writeback_is_linux_s_sync_file_range_and_nothing_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (files._sync_file_range() is not None) == sys.platform.startswith("linux")
    monkeypatch.setattr(files, "_WRITEBACK", None)
    path = tmp_path / "part-00000.jsonl"
    with path.open("wb") as sink:
        sink.write(b"{}\n")
        start_writeback(sink)  # no such call here: nothing done, nothing raised
        assert path.stat().st_size == 0
