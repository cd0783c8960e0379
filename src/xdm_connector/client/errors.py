"""What the client raises: an answer the server refused, or a request that ended badly.

::

    ClientError                    (an ``XdmcError``: ``code``, ``message``)
    ├── ApiError                   the server answered an error: ``status_code``, ``body``
    │   ├── InvalidRequest         400
    │   ├── Unauthorized           401: bad credentials, or a token it no longer takes
    │   ├── Forbidden              403: the integration lacks a role (``role``)
    │   ├── NotFound               404: no such mapping or request in the organization
    │   ├── Conflict               409: the mapping is not published, or not stopped
    │   ├── RateLimited            429: too many failed token requests (``retry_after``)
    │   └── ServerError            5xx
    ├── ConnectionFailed           no answer at all (refused, reset, timed out)
    ├── IngestionFailed            the request ended ``Failed``: ``status``, its body
    │   └── IngestionAborted       the request ended ``Aborted``
    └── WaitTimedOut               the request still ran when the wait ran out

Every error that stems from an answer keeps that answer's body as it came (``body``, or
``status.body``), so that whoever reports it shows the server's own words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xdm_connector.errors import XdmcError

if TYPE_CHECKING:
    from xdm_connector.client.models import IngestionStatus

__all__ = [
    "ApiError",
    "ClientError",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "IngestionAborted",
    "IngestionFailed",
    "InvalidRequest",
    "NotFound",
    "RateLimited",
    "ServerError",
    "Unauthorized",
    "WaitTimedOut",
]


class ClientError(XdmcError):
    """Root of what the client raises."""

    code = "XDMC-CLIENT"


class ApiError(ClientError):
    """The server answered with an error status; ``body`` is its JSON body (or ``None``)
    and ``text`` the body as it came."""

    def __init__(
        self, message: str, *, status_code: int, body: Any, text: str, code: str | None = None
    ) -> None:
        super().__init__(message, code=code or f"HTTP-{status_code}")
        self.status_code = status_code
        self.body = body
        self.text = text

    def __str__(self) -> str:
        return f"{self.status_code} {self.code}: {self.message}"


class InvalidRequest(ApiError):
    """400: the server refused the request as given."""


class Unauthorized(ApiError):
    """401: the credentials, or the token obtained with them, are refused."""


class Forbidden(ApiError):
    """403: the integration's groups lack ``role``."""

    @property
    def role(self) -> str | None:
        """The missing role, as the answer names it (``sql``)."""
        role = self.body.get("role") if isinstance(self.body, dict) else None
        return role if isinstance(role, str) else None


class NotFound(ApiError):
    """404: no such mapping or request in the organization (or another organization's)."""


class Conflict(ApiError):
    """409: the mapping's state forbids the action (not published, not stopped)."""


class RateLimited(ApiError):
    """429: too many failed attempts; ``retry_after`` seconds until the server takes more."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any,
        text: str,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body, text=text, code=code)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed to answer."""


class ConnectionFailed(ClientError):
    """The server could not be reached, or did not answer in time."""

    code = "XDMC-CLIENT-CONNECTION"


class IngestionFailed(ClientError):
    """The ingestion request ended ``Failed``; ``status`` holds its status body."""

    code = "XDMC-CLIENT-FAILED"

    def __init__(self, status: IngestionStatus) -> None:
        super().__init__(
            f"request {status.request_id} ended {status.status}: {status.info} "
            f"(status: {status.json()})"
        )
        self.status = status


class IngestionAborted(IngestionFailed):
    """The ingestion request ended ``Aborted`` (cancelled, or its worker was lost)."""

    code = "XDMC-CLIENT-ABORTED"


class WaitTimedOut(ClientError):
    """The request was still in progress when the wait ran out; ``status`` is the last
    status seen (``None`` when none was read)."""

    code = "XDMC-CLIENT-TIMEOUT"

    def __init__(self, message: str, status: IngestionStatus | None) -> None:
        super().__init__(message)
        self.status = status


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


def api_error(status_code: int, text: str, body: Any, retry_after: str | None) -> ApiError:
    """The error for an answer of status ``status_code``: its message and code are the
    body's (``message`` and ``error_code`` of the gateway's errors, ``info`` of the
    ingestion contract's), else the status alone."""
    message = text.strip() or f"HTTP {status_code}"
    code: str | None = None
    if isinstance(body, dict):
        said = body.get("message", body.get("info"))
        if isinstance(said, str) and said:
            message = said
        if isinstance(body.get("error_code"), str):
            code = body["error_code"]
    if status_code == 429:
        return RateLimited(
            message,
            status_code=status_code,
            body=body,
            text=text,
            code=code,
            retry_after=_seconds(retry_after),
        )
    kind = _BY_STATUS.get(status_code, ServerError if status_code >= 500 else ApiError)
    return kind(message, status_code=status_code, body=body, text=text, code=code)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
