"""The sliding window's arithmetic, and the roles' answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xdm_connector.errors import InvalidInput, NotFound
from xdm_connector.security.rate_limit import RateLimit, retry_after, subjects
from xdm_connector.security.roles import known_role, role, role_required

LIMIT = RateLimit(max_failures=3, window_seconds=60)
START = datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_under_the_limit_the_caller_may_try() -> None:
    assert retry_after([], LIMIT, at(0)) is None
    assert retry_after([at(0), at(1)], LIMIT, at(2)) is None


def test_at_the_limit_it_waits_for_the_oldest_to_leave_the_window() -> None:
    assert retry_after([at(0), at(10), at(20)], LIMIT, at(30)) == 30
    assert retry_after([at(0), at(10), at(20)], LIMIT, at(59.5)) == 1


def test_over_the_limit_it_waits_until_fewer_than_the_limit_remain() -> None:
    failures = [at(0), at(5), at(10), at(20)]
    assert retry_after(failures, LIMIT, at(30)) == 35


def test_subjects_are_digests_never_the_values() -> None:
    client, address = subjects("a-client", "198.51.100.7")
    assert client != address
    assert "a-client" not in client
    assert len(client) == 64
    assert subjects("a-client", "elsewhere")[0] == client


def test_roles() -> None:
    assert role("sql").label == "SQL function execution"
    assert role("administration").label == "Administration"
    with pytest.raises(NotFound):
        role("root")
    with pytest.raises(InvalidInput, match="one of administration, sql"):
        known_role("root")
    assert role_required("sql", "trigger an ingestion") == (
        "The role sql (SQL function execution) is required to trigger an ingestion"
    )
