"""The product's errors: one root, a stable code on each, context as attributes.

::

    XdmcError                      code, message
    ├── InvalidInput               the request or definition is wrong (400)
    │   ├── ExpressionError        a source expression does not parse or type-check
    │   └── SourceRefused          a source URL the connector will not read
    ├── NotFound                   no such object in this organization (404)
    ├── Conflict                   the object's state forbids the action (409)
    │   ├── MappingNotPublished    an ingestion asked of a draft mapping
    │   └── MappingNotStopped      an ingestion asked of a started mapping
    ├── AuthenticationError        missing or invalid credentials (401)
    ├── PermissionDenied           authenticated, but lacking a role (403)
    ├── StoreError                 the metadata store failed (driver errors wrapped)
    ├── LeaseLost                  a worker no longer holds the job it works on
    └── ExportError                an export job failed; ``transient`` decides retries
        ├── SourceError            ACP-880056: reading the source database failed
        └── DestinationError       ACP-880096: the destination refused or lost the batch

Services raise these; the HTTP layer maps them to answers in one handler, the worker maps
``ExportError`` to the job's reason.
"""

from __future__ import annotations

from typing import Any


class XdmcError(Exception):
    """Root of every error the product raises on purpose."""

    code: str = "XDMC-000"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidInput(XdmcError):
    """A request, a file or a definition is not acceptable as given."""

    code = "XDMC-400"


class ExpressionError(InvalidInput):
    """A source expression is wrong at a place: ``line 1, column 14: unknown field @emial``."""

    code = "XDMC-EXPR"

    def __init__(self, message: str, *, line: int = 1, column: int = 1) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column
        self.detail = message


class SourceRefused(InvalidInput):
    """A source URL the connector will not read; ``code`` says why (``SOURCE_*`` codes)."""

    code = "XDMC-SOURCE-URL"


SOURCE_URL = "XDMC-SOURCE-URL"
"""The source URL is no database URL, or has a form the connector does not open."""
SOURCE_IN_CLEAR = "XDMC-SOURCE-SECRET"
"""The source URL holds a secret in clear, or names one twice."""
SOURCE_OWN_DATA = "XDMC-SOURCE-OWN-DATA"
"""The source URL names the connector's own data: its store, home, lake or platform home."""


class NotFound(XdmcError):
    """No such object in the organization (another tenant's objects included)."""

    code = "XDMC-404"


class Conflict(XdmcError):
    """The object exists but its state forbids the action."""

    code = "XDMC-409"


class MappingNotPublished(Conflict):
    """The mapping is a draft: it cannot be triggered."""


class MappingNotStopped(Conflict):
    """The mapping runs on its schedule: it cannot be triggered through the API."""


class AuthenticationError(XdmcError):
    """Credentials are missing or invalid."""

    code = "401013"


class PermissionDenied(XdmcError):
    """The caller is known but lacks the role the action needs."""

    code = "XDMC-403"

    def __init__(self, message: str, *, role: str) -> None:
        super().__init__(message)
        self.role = role


class StoreError(XdmcError):
    """The metadata store could not be read or written."""

    code = "XDMC-STORE"


class LeaseLost(XdmcError):
    """The job was aborted, reaped or claimed by another worker while this one worked."""

    code = "XDMC-LEASE"


class ExportError(XdmcError):
    """An export job failed; ``transient`` errors may succeed when tried again."""

    code = "XDMC-EXPORT"

    def __init__(self, message: str, *, code: str | None = None, transient: bool = False) -> None:
        super().__init__(message, code=code)
        self.transient = transient


SOURCE_FAILED_MESSAGE = "ACP-880056 Failed to fetch the record from the database."
UPLOAD_FAILED_MESSAGE = (
    "ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI."
)


class SourceError(ExportError):
    """Reading the organization's source database failed (``ACP-880056``)."""

    code = "ACP-880056"


class DestinationError(ExportError):
    """The destination failed after the batch was prepared (``ACP-880096``).

    ``errors`` are the destination's own, as it answered them: ``[{"code":
    "INGEST-1212-400", "description": "Encountered 5 errors in the data. ...",
    "recordCount": 5}]``.
    """

    code = "ACP-880096"

    def __init__(
        self,
        message: str,
        *,
        batch_id: str = "",
        transient: bool = False,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, transient=transient)
        self.batch_id = batch_id
        self.errors: list[dict[str, Any]] = list(errors or [])
