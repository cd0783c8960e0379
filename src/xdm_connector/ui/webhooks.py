"""The organization's webhooks and their recent deliveries, for its administrators.

``/ui/webhooks`` lists each endpoint (URL, events, mapping, created, rotated; never its
secret) with its latest deliveries, newest first, and every attempt of each: when, the
receiver's status code or the error, and how long it took. Only a viewer holding the
``administration`` role sees it (403 otherwise, as the API's webhooks routes); endpoints
are registered, rotated and removed with the API or ``xdm-connector webhooks``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from xdm_connector.api.deps import StoreDep
from xdm_connector.security.roles import ROLE_ADMINISTRATION
from xdm_connector.services.webhooks import list_webhooks, webhook_deliveries
from xdm_connector.store.models import Webhook
from xdm_connector.store.webhooks import DeliveryRecord
from xdm_connector.ui.web import UiRoute, ViewerDep, render

router = APIRouter(route_class=UiRoute, include_in_schema=False)

RECENT_DELIVERIES = 10
"""How many of an endpoint's latest deliveries the page shows."""
DELIVERY_BADGES = {"delivered": "Success", "pending": "Started", "failed": "Failed"}
"""The badge colour of a delivery's state, borrowed from the job statuses'."""


@dataclass(frozen=True)
class WebhookView:
    """An endpoint and its latest deliveries, as the page shows them."""

    webhook: Webhook
    deliveries: list[DeliveryRecord]


@router.get("/ui/webhooks")
def webhooks_page(request: Request, store: StoreDep, viewer: ViewerDep) -> Response:
    """The organization's endpoints, each with its latest deliveries and their attempts."""
    viewer.require(viewer.can_administer, ROLE_ADMINISTRATION, "see the webhooks")
    views = [
        WebhookView(
            webhook,
            webhook_deliveries(store, viewer.org_id, webhook.id, limit=RECENT_DELIVERIES),
        )
        for webhook in list_webhooks(store, viewer.org_id)
    ]
    return render(
        request,
        "webhooks.html",
        {"section": "webhooks", "webhooks": views, "badges": DELIVERY_BADGES},
    )
