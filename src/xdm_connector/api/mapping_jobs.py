"""The export jobs of a mapping as the API answers them: a row of the list, and one job
in full (``GET .../xdmMapping/{id}/jobs[/{jobId}]``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import Field

from xdm_connector.api.collections import CamelModel
from xdm_connector.pipeline.source_retries import DETAILS_KEY
from xdm_connector.store.models import Job, JobSlice


class JobResource(CamelModel):
    """One export job of the mapping ("Status of data export to platform")."""

    id: int = Field(description="The job's request id, numbered within the organization.")
    status: str = Field(description="Created, Uploaded, Success, Failed or Aborted.")
    trigger: str
    batch_id: str
    records_read: int = Field(description="Records read from the source.")
    records_ingested: int = Field(description="Records delivered: the destination kept them.")
    records_rejected: int = Field(
        description="Records the product rejected (shaping, validation): never sent."
    )
    records_refused: int = Field(
        description="Records sent that the destination refused (the platform's validation)."
    )
    records_deleted: int = Field(
        description="Records deleted at the destination: soft-deleted in the source, or "
        "gone from it (found by a reconciliation)."
    )
    reason: str
    created: datetime
    started: datetime | None
    ended: datetime | None


class JobStep(CamelModel):
    """One state a job went through, and when."""

    state: str
    at: datetime | None


class JobSliceView(CamelModel):
    """One primary-key range of a sliced job, and the worker that wrote it."""

    number: int
    state: str = Field(
        description="pending, running, sending (its files go into the batch), written or failed."
    )
    key_after: Any = Field(description="The range's lower key, exclusive (null: the first).")
    key_until: Any = Field(description="The range's upper key, inclusive (null: the last).")
    records_read: int
    records_ingested: int
    records_rejected: int
    worker: str | None
    started: datetime | None
    ended: datetime | None


class SourceErrorView(CamelModel):
    """The error that last made a job read its source again."""

    error_class: str = Field(description="The driver's error class (sqlite3.OperationalError).")
    message: str = Field(description="The error, as the job reports it (secrets masked).")


class JobDetail(JobResource):
    """One export job in full: its window, counts, timeline, source retries, slices,
    rejected records and errors."""

    attempt: int
    uploaded: datetime | None
    window: dict[str, Any] | None = Field(
        description="The rows the job exports: after (exclusive; null: the beginning) and "
        "until (inclusive), each an audit value and a key; lookbackFrom when recent rows "
        "were read again."
    )
    timeline: list[JobStep]
    source_retries: int = Field(
        description="How many times reading the source was tried again after a transient "
        "error (a busy SQLite file, a lost or restarted PostgreSQL connection...), its slices' "
        "included."
    )
    last_source_error: SourceErrorView | None = Field(
        description="The error that made the last of those retries (null: no retry)."
    )
    rejected_samples: list[dict[str, Any]] = Field(
        description="Samples of refused records: key, XDM path, value, reason, and "
        "rejectedBy: product (never sent) or platform (read back from its diagnostics)."
    )
    rejected_threshold_percent: float | None
    destination_errors: list[dict[str, Any]] = Field(
        description="The destination's errors as it answered them (code, description, "
        "recordCount on the platform)."
    )
    error: str | None = Field(description="What made the job fail, when it failed.")
    warnings: list[str] = Field(
        description="What the job did that did not fail it but may leave the destination "
        "behind the source (a look-back that narrowed: see lookbackDropped)."
    )
    lookback_dropped: int = Field(description="Versions the look-back forgot: its span narrowed.")
    slices: list[JobSliceView] = Field(
        description="The key ranges of a job cut into slices for several workers (empty: "
        "the job was read whole)."
    )


def job_resource(job: Job) -> JobResource:
    """A job as the list of a mapping's jobs shows it."""
    return JobResource(
        id=job.request_id,
        status=job.state,
        trigger=job.trigger,
        batch_id=job.batch_id,
        records_read=job.records_read,
        records_ingested=job.records_ingested,
        records_rejected=job.records_rejected,
        records_refused=job.records_refused,
        records_deleted=job.records_deleted,
        reason=job.reason,
        created=job.created_at,
        started=job.started_at,
        ended=job.ended_at,
    )


def _plain_bound(document: Any) -> Any:
    """An encoded bound (``{"audit": {"type", "value"}, ...}``) as plain values."""
    if not isinstance(document, dict):
        return document
    return {
        name: part.get("value") if isinstance(part, dict) else part
        for name, part in document.items()
    }


def _slice_view(piece: JobSlice) -> JobSliceView:
    result = piece.result or {}
    return JobSliceView(
        number=piece.number,
        state=piece.state,
        key_after=_plain_bound({"key": piece.key_after})["key"],
        key_until=_plain_bound({"key": piece.key_until})["key"],
        records_read=piece.records_read,
        records_ingested=piece.records_ingested,
        records_rejected=piece.records_rejected,
        worker=result.get("worker"),
        started=piece.started_at,
        ended=piece.ended_at,
    )


def job_detail(job: Job, slices: Sequence[JobSlice] = ()) -> JobDetail:
    """A job in full: its window, counts, timeline, slices, rejected samples and errors."""
    details = job.details or {}
    window = None
    if job.window:
        window = {name: _plain_bound(bound) for name, bound in job.window.items()}
    steps = [JobStep(state="Created", at=job.created_at)]
    if job.started_at is not None:
        steps.append(JobStep(state="Started", at=job.started_at))
    if job.uploaded_at is not None:
        steps.append(JobStep(state="Uploaded", at=job.uploaded_at))
    if job.ended_at is not None:
        steps.append(JobStep(state=job.state, at=job.ended_at))
    retries = details.get(DETAILS_KEY) or {}
    last_error = retries.get("lastError")
    return JobDetail(
        **job_resource(job).model_dump(),
        attempt=job.attempt,
        uploaded=job.uploaded_at,
        window=window,
        timeline=steps,
        source_retries=int(retries.get("count") or 0),
        last_source_error=SourceErrorView.model_validate(last_error) if last_error else None,
        rejected_samples=list(details.get("rejectedSamples") or []),
        rejected_threshold_percent=details.get("rejectedThresholdPercent"),
        destination_errors=[
            error if isinstance(error, dict) else {"description": str(error)}
            for error in details.get("destinationErrors") or []
        ],
        error=details.get("error"),
        warnings=[str(warning) for warning in details.get("warnings") or []],
        lookback_dropped=job.lookback_dropped,
        slices=[_slice_view(piece) for piece in slices],
    )
