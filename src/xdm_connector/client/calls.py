"""What the synchronous and the asynchronous clients share: the API's paths, the token
kept between calls, reading answers, and the rules of waiting for a request to end.

Nothing here does I/O: ``XdmClient`` and ``AsyncXdmClient`` (both ``ApiCalls``) send what
this module builds and hand it what came back, so that they differ only in how they send.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from xdm_connector.client.errors import (
    ApiError,
    ClientError,
    ConnectionFailed,
    IngestionAborted,
    IngestionFailed,
    WaitTimedOut,
    api_error,
)
from xdm_connector.client.events import EVENT_STREAM, EventParser, ServerSentEvent
from xdm_connector.client.models import IngestionStatus, Mapping

TOKEN_PATH = "/ims/token/v3"  # noqa: S105 - a path, not a secret
PAGE_SIZE = 500
"""Mappings asked per page (the API's largest page)."""
FIRST_POLL_SECONDS = 0.2
POLL_GROWTH = 1.5
STREAM_ATTEMPTS = 3
"""How many times a wait opens the event stream (each break checks the status once, then
opens it again after a pause) before it polls to the end."""
STREAM_PAUSE_SECONDS = 1.0
STREAM_MISSING = frozenset({404, 405})
"""Answers of a server without the event stream: the wait polls the status instead (a
request or mapping that does not exist answers 404 to the status too, which says so)."""


def segment(value: str) -> str:
    """A path segment, percent-encoded whole (``/`` included)."""
    return quote(value, safe="")


def ingest_path(org: str, mapping_id: str) -> str:
    """``/{org}/campaign/dataIngestion/xdmIngestion/{mapping}/ingest``."""
    return f"/{segment(org)}/campaign/dataIngestion/xdmIngestion/{segment(mapping_id)}/ingest"


def events_path(org: str, mapping_id: str) -> str:
    """The request's status events: ``.../ingest/events``."""
    return f"{ingest_path(org, mapping_id)}/events"


def mappings_path(org: str, mapping_id: str | None = None) -> str:
    """``/{org}/campaign/dataIngestion/xdmMapping[/{mapping}]``."""
    path = f"/{segment(org)}/campaign/dataIngestion/xdmMapping"
    return path if mapping_id is None else f"{path}/{segment(mapping_id)}"


def token_form(client_id: str, client_secret: str) -> dict[str, str]:
    """The token request's form (OAuth 2.0 client credentials)."""
    return {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "client_credentials",
    }


class TokenCache:
    """The bearer token in use and when to get a new one: a tenth of its lifetime (at most
    five minutes) before it expires, so that no call goes out with a token about to end.

    A client given a fixed token (``token=``) keeps it for good.
    """

    RENEW_AHEAD_SECONDS = 300.0

    def __init__(self, token: str | None = None) -> None:
        self._token = token
        self._fixed = token is not None
        self._renew_at = float("inf")

    @property
    def fixed(self) -> bool:
        """Whether the token was given (no secret to renew it with)."""
        return self._fixed

    def current(self, now: float | None = None) -> str | None:
        """The token to send, or ``None`` when a new one is due."""
        now = time.monotonic() if now is None else now
        if self._token is None or (not self._fixed and now >= self._renew_at):
            return None
        return self._token

    def keep(self, body: Any, now: float | None = None) -> str:
        """Keep the token of a token answer (``access_token``, ``expires_in``)."""
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise ClientError("the token endpoint answered no access_token")
        now = time.monotonic() if now is None else now
        lifetime = body.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        self._token = body["access_token"]
        self._renew_at = now + max(0.0, seconds - min(self.RENEW_AHEAD_SECONDS, seconds / 10))
        return self._token

    def forget(self) -> bool:
        """Drop a token the server refused; whether a new one can be had."""
        if self._fixed:
            return False
        self._token = None
        return True


def headers(client_id: str, token: str) -> dict[str, str]:
    """What every call but the token's sends."""
    return {"Authorization": f"Bearer {token}", "X-Api-Key": client_id}


def body_of(response: httpx.Response) -> Any:
    """The answer's JSON body; ``ApiError`` for an error status."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        raise api_error(
            response.status_code, response.text, body, response.headers.get("Retry-After")
        )
    if not isinstance(body, dict):
        raise ApiError(
            "the server answered no JSON object",
            status_code=response.status_code,
            body=body,
            text=response.text,
        )
    return body


def status_of(response: httpx.Response) -> IngestionStatus:
    """The status in a status (or cancel) answer."""
    return IngestionStatus.of(body_of(response))


def stream_missing(response: httpx.Response) -> bool:
    """Whether the server has no event stream (the wait polls), or answers one that is
    no event stream (a proxy's page)."""
    if response.status_code in STREAM_MISSING:
        return True
    return response.status_code == 200 and not is_event_stream(response)


def stream_refused(response: httpx.Response) -> bool:
    """Whether the stream's answer is an error of the caller (401, 403, 400): the wait
    raises it. A 5xx counts as a broken stream."""
    return 400 <= response.status_code < 500 and response.status_code not in STREAM_MISSING


def no_stream(response: httpx.Response) -> ApiError:
    """The error of an answer (its body read) that is no event stream."""
    body_of(response)
    return ApiError(
        "the server answered no event stream",
        status_code=response.status_code,
        body=None,
        text=response.text,
    )


def parsed_status(parser: EventParser, line: str, request_id: int) -> IngestionStatus | None:
    """Feed one line of the stream; the status of the event it completes, if any."""
    event = parser.feed(line)
    return None if event is None else event_status(event, request_id)


def is_event_stream(response: httpx.Response) -> bool:
    """Whether the answer is an event stream (else the wait polls)."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return response.status_code == 200 and kind == EVENT_STREAM


def event_status(event: ServerSentEvent, request_id: int) -> IngestionStatus | None:
    """The status an event carries; ``None`` for an event of another kind."""
    try:
        body = json.loads(event.data)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        return None
    status = IngestionStatus.of(body)
    return status if status.request_id in (0, request_id) else None


class StatusReader:
    """The statuses of one request read from the lines of its event stream."""

    def __init__(self, request_id: int) -> None:
        self._parser = EventParser()
        self._request_id = request_id

    def feed(self, line: str) -> IngestionStatus | None:
        """Feed one line; the status of the event it completes, if any."""
        return parsed_status(self._parser, line, self._request_id)


class MappingPages:
    """The mappings of an organization gathered page after page."""

    def __init__(self) -> None:
        self.found: list[Mapping] = []

    def next_params(self) -> dict[str, int]:
        """The query of the next page to ask."""
        return {"_lineCount": PAGE_SIZE, "_lineStart": len(self.found)}

    def add(self, page: dict[str, Any]) -> bool:
        """Keep a page's mappings; whether it was the last page."""
        content = page.get("content") or []
        self.found.extend(Mapping.of(item) for item in content if isinstance(item, dict))
        total = (page.get("count") or {}).get("value", 0)
        return not content or len(self.found) >= total


def checked(status: IngestionStatus, check: bool) -> IngestionStatus:
    """``status``, or (with ``check``) the error of a request that ended badly."""
    if check and status.status == "Aborted":
        raise IngestionAborted(status)
    if check and status.ended and not status.succeeded:
        raise IngestionFailed(status)
    return status


@dataclass
class Deadline:
    """When a wait gives up (``seconds`` ``None``: never)."""

    seconds: float | None

    def __post_init__(self) -> None:
        self._end = None if self.seconds is None else time.monotonic() + self.seconds

    def left(self) -> float | None:
        """Seconds left (never below 0), or ``None`` without a limit."""
        return None if self._end is None else max(0.0, self._end - time.monotonic())

    def passed(self) -> bool:
        """Whether the time is up."""
        left = self.left()
        return left is not None and left <= 0

    def pause(self, wanted: float) -> float:
        """How long to sleep for ``wanted`` seconds without going past the deadline."""
        left = self.left()
        return wanted if left is None else min(wanted, left)

    def settled(self, status: IngestionStatus, mapping_id: str, request_id: int) -> bool:
        """Whether the wait is over with ``status`` (the request ended); ``WaitTimedOut``
        when the time is up first."""
        if status.ended:
            return True
        if self.passed():
            raise self.timed_out(mapping_id, request_id, status)
        return False

    def timed_out(
        self, mapping_id: str, request_id: int, last: IngestionStatus | None
    ) -> WaitTimedOut:
        """The error for a wait that ran out."""
        return WaitTimedOut(
            f"request {request_id} of mapping {mapping_id} still in progress after "
            f"{self.seconds:g} s",
            last,
        )


def next_poll(delay: float, most: float) -> float:
    """The pause after ``delay``: half as long again, up to ``most``."""
    return min(delay * POLL_GROWTH, most)


def stream_timeout(timeout: float, read: float, deadline: Deadline) -> httpx.Timeout:
    """The event stream's time limits: ``read`` between two lines (the server's keep-alive
    comments come sooner), never past the wait's deadline."""
    left = deadline.left()
    return httpx.Timeout(timeout, read=read if left is None else max(0.1, min(read, left)))


TransportT = TypeVar("TransportT")
HttpT = TypeVar("HttpT")


class ApiCalls(ABC, Generic[TransportT, HttpT]):
    """The calls to one organization of an xdm-connector server, built and read without
    I/O; a subclass sends them over its httpx client (``HttpT``, made with ``TransportT``).

    ``client_secret`` (or a ready ``token``) authenticates the integration ``client_id``;
    ``timeout`` bounds each call; ``poll_max_seconds`` is the longest pause between two
    status reads while waiting; ``stream_read_timeout`` the longest silence of the event
    stream before the wait checks the status itself. ``transport`` is httpx's (tests).
    """

    def __init__(
        self,
        base_url: str,
        *,
        org: str,
        client_id: str,
        client_secret: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        poll_max_seconds: float = 5.0,
        stream_read_timeout: float = 60.0,
        transport: TransportT | None = None,
    ) -> None:
        if (client_secret is None) == (token is None):
            raise ValueError("give client_secret or token, not both nor neither")
        self.org = org
        self.client_id = client_id
        self._secret = client_secret
        self._tokens = TokenCache(token)
        self._timeout = timeout
        self._poll_max = poll_max_seconds
        self._stream_read = stream_read_timeout
        self._http: HttpT = self._connect(base_url.rstrip("/"), timeout, transport)

    @abstractmethod
    def _connect(self, base_url: str, timeout: float, transport: TransportT | None) -> HttpT:
        """The httpx client the calls go over (sync or async: the subclass says)."""

    def _token_form(self) -> dict[str, str]:
        assert self._secret is not None  # a fixed token is always current
        return token_form(self.client_id, self._secret)

    def _headers(self, token: str) -> dict[str, str]:
        return headers(self.client_id, token)

    def _stream_headers(self, token: str) -> dict[str, str]:
        return {**headers(self.client_id, token), "Accept": EVENT_STREAM}

    def _ingest_call(self, mapping_id: str, request_id: int) -> tuple[str, dict[str, Any]]:
        """The path and query of a request's status (GET) or cancel (DELETE)."""
        return ingest_path(self.org, mapping_id), {"requestId": request_id}

    def _events_call(self, mapping_id: str, request_id: int) -> tuple[str, dict[str, Any]]:
        """The path and query of a request's event stream."""
        return events_path(self.org, mapping_id), {"requestId": request_id}

    def _stream_timeout(self, deadline: Deadline) -> httpx.Timeout:
        return stream_timeout(self._timeout, self._stream_read, deadline)

    def _transport_failed(self, method: str, path: str, exc: Exception) -> ClientError:
        """The error of a call that got no answer."""
        return ConnectionFailed(f"{method} {path}: {type(exc).__name__}: {exc}")
