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
has no stream or the stream breaks. What to send and how to read the answers is
``calls.ApiCalls``'s; this module only sends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from xdm_connector.client import calls
from xdm_connector.client.models import IngestionStatus, Mapping, Submitted

__all__ = ["XdmClient"]


class XdmClient(calls.ApiCalls[httpx.BaseTransport, httpx.Client]):
    """A synchronous client of one organization of an xdm-connector server (its
    arguments are ``calls.ApiCalls``'s)."""

    def _connect(
        self, base_url: str, timeout: float, transport: httpx.BaseTransport | None
    ) -> httpx.Client:
        return httpx.Client(base_url=base_url, timeout=timeout, transport=transport)

    def __enter__(self) -> XdmClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
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
        answer = self._send("POST", calls.TOKEN_PATH, data=self._token_form())
        return self._tokens.keep(calls.body_of(answer))

    def trigger(self, mapping_id: str) -> Submitted:
        """Trigger an immediate ingestion of a published, stopped mapping; the request
        created, or the one already in progress (``Submitted.created`` says which)."""
        answer = self._call("POST", calls.ingest_path(self.org, mapping_id))
        return Submitted.of(calls.body_of(answer))

    def status(self, mapping_id: str, request_id: int) -> IngestionStatus:
        """The request's status."""
        path, params = self._ingest_call(mapping_id, request_id)
        return calls.status_of(self._call("GET", path, params=params))

    def cancel(self, mapping_id: str, request_id: int) -> IngestionStatus:
        """Cancel a request in progress (it ends ``Aborted``); a request that has ended
        answers its status unchanged."""
        path, params = self._ingest_call(mapping_id, request_id)
        return calls.status_of(self._call("DELETE", path, params=params))

    def mappings(self) -> list[Mapping]:
        """Every mapping of the organization, by id (page after page)."""
        pages = calls.MappingPages()
        path = calls.mappings_path(self.org)
        while True:
            page = calls.body_of(self._call("GET", path, params=pages.next_params()))
            if pages.add(page):
                return pages.found

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
        path, params = self._events_call(mapping_id, request_id)
        try:
            with self._stream(path, params, self._stream_timeout(calls.Deadline(None))) as answer:
                if not calls.is_event_stream(answer):
                    answer.read()
                    raise calls.no_stream(answer)
                reader = calls.StatusReader(request_id)
                for status in map(reader.feed, answer.iter_lines()):
                    if status is not None:
                        yield status
                        if status.ended:
                            return
        except httpx.TransportError as exc:
            raise self._transport_failed("GET", path, exc) from exc

    # -- waiting

    def _wait_streaming(
        self, mapping_id: str, request_id: int, deadline: calls.Deadline
    ) -> IngestionStatus | None:
        """The request's last status read from its event stream; ``None`` when the
        server has none, or it broke too often: then the wait polls."""
        path, params = self._events_call(mapping_id, request_id)
        for _attempt in range(calls.STREAM_ATTEMPTS):
            try:
                with self._stream(path, params, self._stream_timeout(deadline)) as answer:
                    if calls.stream_missing(answer):
                        return None
                    ended = self._ended_in_stream(answer, request_id, deadline)
                    if ended is not None:
                        return ended
            except httpx.TransportError:
                pass  # the stream broke: the status says whether the request is over
            status = self.status(mapping_id, request_id)
            if deadline.settled(status, mapping_id, request_id):
                return status
            time.sleep(deadline.pause(calls.STREAM_PAUSE_SECONDS))
        return None

    def _ended_in_stream(
        self, answer: httpx.Response, request_id: int, deadline: calls.Deadline
    ) -> IngestionStatus | None:
        """The status the request ended with, read from the stream; ``None`` when the
        stream ended first, or the time is up (the status read after decides)."""
        if calls.stream_refused(answer):
            answer.read()
            calls.body_of(answer)  # raises the answer's error
        if not calls.is_event_stream(answer):
            return None
        reader = calls.StatusReader(request_id)
        for line in answer.iter_lines():
            status = reader.feed(line)
            if status is not None and status.ended:
                return status
            if deadline.passed():
                return None
        return None

    def _wait_polling(
        self, mapping_id: str, request_id: int, deadline: calls.Deadline
    ) -> IngestionStatus:
        delay = calls.FIRST_POLL_SECONDS
        status = self.status(mapping_id, request_id)
        while not deadline.settled(status, mapping_id, request_id):
            time.sleep(deadline.pause(delay))
            delay = calls.next_poll(delay, self._poll_max)
            status = self.status(mapping_id, request_id)
        return status

    # -- sending

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **options)
        except httpx.TransportError as exc:
            raise self._transport_failed(method, path, exc) from exc

    def _call(self, method: str, path: str, **options: Any) -> httpx.Response:
        """Send with the token; a refused token is renewed once and the call sent again."""
        answer = self._send(method, path, headers=self._headers(self.token()), **options)
        if answer.status_code == 401 and self._tokens.forget():
            answer = self._send(method, path, headers=self._headers(self.token()), **options)
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
            "GET", path, params=params, headers=self._stream_headers(self.token()), timeout=timeout
        )
        return self._http.send(request, stream=True)
