"""``EXDM(expr)``: a source enumeration value onto the XDM field's own enumeration.

The source values are unknown when the mapping compiles, so it becomes one ``CASE
lower(expr) WHEN (SELECT lower(:value)) THEN ...`` whose branches, in this order, map a
source value equal to

1. an XDM enumeration value to that value (``'Valid'`` keeps ``valid``);
2. an XDM enumeration label to its value (``'Valid address'`` gives ``valid``);
3. a source value of the mapping's explicit table to the XDM value it names;

and anything else to NULL. Every comparison is case-insensitive by the database's
``lower`` (SQLite folds ASCII letters only); the first branch for a value wins. Values and
labels are bound parameters. The result is an integer when every enumeration value is
one, else a string.

Source columns mostly hold the values exactly as the branches spell them, so the same
branches are first tried on the value as it is, ``CASE expr WHEN :value THEN ... ELSE
<the lowered CASE> END``: such a row costs the database no ``lower`` (about half of the
``CASE``'s time on PostgreSQL). A value equal to a branch's text is lowered onto that
same branch (the branches' lowered texts are distinct), so the answer is the same.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from xdm_connector.errors import ExpressionError
from xdm_connector.expressions.ast import Call
from xdm_connector.expressions.calls import EXDM_SUBJECT, Typed, constant, typed_null
from xdm_connector.expressions.value_types import ValueType


def compile_exdm(
    node: Call,
    subject: Typed,
    enum: Mapping[object, str] | None,
    values: Mapping[str, str] | None,
) -> Typed:
    """The ``CASE`` of ``EXDM(subject)`` for an XDM field with ``enum`` (value → label).

    ``values`` is the mapping's explicit table (source value → XDM value); each XDM value
    must be one of ``enum``'s when the field has an enumeration.
    """
    where = {"line": node.pos.line, "column": node.pos.column}
    if not enum and not values:
        raise ExpressionError("EXDM needs the XDM field's enumeration, and it has none", **where)
    if subject.type is not ValueType.NULL and subject.type not in EXDM_SUBJECT:
        raise ExpressionError(
            f"EXDM needs a string or an integer, got {subject.type.value}",
            line=node.args[0].pos.line,
            column=node.args[0].pos.column,
        )
    enum = enum or {}
    integers = bool(enum) and all(
        isinstance(value, int) and not isinstance(value, bool) for value in enum
    )
    result_type = ValueType.INTEGER if integers else ValueType.STRING

    def result(value: object) -> object:
        return value if integers else str(value)

    branches: dict[str, tuple[str, object]] = {}
    for value in enum:
        branches.setdefault(str(value).lower(), (str(value), result(value)))
    for value, label in enum.items():
        branches.setdefault(label.lower(), (label, result(value)))
    by_text = {str(value).lower(): value for value in enum}
    for source, target in (values or {}).items():
        if enum and target.lower() not in by_text:
            allowed = ", ".join(repr(str(value)) for value in enum)
            raise ExpressionError(
                f"EXDM maps {source!r} to {target!r}, which is not a value of the XDM "
                f"field's enumeration ({allowed})",
                **where,
            )
        xdm_value = result(by_text[target.lower()]) if enum else target
        branches.setdefault(source.lower(), (source, xdm_value))

    if subject.type is ValueType.NULL:
        return typed_null(result_type)
    text = subject.column
    if subject.type is ValueType.INTEGER:
        text = sa.cast(text, sa.String())
    # ``lower(x)`` is computed once a row, not once a branch, and each ``lower(:k)`` once a
    # query: a scalar subquery, which PostgreSQL runs once even when ``:k`` is not a literal.
    cases = [
        (
            sa.select(sa.func.lower(constant(key, ValueType.STRING))).scalar_subquery(),
            constant(value, result_type),
        )
        for key, value in branches.values()
    ]
    lowered = sa.case(*cases, value=sa.func.lower(text, type_=sa.String()))
    exact = [
        (constant(key, ValueType.STRING), constant(value, result_type))
        for key, value in branches.values()
    ]
    return Typed(sa.case(*exact, value=text, else_=lowered), result_type)
