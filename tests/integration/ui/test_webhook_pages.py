"""The webhooks page: an organization's endpoints with their latest deliveries and every
attempt, and the forms that register, rotate and remove them, for its administrators only;
in-process, and in a real browser (Chromium)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from markupsafe import escape
from playwright.sync_api import expect

from tests.e2e.pages.browser import LAPTOP, Screenshots, chromium
from tests.integration.security.conftest import bearer
from tests.integration.ui.conftest import ORG, Site, csrf_of
from tests.webhook_receiver import Receiver
from xdm_connector.security.audit import audit_trail
from xdm_connector.security.roles import ROLE_SQL
from xdm_connector.services.webhook_delivery import WebhookDispatcher
from xdm_connector.services.webhooks import WebhookSecret, register_webhook
from xdm_connector.settings import Settings
from xdm_connector.store.models import utcnow

NAV_LINK = '<a href="/ui/webhooks"'
PAGE = "/ui/webhooks"
PUBLIC_URL = "https://1.1.1.1/hooks/xdm"
"""A public address: the site does not allow private ones, and nothing is sent there."""
SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture
def webhook_settings(tmp_path: Path) -> Settings:
    """The site's settings (same home, so the same webhook key), for a receiver on the
    loopback address."""
    return Settings(home=tmp_path / "home", embedded_worker=False, webhook_allow_private=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(answers=[500]) as started:
        yield started


def _delivered_after_a_failure(
    site: Site, settings: Settings, receiver: Receiver
) -> tuple[WebhookSecret, str]:
    """A webhook for ``job.ended`` of XDM44 and one job's end, sent twice: the receiver's
    500, then its 204. Answers the webhook and the delivery's message id."""
    created = register_webhook(
        site.store,
        settings,
        ORG,
        url=receiver.url,
        events=["job.ended"],
        mapping_id="XDM44",
        actor="tests",
    )
    site.finished_job(batch_id="batch-1", records_read=30, records_ingested=30)
    assert WebhookDispatcher(site.store, settings).run_once() == 1
    later = WebhookDispatcher(site.store, settings, clock=lambda: utcnow() + timedelta(hours=1))
    assert later.run_once() == 1
    received = receiver.wait_for(2)
    assert received[0].headers["webhook-id"] == received[1].headers["webhook-id"]
    return created, received[0].headers["webhook-id"]


def _unreachable_webhook(site: Site, settings: Settings, events: list[str]) -> WebhookSecret:
    """A webhook of the organization for ``events`` whose deliveries would go nowhere."""
    return register_webhook(
        site.store, settings, ORG, url="http://127.0.0.1:9/hook", events=events, actor="tests"
    )


def test_an_administrator_sees_each_webhook_with_its_deliveries_and_attempts(
    site: Site, webhook_settings: Settings, receiver: Receiver
) -> None:
    created, message_id = _delivered_after_a_failure(site, webhook_settings, receiver)
    client = site.browser()
    mappings = client.get("/ui/mappings").text
    assert f"{NAV_LINK}>Webhooks</a>" in mappings
    answer = client.get("/ui/webhooks")
    assert answer.status_code == 200
    page = answer.text
    assert f'{NAV_LINK} aria-current="page">Webhooks</a>' in page
    assert f'data-webhook="{created.webhook.id}"' in page
    assert f"<code>{receiver.url}</code>" in page
    assert "<dd>job.ended</dd>" in page
    assert '<a href="/ui/mappings/XDM44">XDM44</a>' in page
    assert created.secret not in page
    assert f'<tr data-delivery="{message_id}">' in page
    assert '<span class="badge badge-ok">delivered</span>' in page
    assert page.count("<li data-attempt=") == 2
    first, second = page.split('<li data-attempt="1">')[1].split('<li data-attempt="2">')
    assert "<strong>HTTP 500</strong>" in first
    assert first.count("HTTP 500") == 1
    assert "<strong>HTTP 204</strong>" in second.split("</ol>")[0]


def test_a_webhook_without_deliveries_and_an_organization_without_webhooks(
    site: Site, webhook_settings: Settings
) -> None:
    client = site.browser()
    assert "No webhook yet." in client.get("/ui/webhooks").text
    _unreachable_webhook(site, webhook_settings, ["mapping.published", "job.ended"])
    page = client.get("/ui/webhooks").text
    assert "No delivery yet." in page
    assert "<dd>mapping.published, job.ended</dd>" in page
    assert '<span class="muted">every mapping</span>' in page


def test_the_page_is_for_administrators_only(site: Site, webhook_settings: Settings) -> None:
    _unreachable_webhook(site, webhook_settings, ["job.ended"])
    client = site.browser(roles=(ROLE_SQL,))
    assert NAV_LINK not in client.get("/ui/mappings").text
    refused = client.get("/ui/webhooks")
    assert refused.status_code == 403
    assert "administration" in refused.text
    assert "127.0.0.1:9" not in refused.text


def _secrets_in(page: str) -> list[str]:
    return SECRET.findall(page)


def _submit(client: TestClient, action: str, page: str, **fields: str) -> httpx.Response:
    """POST a form of ``page`` to ``action`` with the page's CSRF token (whose fields may be
    named ``url``), not following."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **fields}, follow_redirects=False)


def test_an_administrator_registers_rotates_and_deletes_a_webhook_on_the_page(
    site: Site,
) -> None:
    client = site.browser()
    registered = _submit(client, PAGE, PAGE, url=PUBLIC_URL, events="job.ended", mapping="XDM44")
    assert registered.status_code == 200
    assert "set-cookie" not in registered.headers
    [secret] = _secrets_in(registered.text)
    assert "shown this once" in registered.text
    [webhook] = site.store.webhooks.list_for_org(ORG)
    assert (webhook.url, webhook.events, webhook.mapping_id) == (
        PUBLIC_URL,
        ["job.ended"],
        "XDM44",
    )
    assert f'data-revealed="{webhook.id}"' in registered.text
    again = client.get(PAGE).text
    assert _secrets_in(again) == []
    assert f'data-webhook="{webhook.id}"' in again

    rotated = _submit(client, f"{PAGE}/{webhook.id}/rotate", PAGE)
    assert rotated.status_code == 200
    assert "set-cookie" not in rotated.headers
    [new_secret] = _secrets_in(rotated.text)
    assert new_secret != secret
    assert _secrets_in(client.get(PAGE).text) == []

    deleted = _submit(client, f"{PAGE}/{webhook.id}/delete", PAGE)
    assert (deleted.status_code, deleted.headers["location"]) == (303, PAGE)
    page = client.get(PAGE).text
    assert f"Webhook {webhook.id} is removed." in page
    assert "No webhook yet." in page
    assert site.store.webhooks.list_for_org(ORG) == []
    mine = [e for e in audit_trail(site.store, ORG) if e.actor == site.credentials.client_id]
    assert [(e.action, e.target) for e in mine][:3] == [
        ("webhook.delete", webhook.id),
        ("webhook.rotate", webhook.id),
        ("webhook.create", webhook.id),
    ]


def _api_error(site: Site, body: dict[str, object]) -> tuple[int, str, str]:
    """The API's answer to registering ``body``: status, code and message."""
    answer = site.client.post(
        f"/{ORG}/campaign/webhooks", json=body, headers=bearer(site.client, site.credentials)
    )
    error = answer.json()
    return answer.status_code, error["error_code"], error["message"]


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        pytest.param({"url": "http://127.0.0.1:9/hook", "events": "job.ended"}, 400, id="private"),
        pytest.param({"url": PUBLIC_URL, "events": "job.nope"}, 400, id="unknown-event"),
        pytest.param(
            {"url": PUBLIC_URL, "events": "job.ended", "mapping": "XDM99"}, 404, id="mapping"
        ),
    ],
)
def test_bad_input_shows_the_apis_error_and_changes_nothing(
    site: Site, fields: dict[str, str], status: int
) -> None:
    client = site.browser()
    audited = len(audit_trail(site.store, ORG))
    refused = _submit(client, PAGE, PAGE, **fields)
    api_status, code, message = _api_error(site, {**fields, "events": [fields["events"]]})
    assert refused.status_code == api_status == status
    assert f'<code class="error-code">{code}</code> {escape(message)}' in refused.text
    assert f'value="{escape(fields["url"])}"' in refused.text
    assert _secrets_in(refused.text) == []
    assert site.store.webhooks.list_for_org(ORG) == []
    assert len(audit_trail(site.store, ORG)) == audited


def test_only_administrators_change_webhooks(site: Site, webhook_settings: Settings) -> None:
    created = _unreachable_webhook(site, webhook_settings, ["job.ended"])
    client = site.browser(roles=(ROLE_SQL,))
    hook = created.webhook.id
    for url, fields in [
        (PAGE, {"url": PUBLIC_URL, "events": "job.ended"}),
        (f"{PAGE}/{hook}/rotate", {}),
        (f"{PAGE}/{hook}/delete", {}),
    ]:
        refused = _submit(client, url, "/ui/mappings", **fields)
        assert refused.status_code == 403
        assert "administration" in refused.text
        assert _secrets_in(refused.text) == []
    [kept] = site.store.webhooks.list_for_org(ORG)
    assert (kept.id, kept.rotated_at) == (hook, None)


def test_a_form_without_its_csrf_token_is_refused(site: Site) -> None:
    client = site.browser()
    refused = client.post(
        PAGE, data={"url": PUBLIC_URL, "events": "job.ended"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert site.store.webhooks.list_for_org(ORG) == []


def test_an_unknown_webhook_is_not_found(site: Site) -> None:
    client = site.browser()
    for action in ("rotate", "delete"):
        assert _submit(client, f"{PAGE}/wh_nope/{action}", PAGE).status_code == 404


@pytest.fixture
def served(site: Site) -> Iterator[str]:
    """The site's app served over HTTP on the loopback address, for the browser."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(site.client.app, log_level="warning", ws="none", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)
    listening.close()


def test_the_webhooks_page_in_the_browser(
    site: Site, webhook_settings: Settings, receiver: Receiver, served: str
) -> None:
    created, message_id = _delivered_after_a_failure(site, webhook_settings, receiver)
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_context(viewport=LAPTOP).new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda message: errors.append(message.text) if message.type == "error" else None,
        )
        page.goto(f"{served}/ui/webhooks")
        expect(page).to_have_url(f"{served}/ui/signin?next=/ui/webhooks")
        page.get_by_label("Client id").fill(site.credentials.client_id)
        page.get_by_label("Client secret").fill(site.credentials.client_secret)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="Webhooks")).to_have_attribute("aria-current", "page")
        card = page.locator(f"section[data-webhook='{created.webhook.id}']")
        expect(card.get_by_role("heading")).to_have_text(receiver.url)
        row = card.locator(f"tr[data-delivery='{message_id}']")
        expect(row.locator("th")).to_have_text("job.ended")
        expect(row.locator(".badge")).to_have_text("delivered")
        expect(row.locator("li[data-attempt]")).to_have_count(2)
        expect(row.locator("li[data-attempt='1'] strong")).to_have_text("HTTP 500")
        expect(row.locator("li[data-attempt='2'] strong")).to_have_text("HTTP 204")
        Screenshots().take(page, "webhooks page with a delivery and its attempts")
    assert errors == []


def test_registering_rotating_and_deleting_in_the_browser(site: Site, served: str) -> None:
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_context(viewport=LAPTOP).new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{served}/ui/webhooks")
        page.get_by_label("Client id").fill(site.credentials.client_id)
        page.get_by_label("Client secret").fill(site.credentials.client_secret)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Register a webhook")).to_be_visible()

        page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/hook")
        page.get_by_role("button", name="Register").click()
        expect(page.locator(".error-code")).to_have_text("XDMC-WEBHOOK-URL")
        expect(page.get_by_label("URL", exact=True)).to_have_value("http://127.0.0.1:9/hook")
        assert site.store.webhooks.list_for_org(ORG) == []

        page.get_by_label("URL", exact=True).fill(PUBLIC_URL)
        page.get_by_label("mapping.published").check()
        page.get_by_label("Mapping", exact=True).select_option("XDM44")
        page.get_by_role("button", name="Register").click()
        secret = page.locator(".secret-value")
        expect(secret).to_have_text(SECRET)
        first = secret.inner_text()
        expect(page.get_by_text("shown this once")).to_be_visible()
        Screenshots().take(page, "webhooks page showing a new secret once")
        [webhook] = site.store.webhooks.list_for_org(ORG)
        assert webhook.events == ["job.ended", "mapping.published"]
        assert webhook.mapping_id == "XDM44"
        assert "whsec_" not in page.url

        page.goto(f"{served}/ui/webhooks")
        expect(page.locator(f"section[data-webhook='{webhook.id}']")).to_be_visible()
        expect(page.locator(".secret-value")).to_have_count(0)
        assert first not in page.content()
        assert all("whsec_" not in cookie["value"] for cookie in page.context.cookies())

        page.get_by_role("button", name=f"Rotate the secret of {PUBLIC_URL}").click()
        expect(page.locator(".secret-value")).to_have_text(SECRET)
        assert page.locator(".secret-value").inner_text() != first
        page.goto(f"{served}/ui/webhooks")
        expect(page.locator(".secret-value")).to_have_count(0)

        page.get_by_role("button", name=f"Delete {PUBLIC_URL}").click()
        expect(page.get_by_role("status")).to_have_text(f"Webhook {webhook.id} is removed.")
        expect(page.get_by_text("No webhook yet.")).to_be_visible()
    assert errors == []
    assert site.store.webhooks.list_for_org(ORG) == []
