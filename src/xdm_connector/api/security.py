"""``/{org}/campaign/roleBase`` and ``/{org}/campaign/securityGroup``: roles and groups.

The original's grant, as REST: read the role, post it to a group's roles::

    GET  /acme/campaign/roleBase/sql
    {"name": "sql", "label": "SQL function execution", "href": ".../acme/campaign/roleBase/sql"}
    POST /acme/campaign/securityGroup/Administrators/roles   (that body, or {"name": "sql"})
    DELETE /acme/campaign/securityGroup/Administrators/roles/sql

Status codes: reading needs membership of the organization; creating a group, granting and
revoking need the ``administration`` role (403). A grant of a role the group holds, or a
revoke of one it lacks, changes nothing and answers the same (200, 204). A created group
201, an existing name 409; an unknown role 404 on ``roleBase`` and 400 in a grant's body;
an unknown group (or another organization's) 404; no or bad token 401.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from xdm_connector.api.collections import (
    Collection,
    OrgReaderDep,
    OrgWriterDep,
    PageDep,
    administrator,
    error_responses,
    member,
    paginate,
)
from xdm_connector.api.deps import PrincipalDep, StoreDep
from xdm_connector.api.routes import collection_route, creation_route, deletion_route, item_route
from xdm_connector.security.roles import ROLES, Role, role
from xdm_connector.services import organizations
from xdm_connector.store.groups import GroupRoles
from xdm_connector.store.principals import Principal

router = APIRouter(prefix="/{org}/campaign", tags=["security"])
GROUP = "/securityGroup/{group}"


class RoleResource(BaseModel):
    """A role as ``roleBase`` answers it; the body of a grant."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "sql", "label": "SQL function execution"}]}
    )

    name: str
    label: str
    href: str | None = None


class RoleGrant(BaseModel):
    """A grant: the role object read from ``roleBase`` (only its ``name`` counts)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"name": "sql"}]})

    name: str = Field(min_length=1, max_length=64)


class GroupCreate(BaseModel):
    """A new custom security group, holding no role."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Ops"}]})

    name: str = Field(min_length=1, max_length=128)


class GroupResource(BaseModel):
    """A security group and the names of the roles it holds."""

    name: str
    roles: list[str]


def _role(request: Request, org: str, known: Role) -> RoleResource:
    href = f"{str(request.base_url).rstrip('/')}/{org}/campaign/roleBase/{known.name}"
    return RoleResource(name=known.name, label=known.label, href=href)


def _group(group: GroupRoles) -> GroupResource:
    return GroupResource(name=group.name, roles=list(group.roles))


def _role_reader(org: str, role_name: str, principal: PrincipalDep) -> Principal:
    return member(principal, org, f"unknown role {role_name}")


def _group_reader(org: str, group: str, principal: PrincipalDep) -> Principal:
    return member(principal, org, f"unknown security group {group}")


def _group_writer(org: str, group: str, principal: PrincipalDep) -> Principal:
    return administrator(principal, org, f"unknown security group {group}")


GroupReaderDep = Annotated[Principal, Depends(_group_reader)]
GroupWriterDep = Annotated[Principal, Depends(_group_writer)]


@collection_route(router, "/roleBase", "List the roles", Collection[RoleResource])
def list_roles(request: Request, principal: OrgReaderDep, page: PageDep) -> Response:
    """Every role a security group can hold."""
    org = principal.org_id
    return paginate(request, page, list(ROLES.values()), lambda known: _role(request, org, known))


@item_route(router, "/roleBase/{role_name}", "Read a role", RoleResource)
def read_role(
    request: Request, role_name: str, principal: Annotated[Principal, Depends(_role_reader)]
) -> RoleResource:
    """The role object to post to a security group's ``roles`` to grant it."""
    return _role(request, principal.org_id, role(role_name))


@collection_route(router, "/securityGroup", "List the security groups", Collection[GroupResource])
def list_groups(
    request: Request, store: StoreDep, principal: OrgReaderDep, page: PageDep
) -> Response:
    """The organization's security groups and their roles, by name."""
    return paginate(request, page, organizations.list_groups(store, principal.org_id), _group)


@creation_route(router, "/securityGroup", "Create a security group", GroupResource)
def create_group(body: GroupCreate, store: StoreDep, principal: OrgWriterDep) -> GroupResource:
    """Create a custom security group holding no role. Needs the ``administration`` role."""
    organizations.create_group(store, principal.org_id, body.name, actor=principal.client_id)
    return GroupResource(name=body.name.strip(), roles=[])


@item_route(router, GROUP, "Read a security group", GroupResource)
def read_group(group: str, store: StoreDep, principal: GroupReaderDep) -> GroupResource:
    """The group and the roles it holds."""
    return GroupResource(name=group, roles=store.tenants.group_roles(principal.org_id, group))


@collection_route(
    router, f"{GROUP}/roles", "List a security group's roles", Collection[RoleResource]
)
def list_group_roles(
    request: Request,
    org: str,
    group: str,
    store: StoreDep,
    principal: GroupReaderDep,
    page: PageDep,
) -> Response:
    """The roles the group holds."""
    held = [ROLES[name] for name in store.tenants.group_roles(principal.org_id, group)]
    return paginate(request, page, held, lambda known: _role(request, org, known))


@router.post(
    f"{GROUP}/roles",
    summary="Grant a role to a security group",
    response_model=RoleResource,
    responses=error_responses(400, 401, 403, 404),
)
def grant_role(
    request: Request,
    org: str,
    group: str,
    body: RoleGrant,
    store: StoreDep,
    principal: GroupWriterDep,
) -> RoleResource:
    """Grant the posted role (as read from ``roleBase``); granting it again changes nothing."""
    organizations.grant_role(store, principal.org_id, group, body.name, actor=principal.client_id)
    return _role(request, org, ROLES[body.name])


@deletion_route(
    router,
    f"{GROUP}/roles/{{role_name}}",
    "Revoke a role from a security group",
    (400, 401, 403, 404),
)
def revoke_role(group: str, role_name: str, store: StoreDep, principal: GroupWriterDep) -> Response:
    """Take the role from the group; revoking a role it lacks changes nothing."""
    role(role_name)
    organizations.revoke_role(store, principal.org_id, group, role_name, actor=principal.client_id)
    return Response(status_code=204)
