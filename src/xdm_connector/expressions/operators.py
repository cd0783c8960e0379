"""Type rules and SQL of the operators.

- ``AND``, ``OR``, ``NOT`` take booleans; comparisons give booleans and need comparable
  sides (numbers with numbers, dates with timestamps, strings with strings, booleans with
  booleans, ``=`` and ``!=`` only for booleans, also against 0 and 1 integers as the
  original stored them); ``@x = NULL`` means ``@x IS NULL`` and
  ``@x != NULL`` means ``@x IS NOT NULL``; ordering against NULL is an error.
- ``+`` adds numbers or joins strings; ``-`` and ``*`` take numbers; ``/`` always divides
  exactly and gives a number (``7 / 2`` is ``3.5``). An operand NULL makes the result NULL.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from xdm_connector.errors import ExpressionError
from xdm_connector.expressions import dialects
from xdm_connector.expressions.ast import (
    COMPARISONS,
    Binary,
    FieldRef,
    Literal,
    Node,
    Operator,
    Unary,
)
from xdm_connector.expressions.calls import Typed, typed_null
from xdm_connector.expressions.value_types import NUMERIC, ValueType, comparable, sql_type

_BOOLEAN_TYPES = frozenset({ValueType.BOOLEAN, ValueType.NULL})

_COMPARE: dict[str, Callable[[Any, Any], sa.ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}


@dataclass(frozen=True)
class Typing:
    """Operand types an operator accepts together, and the type it then gives."""

    operands: tuple[ValueType, ...]
    result: ValueType


def typings(op: Operator) -> list[Typing]:
    """Every combination of operand types (NULL aside) that ``op`` accepts, with its result.

    Found by compiling ``op`` over each combination with the rules below, so that what the
    reference lists is what they do. Example: ``typings(NOT)`` is
    ``[Typing((BOOLEAN,), BOOLEAN)]``.
    """
    values = [value_type for value_type in ValueType if value_type is not ValueType.NULL]
    found = []
    for operands in itertools.product(values, repeat=op.arity):
        names = [FieldRef((), f"operand{index}") for index in range(op.arity)]
        typed = [
            Typed(sa.column(name.name, sql_type(value_type)), value_type)
            for name, value_type in zip(names, operands, strict=True)
        ]
        try:
            if op.arity == 1:
                result = compile_unary(Unary(op.symbol, names[0]), typed[0])
            else:
                result = compile_binary(Binary(op.symbol, *names), *typed)
        except ExpressionError:
            continue
        found.append(Typing(operands, result.type))
    return found


def compile_unary(node: Unary, operand: Typed) -> Typed:
    """``NOT x`` or ``-x``."""
    if node.op == "NOT":
        _logical(node, operand, node.operand)
        return Typed(sa.not_(operand.column), ValueType.BOOLEAN)
    if operand.type is ValueType.NULL:
        return operand
    if operand.type not in NUMERIC:
        raise ExpressionError(
            f"cannot negate {operand.type.value}: '-' needs a number", **_at(node.pos)
        )
    return Typed(-operand.column, operand.type)


def compile_binary(node: Binary, left: Typed, right: Typed) -> Typed:
    """``left op right`` with the operator's type rule; errors point at the operator."""
    if node.op in ("AND", "OR"):
        _logical(node, left, node.left)
        _logical(node, right, node.right)
        combine = sa.and_ if node.op == "AND" else sa.or_
        return Typed(combine(left.column, right.column), ValueType.BOOLEAN)
    if node.op in COMPARISONS:
        return _comparison(node, left, right)
    return _arithmetic(node, left, right)


def _at(pos: Any) -> dict[str, int]:
    return {"line": pos.line, "column": pos.column}


def _logical(node: Unary | Binary, operand: Typed, operand_node: Node) -> None:
    if operand.type not in _BOOLEAN_TYPES:
        raise ExpressionError(
            f"{node.op} needs a boolean, got {operand.type.value}", **_at(operand_node.pos)
        )


def _is_null_literal(node: Node) -> bool:
    return isinstance(node, Literal) and node.type is ValueType.NULL


def _comparison(node: Binary, left: Typed, right: Typed) -> Typed:
    op = node.op
    if op in ("=", "!=") and (_is_null_literal(node.left) or _is_null_literal(node.right)):
        subject = right if _is_null_literal(node.left) else left
        test = subject.column.is_(None) if op == "=" else subject.column.is_not(None)
        return Typed(test, ValueType.BOOLEAN)
    if op in ("=", "!=") and {left.type, right.type} == {ValueType.BOOLEAN, ValueType.INTEGER}:
        # The original stored booleans as 0/1 and compared them so: @blackListEmail=0.
        left, right = _as_integer(left), _as_integer(right)
    if not comparable(left.type, right.type, ordering=op not in ("=", "!=")):
        raise ExpressionError(
            f"cannot compare {left.type.value} with {right.type.value} using '{op}'",
            **_at(node.op_pos),
        )
    return Typed(_COMPARE[op](left.column, right.column), ValueType.BOOLEAN)


def _as_integer(value: Typed) -> Typed:
    if value.type is not ValueType.BOOLEAN:
        return value
    return Typed(sa.cast(value.column, sa.Integer), ValueType.INTEGER)


def _arithmetic(node: Binary, left: Typed, right: Typed) -> Typed:
    op = node.op
    types = {left.type, right.type} - {ValueType.NULL}
    if op == "+" and types <= {ValueType.STRING} and types:
        if ValueType.NULL in (left.type, right.type):
            return typed_null(ValueType.STRING)
        return Typed(left.column.concat(right.column), ValueType.STRING)
    if not types <= NUMERIC:
        hint = "; ToString(...) makes text of a number" if ValueType.STRING in types else ""
        raise ExpressionError(
            f"cannot {_VERBS[op]} {left.type.value} and {right.type.value}{hint}",
            **_at(node.op_pos),
        )
    if op == "/":
        result = ValueType.NUMBER
    elif not types:
        result = ValueType.NULL
    else:
        result = ValueType.INTEGER if types == {ValueType.INTEGER} else ValueType.NUMBER
    if ValueType.NULL in (left.type, right.type):
        return typed_null(result)
    if op == "/":
        return Typed(dialects.Quotient(left.column, right.column), result)
    combine: Callable[[Any, Any], sa.ColumnElement[Any]] = {
        "+": operator.add,
        "-": operator.sub,
        "*": operator.mul,
    }[op]
    return Typed(combine(left.column, right.column), result)
