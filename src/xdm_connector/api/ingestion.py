"""The ingestion trigger API of ``spec/ingestion-api.md``.

Status codes (the original left them open): a created request and "In Progress" are 200;
"not stopped" and "not published" 409; an unknown mapping or request 404 (another
organization's too); a missing requestId 400; no or bad token 401; a missing role 403.

``DELETE`` (role ``sql``) cancels a request in progress and answers its status, now
``Aborted`` (200); a request that has already ended answers its status unchanged (200), so
a cancel can be repeated safely.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request

from xdm_connector.api.deps import PrincipalDep, SettingsDep, StoreDep
from xdm_connector.api.responses import ContractJSONResponse
from xdm_connector.errors import PermissionDenied
from xdm_connector.jobs import ingestion
from xdm_connector.pipeline.export import Exporter
from xdm_connector.security.credentials import ROLE_SQL

router = APIRouter(tags=["ingestion"])
PATH = "/{org}/campaign/dataIngestion/xdmIngestion/{mapping_id}/ingest"

_TRIGGER_EXAMPLE = {
    "requestId": 3520,
    "info": "Ingestion request submitted successfully for the Mapping ID: XDM44",
    "status": "Success",
}
_STATUS_EXAMPLE = {
    "batchId": "",
    "info": "Mapping Id: XDM44. ",
    "numRecords": 15,
    "requestId": 3520,
    "status": "Success",
}


async def _body_request_id(request: Request) -> int | None:
    """``{"requestId": 3520}`` (or ``"3520"``) from a GET's body, as the original allowed."""
    body = await request.body()
    if not body.strip():
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    value = document.get("requestId") if isinstance(document, dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@router.post(
    PATH,
    response_class=ContractJSONResponse,
    responses={
        200: {
            "description": "Request created, or one already in progress",
            "content": {"application/json": {"example": _TRIGGER_EXAMPLE}},
        },
        401: {"description": "Missing or invalid token"},
        403: {"description": "The caller lacks the role sql"},
        404: {"description": "Unknown mapping"},
        409: {"description": "Mapping not published, or not stopped"},
    },
)
def trigger_ingestion(org: str, mapping_id: str, store: StoreDep, principal: PrincipalDep) -> Any:
    """Trigger an immediate ingestion of a published, stopped data mapping."""
    if principal.org_id != org:
        answer = ingestion.unknown_mapping_trigger(mapping_id)
    else:
        if ROLE_SQL not in principal.roles:
            raise PermissionDenied(
                "The role sql (SQL function execution) is required to trigger an ingestion",
                role=ROLE_SQL,
            )
        answer = ingestion.trigger(store, org, mapping_id, actor=principal.client_id)
    return ContractJSONResponse(answer.body, answer.status_code)


@router.get(
    PATH,
    response_class=ContractJSONResponse,
    responses={
        200: {
            "description": "The request's status",
            "content": {"application/json": {"example": _STATUS_EXAMPLE}},
        },
        400: {"description": "No requestId given"},
        401: {"description": "Missing or invalid token"},
        404: {"description": "Unknown mapping or request"},
    },
)
def ingestion_status(
    org: str,
    mapping_id: str,
    store: StoreDep,
    principal: PrincipalDep,
    body_request_id: Annotated[int | None, Depends(_body_request_id)],
    request_id: Annotated[int | None, Query(alias="requestId")] = None,
) -> Any:
    """The status of an ingestion request; ``requestId`` in the query or a JSON body."""
    request_id = request_id if request_id is not None else body_request_id
    if request_id is None:
        return ContractJSONResponse(
            {"info": f"Mapping Id: {mapping_id}. A requestId is required", "status": "Failed"}, 400
        )
    if principal.org_id != org:
        answer = ingestion.unknown_mapping_status(mapping_id, request_id)
    elif (job := store.requests.status_of(org, mapping_id, request_id)) is not None:
        # A request of the mapping exists, so the mapping does: one read answers the poll.
        answer = ingestion.Answer(200, ingestion.status_body(job))
    else:
        answer = ingestion.request_status(store, org, mapping_id, request_id)
    return ContractJSONResponse(answer.body, answer.status_code)


@router.delete(
    PATH,
    response_class=ContractJSONResponse,
    responses={
        200: {
            "description": "The request is cancelled (Aborted); a request that has already "
            "ended answers its status unchanged",
            "content": {
                "application/json": {
                    "example": {
                        "batchId": "",
                        "info": "Mapping Id: XDM44. Ingestion request aborted due to some "
                        "issue with data ingestion service. Please submit a new request",
                        "numRecords": 0,
                        "requestId": 3520,
                        "status": "Aborted",
                    }
                }
            },
        },
        400: {"description": "No requestId given"},
        401: {"description": "Missing or invalid token"},
        403: {"description": "The caller lacks the role sql"},
        404: {"description": "Unknown mapping or request"},
    },
)
def cancel_ingestion(
    org: str,
    mapping_id: str,
    store: StoreDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    body_request_id: Annotated[int | None, Depends(_body_request_id)],
    request_id: Annotated[int | None, Query(alias="requestId")] = None,
) -> Any:
    """Cancel an ingestion request in progress: it ends ``Aborted``, its destination batch
    is aborted and the mapping's watermark is left as it was. ``requestId`` in the query or
    a JSON body, as for the status."""
    request_id = request_id if request_id is not None else body_request_id
    if principal.org_id != org:
        return _answer(ingestion.unknown_mapping_status(mapping_id, request_id or 0))
    if ROLE_SQL not in principal.roles:
        raise PermissionDenied(
            "The role sql (SQL function execution) is required to cancel an ingestion",
            role=ROLE_SQL,
        )
    if request_id is None:
        return ContractJSONResponse(
            {"info": f"Mapping Id: {mapping_id}. A requestId is required", "status": "Failed"}, 400
        )
    exporter = Exporter(store, settings)
    answer = ingestion.cancel(
        store,
        org,
        mapping_id,
        request_id,
        actor=principal.client_id,
        abort_batch=exporter.abort_batch,
    )
    return _answer(answer)


def _answer(answer: ingestion.Answer) -> ContractJSONResponse:
    return ContractJSONResponse(answer.body, answer.status_code)
