"""No secret in the logs of a full run: source password, client secret, bearer token.

An organization reads a PostgreSQL source (a database beside the store's) whose URL names
its password as ``${VAR}`` (the test server trusts local connections, so the fake password
is sent and ignored); an
integration is created, gets a token, publishes, triggers, and a worker runs the job. The
logs of everything, at DEBUG (SQL statements and their parameters included), and every
answer are searched for the three secrets.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.integration.security.conftest import FIELD_GROUPS, mapping_document
from tests.tables import read_table
from xdm_connector.app import create_app
from xdm_connector.cli import app as cli
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.jobs.worker import Worker
from xdm_connector.settings import Settings

VARIABLE = "XDMC_TEST_CRM_PASSWORD"
INGEST = "/crm/campaign/dataIngestion/xdmIngestion/XDM44/ingest"


def _source_table(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                'CREATE TABLE profile (id integer PRIMARY KEY, email text, "lastModified" timestamptz)'
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO profile VALUES (1, 'ada@example.com', now()), (2, 'bob@example.com', now())"
            )
        )
    engine.dispose()


def _source_url(postgres_url: str, *, port: int | None = None) -> str:
    parsed = sa.make_url(postgres_url)
    return (
        f"postgresql://{parsed.username}:${{{VARIABLE}}}@{parsed.host}:{port or parsed.port or 5432}"
        f"/{parsed.database}"
    )


def test_a_full_run_logs_no_secret(
    postgres_url: str,
    postgres_source_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # statements, parameters and rows
    password = f"pw-{secrets.token_hex(12)}"
    monkeypatch.setenv(VARIABLE, password)
    monkeypatch.setenv("XDMC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDMC_DATABASE_URL", postgres_url)
    settings = Settings(
        home=tmp_path / "home",
        database_url=postgres_url,
        embedded_worker=False,
        retry_base_seconds=0.01,  # the unreachable source is read again, and logged, at once
        retry_max_seconds=0.05,
    )
    source_url = _source_url(postgres_source_url)
    _source_table(source_url.replace(f"${{{VARIABLE}}}", password))
    runner = CliRunner()
    answers: list[str] = []

    def run(*args: str) -> str:
        result = runner.invoke(cli, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    refused = runner.invoke(
        cli, ["orgs", "create", "leaky", "--source-url", f"postgresql://crm:{password}@db/crm"]
    )
    assert refused.exit_code == 1
    assert "password in clear" in refused.output
    answers.append(refused.output)
    answers.append(run("orgs", "create", "crm", "--source-url", source_url))
    listed = run("orgs", "list")
    assert {"ID": "crm", "SOURCE URL": source_url} in read_table(listed).records()
    listed_json = run("orgs", "list", "--json")
    assert {"id": "crm", "sourceUrl": source_url} in orjson.loads(listed_json)
    answers += [listed, listed_json]
    answers.append(
        run("groups", "grant", "--org", "crm", "--group", "Administrators", "--role", "sql")
    )
    credentials = orjson.loads(
        run("integrations", "create", "--org", "crm", "--group", "Administrators")
    )
    client_secret = credentials["client_secret"]
    for listing in (("integrations", "list"), ("audit",)):
        answers += [run(*listing, "--org", "crm"), run(*listing, "--org", "crm", "--json")]

    with TestClient(create_app(settings)) as client:
        issued = client.post("/ims/token/v3", data=credentials)
        token = issued.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "X-Api-Key": credentials["client_id"]}
        base = "/crm/campaign/dataIngestion"
        dataset = {"id": "profiles", "class": "profile", "fieldGroups": FIELD_GROUPS}
        calls = [
            client.post(f"{base}/dataset", json=dataset, headers=headers),
            client.post(f"{base}/xdmMapping", json=mapping_document(), headers=headers),
            client.post(f"{base}/xdmMapping/XDM44/publish", json={"start": False}, headers=headers),
        ]
        assert [call.status_code for call in calls] == [201, 201, 200], [c.text for c in calls]
        triggered = client.post(INGEST, headers=headers)
        assert triggered.json()["status"] == "Success", triggered.text
        request_id = triggered.json()["requestId"]

        store = client.app.state.store  # type: ignore[attr-defined]
        assert Worker(store, settings).run_once()
        status = client.get(INGEST, params={"requestId": request_id}, headers=headers)
        assert (status.json()["status"], status.json()["numRecords"]) == ("Success", 2)
        answers += [call.text for call in (*calls, triggered, status)]

        # A job whose source cannot be reached fails, and its worker logs why.
        down = _source_url(postgres_source_url, port=1)
        store.tenants.create_organization("down", down)
        store.tenants.create_dataset(
            "down", "profiles", store.tenants.get_dataset("crm", "profiles").schema_spec
        )
        document = MappingDefinition.from_document(mapping_document()).document()
        store.mappings.save(
            "down", "XDM44", label="down", dataset_id="profiles", definition=document
        )
        store.mappings.publish(
            "down",
            "XDM44",
            definition=document,
            interval_seconds=900,
            resend=False,
            start=False,
            log=[],
        )
        down_request = store.jobs.request_ingestion("down", "XDM44").job
        assert Worker(store, settings).run_once()
        down_job = store.jobs.get("down", "XDM44", down_request.request_id)
        assert down_job.state == "Failed"
        assert down_job.details is not None
        assert down_job.details["sourceRetries"]["count"] == settings.retry_attempts - 1
        # The variable unset: the publication says which one is missing.
        monkeypatch.delenv(VARIABLE)
        failed = client.post(
            f"{base}/xdmMapping/XDM44/publish", json={"start": False}, headers=headers
        )
        assert failed.status_code == 422
        assert VARIABLE in failed.text
        answers.append(failed.text)
        answers.append(client.get("/crm/campaign/auditTrail", headers=headers).text)

    logs = caplog.text + "\n".join(str(record.__dict__) for record in caplog.records)
    assert "SELECT" in logs  # SQL statements and their parameters were logged
    assert "job 1 succeeded: 2 records" in logs
    assert f"job {down_request.id} failed: ACP-880056" in logs
    assert "reading it again from the start" in logs
    for name, value in (
        ("source password", password),
        ("client secret", client_secret),
        ("token", token),
    ):
        assert value not in logs, f"the {name} is in the logs"
    for answer in answers:
        assert password not in answer
        assert client_secret not in answer
        assert token not in answer
