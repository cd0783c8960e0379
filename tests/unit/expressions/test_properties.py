"""Properties: printing round-trips, the parser fails only with ExpressionError, literals bind."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from xdm_connector.errors import ExpressionError
from xdm_connector.expressions import ExpressionCompiler, ValueType, parse, to_text
from xdm_connector.expressions.ast import (
    BINARY_OPERATORS,
    UNARY_OPERATORS,
    Binary,
    Call,
    FieldRef,
    Literal,
    Node,
    Unary,
)
from xdm_connector.expressions.functions import SIGNATURES, Signature
from xdm_connector.expressions.grammar import MAX_DEPTH
from xdm_connector.sources.schema import Resource

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)

LITERALS = st.one_of(
    st.text(max_size=30).map(lambda text: Literal(text, ValueType.STRING)),
    st.integers(0, 2**63 - 1).map(lambda value: Literal(value, ValueType.INTEGER)),
    st.decimals(min_value=0, max_value=10**15, places=6)
    .filter(lambda value: not value.is_signed())
    .map(lambda value: Literal(value, ValueType.NUMBER)),
    st.booleans().map(lambda value: Literal(value, ValueType.BOOLEAN)),
    st.just(Literal(None, ValueType.NULL)),
)

FIELDS = st.builds(FieldRef, st.lists(NAMES, max_size=3).map(tuple), NAMES)


def _calls(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    def with_arguments(signature: Signature) -> st.SearchStrategy[Node]:
        most = signature.max_args if signature.max_args is not None else signature.min_args + 2
        arguments = st.lists(children, min_size=signature.min_args, max_size=most)
        return arguments.map(lambda args: Call(signature.name, tuple(args)))

    return st.sampled_from(list(SIGNATURES.values())).flatmap(with_arguments)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(Binary, st.sampled_from(sorted(BINARY_OPERATORS)), children, children),
        st.builds(Unary, st.sampled_from(sorted(UNARY_OPERATORS)), children),
        _calls(children),
    )


def _depth(node: Node) -> int:
    match node:
        case Binary(left=left, right=right):
            return 1 + max(_depth(left), _depth(right))
        case Call(args=args):
            return 1 + max(_depth(arg) for arg in args)
        case Literal() | FieldRef():
            return 0
    return 1 + _depth(node.operand)


TREES = st.recursive(st.one_of(LITERALS, FIELDS), _extend, max_leaves=25).filter(
    lambda tree: _depth(tree) <= MAX_DEPTH
)

GRAMMAR_ALPHABET = "@[]/(),.'\"=<>!+-*_ \n\tandortuefalsnil0123456789ANDORNOTIifLowerConcat;|#"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(TREES)
def test_canonical_text_parses_back_to_the_same_tree(tree: Node) -> None:
    text = to_text(tree)
    assert parse(text) == tree
    assert to_text(parse(text)) == text


def _parse_or_error(text: str) -> Node | ExpressionError:
    try:
        return parse(text)
    except ExpressionError as error:
        return error


@settings(max_examples=400)
@given(st.one_of(st.text(), st.text(alphabet=GRAMMAR_ALPHABET, max_size=60)))
def test_arbitrary_text_fails_only_with_expression_error(text: str) -> None:
    outcome = _parse_or_error(text)
    if isinstance(outcome, ExpressionError):
        assert outcome.line >= 1
        assert outcome.column >= 1
        assert str(outcome).startswith(f"line {outcome.line}, column {outcome.column}: ")
    else:
        assert parse(to_text(outcome)) == outcome


@pytest.fixture(scope="module")
def bare_compiler() -> ExpressionCompiler:
    metadata = sa.MetaData()
    table = sa.Table(
        "profile",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120)),
    )
    return ExpressionCompiler(Resource(table, ("id",), ()))


def _compiled_sql(
    compiler: ExpressionCompiler, literal: str, dialect: Dialect
) -> tuple[str, list[object]]:
    text = f"Iif(@email = {literal}, Lower({literal}), {literal} + @email)"
    query = compiler.select({"value": compiler.compile(text)})
    compiled = query.compile(dialect=dialect)
    return str(compiled), list(compiled.params.values())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_string_literals_never_reach_the_sql_text(
    bare_compiler: ExpressionCompiler, value: str
) -> None:
    for dialect in (postgresql.dialect(), sqlite.dialect()):
        reference, _ = _compiled_sql(bare_compiler, "'placeholder'", dialect)
        sql, params = _compiled_sql(
            bare_compiler, to_text(Literal(value, ValueType.STRING)), dialect
        )
        assert sql == reference
        assert params.count(value) == 3
        if value.strip() and value not in reference:
            assert value not in sql


def test_decimal_literals_print_with_a_point() -> None:
    assert to_text(Literal(Decimal("5"), ValueType.NUMBER)) == "5.0"
    assert parse("5.0") == Literal(Decimal("5"), ValueType.NUMBER)
