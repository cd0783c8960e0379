"""The ingestion trigger API's answers, as the contract spells them.

Each answer is an ordered dict whose keys, order and strings are those of
``spec/ingestion-api.md``; the HTTP layer only serializes it and picks the status code.

``answer_trigger`` and ``answer_status`` are what the API awaits: the frequent answers (a
request's status, a trigger while a request runs) come from one read in the event loop, and
only the others (a new request, an unknown id) run ``trigger`` or ``request_status`` in a
worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from anyio import to_thread

from xdm_connector.destinations.factory import BatchAborter
from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.mapping_status import ExecutionStatus, PublicationStatus
from xdm_connector.errors import Conflict, MappingNotPublished, MappingNotStopped, NotFound
from xdm_connector.jobs.cancel import cancel_job
from xdm_connector.store.audit import AuditAction
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store


class StatusFields(Protocol):
    """What a status answer shows of a request: a ``Job`` or a ``RequestStatus``."""

    @property
    def request_id(self) -> int: ...
    @property
    def mapping_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def batch_id(self) -> str: ...
    @property
    def records_ingested(self) -> int: ...
    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class Answer:
    """A contract body and the HTTP status it goes with."""

    status_code: int
    body: dict[str, Any]


def trigger(store: Store, org_id: str, mapping_id: str, *, actor: str | None = None) -> Answer:
    """Submit an immediate ingestion of a published, stopped mapping.

    A created request is written to the audit trail as ``actor``'s ``trigger``.
    """
    try:
        request = store.jobs.request_ingestion(org_id, mapping_id)
    except MappingNotPublished:
        return _refused(409, f"XDM Mapping ID: {mapping_id} is not published")
    except MappingNotStopped:
        return _refused(409, f"XDM Mapping ID: {mapping_id} is not stopped")
    except NotFound:
        return unknown_mapping_trigger(mapping_id)
    if request.created:
        if actor is not None:
            details = {"requestId": request.job.request_id}
            store.tenants.audit.record(org_id, actor, AuditAction.TRIGGER, mapping_id, details)
        return Answer(
            200,
            {
                "requestId": request.job.request_id,
                "info": f"Ingestion request submitted successfully for the Mapping ID: {mapping_id}",
                "status": "Success",
            },
        )
    return _in_progress(mapping_id, request.job.request_id)


async def answer_trigger(
    store: Store, org_id: str, mapping_id: str, *, actor: str | None = None
) -> Answer:
    """``trigger``, answered from one read when the mapping cannot run or already runs.

    Only a trigger that may create a request runs ``trigger`` (in a worker thread), whose
    write decides under concurrency: the read here never creates anything.
    """
    state = await store.requests.atrigger_state(org_id, mapping_id)
    if state is None:
        return unknown_mapping_trigger(mapping_id)
    if state.publication_status != PublicationStatus.PUBLISHED:
        return _refused(409, f"XDM Mapping ID: {mapping_id} is not published")
    if state.execution_status != ExecutionStatus.STOPPED:
        return _refused(409, f"XDM Mapping ID: {mapping_id} is not stopped")
    if state.running is not None:
        return _in_progress(mapping_id, state.running)
    return await to_thread.run_sync(partial(trigger, store, org_id, mapping_id, actor=actor))


async def answer_status(store: Store, org_id: str, mapping_id: str, request_id: int) -> Answer:
    """``request_status``, from one read when the request exists."""
    found = await store.requests.astatus_of(org_id, mapping_id, request_id)
    if found is not None:
        return Answer(200, status_body(found))
    # No such request of that mapping: say whether the mapping or the request is unknown.
    return await to_thread.run_sync(request_status, store, org_id, mapping_id, request_id)


def request_status(store: Store, org_id: str, mapping_id: str, request_id: int) -> Answer:
    """The status of one ingestion request of a mapping."""
    job = _requested_job(store, org_id, mapping_id, request_id)
    return job if isinstance(job, Answer) else Answer(200, status_body(job))


def _requested_job(store: Store, org_id: str, mapping_id: str, request_id: int) -> Job | Answer:
    """The request's job, or the contract's answer for an unknown mapping or request."""
    try:
        store.mappings.get(org_id, mapping_id)
    except NotFound:
        return unknown_mapping_status(mapping_id, request_id)
    try:
        job = store.jobs.get(org_id, mapping_id, request_id)
    except NotFound:
        return _unknown_request(mapping_id, request_id, f"Request ID {request_id} does not exist")
    return job


def cancel(
    store: Store,
    org_id: str,
    mapping_id: str,
    request_id: int,
    *,
    actor: str,
    aborter: BatchAborter | None = None,
) -> Answer:
    """Cancel a request in progress: it ends ``Aborted``, its batch is aborted, the
    watermark stays. Idempotent: a request that has ended answers its status unchanged.

    A cancel that ended the request is written to the audit trail as ``actor``'s ``cancel``.
    """
    job = _requested_job(store, org_id, mapping_id, request_id)
    if isinstance(job, Answer):
        return job
    try:
        cancelled = cancel_job(store, org_id, job.request_id, actor=actor, aborter=aborter)
    except Conflict:
        return Answer(200, status_body(store.jobs.get(org_id, mapping_id, request_id)))
    details = {"requestId": job.request_id, "state": cancelled.previous_state.value}
    store.tenants.audit.record(org_id, actor, AuditAction.CANCEL, mapping_id, details)
    return Answer(200, status_body(cancelled.job))


def status_body(job: StatusFields) -> dict[str, Any]:
    """The contract's status answer for a job."""
    state = JobState(job.state)
    info = f"Mapping Id: {job.mapping_id}."
    if not state.in_progress:
        info = f"{info} {job.reason}"
    return {
        "batchId": job.batch_id,
        "info": info,
        "numRecords": job.records_ingested if state is JobState.SUCCESS else 0,
        "requestId": job.request_id,
        "status": state.api_status,
    }


def unknown_mapping_trigger(mapping_id: str) -> Answer:
    """The answer to a trigger of a mapping that does not exist (or is another tenant's)."""
    return _refused(404, f"XDM Mapping ID: {mapping_id} does not exist")


def unknown_mapping_status(mapping_id: str, request_id: int) -> Answer:
    """The answer to a status of a mapping that does not exist (or is another tenant's)."""
    return _unknown_request(mapping_id, request_id, f"XDM Mapping ID {mapping_id} does not exist")


def _in_progress(mapping_id: str, request_id: int) -> Answer:
    return Answer(
        200,
        {
            "requestId": request_id,
            "info": f"Ingestion request already in progress for the Mapping ID: {mapping_id}",
            "status": "In Progress",
        },
    )


def _refused(status_code: int, what: str) -> Answer:
    return Answer(
        status_code,
        {"info": f"Unable to submit data ingestion request, {what}", "status": "Failed"},
    )


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
