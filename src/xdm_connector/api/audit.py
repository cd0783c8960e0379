"""``GET /{org}/campaign/auditTrail``, and the audit of the mapping and dataset routes.

The trail is read by administrators, newest entry first, a page at a time like every
collection (``_lineCount``, ``_lineStart``), optionally of one ``action``::

    GET /acme/campaign/auditTrail?action=grant
    {"content": [{"id": 7, "at": "...", "actor": "5f0c...", "action": "grant",
                  "target": "Administrators", "details": {"role": "sql"}}],
     "count": {"value": 1}}

The mapping and dataset routes share their services with the CLI, so their audit entries
are written here, right after a route succeeds: ``AUDITED`` is the dependency that
``create_app`` puts on their routers, ``AUDITED_ROUTES`` says which route is which action.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from xdm_connector.api.collections import (
    BASE,
    Collection,
    OrgWriterDep,
    PageDep,
    error_responses,
    paginate,
)
from xdm_connector.api.deps import PrincipalDep, StoreDep
from xdm_connector.security.audit import AuditAction, AuditRecord, audit_trail

router = APIRouter(prefix="/{org}/campaign", tags=["security"])

_MAPPINGS = f"{BASE}/xdmMapping"
_MAPPING = f"{_MAPPINGS}/{{mapping_id}}"
AUDITED_ROUTES: dict[tuple[str, str], AuditAction] = {
    ("POST", _MAPPINGS): AuditAction.MAPPING_CREATE,
    ("PATCH", _MAPPING): AuditAction.MAPPING_CHANGE,
    ("DELETE", _MAPPING): AuditAction.MAPPING_DELETE,
    ("POST", f"{_MAPPING}/publish"): AuditAction.PUBLISH,
    ("POST", f"{_MAPPING}/unpublish"): AuditAction.UNPUBLISH,
    ("POST", f"{_MAPPING}/start"): AuditAction.START,
    ("POST", f"{_MAPPING}/stop"): AuditAction.STOP,
    ("POST", f"{BASE}/dataset"): AuditAction.DATASET_CREATE,
}
"""The routes audited by ``AUDITED``: (method, path template) → action."""


class AuditEntryResource(BaseModel):
    """One entry of the audit trail."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


def _resource(record: AuditRecord) -> AuditEntryResource:
    return AuditEntryResource(**record.__dict__)


async def _body(request: Request) -> dict[str, Any]:
    try:
        document = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}


async def _audit_route(
    request: Request, response: Response, store: StoreDep, principal: PrincipalDep
) -> AsyncIterator[None]:
    """After a route of ``AUDITED_ROUTES`` succeeds, write its audit entry."""
    yield  # an error of the route is raised here, and nothing is written
    route = request.scope.get("route")
    action = AUDITED_ROUTES.get((request.method, getattr(route, "path", "")))
    if action is None or (response.status_code or 200) >= 400:
        return
    body = await _body(request)
    target = str(
        request.path_params.get("mapping_id") or request.path_params.get("dataset_id") or ""
    )
    target = target or str(body.get("id", ""))
    options: dict[str, Any] = {key: body[key] for key in ("resend", "start") if key in body}
    details = options if action is AuditAction.PUBLISH and options else None
    await run_in_threadpool(
        store.tenants.audit.record, principal.org_id, principal.client_id, action, target, details
    )


AUDITED = Depends(_audit_route, scope="function")
"""The dependency that audits a router's routes listed in ``AUDITED_ROUTES``."""


@router.get(
    "/auditTrail",
    summary="Read the audit trail",
    response_model=Collection[AuditEntryResource],
    responses=error_responses(400, 401, 403, 404),
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
