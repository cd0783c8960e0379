"""Ingestion requests: trigger an export of a published, stopped mapping, read a request's
status, cancel it.

The API (``api/ingestion_contract.py``) and the pages shape what these answer into the
contract's bodies. A created request is written to the audit trail as ``actor``'s
``trigger`` in the transaction that creates it; a cancel as ``cancel``
(``services/cancellation.py``).

``trigger_from_loop`` and ``status_from_loop`` are what the API awaits: the frequent
answers (a request's status, a trigger while a request runs) come from one read in the
event loop, and only the others (a new request, an unknown id) run ``trigger`` or
``request_status`` in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from anyio import to_thread

from xdm_connector.destinations.factory import BatchAborter
from xdm_connector.domain.mapping_status import check_triggerable
from xdm_connector.domain.request_status import StatusFields
from xdm_connector.errors import Conflict, NotFound
from xdm_connector.security.credentials import OPERATOR
from xdm_connector.services.cancellation import cancel_job
from xdm_connector.store.audit import AuditAction
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store


class UnknownMapping(NotFound):
    """The organization has no such mapping (another organization's is unknown too)."""


class UnknownRequest(NotFound):
    """The mapping has no ingestion request of that id."""


@dataclass(frozen=True)
class Requested:
    """The request a trigger answers: the one it created, or the one already in progress."""

    request_id: int
    created: bool


def trigger(store: Store, org_id: str, mapping_id: str, *, actor: str = OPERATOR) -> Requested:
    """Submit an immediate ingestion of a published, stopped mapping.

    ``UnknownMapping``, ``MappingNotPublished`` or ``MappingNotStopped`` when it cannot
    run; the request in progress when there is one (nothing is written then).
    """
    with store.atomic():
        try:
            request = store.jobs.request_ingestion(org_id, mapping_id)
        except NotFound as exc:
            raise UnknownMapping(exc.message) from exc
        if request.created:
            details = {"requestId": request.job.request_id}
            store.tenants.audit.record(org_id, actor, AuditAction.TRIGGER, mapping_id, details)
    return Requested(request.job.request_id, request.created)


async def trigger_from_loop(
    store: Store, org_id: str, mapping_id: str, *, actor: str = OPERATOR
) -> Requested:
    """``trigger``, answered from one read when the mapping cannot run or already runs.

    Only a trigger that may create a request runs ``trigger`` (in a worker thread), whose
    write decides under concurrency: the read here never creates anything.
    """
    state = await store.requests.atrigger_state(org_id, mapping_id)
    if state is None:
        raise UnknownMapping(f"unknown mapping {mapping_id}")
    check_triggerable(mapping_id, state.publication_status, state.execution_status)
    if state.running is not None:
        return Requested(state.running, created=False)
    return await to_thread.run_sync(partial(trigger, store, org_id, mapping_id, actor=actor))


def request_status(store: Store, org_id: str, mapping_id: str, request_id: int) -> Job:
    """The job of one ingestion request of a mapping (``UnknownMapping``,
    ``UnknownRequest``)."""
    try:
        store.mappings.get(org_id, mapping_id)
    except NotFound as exc:
        raise UnknownMapping(exc.message) from exc
    try:
        return store.jobs.get(org_id, mapping_id, request_id)
    except NotFound as exc:
        raise UnknownRequest(f"Request ID {request_id} does not exist") from exc


async def status_from_loop(
    store: Store, org_id: str, mapping_id: str, request_id: int
) -> StatusFields:
    """``request_status``, from one read when the request exists."""
    found = await store.requests.astatus_of(org_id, mapping_id, request_id)
    if found is not None:
        return found
    # No such request of that mapping: say whether the mapping or the request is unknown.
    return await to_thread.run_sync(request_status, store, org_id, mapping_id, request_id)


def cancel_request(
    store: Store,
    org_id: str,
    mapping_id: str,
    request_id: int,
    *,
    actor: str,
    aborter: BatchAborter | None = None,
) -> Job:
    """Cancel a request in progress: it ends ``Aborted``, its batch is aborted, the
    watermark stays. Idempotent: a request that has ended is answered unchanged.

    Answers the request's job as it is now (``UnknownMapping``, ``UnknownRequest``).
    """
    job = request_status(store, org_id, mapping_id, request_id)
    try:
        return cancel_job(store, org_id, job.request_id, actor=actor, aborter=aborter).job
    except Conflict:
        return store.jobs.get(org_id, mapping_id, request_id)
