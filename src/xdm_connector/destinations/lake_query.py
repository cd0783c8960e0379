"""SQL over one dataset of the lake, with DuckDB: ``xdm-connector lake query``.

The dataset is a view named after it (and also ``dataset``) over the files its manifest
lists, so only committed batches are seen; Parquet and JSON Lines batches are read
together, columns matched by name::

    result = query_dataset(LakeDestination(root), "demo", "profiles",
                           "select person.gender, count(*) from profiles group by 1")
    result.columns  # ['gender', 'count_star()']
    result.rows     # [('female', 5012), ('male', 4988)]

Any DuckDB statement runs, with the rights of the user who runs the command: it is a
convenience for a local lake, not a service to expose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from xdm_connector.destinations.base import check_name
from xdm_connector.destinations.lake import LakeDestination
from xdm_connector.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class QueryResult:
    """The columns and rows a query answered."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """Each row as a ``{column: value}`` dict."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def create_dataset_views(
    connection: duckdb.DuckDBPyConnection, names: list[str], files: list[Path]
) -> None:
    """Views ``names`` over the files: Parquet and JSON Lines, unioned by column name."""
    parquet = [str(f) for f in files if f.suffix == ".parquet"]
    jsonl = [str(f) for f in files if f.suffix == ".jsonl"]
    parts = []
    if parquet:
        connection.read_parquet(parquet, union_by_name=True).create_view("_parquet")
        parts.append("select * from _parquet")
    if jsonl:
        relation = connection.read_json(jsonl, format="newline_delimited")
        relation.create_view("_jsonl")
        parts.append("select * from _jsonl")
    union = " union all by name ".join(parts)
    for name in names:
        connection.execute(f"create view {_identifier(name)} as {union}")


def query_dataset(lake: LakeDestination, org: str, dataset: str, sql: str) -> QueryResult:
    """Run ``sql`` with the dataset as a view; ``NotFound`` when it has no committed batch."""
    check_name(org, "Organization")
    check_name(dataset, "Dataset")
    files = lake.committed_files(org, dataset)
    if not files:
        raise NotFound(f"dataset {dataset} of {org} has no committed batch in the lake")
    connection = duckdb.connect()
    try:
        create_dataset_views(connection, sorted({dataset, "dataset"}), files)
        try:
            relation = connection.execute(sql)
        except duckdb.Error as exc:
            raise InvalidInput(f"the query failed: {exc}") from exc
        if relation.description is None:
            return QueryResult([], [])
        columns = [str(column[0]) for column in relation.description]
        return QueryResult(columns, [tuple(row) for row in relation.fetchall()])
    finally:
        connection.close()


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
