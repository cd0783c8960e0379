"""The harness's parsing of wrk and its table, without running anything."""

from __future__ import annotations

from typing import Any

from bench.api import _parse_wrk
from bench.latency import percentile
from bench.report import table

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8080/health
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.12ms    1.02ms  30.11ms   90.00%
  Latency Distribution
     50%    4.90ms
     75%    5.50ms
     90%    6.20ms
     99%   12.40ms
  41250 requests in 10.00s, 5.90MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   4124.90
Transfer/sec:    603.40KB
"""


def test_a_wrk_report_gives_rate_p99_and_errors() -> None:
    assert _parse_wrk(WRK_OUTPUT) == {"rps": 4124.9, "p99_ms": 12.4, "errors": 7}
    seconds = WRK_OUTPUT.replace("12.40ms", "1.20s")
    assert _parse_wrk(seconds)["p99_ms"] == 1200.0


def test_the_table_has_a_line_per_reference_and_row() -> None:
    subject = {"variant": "x", "rows": 10, "rate": 2000.0, "peak_rss_mib": 200.0}
    result: dict[str, Any] = {
        "comparisons": [
            {
                "key": "sqlite",
                "title": "SQLite",
                "target": ">= 1x",
                "subject": subject,
                "references": [
                    {"variant": "sqlite3", "rate": 1000.0, "peak_rss_mib": 80.0, "ratio": 2.0},
                    {"variant": "dlt", "unavailable": "dlt is not installed"},
                ],
            }
        ],
        "memory": [{"profiles": 10, "rate": 2000.0, "peak_rss_mib": 200.0}],
        "lake": [
            {
                "key": "merge",
                "title": "merge",
                "goal": "<= 300 MiB",
                "rows": 10,
                "seconds": 1.5,
                "peak_rss_mib": 250.0,
            },
        ],
        "scale_out": {"unavailable": "not yet measurable"},
    }
    lines = table(result).splitlines()
    assert len(lines) == 2 + 2 + 1 + 1 + 1
    assert "| merge (10 records) | 1.5 s |" in lines[5]
    assert "| 2.00x |" in lines[2]
    assert "unavailable: dlt is not installed" in lines[3]


def test_the_latency_row_gives_the_median_and_p95_of_the_triggers() -> None:
    latency = {
        "profiles": 2_000_000,
        "changed": 100,
        "median_ms": 61.4,
        "p95_ms": 98.6,
        "runs_ms": [50.0, 61.4, 99.0],
    }
    [*_, row] = table({"comparisons": [], "latency": latency}).splitlines()
    assert row.startswith("| a 100-record delta of a 2,000,000-record table, trigger to Success")
    assert "(3 triggers, " in row
    assert "| median 61 ms, p95 99 ms |" in row
    assert percentile([50.0, 61.4, 99.0], 50) == 61.4
    assert percentile([10.0, 20.0], 95) == 19.5


THREE_KILLS = {
    "profiles": 1_000_000,
    "median_seconds": 1.84,
    "max_seconds": 2.46,
    "runs_seconds": [1.21, 1.84, 2.46],
}


def test_the_recovery_row_gives_the_median_and_max_of_the_restarts() -> None:
    recovery = {**THREE_KILLS, "endings": ["Aborted", "Aborted", "Success"]}
    [*_, row] = table({"comparisons": [], "recovery": recovery}).splitlines()
    assert row.startswith("| a SIGKILL of the embedded server during a 1,000,000-record job")
    assert "(3 kills) | median 1.8 s, max 2.5 s |" in row
    assert row.endswith("| <= 10 s | |")


def test_the_worker_recovery_row_gives_the_median_and_max_of_the_kills() -> None:
    recovery = {**THREE_KILLS, "workers": 2, "lease_seconds": 120, "endings": ["Aborted"] * 3}
    [*_, row] = table({"comparisons": [], "worker_recovery": recovery}).splitlines()
    assert row.startswith("| a SIGKILL of the worker holding a sliced 1,000,000-record job")
    assert "(2 workers, PostgreSQL, 120 s leases)" in row
    assert "(3 kills) | median 1.8 s, max 2.5 s |" in row
    assert row.endswith("| <= 10 s | |")


def test_the_worker_recovery_row_says_when_it_could_not_run() -> None:
    result = {"comparisons": [], "worker_recovery": {"unavailable": "no PostgreSQL server answers"}}
    [*_, row] = table(result).splitlines()
    assert row == "| worker recovery | unavailable: no PostgreSQL server answers | | | | | |"
