"""The webhooks page: an organization's endpoints with their latest deliveries and every
attempt, for its administrators only; in-process, and in a real browser (Chromium)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import expect

from tests.e2e.pages.browser import LAPTOP, Screenshots, chromium
from tests.integration.ui.conftest import ORG, Site
from tests.webhook_receiver import Receiver
from xdm_connector.security.roles import ROLE_SQL
from xdm_connector.services.webhook_delivery import WebhookDispatcher
from xdm_connector.services.webhooks import WebhookSecret, register_webhook
from xdm_connector.settings import Settings
from xdm_connector.store.models import utcnow

NAV_LINK = '<a href="/ui/webhooks"'


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
    register_webhook(
        site.store,
        webhook_settings,
        ORG,
        url="http://127.0.0.1:9/hook",
        events=["mapping.published", "job.ended"],
        actor="tests",
    )
    page = client.get("/ui/webhooks").text
    assert "No delivery yet." in page
    assert "<dd>mapping.published, job.ended</dd>" in page
    assert '<span class="muted">every mapping</span>' in page


def test_the_page_is_for_administrators_only(site: Site, webhook_settings: Settings) -> None:
    register_webhook(
        site.store,
        webhook_settings,
        ORG,
        url="http://127.0.0.1:9/hook",
        events=["job.ended"],
        actor="tests",
    )
    client = site.browser(roles=(ROLE_SQL,))
    assert NAV_LINK not in client.get("/ui/mappings").text
    refused = client.get("/ui/webhooks")
    assert refused.status_code == 403
    assert "administration" in refused.text
    assert "127.0.0.1:9" not in refused.text


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
