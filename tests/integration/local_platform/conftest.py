"""The local platform service in a thread of the test process, over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from xdm_connector.demo.setup import DEMO_SCHEMA, prepare_demo
from xdm_connector.local_platform.app import create_platform_app
from xdm_connector.local_platform.datasets import create_dataset_of
from xdm_connector.local_platform.storage import PlatformStorage
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

IMS_ORG = "ACME@AdobeOrg"
SECRET_VARIABLE = "XDMC_TEST_LOCAL_PLATFORM_SECRET"
IMPORT = "/data/foundation/import/batches"
CATALOG = "/data/foundation/catalog/batches"


@dataclass
class LocalPlatform:
    """A running local platform service, a client of it, and the dataset ``profiles``."""

    url: str
    storage: PlatformStorage
    client_id: str
    client_secret: str
    http: httpx.Client
    _token: str = ""

    def token(self) -> str:
        if not self._token:
            response = self.http.post(
                "/ims/token/v3",
                data={"client_id": self.client_id, "client_secret": self.client_secret},
            )
            assert response.status_code == 200, response.text
            self._token = response.json()["access_token"]
        return self._token

    def headers(self, sandbox: str = "prod") -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token()}",
            "x-api-key": self.client_id,
            "x-gw-ims-org-id": IMS_ORG,
            "x-sandbox-name": sandbox,
        }

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def fault(self, **document: Any) -> None:
        response = self.http.post("/_local/faults", json=document)
        assert response.status_code == 201, response.text

    def wait_for(self, batch_id: str, timeout: float = 30) -> dict[str, Any]:
        """The batch once processed (not ``loading`` nor ``processing``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch: dict[str, Any] = self.call("GET", f"{CATALOG}/{batch_id}").json()[batch_id]
            if batch["status"] not in ("loading", "processing"):
                return batch
            time.sleep(0.05)
        raise AssertionError(f"batch {batch_id} still processing")

    def destination(self, **overrides: Any) -> dict[str, Any]:
        """An organization's destination document pointing here."""
        return {
            "type": "platform",
            "imsUrl": self.url,
            "platformUrl": self.url,
            "clientId": self.client_id,
            "clientSecret": "${" + SECRET_VARIABLE + "}",
            "imsOrgId": IMS_ORG,
            "sandbox": "prod",
            **overrides,
        }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The connector's settings under ``tmp_path``, retrying at once."""
    return Settings(home=tmp_path / "connector", retry_base_seconds=0.05)


@contextmanager
def demo_store(settings: Settings, profiles: int) -> Iterator[Store]:
    """A new store under ``settings.home`` holding the demo with ``profiles`` profiles."""
    settings.home.mkdir(parents=True)
    opened = Store(settings.store_url)
    try:
        opened.upgrade()
        prepare_demo(settings, opened, profiles=profiles)
        yield opened
    finally:
        opened.close()


@contextmanager
def running_platform(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    clients_org: str | None = IMS_ORG,
    **settings: Any,
) -> Iterator[LocalPlatform]:
    """The service over ``home`` with ``settings`` (``Settings`` fields) on a free port,
    binding the clients created without an organization to ``clients_org`` (``None``: any)."""
    configured = Settings(home=home, platform_faults=True, **settings)
    storage = PlatformStorage(configured.platform_root)
    client_id, secret = storage.create_client("tests", IMS_ORG)
    monkeypatch.setenv(SECRET_VARIABLE, secret)
    create_dataset_of(storage, SchemaRegistry.packaged(), IMS_ORG, "prod", "profiles", DEMO_SCHEMA)
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    config = uvicorn.Config(
        create_platform_app(configured, clients_org=clients_org),
        log_level="warning",
        ws="none",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the local platform service did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=30) as http:
        yield LocalPlatform(url, storage, client_id, secret, http)
    server.should_exit = True
    thread.join(timeout=30)
    listening.close()


@pytest.fixture
def local_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalPlatform]:
    with running_platform(tmp_path / "platform-home", monkeypatch) as platform:
        yield platform
