"""The two statuses of a data mapping."""

from __future__ import annotations

from enum import StrEnum


class PublicationStatus(StrEnum):
    """Whether a mapping's definition is the one that runs."""

    DRAFT = "Draft"
    PUBLISHED = "Published"


class ExecutionStatus(StrEnum):
    """Whether a published mapping runs on its schedule."""

    STOPPED = "Stopped"
    STARTED = "Started"
