"""Tokens: lifetime, rotation and deletion of their integration, and the CLI verbs."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.integration.security.conftest import World, bearer
from tests.tables import read_table
from xdm_connector.cli import app as cli
from xdm_connector.security.credentials import digest, issue_token
from xdm_connector.services.integrations import (
    NewIntegration,
    delete_integration,
    rotate_integration,
)
from xdm_connector.settings import Settings
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store

GROUPS = "/acme/campaign/securityGroup"


def _token_answer(client: TestClient, client_id: str, client_secret: str) -> int:
    data = {"client_id": client_id, "client_secret": client_secret}
    return client.post("/ims/token/v3", data=data).status_code


@pytest.fixture
def run_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner of ``xdm-connector`` on the test's store."""
    monkeypatch.setenv("XDMC_HOME", str(settings.home))
    if settings.database_url:
        monkeypatch.setenv("XDMC_DATABASE_URL", settings.database_url)
    return CliRunner()


def test_tokens_expire(client: TestClient, store: Store, world: World) -> None:
    issued = issue_token(store, world.reader.client_id, world.reader.client_secret, ttl_seconds=60)
    assert issued.expires_in == 60
    now = utcnow()
    assert store.tenants.principal_for_token(digest(issued.access_token), now) is not None
    later = now + timedelta(seconds=61)
    assert store.tenants.principal_for_token(digest(issued.access_token), later) is None

    expired = "an-expired-token"
    store.tenants.add_token(digest(expired), world.reader.client_id, now - timedelta(seconds=1))
    headers = {"Authorization": f"Bearer {expired}", "X-Api-Key": world.reader.client_id}
    refused = client.get(GROUPS, headers=headers)
    assert refused.status_code == 401
    assert refused.json() == {"error_code": "401013", "message": "Oauth token is not valid"}


def test_a_token_is_bound_to_its_integration(client: TestClient, world: World) -> None:
    headers = {**world.reader_headers, "X-Api-Key": world.admin.client_id}
    refused = client.get(GROUPS, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "403003"


def test_rotating_a_secret_invalidates_every_token_at_once(
    client: TestClient, store: Store, world: World
) -> None:
    first = bearer(client, world.spare)
    second = bearer(client, world.spare)
    assert client.get(GROUPS, headers=first).status_code == 200

    rotated = rotate_integration(store, "acme", world.spare.client_id)

    for headers in (first, second):
        refused = client.get(GROUPS, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error_code"] == "401013"
    assert rotated.client_secret != world.spare.client_secret
    assert _token_answer(client, world.spare.client_id, world.spare.client_secret) == 401
    assert client.get(GROUPS, headers=bearer(client, rotated)).status_code == 200
    # other integrations keep their tokens
    assert client.get(GROUPS, headers=world.reader_headers).status_code == 200


def test_deleting_an_integration_invalidates_its_tokens(
    client: TestClient, store: Store, world: World
) -> None:
    headers = bearer(client, world.spare)
    delete_integration(store, "acme", world.spare.client_id)
    assert client.get(GROUPS, headers=headers).status_code == 401
    assert _token_answer(client, world.spare.client_id, world.spare.client_secret) == 401
    assert store.tenants.get_integration(world.spare.client_id) is None


def test_administrators_rotate_and_delete_over_rest(
    client: TestClient, store: Store, world: World
) -> None:
    admin = world.admin_headers
    spare = f"/acme/campaign/integration/{world.spare.client_id}"
    old_token = bearer(client, world.spare)
    rotated = client.post(f"{spare}/rotate", headers=admin)
    assert rotated.status_code == 200
    assert rotated.json()["clientId"] == world.spare.client_id
    assert client.get(GROUPS, headers=old_token).status_code == 401
    new = NewIntegration(world.spare.client_id, rotated.json()["clientSecret"])
    assert client.get(GROUPS, headers=bearer(client, new)).status_code == 200

    listed = client.get("/acme/campaign/integration", headers=admin)
    names = {item["name"]: item for item in listed.json()["content"]}
    assert set(names) == {"admin", "reader", "spare"}
    assert names["spare"]["groups"] == ["Standard Users"]
    assert new.client_secret not in listed.text

    created = client.post(
        "/acme/campaign/integration", json={"name": "ops", "groups": ["Nobody"]}, headers=admin
    )
    assert created.status_code == 404
    assert client.delete(spare, headers=admin).status_code == 204
    assert client.delete(spare, headers=admin).status_code == 404
    # another organization's integration is unknown, even to an administrator
    other = f"/acme/campaign/integration/{world.other.client_id}"
    assert client.delete(other, headers=admin).status_code == 404
    assert client.post(f"{other}/rotate", headers=admin).status_code == 404
    assert _token_answer(client, world.other.client_id, world.other.client_secret) == 200


def test_the_integrations_commands(
    client: TestClient, store: Store, world: World, run_cli: CliRunner
) -> None:
    listed = run_cli.invoke(cli, ["integrations", "list", "--org", "acme"])
    assert listed.exit_code == 0, listed.output
    table = read_table(listed.stdout)
    assert table.headers == ["CLIENT ID", "NAME", "GROUPS", "CREATED"]
    spare = [row for row in table.records() if row["CLIENT ID"] == world.spare.client_id]
    assert [(row["NAME"], row["GROUPS"]) for row in spare] == [("spare", "Standard Users")]
    as_json = run_cli.invoke(cli, ["integrations", "list", "--org", "acme", "--json"])
    assert as_json.exit_code == 0, as_json.output
    documents = orjson.loads(as_json.stdout)
    assert sorted(document["clientId"] for document in documents) == sorted(
        table.column("CLIENT ID")
    )
    spare_document = next(d for d in documents if d["clientId"] == world.spare.client_id)
    assert set(spare_document) == {"clientId", "name", "groups", "created"}
    assert spare_document["groups"] == ["Standard Users"]
    for output in (listed.output, as_json.output):
        assert world.spare.client_secret not in output
        assert digest(world.spare.client_secret) not in output

    old_token = bearer(client, world.spare)
    rotated = run_cli.invoke(
        cli, ["integrations", "rotate", "--org", "acme", world.spare.client_id]
    )
    assert rotated.exit_code == 0, rotated.output
    secret = orjson.loads(rotated.output)["client_secret"]
    assert client.get(GROUPS, headers=old_token).status_code == 401
    assert _token_answer(client, world.spare.client_id, secret) == 200

    foreign = run_cli.invoke(
        cli, ["integrations", "rotate", "--org", "acme", world.other.client_id]
    )
    assert foreign.exit_code == 1
    assert f"unknown integration {world.other.client_id}" in foreign.output

    deleted = run_cli.invoke(
        cli, ["integrations", "delete", "--org", "acme", world.spare.client_id]
    )
    assert deleted.exit_code == 0, deleted.output
    assert _token_answer(client, world.spare.client_id, secret) == 401

    audit = run_cli.invoke(cli, ["audit", "--org", "acme", "--action", "integration.rotate"])
    assert audit.exit_code == 0, audit.output
    [entry] = read_table(audit.stdout).records()
    assert (entry["ACTION"], entry["TARGET"]) == ("integration.rotate", world.spare.client_id)
    assert entry["ACTOR"].startswith("operator")
    assert secret not in audit.output
    audit_json = run_cli.invoke(
        cli, ["audit", "--org", "acme", "--action", "integration.rotate", "--json"]
    )
    [document] = orjson.loads(audit_json.stdout)
    assert set(document) == {"at", "actor", "action", "target", "details"}
    assert (document["action"], document["target"]) == ("integration.rotate", entry["TARGET"])
    assert document["at"].startswith(entry["AT"].removesuffix("+00:00"))
    assert secret not in audit_json.output


def test_the_groups_commands(store: Store, world: World, run_cli: CliRunner) -> None:
    def run(*args: str) -> str:
        result = run_cli.invoke(cli, ["groups", *args, "--org", "acme"])
        assert result.exit_code == 0, result.output
        return result.output

    run("create", "--group", "Operators")
    for _ in range(2):
        run("grant", "--group", "Operators", "--role", "sql")
    roles = read_table(run("roles", "--group", "Operators"))
    assert roles.records() == [{"NAME": "sql", "LABEL": "SQL function execution"}]
    assert orjson.loads(run("roles", "--group", "Operators", "--json")) == [
        {"name": "sql", "label": "SQL function execution"}
    ]
    groups = read_table(run("list"))
    assert groups.headers == ["NAME", "ROLES"]
    assert {"NAME": "Operators", "ROLES": "sql"} in groups.records()
    assert {"name": "Operators", "roles": ["sql"]} in orjson.loads(run("list", "--json"))
    for _ in range(2):
        run("revoke", "--group", "Operators", "--role", "sql")
    assert run("roles", "--group", "Operators").splitlines() == ["NAME  LABEL"]
    assert orjson.loads(run("roles", "--group", "Operators", "--json")) == []
    unknown = run_cli.invoke(
        cli, ["groups", "grant", "--org", "acme", "--group", "Operators", "--role", "root"]
    )
    assert unknown.exit_code == 1
    assert "unknown role 'root'" in unknown.output
    actions = [entry.action for entry in store.tenants.audit.entries("acme")][:3]
    assert actions == ["revoke", "grant", "group.create"]
