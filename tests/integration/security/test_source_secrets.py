"""A source secret may hold any character, and no form of it is ever shown.

A PostgreSQL role of the test server gets a password holding ``@ / : ? # % + space & = '
"`` and non-ASCII characters (the server trusts local connections, so the password is
sent and not checked). An organization reads as that role, its URL naming the password as
``${VAR}``: publication (psycopg, through SQLAlchemy) and the export (ADBC, through a libpq
URI) must both work. Two more organizations name the same password but a database that
does not exist and a closed port: their publications, previews and jobs fail. Then every
error, every log line (at DEBUG), every API answer and page, and every text of the store
is searched for the password in any form: raw, percent-encoded, ``+``-encoded, base64,
quoted or escaped. Each case runs on both stores.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import secrets
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import markupsafe
import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from psycopg import sql
from typer.testing import CliRunner

from tests.integration.security.conftest import FIELD_GROUPS, mapping_document
from tests.integration.ui.conftest import sign_in
from xdm_connector.app import create_app
from xdm_connector.cli import app as cli
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.errors import SourceError
from xdm_connector.jobs.worker import Worker
from xdm_connector.logs import JsonFormatter
from xdm_connector.services.integrations import NewIntegration, create_integration
from xdm_connector.settings import Settings
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.product_data import ProductData
from xdm_connector.store.store import Store

VARIABLE = "XDMC_TEST_SOURCE_SECRET"
CORE = secrets.token_hex(8)
SECRET = f"Pw@/:?#%+ &='\"\\é€ {CORE}"
"""Every form of the password but base64 holds ``CORE`` as it is."""
BASE = "/{org}/campaign/dataIngestion"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port of 127.0.0.1 that refuses connections: bound, not listening, and held for the
    test, so that no other process takes it meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def forms(secret: str) -> list[str]:
    """The ways a password is written by drivers, URLs, logs and pages."""
    raw = secret.encode()
    percent = [quote(secret, safe=""), quote(secret, safe="/"), quote_plus(secret)]
    lower = [re.sub("%[0-9A-F]{2}", lambda hexa: hexa.group(0).lower(), p) for p in percent]
    encoded = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    return [
        secret,
        CORE,
        *percent,
        *lower,
        sa.URL.create("x", "u", secret, "h").render_as_string(hide_password=False)[6:-2],
        *encoded,
        *(form.rstrip("=") for form in encoded),
        repr(secret)[1:-1],
        repr(raw)[2:-1],
        json.dumps(secret)[1:-1],
        str(markupsafe.escape(secret)),
    ]


def leaks(text: str) -> list[str]:
    """The forms of the password found in ``text``."""
    return [form for form in forms(SECRET) if form.rstrip("=") in text]


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    database_url = (
        request.getfixturevalue("postgres_store_url") if request.param == "postgresql" else None
    )
    chosen = Settings(home=tmp_path / "home", database_url=database_url, embedded_worker=False)
    monkeypatch.setenv("XDMC_HOME", str(chosen.home))
    if database_url is None:
        monkeypatch.delenv("XDMC_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("XDMC_DATABASE_URL", database_url)
    monkeypatch.setenv(VARIABLE, SECRET)
    return chosen


def _admin(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def source(postgres_source_url: str) -> Iterator[sa.URL]:
    """A source database read by a role of its own, whose password is ``SECRET``; answers
    its URL, without a password."""
    role = f"xdmc_reader_{uuid.uuid4().hex[:8]}"
    url = sa.make_url(postgres_source_url)
    with psycopg.connect(_admin(postgres_source_url), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        connection.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(SECRET))
        )
        connection.execute(
            'CREATE TABLE profile (id integer PRIMARY KEY, email text, "lastModified" timestamptz)'
        )
        connection.execute(
            "INSERT INTO profile VALUES (1, 'ada@example.com', now()), (2, 'bob@example.com', now())"
        )
        connection.execute(sql.SQL("GRANT SELECT ON profile TO {}").format(sql.Identifier(role)))
    try:
        yield url.set(drivername="postgresql+psycopg", username=role, password=None)
    finally:
        with psycopg.connect(_admin(postgres_source_url), autocommit=True) as connection:
            connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _named(url: sa.URL, **changes: Any) -> str:
    """The URL with its password named as ``${VARIABLE}``."""
    changed = url.set(**changes)
    text = changed.render_as_string(hide_password=False)
    return text.replace(f"{changed.username}@", f"{changed.username}:${{{VARIABLE}}}@", 1)


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return str(result.output)


def _headers(client: TestClient, credentials: NewIntegration) -> dict[str, str]:
    issued = client.post(
        "/ims/token/v3",
        data={"client_id": credentials.client_id, "client_secret": credentials.client_secret},
    )
    token = issued.json()["access_token"]
    return {"Authorization": f"Bearer {token}", "X-Api-Key": credentials.client_id}


def _store_texts(store: Store) -> list[str]:
    """Every value of every row of every table of the store, as text."""
    texts = []
    with store.engine.connect() as connection:
        for name in sa.inspect(connection).get_table_names():
            table = sa.Table(name, sa.MetaData(), autoload_with=connection)
            texts += [f"{name}: {row}" for row in connection.execute(sa.select(table))]
    return texts


def test_a_password_of_any_character_works_and_is_never_shown(
    settings: Settings,
    source: sa.URL,
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    written = io.StringIO()
    product_log = logging.StreamHandler(written)
    product_log.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(product_log)
    answers: list[str] = []
    urls = {
        "crm": _named(source),
        "missing": _named(source, database=f"{source.database}_missing"),
        "closed": _named(source, port=closed_port),
    }
    try:
        refused = CliRunner().invoke(
            cli,
            [
                "orgs",
                "create",
                "leaky",
                "--source-url",
                f"{urls['crm']}?sslpassword={quote(SECRET)}",
            ],
        )
        assert refused.exit_code == 1
        assert "XDMC-SOURCE-SECRET" in refused.output
        answers.append(refused.output)
        for org, url in urls.items():
            answers.append(_run("orgs", "create", org, "--source-url", url))
            answers.append(
                _run("groups", "grant", "--org", org, "--group", "Administrators", "--role", "sql")
            )
        answers.append(_run("orgs", "list"))
        assert urls["crm"] in answers[-1]

        with TestClient(create_app(settings)) as client:
            store: Store = client.app.state.store  # type: ignore[attr-defined]
            worker = Worker(store, settings)
            outcomes = {}
            for org in urls:
                admin = create_integration(store, org, groups=["Administrators"], name="admin")
                headers = _headers(client, admin)
                base = BASE.format(org=org)
                dataset = {"id": "profiles", "class": "profile", "fieldGroups": FIELD_GROUPS}
                calls = [
                    client.post(f"{base}/dataset", json=dataset, headers=headers),
                    client.post(f"{base}/xdmMapping", json=mapping_document(), headers=headers),
                    client.post(
                        f"{base}/xdmMapping/XDM44/publish", json={"start": False}, headers=headers
                    ),
                    client.get(f"{base}/xdmMapping/XDM44/preview", headers=headers),
                ]
                answers += [call.text for call in calls]
                if org != "crm":
                    # Published as it was before its source went away.
                    document = MappingDefinition.from_document(mapping_document()).document()
                    store.mappings.publish(
                        org,
                        "XDM44",
                        definition=document,
                        interval_seconds=900,
                        resend=False,
                        start=False,
                        log=[],
                    )
                ingest = f"{base}/xdmIngestion/XDM44/ingest"
                trigger = client.post(ingest, headers=headers)
                request_id = trigger.json()["requestId"]
                assert worker.run_once()
                status = client.get(ingest, params={"requestId": request_id}, headers=headers)
                job = store.jobs.get(org, "XDM44", request_id)
                detail = client.get(f"{base}/xdmMapping/XDM44/jobs/{request_id}", headers=headers)
                browser = TestClient(client.app, base_url="http://testserver")
                sign_in(browser, admin.client_id, admin.client_secret)
                pages = [
                    browser.get(page)
                    for page in (
                        "/ui/jobs",
                        f"/ui/jobs/{request_id}",
                        "/ui/mappings/XDM44",
                        "/ui/mappings/XDM44/edit?preview=true",
                    )
                ]
                assert [page.status_code for page in pages] == [200, 200, 200, 200]
                answers += [trigger.text, status.text, detail.text, *(page.text for page in pages)]
                outcomes[org] = (calls, status.json(), job.details or {})
            store_texts = _store_texts(store)
            answers.append(_run("orgs", "list"))
            answers.append(_run("mappings", "preview", "--org", "missing", "XDM44"))
    finally:
        logging.getLogger().removeHandler(product_log)

    calls, status, _details = outcomes["crm"]
    assert [call.status_code for call in calls] == [201, 201, 200, 200], [c.text for c in calls]
    assert len(calls[3].json()["records"]) == 2
    assert (status["status"], status["numRecords"]) == ("Success", 2)
    for org, driver_says in (
        ("missing", "does not exist"),
        ("closed", f'"127.0.0.1", port {closed_port} failed'),
    ):
        calls, status, details = outcomes[org]
        assert calls[2].status_code == 422
        assert calls[3].json()["problems"][0]["code"] == "ACP-880056"
        assert driver_says in calls[3].json()["problems"][0]["message"]
        assert status["status"] == "Failed"
        assert driver_says in details["error"]
        assert f"{source.username}:***@" in details["error"]

    texts = {
        "answers": "\n".join(answers),
        "logs": caplog.text + "\n".join(str(record.__dict__) for record in caplog.records),
        "product logs": written.getvalue(),
        "store": "\n".join(store_texts),
    }
    assert "ACP-880056" in texts["logs"]
    for where, text in texts.items():
        assert leaks(text) == [], f"the password is in the {where}"


def test_a_driver_message_holding_the_password_is_masked(
    source: sa.URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver that echoes the password (libpq does, of a URI it cannot parse: here the
    one SQLAlchemy renders, whose space is not encoded) gets it masked in every form."""
    monkeypatch.setenv(VARIABLE, SECRET)
    monkeypatch.setattr(
        SourceDatabase,
        "_libpq_uri",
        lambda database: database.url.set(drivername="postgresql").render_as_string(False),
    )
    profile = sa.table("profile", sa.column("id", sa.Integer))
    with (
        SourceDatabase(_named(source), ProductData.of_store("sqlite://")) as database,
        pytest.raises(SourceError) as failed,
    ):
        list(database.read_batches(sa.select(profile.c.id), batch_rows=10))

    assert "unexpected spaces found in" in failed.value.message
    assert "***" in failed.value.message
    assert leaks(failed.value.message) == []
    assert failed.value.__cause__ is None
    assert failed.value.__suppress_context__


def test_a_secret_stored_in_clear_before_the_rule_is_masked(settings: Settings) -> None:
    settings.home.mkdir()
    store = Store(settings.store_url)
    try:
        store.upgrade()
        stored = f"postgresql://crm@db/crm?sslpassword={quote(SECRET)}&api_token={quote(SECRET)}"
        store.tenants.create_organization("legacy", stored)
    finally:
        store.close()

    listed = _run("orgs", "list")
    as_json = _run("orgs", "list", "--json")

    masked = "postgresql://crm@db/crm?api_token=***&sslpassword=***"
    assert json.loads(as_json) == [{"id": "legacy", "sourceUrl": masked}]
    assert masked in listed
    assert leaks(listed) == []
    assert leaks(as_json) == []
