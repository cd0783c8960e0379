"""On PostgreSQL, a delivery written to the outbox wakes an idle dispatcher (``NOTIFY
xdmc_webhooks`` on commit): it goes out without waiting for the next poll, here an hour
away."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.webhook_receiver import Receiver
from xdm_connector.jobs.notify import Wakeups, outbox_wakeups
from xdm_connector.services.webhook_delivery import WebhookDispatcher
from xdm_connector.services.webhooks import register_webhook
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store

pytestmark = pytest.mark.postgres

AN_HOUR = 3600.0


@pytest.fixture
def database_url(postgres_store_url: str) -> str:
    """PostgreSQL only: SQLite has no notifications (its dispatchers poll)."""
    return postgres_store_url


class FirstWait:
    """The dispatcher's wake-ups, telling the test when it first waits (idle, listening)."""

    def __init__(self, store: Store) -> None:
        self.make = outbox_wakeups(store)
        self.idle = threading.Event()

    def __call__(self, stopping: threading.Event) -> Wakeups:
        inner = self.make(stopping)
        idle = self.idle

        class Telling:
            def wait(self, timeout: float) -> None:
                idle.set()
                inner.wait(timeout)

            def close(self) -> None:
                inner.close()

        return Telling()


def _end_a_job(store: Store) -> int:
    store.jobs.request_ingestion("acme", "XDM1")
    job = store.jobs.claim("worker-1", timedelta(seconds=60), utcnow())
    assert job is not None
    store.jobs.succeed(job, "worker-1", JobOutcome(records_read=3, records_ingested=3), None)
    return job.request_id


def _dispatching(
    store: Store, settings: Settings, wakeups: Callable[[threading.Event], Wakeups]
) -> WebhookDispatcher:
    dispatcher = WebhookDispatcher(store, settings, wakeups=wakeups)
    dispatcher.start_in_thread()
    return dispatcher


def test_a_jobs_end_wakes_an_idle_dispatcher_before_its_next_poll(
    world: Store, settings: Settings
) -> None:
    settings = settings.model_copy(update={"webhook_poll_seconds": AN_HOUR})
    with Receiver() as receiver:
        created = register_webhook(
            world, settings, "acme", url=receiver.url, events=["job.ended"], actor="tests"
        )
        wakeups = FirstWait(world)
        dispatcher = _dispatching(world, settings, wakeups)
        try:
            assert wakeups.idle.wait(30), "the dispatcher never went idle"
            request_id = _end_a_job(world)
            [received] = receiver.wait_for(1, timeout=60)
        finally:
            dispatcher.stop(timeout=30)
    document = received.verified(created.secret)
    assert document["type"] == "job.ended"
    assert document["data"]["requestId"] == request_id
    assert document["data"]["status"] == "Success"
