"""The expression grammar (lark, LALR) and :func:`parse`, which builds the syntax tree.

Lexical rules:

- fields: ``@name`` and ``[link/link2/@name]``, names ``[A-Za-z_][A-Za-z0-9_]*``;
- strings: ``'...'`` or ``"..."``; the quote itself is written twice (``'it''s'``); a
  backslash is an ordinary character; a string may span lines;
- numbers: ``42`` (integer, at most 2**63 - 1), ``4.2`` (decimal; digits on both sides);
  a minus sign is the unary operator;
- ``TRUE``, ``FALSE``, ``NULL``, ``AND``, ``OR``, ``NOT`` and function names in any case.

Operators, loosest first (the levels of :data:`~.ast.OPERATORS`, which a test holds to the
rules below): ``OR``; ``AND``; ``NOT``; ``= != <> < <= > >=`` (not chained); ``+ -``;
``* /``; unary ``-``. There are no comments, no ``||``, no ``;`` and no bare names:
anything else is an :class:`~xdm_connector.errors.ExpressionError` at its place.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from xdm_connector.errors import ExpressionError
from xdm_connector.expressions.ast import Binary, Call, FieldRef, Literal, Node, Position, Unary
from xdm_connector.expressions.functions import SIGNATURES, find_signature
from xdm_connector.expressions.value_types import ValueType
from xdm_connector.sources.schema import did_you_mean

MAX_LENGTH = 10_000
MAX_DEPTH = 48
MAX_INTEGER = 2**63 - 1

GRAMMAR = r"""
?start: or_
?or_: and_ | or_ OR and_ -> binary
?and_: not_ | and_ AND not_ -> binary
?not_: compare | NOT not_ -> unary
?compare: sum | sum COMPARE sum -> binary
?sum: product | sum (PLUS | MINUS) product -> binary
?product: neg | product (STAR | SLASH) neg -> binary
?neg: atom | MINUS neg -> unary
?atom: STRING -> string
     | DECIMAL -> decimal
     | INTEGER -> integer
     | TRUE -> true
     | FALSE -> false
     | NULL -> null
     | FIELD -> field
     | "[" (NAME "/")+ FIELD "]" -> link_field
     | NAME "(" _args? ")" -> call
     | "(" or_ ")"
_args: or_ ("," or_)*

OR.2: /or\b/i
AND.2: /and\b/i
NOT.2: /not\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
NULL.2: /null\b/i
NAME: /[A-Za-z_][A-Za-z0-9_]*/
FIELD: /@[A-Za-z_][A-Za-z0-9_]*/
STRING: /'(?:[^']|'')*'/ | /"(?:[^"]|"")*"/
DECIMAL.2: /[0-9]+\.[0-9]+/
INTEGER: /[0-9]+/
COMPARE: "<=" | ">=" | "<>" | "!=" | "=" | "<" | ">"
PLUS: "+"
MINUS: "-"
STAR: "*"
SLASH: "/"
%ignore /\s+/
"""

_OPERATORS = frozenset({"OR", "AND", "COMPARE", "PLUS", "MINUS", "STAR", "SLASH"})
_VALUE_STARTS = frozenset(
    {"STRING", "DECIMAL", "INTEGER", "TRUE", "FALSE", "NULL", "FIELD", "NAME", "LSQB", "LPAR"}
)
_PUNCTUATION = {"RPAR": "')'", "COMMA": "','", "RSQB": "']'", "SLASH": "'/'", "$END": "the end"}


PARSED_KEPT = 4096
"""Parsed expressions kept (the latest used), by their text."""


@functools.cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True)


def prepare_parser() -> None:
    """Build the parser now rather than at the first ``parse`` (tens of milliseconds of
    grammar analysis): a worker does so as it starts, before its first job waits for it."""
    _parser()


@functools.lru_cache(maxsize=PARSED_KEPT)
def parse(text: str) -> Node:
    """Parse ``text`` into a syntax tree, or raise ``ExpressionError`` at the faulty place.

    Example: ``parse("Lower(@email)") == Call("Lower", (FieldRef((), "email"),))``.
    Trees are immutable and kept: every export plans its mapping's expressions again.
    """
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExpressionError("the expression is empty")
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    except LarkError as exc:
        raise ExpressionError(f"cannot parse the expression ({exc})") from None
    return _build(tree, 0)


def _position(item: Tree[Token] | Token) -> Position:
    if isinstance(item, Token):
        return Position(item.line or 1, item.column or 1)
    return Position(item.meta.line, item.meta.column)


def _end_position(text: str) -> Position:
    lines = text.split("\n")
    return Position(len(lines), len(lines[-1]) + 1)


def _syntax_error(text: str, exc: UnexpectedInput) -> ExpressionError:
    if isinstance(exc, UnexpectedCharacters):
        offset = exc.pos_in_stream or 0
        char = text[offset] if offset < len(text) else ""
        return ExpressionError(f"unexpected character {char!r}", line=exc.line, column=exc.column)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        at_end = token.type == "$END"
        pos = _end_position(text) if at_end else _position(token)
        if exc.expected == {"LPAR"}:
            return _bare_name_error(text, pos)
        if token.type == "COMPARE" and not exc.expected & _VALUE_STARTS:
            return ExpressionError(
                "comparisons do not chain: join them with AND", line=pos.line, column=pos.column
            )
        found = "end of the expression" if at_end else repr(str(token))
        return ExpressionError(
            f"unexpected {found}{_expectation(exc.expected, at_end=at_end)}",
            line=pos.line,
            column=pos.column,
        )
    pos = _end_position(text)
    return ExpressionError("unexpected end of the expression", line=pos.line, column=pos.column)


def _expectation(expected: set[str], *, at_end: bool) -> str:
    if at_end and "RPAR" in expected:
        return "; expected ')'"
    if expected & _VALUE_STARTS:
        return "; expected a value"
    if expected & _OPERATORS - {"SLASH"}:
        return "; expected an operator"
    words = sorted(_PUNCTUATION[name] for name in expected if name in _PUNCTUATION)
    return f"; expected {' or '.join(words)}" if words else ""


def _bare_name_error(text: str, after: Position) -> ExpressionError:
    lines = text.split("\n")
    before = lines[after.line - 1][: after.column - 1].rstrip()
    match = re.search(r"[A-Za-z_][A-Za-z0-9_]*$", before)
    name = match.group(0) if match else ""
    column = match.start() + 1 if match else after.column
    return ExpressionError(
        f"{name!r} is neither a field (@{name}) nor a function call ({name}(...))",
        line=after.line,
        column=column,
    )


def _build(item: Tree[Token] | Token, depth: int) -> Node:
    if depth > MAX_DEPTH:
        pos = _position(item)
        raise ExpressionError(
            f"the expression nests deeper than {MAX_DEPTH} levels", line=pos.line, column=pos.column
        )
    if isinstance(item, Token):
        raise ExpressionError(f"unexpected {str(item)!r}", **_kw(_position(item)))
    pos = _position(item)
    children = item.children
    match item.data:
        case "binary":
            left, op, right = children
            assert isinstance(op, Token)
            name = "!=" if op == "<>" else str(op).upper()
            return Binary(
                name,
                _build(left, depth + 1),
                _build(right, depth + 1),
                pos=pos,
                op_pos=_position(op),
            )
        case "unary":
            op, operand = children
            return Unary(str(op).upper(), _build(operand, depth + 1), pos=pos)
        case "call":
            return _build_call(children, depth, pos)
        case "field":
            return FieldRef((), str(children[0])[1:], pos=pos)
        case "link_field":
            *links, name = (str(child) for child in children if isinstance(child, Token))
            return FieldRef(tuple(links), name[1:], pos=pos)
    return _build_literal(str(item.data), str(children[0]), pos)


def _build_call(children: list[Tree[Token] | Token], depth: int, pos: Position) -> Call:
    name, *args = children
    signature = find_signature(str(name))
    if signature is None:
        hint = did_you_mean(str(name), [sig.name for sig in SIGNATURES.values()])
        raise ExpressionError(f"unknown function {name}{hint}", **_kw(pos))
    problem = signature.arity_error(len(args))
    if problem is not None:
        raise ExpressionError(problem, **_kw(pos))
    return Call(signature.name, tuple(_build(arg, depth + 1) for arg in args), pos=pos)


def _build_literal(kind: str, text: str, pos: Position) -> Literal:
    match kind:
        case "string":
            quote = text[0]
            return Literal(text[1:-1].replace(quote * 2, quote), ValueType.STRING, pos=pos)
        case "integer":
            if len(text.lstrip("0")) > 19 or int(text) > MAX_INTEGER:
                raise ExpressionError(f"the integer {text} is too large", **_kw(pos))
            return Literal(int(text), ValueType.INTEGER, pos=pos)
        case "decimal":
            return Literal(Decimal(text), ValueType.NUMBER, pos=pos)
        case "true" | "false":
            return Literal(kind == "true", ValueType.BOOLEAN, pos=pos)
    return Literal(None, ValueType.NULL, pos=pos)


def _kw(pos: Position) -> dict[str, int]:
    return {"line": pos.line, "column": pos.column}
