"""Deliveries that ended (delivered or given up) are deleted with their attempts once past
``XDMC_WEBHOOK_RETENTION_DAYS``, by one worker's hourly maintenance; pending ones never."""

from __future__ import annotations

from datetime import timedelta

from xdm_connector.destinations.factory import OrgDestinations
from xdm_connector.jobs.maintenance import WEBHOOK_PRUNE_INTERVAL, ScheduledMaintenance
from xdm_connector.security.webhook_secrets import WebhookKey
from xdm_connector.services.webhooks import register_webhook, webhook_deliveries
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store
from xdm_connector.store.webhooks import AttemptResult, DeliveryState

LEASE = timedelta(seconds=60)


def _deliveries_in_each_state(store: Store, settings: Settings) -> str:
    """Three deliveries of one endpoint: one delivered, one given up, one still pending
    (after a failed attempt). Answers the endpoint's id."""
    created = register_webhook(
        store, settings, "acme", url="http://127.0.0.1:9/hook", events=["job.ended"], actor="t"
    )
    for _ in range(3):
        store.jobs.request_ingestion("acme", "XDM1")
        job = store.jobs.claim("worker-1", LEASE, utcnow())
        assert job is not None
        store.jobs.fail(job.id, "worker-1", JobOutcome(reason="ACP-880056 source"))
    key = WebhookKey.existing(settings.home)
    assert key is not None
    leased = store.webhooks.lease("dispatcher", key.id, utcnow(), LEASE, 10)
    assert len(leased) == 3
    results = [
        AttemptResult(204, "", 5, DeliveryState.DELIVERED),
        AttemptResult(500, "HTTP 500", 5, DeliveryState.FAILED),
        AttemptResult(500, "HTTP 500", 5, DeliveryState.PENDING, utcnow() + timedelta(days=90)),
    ]
    for item, result in zip(leased, results, strict=True):
        store.webhooks.record_attempt(item.delivery.id, "dispatcher", result)
    return created.webhook.id


def _states(store: Store, webhook_id: str) -> dict[str, int]:
    records = webhook_deliveries(store, "acme", webhook_id)
    return {record.delivery.state: len(record.attempts) for record in records}


def test_pruning_deletes_the_ended_deliveries_before_the_cutoff_never_a_pending_one(
    world: Store, settings: Settings
) -> None:
    webhook_id = _deliveries_in_each_state(world, settings)
    assert world.webhooks.prune(utcnow() - timedelta(minutes=1)) == 0
    assert _states(world, webhook_id) == {"delivered": 1, "failed": 1, "pending": 1}
    assert world.webhooks.prune(utcnow() + timedelta(days=365)) == 2
    assert _states(world, webhook_id) == {"pending": 1}


def test_one_worker_prunes_per_slot_after_the_retention(world: Store, settings: Settings) -> None:
    webhook_id = _deliveries_in_each_state(world, settings)
    destinations = OrgDestinations(world, settings)
    first = ScheduledMaintenance(world, settings, destinations)
    second = ScheduledMaintenance(world, settings, destinations)
    now = utcnow()
    assert first.prune_webhook_deliveries("worker-1", now) is None  # plans the first slot
    due = now + WEBHOOK_PRUNE_INTERVAL
    assert first.prune_webhook_deliveries("worker-1", due) == 0  # ended under 30 days ago
    assert _states(world, webhook_id) == {"delivered": 1, "failed": 1, "pending": 1}
    later = now + timedelta(days=settings.webhook_retention_days, hours=2)
    assert first.prune_webhook_deliveries("worker-1", later) == 2
    assert second.prune_webhook_deliveries("worker-2", later) is None
    assert _states(world, webhook_id) == {"pending": 1}
    assert world.maintenance.last_run("webhook-prune")[1] == "worker-1"


def test_the_workers_maintenance_turn_prunes(world: Store, settings: Settings) -> None:
    webhook_id = _deliveries_in_each_state(world, settings)
    maintenance = ScheduledMaintenance(world, settings, OrgDestinations(world, settings))
    now = utcnow()
    maintenance.run_due("worker-1", now)
    maintenance.run_due("worker-1", now + timedelta(days=settings.webhook_retention_days + 1))
    assert _states(world, webhook_id) == {"pending": 1}


def test_a_retention_of_zero_keeps_every_delivery(world: Store, settings: Settings) -> None:
    webhook_id = _deliveries_in_each_state(world, settings)
    keeping = settings.model_copy(update={"webhook_retention_days": 0})
    maintenance = ScheduledMaintenance(world, keeping, OrgDestinations(world, keeping))
    for days in (0, 400, 800):
        assert maintenance.prune_webhook_deliveries("w", utcnow() + timedelta(days=days)) is None
    assert _states(world, webhook_id) == {"delivered": 1, "failed": 1, "pending": 1}
