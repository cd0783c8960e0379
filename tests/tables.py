"""Reading the command line's tables back, checking their alignment on the way.

A column is a band of characters: the columns are separated by runs of two spaces or more
that are blank on every line, the header included. ``read_table`` fails when the header's
own words do not fall one to a band, which is what a misaligned row would cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COLUMN_GAP = re.compile(r" {2,}")


@dataclass(frozen=True)
class PrintedTable:
    """A table as printed: its header, its rows (cells stripped), and each column's band."""

    lines: list[str]
    headers: list[str]
    rows: list[list[str]]
    bands: list[tuple[int, int]]

    def records(self) -> list[dict[str, str]]:
        """The rows keyed by header."""
        return [dict(zip(self.headers, row, strict=True)) for row in self.rows]

    def column(self, header: str) -> list[str]:
        """The cells of one column, row by row."""
        index = self.headers.index(header)
        return [row[index] for row in self.rows]

    def aligned_left(self, header: str) -> bool:
        """Whether the header and every non-empty cell of the column start at its band's start."""
        return all(
            start == self.bands[self.headers.index(header)][0] for start, _ in self._spans(header)
        )

    def aligned_right(self, header: str) -> bool:
        """Whether the header and every non-empty cell of the column end at its band's end."""
        return all(
            end == self.bands[self.headers.index(header)][1] for _, end in self._spans(header)
        )

    def _spans(self, header: str) -> list[tuple[int, int]]:
        start, end = self.bands[self.headers.index(header)]
        spans = []
        for line in self.lines:
            text = line[start:end]
            if text.strip():
                left = start + len(text) - len(text.lstrip())
                spans.append((left, start + len(text.rstrip())))
        return spans


def read_table(output: str) -> PrintedTable:
    """The table that ``output`` holds; ``AssertionError`` when its columns do not line up."""
    lines = output.splitlines()
    assert lines, "no table: the output is empty"
    assert all(line == line.rstrip() for line in lines), "a line ends with spaces"
    width = max(len(line) for line in lines)
    padded = [line.ljust(width) for line in lines]
    blank = "".join(
        " " if all(line[index] == " " for line in padded) else "x" for index in range(width)
    )
    bands: list[tuple[int, int]] = []
    start = 0
    for gap in COLUMN_GAP.finditer(blank):
        if gap.start() > 0:
            bands.append((start, gap.start()))
        start = gap.end()
    bands.append((start, width))
    headers = [lines[0][a:b].strip() for a, b in bands]
    assert headers == COLUMN_GAP.split(lines[0].strip()), (headers, lines[0])
    rows = [[line[a:b].strip() for a, b in bands] for line in lines[1:]]
    return PrintedTable(lines=padded, headers=headers, rows=rows, bands=bands)
