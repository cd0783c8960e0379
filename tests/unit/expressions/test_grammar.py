"""Parsing: each construct, letter case, literals, precedence, and syntax errors by place."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xdm_connector.errors import ExpressionError
from xdm_connector.expressions import ValueType, parse, to_text
from xdm_connector.expressions.ast import Binary, Call, FieldRef, Literal, Position, Unary
from xdm_connector.expressions.grammar import MAX_DEPTH, MAX_LENGTH


def field(name: str, *links: str) -> FieldRef:
    return FieldRef(links, name)


def integer(value: int) -> Literal:
    return Literal(value, ValueType.INTEGER)


def string(value: str) -> Literal:
    return Literal(value, ValueType.STRING)


def error_of(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("@email", field("email")),
        ("[postalAddress/@addrDefined]", field("addrDefined", "postalAddress")),
        ("[a/b/@c]", field("c", "a", "b")),
        ("[ a / @c ]", field("c", "a")),
        ("'active'", string("active")),
        ('"active"', string("active")),
        ("'it''s'", string("it's")),
        ('"say ""hi"""', string('say "hi"')),
        ("'back\\slash'", string("back\\slash")),
        ("'two\nlines'", string("two\nlines")),
        ("''", string("")),
        ("42", integer(42)),
        ("007", integer(7)),
        ("4.20", Literal(Decimal("4.20"), ValueType.NUMBER)),
        ("true", Literal(True, ValueType.BOOLEAN)),
        ("FALSE", Literal(False, ValueType.BOOLEAN)),
        ("Null", Literal(None, ValueType.NULL)),
        ("-@age", Unary("-", field("age"))),
        ("not @blackList", Unary("NOT", field("blackList"))),
        ("@a <> 1", Binary("!=", field("a"), integer(1))),
        ("@a != 1", Binary("!=", field("a"), integer(1))),
        ("@a >= 1", Binary(">=", field("a"), integer(1))),
        ("@a and @b Or @c", Binary("OR", Binary("AND", field("a"), field("b")), field("c"))),
        ("@a or @b and @c", Binary("OR", field("a"), Binary("AND", field("b"), field("c")))),
        ("NOT @a = 1", Unary("NOT", Binary("=", field("a"), integer(1)))),
        ("1 + 2 * 3", Binary("+", integer(1), Binary("*", integer(2), integer(3)))),
        ("(1 + 2) * 3", Binary("*", Binary("+", integer(1), integer(2)), integer(3))),
        ("1 - 2 - 3", Binary("-", Binary("-", integer(1), integer(2)), integer(3))),
        ("8 / 4 / 2", Binary("/", Binary("/", integer(8), integer(4)), integer(2))),
        ("-2 * 3", Binary("*", Unary("-", integer(2)), integer(3))),
        ("@a + 1 = 2", Binary("=", Binary("+", field("a"), integer(1)), integer(2))),
        ("lower(@email)", Call("Lower", (field("email"),))),
        ("UPPER(@email)", Call("Upper", (field("email"),))),
        ("iIF(@a, 1, 2)", Call("Iif", (field("a"), integer(1), integer(2)))),
        ("concat('a', 'b', 'c')", Call("Concat", (string("a"), string("b"), string("c")))),
        (
            "exdm([postalAddress/@addrQuality])",
            Call("EXDM", (field("addrQuality", "postalAddress"),)),
        ),
    ],
)
def test_parses_each_construct(text: str, tree: object) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize(
    "name",
    [
        "Iif",
        "Lower",
        "Upper",
        "Trim",
        "Concat",
        "Substring",
        "Length",
        "Coalesce",
        "IsNull",
        "ToString",
        "ToInteger",
        "ToDate",
        "ToDateTime",
        "Year",
        "Month",
        "Day",
        "EXDM",
    ],
)
def test_every_function_parses_in_any_case(name: str) -> None:
    arity = {"Iif": 3, "Substring": 3}.get(name, 1)
    args = ", ".join(["@a"] * arity)
    for spelling in (name, name.lower(), name.upper()):
        tree = parse(f"{spelling}({args})")
        assert isinstance(tree, Call)
        assert tree.name == name


def test_positions_point_at_nodes() -> None:
    tree = parse("Iif([postalAddress/@addrDefined]=0,\n  'incomplete', 'active')")
    assert isinstance(tree, Call)
    condition, incomplete, active = tree.args
    assert isinstance(condition, Binary)
    assert condition.pos == Position(1, 5)
    assert condition.op_pos == Position(1, 33)
    assert incomplete.pos == Position(2, 3)
    assert active.pos == Position(2, 17)
    assert isinstance(condition.left, FieldRef)
    assert condition.left.link_position(0) == Position(1, 6)
    assert condition.left.name_position() == Position(1, 20)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@email; DROP TABLE profile", "line 1, column 7: unexpected character ';'"),
        ("'x' || (SELECT 1)", "line 1, column 5: unexpected character '|'"),
        ("@a -- comment", "line 1, column 7: 'comment' is neither a field (@comment)"),
        ("@a /* c */", "line 1, column 5: unexpected '*'; expected a value"),
        ("email", "line 1, column 1: 'email' is neither a field (@email)"),
        ("SELECT", "line 1, column 1: 'SELECT' is neither a field (@SELECT)"),
        ("SELECT 1", "line 1, column 1: 'SELECT' is neither a field"),
        ("@a; SELECT 1", "line 1, column 3: unexpected character ';'"),
        ("@a # x", "line 1, column 4: unexpected character '#'"),
        ("@a\n  + )", "line 2, column 5: unexpected ')'; expected a value"),
        (
            "Iif(@x=1, 1, @emial",
            "line 1, column 20: unexpected end of the expression; expected ')'",
        ),
        ("1 +", "line 1, column 4: unexpected end of the expression; expected a value"),
        ("@a @b", "line 1, column 4: unexpected '@b'; expected an operator"),
        ("[a/b]", "line 1, column 5: unexpected ']'; expected '/'"),
        ("@a = 1 = 2", "line 1, column 8: comparisons do not chain"),
        ("'open", 'line 1, column 1: unexpected character "\'"'),
        ("1.", "line 1, column 2: unexpected character '.'"),
        ("Lowr(@email)", "line 1, column 1: unknown function Lowr (did you mean Lower?)"),
        ("1 + Sbstring(@a, 1, 2)", "line 1, column 5: unknown function Sbstring (did you mean"),
        ("Frobnicate(1)", "line 1, column 1: unknown function Frobnicate"),
        ("Lower(@a, @b)", "line 1, column 1: Lower takes 1 argument, got 2"),
        ("Iif(@a, 1)", "line 1, column 1: Iif takes 3 arguments, got 2"),
        ("Concat()", "line 1, column 1: Concat takes at least 1 arguments, got 0"),
        ("99999999999999999999", "line 1, column 1: the integer 99999999999999999999 is too"),
        ("", "line 1, column 1: the expression is empty"),
        ("   ", "line 1, column 1: the expression is empty"),
    ],
)
def test_syntax_errors_say_where(text: str, message: str) -> None:
    assert str(error_of(text)).startswith(message)


def test_error_carries_its_place() -> None:
    error = error_of("Lower(@a,\n  Upper(@b), 1)")
    assert (error.line, error.column) == (1, 1)
    assert error.detail == "Lower takes 1 argument, got 3"
    assert error.code == "XDMC-EXPR"


def test_largest_integer_parses() -> None:
    assert parse(str(2**63 - 1)) == integer(2**63 - 1)
    assert "too large" in str(error_of(str(2**63)))


def test_keywords_need_a_word_boundary() -> None:
    assert "unexpected 'andLower'" in str(error_of("@a andLower(@b)"))
    assert parse("[and/@or]") == field("or", "and")


def test_deep_nesting_is_refused() -> None:
    deep = "(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5)
    assert parse(deep) == integer(1)
    nested = "Lower(" * (MAX_DEPTH + 2) + "@a" + ")" * (MAX_DEPTH + 2)
    assert "nests deeper" in str(error_of(nested))
    assert "longer than" in str(error_of("1" + " " * MAX_LENGTH))


def test_canonical_text() -> None:
    tree = parse("iif(@a<>1 and not @b,'it''s',\"x\") + -(1 - 2)")
    assert to_text(tree) == "Iif(@a != 1 AND NOT @b, 'it''s', 'x') + -(1 - 2)"
    assert to_text(parse("-(-1)")) == "- -1"
    assert to_text(parse("1.50")) == "1.50"
    assert to_text(Literal(Decimal("1E+2"), ValueType.NUMBER)) == "100.0"
    assert to_text(parse("[a/b/@c] = null or TRUE")) == "[a/b/@c] = NULL OR TRUE"
