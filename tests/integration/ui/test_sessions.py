"""Signing in and out of the pages: the session cookie, CSRF, and where one lands."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.integration.ui.conftest import ORG, Site, csrf_of, post_form, sign_in
from xdm_connector.security.credentials import issue_token
from xdm_connector.services.integrations import rotate_integration
from xdm_connector.ui.sessions import SESSION_COOKIE


def signin_post(client: TestClient, **fields: str) -> object:
    token = csrf_of(client.get("/ui/signin").text)
    return client.post("/ui/signin", data={"csrf_token": token, **fields}, follow_redirects=False)


def test_pages_need_a_session(site: Site) -> None:
    root = site.client.get("/", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (307, "/ui/mappings")
    page = site.client.get("/ui/jobs?status=Failed", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/signin?next=/ui/jobs%3Fstatus%3DFailed"
    form = site.client.get(page.headers["location"])
    assert form.status_code == 200
    assert 'name="next" value="/ui/jobs?status=Failed"' in form.text
    assert "default-src 'self'" in form.headers["content-security-policy"]
    assert form.headers["x-frame-options"] == "DENY"
    check = site.client.get("/ui/check-expression", params={"expression": "@email"})
    assert check.status_code == 401
    assert check.json()["error_code"] == "XDMC-SIGNIN"


def test_sign_in_with_a_secret_sets_a_strict_cookie(site: Site) -> None:
    client = site.client
    answer = signin_post(
        client,
        client_id=site.credentials.client_id,
        client_secret=site.credentials.client_secret,
        next="/ui/jobs",
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/jobs"
    cookie = next(
        value
        for value in answer.headers.get_list("set-cookie")
        if value.startswith(f"{SESSION_COOKIE}=")
    )
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path=/ui", "samesite=lax"} <= flags
    assert "secure" not in flags
    page = client.get("/ui/mappings")
    assert page.status_code == 200
    assert f"<strong>{ORG}</strong>" in page.text
    assert site.credentials.client_secret not in page.text


def test_the_cookie_is_secure_over_https(site: Site) -> None:
    client = TestClient(site.client.app, base_url="https://testserver")
    answer = signin_post(
        client, client_id=site.credentials.client_id, client_secret=site.credentials.client_secret
    )
    assert answer.status_code == 303
    assert "secure" in answer.headers["set-cookie"].lower()


def test_refusals_of_the_sign_in_form(site: Site) -> None:
    wrong = signin_post(site.client, client_id=site.credentials.client_id, client_secret="nope")
    assert wrong.status_code == 401
    assert "were not accepted" in wrong.text
    assert f'value="{site.credentials.client_id}"' in wrong.text
    forged = site.client.post(
        "/ui/signin",
        data={
            "csrf_token": "forged",
            "client_id": site.credentials.client_id,
            "client_secret": site.credentials.client_secret,
        },
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")
    elsewhere = signin_post(
        site.client,
        client_id=site.credentials.client_id,
        client_secret=site.credentials.client_secret,
        next="//evil.example/ui/",
    )
    assert elsewhere.headers["location"] == "/ui/mappings"


def test_sign_in_with_a_token_and_sign_out(site: Site) -> None:
    token = issue_token(
        site.store, site.credentials.client_id, site.credentials.client_secret, 600
    ).access_token
    client = site.client
    answer = signin_post(client, client_id=site.credentials.client_id, access_token=token)
    assert answer.status_code == 303
    assert client.get("/ui/mappings").status_code == 200
    out = post_form(client, "/ui/signout", "/ui/mappings")
    assert out.status_code == 303
    assert client.get("/ui/signin").text.count("You are signed out.") == 1
    assert client.get("/ui/mappings", follow_redirects=False).status_code == 303
    # A token the person brought keeps working for its scripts.
    api = client.get(
        f"/{ORG}/campaign/dataIngestion/xdmMapping",
        headers={"Authorization": f"Bearer {token}", "X-Api-Key": site.credentials.client_id},
    )
    assert api.status_code == 200


def test_signing_out_revokes_the_token_it_issued(site: Site) -> None:
    client = site.browser()
    stolen = client.cookies.get(SESSION_COOKIE)
    assert stolen
    post_form(client, "/ui/signout", "/ui/mappings")
    replay = TestClient(site.client.app, base_url="http://testserver")
    replay.cookies.set(SESSION_COOKIE, stolen, path="/ui")
    assert replay.get("/ui/mappings", follow_redirects=False).status_code == 303


def test_a_tampered_cookie_is_no_session(site: Site) -> None:
    client = site.browser()
    value = client.cookies.get(SESSION_COOKIE)
    assert value
    payload, signed_time_and_mac = value.split(".", 1)
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, f"{payload}x.{signed_time_and_mac}", path="/ui")
    assert client.get("/ui/mappings", follow_redirects=False).status_code == 303


def test_rotating_the_secret_ends_the_session(site: Site) -> None:
    client = site.browser()
    assert client.get("/ui/mappings").status_code == 200
    rotate_integration(site.store, ORG, site.credentials.client_id)
    ended = client.get("/ui/mappings")
    assert ended.status_code == 200
    assert ended.url.path == "/ui/signin"
    assert 'name="client_secret"' in ended.text
    assert client.cookies.get(SESSION_COOKIE) is None


def test_a_form_without_its_csrf_token_is_refused(site: Site) -> None:
    client = site.browser()
    bare = client.post("/ui/mappings/XDM44/start", follow_redirects=False)
    assert bare.status_code == 403
    forged = client.post(
        "/ui/mappings/XDM44/start", data={"csrf_token": "forged"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert "reload the page" in forged.text
    token = csrf_of(client.get("/ui/mappings/XDM44").text)
    foreign = client.post(
        "/ui/mappings/XDM44/start",
        data={"csrf_token": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403
    assert site.store.mappings.get(ORG, "XDM44").execution_status == "Stopped"
    own = client.post(
        "/ui/mappings/XDM44/start",
        data={"csrf_token": token},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert own.status_code == 303
    assert site.store.mappings.get(ORG, "XDM44").execution_status == "Started"


def test_the_pages_are_not_in_the_openapi_document(site: Site) -> None:
    paths = site.client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path == "/" or path.startswith("/ui")]


def test_a_signed_in_browser_skips_the_form(site: Site) -> None:
    client = TestClient(site.client.app, base_url="http://testserver")
    sign_in(client, site.credentials.client_id, site.credentials.client_secret)
    assert client.get("/ui/signin", follow_redirects=False).headers["location"] == "/ui/mappings"
