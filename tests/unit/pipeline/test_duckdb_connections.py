"""The reconciliation's DuckDB connections: one thread, no progress drawn, and a join larger
than the memory cap spilled into the given folder rather than refused."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from xdm_connector.pipeline.duckdb_connections import MEMORY_LIMIT, bounded_connection

KEYS = 1_500_000
"""Keys of each side of the join: their hash table is several times the 32 MiB cap."""
JOIN = f"""
SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS k FROM range({KEYS}) t(i)) a
JOIN (SELECT md5(i::VARCHAR) AS k, i FROM range({KEYS}) t(i)) b ON a.k = b.k
"""


def test_a_connection_runs_on_one_thread_and_draws_no_progress(tmp_path: Path) -> None:
    with bounded_connection(tmp_path / "spill") as connection:
        settings = connection.execute(
            "SELECT current_setting('threads'), current_setting('enable_progress_bar'), "
            "current_setting('memory_limit')"
        ).fetchone()
    assert settings == (1, False, "32.0 MiB")


def test_a_join_larger_than_the_cap_spills_into_the_folder(tmp_path: Path) -> None:
    with bounded_connection(tmp_path / "spill") as connection:
        assert connection.execute(JOIN).fetchone() == (KEYS,)
        # The folder was used: DuckDB refuses to move it once it spilled there.
        with pytest.raises(duckdb.NotImplementedException, match="has been used"):
            connection.execute("SET temp_directory = ''")


def test_the_same_join_without_a_folder_to_spill_into_exceeds_the_cap() -> None:
    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": 1,
        "memory_limit": MEMORY_LIMIT,
        "temp_directory": "",
    }
    with duckdb.connect(config=config) as connection, pytest.raises(duckdb.OutOfMemoryException):
        connection.execute(JOIN).fetchone()
