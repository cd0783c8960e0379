"""The benchmark's results: the machine, a table for people, a JSON document for tools.

Each row of the table says whether it meets its goal: ``(met)``, ``(not met)``, or
``(reported)`` for a measure without one.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any

MEMORY_LIMIT_MIB = 300.0
"""The most a job's process may hold at its peak, whatever the table's size."""
FLAT_GROWTH = 1.1
"""Flat memory: from the smallest size to the largest, the peak grows by 10% at most."""
API_GOAL_RATIO = 0.5
"""The API's routes, against ``/health`` in the same processes."""
API_GOAL_P99_MS = 50.0
SCALE_GOAL_RATIO = 0.6
"""Two workers' time over one worker's, for the same sliced job."""
LATENCY_GOAL_MS = 100.0
"""A small delta's median, from the trigger to ``Success``."""
RECOVERY_GOAL_SECONDS = 10.0
"""A killed process's requests end within this, every time."""


def machine() -> dict[str, Any]:
    """What the benchmark ran on: CPU model, cores, memory, load, versions."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    memory = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE)
    import pyarrow

    return {
        "cpu": model.group(1).strip() if model else platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory.group(1)) / 2**20, 1) if memory else None,
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "pyarrow": pyarrow.__version__,
    }


def table(result: dict[str, Any]) -> str:
    """The results as a Markdown table (the README's Performance section holds one)."""
    lines = [
        "| target | xdm-connector | reference | reference rate | ratio | goal | peak RSS (MiB) |",
        "|---|---:|---|---:|---:|---|---:|",
    ]
    for comparison in result["comparisons"]:
        subject = comparison["subject"]
        for reference in comparison["references"]:
            if "unavailable" in reference:
                lines.append(
                    f"| {comparison['title']} | {subject['rate']:,.0f}/s | "
                    f"{reference['variant']} | unavailable: {reference['unavailable']} | | "
                    f"{comparison['target']} | {subject['peak_rss_mib']:.0f} |"
                )
                continue
            verdict = _verdict(reference["met"]) if "met" in reference else "reported"
            lines.append(
                f"| {comparison['title']} | {subject['rate']:,.0f}/s | {reference['variant']} | "
                f"{reference['rate']:,.0f}/s | {reference['ratio']:.2f}x ({verdict}) | "
                f"{comparison['target']} | {subject['peak_rss_mib']:.0f} / "
                f"{reference['peak_rss_mib']:.0f} |"
            )
    memory_rows = result.get("memory", [])
    memory_met = _flat_under([memory["peak_rss_mib"] for memory in memory_rows], MEMORY_LIMIT_MIB)
    for memory in memory_rows:
        lines.append(
            f"| memory, {memory['profiles']:,} records | {memory['rate']:,.0f}/s | | | | "
            f"<= {MEMORY_LIMIT_MIB:.0f} MiB, flat ({_verdict(memory_met)}) | "
            f"{memory['peak_rss_mib']:.0f} |"
        )
    upkeeps = result.get("lake", [])
    for upkeep in upkeeps:
        lines.append(
            f"| {upkeep['title']} ({upkeep['rows']:,} records) | {upkeep['seconds']:.1f} s "
            f"| | | | {_upkeep_goal(upkeep, upkeeps)} | {upkeep['peak_rss_mib']:.0f} |"
        )
    api = result.get("api")
    if api is not None and "unavailable" in api:
        lines.append(f"| API | unavailable: {api['unavailable']} | | | | | |")
    elif api is not None:
        health = api["health"]
        for name in ("trigger", "status"):
            measured = api[name]
            met = (
                measured["ratio_to_health"] >= API_GOAL_RATIO
                and measured["p99_ms"] < API_GOAL_P99_MS
            )
            lines.append(
                f"| API {name} (wrk, {api['connections']} connections, {api['processes']} "
                f"processes) | {measured['requests_per_second']:,.0f} req/s, p99 "
                f"{measured['p99_ms']:.0f} ms | /health | {health['requests_per_second']:,.0f} "
                f"req/s, p99 {health['p99_ms']:.0f} ms | {measured['ratio_to_health']:.2f}x "
                f"({_verdict(met)}) | >= {API_GOAL_RATIO}x, p99 < {API_GOAL_P99_MS:.0f} ms | |"
            )
    scale = result.get("scale_out")
    if scale is not None and "unavailable" in scale:
        lines.append(f"| scale-out | unavailable: {scale['unavailable']} | | | | | |")
    elif scale is not None:
        lines.append(
            f"| scale-out, a sliced {scale['records']:,}-record job, 2 workers pinned to one "
            f"core each | {scale['two_workers_seconds']:.1f} s "
            f"({scale['two_workers_rate']:,.0f}/s) | 1 worker pinned to one core | "
            f"{scale['one_worker_seconds']:.1f} s ({scale['one_worker_rate']:,.0f}/s) | "
            f"{scale['ratio']:.2f}x time ({_verdict(scale['ratio'] <= SCALE_GOAL_RATIO)}) | "
            f"<= {SCALE_GOAL_RATIO}x time | |"
        )
    if "latency" in result:
        lines.append(_latency_row(result["latency"]))
    if "recovery" in result:
        lines.append(_recovery_row(result["recovery"]))
    workers = result.get("worker_recovery")
    if workers is not None and "unavailable" in workers:
        lines.append(f"| worker recovery | unavailable: {workers['unavailable']} | | | | | |")
    elif workers is not None:
        lines.append(_worker_recovery_row(workers))
    return "\n".join(lines)


def _verdict(met: bool) -> str:
    return "met" if met else "not met"


def _flat_under(peaks: list[float], limit: float) -> bool:
    """Whether no peak passes ``limit`` and the largest is within ``FLAT_GROWTH`` of the
    smallest."""
    return bool(peaks) and max(peaks) <= limit and max(peaks) <= FLAT_GROWTH * min(peaks)


def _upkeep_goal(upkeep: dict[str, Any], upkeeps: list[dict[str, Any]]) -> str:
    """A lake upkeep's goal and verdict: a peak of at most its limit, flat across the runs
    of the same probe (one per size) when it says so; none: reported."""
    limit = upkeep["limit_mib"]
    if limit is None:
        return "reported"
    if not upkeep["flat"]:
        return f"<= {limit:.0f} MiB ({_verdict(upkeep['peak_rss_mib'] <= limit)})"
    peaks = [each["peak_rss_mib"] for each in upkeeps if each["key"] == upkeep["key"]]
    return f"<= {limit:.0f} MiB, flat ({_verdict(_flat_under(peaks, limit))})"


def _latency_row(latency: dict[str, Any]) -> str:
    """A small delta's trigger to ``Success``, median and p95, against its goal."""
    return (
        f"| a {latency['changed']}-record delta of a {latency['profiles']:,}-record table, "
        f"trigger to Success ({len(latency['runs_ms'])} triggers, embedded server, "
        f"append table) | median {latency['median_ms']:.0f} ms, p95 "
        f"{latency['p95_ms']:.0f} ms | | | | <= {LATENCY_GOAL_MS:.0f} ms median "
        f"({_verdict(latency['median_ms'] <= LATENCY_GOAL_MS)}) | |"
    )


def _recovery_row(recovery: dict[str, Any]) -> str:
    """A killed server's restart to the end of its request, median and max, against its
    goal."""
    kills = len(recovery["runs_seconds"])
    return (
        f"| a SIGKILL of the embedded server during a {recovery['profiles']:,}-record job, "
        f"its restart to the end of the killed request ({kills} kills) | median "
        f"{recovery['median_seconds']:.1f} s, max {recovery['max_seconds']:.1f} s | | | | "
        f"{_recovery_goal(recovery)} | |"
    )


def _recovery_goal(recovery: dict[str, Any]) -> str:
    """Every kill's requests ended within the goal."""
    met = recovery["max_seconds"] <= RECOVERY_GOAL_SECONDS
    return f"<= {RECOVERY_GOAL_SECONDS:.0f} s ({_verdict(met)})"


def _worker_recovery_row(recovery: dict[str, Any]) -> str:
    """The SIGKILL of the worker holding a sliced job to the end of its request, median and
    max, against its goal."""
    kills = len(recovery["runs_seconds"])
    return (
        f"| a SIGKILL of the worker holding a sliced {recovery['profiles']:,}-record job "
        f"({recovery['workers']} workers, PostgreSQL, {recovery['lease_seconds']} s leases), "
        f"the kill to the end of its request ({kills} kills) | median "
        f"{recovery['median_seconds']:.1f} s, max {recovery['max_seconds']:.1f} s | | | | "
        f"{_recovery_goal(recovery)} | |"
    )
