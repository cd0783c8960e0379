"""The webhooks routes: register, list, rotate, remove, and read the deliveries; the secret
is answered at registration and rotation only; bad input is refused with a stable code and
changes nothing; every change is in the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.integration.security.conftest import bearer, make_org
from tests.webhook_receiver import Receiver
from xdm_connector.app import create_app
from xdm_connector.services.integrations import create_integration
from xdm_connector.services.webhook_delivery import WebhookDispatcher
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store

HOOKS = "/acme/campaign/webhooks"


@pytest.fixture
def app_settings(settings: Settings, database_url: str) -> Settings:
    """The app's settings on the test's database (``webhook_allow_private``, see conftest)."""
    return settings.model_copy(update={"embedded_worker": False, "database_url": database_url})


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as test_client:
        yield test_client


@pytest.fixture
def headers(client: TestClient, tmp_path: Path) -> dict[str, str]:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    make_org(store, "acme", tmp_path / "acme")
    admin = create_integration(store, "acme", groups=["Administrators"], name="admin")
    return bearer(client, admin)


def test_register_list_rotate_and_remove(
    client: TestClient, headers: dict[str, str], app_settings: Settings
) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    with Receiver() as receiver:
        body = {"url": receiver.url, "events": ["job.ended"], "mapping": "XDM44"}
        created = client.post(HOOKS, json=body, headers=headers)
        assert created.status_code == 201, created.text
        document = created.json()
        assert document["secret"].startswith("whsec_")
        assert (document["url"], document["events"], document["mapping"]) == (
            receiver.url,
            ["job.ended"],
            "XDM44",
        )
        webhook_id = document["id"]

        listed = client.get(HOOKS, headers=headers)
        assert listed.status_code == 200
        [item] = listed.json()["content"]
        assert item["id"] == webhook_id
        assert "secret" not in item
        assert document["secret"] not in listed.text

        # A job of the mapping ends: its delivery and attempt show on the deliveries route.
        job = store.jobs.request_ingestion("acme", "XDM44").job
        claimed = store.jobs.claim("w", timedelta(seconds=60), utcnow())
        assert claimed is not None
        store.jobs.succeed(claimed, "w", JobOutcome(2, 2), None)
        dispatcher = WebhookDispatcher(store, app_settings)
        try:
            assert dispatcher.run_once() == 1
        finally:
            dispatcher.stop()
        [received] = receiver.wait_for(1)
        assert received.verified(document["secret"])["data"]["requestId"] == job.request_id

    deliveries = client.get(f"{HOOKS}/{webhook_id}/deliveries", headers=headers)
    assert deliveries.status_code == 200
    [delivery] = deliveries.json()["content"]
    assert delivery["messageId"] == received.headers["webhook-id"]
    assert (delivery["type"], delivery["state"]) == ("job.ended", "delivered")
    assert [a["statusCode"] for a in delivery["attempts"]] == [204]

    rotated = client.post(f"{HOOKS}/{webhook_id}/rotate", headers=headers)
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != document["secret"]
    assert rotated.json()["rotated"] is not None

    removed = client.delete(f"{HOOKS}/{webhook_id}", headers=headers)
    assert removed.status_code == 204
    assert client.get(HOOKS, headers=headers).json()["content"] == []
    assert client.delete(f"{HOOKS}/{webhook_id}", headers=headers).status_code == 404

    trail = client.get("/acme/campaign/auditTrail", headers=headers).json()["content"]
    assert [entry["action"] for entry in trail[:3]] == [
        "webhook.delete",
        "webhook.rotate",
        "webhook.create",
    ]
    assert {entry["target"] for entry in trail[:3]} == {webhook_id}
    for secret in (document["secret"], rotated.json()["secret"]):
        assert secret not in str(trail)
        assert secret.removeprefix("whsec_") not in str(trail)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "http://127.0.0.1:9/", "events": ["job.ended"]}, "XDMC-WEBHOOK-URL"),
        ({"url": "http://169.254.169.254/", "events": ["job.ended"]}, "XDMC-WEBHOOK-URL"),
        ({"url": "ftp://hooks.example.com/", "events": ["job.ended"]}, "XDMC-WEBHOOK-URL"),
        ({"url": "https://8.8.8.8/", "events": ["job.done"]}, "XDMC-400"),
        ({"url": "https://8.8.8.8/", "events": []}, "XDMC-400"),
        ({"url": "https://8.8.8.8/", "events": ["job.ended", "job.ended"]}, "XDMC-400"),
        ({"url": "https://8.8.8.8/", "events": "job.ended"}, "XDMC-400"),
        ({"url": "https://8.8.8.8/", "events": ["job.ended"], "extra": 1}, "XDMC-400"),
        ({"events": ["job.ended"]}, "XDMC-400"),
    ],
)
def test_bad_registrations_are_refused_and_change_nothing(
    client: TestClient,
    headers: dict[str, str],
    app_settings: Settings,
    body: dict[str, object],
    code: str,
) -> None:
    # The operator does not allow private addresses here (the routes read the app's settings).
    client.app.state.settings = app_settings.model_copy(update={"webhook_allow_private": False})  # type: ignore[attr-defined]
    refused = client.post(HOOKS, json=body, headers=headers)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_code"] == code
    assert client.get(HOOKS, headers=headers).json()["content"] == []


def test_an_unknown_mapping_is_not_found(client: TestClient, headers: dict[str, str]) -> None:
    body = {"url": "https://8.8.8.8/", "events": ["job.ended"], "mapping": "NOPE"}
    answer = client.post(HOOKS, json=body, headers=headers)
    assert answer.status_code == 404
    assert answer.json()["error_code"] == "XDMC-404"
