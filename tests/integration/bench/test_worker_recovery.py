"""The worker recovery row, each worker held in its first slice until the kill so that both
hold one at once on a busy machine too (the smoke run's 2,000 records end before that): one
kill, no timing asserted but that the lease was not what ended the request."""

from __future__ import annotations

from pathlib import Path

from bench.worker_recovery import LEASE_SECONDS, measure_worker_recovery

from xdm_connector.demo.source import create_demo_source

PROFILES = 20_000


def test_the_worker_holding_a_sliced_job_is_killed_and_its_request_ends(
    tmp_path: Path, postgres_server_url: str
) -> None:
    source = tmp_path / "profiles.db"
    create_demo_source(source, profiles=PROFILES)

    measured = measure_worker_recovery(
        postgres_server_url,
        source,
        tmp_path / "work",
        profiles=PROFILES,
        repetitions=1,
        hold_slices=True,
    )

    assert (measured["profiles"], measured["workers"]) == (PROFILES, 2)
    assert measured["endings"] == ["Aborted"]  # its coordinator killed, the job cannot end well
    assert 0 < measured["median_seconds"] == measured["max_seconds"] < LEASE_SECONDS
    assert not (tmp_path / "work" / "worker-recovery").exists()
