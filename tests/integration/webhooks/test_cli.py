"""``xdm-connector webhooks add|list|rotate|remove`` on the store directly, as
``operator:<login>``: the secret printed at add and rotate only, bad input refused."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from xdm_connector.cli import app as cli
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store


@pytest.fixture
def run_cli(
    settings: Settings, database_url: str, world: Store, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("XDMC_HOME", str(settings.home))
    monkeypatch.setenv("XDMC_DATABASE_URL", database_url)
    monkeypatch.setenv("XDMC_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("LOGNAME", "alice")
    return CliRunner()


def test_add_list_rotate_remove(run_cli: CliRunner, world: Store) -> None:
    added = run_cli.invoke(
        cli,
        [
            "webhooks",
            "add",
            "--org",
            "acme",
            "http://127.0.0.1:9/hook",
            "--event",
            "job.ended",
            "--event",
            "mapping.published",
            "--mapping",
            "XDM1",
        ],
    )
    assert added.exit_code == 0, added.output
    created = orjson.loads(added.stdout)
    assert created["secret"].startswith("whsec_")

    listed = run_cli.invoke(cli, ["webhooks", "list", "--org", "acme", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = orjson.loads(listed.stdout)
    assert (row["id"], row["url"], row["events"], row["mapping"]) == (
        created["id"],
        "http://127.0.0.1:9/hook",
        ["job.ended", "mapping.published"],
        "XDM1",
    )
    assert created["secret"] not in listed.stdout

    rotated = run_cli.invoke(cli, ["webhooks", "rotate", "--org", "acme", created["id"]])
    assert rotated.exit_code == 0, rotated.output
    assert orjson.loads(rotated.stdout)["secret"] not in (created["secret"], "")

    removed = run_cli.invoke(cli, ["webhooks", "remove", "--org", "acme", created["id"]])
    assert removed.exit_code == 0, removed.output
    assert world.webhooks.list_for_org("acme") == []
    trail = [(e.actor, e.action) for e in world.tenants.audit.entries("acme")][:3]
    assert trail == [
        ("operator:alice", "webhook.delete"),
        ("operator:alice", "webhook.rotate"),
        ("operator:alice", "webhook.create"),
    ]


def test_bad_input_is_refused_and_changes_nothing(run_cli: CliRunner, world: Store) -> None:
    for arguments in (
        ["ftp://example.com/", "--event", "job.ended"],
        ["http://127.0.0.1:9/", "--event", "job.done"],
        ["http://127.0.0.1:9/", "--event", "job.ended", "--mapping", "NOPE"],
    ):
        refused = run_cli.invoke(cli, ["webhooks", "add", "--org", "acme", *arguments])
        assert refused.exit_code != 0, arguments
        assert "Traceback" not in refused.output
    missing = run_cli.invoke(cli, ["webhooks", "remove", "--org", "acme", "wh_nope"])
    assert missing.exit_code != 0
    assert world.webhooks.list_for_org("acme") == []
