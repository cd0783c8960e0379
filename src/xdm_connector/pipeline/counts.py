"""The record counts of a job (or of one slice of it): read, delivered, rejected, skipped,
and samples of the rejected records.

A sample says who refused the record: ``"rejectedBy": "product"`` (shaping, validation,
counted here) or ``"platform"`` (the destination's validation, read back from its
diagnostics once the batch is final: ``refused_samples``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from xdm_connector.destinations.base import RefusedRecord
from xdm_connector.pipeline.shaping import Problem

MAX_REJECTED_SAMPLES = 20


@dataclass
class RecordCounts:
    """Counts of one export, and up to ``MAX_REJECTED_SAMPLES`` rejected records
    (primary key, XDM path, value, reason)."""

    read: int = 0
    ingested: int = 0
    rejected: int = 0
    deleted: int = 0
    """Keys sent as deletes: soft-deleted records, and records gone from the source."""
    skipped: int = 0
    """Rows of the look-back already exported in the same version, not sent again."""
    lookback_dropped: int = 0
    """Versions the look-back forgot past ``XDMC_LOOKBACK_MAX_KEYS`` (it narrowed)."""
    warnings: list[str] = field(default_factory=list)
    """What the job did that its user should know and that did not fail it."""
    threshold: float = 100.0
    """The mapping's ``rejectedThresholdPercent``."""
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rejected_percent(self) -> float:
        """Rejected records, in percent of the records read."""
        return 100.0 * self.rejected / self.read if self.read else 0.0

    @property
    def over_threshold(self) -> bool:
        """Whether more records were rejected than the threshold allows."""
        return self.rejected_percent > self.threshold

    def sample(self, problems: list[Problem], keys: pa.Array) -> None:
        """Keep samples of ``problems`` (rows of ``keys``) while there is room."""
        for problem in problems:
            if len(self.samples) >= MAX_REJECTED_SAMPLES:
                return
            self.samples.append(
                {
                    "key": keys[problem.row].as_py(),
                    "path": problem.path,
                    "value": repr(problem.value),
                    "reason": problem.reason,
                    "rejectedBy": "product",
                }
            )

    def with_refused(self, refused: list[RefusedRecord]) -> list[dict[str, Any]]:
        """The samples, then up to ``MAX_REJECTED_SAMPLES`` records the destination refused
        (each kind has room of its own: the platform's show beside the product's)."""
        return [
            *self.samples,
            *(
                {
                    "key": record.key,
                    "path": record.path,
                    "value": record.value,
                    "reason": f"{record.code} {record.reason}" if record.code else record.reason,
                    "rejectedBy": "platform",
                }
                for record in refused[:MAX_REJECTED_SAMPLES]
            ),
        ]

    def add(self, other: RecordCounts) -> None:
        """Add the counts and samples of another part of the same job (a slice)."""
        self.read += other.read
        self.ingested += other.ingested
        self.rejected += other.rejected
        self.skipped += other.skipped
        self.deleted += other.deleted
        room = MAX_REJECTED_SAMPLES - len(self.samples)
        self.samples.extend(other.samples[: max(room, 0)])

    def details(self) -> dict[str, Any]:
        """The job's ``details`` about its records."""
        return {
            "rejectedSamples": self.samples,
            "rejectedPercent": round(self.rejected_percent, 4),
            "rejectedThresholdPercent": self.threshold,
            "lookbackSkipped": self.skipped,
            "recordsDeleted": self.deleted,
            "lookbackDropped": self.lookback_dropped,
            **({"warnings": self.warnings} if self.warnings else {}),
        }
