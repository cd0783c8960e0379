"""The app as a server process runs it: the health answer and the collector's frozen part."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from xdm_connector.app import serving_app
from xdm_connector.settings import Settings


def test_a_serving_app_freezes_what_it_loaded_and_answers(settings: Settings) -> None:
    try:
        app = serving_app(settings)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok"}
        trigger = client.post("/acme/campaign/dataIngestion/xdmIngestion/XDM44/ingest")
    assert trigger.status_code == 401
    assert trigger.json()["error_code"] == "403010"
