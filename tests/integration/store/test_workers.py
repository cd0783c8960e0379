"""The workers' presence: announced, counted while recent, forgotten when they leave."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tests.integration.store.conftest import run_at_once
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store

LEASE = timedelta(seconds=60)


def test_workers_are_alive_while_they_announce_and_gone_when_they_leave(store: Store) -> None:
    now = utcnow()
    store.workers.announce("host:1:a", now - timedelta(minutes=5))
    store.workers.announce("host:2:b", now - timedelta(seconds=10))
    store.workers.announce("host:3:c", now)

    assert store.workers.alive(now, LEASE) == ["host:2:b", "host:3:c"]

    store.workers.announce("host:1:a", now)  # back: known since its first word
    store.workers.leave("host:2:b")
    assert store.workers.alive(now, LEASE) == ["host:1:a", "host:3:c"]


def test_a_worker_silent_for_a_day_is_forgotten(store: Store) -> None:
    now = utcnow()
    store.workers.announce("host:1:gone", now - timedelta(days=2))
    store.workers.announce("host:2:here", now)

    assert store.workers.alive(now, timedelta(days=3)) == ["host:2:here"]


def test_threads_of_one_worker_announce_at_once(open_store: Callable[[], Store]) -> None:
    stores = [open_store() for _ in range(4)]
    stores[0].upgrade()
    now = utcnow()

    run_at_once([lambda s=s: s.workers.announce("host:1:a", now) for s in stores * 5])

    assert stores[0].workers.alive(now, LEASE) == ["host:1:a"]
