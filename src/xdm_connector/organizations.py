"""Organizations (tenants) and the roles of their security groups."""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from xdm_connector.errors import InvalidInput
from xdm_connector.security.credentials import ROLE_ADMINISTRATION, ROLE_SQL
from xdm_connector.store.models import Organization
from xdm_connector.store.store import Store

ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
ROLES = {ROLE_ADMINISTRATION: "Administration", ROLE_SQL: "SQL function execution"}


def create_organization(store: Store, org_id: str, source_url: str) -> Organization:
    """Create an organization reading from the source database at ``source_url``."""
    if not ORG_ID.match(org_id):
        raise InvalidInput(
            f"invalid organization id {org_id!r}: letters, digits, '_' and '-', not first"
        )
    try:
        make_url(source_url)
    except ArgumentError as exc:
        raise InvalidInput("the source URL is not a database URL") from exc
    return store.tenants.create_organization(org_id, source_url)


def grant_role(store: Store, org_id: str, group: str, role: str) -> None:
    """Give ``role`` to a security group of the organization (idempotent)."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: one of {', '.join(sorted(ROLES))}")
    store.tenants.grant_role(org_id, group, role)
