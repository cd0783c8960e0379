"""What both clients share: the token's renewal, paths, answers read as typed errors."""

from __future__ import annotations

import httpx
import pytest

from xdm_connector.client import calls
from xdm_connector.client.errors import (
    ApiError,
    Conflict,
    Forbidden,
    IngestionAborted,
    IngestionFailed,
    NotFound,
    RateLimited,
    ServerError,
)
from xdm_connector.client.events import ServerSentEvent
from xdm_connector.client.models import IngestionStatus


def test_a_token_is_renewed_a_tenth_of_its_life_before_it_ends() -> None:
    cache = calls.TokenCache()
    assert cache.current(now=0) is None
    assert cache.keep({"access_token": "t1", "expires_in": 1000}, now=0) == "t1"
    assert cache.current(now=899) == "t1"
    assert cache.current(now=900) is None


def test_a_long_lived_token_is_renewed_five_minutes_before_it_ends() -> None:
    cache = calls.TokenCache()
    cache.keep({"access_token": "t1", "expires_in": 86400}, now=0)
    assert cache.current(now=86099) == "t1"
    assert cache.current(now=86100) is None


def test_a_given_token_is_kept_and_cannot_be_renewed() -> None:
    cache = calls.TokenCache("fixed")
    assert cache.current(now=10**9) == "fixed"
    assert cache.forget() is False
    assert cache.current() == "fixed"


def test_a_token_answer_without_a_token_is_an_error() -> None:
    with pytest.raises(calls.ClientError, match="no access_token"):
        calls.TokenCache().keep({"token_type": "bearer"})


def test_path_segments_are_encoded_whole() -> None:
    assert calls.ingest_path("my org", "a/b") == (
        "/my%20org/campaign/dataIngestion/xdmIngestion/a%2Fb/ingest"
    )
    assert calls.events_path("o", "M").endswith("/xdmIngestion/M/ingest/events")
    assert calls.mappings_path("o", "M") == "/o/campaign/dataIngestion/xdmMapping/M"


def answer(status_code: int, body: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(status_code, json=body, headers=headers)


@pytest.mark.parametrize(
    ("status_code", "kind"),
    [(403, Forbidden), (404, NotFound), (409, Conflict), (503, ServerError), (418, ApiError)],
)
def test_error_answers_raise_their_kind_with_the_body(
    status_code: int, kind: type[ApiError]
) -> None:
    body = {"error_code": "XDMC-X", "message": "refused", "role": "sql"}
    with pytest.raises(kind) as raised:
        calls.body_of(answer(status_code, body))
    assert (raised.value.status_code, raised.value.body) == (status_code, body)
    assert (raised.value.code, raised.value.message) == ("XDMC-X", "refused")


def test_a_contract_body_gives_its_info_and_a_429_its_retry_after() -> None:
    with pytest.raises(RateLimited) as raised:
        calls.body_of(
            answer(429, {"info": "slow down", "status": "Failed"}, **{"Retry-After": "7"})
        )
    assert (raised.value.message, raised.value.code, raised.value.retry_after) == (
        "slow down",
        "HTTP-429",
        7.0,
    )


def test_an_answer_that_is_no_json_object_is_an_error() -> None:
    with pytest.raises(ApiError, match="no JSON object"):
        calls.body_of(httpx.Response(200, text="<html>"))


def test_events_of_another_request_or_kind_carry_no_status() -> None:
    body = '{"requestId": 7, "status": "Success", "numRecords": 3}'
    assert calls.event_status(ServerSentEvent(body), 7) == IngestionStatus.of(
        {"requestId": 7, "status": "Success", "numRecords": 3}
    )
    assert calls.event_status(ServerSentEvent(body), 8) is None
    assert calls.event_status(ServerSentEvent("ping"), 7) is None
    assert calls.event_status(ServerSentEvent('{"hello": 1}'), 7) is None


def test_checked_raises_for_failed_and_aborted_only() -> None:
    def of(state: str) -> IngestionStatus:
        return IngestionStatus.of({"requestId": 1, "status": state, "info": "x"})

    assert calls.checked(of("Success"), check=True).succeeded
    assert calls.checked(of("Failed"), check=False).status == "Failed"
    with pytest.raises(IngestionFailed):
        calls.checked(of("Failed"), check=True)
    with pytest.raises(IngestionAborted):
        calls.checked(of("Aborted"), check=True)
