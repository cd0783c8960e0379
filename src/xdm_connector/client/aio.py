"""``AsyncXdmClient``: the ingestion API of a remote xdm-connector, from asyncio code
(an Airflow trigger, a web service): ``XdmClient``'s calls, awaited.

::

    async with AsyncXdmClient("https://xdmc.example.com", org="acme",
                              client_id="...", client_secret=secret) as client:
        request = await client.trigger("XDM44")
        status = await client.wait("XDM44", request.request_id, timeout=3600)

It keeps its token and waits as ``XdmClient`` does; what to send and how to read the
answers is ``calls.ApiCalls``'s, this module only sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from xdm_connector.client import calls
from xdm_connector.client.models import IngestionStatus, Mapping, Submitted

__all__ = ["AsyncXdmClient"]


class AsyncXdmClient(calls.ApiCalls[httpx.AsyncBaseTransport, httpx.AsyncClient]):
    """An asynchronous client of one organization of an xdm-connector server (its
    arguments are ``calls.ApiCalls``'s; ``transport`` an async one)."""

    def _connect(
        self, base_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def __aenter__(self) -> AsyncXdmClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._http.aclose()

    # -- the API: ``XdmClient``'s, awaited

    async def token(self) -> str:
        """The bearer token in use, got (or renewed) when due."""
        current = self._tokens.current()
        if current is not None:
            return current
        answer = await self._send("POST", calls.TOKEN_PATH, data=self._token_form())
        return self._tokens.keep(calls.body_of(answer))

    async def trigger(self, mapping_id: str) -> Submitted:
        """As ``XdmClient.trigger``: the request created, or the one in progress."""
        answer = await self._call("POST", calls.ingest_path(self.org, mapping_id))
        return Submitted.of(calls.body_of(answer))

    async def status(self, mapping_id: str, request_id: int) -> IngestionStatus:
        """The request's status."""
        path, params = self._ingest_call(mapping_id, request_id)
        return calls.status_of(await self._call("GET", path, params=params))

    async def cancel(self, mapping_id: str, request_id: int) -> IngestionStatus:
        """As ``XdmClient.cancel``: cancel a request in progress."""
        path, params = self._ingest_call(mapping_id, request_id)
        return calls.status_of(await self._call("DELETE", path, params=params))

    async def mappings(self) -> list[Mapping]:
        """Every mapping of the organization, by id (page after page)."""
        pages = calls.MappingPages()
        path = calls.mappings_path(self.org)
        while True:
            page = calls.body_of(await self._call("GET", path, params=pages.next_params()))
            if pages.add(page):
                return pages.found

    async def mapping(self, mapping_id: str) -> Mapping:
        """One mapping."""
        answer = await self._call("GET", calls.mappings_path(self.org, mapping_id))
        return Mapping.of(calls.body_of(answer))

    async def wait(
        self, mapping_id: str, request_id: int, *, timeout: float | None = None, check: bool = True
    ) -> IngestionStatus:
        """As ``XdmClient.wait``: the request's last status once it ended (``check``
        raises for one that ended badly; ``WaitTimedOut`` after ``timeout`` seconds)."""
        deadline = calls.Deadline(timeout)
        status = await self._wait_streaming(mapping_id, request_id, deadline)
        if status is None:
            status = await self._wait_polling(mapping_id, request_id, deadline)
        return calls.checked(status, check)

    async def events(self, mapping_id: str, request_id: int) -> AsyncIterator[IngestionStatus]:
        """As ``XdmClient.events``: the request's statuses as its event stream sends them."""
        path, params = self._events_call(mapping_id, request_id)
        timeout = self._stream_timeout(calls.Deadline(None))
        try:
            async with self._stream(path, params, timeout) as answer:
                if not calls.is_event_stream(answer):
                    await answer.aread()
                    raise calls.no_stream(answer)
                reader = calls.StatusReader(request_id)
                async for line in answer.aiter_lines():
                    if (status := reader.feed(line)) is not None:
                        yield status
                        if status.ended:
                            return
        except httpx.TransportError as exc:
            raise self._transport_failed("GET", path, exc) from exc

    # -- waiting

    async def _wait_streaming(
        self, mapping_id: str, request_id: int, deadline: calls.Deadline
    ) -> IngestionStatus | None:
        """As ``XdmClient._wait_streaming``: ``None`` when the wait should poll."""
        path, params = self._events_call(mapping_id, request_id)
        for _attempt in range(calls.STREAM_ATTEMPTS):
            try:
                async with self._stream(path, params, self._stream_timeout(deadline)) as answer:
                    if calls.stream_missing(answer):
                        return None
                    ended = await self._ended_in_stream(answer, request_id, deadline)
                    if ended is not None:
                        return ended
            except httpx.TransportError:
                pass  # the stream broke: the status says whether the request is over
            status = await self.status(mapping_id, request_id)
            if deadline.settled(status, mapping_id, request_id):
                return status
            await asyncio.sleep(deadline.pause(calls.STREAM_PAUSE_SECONDS))
        return None

    async def _ended_in_stream(
        self, answer: httpx.Response, request_id: int, deadline: calls.Deadline
    ) -> IngestionStatus | None:
        """As ``XdmClient._ended_in_stream``: the status the request ended with, if the
        stream told it in time."""
        if calls.stream_refused(answer):
            await answer.aread()
            calls.body_of(answer)  # raises the answer's error
        if calls.is_event_stream(answer):
            reader = calls.StatusReader(request_id)
            async for line in answer.aiter_lines():
                status = reader.feed(line)
                if status is not None and status.ended:
                    return status
                if deadline.passed():
                    break
        return None

    async def _wait_polling(
        self, mapping_id: str, request_id: int, deadline: calls.Deadline
    ) -> IngestionStatus:
        delay = calls.FIRST_POLL_SECONDS
        while not deadline.settled(
            status := await self.status(mapping_id, request_id), mapping_id, request_id
        ):
            await asyncio.sleep(deadline.pause(delay))
            delay = calls.next_poll(delay, self._poll_max)
        return status

    # -- sending

    async def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **options)
        except httpx.TransportError as exc:
            raise self._transport_failed(method, path, exc) from exc

    async def _call(self, method: str, path: str, **options: Any) -> httpx.Response:
        """Send with the token; a refused token is renewed once and the call sent again."""
        answer = await self._send(
            method, path, headers=self._headers(await self.token()), **options
        )
        if answer.status_code == 401 and self._tokens.forget():
            token = await self.token()
            answer = await self._send(method, path, headers=self._headers(token), **options)
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
        headers = self._stream_headers(await self.token())
        request = self._http.build_request(
            "GET", path, params=params, headers=headers, timeout=timeout
        )
        return await self._http.send(request, stream=True)
