"""The dispatcher against a real HTTP receiver on 127.0.0.1: signed deliveries, retries
with backoff, every attempt recorded, no redirect followed, no private address reached
unless allowed, and no delivery sent twice by two dispatchers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from tests.integration.store.conftest import run_at_once
from tests.webhook_receiver import Receiver
from xdm_connector.services.webhook_delivery import WebhookDispatcher
from xdm_connector.services.webhooks import register_webhook, rotate_webhook, webhook_deliveries
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store

LEASE = timedelta(seconds=60)


class Clock:
    """Now, moved forward by the test."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def _register(store: Store, settings: Settings, url: str) -> tuple[str, str]:
    created = register_webhook(
        store, settings, "acme", url=url, events=["job.ended"], actor="operator:test"
    )
    return created.webhook.id, created.secret


def _end_a_job(store: Store) -> int:
    store.jobs.request_ingestion("acme", "XDM1")
    job = store.jobs.claim("worker-1", LEASE, utcnow())
    assert job is not None
    store.jobs.fail(job.id, "worker-1", JobOutcome(reason="ACP-880056 source"))
    return job.request_id


def test_a_delivery_arrives_signed_once_and_its_attempt_is_recorded(
    world: Store, settings: Settings
) -> None:
    with Receiver() as receiver:
        webhook, secret = _register(world, settings, receiver.url)
        request_id = _end_a_job(world)
        dispatcher = WebhookDispatcher(world, settings)
        try:
            assert dispatcher.run_once() == 1
            assert dispatcher.run_once() == 0
        finally:
            dispatcher.stop()
        [received] = receiver.wait_for(1)
    assert received.path == "/hooks/xdm"
    assert received.headers["content-type"] == "application/json"
    document = received.verified(secret)
    assert document["type"] == "job.ended"
    assert document["data"]["requestId"] == request_id
    assert document["data"]["status"] == "Failed"
    [record] = webhook_deliveries(world, "acme", webhook)
    assert record.delivery.state == "delivered"
    assert record.delivery.message_id == received.headers["webhook-id"]
    assert [(a.status_code, a.error) for a in record.attempts] == [(204, "")]


def test_a_failed_attempt_is_retried_after_its_backoff_until_one_succeeds(
    world: Store, settings: Settings
) -> None:
    clock = Clock()
    with Receiver(answers=[500, 503]) as receiver:
        webhook, secret = _register(world, settings, receiver.url)
        _end_a_job(world)
        dispatcher = WebhookDispatcher(world, settings, clock=clock)
        try:
            assert dispatcher.run_once() == 1
            assert dispatcher.run_once() == 0  # not due before its backoff
            [record] = webhook_deliveries(world, "acme", webhook)
            assert record.delivery.state == "pending"
            wait = (record.delivery.next_attempt_at - utcnow()).total_seconds()
            assert 0 < wait <= settings.webhook_retry_base_seconds
            clock.offset = timedelta(seconds=settings.webhook_retry_base_seconds)
            assert dispatcher.run_once() == 1
            clock.offset = timedelta(seconds=settings.webhook_retry_base_seconds * 5)
            assert dispatcher.run_once() == 1
        finally:
            dispatcher.stop()
        received = receiver.wait_for(3)
    assert len({r.headers["webhook-id"] for r in received}) == 1
    for each in received:
        each.verified(secret)
    [record] = webhook_deliveries(world, "acme", webhook)
    assert record.delivery.state == "delivered"
    assert record.delivery.attempts == 3
    assert [(a.status_code, a.error) for a in record.attempts] == [
        (500, "HTTP 500"),
        (503, "HTTP 503"),
        (204, ""),
    ]


def test_a_delivery_is_given_up_after_its_retry_period(world: Store, settings: Settings) -> None:
    short = settings.model_copy(update={"webhook_retry_period_seconds": 5.0})
    with Receiver(answers=[500]) as receiver:
        webhook, _ = _register(world, short, receiver.url)
        _end_a_job(world)
        dispatcher = WebhookDispatcher(world, short)
        try:
            assert dispatcher.run_once() == 1
        finally:
            dispatcher.stop()
    [record] = webhook_deliveries(world, "acme", webhook)
    assert record.delivery.state == "failed"
    assert record.delivery.ended_at is not None


def test_a_redirect_is_not_followed(world: Store, settings: Settings) -> None:
    with Receiver() as elsewhere, Receiver(answers=[302], location=elsewhere.url) as receiver:
        webhook, _ = _register(world, settings, receiver.url)
        _end_a_job(world)
        dispatcher = WebhookDispatcher(world, settings)
        try:
            assert dispatcher.run_once() == 1
        finally:
            dispatcher.stop()
        assert len(receiver.wait_for(1)) == 1
        assert elsewhere.received == []
    [record] = webhook_deliveries(world, "acme", webhook)
    assert record.delivery.state == "pending"
    assert record.attempts[0].error == "HTTP 302: redirects are not followed"


def test_a_private_address_is_refused_at_send_time_unless_allowed(
    world: Store, settings: Settings
) -> None:
    with Receiver() as receiver:
        webhook, _ = _register(world, settings, receiver.url)
        _end_a_job(world)
        strict = settings.model_copy(update={"webhook_allow_private": False})
        dispatcher = WebhookDispatcher(world, strict)
        try:
            assert dispatcher.run_once() == 1
        finally:
            dispatcher.stop()
        assert receiver.received == []
    [record] = webhook_deliveries(world, "acme", webhook)
    [attempt] = record.attempts
    assert attempt.status_code is None
    assert "may not be sent to 127.0.0.1" in attempt.error


def test_two_dispatchers_never_send_a_delivery_twice(
    world: Store, settings: Settings, open_store: Callable[[], Store]
) -> None:
    with Receiver() as receiver:
        _register(world, settings, receiver.url)
        _register(world, settings, receiver.url)
        for _ in range(3):
            _end_a_job(world)
        dispatchers = [WebhookDispatcher(open_store(), settings) for _ in range(2)]
        try:
            sent = run_at_once([d.run_once for d in dispatchers] * 2)
        finally:
            for dispatcher in dispatchers:
                dispatcher.stop()
        received = receiver.wait_for(6)
    assert sum(sent) == 6
    assert len(received) == 6
    pairs = {(r.headers["webhook-id"], r.headers["webhook-signature"]) for r in received}
    assert len(pairs) == 6


def test_only_a_dispatcher_holding_the_installations_key_signs(
    world: Store, settings: Settings, tmp_path: Path
) -> None:
    with Receiver() as receiver:
        webhook, secret = _register(world, settings, receiver.url)
        _end_a_job(world)
        elsewhere = settings.model_copy(update={"home": tmp_path / "another-home"})
        stranger = WebhookDispatcher(world, elsewhere)
        try:
            assert stranger.run_once() == 0  # no key at all
            register_webhook(
                world, elsewhere, "acme", url=receiver.url, events=["job.ended"], actor="x"
            )
            assert stranger.run_once() == 0  # another key: not its endpoint's delivery
        finally:
            stranger.stop()
        rotated = rotate_webhook(world, settings, "acme", webhook, actor="operator:test")
        assert rotated.secret != secret
        dispatcher = WebhookDispatcher(world, settings)
        try:
            assert dispatcher.run_once() == 1
        finally:
            dispatcher.stop()
        [received] = receiver.wait_for(1)
    received.verified(rotated.secret)  # signed with the secret of now
