"""The platform's refused records and guardrails, as the destination reads them."""

from __future__ import annotations

from pathlib import Path

import orjson

from xdm_connector.destinations.aep.destination import longest_line, refused_count, row_refusals
from xdm_connector.destinations.base import RefusedRecord


def line(document: object) -> bytes:
    return orjson.dumps(document)


def test_a_row_error_gives_one_refusal_per_error_with_the_records_key() -> None:
    row = {
        "_id": "7",
        "person": {"gender": "robot", "name": {"firstName": 5}},
        "_errors": [
            {"column": "/person/gender", "code": "1560", "message": "not one of 'male', ..."},
            {"column": "/person/name/firstName", "code": "1560", "message": "expected string"},
        ],
        "_filename": "part-00000.parquet",
    }
    assert row_refusals(line(row)) == [
        RefusedRecord("7", "/person/gender", "'robot'", "not one of 'male', ...", "1560"),
        RefusedRecord("7", "/person/name/firstName", "5", "expected string", "1560"),
    ]


def test_without_an_id_the_key_is_the_primary_identity() -> None:
    identities = {
        "ECID": [{"id": "ecid-1"}],
        "Email": [{"id": "ann@example.com", "primary": True}],
    }
    row = {
        "identityMap": identities,
        "emails": [{"address": "x"}],
        "_errors": [{"column": "/emails/0/address", "code": "1560", "message": "not an email"}],
    }
    [refusal] = row_refusals(line(row))
    assert (refusal.key, refusal.value) == ("ann@example.com", "'x'")
    del identities["Email"]
    assert row_refusals(line(row))[0].key == "ecid-1"
    del row["identityMap"]
    assert row_refusals(line(row))[0].key is None


def test_a_corrupt_row_and_lines_that_are_no_row_error() -> None:
    corrupt = {"_corrupt_record": "{not json", "_errors": [{"code": "1401", "message": "corrupt"}]}
    assert row_refusals(line(corrupt)) == [
        RefusedRecord(None, "", "'{not json'", "corrupt", "1401")
    ]
    assert row_refusals(b"{not json") == []
    assert row_refusals(b"[1, 2]") == []
    assert row_refusals(line({"_id": "1"})) == []


def test_the_refused_count_is_the_kinds_counts_else_the_failed_metric() -> None:
    errors = [
        {"code": "INGEST-1212-400", "description": "Encountered 5 errors"},
        {"code": "INGEST-1555-400", "recordCount": 2},
        {"code": "INGEST-1560-400", "recordCount": 3},
        {"code": "INGEST-1213-400", "recordCount": 99},
    ]
    assert refused_count(errors, {"failedRecordCount": 7}) == 5
    assert refused_count(errors[:1], {"failedRecordCount": 7}) == 7
    assert refused_count([{"code": "X", "recordCount": True}], {"failedRecordCount": -1}) == 0


def test_the_longest_line_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "part-00000.jsonl"
    path.write_bytes(b"ab\n" + b"x" * (3 << 20) + b"\nabc")
    assert longest_line(path) == 3 << 20
    path.write_bytes(b"")
    assert longest_line(path) == 0
