"""``XdmClient``: the ingestion API of a remote xdm-connector, from synchronous code.

::

    with XdmClient("https://xdmc.example.com", org="acme",
                   client_id="...", client_secret=os.environ["XDMC_CLIENT_SECRET"]) as client:
        request = client.trigger("XDM44")
        status = client.wait("XDM44", request.request_id, timeout=3600)
        print(status.num_records)

The client gets a bearer token from the token endpoint with the integration's client id
and secret, keeps it, and gets a new one before it expires (or when the server refuses
it). ``wait`` follows the request's event stream, and polls its status when the server
has no stream or the stream breaks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import httpx

from xdm_connector.client import calls
from xdm_connector.client.errors import ConnectionFailed
from xdm_connector.client.events import EVENT_STREAM, EventParser
from xdm_connector.client.models import IngestionStatus, Mapping, Submitted

__all__ = ["XdmClient"]


class XdmClient:
    """A synchronous client of one organization of an xdm-connector server.

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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if (client_secret is None) == (token is None):
            raise ValueError("give client_secret or token, not both nor neither")
        self.org = org
        self.client_id = client_id
        self._secret = client_secret
        self._tokens = calls.TokenCache(token)
        self._timeout = timeout
        self._poll_max = poll_max_seconds
        self._stream_read = stream_read_timeout
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    def __enter__(self) -> XdmClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the client's connections."""
        self._http.close()

    # -- the API

    def token(self) -> str:
        """The bearer token in use, got (or renewed) when due."""
        current = self._tokens.current()
        if current is not None:
            return current
        assert self._secret is not None  # a fixed token is always current
        answer = self._send(
            "POST", calls.TOKEN_PATH, data=calls.token_form(self.client_id, self._secret)
        )
        return self._tokens.keep(calls.body_of(answer))

    def trigger(self, mapping_id: str) -> Submitted:
        """Trigger an immediate ingestion of a published, stopped mapping; the request
        created, or the one already in progress (``Submitted.created`` says which)."""
        answer = self._call("POST", calls.ingest_path(self.org, mapping_id))
        return Submitted.of(calls.body_of(answer))

    def status(self, mapping_id: str, request_id: int) -> IngestionStatus:
        """The request's status."""
        params = {"requestId": request_id}
        answer = self._call("GET", calls.ingest_path(self.org, mapping_id), params=params)
        return calls.status_of(answer)

    def cancel(self, mapping_id: str, request_id: int) -> IngestionStatus:
        """Cancel a request in progress (it ends ``Aborted``); a request that has ended
        answers its status unchanged."""
        params = {"requestId": request_id}
        answer = self._call("DELETE", calls.ingest_path(self.org, mapping_id), params=params)
        return calls.status_of(answer)

    def mappings(self) -> list[Mapping]:
        """Every mapping of the organization, by id (page after page)."""
        found: list[Mapping] = []
        while True:
            params = {"_lineCount": calls.PAGE_SIZE, "_lineStart": len(found)}
            page = calls.body_of(self._call("GET", calls.mappings_path(self.org), params=params))
            content = page.get("content") or []
            found.extend(Mapping.of(item) for item in content if isinstance(item, dict))
            total = (page.get("count") or {}).get("value", 0)
            if not content or len(found) >= total:
                return found

    def mapping(self, mapping_id: str) -> Mapping:
        """One mapping."""
        answer = self._call("GET", calls.mappings_path(self.org, mapping_id))
        return Mapping.of(calls.body_of(answer))

    def wait(
        self, mapping_id: str, request_id: int, *, timeout: float | None = None, check: bool = True
    ) -> IngestionStatus:
        """Wait until the request ends, and answer its last status.

        With ``check`` (the default) a request that ended ``Failed`` raises
        ``IngestionFailed``, one that ended ``Aborted`` ``IngestionAborted``, both holding
        the status body. ``WaitTimedOut`` after ``timeout`` seconds (``None``: no limit).
        """
        deadline = calls.Deadline(timeout)
        status = self._wait_streaming(mapping_id, request_id, deadline)
        if status is None:
            status = self._wait_polling(mapping_id, request_id, deadline)
        return calls.checked(status, check)

    def events(self, mapping_id: str, request_id: int) -> Iterator[IngestionStatus]:
        """The request's statuses as its event stream sends them, until it ends; an
        ``ApiError`` when the server answers no stream, ``ConnectionFailed`` when it
        breaks."""
        params = {"requestId": request_id}
        path = calls.events_path(self.org, mapping_id)
        timeout = calls.stream_timeout(self._timeout, self._stream_read, calls.Deadline(None))
        try:
            with self._stream(path, params, timeout) as response:
                if not calls.is_event_stream(response):
                    response.read()
                    raise calls.no_stream(response)
                parser = EventParser()
                for line in response.iter_lines():
                    status = calls.parsed_status(parser, line, request_id)
                    if status is not None:
                        yield status
                        if status.ended:
                            return
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"GET {path}: {type(exc).__name__}: {exc}") from exc

    # -- waiting

    def _wait_streaming(
        self, mapping_id: str, request_id: int, deadline: calls.Deadline
    ) -> IngestionStatus | None:
        """The request's last status read from its event stream; ``None`` when the
        server has none, or it broke too often: then the wait polls."""
        params = {"requestId": request_id}
        path = calls.events_path(self.org, mapping_id)
        last: IngestionStatus | None = None
        for _attempt in range(calls.STREAM_ATTEMPTS):
            timeout = calls.stream_timeout(self._timeout, self._stream_read, deadline)
            try:
                with self._stream(path, params, timeout) as response:
                    if calls.stream_missing(response):
                        return None
                    if calls.stream_refused(response):
                        response.read()
                        calls.body_of(response)  # raises the answer's error
                    if calls.is_event_stream(response):
                        parser = EventParser()
                        for line in response.iter_lines():
                            status = calls.parsed_status(parser, line, request_id)
                            if status is not None:
                                last = status
                                if status.ended:
                                    return status
                            if deadline.passed():
                                break  # the status read below decides
            except httpx.TransportError:
                pass  # the stream broke: the status says whether the request is over
            last = self.status(mapping_id, request_id)
            if last.ended:
                return last
            if deadline.passed():
                raise deadline.timed_out(mapping_id, request_id, last)
            time.sleep(deadline.pause(calls.STREAM_PAUSE_SECONDS))
        return None

    def _wait_polling(
        self, mapping_id: str, request_id: int, deadline: calls.Deadline
    ) -> IngestionStatus:
        delay = calls.FIRST_POLL_SECONDS
        while True:
            status = self.status(mapping_id, request_id)
            if status.ended:
                return status
            if deadline.passed():
                raise deadline.timed_out(mapping_id, request_id, status)
            time.sleep(deadline.pause(delay))
            delay = calls.next_poll(delay, self._poll_max)

    # -- sending

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **options)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    def _call(self, method: str, path: str, **options: Any) -> httpx.Response:
        """Send with the token; a refused token is renewed once and the call sent again."""
        answer = self._send(
            method, path, headers=calls.headers(self.client_id, self.token()), **options
        )
        if answer.status_code == 401 and self._tokens.forget():
            answer = self._send(
                method, path, headers=calls.headers(self.client_id, self.token()), **options
            )
        return answer

    @contextmanager
    def _stream(
        self, path: str, params: dict[str, Any], timeout: httpx.Timeout
    ) -> Iterator[httpx.Response]:
        """An event stream's answer, asked with the token (renewed once when refused)."""
        response = self._open_stream(path, params, timeout)
        if response.status_code == 401 and self._tokens.forget():
            response.close()
            response = self._open_stream(path, params, timeout)
        try:
            yield response
        finally:
            response.close()

    def _open_stream(
        self, path: str, params: dict[str, Any], timeout: httpx.Timeout
    ) -> httpx.Response:
        request = self._http.build_request(
            "GET",
            path,
            params=params,
            headers={**calls.headers(self.client_id, self.token()), "Accept": EVENT_STREAM},
            timeout=timeout,
        )
        return self._http.send(request, stream=True)
