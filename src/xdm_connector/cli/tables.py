"""Rows for people and for scripts: an aligned table, or with ``--json`` a JSON array.

Every command that prints several rows hands them to ``print_rows`` with its columns::

    COLUMNS = (Column("id", "ID"), Column("recordsRead", "READ"))
    print_rows(COLUMNS, [("XDM44", 10000)], as_json=as_json)

prints, for people (numbers right-aligned, headers in capitals, no borders)::

    ID      READ
    XDM44  10000

and with ``--json``, for scripts, one JSON document on standard output, the same rows keyed
by each column's ``key``: ``[{"id": "XDM44", "recordsRead": 10000}]``. An empty list prints
its header alone (``[]`` in JSON).

Width: anywhere but a terminal (a pipe, a file, a test) the table is as wide as its cells
need, whatever ``COLUMNS`` says: one line per row, nothing wrapped or cut, no trailing
spaces. In a terminal it fits the terminal's width: prose (labels, messages) wraps first,
and when that is not enough every long cell folds onto the next line; no cell is cut.
"""

from __future__ import annotations

import datetime as dt
import decimal
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

if TYPE_CHECKING:
    from rich.table import Table

JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print the rows as one JSON array of objects, for scripts."),
]

NUMBER_TYPES = (int, float, decimal.Decimal)
COLUMN_GAP = 2
PROSE_MIN_WIDTH = 12
UNBOUNDED_WIDTH = 2**31


@dataclass(frozen=True)
class Column:
    """One column: its key in the JSON objects, its header in the table, and whether it
    holds prose that may wrap at spaces to fit a terminal (ids, statuses and times stay
    whole while prose can give way)."""

    key: str
    header: str
    prose: bool = False


def print_rows(columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, as_json: bool) -> None:
    """Print ``rows`` (values in the order of ``columns``) as a table, or as a JSON array."""
    values = [tuple(row) for row in rows]
    if as_json:
        records = [
            {column.key: value for column, value in zip(columns, row, strict=True)}
            for row in values
        ]
        # default=str: a lake query may answer types JSON lacks (decimals, dates, bytes).
        typer.echo(orjson.dumps(records, default=str, option=orjson.OPT_INDENT_2).decode())
        return
    _print_table(columns, values)


def cell_text(value: Any) -> str:
    """A value as a table cell: nothing for null or empty, lists comma-separated, objects
    as compact JSON, times to the second."""
    if value is None or (isinstance(value, str | list | tuple | dict) and not value):
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(cell_text(item) for item in value)
    if isinstance(value, dict):
        return orjson.dumps(value, default=str).decode()
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def _is_numeric(values: Iterable[Any]) -> bool:
    present = [value for value in values if value is not None]
    return bool(present) and all(
        isinstance(value, NUMBER_TYPES) and not isinstance(value, bool) for value in present
    )


def _widest_line(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.splitlines()), default=0)


def _table(columns: Sequence[Column], rows: Sequence[tuple[Any, ...]], room: int | None) -> Table:
    """The table of ``rows``; ``room`` is the terminal's width (None: unbounded)."""
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"a row of {len(row)} values for {len(columns)} columns")
    cells = [[cell_text(value) for value in row] for row in rows]
    naturals = [
        max(_widest_line(text) for text in [column.header, *(row[index] for row in cells)])
        for index, column in enumerate(columns)
    ]
    # Where the other columns fit whole beside a little prose, they keep their width and
    # the prose wraps; else every column shares the room, its cells folded (never cut).
    needed = sum(
        min(natural, max(PROSE_MIN_WIDTH, cell_len(column.header))) if column.prose else natural
        for column, natural in zip(columns, naturals, strict=True)
    )
    keep_whole = room is not None and needed + COLUMN_GAP * (len(columns) - 1) <= room
    # No borders and two spaces between columns: aligned for people, plain text for grep.
    table = Table(box=None, pad_edge=False, padding=(0, COLUMN_GAP // 2), header_style="bold")
    for index, column in enumerate(columns):
        numeric = _is_numeric(row[index] for row in rows)
        table.add_column(
            column.header,
            justify="right" if numeric else "left",
            width=naturals[index] if keep_whole and not column.prose else None,
            overflow="fold",
        )
    for row_cells in cells:
        # Text, not str: a cell is never read as Rich markup or emoji codes.
        table.add_row(*(Text(cell) for cell in row_cells))
    return table


def _print_table(columns: Sequence[Column], rows: Sequence[tuple[Any, ...]]) -> None:
    # The stream itself decides, not FORCE_COLOR or COLUMNS: a pipe always gets whole rows.
    if sys.stdout.isatty():
        from rich.console import Console

        terminal = Console(highlight=False)
        terminal.print(_table(columns, rows, terminal.width))
        return
    for line in table_lines(columns, rows):
        typer.echo(line)


def table_lines(
    columns: Sequence[Column], rows: Sequence[tuple[Any, ...]], room: int | None = None
) -> list[str]:
    """The table as lines of plain text without trailing spaces: within ``room``
    characters as in a terminal that wide, else (None) as wide as its cells need, so that
    no row wraps or loses a character."""
    from rich.console import Console
    from rich.measure import Measurement

    table = _table(columns, rows, room)
    if room is None:
        measuring = Console(width=UNBOUNDED_WIDTH, color_system=None, force_terminal=False)
        room = max(Measurement.get(measuring, measuring.options, table).maximum, 1)
    plain = Console(width=room, highlight=False, color_system=None, force_terminal=False)
    with plain.capture() as captured:
        plain.print(table)
    return [line.rstrip() for line in captured.get().splitlines()]
