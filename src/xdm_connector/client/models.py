"""What the client answers: the ingestion contract's bodies and the mappings, typed.

Each keeps the body it was read from (``body``), so that nothing the server said is lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ENDED", "IN_PROGRESS", "IngestionStatus", "Mapping", "Submitted"]

IN_PROGRESS = "In Progress"
ENDED = frozenset({"Success", "Failed", "Aborted"})
"""The statuses a request ends with; ``In Progress`` is the only other one."""


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) else ""


def _integer(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class Submitted:
    """The answer to a trigger: the request created (``status`` ``Success``), or the one
    already in progress for the mapping (``In Progress``), whose id it gives."""

    request_id: int
    info: str
    status: str
    body: dict[str, Any] = field(repr=False, compare=False)

    @property
    def created(self) -> bool:
        """Whether this trigger created the request (else one was already running)."""
        return self.status == "Success"

    @classmethod
    def of(cls, body: dict[str, Any]) -> Submitted:
        """The answer read from the trigger's body."""
        return cls(_integer(body, "requestId"), _text(body, "info"), _text(body, "status"), body)


@dataclass(frozen=True)
class IngestionStatus:
    """A request's status: ``In Progress``, then ``Success``, ``Failed`` or ``Aborted``."""

    request_id: int
    status: str
    info: str
    batch_id: str
    num_records: int
    body: dict[str, Any] = field(repr=False, compare=False)

    @property
    def ended(self) -> bool:
        """Whether the request has ended (``Success``, ``Failed`` or ``Aborted``)."""
        return self.status in ENDED

    @property
    def succeeded(self) -> bool:
        """Whether the request ended ``Success``."""
        return self.status == "Success"

    def json(self) -> str:
        """The status body as the server sent it, as one line of JSON."""
        return json.dumps(self.body, ensure_ascii=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> IngestionStatus:
        """The status read from a status body."""
        return cls(
            request_id=_integer(body, "requestId"),
            status=_text(body, "status"),
            info=_text(body, "info"),
            batch_id=_text(body, "batchId"),
            num_records=_integer(body, "numRecords"),
            body=body,
        )


@dataclass(frozen=True)
class Mapping:
    """A data mapping as the API describes it (its whole resource in ``body``)."""

    id: str
    label: str
    dataset: str
    publication_status: str
    execution_status: str
    next_run_time: str | None
    body: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Mapping:
        """The mapping read from its resource."""
        next_run = body.get("nextRunTime")
        return cls(
            id=_text(body, "id"),
            label=_text(body, "label"),
            dataset=_text(body, "dataset"),
            publication_status=_text(body, "publicationStatus"),
            execution_status=_text(body, "executionStatus"),
            next_run_time=next_run if isinstance(next_run, str) else None,
            body=body,
        )
