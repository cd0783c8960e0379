"""The outbox: every start and end of a job, and every publication, writes its webhook
deliveries in its own transaction, one per endpoint that asked for the event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.request_status import status_body
from xdm_connector.errors import LeaseLost
from xdm_connector.services.cancellation import cancel_job
from xdm_connector.services.webhooks import register_webhook, remove_webhook
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.mappings import LogLine
from xdm_connector.store.models import Job, WebhookDelivery, utcnow
from xdm_connector.store.store import Store

LEASE = timedelta(seconds=60)


def _register(
    store: Store, settings: Settings, events: list[str], mapping: str | None = None
) -> str:
    created = register_webhook(
        store,
        settings,
        "acme",
        url="http://127.0.0.1:9/hook",
        events=events,
        mapping_id=mapping,
        actor="operator:test",
    )
    return created.webhook.id


def _deliveries(store: Store, webhook_id: str | None = None) -> list[WebhookDelivery]:
    with store.read() as session:
        query = sa.select(WebhookDelivery).order_by(WebhookDelivery.id)
        if webhook_id is not None:
            query = query.where(WebhookDelivery.webhook_id == webhook_id)
        return list(session.scalars(query))


def _claimed(store: Store, mapping: str = "XDM1") -> Job:
    store.jobs.request_ingestion("acme", mapping)
    job = store.jobs.claim("worker-1", LEASE, utcnow())
    assert job is not None
    assert job.mapping_id == mapping
    return job


def _body(delivery: WebhookDelivery) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(delivery.body)
    return document


def test_a_jobs_end_is_told_to_each_endpoint_that_asked_for_it(
    world: Store, settings: Settings
) -> None:
    every = _register(world, settings, ["job.ended"])
    started = _register(world, settings, ["job.started", "job.ended"])
    other_mapping = _register(world, settings, ["job.ended"], mapping="XDM2")
    published = _register(world, settings, ["mapping.published"])

    job = _claimed(world)
    world.jobs.succeed(job, "worker-1", JobOutcome(4, 3, 1, batch_id="b-1"), {"w": 1})

    assert _deliveries(world, other_mapping) == []
    assert _deliveries(world, published) == []
    assert [d.event_type for d in _deliveries(world, started)] == ["job.started", "job.ended"]
    [ended] = _deliveries(world, every)
    assert ended.event_type == "job.ended"
    assert ended.state == "pending"
    # One message, one id, whichever endpoint it goes to.
    assert ended.message_id == _deliveries(world, started)[1].message_id
    assert ended.message_id.startswith("msg_")
    stored = world.jobs.get_by_id(job.id)
    body = _body(ended)
    assert list(body) == ["type", "timestamp", "data"]
    assert body["type"] == "job.ended"
    assert body["timestamp"].endswith("Z")
    data = body["data"]
    assert {key: data[key] for key in list(data)[:5]} == status_body(stored)
    assert data["status"] == "Success"
    assert data["numRecords"] == 3
    assert data["batchId"] == "b-1"
    assert (data["organization"], data["mapping"], data["trigger"]) == ("acme", "XDM1", "api")
    counts = (data["recordsRead"], data["recordsIngested"], data["recordsRejected"])
    assert counts == (4, 3, 1)
    assert data["endedAt"] is not None


@pytest.mark.parametrize("how", ["fail", "abort", "cancel", "reap"])
def test_every_way_a_job_ends_is_told_once(world: Store, settings: Settings, how: str) -> None:
    webhook = _register(world, settings, ["job.ended"])
    job = _claimed(world)
    if how == "fail":
        world.jobs.fail(job.id, "worker-1", JobOutcome(reason="ACP-880056 source"))
    elif how == "abort":
        world.jobs.abort_held(job.id, "worker-1", JobOutcome())
    elif how == "cancel":
        cancel_job(world, "acme", job.request_id, actor="operator:test")
    else:
        world.jobs.reap_expired(utcnow() + 2 * LEASE)
    [ended] = _deliveries(world, webhook)
    data = _body(ended)["data"]
    expected = "Failed" if how == "fail" else "Aborted"
    assert data["status"] == expected
    assert data["requestId"] == job.request_id
    assert world.jobs.get_by_id(job.id).state == JobState(expected)
    # Ended once, told once: a second end changes nothing and tells nothing.
    with pytest.raises(LeaseLost):
        world.jobs.fail(job.id, "worker-1", JobOutcome())
    assert len(_deliveries(world, webhook)) == 1


def test_an_end_that_does_not_happen_is_not_told(world: Store, settings: Settings) -> None:
    webhook = _register(world, settings, ["job.ended"])
    job = _claimed(world)
    with pytest.raises(LeaseLost):
        world.jobs.succeed(job, "another-worker", JobOutcome(), None)
    assert _deliveries(world, webhook) == []
    assert world.jobs.get_by_id(job.id).state == JobState.CREATED


def test_publication_and_unpublication_are_told(world: Store, settings: Settings) -> None:
    webhook = _register(world, settings, ["mapping.published", "mapping.unpublished"])
    only_xdm2 = _register(world, settings, ["mapping.published"], mapping="XDM2")
    definition = world.mappings.get("acme", "XDM1").definition
    log = [LogLine("info", "ACP-880092", "Mapping is published")]
    world.mappings.publish(
        "acme",
        "XDM1",
        definition=definition,
        interval_seconds=60,
        resend=False,
        start=True,
        log=log,
    )
    world.mappings.unpublish("acme", "XDM1")
    told = [(d.event_type, _body(d)["data"]) for d in _deliveries(world, webhook)]
    assert told == [
        (
            "mapping.published",
            {
                "organization": "acme",
                "mapping": "XDM1",
                "dataset": "profiles",
                "publicationStatus": "Published",
                "executionStatus": "Started",
            },
        ),
        (
            "mapping.unpublished",
            {
                "organization": "acme",
                "mapping": "XDM1",
                "dataset": "profiles",
                "publicationStatus": "Draft",
                "executionStatus": "Stopped",
            },
        ),
    ]
    assert _deliveries(world, only_xdm2) == []


def test_a_removed_endpoint_takes_its_deliveries_with_it(world: Store, settings: Settings) -> None:
    webhook = _register(world, settings, ["job.ended"])
    kept = _register(world, settings, ["job.ended"])
    job = _claimed(world)
    world.jobs.fail(job.id, "worker-1", JobOutcome())
    remove_webhook(world, "acme", webhook, actor="operator:test")
    assert _deliveries(world, webhook) == []
    assert len(_deliveries(world, kept)) == 1
    actions = [entry.action for entry in world.tenants.audit.entries("acme")]
    assert actions[:3] == ["webhook.delete", "webhook.create", "webhook.create"]
