""" "Status of data export to platform", the page of a job, and Cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.integration.store.conftest import make_dataset, make_mapping
from tests.integration.ui.conftest import ORG, Site, post_form, sign_in
from xdm_connector.api.ingestion_contract import request_status
from xdm_connector.errors import LeaseLost, NotFound
from xdm_connector.security.audit import audit_trail
from xdm_connector.services.cancellation import cancel_job
from xdm_connector.services.integrations import create_integration
from xdm_connector.services.organizations import create_organization, grant_role
from xdm_connector.store.jobs import ABORTED_REASON
from xdm_connector.store.models import utcnow

FAILED = "ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI."
COLUMNS = (
    "Mapping",
    "BatchId",
    "Status",
    "Number of records",
    "Reason",
    "Start Time",
    "End Time",
)


def test_one_row_per_job_with_filters(site: Site) -> None:
    done = site.finished_job(batch_id="batch-1", records_read=30, records_ingested=30)
    failed = site.finished_job(batch_id="batch-2", reason=FAILED)
    client = site.browser()
    page = client.get("/ui/jobs").text
    for column in COLUMNS:
        assert f">{column}</th>" in page
    assert "2 jobs" in page
    assert page.index(f'data-job="{failed.id}"') < page.index(f'data-job="{done.id}"')
    assert '<code class="batch">batch-1</code>' in page
    assert f'<td data-label="Reason" class="reason">{FAILED}</td>' in page
    assert 'Profiles to Platform</a> <code class="muted">XDM44</code>' in page
    assert 'data-refresh="0"' in page
    assert 'http-equiv="refresh"' not in page
    only_failed = client.get("/ui/jobs", params={"status": "Failed"}).text
    assert "1 job<" in only_failed
    assert f'data-job="{done.id}"' not in only_failed
    assert '<option value="Failed" selected>' in only_failed
    none = client.get("/ui/jobs", params={"mapping": "XDM99"}).text
    assert "No export job matches these filters." in none


def test_paging_through_a_long_history(site: Site) -> None:
    jobs = [site.finished_job(records_ingested=index) for index in range(27)]
    client = site.browser()
    first = client.get("/ui/jobs").text
    assert first.count("<tr data-job=") == 25
    assert "Page 1 of 2" in first
    assert 'href="/ui/jobs?page=2"' in first
    assert "Newer jobs" not in first
    second = client.get("/ui/jobs", params={"page": 2}).text
    assert second.count("<tr data-job=") == 2
    assert f'data-job="{jobs[0].id}"' in second
    assert "Older jobs" not in second
    assert client.get("/ui/jobs", params={"page": 0}).status_code == 400


def test_a_running_job_refreshes_and_can_be_cancelled(site: Site) -> None:
    running = site.store.jobs.request_ingestion(ORG, "XDM44").job
    client = site.browser()
    status = client.get("/ui/jobs").text
    assert 'data-refresh="2"' in status
    assert '<noscript><meta http-equiv="refresh" content="4"></noscript>' in status
    # A page of failed jobs changes when the running one fails: it refreshes too.
    assert 'data-refresh="2"' in client.get("/ui/jobs", params={"status": "Failed"}).text
    assert 'data-refresh="0"' in client.get("/ui/jobs", params={"mapping": "XDM99"}).text
    page = client.get(f"/ui/jobs/{running.id}").text
    assert ">Cancel</button>" in page
    admin = site.browser(roles=("administration",))
    assert ">Cancel</button>" not in admin.get(f"/ui/jobs/{running.id}").text
    refused = post_form(admin, f"/ui/jobs/{running.id}/cancel", f"/ui/jobs/{running.id}")
    assert refused.status_code == 403
    assert "The role sql (SQL function execution) is required to cancel" in refused.text
    answer = post_form(client, f"/ui/jobs/{running.id}/cancel", f"/ui/jobs/{running.id}")
    assert answer.status_code == 303
    page = client.get(f"/ui/jobs/{running.id}").text
    assert f"Job {running.id} is cancelled." in page
    assert ">Cancel</button>" not in page
    assert site.credentials.client_id in page
    cancels = audit_trail(site.store, ORG, "cancel")
    assert [(e.target, e.details) for e in cancels] == [
        ("XDM44", {"requestId": running.id, "state": "Created"})
    ]
    body = request_status(site.store, ORG, "XDM44", running.id).body
    assert (body["status"], body["info"]) == ("Aborted", f"Mapping Id: XDM44. {ABORTED_REASON}")
    # The queue never hands a cancelled job to a worker.
    assert site.store.jobs.claim("worker", timedelta(minutes=1), utcnow()) is None
    again = post_form(client, f"/ui/jobs/{running.id}/cancel", f"/ui/jobs/{running.id}")
    assert "has already ended Aborted" in client.get(again.headers["location"]).text


class RecordingAborter:
    """Records the batches it is asked to abort."""

    def __init__(self) -> None:
        self.aborted: list[tuple[str, str]] = []

    def abort_batch(self, org_id: str, batch_id: str) -> None:
        self.aborted.append((org_id, batch_id))


def test_cancel_takes_the_lease_from_the_worker(site: Site) -> None:
    site.store.jobs.request_ingestion(ORG, "XDM44")
    held = site.store.jobs.claim("worker", timedelta(minutes=1), utcnow())
    assert held is not None
    aborter = RecordingAborter()
    cancelled = cancel_job(site.store, ORG, held.request_id, actor="tests", aborter=aborter)
    assert cancelled.previous_state == "Created"
    assert aborter.aborted == []  # no batch yet
    job = site.store.jobs.get_by_id(held.id)
    assert (job.state, job.lease_owner, job.details) == ("Aborted", None, {"cancelledBy": "tests"})
    with pytest.raises(LeaseLost):
        site.store.jobs.heartbeat(held.id, "worker", timedelta(minutes=1))
    create_organization(site.store, "acme", "sqlite:///nowhere.db")
    with pytest.raises(NotFound):
        cancel_job(site.store, "acme", held.request_id, actor="tests")


def test_the_page_of_a_job(site: Site) -> None:
    samples = [
        {"key": 7, "path": "/person/birthDate", "value": "'1900-13-01'", "reason": "not a date"}
    ]
    job = site.finished_job(
        batch_id="batch-9",
        reason=FAILED,
        records_read=30,
        records_rejected=1,
        details={
            "rejectedSamples": samples,
            "destinationErrors": ["row 3: field personalEmail.address is not an email"],
            "error": "the destination ended batch batch-9 failed",
        },
    )
    client = site.browser()
    page = client.get(f"/ui/jobs/{job.id}").text
    assert f"<h1>Job {job.id} <span" in page
    assert FAILED in page
    assert "<dt>Read</dt><dd>30</dd>" in page
    assert "<dt>Rejected by the product</dt><dd>1</dd>" in page
    assert "<dt>Refused by the platform</dt><dd>0</dd>" in page
    assert '<span class="cause">the destination ended batch batch-9 failed</span>' in page
    steps = page[page.index('<ol class="timeline"') :]
    assert (
        steps.index(">Created</span>")
        < steps.index(">Started</span>")
        < steps.index(">Failed</span>")
    )
    assert "<code>/person/birthDate</code>" in page
    assert "not a date" in page
    assert "row 3: field personalEmail.address is not an email" in page
    assert "the destination ended batch batch-9 failed" in page
    assert ">Cancel</button>" not in page
    assert "<dt>Source retries</dt><dd>0</dd>" in page
    assert client.get("/ui/jobs/99999").status_code == 404


def test_the_page_of_a_job_says_how_often_its_source_was_read_again(site: Site) -> None:
    error = "ACP-880056 Failed to fetch the record from the database. sqlite:///<crm>: locked"
    job = site.finished_job(
        records_ingested=30,
        details={
            "sourceRetries": {
                "count": 2,
                "lastError": {"errorClass": "sqlite3.OperationalError", "message": error},
            }
        },
    )
    page = site.browser().get(f"/ui/jobs/{job.request_id}").text
    assert (
        '<dt>Source retries</dt><dd>2 <span class="muted">— last:</span> '
        '<span class="source-error">sqlite3.OperationalError: ACP-880056 Failed to fetch the '
        "record from the database. sqlite:///&lt;crm&gt;: locked</span></dd>"
    ) in page


def test_another_organizations_job_is_not_found(site: Site) -> None:
    job = site.finished_job()
    create_organization(site.store, "acme", "sqlite:///nowhere.db")
    outsider = create_integration(site.store, "acme", groups=["Administrators"])
    client = TestClient(site.client.app, base_url="http://testserver")
    sign_in(client, outsider.client_id, outsider.client_secret)
    assert client.get(f"/ui/jobs/{job.id}").status_code == 404
    assert "No export job yet." in client.get("/ui/jobs").text
    assert client.get("/ui/mappings/XDM44").status_code == 404


def test_each_organizations_pages_show_its_own_request_ids(site: Site) -> None:
    """Job pages are found by request id within the viewer's organization: another
    organization's request 1 is its own, and a number it does not have is 404, even to
    cancel."""
    site.finished_job()
    theirs = site.store.jobs.request_ingestion(ORG, "XDM44").job
    assert theirs.request_id == 2
    create_organization(site.store, "acme", "sqlite:///nowhere.db")
    make_dataset(site.store, "acme")
    make_mapping(site.store, "XDM1", org_id="acme", label="Acme profiles")
    ours = site.store.jobs.request_ingestion("acme", "XDM1").job
    assert ours.request_id == 1
    grant_role(site.store, "acme", "Administrators", "sql")
    outsider = create_integration(site.store, "acme", groups=["Administrators"])
    client = TestClient(site.client.app, base_url="http://testserver")
    sign_in(client, outsider.client_id, outsider.client_secret)

    listed = client.get("/ui/jobs").text
    assert 'data-job="1"' in listed
    assert 'href="/ui/jobs/1"' in listed
    assert 'data-job="2"' not in listed
    page = client.get("/ui/jobs/1").text
    assert "Acme profiles" in page
    assert "<dt>Request id</dt><dd>1</dd>" in page
    assert client.get("/ui/jobs/2").status_code == 404
    refused = post_form(client, "/ui/jobs/2/cancel", "/ui/jobs/1")
    assert refused.status_code == 404
    assert site.store.jobs.get(ORG, "XDM44", 2).state == "Created"
    answer = post_form(client, "/ui/jobs/1/cancel", "/ui/jobs/1")
    assert answer.status_code == 303
    assert site.store.jobs.get("acme", "XDM1", 1).state == "Aborted"
    assert site.store.jobs.get(ORG, "XDM44", 2).state == "Created"
