"""Columns a PostgreSQL read computes in Arrow from the columns it reads.

The source server computes a mapping's expressions row by row, and on a small machine its
one process is the slowest stage of an export. Two common forms have exact Arrow twins on
PostgreSQL's strict types, so the reader reads their inputs and computes them instead:

- ``CAST(column AS VARCHAR)`` of an integer column (``ToString(@id)``): the integer is
  read as it is (the key often is, already) and cast to text, as ``int8out`` writes it;
- a ``CASE`` whose conditions compare an integer or boolean column (or a boolean cast to
  integer) with an integer constant, and whose results are constants
  (``Iif(@blackListEmail = 0, 'in', 'out')``): a condition that is NULL takes the next
  branch, as in SQL.

Nothing else is taken out of the database: text comparisons follow the column's collation
there, floating-point ones its ``NaN`` rules, and SQLite's columns may hold any type.

``derived_columns(query, schema)`` answers the query reading the inputs instead, as the
columns ``_xdmc_in0``, ``_xdmc_in1``..., and by name the function that computes each
derived column from a batch of that query's columns.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.sql.elements import BinaryExpression, Case, Cast, Grouping, Null

from xdm_connector.sources.statements import RESERVED_PREFIX, AnySelect, uncoerced, unlabeled

Columns = Mapping[str, pa.Array]
Compute = Callable[[Columns], pa.Array]
"""A derived column's values, from the columns of a batch by name."""
_INPUT = f"{RESERVED_PREFIX}in{{}}"
_COMPARISONS: dict[Callable[..., Any], Callable[..., Any]] = {
    operator.eq: pc.equal,
    operator.ne: pc.not_equal,
    operator.lt: pc.less,
    operator.le: pc.less_equal,
    operator.gt: pc.greater,
    operator.ge: pc.greater_equal,
}


def derived_columns(query: AnySelect, schema: pa.Schema) -> tuple[AnySelect, dict[str, Compute]]:
    """The query with each column that Arrow computes replaced by the columns it reads
    (each selected once, after the others), and how to compute those columns, by name.
    ``schema`` types the query's columns."""
    inputs = _Inputs()
    kept: list[sa.ColumnElement[Any]] = []
    derived: dict[str, Compute] = {}
    for column, field in zip(query.selected_columns, schema, strict=True):
        compute = _derivation(uncoerced(unlabeled(column)), field.type, inputs)
        if compute is None:
            kept.append(column)
        else:
            derived[field.name] = compute
    if not derived:
        return query, {}
    columns = kept + inputs.labeled()
    return query.with_only_columns(*columns, maintain_column_froms=True), derived


class _Inputs:
    """The columns derived columns read, each selected once."""

    def __init__(self) -> None:
        self._columns: list[sa.ColumnElement[Any]] = []

    def name(self, column: sa.ColumnElement[Any]) -> str:
        for index, known in enumerate(self._columns):
            if known.compare(column):
                return _INPUT.format(index)
        self._columns.append(column)
        return _INPUT.format(len(self._columns) - 1)

    def labeled(self) -> list[sa.ColumnElement[Any]]:
        return [column.label(_INPUT.format(i)) for i, column in enumerate(self._columns)]


def _derivation(
    element: sa.ColumnElement[Any], kind: pa.DataType, inputs: _Inputs
) -> Compute | None:
    if isinstance(element, Cast) and pa.types.is_string(kind):
        if _is_text(element.type) and _is_column(element.clause, sa.Integer):
            name = inputs.name(element.clause)
            return lambda columns: pc.cast(columns[name], pa.string())
        return None
    if isinstance(element, Case) and element.value is None:
        return _case(element, kind, inputs)
    return None


def _case(case: Case[Any], kind: pa.DataType, inputs: _Inputs) -> Compute | None:
    results = [_constant(result, kind) for _, result in case.whens]
    otherwise = pa.scalar(None, kind) if case.else_ is None else _constant(case.else_, kind)
    if otherwise is None or any(result is None for result in results):
        return None
    conditions = [_comparison(condition, inputs) for condition, _ in case.whens]
    if not conditions or any(condition is None for condition in conditions):
        return None
    tests = [condition for condition in conditions if condition is not None]
    names = [f"when{index}" for index in range(len(tests))]

    def compute(columns: Columns) -> pa.Array:
        # a NULL comparison is not true: the row goes on to the next branch
        flags = [pc.fill_null(test(columns), False) for test in tests]
        whens = pc.make_struct(*flags, field_names=names)
        return pc.case_when(whens, *results, otherwise)

    return compute


def _comparison(element: Any, inputs: _Inputs) -> Compute | None:
    while isinstance(element, Grouping):
        element = element.element
    if not isinstance(element, BinaryExpression) or element.operator not in _COMPARISONS:
        return None
    constant = _constant(uncoerced(element.right), pa.int64())
    read = _integer(uncoerced(element.left), inputs)
    if constant is None or read is None:
        return None
    compare = _COMPARISONS[element.operator]
    return lambda columns: compare(read(columns), constant)


def _integer(element: sa.ColumnElement[Any], inputs: _Inputs) -> Compute | None:
    """An integer column, or a boolean column cast to integer, as int64 values."""
    if _is_column(element, sa.Integer):
        name = inputs.name(element)
        return lambda columns: pc.cast(columns[name], pa.int64())
    if (
        isinstance(element, Cast)
        and isinstance(element.type, sa.Integer)
        and _is_column(element.clause, sa.Boolean)
    ):
        name = inputs.name(element.clause)
        return lambda columns: pc.cast(columns[name], pa.int64())
    return None


def _constant(element: Any, kind: pa.DataType) -> pa.Scalar | None:
    """A bound constant (or NULL) as a scalar of ``kind``; ``None`` if it is not one."""
    element = uncoerced(element)
    if isinstance(element, Null):
        return pa.scalar(None, kind)
    if (
        not isinstance(element, sa.BindParameter)
        or element.expanding
        or element.callable is not None
    ):
        return None
    value = element.value
    if not isinstance(value, bool | int | str) or isinstance(value, bool) != pa.types.is_boolean(
        kind
    ):
        return None
    if isinstance(value, str) != pa.types.is_string(kind):
        return None
    try:
        return pa.scalar(value, kind)
    except (pa.ArrowException, OverflowError):
        return None


def _is_column(element: Any, kind: type[sa.types.TypeEngine[Any]]) -> bool:
    """Whether ``element`` is a table's column of that SQLAlchemy type."""
    return (
        isinstance(element, sa.ColumnClause)
        and not element.is_literal
        and element.table is not None
        and isinstance(element.type, kind)
    )


def _is_text(kind: sa.types.TypeEngine[Any]) -> bool:
    """A text type of no length (a length would cut the text)."""
    return isinstance(kind, sa.String) and not isinstance(kind, sa.Enum) and kind.length is None
