"""The ingestion API's answers, as the contract spells them.

Each answer is an ordered dict whose keys, order and strings are those of the original
ingestion API (the README's "The ingestion API"); the routes (``api/ingestion.py``) and the
pages' "Ingest now" only serialize it and pick the status code. The use cases behind them
are ``services/ingestion_requests.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xdm_connector.destinations.factory import BatchAborter
from xdm_connector.domain.request_status import status_body
from xdm_connector.errors import MappingNotPublished, MappingNotStopped
from xdm_connector.security.credentials import OPERATOR
from xdm_connector.services import ingestion_requests
from xdm_connector.services.ingestion_requests import (
    Requested,
    UnknownMapping,
    UnknownRequest,
)
from xdm_connector.store.store import Store


@dataclass(frozen=True)
class Answer:
    """A contract body and the HTTP status it goes with."""

    status_code: int
    body: dict[str, Any]


def trigger(store: Store, org_id: str, mapping_id: str, *, actor: str = OPERATOR) -> Answer:
    """The answer to a trigger (``ingestion_requests.trigger``), as ``actor``."""
    try:
        requested = ingestion_requests.trigger(store, org_id, mapping_id, actor=actor)
    except (UnknownMapping, MappingNotPublished, MappingNotStopped) as exc:
        return _trigger_refused(mapping_id, exc)
    return _triggered(mapping_id, requested)


async def trigger_from_loop(store: Store, org_id: str, mapping_id: str, *, actor: str) -> Answer:
    """``trigger``, through ``ingestion_requests.trigger_from_loop``."""
    try:
        requested = await ingestion_requests.trigger_from_loop(
            store, org_id, mapping_id, actor=actor
        )
    except (UnknownMapping, MappingNotPublished, MappingNotStopped) as exc:
        return _trigger_refused(mapping_id, exc)
    return _triggered(mapping_id, requested)


def request_status(store: Store, org_id: str, mapping_id: str, request_id: int) -> Answer:
    """The answer to a status request (``ingestion_requests.request_status``)."""
    try:
        job = ingestion_requests.request_status(store, org_id, mapping_id, request_id)
    except (UnknownMapping, UnknownRequest) as exc:
        return _unknown(mapping_id, request_id, exc)
    return Answer(200, status_body(job))


async def status_from_loop(store: Store, org_id: str, mapping_id: str, request_id: int) -> Answer:
    """``request_status``, through ``ingestion_requests.status_from_loop``."""
    try:
        found = await ingestion_requests.status_from_loop(store, org_id, mapping_id, request_id)
    except (UnknownMapping, UnknownRequest) as exc:
        return _unknown(mapping_id, request_id, exc)
    return Answer(200, status_body(found))


def cancel(
    store: Store,
    org_id: str,
    mapping_id: str,
    request_id: int,
    *,
    actor: str,
    aborter: BatchAborter | None = None,
) -> Answer:
    """The answer to a cancel (``ingestion_requests.cancel_request``): the request's
    status, ``Aborted`` when the cancel ended it."""
    try:
        job = ingestion_requests.cancel_request(
            store, org_id, mapping_id, request_id, actor=actor, aborter=aborter
        )
    except (UnknownMapping, UnknownRequest) as exc:
        return _unknown(mapping_id, request_id, exc)
    return Answer(200, status_body(job))


def unknown_mapping_trigger(mapping_id: str) -> Answer:
    """The answer to a trigger of a mapping that does not exist (or is another tenant's)."""
    return _refused(404, f"XDM Mapping ID: {mapping_id} does not exist")


def unknown_mapping_status(mapping_id: str, request_id: int) -> Answer:
    """The answer to a status of a mapping that does not exist (or is another tenant's)."""
    return _unknown_request(mapping_id, request_id, f"XDM Mapping ID {mapping_id} does not exist")


def _triggered(mapping_id: str, requested: Requested) -> Answer:
    if not requested.created:
        return Answer(
            200,
            {
                "requestId": requested.request_id,
                "info": f"Ingestion request already in progress for the Mapping ID: {mapping_id}",
                "status": "In Progress",
            },
        )
    return Answer(
        200,
        {
            "requestId": requested.request_id,
            "info": f"Ingestion request submitted successfully for the Mapping ID: {mapping_id}",
            "status": "Success",
        },
    )


def _trigger_refused(
    mapping_id: str, exc: UnknownMapping | MappingNotPublished | MappingNotStopped
) -> Answer:
    if isinstance(exc, UnknownMapping):
        return unknown_mapping_trigger(mapping_id)
    state = "published" if isinstance(exc, MappingNotPublished) else "stopped"
    return _refused(409, f"XDM Mapping ID: {mapping_id} is not {state}")


def _refused(status_code: int, what: str) -> Answer:
    return Answer(
        status_code,
        {"info": f"Unable to submit data ingestion request, {what}", "status": "Failed"},
    )


def _unknown(mapping_id: str, request_id: int, exc: UnknownMapping | UnknownRequest) -> Answer:
    if isinstance(exc, UnknownMapping):
        return unknown_mapping_status(mapping_id, request_id)
    return _unknown_request(mapping_id, request_id, exc.message)


def _unknown_request(mapping_id: str, request_id: int, what: str) -> Answer:
    return Answer(
        404,
        {
            "batchId": "",
            "info": f"Mapping Id: {mapping_id}. {what}",
            "numRecords": 0,
            "requestId": request_id,
            "status": "Failed",
        },
    )
