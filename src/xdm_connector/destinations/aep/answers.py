"""The platform's answers as errors: what is transient, what is terminal, and why.

Every answer that is not a success becomes a ``PlatformError`` (a ``DestinationError``):

- time-outs and connection failures, ``429`` and ``5xx`` are transient (``Retry-After``,
  in seconds or as an HTTP date, is kept as ``retry_after``);
- ``401`` on a platform call is transient too: the token is dropped, the next attempt gets
  a new one (``client``);
- any other ``4xx`` is terminal, with the gateway's or the API's code and message
  (``{"error_code": "403003", "message": "Api Key is invalid"}``, or
  ``{"title": ..., "status": 400, "detail": ...}``).
"""

from __future__ import annotations

import email.utils
import time

import httpx

from xdm_connector.errors import DestinationError

_MESSAGE_LIMIT = 500


class PlatformError(DestinationError):
    """The platform (or its IMS) refused a call, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        batch_id: str = "",
        transient: bool = False,
        status_code: int | None = None,
        error_code: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, batch_id=batch_id, transient=transient)
        self.status_code = status_code
        self.error_code = error_code
        self.retry_after = retry_after


def transport_error(service: str, exc: httpx.HTTPError) -> PlatformError:
    """A time-out or connection failure, as a transient error."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be reached"
    return PlatformError(f"{service} {kind} ({type(exc).__name__})", transient=True)


def raise_for_answer(response: httpx.Response, service: str) -> None:
    """Raise the ``PlatformError`` an unsuccessful answer stands for."""
    status = response.status_code
    if status < 400:
        return
    code, message = _error_of(response)
    text = f"{service} answered {status}" + (f" {code}" if code else "") + f": {message}"
    raise PlatformError(
        text,
        transient=status == 429 or status >= 500,
        status_code=status,
        error_code=code,
        retry_after=_retry_after(response.headers.get("retry-after")),
    )


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The code and message of an error answer, whatever its shape."""
    try:
        document = response.json()
    except ValueError:
        return "", response.text[:_MESSAGE_LIMIT] or response.reason_phrase
    if not isinstance(document, dict):
        return "", str(document)[:_MESSAGE_LIMIT]
    code = (
        document.get("error_code")
        or document.get("code")
        or document.get("type")
        or document.get("error")
        or ""
    )
    message = (
        document.get("message")
        or document.get("detail")
        or document.get("error_description")
        or document.get("title")
        or response.reason_phrase
    )
    return str(code), str(message)[:_MESSAGE_LIMIT]


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds, or an HTTP date from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
