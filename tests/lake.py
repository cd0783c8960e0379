"""The lake read as any Delta reader reads it: ``deltalake`` and pyarrow, no product code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError


def lake_table(lake: Path | str, org: str, dataset: str, **options: Any) -> pa.Table:
    """Every record of the dataset's table (none before its first commit)."""
    try:
        table = DeltaTable(f"{lake}/{org}/{dataset}", **options)
    except TableNotFoundError:
        return pa.table({"_id": pa.array([], pa.string())})
    return table.to_pyarrow_table()


def lake_commits(lake: Path | str, org: str, dataset: str, **options: Any) -> list[dict[str, Any]]:
    """The commits of jobs' batches into the dataset's table, oldest first."""
    try:
        table = DeltaTable(f"{lake}/{org}/{dataset}", **options)
    except TableNotFoundError:
        return []
    return [commit for commit in reversed(table.history()) if "xdmc.batch" in commit]


def committed_batches(lake: Path | str, org: str, dataset: str) -> list[tuple[str, int]]:
    """Each batch committed into the table (not withdrawn), with its rows, oldest first."""
    commits = lake_commits(lake, org, dataset)
    withdrawn = {c["xdmc.batch"] for c in commits if c.get("xdmc.withdrawn")}
    return [
        (commit["xdmc.batch"], int(commit["xdmc.rows"]))
        for commit in commits
        if not commit.get("xdmc.withdrawn") and commit["xdmc.batch"] not in withdrawn
    ]
