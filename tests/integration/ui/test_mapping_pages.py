"""The data mappings pages: what they show, which buttons each role gets, what they do."""

from __future__ import annotations

import re

from tests.integration.ui.conftest import ORG, Site, post_form
from xdm_connector.security.audit import audit_trail

MAPPING = "/ui/mappings/XDM44"
BUTTONS = ("Edit", "Start", "Stop", "Unpublish", "Publish", "Publish again", "Ingest now")


def buttons(html: str) -> set[str]:
    """The labels of the page's buttons and button-looking links."""
    found = re.findall(r'<(?:button|a class="button[^"]*")[^>]*>([^<]+)</', html)
    return {label.strip() for label in found} & set(BUTTONS)


def test_the_list_of_mappings(site: Site) -> None:
    site.finished_job(records_read=30, records_ingested=28, records_rejected=2)
    page = site.browser().get("/ui/mappings")
    assert page.status_code == 200
    text = page.text
    for column in (
        "Label",
        "ID",
        "Targeting dimension",
        "Dataset",
        "Publication status",
        "Execution status",
        "Next run time",
        "Last job",
        "Records",
    ):
        assert f">{column}</th>" in text
    assert '<a href="/ui/mappings/XDM44">Profiles to Platform</a>' in text
    assert ">profile</td>" in text
    assert ">profiles</td>" in text
    assert ">Published</span>" in text
    assert ">Stopped</span>" in text
    assert ">Success</span>" in text
    assert '<td data-label="Records" class="num">28</td>' in text
    assert "New mapping" in text


def test_a_mapping_page(site: Site) -> None:
    job = site.finished_job(reason="ACP-880056 Failed to fetch the record from the database.")
    text = site.browser().get(MAPPING).text
    assert "<h1>Profiles to Platform" in text
    assert "<code>@lastModified</code>" in text
    assert "<td><code>EXDM(@gender)</code></td><td><code>/person/gender</code></td>" in text
    assert "ACP-880092" in text
    assert "Mapping is published and mapping job is created" in text
    assert f'<a href="/ui/jobs/{job.id}">#{job.id}</a>' in text
    assert "ACP-880056 Failed to fetch the record from the database." in text
    assert "Do you want to resend the records from the beginning?" in text
    assert site.browser().get("/ui/mappings/XDM99").status_code == 404


def test_buttons_follow_roles_and_state(site: Site) -> None:
    assert buttons(site.browser().get(MAPPING).text) == {
        "Edit",
        "Start",
        "Unpublish",
        "Publish again",
        "Ingest now",
    }
    assert buttons(site.browser(roles=("sql",)).get(MAPPING).text) == {"Ingest now"}
    assert buttons(site.browser(roles=("administration",)).get(MAPPING).text) == {
        "Edit",
        "Start",
        "Unpublish",
        "Publish again",
    }
    reader = site.browser(roles=())
    page = reader.get(MAPPING).text
    assert buttons(page) == set()
    assert "Do you want to resend" not in page
    assert "New mapping" not in reader.get("/ui/mappings").text


def test_the_server_enforces_the_roles(site: Site) -> None:
    reader = site.browser(roles=())
    for action in ("publish", "unpublish", "start", "stop", "ingest"):
        answer = post_form(reader, f"{MAPPING}/{action}", MAPPING)
        assert answer.status_code == 403, action
        assert "is required to" in answer.text
    assert reader.get(f"{MAPPING}/edit").status_code == 403
    assert reader.get("/ui/new-mapping").status_code == 403
    admin = site.browser(roles=("administration",))
    assert post_form(admin, f"{MAPPING}/ingest", MAPPING).status_code == 403
    assert site.store.jobs.list_for_mapping(ORG, "XDM44") == []


def test_lifecycle_buttons(site: Site) -> None:
    client = site.browser()
    started = post_form(client, f"{MAPPING}/start", MAPPING)
    assert (started.status_code, started.headers["location"]) == (303, MAPPING)
    page = client.get(MAPPING).text
    assert "Mapping XDM44 is started: its first run is due now." in page
    assert buttons(page) == {"Edit", "Stop", "Unpublish", "Publish again"}
    post_form(client, f"{MAPPING}/stop", MAPPING)
    assert site.store.mappings.get(ORG, "XDM44").execution_status == "Stopped"
    post_form(client, f"{MAPPING}/unpublish", MAPPING)
    page = client.get(MAPPING).text
    assert "Mapping XDM44 is unpublished" in page
    assert buttons(page) == {"Edit", "Publish"}
    refused = post_form(client, f"{MAPPING}/stop", MAPPING)
    assert refused.status_code == 303
    assert "mapping XDM44 is not published" in client.get(MAPPING).text
    published = post_form(client, f"{MAPPING}/publish", MAPPING, resend="yes")
    assert published.status_code == 303
    mapping = site.store.mappings.get(ORG, "XDM44")
    assert (mapping.publication_status, mapping.execution_status) == ("Published", "Stopped")
    mine = [e for e in audit_trail(site.store, ORG) if e.actor == site.credentials.client_id]
    assert [(e.action, e.target) for e in mine][:4] == [
        ("publish", "XDM44"),
        ("unpublish", "XDM44"),
        ("stop", "XDM44"),
        ("start", "XDM44"),
    ]
    assert mine[0].details == {"resend": True, "start": False}


def test_a_publication_that_fails_shows_its_log(site: Site) -> None:
    client = site.browser()
    definition = site.store.mappings.get(ORG, "XDM44").definition
    broken = {
        **definition,
        "fieldMappings": [{"source": "@emial", "xdm": "/personalEmail/address"}],
    }
    site.store.mappings.save(
        ORG, "XDM44", label="Profiles to Platform", dataset_id="profiles", definition=broken
    )
    answer = post_form(client, f"{MAPPING}/publish", MAPPING, start="on")
    assert answer.status_code == 422
    assert "The mapping was not published" in answer.text
    assert "ACP-880185" in answer.text
    assert "@emial" in answer.text
    assert site.store.mappings.get(ORG, "XDM44").execution_status == "Stopped"


def test_ingest_now(site: Site) -> None:
    client = site.browser(roles=("sql",))
    answer = post_form(client, f"{MAPPING}/ingest", MAPPING)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/jobs?mapping=XDM44"
    page = client.get(answer.headers["location"]).text
    request_id = site.store.jobs.list_for_mapping(ORG, "XDM44")[0].request_id
    assert (
        f"Ingestion request submitted successfully for the Mapping ID: XDM44 (request {request_id})."
        in page
    )
    again = post_form(client, f"{MAPPING}/ingest", MAPPING)
    assert "Ingestion request already in progress" in client.get(again.headers["location"]).text
    actions = [entry.action for entry in audit_trail(site.store, ORG, "trigger")]
    assert actions == ["trigger"]
