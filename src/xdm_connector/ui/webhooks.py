"""The organization's webhooks and their recent deliveries, for its administrators.

``/ui/webhooks`` lists each endpoint (URL, events, mapping, created, rotated; never its
secret) with its latest deliveries, newest first, and every attempt of each: when, the
receiver's status code or the error, and how long it took. Only a viewer holding the
``administration`` role sees it (403 otherwise, as the API's webhooks routes).

Its forms register an endpoint (``POST /ui/webhooks``), rotate one's secret
(``.../{id}/rotate``) and remove one (``.../{id}/delete``), checked as every form of the
pages (CSRF token, same origin) and done by the API's own routes (``api/webhooks.py``) as
the viewer's integration: same checks, same errors, same audit entries. The new secret is
in the answer to the register or rotate form only, never in a URL, a cookie or a later
answer: the browser shows the page answered to the form, not a redirect. Bad input shows the API's error code
and message above the form as typed, and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from xdm_connector.api import webhooks as api
from xdm_connector.api.deps import SettingsDep, StoreDep
from xdm_connector.errors import InvalidInput, NotFound, XdmcError
from xdm_connector.security.roles import ROLE_ADMINISTRATION
from xdm_connector.services import webhooks
from xdm_connector.store.store import Store
from xdm_connector.store.webhooks import DeliveryRecord
from xdm_connector.ui.sessions import Notice
from xdm_connector.ui.web import (
    PAGE_STATUS,
    PosterDep,
    UiRoute,
    Viewer,
    ViewerDep,
    redirect,
    render,
)

router = APIRouter(route_class=UiRoute, include_in_schema=False)

PAGE = "/ui/webhooks"
RECENT_DELIVERIES = 10
"""How many of an endpoint's latest deliveries the page shows."""
DELIVERY_BADGES = {"delivered": "Success", "pending": "Started", "failed": "Failed"}
"""The badge colour of a delivery's state, borrowed from the job statuses'."""
CHANGE = "change the webhooks"


@dataclass(frozen=True)
class RegisterForm:
    """The register form as typed, shown again when it is refused."""

    url: str = ""
    events: tuple[str, ...] = ("job.ended",)
    mapping: str = ""


def _webhooks_page(
    request: Request,
    store: Store,
    viewer: Viewer,
    *,
    revealed: api.WebhookWithSecret | None = None,
    form: RegisterForm | None = None,
    refused: XdmcError | None = None,
) -> Response:
    """The page; with the secret just made (``revealed``), or the error that refused the
    register form and the form as typed."""
    viewer.require(viewer.can_administer, ROLE_ADMINISTRATION, "see the webhooks")
    listed = webhooks.list_webhooks(store, viewer.org_id)
    latest: dict[str, list[DeliveryRecord]] = {
        hook.id: webhooks.webhook_deliveries(store, viewer.org_id, hook.id, limit=RECENT_DELIVERIES)
        for hook in listed
    }
    status = 200
    if refused is not None:
        status = next((code for kind, code in PAGE_STATUS if isinstance(refused, kind)), 400)
    return render(
        request,
        "webhooks.html",
        {
            "section": "webhooks",
            "webhooks": listed,
            "deliveries": latest,
            "badges": DELIVERY_BADGES,
            "events": webhooks.EVENTS,
            "mappings": [mapping.id for mapping in store.mappings.list_for_org(viewer.org_id)],
            "revealed": revealed,
            "form": form or RegisterForm(),
            "refused": refused,
        },
        status_code=status,
    )


@router.get(PAGE)
def webhooks_page(request: Request, store: StoreDep, viewer: ViewerDep) -> Response:
    """The organization's endpoints, each with its latest deliveries and their attempts."""
    return _webhooks_page(request, store, viewer)


@router.post(PAGE)
def register(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    viewer: PosterDep,
    url: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None,
    mapping: Annotated[str, Form()] = "",
) -> Response:
    """Register an endpoint; the answer shows its secret, this once."""
    viewer.require(viewer.can_administer, ROLE_ADMINISTRATION, CHANGE)
    typed = RegisterForm(url=url.strip(), events=tuple(events or ()), mapping=mapping.strip())
    try:
        body = _request_body(typed)
        created = api.create_webhook(body, store, settings, viewer.principal)
    except (InvalidInput, NotFound) as exc:
        return _webhooks_page(request, store, viewer, form=typed, refused=exc)
    return _webhooks_page(request, store, viewer, revealed=created)


def _request_body(typed: RegisterForm) -> api.WebhookCreate:
    """The API's request body of the form; ``InvalidInput`` saying what the API says of it."""
    try:
        return api.WebhookCreate(
            url=typed.url, events=list(typed.events), mapping=typed.mapping or None
        )
    except ValidationError as exc:
        problems = "; ".join(
            ".".join(["body", *(str(part) for part in error["loc"])]) + f": {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidInput(f"invalid request: {problems}") from None


@router.post(f"{PAGE}/{{webhook_id}}/rotate")
def rotate(
    request: Request, webhook_id: str, store: StoreDep, settings: SettingsDep, viewer: PosterDep
) -> Response:
    """Give the endpoint a new secret; the answer shows it, this once."""
    viewer.require(viewer.can_administer, ROLE_ADMINISTRATION, CHANGE)
    rotated = api.rotate_webhook(webhook_id, store, settings, viewer.principal)
    return _webhooks_page(request, store, viewer, revealed=rotated)


@router.post(f"{PAGE}/{{webhook_id}}/delete")
def delete(request: Request, webhook_id: str, store: StoreDep, viewer: PosterDep) -> Response:
    """Remove the endpoint and its deliveries still to send."""
    viewer.require(viewer.can_administer, ROLE_ADMINISTRATION, CHANGE)
    api.delete_webhook(webhook_id, store, viewer.principal)
    return redirect(request, PAGE, Notice("ok", f"Webhook {webhook_id} is removed."))
