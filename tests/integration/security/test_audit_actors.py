"""Who the audit trail names: a client id for the API, ``operator:<login>`` for commands."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.integration.security.conftest import MAPPING_ID, World
from xdm_connector.cli import app as cli
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store


@pytest.fixture
def run_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner of ``xdm-connector`` on the test's store, run by the login ``alice``."""
    monkeypatch.setenv("XDMC_HOME", str(settings.home))
    if settings.database_url:
        monkeypatch.setenv("XDMC_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LOGNAME", "alice")
    return CliRunner()


def trail(store: Store) -> list[tuple[str, str, str]]:
    """The organization ``acme``'s audit trail, newest first: actor, action, target."""
    return [
        (entry.actor, entry.action, entry.target) for entry in store.tenants.audit.entries("acme")
    ]


def test_the_actor_of_each_way_in(
    client: TestClient, store: Store, world: World, run_cli: CliRunner
) -> None:
    # What the set-up made with the library's defaults is the operator's, without a login.
    assert trail(store)[-1] == ("operator", "grant", "Administrators")

    granted = run_cli.invoke(
        cli, ["groups", "grant", "--org", "acme", "--group", "Standard Users", "--role", "sql"]
    )
    assert granted.exit_code == 0, granted.output
    assert trail(store)[0] == ("operator:alice", "grant", "Standard Users")

    # The mapping commands write no entry; the API's routes write the client id.
    for verb in ("start", "stop"):
        changed = run_cli.invoke(cli, ["mappings", verb, "--org", "acme", MAPPING_ID])
        assert changed.exit_code == 0, changed.output
    assert trail(store)[0] == ("operator:alice", "grant", "Standard Users")
    path = f"/acme/campaign/dataIngestion/xdmMapping/{MAPPING_ID}/start"
    assert client.post(path, headers=world.admin_headers).status_code == 200
    assert trail(store)[0] == (world.admin.client_id, "start", MAPPING_ID)
