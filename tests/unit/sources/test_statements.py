"""The statements the readers send: duplicate columns found by structure and bound values,
and compilations kept for statements built alike, their values bound anew each time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from xdm_connector.sources import statements
from xdm_connector.sources.statements import (
    AnySelect,
    compile_for_adbc,
    distinct_columns,
    sqlite_dialect,
)

profile = sa.table(
    "profile",
    sa.column("id", sa.Integer),
    sa.column("email", sa.String),
    sa.column("lastModified", sa.DateTime),
)


def _compiled(statement: AnySelect) -> tuple[str, list[Any]]:
    compiled = compile_for_adbc(statement, sqlite_dialect())
    assert compiled is not None
    sql, parameters = compiled
    values = [] if parameters is None else [column[0].as_py() for column in parameters.columns]
    return sql, values


def _window(after: dt.datetime, until: dt.datetime) -> AnySelect:
    modified = profile.c.lastModified
    return sa.select(profile.c.id, profile.c.email).where(modified > after, modified <= until)


def test_an_expression_selected_twice_is_read_once_but_not_one_with_other_values() -> None:
    query = sa.select(
        profile.c.email.label("a"),
        profile.c.email.label("b"),
        (profile.c.id + 1).label("c"),
        (profile.c.id + 2).label("d"),
        (profile.c.id + 1).label("e"),
        sa.cast(profile.c.id, sa.String).label("f"),
    )

    read, copies = distinct_columns(query)

    assert copies == {"b": "a", "e": "c"}
    assert [column.key for column in read.selected_columns] == ["a", "c", "d", "f"]


def test_a_statement_built_alike_binds_its_own_values_in_the_same_sql(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compilations: list[AnySelect] = []
    compile_once = statements._compiled

    def counted(statement: AnySelect, dialect: sa.Dialect) -> sa.Compiled:
        compilations.append(statement)
        return compile_once(statement, dialect)

    monkeypatch.setattr(statements, "_compiled", counted)
    monkeypatch.setattr(statements, "_compilations", {})
    first = dt.datetime(2026, 1, 1, 12, 0, 0)
    second = dt.datetime(2026, 2, 1, 8, 30, 0)

    sql, values = _compiled(_window(first, first + dt.timedelta(minutes=1)))
    again, other_values = _compiled(_window(second, second + dt.timedelta(hours=1)))

    assert len(compilations) == 1
    assert again == sql
    assert "2026" not in sql  # bound, never written into the SQL
    assert values == ["2026-01-01 12:00:00.000000", "2026-01-01 12:01:00.000000"]
    assert other_values == ["2026-02-01 08:30:00.000000", "2026-02-01 09:30:00.000000"]


def test_a_list_of_keys_is_compiled_for_its_length() -> None:
    def by_keys(keys: list[int]) -> AnySelect:
        return sa.select(profile.c.email).where(profile.c.id.in_(keys))

    two, two_values = _compiled(by_keys([1, 2]))
    three, three_values = _compiled(by_keys([4, 5, 6]))

    assert (two.count("?"), three.count("?")) == (2, 3)
    assert (two_values, three_values) == ([1, 2], [4, 5, 6])


def test_a_value_written_into_the_sql_keeps_a_compilation_of_its_own() -> None:
    def typed(kind: str) -> AnySelect:
        inline = sa.literal(kind, literal_execute=True)
        return sa.select(profile.c.id).where(sa.func.typeof(profile.c.email) == inline)

    text, _ = _compiled(typed("text"))
    integer, _ = _compiled(typed("integer"))

    assert "'text'" in text
    assert "'integer'" in integer
