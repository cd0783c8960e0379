"""``python -m bench``: every target with its references, A/B in one run; a table and JSON.

    python -m bench                               # 1 M profiles, 3 repetitions
    python -m bench --profiles 1000000,10000000   # and the memory of a 10 M job
    python -m bench --profiles 2000 --repetitions 1 --skip api   # a smoke run

Sources are cached in ``--data`` (``var/bench``); results go to ``--out``
(``bench/results/latest.json``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.api import measure_api
from bench.harness import ROOT, Comparison, Variant, compare, run_probe
from bench.latency import measure_latency
from bench.recovery import measure_recovery
from bench.report import MEMORY_LIMIT_MIB, machine, table
from bench.scaleout import measure_scale_out
from bench.sources import (
    DEFAULT_MYSQL_URL,
    DEFAULT_POSTGRES_URL,
    SIMPLE_FIELDS,
    SIMPLE_READ,
    libpq_url,
    mysql_source,
    postgres_source,
    sqlite_source,
)
from bench.worker_recovery import measure_worker_recovery

TARGETS = (
    "sqlite",
    "postgres",
    "simple",
    "simple-postgres",
    "mysql",
    "delta",
    "jsonl",
    "memory",
    "merge",
    "optimize",
    "reconcile",
    "api",
    "scale",
    "latency",
    "recovery",
    "worker-recovery",
)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", default="1000000", help="sizes, comma separated")
    parser.add_argument("--repetitions", type=int, default=3, help="A/B rounds per comparison")
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "bench", help="source cache")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument("--skip", default="", help=f"targets to leave out: {', '.join(TARGETS)}")
    parser.add_argument("--api-processes", type=int, default=2)
    parser.add_argument("--api-seconds", type=int, default=10)
    parser.add_argument(
        "--scale-profiles", type=int, default=2_000_000, help="records of the scale-out job"
    )
    parser.add_argument(
        "--latency-profiles", type=int, default=2_000_000, help="records of the delta's table"
    )
    parser.add_argument(
        "--latency-triggers", type=int, default=20, help="deltas timed for the latency row"
    )
    return parser.parse_args(argv)


def _comparisons(
    sqlite_path: Path, postgres_url: str | None, mysql_url: str | None, skip: set[str], work: Path
) -> list[Comparison]:
    sqlite_url = f"sqlite:///{sqlite_path}"

    def export(name: str, source_url: str, file_format: str, lake: str = "delta") -> Variant:
        arguments = {
            "source_url": source_url, "home": str(work / name), "file_format": file_format,
            "lake": lake,
        }  # fmt: skip
        return Variant(f"xdm-connector {name}", "export", arguments)

    parquet = export("sqlite→parquet", sqlite_url, "parquet")
    found: list[Comparison] = []
    if "sqlite" not in skip:
        dlt = Variant(
            "dlt sql_table pyarrow→parquet",
            "dlt",
            {"path": str(sqlite_path), "home": str(work / "dlt")},
            unavailable="" if importlib.util.find_spec("dlt") else "dlt is not installed",
            goal=2.0,
        )
        plain = Variant("sqlite3 fetchmany", "sqlite_read", {"path": str(sqlite_path)}, goal=1.0)
        found.append(
            Comparison(
                "sqlite", "SQLite → lake (Delta) Parquet, XDM44, validated", parquet,
                [plain, dlt],
                ">= 1x sqlite3, >= 2x dlt",
            )
        )  # fmt: skip
    if "postgres" not in skip and postgres_url is not None:
        subject = export("postgresql→parquet", postgres_url, "parquet")
        plain = Variant("psycopg fetchmany", "psycopg_read", {"url": postgres_url}, goal=1.0)
        found.append(
            Comparison("postgres", "PostgreSQL → lake Parquet", subject, [plain], ">= 1x psycopg")
        )
    if "mysql" not in skip and mysql_url is not None:
        subject = export("mariadb→parquet", mysql_url, "parquet")
        plain = Variant(
            "mysqlclient fetchmany",
            "mysqlclient_read",
            {"url": mysql_url},
            unavailable="" if importlib.util.find_spec("MySQLdb") else "mysqlclient is missing",
            goal=1.0,
        )
        found.append(
            Comparison("mysql", "MariaDB → lake Parquet", subject, [plain], ">= 1x mysqlclient")
        )
    found += _simple_comparisons(sqlite_path, postgres_url, skip, work)
    folders = export("sqlite→batch folders parquet", sqlite_url, "parquet", "folders")
    if "delta" not in skip:
        found.append(
            Comparison(
                "delta", "SQLite → first export into an empty Delta table", parquet,
                [replace(folders, goal=0.95)], ">= 0.95x batch folders",
            )
        )  # fmt: skip
    if "jsonl" not in skip:
        # The lake stores Parquet only: JSON Lines, a platform upload format, is measured
        # into the batch folders that still take it, against Parquet into the same folders.
        subject = export("sqlite→batch folders jsonl", sqlite_url, "jsonl", "folders")
        found.append(
            Comparison(
                "jsonl", "SQLite → JSON Lines files (batch folders)", subject,
                [replace(folders, goal=0.6)], ">= 0.6x Parquet",
            )
        )  # fmt: skip
    return found


def _simple_comparisons(
    sqlite_path: Path, postgres_url: str | None, skip: set[str], work: Path
) -> list[Comparison]:
    """The simple mapping (8 direct fields of ``profile``) through the API, against the
    read limits (ADBC, ConnectorX into Arrow) and plain reads of the same 8 columns."""
    found = []
    read = {"query": SIMPLE_READ}
    if "simple" not in skip:
        subject = Variant(
            "xdm-connector API sqlite→lake",
            "api_export",
            {"source_url": f"sqlite:///{sqlite_path}", "home": str(work / "simple")},
        )
        adbc = Variant(
            "ADBC sqlite → Arrow", "adbc_sqlite_read", {"path": str(sqlite_path)}, goal=0.8
        )
        plain = Variant("sqlite3 fetchmany", "sqlite_read", {"path": str(sqlite_path), **read})
        found.append(
            Comparison(
                "simple", "SQLite → lake, 8 direct fields, API trigger to Success", subject,
                [adbc, plain], ">= 0.8x ADBC",
            )
        )  # fmt: skip
    if "simple-postgres" not in skip and postgres_url is not None:
        subject = Variant(
            "xdm-connector API postgresql→lake",
            "api_export",
            {"source_url": postgres_url, "home": str(work / "simple-postgres")},
        )
        connectorx = Variant(
            "ConnectorX → Arrow", "connectorx_read", {"url": postgres_url}, goal=0.8
        )
        plain = Variant(
            "psycopg fetchmany", "psycopg_read", {"url": postgres_url, **read}, goal=1.0
        )
        # dlt refuses a table without its primary key: it reads id besides the 8 fields.
        dlt = Variant(
            "dlt sql_table connectorx→parquet",
            "dlt",
            {"credentials": libpq_url(postgres_url), "backend": "connectorx",
             "columns": ["id", *SIMPLE_FIELDS], "home": str(work / "dlt-connectorx")},
            unavailable="" if importlib.util.find_spec("dlt") else "dlt is not installed",
            goal=2.0,
        )  # fmt: skip
        found.append(
            Comparison(
                "simple-postgres", "PostgreSQL → lake, 8 direct fields, API trigger to Success",
                subject, [connectorx, plain, dlt],
                ">= 0.8x ConnectorX, >= 1x psycopg, >= 2x dlt-ConnectorX",
            )
        )  # fmt: skip
    return found


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; answers (and writes) its results."""
    options = _arguments(argv)
    skip = {name.strip() for name in options.skip.split(",") if name.strip()}
    sizes = [int(size) for size in options.profiles.split(",")]
    options.data.mkdir(parents=True, exist_ok=True)
    work = options.data / "work"
    server_url = os.environ.get("XDMC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    started = time.time()
    result: dict[str, Any] = {
        "machine": machine(),
        "profiles": sizes,
        "repetitions": options.repetitions,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
    }
    sqlite_path = sqlite_source(options.data, sizes[0])
    postgres_url = None
    if not {"postgres", "simple-postgres"} <= skip:
        postgres_url = postgres_source(server_url, sqlite_path, sizes[0])
    mysql_url = None
    if "mysql" not in skip:
        mysql_server = os.environ.get("XDMC_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)
        mysql_url = mysql_source(mysql_server, sqlite_path, sizes[0])
    comparisons = _comparisons(sqlite_path, postgres_url, mysql_url, skip, work)
    result["comparisons"] = [compare(c, options.repetitions) for c in comparisons]
    if "memory" not in skip:
        result["memory"] = _memory(result["comparisons"], sizes, options.data, work)
    result["lake"] = _lake_upkeep(sqlite_path, skip, work)
    if "reconcile" not in skip:
        result["lake"] += _reconciliations(sizes, options.data, work)
    if "api" not in skip:
        result["api"] = measure_api(
            server_url,
            processes=options.api_processes,
            seconds=options.api_seconds,
            rounds=options.repetitions,
        )
    if "scale" not in skip:
        scale_path = sqlite_source(options.data, options.scale_profiles)
        result["scale_out"] = measure_scale_out(
            server_url,
            scale_path,
            work,
            profiles=options.scale_profiles,
            rounds=options.repetitions,
        )
    if "latency" not in skip:
        latency_path = sqlite_source(options.data, options.latency_profiles)
        result["latency"] = measure_latency(
            latency_path, work / "latency", repetitions=options.latency_triggers
        )
    if "recovery" not in skip:
        result["recovery"] = measure_recovery(sqlite_path, repetitions=options.repetitions)
    if "worker-recovery" not in skip:
        result["worker_recovery"] = measure_worker_recovery(
            server_url, sqlite_path, work, profiles=sizes[0], repetitions=options.repetitions
        )
    result["machine"]["load_average_after"] = [round(value, 2) for value in os.getloadavg()]
    result["seconds"] = round(time.time() - started, 1)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"bench: results in {options.out}")
    return result


def _memory(
    comparisons: list[dict[str, Any]], sizes: list[int], data: Path, work: Path
) -> list[dict[str, Any]]:
    """Peak memory of a Parquet export per size: the first size's from the runs above."""
    rows = []
    for comparison in comparisons:
        if comparison["key"] == "sqlite":
            subject = comparison["subject"]
            rows.append(
                {
                    "profiles": sizes[0],
                    "rate": subject["rate"],
                    "peak_rss_mib": subject["peak_rss_mib"],
                }
            )
    for size in sizes[1:] if rows else sizes:
        path = sqlite_source(data, size)
        arguments = {
            "source_url": f"sqlite:///{path}",
            "home": str(work / "memory"),
            "file_format": "parquet",
        }
        measured = run_probe(Variant(f"memory {size}", "export", arguments))
        rate = measured["rows"] / measured["seconds"]
        print(f"  memory {size:,}: {rate:,.0f}/s, {measured['peak_rss_mib']:.0f} MiB", flush=True)
        rows.append({"profiles": size, "rate": rate, "peak_rss_mib": measured["peak_rss_mib"]})
    return rows


def _lake_upkeep(sqlite_path: Path, skip: set[str], work: Path) -> list[dict[str, Any]]:
    """A 1% change merged into the upsert table of the source, and the compaction of 96
    small commits of it: time and peak memory, once each."""
    probes = [
        ("merge", "1% of the records merged into an upsert table", MEMORY_LIMIT_MIB),
        ("optimize", "optimize of 96 small commits", None),
    ]
    return [
        _upkeep(key, title, sqlite_path, work, limit_mib=limit)
        for key, title, limit in probes
        if key not in skip
    ]


def _reconciliations(sizes: list[int], data: Path, work: Path) -> list[dict[str, Any]]:
    """A reconciliation of the source against as many records, once per size: its time,
    CPU and peak memory, flat from one size to the next."""
    title = "reconciliation of the source against as many records"
    runs = []
    for size in sizes:
        path = sqlite_source(data, size)
        runs.append(_upkeep("reconcile", title, path, work, limit_mib=MEMORY_LIMIT_MIB, flat=True))
    return runs


def _upkeep(
    key: str,
    title: str,
    sqlite_path: Path,
    work: Path,
    *,
    limit_mib: float | None,
    flat: bool = False,
) -> dict[str, Any]:
    """One run of the probe ``key``: its measures, and its goal (a peak of at most
    ``limit_mib``, flat from one size to the next if ``flat``; none: reported)."""
    arguments = {"source_path": str(sqlite_path), "home": str(work / key)}
    measured = run_probe(Variant(title, key, arguments))
    print(f"  {key}: {measured['seconds']:.1f} s, {measured['peak_rss_mib']:.0f} MiB", flush=True)
    return {"key": key, "title": title, "limit_mib": limit_mib, "flat": flat, **measured}


if __name__ == "__main__":
    main()
