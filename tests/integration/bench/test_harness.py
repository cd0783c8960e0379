"""A smoke run of the benchmark harness: small sources, one repetition, every row measured.

No timing is asserted: only that each row ran and reported positive rates and memory, and
that each ratio is judged against its goal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.__main__ import main


def test_a_smoke_run_measures_every_row(
    tmp_path: Path, postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDMC_TEST_POSTGRES_URL", postgres_server_url)
    out = tmp_path / "results" / "latest.json"
    # 2,000 records end before two workers hold a slice each: the worker recovery row has
    # a test of its own (test_worker_recovery.py).
    arguments = ["--profiles", "2000", "--repetitions", "1", "--skip", "api,worker-recovery"]
    arguments += ["--scale-profiles", "2000", "--latency-profiles", "2000"]
    arguments += ["--latency-triggers", "2"]
    result = main([*arguments, "--data", str(tmp_path / "data"), "--out", str(out)])

    assert json.loads(out.read_text()) == result
    keys = [c["key"] for c in result["comparisons"]]
    mysql = ["mysql"] if "mysql" in keys else []  # when a MariaDB server answers
    assert keys == ["sqlite", "postgres", *mysql, "simple", "simple-postgres", "delta", "jsonl"]
    for comparison in result["comparisons"]:
        subject = comparison["subject"]
        assert subject["rows"] == 2000
        assert subject["rate"] > 0
        assert subject["peak_rss_mib"] > 0
        for reference in comparison["references"]:
            if "unavailable" in reference:  # dlt or mysqlclient: the bench extra is missing
                assert reference["variant"].startswith(("dlt", "mysqlclient"))
                continue
            assert reference["rows"] == 2000
            assert reference["rate"] > 0
            assert reference["ratio"] > 0
            if "goal" in reference:
                expected = subject["rate"] >= reference["goal"] * reference["rate"]
                assert reference["met"] is expected
    goals = {
        (comparison["key"], reference["variant"]): reference.get("goal")
        for comparison in result["comparisons"]
        for reference in comparison["references"]
        if "unavailable" not in reference
    }
    assert goals[("simple", "ADBC sqlite → Arrow")] == 0.8
    assert goals[("simple", "sqlite3 fetchmany")] is None  # reported beside the read limit
    assert goals[("delta", "xdm-connector sqlite→batch folders parquet")] == 0.95
    assert goals[("jsonl", "xdm-connector sqlite→batch folders parquet")] == 0.6
    merged, optimized, reconciled = result["lake"]
    assert (merged["key"], merged["rows"]) == ("merge", 20)  # 1% of 2,000
    assert (optimized["key"], optimized["rows"]) == ("optimize", 2000)
    assert (reconciled["key"], reconciled["rows"]) == ("reconcile", 2000)
    assert reconciled["cpu_seconds"] > 0
    assert all(row["seconds"] > 0 and row["peak_rss_mib"] > 0 for row in result["lake"])
    assert [(row["limit_mib"], row["flat"]) for row in result["lake"]] == [
        (300.0, False),
        (None, False),
        (300.0, True),
    ]
    [memory] = result["memory"]
    assert memory["profiles"] == 2000
    assert memory["peak_rss_mib"] > 0
    scale = result["scale_out"]
    assert scale["records"] == 2000
    assert scale["one_worker_seconds"] > 0
    assert scale["two_workers_seconds"] > 0
    assert [run["slices"] for run in scale["runs"]["2"]] == [4]
    assert [run["slices"] for run in scale["runs"]["1"]] == [0]  # alone, it reads it whole
    latency = result["latency"]
    assert (latency["profiles"], latency["changed"]) == (2000, 100)
    assert len(latency["runs_ms"]) == 2
    assert 0 < latency["median_ms"] <= latency["p95_ms"]
    recovery = result["recovery"]
    assert recovery["profiles"] == 2000
    assert len(recovery["runs_seconds"]) == 1
    assert recovery["endings"][0] in {"Aborted", "Success"}
    assert 0 < recovery["median_seconds"] == recovery["max_seconds"]
    assert result["machine"]["cores"] >= 1
