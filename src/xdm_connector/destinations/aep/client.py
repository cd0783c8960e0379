"""Authenticated HTTP calls to the platform: the four headers, a token, retries by policy.

An answer that is not a success raises the ``PlatformError`` of ``answers``; a ``401``
drops the token, so that the next attempt asks IMS for a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpx

from xdm_connector.destinations.aep.answers import PlatformError, raise_for_answer, transport_error
from xdm_connector.destinations.aep.ims import ImsTokens
from xdm_connector.retry import RetryPolicy

T = TypeVar("T")


class PlatformApi:
    """Authenticated calls to one platform, organization and sandbox, retried by policy."""

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        *,
        api_key: str,
        ims_org_id: str,
        sandbox: str,
        tokens: ImsTokens,
        policy: RetryPolicy,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self._tokens = tokens
        self._headers = {
            "x-api-key": api_key,
            "x-gw-ims-org-id": ims_org_id,
            "x-sandbox-name": sandbox.lower(),
        }

    def call(
        self,
        method: str,
        path: str,
        *,
        batch_id: str = "",
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content: Callable[[], Iterable[bytes] | bytes] | None = None,
    ) -> httpx.Response:
        """``method path`` until it succeeds or the policy gives up; ``content`` makes the
        body anew for each attempt (a file read again from the start)."""

        def attempt() -> httpx.Response:
            try:
                response = self.client.request(
                    method,
                    self.base_url + path,
                    json=json,
                    params=params,
                    headers=self._sent(headers),
                    content=content() if content is not None else None,
                )
            except httpx.HTTPError as exc:
                raise _with_batch(transport_error("the platform", exc), batch_id) from exc
            self._check(response, batch_id)
            return response

        return self.policy.call(attempt, what=f"{method} {path}")

    def lines(
        self,
        path: str,
        keep: Callable[[bytes], T],
        *,
        limit: int | None = None,
        batch_id: str = "",
        params: dict[str, str] | None = None,
    ) -> list[T]:
        """What ``keep`` makes of each of the first ``limit`` (``None``: every) non-blank
        line of a JSON Lines answer to ``GET path``, read as they come, so that only what
        is kept of each line is held; retried as ``call`` (an attempt starts over)."""

        def attempt() -> list[T]:
            kept: list[T] = []
            try:
                with self.client.stream(
                    "GET", self.base_url + path, params=params, headers=self._sent(None)
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        self._check(response, batch_id)
                    for line in response.iter_lines():
                        if line.strip():
                            kept.append(keep(line.encode()))
                        if limit is not None and len(kept) >= limit:
                            break
            except httpx.HTTPError as exc:
                raise _with_batch(transport_error("the platform", exc), batch_id) from exc
            return kept

        return self.policy.call(attempt, what=f"GET {path}")

    def _sent(self, headers: dict[str, str] | None) -> dict[str, str]:
        """The headers of a call: the four of every call, ``headers``, a token."""
        sent = {**self._headers, **(headers or {})}
        sent["Authorization"] = f"Bearer {self._tokens.token()}"
        return sent

    def _check(self, response: httpx.Response, batch_id: str) -> None:
        """Raise the ``PlatformError`` of an unsuccessful answer; a ``401`` drops the token."""
        if response.status_code == 401:
            self._tokens.invalidate()
            raise PlatformError("the platform refused the token", batch_id=batch_id, transient=True)
        try:
            raise_for_answer(response, "the platform")
        except PlatformError as exc:
            raise _with_batch(exc, batch_id) from None


def _with_batch(error: PlatformError, batch_id: str) -> PlatformError:
    error.batch_id = error.batch_id or batch_id
    return error
