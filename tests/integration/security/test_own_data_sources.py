"""No source may be the connector's own data: refused where it is set, never opened.

A source URL naming the metadata store let a mapping on ``integrations`` preview every
organization's client ids and secret digests; and on SQLite, the preview's second SQLite
library closing the store's file dropped the server's locks on it, so that a command run
in another process then deleted the store's ``-wal`` and ``-shm`` under the server. Each
case runs on both stores.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from xdm_connector.cli import app as cli
from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.jobs.worker import Worker
from xdm_connector.pipeline.preview import preview_mapping
from xdm_connector.services.datasets import create_dataset
from xdm_connector.services.integrations import create_integration
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import grant_role
from xdm_connector.services.publication import publish_mapping
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

OWN_DATA = "XDMC-SOURCE-OWN-DATA"
LEAK = {
    "id": "LEAK",
    "label": "every tenant's credentials",
    "targetingDimension": "integrations",
    "dataset": "profiles",
    "mapToXdmArray": True,
    "auditFields": ["@created_at"],
    "fieldMappings": [
        {"source": "@client_id", "xdm": "/_id"},
        {"source": "@secret_hash", "xdm": "/identityMap/Email/0/id"},
        {"source": "true", "xdm": "/identityMap/Email/0/primary"},
    ],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """An installation whose lake and platform home are outside its home; the environment
    of its commands says the same."""
    database_url = (
        request.getfixturevalue("postgres_store_url") if request.param == "postgresql" else None
    )
    chosen = Settings(
        home=tmp_path / "home",
        lake_path=tmp_path / "lake",
        platform_home=tmp_path / "platform-home",
        database_url=database_url,
        embedded_worker=False,
    )
    monkeypatch.setenv("XDMC_HOME", str(chosen.home))
    monkeypatch.setenv("XDMC_LAKE_PATH", str(chosen.lake_path))
    monkeypatch.setenv("XDMC_PLATFORM_HOME", str(chosen.platform_home))
    if database_url is None:
        monkeypatch.delenv("XDMC_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("XDMC_DATABASE_URL", database_url)
    return chosen


# ``client`` and ``store`` (tests/integration/apps.py, through conftest.py) run on the
# ``settings`` above.


def the_store_as_a_source(settings: Settings) -> str:
    """The store's own database, spelt otherwise than ``XDMC_DATABASE_URL``."""
    if settings.database_url is None:
        return f"sqlite:///{settings.home}/../home/metadata.db"
    url = sa.make_url(settings.database_url)
    return f"postgresql://someone@localhost/{url.database}"


def cli_run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_orgs_create_refuses_the_connectors_own_data(
    settings: Settings, client: TestClient, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "home-link").symlink_to(settings.home)
    refused_urls = [
        the_store_as_a_source(settings),
        f"sqlite:///{settings.home}/metadata.db",
        f"sqlite:///{outside}/home-link/metadata.db",
        f"sqlite:///{settings.home}/any.db",
        f"sqlite:///{settings.lake_root}/demo/profiles.db",
        f"sqlite:///{settings.platform_root}/platform.db",
        f"postgresql://crm@db/crm?password_file={settings.home}/ui-session.key",
    ]
    if settings.database_url is not None:
        store_url = sa.make_url(settings.database_url)
        refused_urls += [
            f"postgresql://u@127.0.0.1/{store_url.database}",
            f"postgresql://u@db.example/crm?host=localhost&port=5432&dbname={store_url.database}",
        ]
    for url in refused_urls:
        refused = cli_run("orgs", "create", "leaky", "--source-url", url)
        assert refused.exit_code == 1, url
        assert f"error: {OWN_DATA} " in refused.output, url
        assert "a source must be a database of its own" in refused.output
    listed = cli_run("orgs", "list")
    assert "leaky" not in listed.output

    accepted = [
        ("demo-like", f"sqlite:///{settings.home}/demo-source.db"),
        ("crm", f"sqlite:///{outside}/crm.db"),
    ]
    if settings.database_url is not None:
        accepted.append(("pg", f"postgresql://u@127.0.0.1:5432/{settings.home.name}_crm"))
    for org, url in accepted:
        created = cli_run("orgs", "create", org, "--source-url", url)
        assert created.exit_code == 0, created.output


def _leak_mapping(store: Store, org: str, source_url: str) -> None:
    """An organization whose source, stored before the rule, is the metadata store."""
    registry = SchemaRegistry.packaged()
    store.tenants.create_organization(org, source_url)
    grant_role(store, org, "Administrators", "sql")
    create_dataset(
        store, registry, org, "profiles", class_ref="profile", field_groups=["identitymap"]
    )
    apply_mapping(store, org, MappingDefinition.from_document(LEAK))


def test_a_stored_source_naming_the_store_is_never_opened(
    settings: Settings, client: TestClient, store: Store
) -> None:
    _leak_mapping(store, "legacy", the_store_as_a_source(settings))
    admin = create_integration(store, "legacy", groups=["Administrators"], name="admin")
    token = client.post(
        "/ims/token/v3",
        data={"client_id": admin.client_id, "client_secret": admin.client_secret},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "X-Api-Key": admin.client_id}
    base = "/legacy/campaign/dataIngestion/xdmMapping/LEAK"

    preview = client.get(f"{base}/preview", headers=headers)

    assert preview.status_code == 200, preview.text
    assert preview.json()["records"] == []
    [problem] = preview.json()["problems"]
    assert problem["code"] == "ACP-880056"
    assert OWN_DATA in problem["message"]
    assert admin.client_id not in preview.text

    published = publish_mapping(store, SchemaRegistry.packaged(), "legacy", "LEAK", start=False)
    assert not published.published
    assert any(OWN_DATA in line.message for line in published.log)

    document = MappingDefinition.from_document(LEAK).document()
    store.mappings.publish(
        "legacy",
        "LEAK",
        definition=document,
        interval_seconds=900,
        resend=False,
        start=False,
        log=[],
    )
    request_id = store.jobs.request_ingestion("legacy", "LEAK").job.id
    assert Worker(store, settings).run_once()
    job = store.jobs.get("legacy", "LEAK", request_id)
    assert job.state == JobState.FAILED
    assert job.reason == "ACP-880056 Failed to fetch the record from the database."
    assert OWN_DATA in job.details["error"]
    assert not any(settings.lake_root.rglob("*.parquet"))

    shown = cli_run("mappings", "preview", "--org", "legacy", "LEAK")
    assert OWN_DATA in shown.output
    assert admin.client_id not in shown.output


def _files(home: Path) -> dict[str, int]:
    """The store's files and their inodes."""
    return {path.name: path.stat().st_ino for path in home.glob("metadata.db*")}


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_preview_of_the_store_no_longer_breaks_its_wal(
    settings: Settings, client: TestClient, store: Store
) -> None:
    _leak_mapping(store, "legacy", f"sqlite:///{settings.home}/metadata.db")
    create_integration(store, "legacy", groups=["Administrators"], name="before")
    files = _files(settings.home)
    assert set(files) == {"metadata.db", "metadata.db-wal", "metadata.db-shm"}

    preview = preview_mapping(store, SchemaRegistry.packaged(), "legacy", "LEAK")
    # A command in another process, while the server runs: it must find the server's
    # locks on the store, and leave its WAL alone.
    command = subprocess.run(
        [
            sys.executable,
            "-m",
            "xdm_connector",
            "groups",
            "create",
            "--org",
            "legacy",
            "--group",
            "G",
        ],
        env={**os.environ, "XDMC_HOME": str(settings.home)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert command.returncode == 0, command.stderr
    assert _files(settings.home) == files
    create_integration(store, "legacy", groups=["Administrators"], name="after")

    # Read by a connection of its own: what the server wrote is in the store's WAL.
    with closing(sqlite3.connect(settings.home / "metadata.db")) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        names = {row[0] for row in connection.execute("SELECT name FROM integrations")}
        groups = {row[0] for row in connection.execute("SELECT name FROM security_groups")}
    assert {"before", "after"} <= names
    assert "G" in groups
    assert preview.records == []
    assert OWN_DATA in preview.problems[0].message
