"""The Python client and ``xdm-connector ingest`` against a real server process: trigger,
wait (the server of today has no event stream: the wait polls), status, cancel, mappings,
errors with their bodies, and a request that fails."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing

import orjson
import pytest

from tests.e2e.conftest import Installation, demo_credentials
from xdm_connector.client import (
    AsyncXdmClient,
    IngestionFailed,
    NotFound,
    Unauthorized,
    XdmClient,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """One demo installation on SQLite, served, for the module's tests (in order)."""
    installed = Installation(home=tmp_path_factory.mktemp("client") / "home", database_url=None)
    installed.home.mkdir()
    try:
        installed.cli("demo")
        installed.serve()
        yield installed
    finally:
        installed.stop()


def client_of(server: Installation) -> XdmClient:
    credentials = demo_credentials(server)
    return XdmClient(
        server.base_url,
        org="demo",
        client_id=credentials["client_id"],
        client_secret=credentials["client_secret"],
    )


def break_the_source(server: Installation) -> None:
    """Rename the demo's table: the next export fails, the table gone."""
    with closing(sqlite3.connect(server.home / "demo-source.db")) as connection:
        connection.execute("ALTER TABLE profile RENAME TO profile_gone")
        connection.commit()


def test_the_client_triggers_waits_and_reads(server: Installation) -> None:
    with client_of(server) as client:
        assert [mapping.id for mapping in client.mappings()] == ["XDM44"]
        assert client.mapping("XDM44").publication_status == "Published"
        submitted = client.trigger("XDM44")
        ended = client.wait("XDM44", submitted.request_id, timeout=120)
        assert submitted.created
        assert (ended.status, ended.num_records) == ("Success", 10000)
        assert client.status("XDM44", submitted.request_id) == ended
        assert client.cancel("XDM44", submitted.request_id).status == "Success"
        with pytest.raises(NotFound) as missing:
            client.status("XDM44", 999)
    assert missing.value.body["info"] == "Mapping Id: XDM44. Request ID 999 does not exist"


def test_the_async_client_waits_too(server: Installation) -> None:
    credentials = demo_credentials(server)

    async def scenario() -> list[tuple[str, int]]:
        """Two requests waited for: whatever the first finds to export (the server is
        shared with the other tests of the module), the second finds nothing new."""
        async with AsyncXdmClient(
            server.base_url,
            org="demo",
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
        ) as client:
            ended = []
            for _ in range(2):
                submitted = await client.trigger("XDM44")
                last = await client.wait("XDM44", submitted.request_id, timeout=120)
                ended.append((last.status, last.num_records))
            return ended

    first, second = asyncio.run(scenario())
    assert first[0] == "Success"
    assert second == ("Success", 0)


def test_wrong_credentials_are_refused_with_the_servers_body(server: Installation) -> None:
    credentials = demo_credentials(server)
    with (
        XdmClient(
            server.base_url, org="demo", client_id=credentials["client_id"], client_secret="no"
        ) as client,
        pytest.raises(Unauthorized) as refused,
    ):
        client.trigger("XDM44")
    assert refused.value.body["error_code"] == "401013"


def ingest(server: Installation, *args: str, secret: str | None = None) -> tuple[int, str, str]:
    credentials = demo_credentials(server)
    server.extra.update(
        XDMC_CLIENT_ID=credentials["client_id"],
        XDMC_CLIENT_SECRET=secret if secret is not None else credentials["client_secret"],
    )
    try:
        result = server.cli("ingest", *args, "--url", server.base_url, check=False)
    finally:
        del server.extra["XDMC_CLIENT_ID"], server.extra["XDMC_CLIENT_SECRET"]
    return result.returncode, result.stdout, result.stderr


def test_the_command_triggers_and_waits(server: Installation) -> None:
    code, out, err = ingest(server, "trigger", "demo", "XDM44", "--wait")
    assert code == 0, err
    status = orjson.loads(out)
    assert (status["status"], status["numRecords"]) == ("Success", 0)
    code, out, _ = ingest(server, "status", "demo", "XDM44", str(status["requestId"]))
    assert orjson.loads(out) == status


def test_the_command_reads_the_secret_from_the_environment_only(server: Installation) -> None:
    code, out, err = ingest(server, "trigger", "demo", "XDM44", secret="")
    assert code == 2
    assert out == ""
    assert "XDMC_CLIENT_SECRET holds no client secret" in " ".join(err.split())


def test_a_failed_request_fails_the_command_and_the_client(server: Installation) -> None:
    break_the_source(server)
    code, out, err = ingest(server, "trigger", "demo", "XDM44", "--wait")
    status = orjson.loads(out)
    assert code == 1
    assert status["status"] == "Failed"
    assert status["info"].startswith("Mapping Id: XDM44. ACP-880185 unknown table or view")
    assert "XDMC-CLIENT-FAILED" in err
    with client_of(server) as client, pytest.raises(IngestionFailed) as failed:
        client.wait("XDM44", client.trigger("XDM44").request_id, timeout=120)
    assert failed.value.status.body == {**status, "requestId": failed.value.status.request_id}
