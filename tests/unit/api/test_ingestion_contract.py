"""The status answers of the ingestion API, projected from job states."""

from __future__ import annotations

import pytest

from xdm_connector.api.ingestion_contract import status_body
from xdm_connector.domain.job_states import JobState
from xdm_connector.store.jobs import ABORTED_REASON
from xdm_connector.store.models import Job


def job(state: JobState, **overrides: object) -> Job:
    values: dict[str, object] = {
        "id": 17,
        "request_id": 3520,
        "org_id": "demo",
        "mapping_id": "XDM44",
        "state": state,
        "batch_id": "",
        "records_ingested": 0,
        "reason": "",
    }
    values.update(overrides)
    return Job(**values)


@pytest.mark.parametrize("state", [JobState.CREATED, JobState.UPLOADED])
def test_in_progress_has_no_trailing_space(state: JobState) -> None:
    assert status_body(job(state, records_ingested=7)) == {
        "batchId": "",
        "info": "Mapping Id: XDM44.",
        "numRecords": 0,
        "requestId": 3520,
        "status": "In Progress",
    }


def test_success_has_a_trailing_space_and_the_count() -> None:
    assert status_body(job(JobState.SUCCESS, records_ingested=15, batch_id="b1")) == {
        "batchId": "b1",
        "info": "Mapping Id: XDM44. ",
        "numRecords": 15,
        "requestId": 3520,
        "status": "Success",
    }


def test_failure_carries_the_reason_and_the_batch() -> None:
    reason = "ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI."
    body = status_body(job(JobState.FAILED, reason=reason, batch_id="b2", records_ingested=9))
    assert body == {
        "batchId": "b2",
        "info": f"Mapping Id: XDM44. {reason}",
        "numRecords": 0,
        "requestId": 3520,
        "status": "Failed",
    }


def test_aborted() -> None:
    body = status_body(job(JobState.ABORTED, reason=ABORTED_REASON))
    assert body["status"] == "Aborted"
    assert body["info"] == (
        "Mapping Id: XDM44. Ingestion request aborted due to some issue with data ingestion "
        "service. Please submit a new request"
    )


def test_api_statuses() -> None:
    assert [state.api_status for state in JobState] == [
        "In Progress",
        "In Progress",
        "Success",
        "Failed",
        "Aborted",
    ]
