"""``AsyncXdmClient``: the ingestion API of a remote xdm-connector, from asyncio code
(an Airflow trigger, a web service): ``XdmClient``'s calls, awaited.

::

    async with AsyncXdmClient("https://xdmc.example.com", org="acme",
                              client_id="...", client_secret=secret) as client:
        request = await client.trigger("XDM44")
        status = await client.wait("XDM44", request.request_id, timeout=3600)

The client gets a bearer token from the token endpoint with the integration's client id
and secret, keeps it, and gets a new one before it expires (or when the server refuses
it). ``wait`` follows the request's event stream, and polls its status when the server
has no stream or the stream breaks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import httpx

from xdm_connector.client import calls
from xdm_connector.client.errors import ConnectionFailed
from xdm_connector.client.events import EVENT_STREAM, EventParser
from xdm_connector.client.models import IngestionStatus, Mapping, Submitted

__all__ = ["AsyncXdmClient"]


class AsyncXdmClient:
    """An asynchronous client of one organization of an xdm-connector server.

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
        transport: httpx.AsyncBaseTransport | None = None,
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
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncXdmClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._http.aclose()

    # -- the API

    async def token(self) -> str:
        """The bearer token in use, got (or renewed) when due."""
        current = self._tokens.current()
        if current is not None:
            return current
        assert self._secret is not None  # a fixed token is always current
        answer = await self._send(
            "POST", calls.TOKEN_PATH, data=calls.token_form(self.client_id, self._secret)
        )
        return self._tokens.keep(calls.body_of(answer))

    async def trigger(self, mapping_id: str) -> Submitted:
        """Trigger an immediate ingestion of a published, stopped mapping; the request
        created, or the one already in progress (``Submitted.created`` says which)."""
        answer = await self._call("POST", calls.ingest_path(self.org, mapping_id))
        return Submitted.of(calls.body_of(answer))

    async def status(self, mapping_id: str, request_id: int) -> IngestionStatus:
        """The request's status."""
        params = {"requestId": request_id}
        answer = await self._call("GET", calls.ingest_path(self.org, mapping_id), params=params)
        return calls.status_of(answer)

    async def cancel(self, mapping_id: str, request_id: int) -> IngestionStatus:
        """Cancel a request in progress (it ends ``Aborted``); a request that has ended
        answers its status unchanged."""
        params = {"requestId": request_id}
        answer = await self._call("DELETE", calls.ingest_path(self.org, mapping_id), params=params)
        return calls.status_of(answer)

    async def mappings(self) -> list[Mapping]:
        """Every mapping of the organization, by id (page after page)."""
        found: list[Mapping] = []
        while True:
            params = {"_lineCount": calls.PAGE_SIZE, "_lineStart": len(found)}
            page = calls.body_of(
                await self._call("GET", calls.mappings_path(self.org), params=params)
            )
            content = page.get("content") or []
            found.extend(Mapping.of(item) for item in content if isinstance(item, dict))
            total = (page.get("count") or {}).get("value", 0)
            if not content or len(found) >= total:
                return found

    async def mapping(self, mapping_id: str) -> Mapping:
        """One mapping."""
        answer = await self._call("GET", calls.mappings_path(self.org, mapping_id))
        return Mapping.of(calls.body_of(answer))

    async def wait(
        self, mapping_id: str, request_id: int, *, timeout: float | None = None, check: bool = True
    ) -> IngestionStatus:
        """Wait until the request ends, and answer its last status.

        With ``check`` (the default) a request that ended ``Failed`` raises
        ``IngestionFailed``, one that ended ``Aborted`` ``IngestionAborted``, both holding
        the status body. ``WaitTimedOut`` after ``timeout`` seconds (``None``: no limit).
        """
        deadline = calls.Deadline(timeout)
        status = await self._wait_streaming(mapping_id, request_id, deadline)
        if status is None:
            status = await self._wait_polling(mapping_id, request_id, deadline)
        return calls.checked(status, check)

    async def events(self, mapping_id: str, request_id: int) -> AsyncIterator[IngestionStatus]:
        """The request's statuses as its event stream sends them, until it ends; an
        ``ApiError`` when the server answers no stream, ``ConnectionFailed`` when it
        breaks."""
        params = {"requestId": request_id}
        path = calls.events_path(self.org, mapping_id)
        timeout = calls.stream_timeout(self._timeout, self._stream_read, calls.Deadline(None))
        try:
            async with self._stream(path, params, timeout) as response:
                if not calls.is_event_stream(response):
                    await response.aread()
                    raise calls.no_stream(response)
                parser = EventParser()
                async for line in response.aiter_lines():
                    status = calls.parsed_status(parser, line, request_id)
                    if status is not None:
                        yield status
                        if status.ended:
                            return
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"GET {path}: {type(exc).__name__}: {exc}") from exc

    # -- waiting

    async def _wait_streaming(
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
                async with self._stream(path, params, timeout) as response:
                    if calls.stream_missing(response):
                        return None
                    if calls.stream_refused(response):
                        await response.aread()
                        calls.body_of(response)  # raises the answer's error
                    if calls.is_event_stream(response):
                        parser = EventParser()
                        async for line in response.aiter_lines():
                            status = calls.parsed_status(parser, line, request_id)
                            if status is not None:
                                last = status
                                if status.ended:
                                    return status
                            if deadline.passed():
                                break  # the status read below decides
            except httpx.TransportError:
                pass  # the stream broke: the status says whether the request is over
            last = await self.status(mapping_id, request_id)
            if last.ended:
                return last
            if deadline.passed():
                raise deadline.timed_out(mapping_id, request_id, last)
            await asyncio.sleep(deadline.pause(calls.STREAM_PAUSE_SECONDS))
        return None

    async def _wait_polling(
        self, mapping_id: str, request_id: int, deadline: calls.Deadline
    ) -> IngestionStatus:
        delay = calls.FIRST_POLL_SECONDS
        while True:
            status = await self.status(mapping_id, request_id)
            if status.ended:
                return status
            if deadline.passed():
                raise deadline.timed_out(mapping_id, request_id, status)
            await asyncio.sleep(deadline.pause(delay))
            delay = calls.next_poll(delay, self._poll_max)

    # -- sending

    async def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **options)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    async def _call(self, method: str, path: str, **options: Any) -> httpx.Response:
        """Send with the token; a refused token is renewed once and the call sent again."""
        answer = await self._send(
            method, path, headers=calls.headers(self.client_id, await self.token()), **options
        )
        if answer.status_code == 401 and self._tokens.forget():
            answer = await self._send(
                method, path, headers=calls.headers(self.client_id, await self.token()), **options
            )
        return answer

    @asynccontextmanager
    async def _stream(
        self, path: str, params: dict[str, Any], timeout: httpx.Timeout
    ) -> AsyncIterator[httpx.Response]:
        """An event stream's answer, asked with the token (renewed once when refused)."""
        response = await self._open_stream(path, params, timeout)
        if response.status_code == 401 and self._tokens.forget():
            await response.aclose()
            response = await self._open_stream(path, params, timeout)
        try:
            yield response
        finally:
            await response.aclose()

    async def _open_stream(
        self, path: str, params: dict[str, Any], timeout: httpx.Timeout
    ) -> httpx.Response:
        request = self._http.build_request(
            "GET",
            path,
            params=params,
            headers={**calls.headers(self.client_id, await self.token()), "Accept": EVENT_STREAM},
            timeout=timeout,
        )
        return await self._http.send(request, stream=True)
