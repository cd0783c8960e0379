"""The syntax tree of a source expression, as :func:`~.grammar.parse` builds it.

Nodes are frozen dataclasses. Positions (``pos``, ``op_pos``) say where a node starts in
the text, for error messages; they take no part in equality, so that a tree parsed from
``to_text(tree)`` equals ``tree`` wherever its nodes sit in the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from xdm_connector.expressions.value_types import ValueType


@dataclass(frozen=True)
class Position:
    """A place in an expression's text, 1-based like the error messages."""

    line: int = 1
    column: int = 1


START = Position()

LiteralValue = str | int | Decimal | bool | None


@dataclass(frozen=True)
class Literal:
    """A constant: its value and type (``Literal(1, INTEGER)`` is not ``Literal(True, ...)``)."""

    value: LiteralValue
    type: ValueType
    pos: Position = field(default=START, compare=False, kw_only=True)


@dataclass(frozen=True)
class FieldRef:
    """``@name`` (no links) or ``[link/link2/@name]``; names as written, matched later."""

    links: tuple[str, ...]
    name: str
    pos: Position = field(default=START, compare=False, kw_only=True)

    def link_position(self, index: int) -> Position:
        """Where the ``index``-th link name of the path starts (after ``[`` and slashes)."""
        offset = 1 + sum(len(link) + 1 for link in self.links[:index])
        return Position(self.pos.line, self.pos.column + offset)

    def name_position(self) -> Position:
        """Where the ``@name`` part starts."""
        if not self.links:
            return self.pos
        return self.link_position(len(self.links))


@dataclass(frozen=True)
class Unary:
    """``-operand`` or ``NOT operand``."""

    op: str
    operand: Node
    pos: Position = field(default=START, compare=False, kw_only=True)


@dataclass(frozen=True)
class Binary:
    """``left op right``; ``op`` is one of :data:`BINARY_OPERATORS` (``<>`` reads as ``!=``)."""

    op: str
    left: Node
    right: Node
    pos: Position = field(default=START, compare=False, kw_only=True)
    op_pos: Position = field(default=START, compare=False, kw_only=True)


@dataclass(frozen=True)
class Call:
    """``Name(arg, ...)``; ``name`` is the function's canonical spelling, e.g. ``Iif``."""

    name: str
    args: tuple[Node, ...]
    pos: Position = field(default=START, compare=False, kw_only=True)


Node = Literal | FieldRef | Unary | Binary | Call


@dataclass(frozen=True)
class Operator:
    """An operator as the syntax tree spells it, how tightly it binds, and what it does.

    ``precedence`` 1 binds loosest: ``@a OR @b AND @c`` is ``@a OR (@b AND @c)``. Binary
    operators of one level group to the left (``8 / 4 / 2`` is ``(8 / 4) / 2``) unless
    they do not ``chain``, as comparisons: ``1 < @a < 9`` is an error. ``spellings`` are
    other ways to write it; keywords match in any letter case. The grammar encodes the same
    levels (a test holds them together); the printer reads them from here.
    """

    symbol: str
    arity: int
    precedence: int
    summary: str
    chains: bool = True
    spellings: tuple[str, ...] = ()


OPERATORS: tuple[Operator, ...] = (
    Operator("OR", 2, 1, "true when either side is true"),
    Operator("AND", 2, 2, "true when both sides are true"),
    Operator("NOT", 1, 3, "true when the operand is false"),
    Operator("=", 2, 4, "equal; `@x = NULL` tests whether `@x` is NULL", chains=False),
    Operator(
        "!=",
        2,
        4,
        "not equal; `@x != NULL` tests whether `@x` has a value",
        chains=False,
        spellings=("<>",),
    ),
    Operator("<", 2, 4, "less than", chains=False),
    Operator("<=", 2, 4, "less than or equal", chains=False),
    Operator(">", 2, 4, "greater than", chains=False),
    Operator(">=", 2, 4, "greater than or equal", chains=False),
    Operator("+", 2, 5, "adds numbers, or joins two strings"),
    Operator("-", 2, 5, "subtracts"),
    Operator("*", 2, 6, "multiplies"),
    Operator("/", 2, 6, "divides exactly: `7 / 2` is `3.5`, never an integer division"),
    Operator("-", 1, 7, "negates a number"),
)

COMPARISONS = frozenset(op.symbol for op in OPERATORS if op.arity == 2 and not op.chains)
BINARY_OPERATORS = frozenset(op.symbol for op in OPERATORS if op.arity == 2)
UNARY_OPERATORS = frozenset(op.symbol for op in OPERATORS if op.arity == 1)


def field_refs(node: Node) -> list[FieldRef]:
    """Every field reference in ``node``, in text order."""
    match node:
        case FieldRef():
            return [node]
        case Unary(operand=operand):
            return field_refs(operand)
        case Binary(left=left, right=right):
            return field_refs(left) + field_refs(right)
        case Call(args=args):
            return [ref for arg in args for ref in field_refs(arg)]
        case _:
            return []
