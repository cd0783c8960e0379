"""``GET /{org}/campaign/auditTrail``: who did what in the organization.

The trail is read by administrators, newest entry first, a page at a time like every
collection (``_lineCount``, ``_lineStart``), optionally of one ``action``::

    GET /acme/campaign/auditTrail?action=grant
    {"content": [{"id": 7, "at": "...", "actor": "5f0c...", "action": "grant",
                  "target": "Administrators", "details": {"role": "sql"}}],
     "count": {"value": 1}}

The entries are written by the services, in the transaction of the change they record
(``security/audit.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from xdm_connector.api.collections import (
    Collection,
    OrgWriterDep,
    PageDep,
    paginate,
)
from xdm_connector.api.deps import StoreDep
from xdm_connector.api.routes import collection_route
from xdm_connector.security.audit import AuditRecord, audit_trail

router = APIRouter(prefix="/{org}/campaign", tags=["security"])


class AuditEntryResource(AuditRecord):
    """One entry of the audit trail."""


def _resource(record: AuditRecord) -> AuditEntryResource:
    return AuditEntryResource(**record.model_dump())


@collection_route(
    router,
    "/auditTrail",
    "Read the audit trail",
    Collection[AuditEntryResource],
    (400, 401, 403, 404),
)
def read_audit_trail(
    request: Request,
    store: StoreDep,
    principal: OrgWriterDep,
    page: PageDep,
    action: Annotated[
        str | None, Query(description="Only this action's entries, e.g. grant.")
    ] = None,
) -> Response:
    """Who did what in the organization, newest first. Needs the ``administration`` role."""
    return paginate(request, page, audit_trail(store, principal.org_id, action), _resource)
