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
                "limit_mib": 300.0,
                "flat": False,
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
    assert "| <= 300 MiB (met) | 250 |" in lines[5]
    assert "| <= 300 MiB, flat (met) | 200 |" in lines[4]
    assert "| 2.00x (reported) |" in lines[2]  # a reference without a goal
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
    assert "| <= 100 ms median (met) |" in row
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
    assert row.endswith("| <= 10 s (met) | |")


def test_the_worker_recovery_row_gives_the_median_and_max_of_the_kills() -> None:
    recovery = {**THREE_KILLS, "workers": 2, "lease_seconds": 120, "endings": ["Aborted"] * 3}
    [*_, row] = table({"comparisons": [], "worker_recovery": recovery}).splitlines()
    assert row.startswith("| a SIGKILL of the worker holding a sliced 1,000,000-record job")
    assert "(2 workers, PostgreSQL, 120 s leases)" in row
    assert "(3 kills) | median 1.8 s, max 2.5 s |" in row
    assert row.endswith("| <= 10 s (met) | |")


def test_the_worker_recovery_row_says_when_it_could_not_run() -> None:
    result = {"comparisons": [], "worker_recovery": {"unavailable": "no PostgreSQL server answers"}}
    [*_, row] = table(result).splitlines()
    assert row == "| worker recovery | unavailable: no PostgreSQL server answers | | | | | |"


def _judged(reference: dict[str, Any]) -> str:
    subject = {"variant": "x", "rows": 10, "rate": 900.0, "peak_rss_mib": 200.0}
    comparison = {"key": "k", "title": "t", "target": "g", "subject": subject}
    result = {"comparisons": [{**comparison, "references": [reference]}]}
    return table(result).splitlines()[2]


def test_a_ratio_says_whether_it_meets_the_goal_of_its_reference() -> None:
    reference = {"variant": "ADBC", "rate": 1000.0, "peak_rss_mib": 80.0, "ratio": 0.9}
    assert "| 0.90x (met) |" in _judged({**reference, "goal": 0.8, "met": True})
    assert "| 0.90x (not met) |" in _judged({**reference, "goal": 1.0, "met": False})
    assert "| 0.90x (reported) |" in _judged(reference)


def test_memory_that_grows_with_the_table_or_passes_the_limit_is_not_met() -> None:
    def memory_rows(*peaks: float) -> list[str]:
        memory = [
            {"profiles": 10**6 * (1 + index), "rate": 1.0, "peak_rss_mib": peak}
            for index, peak in enumerate(peaks)
        ]
        return table({"comparisons": [], "memory": memory}).splitlines()[2:]

    assert all("flat (met)" in row for row in memory_rows(240.0, 260.0))
    assert all("flat (not met)" in row for row in memory_rows(200.0, 260.0))  # grew 30%
    assert all("flat (not met)" in row for row in memory_rows(295.0, 305.0))  # over 300


def test_a_flat_upkeep_is_judged_across_its_sizes() -> None:
    def upkeep(key: str, peak: float, limit: float | None, flat: bool) -> dict[str, Any]:
        return {
            "key": key, "title": key, "rows": 10, "seconds": 1.0, "peak_rss_mib": peak,
            "limit_mib": limit, "flat": flat,
        }  # fmt: skip

    lake = [
        upkeep("optimize", 420.0, None, False),
        upkeep("reconcile", 200.0, 300.0, True),
        upkeep("reconcile", 280.0, 300.0, True),
    ]
    rows = table({"comparisons": [], "lake": lake}).splitlines()[2:]
    assert "| reported | 420 |" in rows[0]
    assert "| <= 300 MiB, flat (not met) | 200 |" in rows[1]  # 40% more at the larger size
    assert "| <= 300 MiB, flat (not met) | 280 |" in rows[2]


def test_the_single_rows_say_whether_they_meet_their_goals() -> None:
    latency = {"profiles": 10, "changed": 1, "median_ms": 101.0, "p95_ms": 150.0, "runs_ms": [1]}
    slow = {**THREE_KILLS, "max_seconds": 10.5}
    scale = {
        "records": 10, "two_workers_seconds": 7.0, "two_workers_rate": 1.0,
        "one_worker_seconds": 10.0, "one_worker_rate": 1.0, "ratio": 0.7,
    }  # fmt: skip
    health = {"requests_per_second": 100.0, "p99_ms": 10.0}
    api = {
        "connections": 64, "processes": 2, "health": health,
        "trigger": {"requests_per_second": 60.0, "p99_ms": 60.0, "ratio_to_health": 0.6},
        "status": {"requests_per_second": 60.0, "p99_ms": 20.0, "ratio_to_health": 0.6},
    }  # fmt: skip
    result = {"comparisons": [], "latency": latency, "recovery": slow, "scale_out": scale}
    trigger, status, scale_row, latency_row, recovery_row = table(
        {**result, "api": api}
    ).splitlines()[2:]
    assert "| 0.60x (not met) |" in trigger  # its p99 is over 50 ms
    assert "| 0.60x (met) |" in status
    assert "| 0.70x time (not met) |" in scale_row
    assert "| <= 100 ms median (not met) |" in latency_row
    assert recovery_row.endswith("| <= 10 s (not met) | |")
