"""Canonical text of a syntax tree: ``parse(to_text(tree)) == tree``.

Keywords in capitals, strings in single quotes, one space around binary operators,
parentheses only where precedence needs them.
"""

from __future__ import annotations

from decimal import Decimal

from xdm_connector.expressions.ast import OPERATORS, Binary, Call, FieldRef, Literal, Node, Unary

_LEVELS = {op.symbol: op.precedence for op in OPERATORS if op.arity == 2}
_CHAINS = {op.symbol: op.chains for op in OPERATORS if op.arity == 2}
_UNARY_LEVELS = {op.symbol: op.precedence for op in OPERATORS if op.arity == 1}
_ATOM = max(op.precedence for op in OPERATORS) + 1


def to_text(node: Node) -> str:
    """The canonical text of ``node``.

    Example: ``to_text(parse("iif(@a<>1,'x','it''s')")) == "Iif(@a != 1, 'x', 'it''s')"``.
    """
    match node:
        case Literal():
            return _literal(node)
        case FieldRef(links=(), name=name):
            return f"@{name}"
        case FieldRef(links=links, name=name):
            return "[" + "".join(f"{link}/" for link in links) + f"@{name}]"
        case Unary(op=op, operand=operand):
            text = _operand(operand, _UNARY_LEVELS[op])
            if op == "NOT":
                return "NOT " + text
            return "- " + text if text.startswith("-") else "-" + text
        case Binary(op=op, left=left, right=right):
            level = _LEVELS[op]
            # A comparison's sides are sums: the same level on its left would chain it.
            left_level = level if _CHAINS[op] else level + 1
            right_level = level + 1
            return f"{_operand(left, left_level)} {op} {_operand(right, right_level)}"
        case Call(name=name, args=args):
            return f"{name}({', '.join(to_text(arg) for arg in args)})"


def _level(node: Node) -> int:
    match node:
        case Binary(op=op):
            return _LEVELS[op]
        case Unary(op=op):
            return _UNARY_LEVELS[op]
    return _ATOM


def _operand(node: Node, at_least: int) -> str:
    text = to_text(node)
    return text if _level(node) >= at_least else f"({text})"


def _literal(node: Literal) -> str:
    return literal_text(node.value)


def literal_text(value: object) -> str:
    """``value`` written as a literal of the language (``NULL``, ``TRUE``, ``'it''s'``,
    ``1.0``); a date or a date-time as its ISO text."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text if "." in text else text + ".0"
    return str(value)
