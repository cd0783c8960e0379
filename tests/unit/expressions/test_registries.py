"""The registries the reference reads agree with what the grammar and the compiler do."""

from __future__ import annotations

import itertools

import pytest

from xdm_connector.errors import ExpressionError
from xdm_connector.expressions import ExpressionCompiler, ValueType, parse
from xdm_connector.expressions.ast import COMPARISONS, OPERATORS, Binary, Operator, Unary
from xdm_connector.expressions.calls import function_types
from xdm_connector.expressions.functions import SIGNATURES, Signature
from xdm_connector.expressions.operators import Typing, typings

BINARY = [op for op in OPERATORS if op.arity == 2]
UNARY = [op for op in OPERATORS if op.arity == 1]

VALUES = {
    ValueType.STRING: "'a'",
    ValueType.INTEGER: "1",
    ValueType.NUMBER: "1.5",
    ValueType.BOOLEAN: "TRUE",
    ValueType.DATE: "ToDate('2024-01-31')",
    ValueType.DATETIME: "ToDateTime('2024-01-31 12:30:00')",
}
"""An expression of each value type but NULL."""


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


@pytest.mark.parametrize("signature", SIGNATURES.values(), ids=lambda sig: sig.name)
def test_each_function_names_its_arguments_and_says_what_it_does(signature: Signature) -> None:
    assert signature.summary
    expected = signature.min_args if signature.max_args is None else signature.max_args
    assert len(signature.parameters) == expected
    assert len(function_types(signature.name).arguments) <= len(signature.parameters)


@pytest.mark.parametrize("signature", SIGNATURES.values(), ids=lambda sig: sig.name)
def test_declared_function_types_are_what_the_compiler_accepts(
    compiler: ExpressionCompiler, signature: Signature
) -> None:
    """Each argument takes exactly the declared types, and a declared result is the result."""
    types = function_types(signature.name)
    count = max(len(signature.parameters), 2 if signature.max_args is None else 0)
    accepted: list[set[ValueType]] = [set() for _ in range(count)]
    for combination in itertools.product(VALUES, repeat=count):
        text = f"{signature.name}({', '.join(VALUES[t] for t in combination)})"
        try:
            compiled = compiler.compile(text, exdm_enum={"a": "A", "1": "One"})
        except ExpressionError:
            continue
        for position, value_type in enumerate(combination):
            accepted[position].add(value_type)
        if isinstance(types.result, ValueType):
            assert compiled.type is types.result, text
    for position, found in enumerate(accepted):
        declared = types.arguments[min(position, len(types.arguments) - 1)]
        assert found == set(declared), (signature.name, position)
