"""Type rules and SQL of the functions (``EXDM`` aside, see :mod:`.exdm`).

Functions other than ``Iif``, ``Coalesce`` and ``IsNull`` give NULL when an argument is
NULL (``Concat`` included, like SQL's ``||``). Notable choices:

- ``Substring(s, start, length)`` counts from 1, like the original product;
- ``ToString`` writes booleans as ``true``/``false`` and timestamps as
  ``2024-01-31T12:30:00``; dates as ``2024-01-31``; numbers as the database writes them;
- ``ToInteger`` truncates numbers toward zero, reads ``1``/``0`` from booleans and parses
  strings with the database's cast (PostgreSQL refuses ``'1.5'``; SQLite reads ``1``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from xdm_connector.errors import ExpressionError
from xdm_connector.expressions import dialects
from xdm_connector.expressions.ast import Call, Node
from xdm_connector.expressions.value_types import (
    NUMERIC,
    TEMPORAL,
    ValueType,
    common_type,
    sql_type,
)

Column = sa.ColumnElement[Any]

STRING = ValueType.STRING
INTEGER = ValueType.INTEGER
BOOLEAN = ValueType.BOOLEAN
NULL = ValueType.NULL


@dataclass(frozen=True)
class Typed:
    """A compiled sub-expression: its SQL and its value type."""

    column: Column
    type: ValueType


def typed_null(value_type: ValueType) -> Typed:
    """NULL of a type, spelled ``CAST(NULL AS type)`` so every database knows the type."""
    if value_type is NULL:
        return Typed(sa.null(), NULL)
    return Typed(sa.cast(sa.null(), sql_type(value_type)), value_type)


def constant(value: object, value_type: ValueType) -> Column:
    """A bound parameter holding ``value``: 32-bit integers bind as ``INTEGER`` (what
    PostgreSQL's functions take), others as ``BIGINT``, decimals exactly as ``NUMERIC``."""
    if value_type is INTEGER and isinstance(value, int) and -(2**31) <= value < 2**31:
        return sa.literal(value, sa.Integer())
    if value_type is ValueType.NUMBER:
        return sa.literal(value, sa.Numeric())
    return sa.literal(value, sql_type(value_type))


@dataclass(frozen=True)
class FunctionTypes:
    """The types a function takes, per argument (the last repeats for a function of any
    number of arguments), the type it gives (a value type, or how it is found), and whether
    a NULL argument makes its result NULL."""

    arguments: tuple[frozenset[ValueType], ...]
    result: ValueType | str
    null_gives_null: bool = True


def function_types(name: str) -> FunctionTypes:
    """The types of the function ``name`` (its canonical spelling), as its rule checks them.

    NULL is taken wherever a value is. Example: ``function_types("Length")`` is
    ``FunctionTypes((frozenset({STRING}),), INTEGER)``.
    """
    if name == "EXDM":
        return FunctionTypes((EXDM_SUBJECT,), EXDM_RESULT)
    if name in _LENIENT:
        return _LENIENT[name].types
    rule = _STRICT[name]
    return FunctionTypes(rule.arguments, rule.result)


def compile_call(node: Call, args: Sequence[Typed]) -> Typed:
    """The SQL of ``node`` given its compiled arguments; ``ExpressionError`` on a type error."""
    if node.name == "EXDM":
        raise ExpressionError("EXDM must be the whole expression", **_at(node))
    if node.name in _LENIENT:
        return _LENIENT[node.name].compile(node, args)
    rule = _STRICT[node.name]
    for index, (arg, arg_node) in enumerate(zip(args, node.args, strict=True)):
        allowed = rule.arguments[min(index, len(rule.arguments) - 1)]
        _expect(node.name, arg, arg_node, allowed)
    if any(arg.type is NULL for arg in args):
        return typed_null(rule.result)
    columns = [arg.column for arg in args]
    return Typed(rule.build(columns, [arg.type for arg in args]), rule.result)


def _at(node: Node) -> dict[str, int]:
    return {"line": node.pos.line, "column": node.pos.column}


def _expect(name: str, arg: Typed, node: Node, allowed: frozenset[ValueType]) -> None:
    if arg.type is NULL or arg.type in allowed:
        return
    wanted = " or ".join(sorted(value_type.value for value_type in allowed))
    raise ExpressionError(f"{name} needs {wanted}, got {arg.type.value}", **_at(node))


def _iif(node: Call, args: Sequence[Typed]) -> Typed:
    condition, when_true, when_false = args
    _expect("Iif's condition", condition, node.args[0], frozenset({BOOLEAN}))
    result = common_type(when_true.type, when_false.type)
    if result is None:
        raise ExpressionError(
            f"Iif's branches have incompatible types {when_true.type.value} "
            f"and {when_false.type.value}",
            **_at(node.args[1]),
        )
    column = sa.case((condition.column, when_true.column), else_=when_false.column)
    return Typed(column, result)


def _coalesce(node: Call, args: Sequence[Typed]) -> Typed:
    result = args[0].type
    for arg, arg_node in zip(args[1:], node.args[1:], strict=True):
        common = common_type(result, arg.type)
        if common is None:
            raise ExpressionError(
                f"Coalesce mixes {result.value} and {arg.type.value}", **_at(arg_node)
            )
        result = common
    if len(args) == 1:
        return args[0]
    return Typed(sa.func.coalesce(*(arg.column for arg in args)), result)


def _is_null(_node: Call, args: Sequence[Typed]) -> Typed:
    return Typed(args[0].column.is_(None), BOOLEAN)


@dataclass(frozen=True)
class _Lenient:
    """A function whose result type depends on its arguments' (or that takes NULL as such)."""

    compile: Callable[[Call, Sequence[Typed]], Typed]
    types: FunctionTypes


_ANY = frozenset({STRING, INTEGER, ValueType.NUMBER, BOOLEAN, ValueType.DATE, ValueType.DATETIME})

_LENIENT: dict[str, _Lenient] = {
    "Iif": _Lenient(
        _iif,
        FunctionTypes(
            (frozenset({BOOLEAN}), _ANY, _ANY),
            "the common type of `a` and `b`",
            null_gives_null=False,
        ),
    ),
    "Coalesce": _Lenient(
        _coalesce,
        FunctionTypes((_ANY,), "the common type of the values", null_gives_null=False),
    ),
    "IsNull": _Lenient(_is_null, FunctionTypes((_ANY,), BOOLEAN, null_gives_null=False)),
}

EXDM_SUBJECT = frozenset({STRING, INTEGER})
"""What ``EXDM`` reads (compiled by :mod:`.exdm`, which checks it against this)."""
EXDM_RESULT = "integer when every value of the XDM field's enumeration is one, else string"


@dataclass(frozen=True)
class _Rule:
    """Allowed types per argument (the last repeats), result type, SQL."""

    arguments: tuple[frozenset[ValueType], ...]
    result: ValueType
    build: Callable[[list[Column], list[ValueType]], Column]


def _to_string(columns: list[Column], types: list[ValueType]) -> Column:
    value, value_type = columns[0], types[0]
    if value_type is BOOLEAN:
        true, false = constant("true", STRING), constant("false", STRING)
        return sa.case((value, true), (sa.not_(value), false))
    if value_type is ValueType.DATETIME:
        return dialects.IsoText(value)
    return value if value_type is STRING else sa.cast(value, sa.String())


def _to_integer(columns: list[Column], types: list[ValueType]) -> Column:
    value, value_type = columns[0], types[0]
    if value_type is BOOLEAN:
        one, zero = constant(1, INTEGER), constant(0, INTEGER)
        return sa.case((value, one), (sa.not_(value), zero))
    if value_type is ValueType.NUMBER:
        return dialects.TruncatedInteger(value)
    return value if value_type is INTEGER else sa.cast(value, sa.BigInteger())


def _converted(
    keep: ValueType, convert: Callable[[Column], Column]
) -> Callable[[list[Column], list[ValueType]], Column]:
    return lambda columns, types: columns[0] if types[0] is keep else convert(columns[0])


def _date_part(part: str) -> Callable[[list[Column], list[ValueType]], Column]:
    return lambda columns, _types: sa.cast(sa.extract(part, columns[0]), sa.Integer())


def _text(function: str) -> Callable[[list[Column], list[ValueType]], Column]:
    return lambda columns, _types: getattr(sa.func, function)(columns[0], type_=sa.String())


def _substring(columns: list[Column], _types: list[ValueType]) -> Column:
    text, start, length = columns
    start, length = sa.cast(start, sa.Integer()), sa.cast(length, sa.Integer())
    return sa.func.substr(text, start, length, type_=sa.String())


def _concat(columns: list[Column], _types: list[ValueType]) -> Column:
    return functools.reduce(lambda left, right: left.concat(right), columns)


_TEXT = frozenset({STRING})
_INTEGER = frozenset({INTEGER})
_DATES = frozenset({STRING}) | TEMPORAL

_STRICT: dict[str, _Rule] = {
    "Lower": _Rule((_TEXT,), STRING, _text("lower")),
    "Upper": _Rule((_TEXT,), STRING, _text("upper")),
    "Trim": _Rule((_TEXT,), STRING, _text("trim")),
    "Concat": _Rule((_TEXT,), STRING, _concat),
    "Substring": _Rule((_TEXT, _INTEGER, _INTEGER), STRING, _substring),
    "Length": _Rule((_TEXT,), INTEGER, lambda c, _t: dialects.CharLength(c[0])),
    "ToString": _Rule((_ANY,), STRING, _to_string),
    "ToInteger": _Rule((_TEXT | NUMERIC | {BOOLEAN},), INTEGER, _to_integer),
    "ToDate": _Rule((_DATES,), ValueType.DATE, _converted(ValueType.DATE, dialects.DateOf)),
    "ToDateTime": _Rule(
        (_DATES,), ValueType.DATETIME, _converted(ValueType.DATETIME, dialects.DateTimeOf)
    ),
    "Year": _Rule((TEMPORAL,), INTEGER, _date_part("year")),
    "Month": _Rule((TEMPORAL,), INTEGER, _date_part("month")),
    "Day": _Rule((TEMPORAL,), INTEGER, _date_part("day")),
}
