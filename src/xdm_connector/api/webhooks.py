"""``/{org}/campaign/webhooks``: the endpoints told of the organization's events, for its
administrators.

::

    POST   /acme/campaign/webhooks      {"url": "https://hooks.acme.com/xdm", "events": ["job.ended"], "mapping": "XDM44"}
    201    {"id": "wh_...", "url": ..., "events": [...], "mapping": "XDM44", "created": ..., "secret": "whsec_..."}
    GET    /acme/campaign/webhooks                              the endpoints, never a secret
    POST   /acme/campaign/webhooks/wh_.../rotate                a new secret, answered once
    DELETE /acme/campaign/webhooks/wh_...                       204
    GET    /acme/campaign/webhooks/wh_.../deliveries            the latest deliveries, with their attempts

Every route needs the ``administration`` role (403); an unknown endpoint (or another
organization's) 404; an unknown event, a URL webhooks may not reach (``XDMC-WEBHOOK-URL``)
400; no or bad token 401.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ConfigDict, Field

from xdm_connector.api.collections import (
    CamelModel,
    Collection,
    OrgWriterDep,
    PageDep,
    error_responses,
    paginate,
)
from xdm_connector.api.deps import PrincipalDep, SettingsDep, StoreDep, administrator
from xdm_connector.services import webhooks
from xdm_connector.store.models import Webhook
from xdm_connector.store.principals import Principal
from xdm_connector.store.webhooks import DeliveryRecord

router = APIRouter(prefix="/{org}/campaign/webhooks", tags=["webhooks"])
ITEM = "/{webhook_id}"


class WebhookCreate(CamelModel):
    """A new endpoint: where to send, which events, and optionally one mapping's only."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://hooks.acme.com/xdm", "events": ["job.ended"], "mapping": "XDM44"}
            ]
        },
    )

    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(min_length=1, max_length=len(webhooks.EVENTS))
    mapping: str | None = Field(default=None, min_length=1, max_length=128)


class WebhookResource(CamelModel):
    """An endpoint as listed: never its secret."""

    id: str
    url: str
    events: list[str]
    mapping: str | None
    created: datetime
    rotated: datetime | None = None


class WebhookWithSecret(WebhookResource):
    """An endpoint and its signing secret, answered only when created or rotated."""

    secret: str


class AttemptResource(CamelModel):
    """One attempt to send a delivery (read from the store's row, whose names it keeps)."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    status_code: int | None
    error: str
    duration_ms: int


class DeliveryResource(CamelModel):
    """A delivery of one event to the endpoint, and every attempt to send it."""

    message_id: str
    type: str
    state: str
    created: datetime
    next_attempt: datetime | None
    ended: datetime | None
    attempts: list[AttemptResource]


def _resource(webhook: Webhook) -> WebhookResource:
    return WebhookResource(
        id=webhook.id,
        url=webhook.url,
        events=list(webhook.events),
        mapping=webhook.mapping_id,
        created=webhook.created_at,
        rotated=webhook.rotated_at,
    )


def _with_secret(created: webhooks.WebhookSecret) -> WebhookWithSecret:
    return WebhookWithSecret(**_resource(created.webhook).model_dump(), secret=created.secret)


def _delivery(record: DeliveryRecord) -> DeliveryResource:
    delivery = record.delivery
    return DeliveryResource(
        message_id=delivery.message_id,
        type=delivery.event_type,
        state=delivery.state,
        created=delivery.created_at,
        next_attempt=delivery.next_attempt_at if delivery.state == "pending" else None,
        ended=delivery.ended_at,
        attempts=[AttemptResource.model_validate(attempt) for attempt in record.attempts],
    )


def _webhook_admin(org: str, webhook_id: str, principal: PrincipalDep) -> Principal:
    return administrator(principal, org, f"unknown webhook {webhook_id}")


AdminDep = Annotated[Principal, Depends(_webhook_admin)]


@router.get(
    "",
    summary="List the webhooks",
    response_model=Collection[WebhookResource],
    responses=error_responses(400, 401, 403, 404),
)
def list_webhooks(
    request: Request, store: StoreDep, principal: OrgWriterDep, page: PageDep
) -> Response:
    """The organization's endpoints, oldest first; never their secrets."""
    found = webhooks.list_webhooks(store, principal.org_id)
    return paginate(request, page, found, _resource)


@router.post(
    "",
    summary="Register a webhook",
    status_code=201,
    response_model=WebhookWithSecret,
    responses=error_responses(400, 401, 403, 404),
)
def create_webhook(
    body: WebhookCreate, store: StoreDep, settings: SettingsDep, principal: OrgWriterDep
) -> WebhookWithSecret:
    """Register an endpoint for the events named; its secret (``whsec_...``) is answered
    only now. Deliveries are signed as Standard Webhooks says."""
    created = webhooks.register_webhook(
        store,
        settings,
        principal.org_id,
        url=body.url,
        events=body.events,
        mapping_id=body.mapping,
        actor=principal.client_id,
    )
    return _with_secret(created)


@router.post(
    f"{ITEM}/rotate",
    summary="Rotate a webhook's secret",
    response_model=WebhookWithSecret,
    responses=error_responses(401, 403, 404),
)
def rotate_webhook(
    webhook_id: str, store: StoreDep, settings: SettingsDep, principal: AdminDep
) -> WebhookWithSecret:
    """A new secret, answered only now; deliveries still to send are signed with it."""
    rotated = webhooks.rotate_webhook(
        store, settings, principal.org_id, webhook_id, actor=principal.client_id
    )
    return _with_secret(rotated)


@router.delete(
    ITEM,
    summary="Remove a webhook",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404),
)
def delete_webhook(webhook_id: str, store: StoreDep, principal: AdminDep) -> Response:
    """Remove the endpoint; its deliveries still to send are dropped."""
    webhooks.remove_webhook(store, principal.org_id, webhook_id, actor=principal.client_id)
    return Response(status_code=204)


@router.get(
    f"{ITEM}/deliveries",
    summary="A webhook's deliveries",
    response_model=Collection[DeliveryResource],
    responses=error_responses(400, 401, 403, 404),
)
def list_deliveries(
    request: Request, webhook_id: str, store: StoreDep, principal: AdminDep, page: PageDep
) -> Response:
    """The endpoint's latest 200 deliveries, newest first, each with every attempt."""
    records = webhooks.webhook_deliveries(store, principal.org_id, webhook_id, limit=200)
    return paginate(request, page, records, _delivery)
