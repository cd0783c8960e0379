"""Webhooks: an organization's administrators register the endpoints told of its events.

::

    created = register_webhook(store, settings, "acme", url="https://hooks.acme.com/xdm",
                               events=["job.ended"], mapping_id="XDM44", actor="5f0c...")
    created.secret                    # 'whsec_...': answered now and at rotation, never again
    rotate_webhook(store, settings, "acme", created.webhook.id, actor=...)
    remove_webhook(store, "acme", created.webhook.id, actor=...)

Registration, rotation and removal each write their audit entry in their own transaction
(``webhook.create``, ``webhook.rotate``, ``webhook.delete``). The URL is checked against
server-side request forgery at registration (``security/webhook_targets.py``) and again at
every attempt (``services/webhook_delivery.py``). Secrets are derived from the
installation's webhook key, never stored (``security/webhook_secrets.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdm_connector.errors import InvalidInput
from xdm_connector.security.webhook_secrets import WebhookKey, encode_secret, new_salt
from xdm_connector.security.webhook_targets import check_url
from xdm_connector.settings import Settings
from xdm_connector.store.audit import AuditAction
from xdm_connector.store.models import Webhook
from xdm_connector.store.store import Store
from xdm_connector.store.webhooks import DeliveryRecord, WebhookEvent

MAX_WEBHOOKS = 50
"""The most endpoints one organization may register."""
EVENTS = tuple(event.value for event in WebhookEvent)


@dataclass(frozen=True)
class WebhookSecret:
    """An endpoint and its signing secret, answered only when created or rotated."""

    webhook: Webhook
    secret: str


def register_webhook(
    store: Store,
    settings: Settings,
    org_id: str,
    *,
    url: str,
    events: Sequence[str],
    mapping_id: str | None = None,
    actor: str,
) -> WebhookSecret:
    """Register an endpoint for ``events`` of ``org_id`` (of one mapping if given).

    ``InvalidInput`` for an unknown or repeated event, none at all, or a URL webhooks may
    not reach; ``NotFound`` for an unknown organization or mapping.
    """
    chosen = _events(events)
    store.tenants.get_organization(org_id)
    if mapping_id is not None:
        store.mappings.get(org_id, mapping_id)
    check_url(url, allow_private=settings.webhook_allow_private)
    if len(store.webhooks.list_for_org(org_id)) >= MAX_WEBHOOKS:
        raise InvalidInput(f"an organization has at most {MAX_WEBHOOKS} webhooks")
    key = WebhookKey.of_home(settings.home)
    salt = new_salt()
    with store.atomic():
        webhook = store.webhooks.create(
            org_id, url=url, events=chosen, mapping_id=mapping_id, key_id=key.id, key_salt=salt
        )
        details = {"events": chosen, "mapping": mapping_id}
        store.tenants.audit.record(org_id, actor, AuditAction.WEBHOOK_CREATE, webhook.id, details)
    return WebhookSecret(webhook, encode_secret(key.secret(webhook.id, salt)))


def list_webhooks(store: Store, org_id: str) -> list[Webhook]:
    """The organization's endpoints, oldest first (never their secrets)."""
    store.tenants.get_organization(org_id)
    return store.webhooks.list_for_org(org_id)


def get_webhook(store: Store, org_id: str, webhook_id: str) -> Webhook:
    """One endpoint of the organization; ``NotFound`` for another organization's."""
    return store.webhooks.get(org_id, webhook_id)


def rotate_webhook(
    store: Store, settings: Settings, org_id: str, webhook_id: str, *, actor: str
) -> WebhookSecret:
    """A new secret for the endpoint: the deliveries still to send are signed with it."""
    key = WebhookKey.of_home(settings.home)
    salt = new_salt()
    with store.atomic():
        webhook = store.webhooks.rotate(org_id, webhook_id, key_id=key.id, key_salt=salt)
        store.tenants.audit.record(org_id, actor, AuditAction.WEBHOOK_ROTATE, webhook_id)
    return WebhookSecret(webhook, encode_secret(key.secret(webhook.id, salt)))


def remove_webhook(store: Store, org_id: str, webhook_id: str, *, actor: str) -> None:
    """Remove the endpoint; its deliveries still to send are dropped."""
    with store.atomic():
        store.webhooks.delete(org_id, webhook_id)
        store.tenants.audit.record(org_id, actor, AuditAction.WEBHOOK_DELETE, webhook_id)


def webhook_deliveries(
    store: Store, org_id: str, webhook_id: str, *, limit: int = 50
) -> list[DeliveryRecord]:
    """The endpoint's latest deliveries, newest first, with every attempt of each."""
    return store.webhooks.deliveries(org_id, webhook_id, limit=limit)


def _events(events: Sequence[str]) -> list[str]:
    if not events:
        raise InvalidInput(f"name at least one event of {', '.join(EVENTS)}")
    unknown = [event for event in events if event not in EVENTS]
    if unknown:
        raise InvalidInput(
            f"unknown webhook event {unknown[0]!r}: the events are {', '.join(EVENTS)}"
        )
    if len(set(events)) != len(events):
        raise InvalidInput("a webhook names each event once")
    return list(events)
