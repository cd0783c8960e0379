"""The ingestion trigger API of the original (the README's "The ingestion API").

Status codes (the original left them open): a created request and "In Progress" are 200;
"not stopped" and "not published" 409; an unknown mapping or request 404 (another
organization's too); a missing requestId 400, and one that is not an integer the store
can hold (ASCII digits, within ``inputs.STORE_INTEGERS``) 400 with ``XDMC-400``; no or bad
token 401; a missing role 403.

``DELETE`` (role ``sql``) cancels a request in progress and answers its status, now
``Aborted`` (200); a request that has already ended answers its status unchanged (200), so
a cancel can be repeated safely.

``POST`` and ``GET`` are what clients call in loops, so they read their own parameters
from the request (documented through ``openapi_extra``) rather than have FastAPI solve
declared ones, which costs more than the rest of the request; their answers come from the
event loop (``ingestion_contract.trigger_from_loop`` and ``status_from_loop``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request

from xdm_connector.api import ingestion_contract
from xdm_connector.api.deps import DestinationsDep, PrincipalDep, StoreDep, request_principal
from xdm_connector.api.request_inputs import store_integer
from xdm_connector.api.responses import ContractJSONResponse
from xdm_connector.errors import InvalidInput, PermissionDenied
from xdm_connector.inputs import (
    STORE_INTEGERS,
    checked_integer,
    integer_expected,
    parse_integer,
)
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


_CANCEL_EXAMPLE = {
    "batchId": "",
    "info": "Mapping Id: XDM44. Ingestion request aborted due to some "
    "issue with data ingestion service. Please submit a new request",
    "numRecords": 0,
    "requestId": 3520,
    "status": "Aborted",
}
_UNAUTHENTICATED = "Missing or invalid token"
_NO_SQL_ROLE = "The caller lacks the role sql"
_NO_REQUEST_ID = "No requestId given, or one that is not an id"


def _responses(
    answer: str, example: dict[str, Any], errors: dict[int, str]
) -> dict[int | str, Any]:
    """A route's documented answers: 200 (``answer``, with its ``example``), then its errors."""
    documented: dict[int | str, Any] = {
        200: {"description": answer, "content": {"application/json": {"example": example}}}
    }
    documented.update({status: {"description": text} for status, text in errors.items()})
    return documented


def _parameter(name: str, where: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": {"type": "string", **schema},
    }


_CALLER = [
    _parameter("org", "path", "The organization"),
    _parameter("mapping_id", "path", "The data mapping's id (``XDM44``)"),
    _parameter("Authorization", "header", "``Bearer <access token>``"),
    _parameter("X-Api-Key", "header", "The client id of the token's integration"),
]
_REQUEST_ID = _parameter(
    "requestId",
    "query",
    'The request\'s id (or a JSON body ``{"requestId": 3520}``)',
    type="integer",
    minimum=STORE_INTEGERS.start,
    maximum=STORE_INTEGERS.stop - 1,
)


def _query_request_id(request: Request) -> int | None:
    """``requestId`` from the query; ``InvalidInput`` when it is not an id."""
    value = request.query_params.get("requestId")
    if value is None:
        return None
    try:
        return parse_integer(value)
    except ValueError as exc:
        raise InvalidInput(f"invalid request: query.requestId: {exc}") from None


_SEED_SPELLING = re.compile(rb'\s*\{\s*"requestId"\s*=\s*(?:"([^"]*)"|([^\s"{}]*))\s*\}\s*')
"""The body as the seed page writes it, ``{"requestId"="3520"}`` (or ``=3520``): not JSON,
but what a script copied from the page sends."""


async def _body_request_id(request: Request) -> int | None:
    """``{"requestId": 3520}`` (or ``"3520"``) from a GET's or DELETE's body, as the
    original allowed, or the seed page's own spelling ``{"requestId"="3520"}``; ``None``
    for any other body that is not JSON; ``InvalidInput`` when the body names a requestId
    that is not an id."""
    body = await request.body()
    if not body.strip():
        return None
    value: Any
    if seed := _SEED_SPELLING.fullmatch(body):
        quoted, bare = seed.groups()
        value = (quoted if quoted is not None else bare).decode("utf-8", "replace")
    else:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        value = document.get("requestId") if isinstance(document, dict) else None
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return parse_integer(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return checked_integer(value)
        raise ValueError(integer_expected())
    except ValueError as exc:
        raise InvalidInput(f"invalid request: body.requestId: {exc}") from None


@router.post(
    PATH,
    response_class=ContractJSONResponse,
    responses=_responses(
        "Request created, or one already in progress",
        _TRIGGER_EXAMPLE,
        {
            401: _UNAUTHENTICATED,
            403: _NO_SQL_ROLE,
            404: "Unknown mapping",
            409: "Mapping not published, or not stopped",
        },
    ),
    openapi_extra={"parameters": _CALLER},
)
async def trigger_ingestion(request: Request) -> ContractJSONResponse:
    """Trigger an immediate ingestion of a published, stopped data mapping."""
    principal = await request_principal(request)
    org: str = request.path_params["org"]
    mapping_id: str = request.path_params["mapping_id"]
    if principal.org_id != org:
        answer = ingestion_contract.unknown_mapping_trigger(mapping_id)
    else:
        if ROLE_SQL not in principal.roles:
            raise PermissionDenied(
                "The role sql (SQL function execution) is required to trigger an ingestion",
                role=ROLE_SQL,
            )
        store = request.app.state.store
        answer = await ingestion_contract.trigger_from_loop(
            store, org, mapping_id, actor=principal.client_id
        )
    return _answer(answer)


@router.get(
    PATH,
    response_class=ContractJSONResponse,
    responses=_responses(
        "The request's status",
        _STATUS_EXAMPLE,
        {400: _NO_REQUEST_ID, 401: _UNAUTHENTICATED, 404: "Unknown mapping or request"},
    ),
    openapi_extra={"parameters": [*_CALLER, _REQUEST_ID]},
)
async def ingestion_status(request: Request) -> ContractJSONResponse:
    """The status of an ingestion request; ``requestId`` in the query or a JSON body."""
    principal = await request_principal(request)
    org: str = request.path_params["org"]
    mapping_id: str = request.path_params["mapping_id"]
    request_id = _query_request_id(request)
    if request_id is None:
        request_id = await _body_request_id(request)
    if request_id is None:
        return ContractJSONResponse(
            {"info": f"Mapping Id: {mapping_id}. A requestId is required", "status": "Failed"}, 400
        )
    if principal.org_id != org:
        answer = ingestion_contract.unknown_mapping_status(mapping_id, request_id)
    else:
        store = request.app.state.store
        answer = await ingestion_contract.status_from_loop(store, org, mapping_id, request_id)
    return _answer(answer)


@router.delete(
    PATH,
    response_class=ContractJSONResponse,
    responses=_responses(
        "The request is cancelled (Aborted); a request that has already ended answers its "
        "status unchanged",
        _CANCEL_EXAMPLE,
        {
            400: _NO_REQUEST_ID,
            401: _UNAUTHENTICATED,
            403: _NO_SQL_ROLE,
            404: "Unknown mapping or request",
        },
    ),
)
def cancel_ingestion(
    org: str,
    mapping_id: str,
    store: StoreDep,
    destinations: DestinationsDep,
    principal: PrincipalDep,
    body_request_id: Annotated[int | None, Depends(_body_request_id)],
    request_id: Annotated[int | None, store_integer(Query, alias="requestId")] = None,
) -> Any:
    """Cancel an ingestion request in progress: it ends ``Aborted``, its destination batch
    is aborted and the mapping's watermark is left as it was. ``requestId`` in the query or
    a JSON body, as for the status."""
    request_id = request_id if request_id is not None else body_request_id
    if principal.org_id != org:
        return _answer(ingestion_contract.unknown_mapping_status(mapping_id, request_id or 0))
    if ROLE_SQL not in principal.roles:
        raise PermissionDenied(
            "The role sql (SQL function execution) is required to cancel an ingestion",
            role=ROLE_SQL,
        )
    if request_id is None:
        return ContractJSONResponse(
            {"info": f"Mapping Id: {mapping_id}. A requestId is required", "status": "Failed"}, 400
        )
    answer = ingestion_contract.cancel(
        store, org, mapping_id, request_id, actor=principal.client_id, aborter=destinations
    )
    return _answer(answer)


def _answer(answer: ingestion_contract.Answer) -> ContractJSONResponse:
    return ContractJSONResponse(answer.body, answer.status_code)
