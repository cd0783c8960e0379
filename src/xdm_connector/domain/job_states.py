"""Export job states and how each projects onto the ingestion API's status.

::

    Created ──► Uploaded ──► Success
       │            │
       ├────────────┴──────► Failed
       └────────────┴──────► Aborted
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """The state of one export job, as the monitoring screen names it."""

    CREATED = "Created"
    UPLOADED = "Uploaded"
    SUCCESS = "Success"
    FAILED = "Failed"
    ABORTED = "Aborted"

    @property
    def in_progress(self) -> bool:
        """Whether the job is still running (the API's ``In Progress``)."""
        return self in IN_PROGRESS_STATES

    @property
    def api_status(self) -> str:
        """The ``status`` the ingestion API reports for a job in this state."""
        return "In Progress" if self.in_progress else self.value


IN_PROGRESS_STATES = frozenset({JobState.CREATED, JobState.UPLOADED})


class JobTrigger(StrEnum):
    """What created a job."""

    API = "api"
    SCHEDULE = "schedule"
    RECONCILE = "reconcile"
    """``mappings reconcile``: the job reconciles, due or not."""
