"""The columnar checks give the record validator's verdicts, record by record."""

from __future__ import annotations

import re
import sys
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xdm_connector.pipeline.files import json_lines
from xdm_connector.pipeline.shaping import RecordShaper
from xdm_connector.pipeline.sizes import oversized_rows
from xdm_connector.pipeline.validate import RecordChecks
from xdm_connector.xdm import SchemaRegistry, XedSchema
from xdm_connector.xdm.validation import PROFILE_RECORD_LIMIT, SPACES, RecordValidator

CUSTOM = {
    "default": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "city": {"type": "string", "pattern": r"\w+ville$"},
            "memo": {"type": "string", "pattern": "^(?!x)"},  # RE2 has no look-ahead
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
            "notes": {"type": "array", "items": {"type": "string"}},
            "scores": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 10},
            },
            "site": {"type": "string", "format": "uri"},
            "ref": {"type": "string", "format": "uri-reference"},
            "contact": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "mail": {"type": "string", "format": "email"},
                },
            },
        },
    }
}
BASE = "/_customer/default"
TARGETS = {
    "/identityMap/Email/0/id": "email",
    "/identityMap/Email/0/primary": "primary",
    "/personalEmail/address": "email",
    f"{BASE}/code": "code",
    f"{BASE}/city": "city",
    f"{BASE}/memo": "memo",
    f"{BASE}/tags/0": "tag0",
    f"{BASE}/tags/1": "tag1",
    f"{BASE}/notes/0": "note0",
    f"{BASE}/notes/1": "note1",
    f"{BASE}/scores/a": "score_a",
    f"{BASE}/scores/b": "score_b",
    f"{BASE}/site": "site",
    f"{BASE}/ref": "ref",
    f"{BASE}/contact/name": "name",
    f"{BASE}/contact/mail": "mail",
}
COLUMNS: dict[str, pa.DataType] = {
    "email": pa.string(),
    "primary": pa.bool_(),
    "code": pa.string(),
    "city": pa.string(),
    "memo": pa.string(),
    "tag0": pa.string(),
    "tag1": pa.string(),
    "note0": pa.string(),
    "note1": pa.string(),
    "score_a": pa.int64(),
    "score_b": pa.int64(),
    "site": pa.string(),
    "ref": pa.string(),
    "name": pa.string(),
    "mail": pa.string(),
}


@pytest.fixture(scope="module")
def schema() -> XedSchema:
    registry = SchemaRegistry.packaged()
    return registry.compose("profile", ("identitymap", "profile-personal-details"), custom=CUSTOM)


def good_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "email": "ana@example.com",
        "primary": True,
        "code": "FR",
        "city": "Abbeville",
        "memo": "a memo",
        "tag0": "ab",
        "tag1": None,
        "note0": "a note",
        "note1": None,
        "score_a": 3,
        "score_b": None,
        "site": "https://example.com/a",
        "ref": "/a/b",
        "name": "Ana",
        "mail": "ana@example.com",
    }
    return {**row, **changes}


def shaped(schema: XedSchema, rows: list[dict[str, Any]]) -> pa.RecordBatch:
    batch = pa.RecordBatch.from_pylist(rows, schema=pa.schema(COLUMNS))
    shaper = RecordShaper(schema.root, TARGETS)
    result = shaper.shape(batch)
    assert not result.rejected_count
    return result.records


def validator_verdicts(schema: XedSchema, records: pa.RecordBatch) -> list[bool]:
    validator = RecordValidator(schema)
    lines = json_lines(records).splitlines()
    return [bool(validator.errors(orjson.loads(line))) for line in lines]


def check(schema: XedSchema, rows: list[dict[str, Any]]) -> tuple[list[bool], list[bool]]:
    """The columnar verdicts and the record validator's, one per row."""
    records = shaped(schema, rows)
    checked = RecordChecks(schema, records.schema).check(records)
    return checked.rejected.to_pylist(), validator_verdicts(schema, records)


def test_valid_records_pass(schema: XedSchema) -> None:
    columnar, expected = check(schema, [good_row(), good_row(tag0=None, score_a=None)])
    assert columnar == expected == [False, False]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"code": "fr"}, f"{BASE}/code"),
        ({"code": "FR\n"}, f"{BASE}/code"),  # ``$`` of Python's ``re`` passes it, RE2's not
        ({"city": "Éville"}, f"{BASE}/city"),  # ``\w`` takes letters beyond ASCII
        ({"city": "Ville"}, f"{BASE}/city"),
        ({"memo": "x marks"}, f"{BASE}/memo"),
        ({"tag1": "abcd"}, f"{BASE}/tags/*"),
        ({"score_b": 11}, f"{BASE}/scores/*"),
        ({"score_a": -1}, f"{BASE}/scores/*"),
        ({"site": "no scheme"}, f"{BASE}/site"),
        ({"site": "ünï:x"}, f"{BASE}/site"),
        ({"ref": "a\u2003b"}, f"{BASE}/ref"),
        ({"mail": "ünï@exämple.com"}, f"{BASE}/contact/mail"),
        ({"mail": "a@b"}, f"{BASE}/contact/mail"),
        ({"mail": "a\u00a0b@example.com"}, f"{BASE}/contact/mail"),
        ({"name": None}, f"{BASE}/contact/name"),
        ({"primary": False}, "/identityMap"),
    ],
)
def test_each_check_agrees_with_the_validator(
    schema: XedSchema, changes: dict[str, Any], path: str
) -> None:
    rows = [good_row(), good_row(**changes), good_row()]
    records = shaped(schema, rows)
    checked = RecordChecks(schema, records.schema).check(records)
    assert checked.rejected.to_pylist() == validator_verdicts(schema, records)
    refused = {problem.path for problem in checked.problems}
    if checked.rejected_count:
        assert refused == {path}
        assert {problem.row for problem in checked.problems} == {1}


def test_unicode_passes_where_the_validator_lets_it(schema: XedSchema) -> None:
    rows = [good_row(mail="ünï@exämple.com", city="Bréville", ref="/ä/ö")]
    assert check(schema, rows) == ([False], [False])


def test_problems_are_sampled_in_row_order_up_to_the_limit(schema: XedSchema) -> None:
    rows = [good_row(code="x" if index % 2 else "FR") for index in range(10)]
    records = shaped(schema, rows)
    checked = RecordChecks(schema, records.schema, max_problems=3).check(records)
    assert checked.rejected_count == 5
    assert [problem.row for problem in checked.problems] == [1, 3, 5]


text = st.text(st.characters(codec="utf-8"), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "code": text | st.sampled_from(["FR", "DE\n", "fr"]),
                "city": text | st.sampled_from(["Abbeville", "Bréville", "ville"]),
                "memo": st.none() | text,
                "tag1": st.none() | text,
                "score_b": st.none() | st.integers(-3, 13),
                "site": text | st.sampled_from(["http://x", "mailto:a@b", "é:x", "a b:c"]),
                "ref": text,
                "mail": st.none() | text | st.sampled_from(["a@b.c", "ü@ö.ä", "a@b..c"]),
                "name": st.none() | text,
            }
        ),
        min_size=1,
        max_size=8,
    )
)
def test_any_values_get_the_validator_verdicts(
    schema: XedSchema, changes: list[dict[str, Any]]
) -> None:
    columnar, expected = check(schema, [good_row(**change) for change in changes])
    assert columnar == expected


# -- the record size limit --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "over"),
    [
        ({"note0": "x" * 60_000, "note1": "y" * 50_000}, True),  # over, by an array
        ({"note0": "x" * 20_000}, False),  # its bound passes the limit, its text does not
        ({"note0": '"' * 52_000}, True),  # escaped: two bytes each
        ({"note0": "\x01" * 18_000}, True),  # six bytes each
        ({"name": "é" * 52_000}, True),  # two UTF-8 bytes each
    ],
)
def test_the_record_size_limit(schema: XedSchema, changes: dict[str, Any], over: bool) -> None:
    rows = [good_row(), good_row(**changes)]
    columnar, expected = check(schema, rows)
    assert columnar == expected == [False, over]
    records = shaped(schema, rows)
    sizes = [len(line) for line in json_lines(records).splitlines()]
    assert (sizes[1] > PROFILE_RECORD_LIMIT) is over


def test_oversized_rows_of_a_sliced_batch(schema: XedSchema) -> None:
    rows = [good_row(), good_row(note0="x" * 60_000, note1="y" * 50_000), good_row()]
    records = shaped(schema, rows)
    assert oversized_rows(records, PROFILE_RECORD_LIMIT) == pa.array([False, True, False])
    assert oversized_rows(records.slice(1), PROFILE_RECORD_LIMIT) == pa.array([True, False])
    assert oversized_rows(records.slice(2), PROFILE_RECORD_LIMIT) is None
    assert oversized_rows(records.slice(0, 0), PROFILE_RECORD_LIMIT) is None


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "note0": st.none() | text,
                "note1": st.none() | text,
                "name": st.none() | text,
                "score_a": st.none() | st.integers(0, 10),
            }
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(20, 400),
)
def test_oversized_rows_agree_with_the_json_size(
    schema: XedSchema, changes: list[dict[str, Any]], limit: int
) -> None:
    records = shaped(schema, [good_row(**change) for change in changes])
    sizes = [len(line) for line in json_lines(records).splitlines()]
    over = oversized_rows(records, limit)
    flags = [False] * len(sizes) if over is None else over.to_pylist()
    assert flags == [size > limit for size in sizes]


# -- the patterns shared with the validator ----------------------------------------------------


def test_spaces_are_the_white_space_of_python_and_of_re2() -> None:
    characters = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    python = [re.fullmatch(r"\s", c) is not None for c in characters]
    assert [re.fullmatch(f"[{SPACES}]", c) is not None for c in characters] == python
    re2 = pc.match_substring_regex(pa.array(characters), f"^[{SPACES}]$")
    assert re2.to_pylist() == python


@settings(max_examples=200, deadline=None)
@given(st.lists(text, max_size=10))
def test_printable_ascii_is_what_re2_and_re_read_alike(values: list[str]) -> None:
    printable = pc.ascii_is_printable(pa.array(values, pa.string())).to_pylist()
    assert printable == [re.fullmatch(r"[ -~]*", value) is not None for value in values]
