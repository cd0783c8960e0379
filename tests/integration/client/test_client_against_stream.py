"""The client against a real HTTP server that serves the documented event stream (and
its absence, its breaks, its silence): waits, tokens, errors, mappings, sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.integration.client.scripted_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    REQUEST_ID,
    Script,
    serving,
    status,
)
from xdm_connector.client import (
    AsyncXdmClient,
    Conflict,
    Forbidden,
    IngestionAborted,
    IngestionFailed,
    NotFound,
    Unauthorized,
    WaitTimedOut,
    XdmClient,
)


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def url(script: Script) -> Iterator[str]:
    with serving(script) as base_url:
        yield base_url


def sync_client(url: str, **options: float) -> XdmClient:
    return XdmClient(url, org="demo", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **options)


def async_client(url: str, **options: float) -> AsyncXdmClient:
    return AsyncXdmClient(
        url, org="demo", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **options
    )


def test_wait_follows_the_event_stream_to_the_end(script: Script, url: str) -> None:
    with sync_client(url) as client:
        submitted = client.trigger("XDM44")
        ended = client.wait("XDM44", submitted.request_id)
    assert submitted.created
    assert submitted.request_id == REQUEST_ID
    assert ended.succeeded
    assert ended.num_records == 10
    assert ended.batch_id == "b-1"
    assert ended.body == status("Success", 10)
    assert script.calls == ["token", "trigger", "events"]


def test_events_yields_every_status_of_the_stream(script: Script, url: str) -> None:
    script.statuses = [status("In Progress"), status("In Progress"), status("Failed")]
    with sync_client(url) as client:
        seen = [item.status for item in client.events("XDM44", REQUEST_ID)]
    assert seen == ["In Progress", "In Progress", "Failed"]


@pytest.mark.parametrize("missing", ["404", "405"])
def test_wait_polls_when_the_server_has_no_stream(script: Script, url: str, missing: str) -> None:
    script.stream = missing
    script.statuses = [status("In Progress"), status("In Progress"), status("Success", 3)]
    with sync_client(url, poll_max_seconds=0.05) as client:
        ended = client.wait("XDM44", REQUEST_ID)
    assert ended.num_records == 3
    assert script.calls == ["token", "events", "status", "status", "status"]


def test_wait_reads_the_status_when_the_stream_breaks(script: Script, url: str) -> None:
    script.stream = "break"
    script.statuses = [status("In Progress"), status("In Progress"), status("Success", 5)]
    with sync_client(url) as client:
        ended = client.wait("XDM44", REQUEST_ID)
    assert ended.num_records == 5
    # The first event, the break, a status read (still running), the stream again: its
    # event is the end.
    assert script.calls == ["token", "events", "status", "events"]


def test_a_failed_request_raises_with_its_status_body(script: Script, url: str) -> None:
    reason = "ACP-880056 Failed to fetch the record from the database."
    script.statuses = [status("In Progress"), status("Failed", reason=reason)]
    with sync_client(url) as client, pytest.raises(IngestionFailed) as raised:
        client.wait("XDM44", REQUEST_ID)
    assert not isinstance(raised.value, IngestionAborted)
    assert raised.value.status.body == status("Failed", reason=reason)
    assert reason in str(raised.value)
    assert '"status": "Failed"' in str(raised.value)


def test_an_aborted_request_raises_aborted_and_check_false_answers_it(
    script: Script, url: str
) -> None:
    script.statuses = [status("Aborted", reason="cancelled")]
    with sync_client(url) as client:
        with pytest.raises(IngestionAborted) as raised:
            client.wait("XDM44", REQUEST_ID)
        assert raised.value.status.status == "Aborted"
        assert client.wait("XDM44", REQUEST_ID, check=False).status == "Aborted"


def test_wait_times_out_on_a_silent_stream_with_the_last_status(script: Script, url: str) -> None:
    script.stream = "silent"
    with sync_client(url) as client, pytest.raises(WaitTimedOut) as raised:
        client.wait("XDM44", REQUEST_ID, timeout=0.5)
    assert raised.value.status is not None
    assert raised.value.status.status == "In Progress"


def test_a_refused_token_is_renewed_once(script: Script, url: str) -> None:
    with sync_client(url) as client:
        client.trigger("XDM44")
        script.revoke_tokens()
        assert client.status("XDM44", REQUEST_ID).status == "In Progress"
    assert script.calls == ["token", "trigger", "status", "token", "status"]


def test_wrong_credentials_raise_unauthorized_with_the_body(url: str) -> None:
    with (
        XdmClient(url, org="demo", client_id=CLIENT_ID, client_secret="wrong") as client,
        pytest.raises(Unauthorized) as raised,
    ):
        client.trigger("XDM44")
    assert raised.value.body == {"error_code": "401013", "message": "Oauth token is not valid"}
    assert raised.value.code == "401013"


def test_answers_raise_typed_errors_with_their_bodies(url: str) -> None:
    with sync_client(url) as client:
        with pytest.raises(Forbidden) as forbidden:
            client.trigger("NOROLE")
        with pytest.raises(Conflict) as conflict:
            client.trigger("DRAFT")
        with pytest.raises(NotFound) as missing:
            client.status("GONE", REQUEST_ID)
    assert forbidden.value.role == "sql"
    assert forbidden.value.status_code == 403
    assert conflict.value.body["status"] == "Failed"
    assert "is not published" in conflict.value.message
    assert missing.value.body["info"] == "Mapping Id: GONE. XDM Mapping ID GONE does not exist"


def test_cancel_answers_the_aborted_status(url: str) -> None:
    with sync_client(url) as client:
        assert client.cancel("XDM44", REQUEST_ID).status == "Aborted"


def test_mappings_are_read_page_after_page(script: Script, url: str) -> None:
    script.mappings = [
        {
            "id": f"M{n}",
            "label": f"Mapping {n}",
            "dataset": "profiles",
            "publicationStatus": "Published",
            "executionStatus": "Stopped",
            "nextRunTime": None,
        }
        for n in range(5)
    ]
    with sync_client(url) as client:
        found = client.mappings()
        one = client.mapping("M3")
        with pytest.raises(NotFound):
            client.mapping("M9")
    assert [item.id for item in found] == ["M0", "M1", "M2", "M3", "M4"]
    assert script.calls.count("mappings") == 3
    assert (one.label, one.dataset, one.publication_status) == (
        "Mapping 3",
        "profiles",
        "Published",
    )


# -- the asynchronous client, on the same server


def test_async_wait_follows_the_stream(script: Script, url: str) -> None:
    async def scenario() -> tuple[int, int]:
        async with async_client(url) as client:
            submitted = await client.trigger("XDM44")
            ended = await client.wait("XDM44", submitted.request_id)
            return submitted.request_id, ended.num_records

    assert asyncio.run(scenario()) == (REQUEST_ID, 10)
    assert script.calls == ["token", "trigger", "events"]


@pytest.mark.parametrize("stream", ["404", "break"])
def test_async_wait_falls_back_to_the_status(script: Script, url: str, stream: str) -> None:
    script.stream = stream
    script.statuses = [status("In Progress"), status("In Progress"), status("Success", 4)]

    async def scenario() -> int:
        async with async_client(url, poll_max_seconds=0.05) as client:
            return (await client.wait("XDM44", REQUEST_ID)).num_records

    assert asyncio.run(scenario()) == 4
    assert "status" in script.calls


def test_async_failures_and_errors_are_typed(script: Script, url: str) -> None:
    script.statuses = [status("In Progress"), status("Failed", reason="ACP-880096")]

    async def scenario() -> None:
        async with async_client(url) as client:
            with pytest.raises(IngestionFailed) as failed:
                await client.wait("XDM44", REQUEST_ID)
            assert failed.value.status.info == "Mapping Id: XDM44. ACP-880096"
            with pytest.raises(Forbidden):
                await client.trigger("NOROLE")
            script.revoke_tokens()
            assert (await client.cancel("XDM44", REQUEST_ID)).status == "Aborted"
            assert [item.status async for item in client.events("XDM44", REQUEST_ID)] == ["Failed"]

    asyncio.run(scenario())
    assert script.calls.count("token") == 2
