"""The ingestion API's status body of a request, from its job's fields.

One projection for every place that shows a request's status: the status route, the
event stream, and the ``job.*`` webhook events (``store/webhooks.py``)::

    {"batchId": "...", "info": "Mapping Id: XDM44. ", "numRecords": 15,
     "requestId": 3520, "status": "Success"}
"""

from __future__ import annotations

from typing import Any, Protocol

from xdm_connector.domain.job_states import JobState


class RequestFields(Protocol):
    """What every view of an ingestion request reads: its id, mapping, state and records."""

    @property
    def request_id(self) -> int: ...
    @property
    def mapping_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def records_ingested(self) -> int: ...


class StatusFields(RequestFields, Protocol):
    """What a status answer shows of a request: a ``Job`` or a ``RequestStatus``."""

    @property
    def batch_id(self) -> str: ...
    @property
    def reason(self) -> str: ...


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
