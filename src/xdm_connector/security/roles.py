"""The roles a security group can hold, as the original's ``roleBase`` describes them.

::

    GET /acme/campaign/roleBase/sql
    {"name": "sql", "label": "SQL function execution"}

``administration`` manages mappings, datasets, security groups and integrations; ``sql``
triggers ingestions. Reading statuses, mappings and jobs needs membership only.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdm_connector.errors import InvalidInput, NotFound

ROLE_ADMINISTRATION = "administration"
ROLE_SQL = "sql"


@dataclass(frozen=True)
class Role:
    """A role: its name (what groups hold) and its label (what people read)."""

    name: str
    label: str


ROLES: dict[str, Role] = {
    ROLE_ADMINISTRATION: Role(ROLE_ADMINISTRATION, "Administration"),
    ROLE_SQL: Role(ROLE_SQL, "SQL function execution"),
}


def role(name: str) -> Role:
    """The role called ``name``, or ``NotFound`` (the answer of ``roleBase/{name}``)."""
    try:
        return ROLES[name]
    except KeyError:
        raise NotFound(f"unknown role {name}") from None


def known_role(name: str) -> Role:
    """The role called ``name``, or ``InvalidInput`` naming the roles there are."""
    if name not in ROLES:
        raise InvalidInput(f"unknown role {name!r}: one of {', '.join(sorted(ROLES))}")
    return ROLES[name]


def role_required(name: str, action: str) -> str:
    """The message of a 403: ``The role sql (SQL function execution) is required to ...``."""
    return f"The role {name} ({ROLES[name].label}) is required to {action}"
