"""What the synchronous and the asynchronous clients share: the API's paths, the token
kept between calls, reading answers, and the rules of waiting for a request to end.

Nothing here does I/O: ``XdmClient`` and ``AsyncXdmClient`` send what this module builds
and hand it what came back.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from xdm_connector.client.errors import (
    ApiError,
    ClientError,
    IngestionAborted,
    IngestionFailed,
    WaitTimedOut,
    api_error,
)
from xdm_connector.client.events import EVENT_STREAM, EventParser, ServerSentEvent
from xdm_connector.client.models import IngestionStatus

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
