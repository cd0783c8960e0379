"""A batch's refused records as diagnostics: their kinds, the files written, the catalog's
errors (each refused record counted once)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson

from xdm_connector.local_platform.diagnostics import (
    ROW_ERRORS,
    Diagnostics,
    Refusal,
    catalog_errors,
)
from xdm_connector.xdm.schema import XedSchema
from xdm_connector.xdm.validation import RecordValidator

SCHEMA = XedSchema(
    {
        "type": "object",
        "properties": {"id": {"type": "string"}, "size": {"type": "integer"}},
        "required": ["id"],
    },
    class_id="https://example.com/classes/thing",
)


def refusal_of(record: dict[str, object]) -> Refusal:
    problems = [(e.path, e.reason) for e in RecordValidator(SCHEMA).errors(record)]
    assert problems
    return Refusal.invalid(problems)


def test_a_missing_required_field_is_its_own_kind_whatever_else_is_wrong() -> None:
    assert refusal_of({"size": 3}).kind == "required"
    assert refusal_of({"size": "big"}).kind == "required"
    assert refusal_of({"id": "1", "size": "big"}).kind == "conversion"
    assert Refusal.corrupt().kind == "parsing"


def test_the_catalog_counts_each_refused_record_once_under_its_kind() -> None:
    counts = Counter({"parsing": 2, "required": 1, "conversion": 4})
    errors = catalog_errors(counts, 10, diagnostics=True)
    assert errors[0]["code"] == "INGEST-1212-400"
    assert errors[0]["description"].startswith(
        "Encountered 7 errors in the data. Successfully ingested 10 rows."
    )
    assert "recordCount" not in errors[0]
    assert [(e["code"], e["recordCount"]) for e in errors[1:]] == [
        ("INGEST-1401-400", 2),
        ("INGEST-1555-400", 1),
        ("INGEST-1560-400", 4),
    ]
    [undiagnosed] = catalog_errors(counts, 0, diagnostics=False)
    assert undiagnosed["code"] == "INGEST-1211-400"
    assert catalog_errors(Counter(), 10, diagnostics=True) == []


def test_row_error_files_are_written_only_when_asked_and_only_when_they_hold_rows(
    tmp_path: Path,
) -> None:
    with Diagnostics(tmp_path, row_errors=True) as diagnostics:
        diagnostics.refuse({"size": 3}, refusal_of({"size": 3}), "part-0.json", 2)
    assert [p.name for p in (tmp_path / ROW_ERRORS).iterdir()] == ["conversion_errors_0.json"]
    [row] = [
        orjson.loads(line)
        for line in (tmp_path / ROW_ERRORS / "conversion_errors_0.json").read_bytes().splitlines()
    ]
    assert row == {
        "size": 3,
        "_errors": [{"column": "/id", "code": "1555", "message": "required field is missing"}],
        "_filename": "part-0.json",
    }
    [failed] = [
        orjson.loads(line) for line in (tmp_path / "failed.jsonl").read_bytes().splitlines()
    ]
    assert failed == {
        "_errors": [{"code": "1401-400", "message": "/id: required field is missing"}],
        "_file": "part-0.json",
        "_line": 2,
        "record": {"size": 3},
    }
    assert diagnostics.counts == Counter({"required": 1})

    quiet = tmp_path / "quiet"
    quiet.mkdir()
    with Diagnostics(quiet, row_errors=False) as diagnostics:
        diagnostics.refuse("{oops", Refusal.corrupt(), "part-0.json", 1)
    assert not (quiet / ROW_ERRORS).exists()
    assert (quiet / "failed.jsonl").read_bytes().count(b"\n") == 1
