"""Value types: from SQL types, and the conversions to XDM field types."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.types import NullType, TypeEngine

from xdm_connector.expressions import ValueType, check_target
from xdm_connector.expressions.value_types import common_type, comparable, value_type_of

STR, INT, NUM, BOOL = ValueType.STRING, ValueType.INTEGER, ValueType.NUMBER, ValueType.BOOLEAN
DATE, STAMP, NULL = ValueType.DATE, ValueType.DATETIME, ValueType.NULL


@pytest.mark.parametrize(
    ("sql_type", "value_type"),
    [
        (sa.String(10), STR),
        (sa.Text(), STR),
        (sa.VARCHAR(), STR),
        (sqlite.TEXT(), STR),
        (NullType(), STR),
        (sa.Uuid(), STR),
        (sa.Integer(), INT),
        (sa.BigInteger(), INT),
        (sa.SmallInteger(), INT),
        (mysql.TINYINT(), INT),
        (sa.Numeric(10, 2), NUM),
        (sa.Float(), NUM),
        (sa.REAL(), NUM),
        (postgresql.DOUBLE_PRECISION(), NUM),
        (sa.Boolean(), BOOL),
        (sa.Date(), DATE),
        (sa.DateTime(), STAMP),
        (sa.TIMESTAMP(), STAMP),
        (sqlite.DATETIME(), STAMP),
        (sa.JSON(), None),
        (sa.LargeBinary(), None),
        (sa.Time(), None),
    ],
)
def test_value_type_of_sql_types(sql_type: TypeEngine[Any], value_type: ValueType | None) -> None:
    assert value_type_of(sql_type) is value_type


ALLOWED = {
    "string": {STR, INT, NUM, NULL},
    "integer": {STR, INT, NULL},
    "number": {STR, INT, NUM, NULL},
    "boolean": {BOOL, NULL},
    "date": {STR, DATE, NULL},
    "date-time": {STR, DATE, STAMP, NULL},
    "object": set(),
    "array": set(),
    "map": set(),
}


@pytest.mark.parametrize("target", sorted(ALLOWED))
@pytest.mark.parametrize("value_type", list(ValueType))
def test_check_target_table(value_type: ValueType, target: str) -> None:
    problem = check_target(value_type, target)
    assert (problem is None) == (value_type in ALLOWED[target])


def test_check_target_messages() -> None:
    assert check_target(INT, "boolean") == "an integer expression cannot fill an XDM boolean field"
    assert check_target(NUM, "integer") == (
        "a number expression cannot fill an XDM integer field; ToInteger(...) truncates it"
    )
    assert check_target(STAMP, "date") == (
        "a datetime expression cannot fill an XDM date field; ToDate(...) keeps its day"
    )
    assert check_target(BOOL, "string") == (
        "a boolean expression cannot fill an XDM string field; ToString(...) formats it"
    )
    assert check_target(STR, "object") == (
        "an XDM object field takes no expression: map its fields one by one"
    )
    assert check_target(STR, "uuid") == "unknown XDM type 'uuid'"


def test_common_types_and_comparisons() -> None:
    assert common_type(INT, NUM) is NUM
    assert common_type(DATE, STAMP) is STAMP
    assert common_type(NULL, STR) is STR
    assert common_type(STR, INT) is None
    assert comparable(STR, STR, ordering=True)
    assert comparable(INT, NUM, ordering=True)
    assert comparable(BOOL, BOOL, ordering=False)
    assert not comparable(BOOL, BOOL, ordering=True)
    assert not comparable(STR, DATE, ordering=False)
    assert not comparable(INT, NULL, ordering=True)
