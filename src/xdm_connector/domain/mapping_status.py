"""The two statuses of a data mapping."""

from __future__ import annotations

from enum import StrEnum

from xdm_connector.errors import MappingNotPublished, MappingNotStopped


class PublicationStatus(StrEnum):
    """Whether a mapping's definition is the one that runs."""

    DRAFT = "Draft"
    PUBLISHED = "Published"


class ExecutionStatus(StrEnum):
    """Whether a published mapping runs on its schedule."""

    STOPPED = "Stopped"
    STARTED = "Started"


def check_triggerable(mapping_id: str, publication: str, execution: str) -> None:
    """Raise ``MappingNotPublished`` or ``MappingNotStopped`` unless a request may run the
    mapping of these statuses now (published, not on its schedule)."""
    if publication != PublicationStatus.PUBLISHED:
        raise MappingNotPublished(f"mapping {mapping_id} is not published")
    if execution != ExecutionStatus.STOPPED:
        raise MappingNotStopped(f"mapping {mapping_id} is not stopped")
