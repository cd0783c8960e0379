"""The command line's rows: an aligned table for people, a JSON array with ``--json``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from tests.tables import read_table
from xdm_connector.cli.tables import Column, JsonOption, cell_text, print_rows, table_lines

LONG_ID = "batch-" + "0123456789abcdef" * 12
AT = dt.datetime(2026, 12, 1, 8, 30, 5, 123456, tzinfo=dt.UTC)
COLUMNS = (
    Column("id", "ID"),
    Column("recordsRead", "READ"),
    Column("groups", "GROUPS"),
    Column("at", "AT"),
    Column("label", "LABEL", prose=True),
)
ROWS = [
    ("XDM44", 10000, ["Administrators", "Standard Users"], AT, "Profiles to Platform"),
    (LONG_ID, 7, [], None, "[bold]not markup[/bold] :smile:"),
]


def listing(rows: Sequence[tuple[Any, ...]]) -> typer.Typer:
    """A command that lists ``rows`` as the product's commands do."""
    app = typer.Typer()

    @app.command()
    def listed(as_json: JsonOption = False) -> None:
        print_rows(COLUMNS, rows, as_json=as_json)

    return app


def invoke(rows: Sequence[tuple[Any, ...]], *args: str) -> str:
    # A narrow COLUMNS, as a terminal would set it: output that is not a terminal ignores it.
    result = CliRunner().invoke(listing(rows), list(args), env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def test_a_table_has_a_header_row_and_aligned_columns() -> None:
    table = read_table(invoke(ROWS))

    assert table.headers == ["ID", "READ", "GROUPS", "AT", "LABEL"]
    assert table.records() == [
        {
            "ID": "XDM44",
            "READ": "10000",
            "GROUPS": "Administrators, Standard Users",
            "AT": "2026-12-01T08:30:05+00:00",
            "LABEL": "Profiles to Platform",
        },
        {
            "ID": LONG_ID,
            "READ": "7",
            "GROUPS": "",
            "AT": "",
            "LABEL": "[bold]not markup[/bold] :smile:",
        },
    ]
    assert table.aligned_right("READ")
    assert not table.aligned_left("READ")
    for header in ["ID", "GROUPS", "AT", "LABEL"]:
        assert table.aligned_left(header), header
    assert table.lines[0].startswith("ID ")


def test_outside_a_terminal_rows_are_never_wrapped_nor_cut() -> None:
    printed = invoke(ROWS)

    assert len(printed.splitlines()) == 1 + len(ROWS)
    assert LONG_ID in printed.splitlines()[2]
    assert max(len(line) for line in printed.splitlines()) > 40


def test_json_holds_the_same_rows_keyed_by_column() -> None:
    document = orjson.loads(invoke(ROWS, "--json"))

    assert document == [
        {
            "id": "XDM44",
            "recordsRead": 10000,
            "groups": ["Administrators", "Standard Users"],
            "at": "2026-12-01T08:30:05.123456+00:00",
            "label": "Profiles to Platform",
        },
        {
            "id": LONG_ID,
            "recordsRead": 7,
            "groups": [],
            "at": None,
            "label": "[bold]not markup[/bold] :smile:",
        },
    ]


def test_no_rows_print_the_header_alone_or_an_empty_array() -> None:
    assert invoke([]).splitlines() == ["ID  READ  GROUPS  AT  LABEL"]
    assert orjson.loads(invoke([], "--json")) == []


def test_in_a_narrow_terminal_prose_wraps_and_ids_stay_whole() -> None:
    rows = [("XDM44", 10000, ["Administrators"], AT, "Profiles to Platform, every night")]
    lines = table_lines(COLUMNS, rows, room=70)

    assert max(len(line) for line in lines) <= 70
    table = read_table("\n".join(lines))
    assert len(table.rows) > 1
    assert table.rows[0][:4] == ["XDM44", "10000", "Administrators", "2026-12-01T08:30:05+00:00"]
    assert all(cell == "" for row in table.rows[1:] for cell in row[:4])
    assert " ".join(table.column("LABEL")) == "Profiles to Platform, every night"


def test_in_a_terminal_too_narrow_for_an_id_it_folds_but_keeps_every_character() -> None:
    lines = table_lines(COLUMNS, ROWS[1:], room=40)

    assert max(len(line) for line in lines) <= 40
    table = read_table("\n".join(lines))
    assert "".join(table.column("ID")) == LONG_ID
    assert "".join(table.column("READ")) == "7"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("", ""),
        ([], ""),
        ({}, ""),
        (["a", "b"], "a, b"),
        ({"role": "sql"}, '{"role":"sql"}'),
        (AT, "2026-12-01T08:30:05+00:00"),
        (0, "0"),
        (False, "False"),
    ],
)
def test_a_value_as_a_cell(value: Any, text: str) -> None:
    assert cell_text(value) == text


def test_a_row_of_the_wrong_length_is_a_mistake_of_the_command() -> None:
    with pytest.raises(ValueError, match="2 values for 5 columns"):
        table_lines(COLUMNS, [("a", 1)])
