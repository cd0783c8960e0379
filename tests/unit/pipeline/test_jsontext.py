"""Columnar JSON text: byte for byte what orjson makes of the same records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xdm_connector.errors import InvalidInput
from xdm_connector.pipeline.files import json_lines

UTC = dt.UTC
IDENTITY = pa.struct([("id", pa.string()), ("primary", pa.bool_())])
SCHEMA = pa.schema(
    [
        ("_id", pa.string()),
        ("person", pa.struct([("birthDate", pa.date32()), ("score", pa.float64())])),
        ("visits", pa.int32()),
        ("vip", pa.bool_()),
        ("identityMap", pa.map_(pa.string(), pa.list_(IDENTITY))),
        ("tags", pa.list_(pa.string())),
        ("modified", pa.timestamp("us", tz="UTC")),
        ("seen", pa.timestamp("us")),
        ("paris", pa.timestamp("ms", tz="Europe/Paris")),
    ]
)


def by_orjson(batch: pa.RecordBatch) -> bytes:
    """The reference: every record through Python objects and orjson, nulls left out."""

    def clean(value: Any, kind: pa.DataType) -> Any:
        if value is None:
            return None
        if pa.types.is_struct(kind):
            cleaned = {f.name: clean(value[f.name], f.type) for f in kind}
            return {name: item for name, item in cleaned.items() if item is not None}
        if pa.types.is_map(kind):
            return {key: clean(item, kind.item_type) for key, item in value}
        if pa.types.is_list(kind):
            return [clean(item, kind.value_type) for item in value]
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    record_type = pa.struct(list(batch.schema))
    options = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
    return b"".join(
        orjson.dumps(clean(record, record_type), option=options) + b"\n"
        for record in batch.to_pylist()
    )


TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
MOMENT = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1))
IDENTITIES = st.lists(st.none() | st.fixed_dictionaries({"id": st.none() | TEXT, "primary": st.booleans()}), max_size=3)  # fmt: skip
RECORD = st.fixed_dictionaries(
    {
        "_id": st.none() | TEXT,
        "person": st.none()
        | st.fixed_dictionaries(
            {
                "birthDate": st.none() | st.dates(),
                "score": st.none() | st.floats(allow_nan=False, allow_infinity=False),
            }
        ),
        "visits": st.none() | st.integers(-(2**31), 2**31 - 1),
        "vip": st.none() | st.booleans(),
        "identityMap": st.none() | st.lists(st.tuples(TEXT, st.none() | IDENTITIES), max_size=3, unique_by=lambda pair: pair[0]),
        "tags": st.none() | st.lists(st.none() | TEXT, max_size=4),
        "modified": st.none() | MOMENT.map(lambda moment: moment.replace(tzinfo=UTC)),
        "seen": st.none() | MOMENT,
        "paris": st.none() | MOMENT.map(lambda m: m.replace(microsecond=m.microsecond // 1000 * 1000, tzinfo=UTC)),
    }
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(RECORD, max_size=8), st.integers(0, 3))
def test_any_records_match_orjson(rows: list[dict[str, Any]], start: int) -> None:
    batch = pa.RecordBatch.from_pylist(rows, schema=SCHEMA).slice(start)
    assert json_lines(batch) == by_orjson(batch)


@pytest.mark.parametrize(
    "text",
    [
        'say "hi"',
        "back\\slash",
        "line\nbreak\r\ttab",
        "bell\x07 nul\x00 esc\x1b",
        "\b\f",
        "é€😀",
        "",
    ],
)
def test_strings_are_escaped_like_orjson(text: str) -> None:
    batch = pa.RecordBatch.from_pylist([{"s": text}, {"s": "plain"}, {"s": None}])
    assert json_lines(batch) == by_orjson(batch)


@pytest.mark.parametrize("number", [1.0, -0.0, 0.1, 1e20, 1.5e-7, 123456789.125, 1e16, 2.5e300])
def test_numbers_are_written_like_orjson(number: float) -> None:
    batch = pa.RecordBatch.from_pylist([{"x": number}])
    assert orjson.loads(json_lines(batch)) == {"x": number}
    assert json_lines(batch) == by_orjson(batch)


def test_date_times_drop_zero_microseconds_and_are_utc() -> None:
    batch = pa.RecordBatch.from_pylist(
        [
            {"at": dt.datetime(2024, 1, 31, 12, 30, tzinfo=UTC)},
            {"at": dt.datetime(2024, 1, 31, 12, 30, 0, 5, tzinfo=UTC)},
        ],
        schema=pa.schema([("at", pa.timestamp("us", tz="UTC"))]),
    )
    assert json_lines(batch) == (
        b'{"at":"2024-01-31T12:30:00Z"}\n{"at":"2024-01-31T12:30:00.000005Z"}\n'
    )


def test_an_object_without_members_is_empty_and_binary_is_refused() -> None:
    empty = pa.RecordBatch.from_pylist([{"a": None}], schema=pa.schema([("a", pa.string())]))
    assert json_lines(empty) == b"{}\n"
    binary = pa.RecordBatch.from_pylist([{"b": b"x"}])
    with pytest.raises(InvalidInput, match="binary"):
        json_lines(binary)
