"""Shaping flat columns into XDM records: types, conversions, rejections, nesting."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa
import pytest

from tests.unit.pipeline.trees import container, leaf, obj, profile_root
from xdm_connector.errors import InvalidInput
from xdm_connector.pipeline.shaping import Problem, RecordShaper, arrow_type
from xdm_connector.xdm.fields import XdmField, XdmType

UTC = dt.UTC


def shape_one(path: str, values: list[Any], kind: pa.DataType | None = None) -> RecordShaper:
    """A shaper of one target ``path`` fed from column ``c``."""
    return RecordShaper(profile_root(), {path: "c"})


def run(path: str, values: list[Any], kind: pa.DataType | None = None) -> tuple[list[Any], Any]:
    """Shape column ``c`` into ``path``; answers the leaf values kept and the shaped batch."""
    batch = pa.record_batch({"c": pa.array(values, type=kind)})
    shaped = RecordShaper(profile_root(), {path: "c"}).shape(batch)
    steps = path.strip("/").split("/")
    kept = []
    for record in shaped.records.to_pylist():
        value: Any = record
        for step in steps:
            value = None if value is None else value[step]
        kept.append(value)
    return kept, shaped


# -- arrow types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xdm", "expected"),
    [
        (leaf("/a", XdmType.STRING), pa.string()),
        (leaf("/a", XdmType.INTEGER), pa.int64()),
        (leaf("/a", XdmType.INTEGER, integer_bits=8), pa.int8()),
        (leaf("/a", XdmType.INTEGER, integer_bits=16), pa.int16()),
        (leaf("/a", XdmType.INTEGER, integer_bits=32), pa.int32()),
        (leaf("/a", XdmType.INTEGER, integer_bits=64), pa.int64()),
        (leaf("/a", XdmType.NUMBER), pa.float64()),
        (leaf("/a", XdmType.BOOLEAN), pa.bool_()),
        (leaf("/a", XdmType.DATE), pa.date32()),
        (leaf("/a", XdmType.DATE_TIME), pa.timestamp("us", tz="UTC")),
        (
            obj("/o", leaf("/o/x", XdmType.STRING), leaf("/o/y", XdmType.NUMBER)),
            pa.struct([("x", pa.string()), ("y", pa.float64())]),
        ),
        (container("/l", XdmType.ARRAY, leaf("/l/*", XdmType.DATE)), pa.list_(pa.date32())),
        (
            container("/m", XdmType.MAP, leaf("/m/*", XdmType.BOOLEAN)),
            pa.map_(pa.string(), pa.bool_()),
        ),
    ],
)
def test_arrow_type_of_each_xdm_type(xdm: XdmField, expected: pa.DataType) -> None:
    assert arrow_type(xdm) == expected


def test_arrow_type_of_an_array_without_items_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no item type"):
        arrow_type(XdmField(path="/l", name="l", type=XdmType.ARRAY))


# -- targets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/person/nickname", "no field 'nickname'"),
        ("/person/name", "is an object"),
        ("/identityMap/Email", "is an array"),
        ("/identityMap/*/0/id", "no field '\\*'"),
        ("/identityMap/Email/first/id", "no field 'first'"),
        ("/segments/x", "no field 'x'"),
        ("/person/birthDate/year", "no field 'year'"),
        ("person/birthDate", "not an XED path"),
        ("/person//birthDate", "not an XED path"),
        ("/", "not an XED path"),
    ],
)
def test_unknown_or_unmappable_paths_are_refused(path: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        RecordShaper(profile_root(), {path: "c"})


def test_the_same_array_element_written_twice_is_refused() -> None:
    targets = {"/segments/1": "a", "/segments/01": "b"}
    with pytest.raises(InvalidInput, match="mapped twice"):
        RecordShaper(profile_root(), targets)


def test_constants_must_be_targets() -> None:
    with pytest.raises(InvalidInput, match="without a target"):
        RecordShaper(profile_root(), {"/_id": "c"}, frozenset({"/person/gender"}))


def test_a_root_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInput, match="root"):
        RecordShaper(leaf("/", XdmType.STRING), {})


def test_a_missing_column_is_reported() -> None:
    shaper = RecordShaper(profile_root(), {"/_id": "c9"})
    with pytest.raises(InvalidInput, match="no column 'c9'"):
        shaper.shape(pa.record_batch({"c0": ["x"]}))


def test_output_schema_follows_the_schema_order_whatever_the_mapping_order() -> None:
    targets = {
        "/segments/0": "c5",
        "/person/birthDate": "c2",
        "/_id": "c0",
        "/person/name/lastName": "c4",
        "/person/name/firstName": "c3",
    }
    shaper = RecordShaper(profile_root(), targets)
    assert shaper.output_schema == pa.schema(
        [
            ("_id", pa.string()),
            (
                "person",
                pa.struct(
                    [
                        (
                            "name",
                            pa.struct([("firstName", pa.string()), ("lastName", pa.string())]),
                        ),
                        ("birthDate", pa.date32()),
                    ]
                ),
            ),
            ("segments", pa.list_(pa.string())),
        ]
    )


# -- conversions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "kind", "expected"),
    [
        (["2024-01-31", " 2024-02-01 "], None, [dt.date(2024, 1, 31), dt.date(2024, 2, 1)]),
        (["2024-01-31 23:30:00", "2024-01-31T23:30:00-05:00"], None, [dt.date(2024, 1, 31)] * 2),
        ([dt.datetime(2024, 1, 31, 23, 30)], None, [dt.date(2024, 1, 31)]),
        (
            [dt.datetime(2024, 1, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))],
            pa.timestamp("us", tz="America/New_York"),
            [dt.date(2024, 2, 1)],  # the UTC date
        ),
        ([1706659200000, 0], pa.int64(), [dt.date(2024, 1, 31), dt.date(1970, 1, 1)]),
        ([dt.date(2024, 1, 31)], None, [dt.date(2024, 1, 31)]),
        (["", "   ", None], None, [None, None, None]),
    ],
)
def test_dates(values: list[Any], kind: pa.DataType | None, expected: list[Any]) -> None:
    kept, shaped = run("/person/birthDate", values, kind)
    assert kept == expected
    assert shaped.problems == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2024-01-31T12:30:00Z"], dt.datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        (["2024-01-31T12:30:00"], dt.datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        (["2024-01-31 12:30:00.123456"], dt.datetime(2024, 1, 31, 12, 30, 0, 123456, tzinfo=UTC)),
        (["2024-01-31T12:30"], dt.datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        (["2024-01-31T14:30:00+02:00"], dt.datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        (["2024-01-31T14:30:00+0200"], dt.datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        (["2024-01-31"], dt.datetime(2024, 1, 31, tzinfo=UTC)),
        ([1706704200000], dt.datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        ([dt.datetime(2024, 1, 31, 12, 30)], dt.datetime(2024, 1, 31, 12, 30, tzinfo=UTC)),
        ([dt.date(2024, 1, 31)], dt.datetime(2024, 1, 31, tzinfo=UTC)),
    ],
)
def test_date_times(values: list[Any], expected: dt.datetime) -> None:
    kept, shaped = run("/_repo/createDate", values)
    assert kept == [expected]
    assert shaped.problems == []


def test_zoned_and_zone_less_date_times_mix_in_one_column() -> None:
    kept, _ = run("/_repo/createDate", ["2024-01-31T12:30:00Z", "2024-01-31 12:30:00", None])
    at = dt.datetime(2024, 1, 31, 12, 30, tzinfo=UTC)
    assert kept == [at, at, None]


def test_zoned_date_times_are_converted_to_utc() -> None:
    paris = pa.array([dt.datetime(2024, 1, 31, 12, 30)], pa.timestamp("ms", tz="Europe/Paris"))
    kept, _ = run("/_repo/createDate", paris.to_pylist(), paris.type)
    assert kept == [dt.datetime(2024, 1, 31, 12, 30, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("values", "kind", "expected"),
    [
        ([12, -3], pa.int64(), ["12", "-3"]),
        ([1.5, 2.0], pa.float64(), ["1.5", "2"]),
        ([True, False], pa.bool_(), ["true", "false"]),
        ([dt.date(2024, 1, 31)], pa.date32(), ["2024-01-31"]),
        ([dt.datetime(2024, 1, 31, 12, 30)], pa.timestamp("us"), ["2024-01-31T12:30:00.000000Z"]),
        (["  kept as is "], pa.large_string(), ["  kept as is "]),
        ([""], pa.string(), [""]),
    ],
)
def test_strings(values: list[Any], kind: pa.DataType, expected: list[str]) -> None:
    kept, shaped = run("/_id", values, kind)
    assert kept == expected
    assert shaped.problems == []


@pytest.mark.parametrize(
    ("path", "values", "kind", "expected"),
    [
        ("/stats/visits", ["12", " -3 ", "+4"], None, [12, -3, 4]),
        ("/stats/visits", [3.0, -2.0], None, [3, -2]),
        ("/stats/age", [0, 127, -128], pa.int64(), [0, 127, -128]),
        ("/stats/score", ["1.5", "-2e3", ".5", "7"], None, [1.5, -2000.0, 0.5, 7.0]),
        ("/stats/score", [3, 4], pa.int32(), [3.0, 4.0]),
        ("/stats/vip", [1, 0, None], pa.int64(), [True, False, None]),
        ("/stats/vip", [True, False], None, [True, False]),
    ],
)
def test_numbers_and_booleans(
    path: str, values: list[Any], kind: pa.DataType | None, expected: list[Any]
) -> None:
    kept, shaped = run(path, values, kind)
    assert kept == expected
    assert shaped.problems == []


@pytest.mark.parametrize(
    ("path", "value", "kind", "reason"),
    [
        ("/person/birthDate", "31/01/2024", None, "not a valid date"),
        ("/person/birthDate", "2024-02-30", None, "not a valid date"),
        ("/person/birthDate", True, None, "not a valid date"),
        ("/person/birthDate", 1.5, None, "not a valid date"),
        ("/_repo/createDate", "yesterday", None, "not a valid date-time"),
        ("/_repo/createDate", "2024-01-31T25:00:00", None, "not a valid date-time"),
        ("/stats/visits", "12.5", None, "not a valid integer"),
        ("/stats/visits", 12.5, None, "not a valid integer"),
        ("/stats/visits", True, None, "not a valid integer"),
        ("/stats/visits", "99999999999999999999", None, "not a valid integer"),
        ("/stats/age", 128, pa.int64(), "not a valid integer of 8 bits"),
        ("/stats/score", "1,5", None, "not a valid number"),
        ("/stats/score", math.nan, None, "not a valid number"),
        ("/stats/score", "inf", None, "not a valid number"),
        ("/stats/score", False, None, "not a valid number"),
        ("/stats/vip", 2, pa.int64(), "not a valid boolean"),
        ("/stats/vip", "true", None, "not a valid boolean"),
        ("/person/gender", "robot", None, "not one of the allowed values (male, female"),
        ("/_id", [1, 2], None, "not a valid string"),
    ],
)
def test_values_that_do_not_convert_reject_their_row(
    path: str, value: Any, kind: pa.DataType | None, reason: str
) -> None:
    kept, shaped = run(path, [value, None], kind)
    assert kept == [None]
    assert shaped.rejected.to_pylist() == [True, False]
    assert shaped.rejected_count == 1
    [problem] = shaped.problems
    assert (problem.row, problem.path) == (0, path)
    assert problem.value == value or (value != value and problem.value != problem.value)
    assert problem.reason.startswith(reason)


def test_rejected_rows_are_left_out_and_the_others_keep_their_order() -> None:
    targets = {"/_id": "id", "/person/birthDate": "birth", "/stats/age": "age"}
    batch = pa.record_batch(
        {
            "id": ["a", "b", "c", "d", "e"],
            "birth": ["2000-01-01", "bad", "2001-01-01", None, "2002-02-02"],
            "age": [1, 2, 3, 300, 5],
        }
    )
    shaped = RecordShaper(profile_root(), targets).shape(batch)
    assert [r["_id"] for r in shaped.records.to_pylist()] == ["a", "c", "e"]
    assert shaped.problems == [
        Problem(1, "/person/birthDate", "bad", "not a valid date"),
        Problem(3, "/stats/age", 300, "not a valid integer of 8 bits"),
    ]


def test_problem_samples_are_capped_but_every_rejection_counts() -> None:
    batch = pa.record_batch({"c": [f"bad-{i}" for i in range(50)], "d": ["x"] * 50})
    shaper = RecordShaper(
        profile_root(), {"/person/birthDate": "c", "/stats/score": "d"}, max_problems=7
    )
    shaped = shaper.shape(batch)
    assert shaped.rejected_count == 50
    assert shaped.records.num_rows == 0
    assert [p.row for p in shaped.problems] == list(range(7))


def test_a_null_typed_column_gives_nulls() -> None:
    kept, shaped = run("/person/birthDate", [None, None], pa.null())
    assert kept == [None, None]
    assert shaped.rejected_count == 0


def test_conversion_of_a_large_column_isolates_the_bad_values() -> None:
    values = [f"2024-01-{1 + i % 28:02d}" for i in range(20_000)]
    values[123] = "2024-02-31"
    values[19_999] = "2023-13-01"
    kept, shaped = run("/person/birthDate", values)
    assert len(kept) == 19_998
    assert [(p.row, p.value) for p in shaped.problems] == [
        (123, "2024-02-31"),
        (19_999, "2023-13-01"),
    ]


# -- nesting ------------------------------------------------------------------------------------


def test_objects_nest_and_are_null_when_all_their_leaves_are() -> None:
    targets = {
        "/person/name/firstName": "first",
        "/person/name/lastName": "last",
        "/person/birthDate": "birth",
    }
    batch = pa.record_batch(
        {
            "first": ["Ann", None, None],
            "last": ["Lee", "Kim", None],
            "birth": [None, "1990-05-06", None],
        }
    )
    records = RecordShaper(profile_root(), targets).shape(batch).records.to_pylist()
    assert records == [
        {"person": {"name": {"firstName": "Ann", "lastName": "Lee"}, "birthDate": None}},
        {
            "person": {
                "name": {"firstName": None, "lastName": "Kim"},
                "birthDate": dt.date(1990, 5, 6),
            }
        },
        {"person": None},
    ]


def test_constants_do_not_make_an_object_present_unless_it_has_only_constants() -> None:
    targets = {"/personalEmail/address": "mail", "/optInOut/globalOptout": "no", "/_id": "id"}
    batch = pa.record_batch({"mail": [None, "a@b.c"], "no": [False, False], "id": ["1", "2"]})
    shaper = RecordShaper(profile_root(), targets, frozenset({"/optInOut/globalOptout"}))
    assert shaper.shape(batch).records.to_pylist() == [
        {"personalEmail": None, "optInOut": {"globalOptout": False}, "_id": "1"},
        {"personalEmail": {"address": "a@b.c"}, "optInOut": {"globalOptout": False}, "_id": "2"},
    ]


def test_the_identity_map_example() -> None:
    targets = {
        "/personalEmail/address": "c0",
        "/identityMap/Email/0/id": "c1",
        "/identityMap/Email/0/primary": "c2",
        "/person/birthDate": "c3",
    }
    batch = pa.record_batch(
        {
            "c0": ["jane@doe.com", None],
            "c1": ["jane@doe.com", None],
            "c2": [True, True],
            "c3": ["1980-02-03", "1981-04-05"],
        }
    )
    shaper = RecordShaper(profile_root(), targets, frozenset({"/identityMap/Email/0/primary"}))
    shaped = shaper.shape(batch)
    assert shaped.records.to_pylist() == [
        {
            "person": {"birthDate": dt.date(1980, 2, 3)},
            "personalEmail": {"address": "jane@doe.com"},
            "identityMap": [("Email", [{"id": "jane@doe.com", "primary": True}])],
        },
        {"person": {"birthDate": dt.date(1981, 4, 5)}, "personalEmail": None, "identityMap": None},
    ]
    assert shaper.output_schema.field("identityMap").type == pa.map_(
        pa.string(), pa.list_(pa.struct([("id", pa.string()), ("primary", pa.bool_())]))
    )


def test_arrays_keep_present_elements_in_index_order_and_maps_their_present_keys() -> None:
    targets = {
        "/identityMap/Phone/1/id": "phone2",
        "/identityMap/Email/0/id": "mail",
        "/identityMap/Email/0/authenticatedState": "state",
        "/identityMap/Phone/0/id": "phone1",
        "/identityMap/Phone/0/primary": "primary",
    }
    batch = pa.record_batch(
        {
            "phone2": ["p2", "q2", None, None],
            "mail": ["m", None, None, None],
            "state": ["ambiguous"] * 4,
            "phone1": ["p1", None, "r1", None],
            "primary": [False] * 4,
        }
    )
    constants = frozenset(
        {"/identityMap/Email/0/authenticatedState", "/identityMap/Phone/0/primary"}
    )
    shaped = RecordShaper(profile_root(), targets, constants).shape(batch)
    identity = {"id": None, "primary": None, "authenticatedState": None}
    maps = [record["identityMap"] for record in shaped.records.to_pylist()]
    assert maps == [
        [
            ("Phone", [{**identity, "id": "p1", "primary": False}, {**identity, "id": "p2"}]),
            ("Email", [{**identity, "id": "m", "authenticatedState": "ambiguous"}]),
        ],
        [("Phone", [{**identity, "id": "q2"}])],
        [("Phone", [{**identity, "id": "r1", "primary": False}])],
        None,
    ]


def test_arrays_of_scalars_drop_null_elements() -> None:
    targets = {"/segments/0": "a", "/segments/2": "b", "/segments/1": "c"}
    batch = pa.record_batch({"a": ["x", None, None], "b": ["z", "z", None], "c": [None, "y", None]})
    records = RecordShaper(profile_root(), targets).shape(batch).records.to_pylist()
    assert records == [{"segments": ["x", "z"]}, {"segments": ["y", "z"]}, {"segments": None}]


def test_arrays_of_constants_are_always_full() -> None:
    targets = {"/segments/0": "a", "/segments/1": "b"}
    batch = pa.record_batch({"a": ["s1", "s1"], "b": ["s2", "s2"]})
    shaper = RecordShaper(profile_root(), targets, frozenset(targets))
    records = shaper.shape(batch).records.to_pylist()
    assert records == [{"segments": ["s1", "s2"]}, {"segments": ["s1", "s2"]}]


def test_nesting_after_rejections_lines_up_rows() -> None:
    targets = {"/identityMap/Email/0/id": "mail", "/person/gender": "gender"}
    batch = pa.record_batch(
        {"mail": ["a@x", "b@x", "c@x", None], "gender": ["male", "robot", None, "female"]}
    )
    shaped = RecordShaper(profile_root(), targets).shape(batch)
    assert shaped.records.to_pylist() == [
        {"person": {"gender": "male"}, "identityMap": [("Email", [{"id": "a@x"}])]},
        {"person": None, "identityMap": [("Email", [{"id": "c@x"}])]},
        {"person": {"gender": "female"}, "identityMap": None},
    ]


def test_an_empty_batch_gives_an_empty_batch_of_the_output_schema() -> None:
    targets = {"/identityMap/Email/0/id": "mail", "/person/birthDate": "birth"}
    shaper = RecordShaper(profile_root(), targets)
    batch = pa.record_batch({"mail": pa.array([], pa.string()), "birth": pa.array([], pa.string())})
    shaped = shaper.shape(batch)
    assert shaped.records.num_rows == 0
    assert shaped.records.schema == shaper.output_schema


def test_the_packaged_profile_schema_shapes_a_campaign_profile() -> None:
    from xdm_connector.xdm import SchemaRegistry

    schema = SchemaRegistry.packaged().compose(
        "profile", ["profile-person-details", "profile-personal-details", "identitymap"]
    )
    targets = {
        "/_id": "id",
        "/person/name/firstName": "first",
        "/person/birthDate": "birth",
        "/person/gender": "gender",
        "/personalEmail/address": "email",
        "/identityMap/Email/0/id": "email",
        "/identityMap/Email/0/primary": "primary",
        "/identityMap/Email/0/authenticatedState": "state",
    }
    constants = frozenset(
        {"/identityMap/Email/0/primary", "/identityMap/Email/0/authenticatedState"}
    )
    batch = pa.record_batch(
        {
            "id": ["1", "2"],
            "first": ["Jane", None],
            "birth": ["1980-02-03", None],
            "gender": ["female", "unknown"],
            "email": ["jane@doe.com", None],
            "primary": [True, True],
            "state": ["ambiguous", "ambiguous"],
        }
    )
    shaped = RecordShaper(schema.root, targets, constants).shape(batch)
    assert shaped.records.to_pylist() == [
        {
            "_id": "1",
            "identityMap": [
                (
                    "Email",
                    [{"id": "jane@doe.com", "primary": True, "authenticatedState": "ambiguous"}],
                )
            ],
            "person": {
                "birthDate": dt.date(1980, 2, 3),
                "gender": "female",
                "name": {"firstName": "Jane"},
            },
            "personalEmail": {"address": "jane@doe.com"},
        }
    ]
    [problem] = shaped.problems
    assert (problem.row, problem.path, problem.value) == (1, "/person/gender", "unknown")
