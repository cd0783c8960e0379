"""The mapping editor: create and edit row by row, checks as one types, the preview."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.integration.ui.conftest import ORG, Site, csrf_of

NEW = "/ui/new-mapping"


def editor_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "id": "XDM46",
        "label": "Emails",
        "targetingDimension": "profile",
        "dataset": "profiles",
        "auditFields": "@lastModified",
        "intervalMinutes": "30",
        "mapToXdmArray": "on",
        "source": ["ToString(@id)", "Lower(@email)", "@email", "true", ""],
        "xdm": [
            "/_id",
            "/personalEmail/address",
            "/identityMap/Email/0/id",
            "/identityMap/Email/0/primary",
            "",
        ],
        "action": "save",
    }
    form.update(overrides)
    return form


def submit(client: TestClient, url: str, page: str, form: dict[str, Any]) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(url, data={"csrf_token": token, **form}, follow_redirects=False)


def test_the_empty_editor(site: Site) -> None:
    page = site.browser().get(NEW)
    assert page.status_code == 200
    text = page.text
    assert '<option value="profiles" selected>profiles</option>' in text
    assert '<datalist id="tables"><option value="postalAddress"><option value="profile">' in text
    assert '<option value="/personalEmail/address" label="string">' in text
    assert '<option value="/person" ' not in text
    assert 'data-path="/identityMap/*/*/primary"' in text
    assert text.count('aria-label="Source field expression, row') == 3
    assert '<script src="/ui/static/editor.js" defer></script>' in text
    assert site.client.get("/ui/static/editor.js").status_code == 200
    assert site.client.get("/ui/static/site.css").headers["content-type"].startswith("text/css")


def test_create_a_mapping(site: Site) -> None:
    client = site.browser()
    answer = submit(client, NEW, NEW, editor_form())
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/mappings/XDM46"
    mapping = site.store.mappings.get(ORG, "XDM46")
    assert mapping.publication_status == "Draft"
    assert mapping.definition["intervalMinutes"] == 30
    assert mapping.definition["mapToXdmArray"] is True
    assert mapping.definition["fieldMappings"][1] == {
        "source": "Lower(@email)",
        "xdm": "/personalEmail/address",
    }
    page = client.get("/ui/mappings/XDM46").text
    assert "Mapping XDM46 is saved. Dataset profiles is already used by mapping XDM44" in page
    again = submit(client, NEW, NEW, editor_form())
    assert again.status_code == 409
    assert "mapping XDM46 already exists" in again.text


def test_an_invalid_form_comes_back_as_typed(site: Site) -> None:
    client = site.browser()
    answer = submit(client, NEW, NEW, editor_form(id="no spaces", intervalMinutes="soon"))
    assert answer.status_code == 400
    assert "invalid mapping definition" in answer.text
    assert 'value="no spaces"' in answer.text
    assert 'value="Lower(@email)"' in answer.text
    more = submit(client, NEW, NEW, editor_form(action="rows"))
    assert more.status_code == 200
    assert more.text.count('aria-label="Source field expression, row') == 4 + 6


def test_edit_and_preview_a_draft(site: Site) -> None:
    client = site.browser()
    edit = "/ui/mappings/XDM44/edit"
    form = client.get(edit).text
    assert 'value="XDM44"' in form
    assert "readonly" in form
    assert 'value="EXDM(@gender)"' in form
    changed = editor_form(id="ignored", label="Profiles, renamed", action="preview")
    answer = submit(client, edit, edit, changed)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/mappings/XDM44/edit?preview=true#preview"
    mapping = site.store.mappings.get(ORG, "XDM44")
    assert (mapping.id, mapping.label) == ("XDM44", "Profiles, renamed")
    # The fields the editor does not show are kept.
    assert mapping.definition["exdmValues"] == {"/person/gender": {"unknown": "not_specified"}}
    assert mapping.published_definition != mapping.definition
    preview = client.get("/ui/mappings/XDM44/edit?preview=true").text
    assert "Preview of the first records" in preview
    assert preview.count(">Valid</span>") == 10
    page = client.get("/ui/mappings/XDM44").text
    assert "The draft differs from the published definition" in page


def test_a_preview_names_the_errors(site: Site) -> None:
    client = site.browser()
    edit = "/ui/mappings/XDM44/edit"
    submit(client, edit, edit, editor_form(mapToXdmArray="", source=["@email"], xdm=["/_id"]))
    preview = client.get(f"{edit}?preview=true").text
    assert "a profile record needs an identity with" in preview


def test_expressions_checked_as_one_types(site: Site) -> None:
    client = site.browser()

    def check(**query: str) -> dict[str, Any]:
        answer = client.get("/ui/check-expression", params=query)
        assert answer.status_code == 200
        result: dict[str, Any] = answer.json()
        return result

    wrong = check(expression="Lower(@emial)", targetingDimension="profile")
    assert (wrong["ok"], wrong["line"], wrong["column"]) == (False, 1, 7)
    assert wrong["message"] == "unknown field @emial (did you mean @email?)"
    syntax = check(expression="Iif(@blackList = 0, 'in'")
    assert (syntax["ok"], syntax["line"], syntax["column"]) == (False, 1, 25)
    typed = check(
        expression="Lower(@email)",
        targetingDimension="profile",
        dataset="profiles",
        xdm="/personalEmail/address",
    )
    assert typed == {
        "ok": True,
        "message": "",
        "where": "expression",
        "line": None,
        "column": None,
        "type": "string",
        "target": "string",
    }
    mismatch = check(
        expression="@email",
        targetingDimension="profile",
        dataset="profiles",
        xdm="/optInOut/globalOptout",
    )
    assert mismatch["ok"] is False
    assert mismatch["message"] == "a string expression cannot fill an XDM boolean field"
    assert check(expression="@email", dataset="profiles", xdm="/nowhere")["where"] == "xdm"
    table = check(expression="@email", targetingDimension="profiles")
    assert (table["ok"], table["where"]) == (False, "targetingDimension")
    linked = check(expression="[postalAddress/@city]", targetingDimension="profile")
    assert linked["ok"] is True


def test_the_paths_of_a_dataset(site: Site) -> None:
    client = site.browser()
    answer = client.get("/ui/datasets/profiles/paths").json()
    assert {"path": "/person/birthDate", "type": "date"} in answer["paths"]
    assert 'data-path="/person/birthDate"' in answer["tree"]
    assert client.get("/ui/datasets/nowhere/paths").status_code == 404
