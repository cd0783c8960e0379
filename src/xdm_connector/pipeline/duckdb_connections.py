"""DuckDB connections of bounded memory, for the reconciliation's digests and joins.

DuckDB is imported here, when a connection is made: only a reconciliation uses it, and it
costs a worker's other jobs tens of MiB imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

MEMORY_LIMIT = "32MiB"
"""DuckDB's own memory at most; a join larger than that spills to ``spill_folder``."""
ALLOCATOR_FLUSH_THRESHOLD = "4MiB"
"""Memory DuckDB's allocator keeps for reuse before it returns it to the system."""


def bounded_connection(spill_folder: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB on one thread, its results in any order unless a query orders
    them; with a ``spill_folder``, its memory capped at ``MEMORY_LIMIT`` and a larger join
    spilled there (without one, the caller bounds what a query holds: the digests' slices,
    whose JSON a cap could refuse for a wide record)."""
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": 1,
        "allocator_flush_threshold": ALLOCATOR_FLUSH_THRESHOLD,
        "preserve_insertion_order": False,
    }
    if spill_folder is not None:
        spill_folder.mkdir(parents=True, exist_ok=True)
        config["memory_limit"] = MEMORY_LIMIT
        config["temp_directory"] = str(spill_folder)
    connection = duckdb.connect(config=config)
    # A join of millions of keys runs for seconds: DuckDB would draw its progress on the
    # process's standard output (a worker's log, the command's JSON report).
    connection.execute("SET enable_progress_bar = false")
    return connection
