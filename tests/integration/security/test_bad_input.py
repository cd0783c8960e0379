"""Inputs that once reached a 5xx, each answered 400 (``XDMC-400``) or taken as absent.

Integers beyond what a store column holds (2**63 on SQLite, 2**31 on PostgreSQL), digits
that are not ASCII, numbers longer than Python parses, cookies that do not parse, NUL in
any text (on PostgreSQL), and ids with a trailing newline; on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.security.conftest import MAPPING_ID, World, mapping_document
from tests.integration.ui.conftest import csrf_of, sign_in
from xdm_connector.errors import InvalidInput
from xdm_connector.services.organizations import create_organization
from xdm_connector.store.store import Store
from xdm_connector.ui.sessions import NOTICE_COOKIE, SESSION_COOKIE, SIGNIN_COOKIE

INGEST = f"/acme/campaign/dataIngestion/xdmIngestion/{MAPPING_ID}/ingest"
MAPPINGS = "/acme/campaign/dataIngestion/xdmMapping"
JOBS = f"{MAPPINGS}/{MAPPING_ID}/jobs"
DATASETS = "/acme/campaign/dataIngestion/dataset"
BEYOND_THE_STORES = [str(2**63), str(2**31), str(-(2**63) - 1)]
NOT_ASCII_DIGITS = ["²", "١٢", "٣"]
TOO_LONG = "1" * 5000


def _refused(answer: Any) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "XDMC-400", answer.text


def _refused_page(answer: Any) -> None:
    assert answer.status_code == 400, answer.text
    assert "text/html" in answer.headers["content-type"]


def _browser(client: TestClient, world: World) -> TestClient:
    browser = TestClient(client.app, base_url="http://testserver")
    sign_in(browser, world.admin.client_id, world.admin.client_secret)
    return browser


def _request_id_everywhere(client: TestClient, world: World, value: Any) -> None:
    """``value`` as the requestId of the status and the cancel, in the query and the body."""
    headers = world.admin_headers
    for method in ("GET", "DELETE"):
        _refused(client.request(method, INGEST, params={"requestId": value}, headers=headers))
        _refused(client.request(method, INGEST, json={"requestId": value}, headers=headers))


def test_a_request_id_beyond_the_store_is_refused(client: TestClient, world: World) -> None:
    for value in BEYOND_THE_STORES:
        _request_id_everywhere(client, world, value)
        body = {"requestId": int(value)}
        _refused(client.request("GET", INGEST, json=body, headers=world.admin_headers))


def test_a_job_id_beyond_the_store_is_refused(client: TestClient, world: World) -> None:
    browser = _browser(client, world)
    for value in BEYOND_THE_STORES:
        _refused(client.get(f"{JOBS}/{value}", headers=world.admin_headers))
        _refused_page(browser.get(f"/ui/jobs/{value}"))
        _refused_page(browser.get("/ui/jobs", params={"page": value}))
        _refused(client.get(MAPPINGS, params={"_lineStart": value}, headers=world.admin_headers))


def test_digits_that_are_not_ascii_are_refused(client: TestClient, world: World) -> None:
    browser = _browser(client, world)
    for value in NOT_ASCII_DIGITS:
        _request_id_everywhere(client, world, value)
        _refused(client.get(f"{JOBS}/{value}", headers=world.admin_headers))
        _refused_page(browser.get(f"/ui/jobs/{value}"))
        editor = browser.get("/ui/new-mapping")
        form = {
            "csrf_token": csrf_of(editor.text),
            "id": "XDM47",
            "targetingDimension": "profile",
            "dataset": "profiles",
            "intervalMinutes": value,
            "source": "@email",
            "xdm": "/personalEmail/address",
        }
        saved = browser.post("/ui/new-mapping", data=form, follow_redirects=False)
        assert saved.status_code == 400, saved.text
        assert "intervalMinutes" in saved.text


def test_a_number_longer_than_python_parses_is_refused(client: TestClient, world: World) -> None:
    _request_id_everywhere(client, world, TOO_LONG)
    _refused(client.get(f"{JOBS}/{TOO_LONG}", headers=world.admin_headers))
    body = b'{"requestId": %s}' % TOO_LONG.encode()
    headers = {**world.admin_headers, "Content-Type": "application/json"}
    assert client.request("GET", INGEST, content=body, headers=headers).status_code == 400


def test_a_cookie_that_does_not_parse_is_taken_as_absent(client: TestClient, world: World) -> None:
    session = _browser(client, world).cookies[SESSION_COOKIE]
    fresh = TestClient(client.app, base_url="http://testserver")
    for name in (SESSION_COOKIE, SIGNIN_COOKIE, NOTICE_COOKIE):
        for value in ("é.x", "x.é", "é", "a.b.c", "\x00.\x00", "."):
            cookie = {"Cookie": f"{name}={value}".encode()}
            signin = fresh.get("/ui/signin", headers=cookie)
            assert signin.status_code == 200, (name, value, signin.text)
            page = fresh.get("/ui/mappings", headers=cookie, follow_redirects=False)
            assert page.status_code == 303, (name, value)
            assert page.headers["location"].startswith("/ui/signin")
            if name != SESSION_COOKIE:
                both = {"Cookie": f"{SESSION_COOKIE}={session}; {name}={value}".encode()}
                assert fresh.get("/ui/mappings", headers=both).status_code == 200, (name, value)


def test_nul_in_a_text_is_refused(client: TestClient, world: World) -> None:
    headers = world.admin_headers
    _refused(client.get(f"{MAPPINGS}/XDM44%00", headers=headers))
    _refused(client.post(INGEST.replace(MAPPING_ID, "XDM44%00"), headers=headers))
    _refused(client.get(INGEST.replace(MAPPING_ID, "XDM44%00"), headers=headers))
    _refused(client.patch(f"{MAPPINGS}/{MAPPING_ID}", json={"label": "a\x00b"}, headers=headers))
    custom = {"default": {"type": "object", "properties": {"a\x00": {"type": "string"}}}}
    dataset = {"id": "more", "class": "profile", "custom": custom}
    _refused(client.post(DATASETS, json=dataset, headers=headers))
    _refused(client.get("/acme/campaign/auditTrail", params={"action": "\x00"}, headers=headers))
    _refused(client.post("/ims/token/v3", data={"client_id": "a\x00", "client_secret": "x"}))
    fresh = TestClient(client.app, base_url="http://testserver")
    signin = fresh.get("/ui/signin")
    form = {"csrf_token": csrf_of(signin.text), "client_id": "a\x00", "client_secret": "x"}
    _refused_page(fresh.post("/ui/signin", data=form))
    browser = _browser(client, world)
    _refused_page(browser.get("/ui/jobs", params={"mapping": "\x00"}))
    _refused(browser.get("/ui/check-expression", params={"expression": "@email", "xdm": "\x00"}))


def test_an_id_with_a_trailing_newline_is_refused(
    client: TestClient, store: Store, world: World
) -> None:
    with pytest.raises(InvalidInput):
        create_organization(store, "initech\n", "sqlite:///nowhere.db")
    headers = world.admin_headers
    _refused(client.post(DATASETS, json={"id": "profiles\n", "class": "profile"}, headers=headers))
    mapping = {**mapping_document("XDM45"), "dataset": "profiles\n"}
    _refused(client.post(MAPPINGS, json=mapping, headers=headers))
    _refused(client.post(MAPPINGS, json=mapping_document("XDM45\n"), headers=headers))
    group = client.post("/acme/campaign/securityGroup", json={"name": "Ops\x1b"}, headers=headers)
    _refused(group)
    datasets = client.get(DATASETS, headers=headers).json()["content"]
    assert [dataset["id"] for dataset in datasets] == ["profiles"]
