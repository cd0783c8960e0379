"""``/{org}/campaign/integration``: the organization's API clients, for administrators.

::

    POST   /acme/campaign/integration                      {"name": "crm-sync", "groups": ["Administrators"]}
    201    {"clientId": "5f0c...", "clientSecret": "...", "name": "crm-sync", "groups": [...]}
    POST   /acme/campaign/integration/5f0c.../rotate      a new secret; the old tokens stop at once
    DELETE /acme/campaign/integration/5f0c...             its tokens stop at once

A secret is answered once, when created or rotated, and never stored in clear. Every route
needs the ``administration`` role (403); an unknown integration (or another
organization's) 404; an unknown group 404; no or bad token 401.
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
    administrator,
    error_responses,
    paginate,
)
from xdm_connector.api.deps import PrincipalDep, StoreDep
from xdm_connector.api.routes import collection_route, deletion_route
from xdm_connector.services import integrations
from xdm_connector.store.principals import Principal
from xdm_connector.store.tenants import IntegrationInfo

router = APIRouter(prefix="/{org}/campaign/integration", tags=["security"])
ITEM = "/{client_id}"


class IntegrationCreate(CamelModel):
    """A new integration: a name to recognise it by and its security groups."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "crm-sync", "groups": ["Administrators"]}]},
    )

    name: str = Field(default="integration", min_length=1, max_length=128)
    groups: list[str] = Field(min_length=1)


class IntegrationResource(CamelModel):
    """An integration as listed: never its secret."""

    client_id: str
    name: str
    groups: list[str]
    created: datetime


class IntegrationCredentials(CamelModel):
    """A client id and its secret, answered only when created or rotated."""

    client_id: str
    client_secret: str
    name: str | None = None
    groups: list[str] | None = None


def _resource(info: IntegrationInfo) -> IntegrationResource:
    return IntegrationResource(
        client_id=info.client_id, name=info.name, groups=list(info.groups), created=info.created_at
    )


def _integration_admin(org: str, client_id: str, principal: PrincipalDep) -> Principal:
    return administrator(principal, org, f"unknown integration {client_id}")


AdminDep = Annotated[Principal, Depends(_integration_admin)]


@collection_route(
    router, "", "List the integrations", Collection[IntegrationResource], (400, 401, 403, 404)
)
def list_integrations(
    request: Request, store: StoreDep, principal: OrgWriterDep, page: PageDep
) -> Response:
    """The organization's integrations with their groups."""
    listed = integrations.list_integrations(store, principal.org_id)
    return paginate(request, page, listed, _resource)


@router.post(
    "",
    summary="Create an integration",
    status_code=201,
    response_model=IntegrationCredentials,
    response_model_exclude_none=True,
    responses=error_responses(400, 401, 403, 404),
)
def create_integration(
    body: IntegrationCreate, store: StoreDep, principal: OrgWriterDep
) -> IntegrationCredentials:
    """Create an API client in the given groups; its secret is answered only now."""
    created = integrations.create_integration(
        store, principal.org_id, groups=body.groups, name=body.name, actor=principal.client_id
    )
    return IntegrationCredentials(
        client_id=created.client_id,
        client_secret=created.client_secret,
        name=body.name,
        groups=body.groups,
    )


@router.post(
    f"{ITEM}/rotate",
    summary="Rotate an integration's secret",
    response_model=IntegrationCredentials,
    response_model_exclude_none=True,
    responses=error_responses(401, 403, 404),
)
def rotate_integration(
    client_id: str, store: StoreDep, principal: AdminDep
) -> IntegrationCredentials:
    """A new secret, answered only now; every token of the integration stops working."""
    rotated = integrations.rotate_integration(
        store, principal.org_id, client_id, actor=principal.client_id
    )
    return IntegrationCredentials(client_id=rotated.client_id, client_secret=rotated.client_secret)


@deletion_route(router, ITEM, "Delete an integration", (401, 403, 404))
def delete_integration(client_id: str, store: StoreDep, principal: AdminDep) -> Response:
    """Delete the integration; every token of it stops working."""
    integrations.delete_integration(store, principal.org_id, client_id, actor=principal.client_id)
    return Response(status_code=204)
