"""The operator registry agrees with what the grammar does."""

from __future__ import annotations

import itertools

import pytest

from xdm_connector.errors import ExpressionError
from xdm_connector.expressions import ValueType, parse
from xdm_connector.expressions.ast import COMPARISONS, OPERATORS, Binary, Operator, Unary
from xdm_connector.expressions.operators import Typing, typings

BINARY = [op for op in OPERATORS if op.arity == 2]
UNARY = [op for op in OPERATORS if op.arity == 1]


def spellings(op: Operator) -> list[str]:
    return [op.symbol, *op.spellings]


@pytest.mark.parametrize(
    ("loose", "tight"),
    [(a, b) for a, b in itertools.product(BINARY, BINARY) if a.precedence < b.precedence],
    ids=lambda op: op.symbol,
)
def test_binary_precedence_is_the_grammars(loose: Operator, tight: Operator) -> None:
    for loose_text, tight_text in itertools.product(spellings(loose), spellings(tight)):
        for text in (f"@a {loose_text} @b {tight_text} @c", f"@a {tight_text} @b {loose_text} @c"):
            tree = parse(text)
            assert isinstance(tree, Binary), text
            assert tree.op == loose.symbol, text


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.symbol)
def test_one_level_groups_from_the_left_unless_it_does_not_chain(op: Operator) -> None:
    for other in (other for other in BINARY if other.precedence == op.precedence):
        text = f"@a {op.symbol} @b {other.symbol} @c"
        if not op.chains:
            with pytest.raises(ExpressionError, match="do not chain"):
                parse(text)
            continue
        tree = parse(text)
        assert isinstance(tree, Binary)
        assert tree.op == other.symbol
        assert isinstance(tree.left, Binary)
        assert tree.left.op == op.symbol


@pytest.mark.parametrize(
    ("unary", "binary"), list(itertools.product(UNARY, BINARY)), ids=lambda op: op.symbol
)
def test_unary_precedence_is_the_grammars(unary: Operator, binary: Operator) -> None:
    tree = parse(f"{unary.symbol} @a {binary.symbol} @b")
    if unary.precedence > binary.precedence:
        assert isinstance(tree, Binary)
        assert isinstance(tree.left, Unary)
    else:
        assert isinstance(tree, Unary)
        assert isinstance(tree.operand, Binary)


def test_every_operator_symbol_is_in_the_registry_once_per_arity() -> None:
    keys = [(op.symbol, op.arity) for op in OPERATORS]
    assert len(keys) == len(set(keys))


def test_the_typings_of_an_operator_are_what_compiling_it_gives() -> None:
    by_symbol = {(op.symbol, op.arity): op for op in OPERATORS}
    assert typings(by_symbol[("NOT", 1)]) == [Typing((ValueType.BOOLEAN,), ValueType.BOOLEAN)]
    divide = typings(by_symbol[("/", 2)])
    assert {typing.result for typing in divide} == {ValueType.NUMBER}
    assert len(divide) == 4
    add = {typing.operands: typing.result for typing in typings(by_symbol[("+", 2)])}
    assert add[(ValueType.STRING, ValueType.STRING)] is ValueType.STRING
    assert add[(ValueType.INTEGER, ValueType.INTEGER)] is ValueType.INTEGER
    assert (ValueType.STRING, ValueType.INTEGER) not in add
    for op in OPERATORS:
        if op.symbol in COMPARISONS:
            assert {typing.result for typing in typings(op)} == {ValueType.BOOLEAN}
