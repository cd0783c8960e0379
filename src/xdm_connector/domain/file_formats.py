"""The formats a batch's files are written in: Parquet (the default) and JSON Lines."""

from __future__ import annotations

from typing import Literal, get_args

from xdm_connector.errors import InvalidInput

FileFormat = Literal["parquet", "jsonl"]
FILE_FORMATS: frozenset[str] = frozenset(get_args(FileFormat))


def check_file_format(file_format: str) -> str:
    """``file_format`` if it is one the destinations take."""
    if file_format not in FILE_FORMATS:
        raise InvalidInput(f"Unknown file format {file_format!r}: parquet or jsonl")
    return file_format
