"""A batch's error diagnostics, as the platform keeps and answers them.

Each refused record is one ``Refusal`` of a kind: ``parsing`` (a row that is not a JSON
object: ``INGEST-1401-400``), ``required`` (a required field missing:
``INGEST-1555-400``) or ``conversion`` (any other problem with a value:
``INGEST-1560-400``, the local service's own code). ``Diagnostics`` writes them as the
batch's failed records (``failed.jsonl``, for ``/failed``) and, when the batch asked for
``enableErrorDiagnostics``, as its row error files (``row_errors/parsing_errors_0.json``,
``row_errors/conversion_errors_0.json``, JSON Lines, for ``/meta?path=row_errors``)::

    {"_corrupt_record": "{not json", "_errors": [{"code": "1401", "message": "Row is
     corrupted and cannot be read, please fix and resend."}], "_filename": "part-0.json"}
    {"_id": "7", "person": {"gender": "robot"}, "_errors": [{"column": "/person/gender",
     "code": "1560", "message": "not one of 'female', ..."}], "_filename": "part-0.json"}

``catalog_errors`` makes the batch's ``errors``: the summary ``INGEST-1212-400``, then
one entry per kind with its ``recordCount`` (each refused record counted once); without
diagnostics, the platform's ``INGEST-1211-400`` alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

ROW_ERRORS = "row_errors"
"""The folder of a batch's row error files, and the ``path`` that lists them."""

PARSING_ERRORS = "parsing_errors_0.json"
CONVERSION_ERRORS = "conversion_errors_0.json"

CORRUPT_ROW = "Row is corrupted and cannot be read, please fix and resend."

_CATALOG_ERRORS = {
    "parsing": (
        "INGEST-1401-400",
        "The row has corrupted data and cannot be read or parsed. "
        "Fix the corrupted data and try again.",
    ),
    "required": (
        "INGEST-1555-400",
        "A required field is either missing or has a value of null. "
        "Add the required field to the input row and try again.",
    ),
    "conversion": (
        "INGEST-1560-400",
        "A value does not match its field's type, format or allowed values. "
        "Fix the value and try again.",
    ),
}
_ROW_CODES = {"parsing": "1401", "required": "1555", "conversion": "1560"}
_REQUIRED_REASON = "required field is missing"

NO_DIAGNOSTICS = (
    "Encountered errors while parsing, converting or otherwise validating the data. Please "
    "resend the data with error diagnostics enabled to collect additional information on "
    "failure types"
)


@dataclass(frozen=True)
class Refusal:
    """Why one record was refused: its kind and its problems as ``(column, message)``,
    ``column`` an XED slash path (``/person/gender``), or ``None`` for a corrupt row."""

    kind: str
    problems: tuple[tuple[str | None, str], ...]

    @classmethod
    def corrupt(cls, reason: str = CORRUPT_ROW) -> Refusal:
        """A row that cannot be read as a record."""
        return cls("parsing", ((None, reason),))

    @classmethod
    def invalid(cls, problems: list[tuple[str, str]]) -> Refusal:
        """A record whose values the schema refuses (``[(path, reason), ...]``)."""
        required = any(reason == _REQUIRED_REASON for _, reason in problems)
        return cls("required" if required else "conversion", tuple(problems))


class Diagnostics:
    """The refused records of one batch being processed, written as they come.

    Use as a context manager over the batch's folder; ``counts`` tells how many records of
    each kind were refused.
    """

    def __init__(self, folder: Path, *, row_errors: bool) -> None:
        self.folder = folder
        self.row_errors = row_errors
        self.counts: Counter[str] = Counter()
        self._files: dict[str, IO[bytes]] = {}

    def __enter__(self) -> Diagnostics:
        self._files["failed"] = (self.folder / "failed.jsonl").open("wb")
        if self.row_errors:
            folder = self.folder / ROW_ERRORS
            folder.mkdir(exist_ok=True)
            self._files["parsing"] = (folder / PARSING_ERRORS).open("wb")
            self._files["conversion"] = (folder / CONVERSION_ERRORS).open("wb")
        return self

    def __exit__(self, *exc_info: object) -> None:
        for file in self._files.values():
            file.close()
        for name in (PARSING_ERRORS, CONVERSION_ERRORS):
            path = self.folder / ROW_ERRORS / name
            if path.is_file() and not path.stat().st_size:
                path.unlink()  # listed only when it holds rows, as the platform lists them

    def refuse(self, record: Any, refusal: Refusal, name: str, line: int) -> None:
        """Keep a refused ``record`` of file ``name`` at ``line`` with why."""
        self.counts[refusal.kind] += 1
        failed = {
            "_errors": [
                {"code": "1401-400", "message": f"{column}: {message}" if column else message}
                for column, message in refusal.problems
            ],
            "_file": name,
            "_line": line,
            "record": record,
        }
        self._files["failed"].write(orjson.dumps(failed, default=str) + b"\n")
        if not self.row_errors:
            return
        code = _ROW_CODES[refusal.kind]
        errors = [
            {"column": column, "code": code, "message": message}
            if column
            else {"code": code, "message": message}
            for column, message in refusal.problems
        ]
        if refusal.kind == "parsing":
            text = record if isinstance(record, str) else orjson.dumps(record).decode()
            row: dict[str, Any] = {"_corrupt_record": text}
            target = self._files["parsing"]
        else:
            row = dict(record)
            target = self._files["conversion"]
        row.update(_errors=errors, _filename=name)
        target.write(orjson.dumps(row, default=str) + b"\n")


def catalog_errors(
    counts: Counter[str], accepted: int, *, diagnostics: bool
) -> list[dict[str, Any]]:
    """The batch's ``errors`` for its refused records (none refused: none)."""
    failed = sum(counts.values())
    if not failed:
        return []
    if not diagnostics:
        return [{"code": "INGEST-1211-400", "description": NO_DIAGNOSTICS}]
    summary = (
        f"Encountered {failed} errors in the data. Successfully ingested {accepted} rows. "
        "Please review the associated diagnostic files for more details."
    )
    errors: list[dict[str, Any]] = [{"code": "INGEST-1212-400", "description": summary}]
    for kind, (code, description) in _CATALOG_ERRORS.items():
        if counts[kind]:
            errors.append({"code": code, "description": description, "recordCount": counts[kind]})
    return errors


def row_error_files(folder: Path) -> list[Path]:
    """The row error files of a batch's folder, by name."""
    found = folder / ROW_ERRORS
    return sorted(p for p in found.iterdir() if p.is_file()) if found.is_dir() else []
