"""Compiled expressions run on SQLite and PostgreSQL and give the same values on both."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from xdm_connector.errors import ExpressionError
from xdm_connector.expressions import CompiledExpression, ExpressionCompiler, ValueType
from xdm_connector.sources.schema import describe_resource

QUALITY_ENUM = {"valid": "Valid address", "bad": "Bad address", "unknown": "Unknown"}


def run(engine: Engine, expressions: Iterable[str], **options: Any) -> dict[str, list[object]]:
    """Each expression's values over the profiles, in key order."""
    compiler = ExpressionCompiler(describe_resource(engine, "profile"))
    texts = list(expressions)
    columns = {f"c{index}": compiler.compile(text, **options) for index, text in enumerate(texts)}
    query = compiler.select(columns).order_by(*compiler.key_columns)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {text: [row[index] for row in rows] for index, text in enumerate(texts)}


def check(engine: Engine, expected: Mapping[str, list[object]]) -> None:
    values = run(engine, expected)
    wrong = {text: values[text] for text in expected if values[text] != expected[text]}
    assert not wrong, f"{engine.dialect.name}: {wrong}"


def test_examples_of_the_mapping_spec(engine: Engine) -> None:
    check(
        engine,
        {
            "@birthDate": [dt.date(1980, 2, 3), dt.date(1990, 12, 31), None, dt.date(2000, 2, 29)],
            "@blackList": [True, False, False, False],
            "@created": [
                dt.datetime(2024, 1, 2, 3, 4, 5),
                dt.datetime(2024, 5, 6, 7, 8, 9),
                dt.datetime(2023, 11, 30, 23, 59, 59),
                dt.datetime(2024, 12, 31, 12, 0, 0),
            ],
            "@email": ["Alice@Example.org", "bob@example.org", None, "dave@example.org"],
            "Iif([postalAddress/@addrDefined]=0, 'incomplete', 'active')": [
                "incomplete",
                "active",
                "active",
                "active",
            ],
            "Iif(@blackListEmail=0, 'in', 'out')": ["in", "out", "in", "out"],
            "@cusBooleanField": [False, True, None, True],
        },
    )


def test_exdm_maps_values_labels_and_explicit_values(engine: Engine) -> None:
    values = run(
        engine,
        ["EXDM([postalAddress/@addrQuality])"],
        exdm_enum=QUALITY_ENUM,
        exdm_values={"unknown-CODE": "Unknown"},
        target_type="string",
    )
    assert values["EXDM([postalAddress/@addrQuality])"] == ["valid", "bad", None, "unknown"]
    values = run(engine, ["EXDM([postalAddress/@addrDefined])"], exdm_enum={0: "no", 1: "yes"})
    assert values["EXDM([postalAddress/@addrDefined])"] == [0, 1, None, 1]


def test_text_functions(engine: Engine) -> None:
    check(
        engine,
        {
            "Lower(@email)": ["alice@example.org", "bob@example.org", None, "dave@example.org"],
            "Upper(@firstName)": ["ALICE", "BOB", "  CAROL ", "DAVE"],
            "Trim(@firstName)": ["Alice", "Bob", "Carol", "Dave"],
            "Concat(@firstName, ' ', @lastName)": [
                "Alice Martin",
                None,
                "  Carol  Durand",
                "Dave Roux",
            ],
            "@firstName + '!'": ["Alice!", "Bob!", "  Carol !", "Dave!"],
            "Substring(@email, 1, 5)": ["Alice", "bob@e", None, "dave@"],
            "Substring(@email, 3, 2)": ["ic", "b@", None, "ve"],
            "Length(@firstName)": [5, 3, 8, 4],
            "Coalesce(@lastName, @email, 'n/a')": ["Martin", "bob@example.org", "Durand", "Roux"],
            "Lower('CONSTANT')": ["constant"] * 4,
        },
    )


def test_conversion_functions(engine: Engine) -> None:
    check(
        engine,
        {
            "ToString(@age)": ["44", "33", None, "24"],
            "ToString(@blackList)": ["true", "false", "false", "false"],
            "ToString(@birthDate)": ["1980-02-03", "1990-12-31", None, "2000-02-29"],
            "ToString(@created)": [
                "2024-01-02T03:04:05",
                "2024-05-06T07:08:09",
                "2023-11-30T23:59:59",
                "2024-12-31T12:00:00",
            ],
            "ToInteger(@score)": [12, 7, -2, 0],
            "ToInteger(@cusBooleanField)": [0, 1, None, 1],
            "ToInteger('42') + @blackListEmail": [42, 43, 42, 43],
            "ToDate(@created)": [
                dt.date(2024, 1, 2),
                dt.date(2024, 5, 6),
                dt.date(2023, 11, 30),
                dt.date(2024, 12, 31),
            ],
            "ToDate('2024-02-29')": [dt.date(2024, 2, 29)] * 4,
            "ToDateTime(@birthDate)": [
                dt.datetime(1980, 2, 3),
                dt.datetime(1990, 12, 31),
                None,
                dt.datetime(2000, 2, 29),
            ],
            "ToDateTime('2024-02-29 10:11:12')": [dt.datetime(2024, 2, 29, 10, 11, 12)] * 4,
            "IsNull(@birthDate)": [False, False, True, False],
        },
    )


def test_date_parts(engine: Engine) -> None:
    check(
        engine,
        {
            "Year(@created)": [2024, 2024, 2023, 2024],
            "Month(@created)": [1, 5, 11, 12],
            "Day(@birthDate)": [3, 31, None, 29],
            "Year(ToDate('1999-12-31'))": [1999] * 4,
            "@created > ToDateTime('2024-01-01 00:00:00')": [True, True, False, True],
            "@birthDate < ToDate('1990-01-01')": [True, False, None, False],
        },
    )


def test_operators(engine: Engine) -> None:
    check(
        engine,
        {
            "@age / 8": [5.5, 4.125, None, 3.0],
            "@age * 2 + 1": [89, 67, None, 49],
            "@age - @score": [31.5, 25.75, None, 24.0],
            "-@score": [-12.5, -7.25, 2.75, 0.0],
            "7 / 2": [3.5] * 4,
            "1.5": [1.5] * 4,
            "@score + 0.25": [12.75, 7.5, -2.5, 0.25],
            "@score = 12.5 OR @age > 2147483648": [True, False, None, False],
            "Iif(@age > 30, 9007199254740993, 0)": [9007199254740993, 9007199254740993, 0, 0],
            "NOT @blackList": [False, True, True, True],
            "@blackList OR @cusBooleanField": [True, True, None, True],
            "@blackList AND NOT @cusBooleanField": [True, False, False, False],
            "@age >= 33 AND @email != 'bob@example.org'": [True, False, None, False],
            "@email = null": [False, False, True, False],
            "@lastName <> NULL": [True, False, True, True],
            "@cusBooleanField = TRUE": [False, True, None, True],
        },
    )


def test_links_join_once_per_path(engine: Engine) -> None:
    check(
        engine,
        {
            "[postalAddress/@city]": ["Paris", "Lyon", None, None],
            "[manager/@email]": [None, "Alice@Example.org", "bob@example.org", "Alice@Example.org"],
            "[manager/manager/@firstName]": [None, None, "Alice", None],
            "[MANAGER/postalAddress/@CITY]": [None, "Paris", "Lyon", "Paris"],
            "Iif([postalAddress/@addrDefined] = 1, [postalAddress/@city], 'n/a')": [
                "n/a",
                "Lyon",
                "n/a",
                None,
            ],
        },
    )


def test_hostile_literals_are_only_data(engine: Engine) -> None:
    hostile = "x'); DROP TABLE profile; --"
    quoted = "'" + hostile.replace("'", "''") + "'"
    check(engine, {f"@email = {quoted}": [False, False, None, False], quoted: [hostile] * 4})
    assert "profile" in sa.inspect(engine).get_table_names()


def test_a_view_with_an_explicit_key(engine: Engine) -> None:
    compiler = ExpressionCompiler(describe_resource(engine, "activeProfile", key=["ID"]))
    columns: dict[str, CompiledExpression] = {"email": compiler.compile("Upper(@email)")}
    query = compiler.select(columns).order_by(*compiler.key_columns)
    with engine.connect() as connection:
        assert connection.execute(query).scalars().all() == [
            "BOB@EXAMPLE.ORG",
            None,
            "DAVE@EXAMPLE.ORG",
        ]
    assert compiler.compile("@email").type is ValueType.STRING
    filtered = compiler.select(columns).where(compiler.key_columns[0] > sa.literal(3))
    with engine.connect() as connection:
        assert connection.execute(filtered).scalars().all() == ["DAVE@EXAMPLE.ORG"]


@pytest.mark.parametrize("target", ["boolean", "date-time"])
def test_spec_examples_fit_their_xdm_types(engine: Engine, target: str) -> None:
    compiler = ExpressionCompiler(describe_resource(engine, "profile"))
    text = "@blackList" if target == "boolean" else "@created"
    assert compiler.compile(text, target_type=target).type in (
        ValueType.BOOLEAN,
        ValueType.DATETIME,
    )


def test_sqlite_columns_of_loose_types(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'loose.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE loose (id INTEGER PRIMARY KEY, untyped, odd FOO, text VARCHAR2(10), "
            "flag BOOL, stamp DATETIME, blob BLOB)"
        )
        connection.exec_driver_sql(
            "INSERT INTO loose VALUES (1, 'Any', 3, 'Text', 1, '2024-01-01 10:00:00', x'00')"
        )
    compiler = ExpressionCompiler(describe_resource(engine, "loose"))
    expressions = {
        "untyped": "Lower(@untyped)",
        "odd": "@odd * 2",
        "text": "Upper(@text)",
        "flag": "NOT @flag",
        "hour": "ToString(@stamp)",
    }
    columns = {name: compiler.compile(text) for name, text in expressions.items()}
    assert columns["odd"].type is ValueType.NUMBER
    with engine.connect() as connection:
        row = connection.execute(compiler.select(columns)).one()
    assert row._asdict() == {
        "untyped": "any",
        "odd": 6,
        "text": "TEXT",
        "flag": False,
        "hour": "2024-01-01T10:00:00",
    }
    with pytest.raises(ExpressionError, match="field @blob has the SQL type BLOB"):
        compiler.compile("@blob")
    engine.dispose()
