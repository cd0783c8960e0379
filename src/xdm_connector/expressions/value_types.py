"""Value types of expressions: from SQL column types, between each other, to XDM types.

Conversions an expression's result may undergo to fill an XDM field (``check_target``):

============  ======  =======  ======  =======  ====  =========
expression    string  integer  number  boolean  date  date-time
============  ======  =======  ======  =======  ====  =========
string        yes     yes [1]  yes [1] no       yes   yes [1]
integer       yes     yes      yes     no       no    no
number        yes     no [2]   yes     no       no    no
boolean       no [3]  no       no      yes      no    no
date          no [3]  no       no      no       yes   yes [4]
datetime      no [3]  no       no      no       no    yes
null          yes     yes      yes     yes      yes   yes
============  ======  =======  ======  =======  ====  =========

[1] parsed when the record is validated; a value that does not parse rejects the record.
[2] it could lose a fraction: ``ToInteger(...)`` truncates explicitly.
[3] ``ToString(...)`` formats it explicitly.
[4] midnight of that day.

``object``, ``array`` and ``map`` fields take no expression: map their leaf fields.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import NullType, TypeEngine


class ValueType(StrEnum):
    """The type of an expression's value."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    NULL = "null"


NUMERIC = frozenset({ValueType.INTEGER, ValueType.NUMBER})
TEMPORAL = frozenset({ValueType.DATE, ValueType.DATETIME})

XDM_TYPES = frozenset(
    {"string", "integer", "number", "boolean", "date", "date-time", "object", "array", "map"}
)

_ACCEPTS: dict[str, frozenset[ValueType]] = {
    "string": frozenset({ValueType.STRING, ValueType.INTEGER, ValueType.NUMBER}),
    "integer": frozenset({ValueType.STRING, ValueType.INTEGER}),
    "number": frozenset({ValueType.STRING, ValueType.INTEGER, ValueType.NUMBER}),
    "boolean": frozenset({ValueType.BOOLEAN}),
    "date": frozenset({ValueType.STRING, ValueType.DATE}),
    "date-time": frozenset({ValueType.STRING, ValueType.DATE, ValueType.DATETIME}),
}

_HINTS: dict[tuple[ValueType, str], str] = {
    (ValueType.NUMBER, "integer"): "; ToInteger(...) truncates it",
    (ValueType.DATETIME, "date"): "; ToDate(...) keeps its day",
}


def check_target(result_type: ValueType, target_type: str) -> str | None:
    """Why an expression of ``result_type`` cannot fill an XDM field of ``target_type``.

    ``None`` when it can. Example: ``check_target(ValueType.INTEGER, "boolean")`` gives
    ``"an integer expression cannot fill an XDM boolean field"``.
    """
    if target_type not in XDM_TYPES:
        return f"unknown XDM type {target_type!r}"
    if target_type in ("object", "array", "map"):
        return f"an XDM {target_type} field takes no expression: map its fields one by one"
    if result_type is ValueType.NULL or result_type in _ACCEPTS[target_type]:
        return None
    hint = _HINTS.get((result_type, target_type), "")
    if not hint and target_type == "string":
        hint = "; ToString(...) formats it"
    article = "an" if result_type.value[0] in "aeiou" else "a"
    return f"{article} {result_type.value} expression cannot fill an XDM {target_type} field{hint}"


def value_type_of(sql_type: TypeEngine[Any]) -> ValueType | None:
    """The value type of a reflected column type; ``None`` for types expressions cannot use.

    Untyped columns (SQLite without a declared type, reflected as ``NullType``) read as text.
    """
    if isinstance(sql_type, sa.Boolean):
        return ValueType.BOOLEAN
    if isinstance(sql_type, sa.Integer):
        return ValueType.INTEGER
    if isinstance(sql_type, sa.Numeric | sa.Float):
        return ValueType.NUMBER
    if isinstance(sql_type, sa.DateTime):
        return ValueType.DATETIME
    if isinstance(sql_type, sa.Date):
        return ValueType.DATE
    if isinstance(sql_type, sa.String | sa.Uuid | NullType):
        return ValueType.STRING
    return None


_SQL_TYPES: dict[ValueType, type[TypeEngine[Any]]] = {
    ValueType.STRING: sa.String,
    ValueType.INTEGER: sa.BigInteger,
    ValueType.NUMBER: sa.Float,
    ValueType.BOOLEAN: sa.Boolean,
    ValueType.DATE: sa.Date,
    ValueType.DATETIME: sa.DateTime,
    ValueType.NULL: NullType,
}


def sql_type(value_type: ValueType) -> TypeEngine[Any]:
    """The SQLAlchemy type that carries values of ``value_type`` (and reads them back)."""
    return _SQL_TYPES[value_type]()


def common_type(left: ValueType, right: ValueType) -> ValueType | None:
    """The type both values convert to (``Iif`` branches, ``Coalesce``), or ``None``."""
    if left is right or right is ValueType.NULL:
        return left
    if left is ValueType.NULL:
        return right
    if {left, right} == NUMERIC:
        return ValueType.NUMBER
    if {left, right} == TEMPORAL:
        return ValueType.DATETIME
    return None


def comparable(left: ValueType, right: ValueType, *, ordering: bool) -> bool:
    """Whether ``left op right`` makes sense; ``ordering`` for ``<`` and the like."""
    if ValueType.NULL in (left, right):
        return not ordering
    if ordering and ValueType.BOOLEAN in (left, right):
        return False
    return common_type(left, right) is not None
