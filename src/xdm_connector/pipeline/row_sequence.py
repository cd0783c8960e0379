"""The order of an ``append`` table's versions, written into its rows: ``SEQUENCE_COLUMN``
(``domain/lake_modes.py``), the job's id times 2^32 plus the row's place among the job's
rows, records and deletes alike (``pipeline/extraction.py``, ``pipeline/deletes.py``).

A reader (and the reconciliation) takes per ``_id`` the row of the greatest value as the
key's current version, whatever compactions did to the files and their commit times.
"""

from __future__ import annotations

import pyarrow as pa

from xdm_connector.domain.lake_modes import SEQUENCE_SHIFT
from xdm_connector.errors import ExportError

ROWS_PER_JOB = 1 << SEQUENCE_SHIFT
"""Rows a job may write into an append table: the places below its id's bits."""


class RowSequence:
    """The sequence values of the rows one job writes, taken in the order they are written."""

    def __init__(self, job_id: int) -> None:
        self._next = job_id << SEQUENCE_SHIFT
        self._end = self._next + ROWS_PER_JOB

    def take(self, rows: int) -> pa.Array:
        """The values of the next ``rows`` rows written."""
        start = self._next
        if start + rows > self._end:
            raise ExportError(f"a job writes at most {ROWS_PER_JOB:,} rows into an append table")
        self._next = start + rows
        return pa.arange(start, start + rows)
