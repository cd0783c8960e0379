"""SQL over one dataset of the lake, with DuckDB: ``xdm-connector lake query``.

The dataset is a view named after it (and also ``dataset``) over its Delta table's Arrow
dataset, so only committed records are seen, as of the latest version or an older one::

    result = query_dataset(LakeTables(root), "demo", "profiles",
                           "select person.gender, count(*) from profiles group by 1")
    result.columns  # ['gender', 'count_star()']
    result.rows     # [('female', 5012), ('male', 4988)]
    query_dataset(lake, "demo", "profiles", "select count(*) from dataset", version=3)

It runs offline: DuckDB scans the Arrow dataset delta-rs lists (no DuckDB extension is
downloaded). Any DuckDB statement runs, with the rights of the user who runs the command:
it is a convenience over the lake, not a service to expose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from xdm_connector.destinations.base import check_name
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class QueryResult:
    """The columns and rows a query answered."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """Each row as a ``{column: value}`` dict."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def query_dataset(
    lake: LakeTables, org: str, dataset: str, sql: str, *, version: int | None = None
) -> QueryResult:
    """Run ``sql`` with the dataset's table (as of ``version``) as a view; ``NotFound``
    when the dataset has no table yet, or no such version."""
    check_name(org, "Organization")
    check_name(dataset, "Dataset")
    latest = lake.table(org, dataset)
    if latest is None:
        raise NotFound(f"dataset {dataset} of {org} has no table in the lake yet")
    if version is not None and not 0 <= version <= latest.version():
        raise NotFound(
            f"dataset {dataset} of {org} has no version {version} (versions 0 to "
            f"{latest.version()})"
        )
    table = latest if version is None else lake.table(org, dataset, version)
    assert table is not None  # the table exists: its latest version was read
    arrow = table.to_pyarrow_dataset()
    connection = duckdb.connect()
    try:
        connection.register("_table", arrow)
        for name in sorted({dataset, "dataset"}):
            # The name is quoted as an identifier: no user text reaches the statement as SQL.
            view = f"create view {_identifier(name)} as select * from _table"  # noqa: S608
            connection.execute(view)
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
