"""Who the audit trail names: a client id for the API, ``operator:<login>`` for commands,
and what the commands write there."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.integration.apps import source_database
from tests.integration.security.conftest import MAPPING_ID, World, mapping_document
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

    # The mapping commands write the operator too; the API's routes write the client id.
    for verb in ("start", "stop"):
        changed = run_cli.invoke(cli, ["mappings", verb, "--org", "acme", MAPPING_ID])
        assert changed.exit_code == 0, changed.output
    assert trail(store)[:3] == [
        ("operator:alice", "stop", MAPPING_ID),
        ("operator:alice", "start", MAPPING_ID),
        ("operator:alice", "grant", "Standard Users"),
    ]
    path = f"/acme/campaign/dataIngestion/xdmMapping/{MAPPING_ID}/start"
    assert client.post(path, headers=world.admin_headers).status_code == 200
    assert trail(store)[0] == (world.admin.client_id, "start", MAPPING_ID)


def test_the_commands_audit_their_changes(
    store: Store, world: World, run_cli: CliRunner, tmp_path: Path
) -> None:
    def run(*arguments: str) -> str:
        result = run_cli.invoke(cli, list(arguments))
        assert result.exit_code == 0, result.output
        return result.output

    mapping_file = tmp_path / "XDM47.json"
    mapping_file.write_bytes(orjson.dumps(mapping_document("XDM47")))
    already = store.tenants.audit.count("acme")
    run("datasets", "create", "--org", "acme", "--id", "more", "--schema", "profile")
    run("mappings", "apply", "--org", "acme", str(mapping_file))
    run("mappings", "apply", "--org", "acme", str(mapping_file))
    run("mappings", "publish", "--org", "acme", "--no-start", "XDM47")
    run("mappings", "unpublish", "--org", "acme", "XDM47")
    run("mappings", "delete", "--org", "acme", "XDM47")
    created = orjson.loads(
        run("integrations", "create", "--org", "acme", "--group", "Standard Users", "--name", "cli")
    )
    run("integrations", "rotate", "--org", "acme", created["client_id"])
    run("integrations", "delete", "--org", "acme", created["client_id"])
    run("groups", "create", "--org", "acme", "--group", "Operators")
    run("groups", "revoke", "--org", "acme", "--group", "Administrators", "--role", "sql")

    recorded = store.tenants.audit.entries("acme")
    assert len(recorded) == already + 11
    client_id = created["client_id"]
    assert [(e.actor, e.action, e.target, e.details) for e in reversed(recorded[:11])] == [
        ("operator:alice", "dataset.create", "more", None),
        ("operator:alice", "mapping.create", "XDM47", None),
        ("operator:alice", "mapping.change", "XDM47", None),
        ("operator:alice", "publish", "XDM47", {"resend": False, "start": False}),
        ("operator:alice", "unpublish", "XDM47", None),
        ("operator:alice", "mapping.delete", "XDM47", None),
        (
            "operator:alice",
            "integration.create",
            client_id,
            {"name": "cli", "groups": ["Standard Users"]},
        ),
        ("operator:alice", "integration.rotate", client_id, None),
        ("operator:alice", "integration.delete", client_id, None),
        ("operator:alice", "group.create", "Operators", None),
        ("operator:alice", "revoke", "Administrators", {"role": "sql"}),
    ]
    assert created["client_secret"] not in str([e.details for e in recorded])

    # A new organization's trail begins with its creation; a destination change names the
    # destination's type and the mappings whose watermark it reset (none had one here).
    source = source_database(tmp_path)
    run("orgs", "create", "initech", "--source-url", source)
    run("orgs", "set-destination", "globex", '{"type": "lake", "fileFormat": "json"}')
    assert [(e.actor, e.action, e.target) for e in store.tenants.audit.entries("initech")] == [
        ("operator:alice", "organization.create", "initech")
    ]
    changed = store.tenants.audit.entries("globex", "destination.change")
    assert [(e.actor, e.target, e.details) for e in changed] == [
        ("operator:alice", "globex", {"type": "lake", "resetMappings": []})
    ]


def test_a_command_that_fails_writes_no_entry(
    store: Store, world: World, run_cli: CliRunner
) -> None:
    already = store.tenants.audit.count("acme")
    # Published: it cannot be deleted; and a dataset id that is taken.
    refused = run_cli.invoke(cli, ["mappings", "delete", "--org", "acme", MAPPING_ID])
    assert refused.exit_code == 1
    assert "XDMC-409" in refused.output
    taken = ["datasets", "create", "--org", "acme", "--id", "profiles", "--schema", "profile"]
    assert run_cli.invoke(cli, taken).exit_code == 1
    assert store.tenants.audit.count("acme") == already
