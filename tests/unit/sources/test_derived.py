"""The columns a PostgreSQL read computes in Arrow: which ones, and their values."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from xdm_connector.sources.database import column_arrow_type
from xdm_connector.sources.derived import derived_columns
from xdm_connector.sources.statements import unlabeled

metadata = sa.MetaData()
profile = sa.Table(
    "profile",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("visits", sa.Integer),
    sa.Column("score", sa.Float),
    sa.Column("name", sa.String(20)),
    sa.Column("vip", sa.Boolean),
)
BATCH = pa.RecordBatch.from_pydict(
    {
        "id": pa.array([1, -20, 300, 4], pa.int64()),
        "visits": pa.array([0, 5, None, 2], pa.int64()),
        "vip": pa.array([True, False, None, True], pa.bool_()),
    }
)


def schema_of(query: sa.Select[Any]) -> pa.Schema:
    return pa.schema(
        pa.field(str(column.key), column_arrow_type(column.type))
        for column in query.selected_columns
    )


def iif(condition: sa.ColumnElement[bool], yes: object, no: object) -> sa.ColumnElement[Any]:
    """As the expression compiler writes ``Iif``: constants typed by ``type_coerce``."""

    def constant(value: object) -> Any:
        return value if isinstance(value, sa.ColumnElement) else sa.literal(value)

    case = sa.case((condition, constant(yes)), else_=constant(no))
    return sa.type_coerce(case, sa.String())


def derive(query: sa.Select[Any]) -> tuple[list[str], dict[str, list[Any]]]:
    """The columns the query sends, and the derived columns computed on ``BATCH``."""
    sent, derived = derived_columns(query, schema_of(query))
    read = {str(c.key): BATCH.column(str(unlabeled(c).key)) for c in sent.selected_columns}
    values = {name: compute(read).to_pylist() for name, compute in derived.items()}
    return [str(c.key) for c in sent.selected_columns], values


def test_an_integer_cast_to_text_reads_the_integer() -> None:
    query = sa.select(profile.c.id, sa.cast(profile.c.id, sa.String()).label("text_id"))
    sent, values = derive(query)
    # the input is the same column as ``id``: the reader's copies then read it once
    assert sent == ["id", "_xdmc_in0"]
    assert values == {"text_id": ["1", "-20", "300", "4"]}


def test_iif_on_a_boolean_compared_with_an_integer() -> None:
    flag = iif(sa.cast(profile.c.vip, sa.Integer) == 0, "in", "out")
    sent, values = derive(sa.select(profile.c.id, flag.label("email")))
    assert sent == ["id", "_xdmc_in0"]
    # NULL = 0 is not true: the row takes the ELSE branch, as in SQL
    assert values == {"email": ["out", "in", "out", "out"]}


def test_case_branches_are_taken_in_order_and_no_else_is_null() -> None:
    ranked = sa.case(
        (profile.c.visits >= 5, sa.literal("many")),
        (profile.c.visits > 0, sa.literal("some")),
        (profile.c.id < 0, sa.literal("negative")),
    )
    numbers = sa.case((profile.c.visits != 0, sa.literal(1)), else_=sa.literal(-1))
    sent, values = derive(sa.select(ranked.label("ranked"), numbers.label("numbers")))
    assert sent == ["_xdmc_in0", "_xdmc_in1"]
    assert values == {"ranked": [None, "many", None, "some"], "numbers": [-1, 1, -1, 1]}


@pytest.mark.parametrize(
    "column",
    [
        pytest.param(profile.c.id, id="a plain column"),
        pytest.param(sa.cast(profile.c.id, sa.String(2)), id="a cast that cuts"),
        pytest.param(sa.cast(profile.c.score, sa.String()), id="a float as text"),
        pytest.param(iif(profile.c.name == "x", "a", "b"), id="a text comparison"),
        pytest.param(iif(profile.c.score > 1, "a", "b"), id="a float comparison"),
        pytest.param(iif(profile.c.visits > profile.c.id, "a", "b"), id="two columns"),
        pytest.param(iif(profile.c.visits > 1, profile.c.name, "b"), id="a column result"),
        pytest.param(iif(profile.c.visits > 1, "a", 2.5), id="a float result"),
        pytest.param(sa.case((profile.c.visits > 1, sa.literal_column("'a'"))), id="SQL text"),
        pytest.param(sa.func.lower(profile.c.name), id="a function"),
    ],
)
def test_other_expressions_stay_with_the_database(column: sa.ColumnElement[Any]) -> None:
    query = sa.select(column.label("value"))
    assert derived_columns(query, schema_of(query)) == (query, {})
