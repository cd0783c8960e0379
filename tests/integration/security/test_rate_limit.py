"""The token endpoint's rate limit on failed attempts, on each store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.integration.security.conftest import World
from xdm_connector.security.rate_limit import (
    DEFAULT_RATE_LIMIT,
    RateLimit,
    TooManyAttempts,
    check,
    record_failure,
)
from xdm_connector.store.models import LoginFailure, utcnow
from xdm_connector.store.store import Store

LIMIT = DEFAULT_RATE_LIMIT.max_failures


def _attempt(client: TestClient, client_id: str, client_secret: str) -> httpx.Response:
    return client.post(
        "/ims/token/v3", data={"client_id": client_id, "client_secret": client_secret}
    )


@pytest.fixture
def elsewhere(client: TestClient) -> Iterator[TestClient]:
    """A client of the same app calling from another address."""
    with TestClient(client.app, client=("203.0.113.9", 40000)) as other:
        yield other


def test_failures_of_a_client_id_are_limited(client: TestClient, world: World) -> None:
    for _ in range(LIMIT):
        assert _attempt(client, world.reader.client_id, "guess").status_code == 401
    refused = _attempt(client, world.reader.client_id, world.reader.client_secret)
    assert refused.status_code == 429
    assert refused.json() == {
        "error_code": "429050",
        "message": "Too many failed attempts; retry later",
    }
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= DEFAULT_RATE_LIMIT.window_seconds


def test_the_client_id_limit_holds_from_every_address(
    client: TestClient, elsewhere: TestClient, world: World
) -> None:
    for _ in range(LIMIT):
        _attempt(client, world.reader.client_id, "guess")
    refused = _attempt(elsewhere, world.reader.client_id, world.reader.client_secret)
    assert refused.status_code == 429
    # another client id from the other address is not limited
    assert _attempt(elsewhere, world.admin.client_id, world.admin.client_secret).status_code == 200


def test_failures_from_an_address_are_limited(
    client: TestClient, elsewhere: TestClient, world: World
) -> None:
    for number in range(LIMIT):
        assert _attempt(client, f"made-up-{number}", "guess").status_code == 401
    assert _attempt(client, world.admin.client_id, world.admin.client_secret).status_code == 429
    assert _attempt(elsewhere, world.admin.client_id, world.admin.client_secret).status_code == 200


def test_a_success_resets_nothing(client: TestClient, world: World) -> None:
    for _ in range(LIMIT - 1):
        _attempt(client, world.reader.client_id, "guess")
    assert _attempt(client, world.reader.client_id, world.reader.client_secret).status_code == 200
    assert _attempt(client, world.reader.client_id, "guess").status_code == 401
    assert _attempt(client, world.reader.client_id, world.reader.client_secret).status_code == 429


def test_the_window_slides_and_old_failures_are_forgotten(store: Store) -> None:
    limit = RateLimit(max_failures=3, window_seconds=60)
    start = utcnow()
    for seconds in (0, 10, 20):
        record_failure(store, "client", "address", limit, now=start + timedelta(seconds=seconds))
    with pytest.raises(TooManyAttempts) as refused:
        check(store, "client", "address", limit, now=start + timedelta(seconds=30))
    assert refused.value.retry_after == 30  # the first failure leaves the window at 60 s
    check(store, "client", "address", limit, now=start + timedelta(seconds=61))
    check(store, "other", "elsewhere", limit, now=start + timedelta(seconds=30))

    record_failure(store, "client", "address", limit, now=start + timedelta(seconds=200))
    with store.read() as session:
        kept = session.query(LoginFailure).count()
    assert kept == 2  # the failures older than the window went; the new one's two subjects stay
