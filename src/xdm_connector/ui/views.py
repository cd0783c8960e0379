"""How the pages show things: the template environment, its filters, and job views.

Times are shown in UTC as ``2026-11-01 09:30:12 UTC`` inside ``<time datetime=...>``;
statuses are shown as badges whose class comes from ``status_class``. A job's timeline is
built from the times the store keeps (created, started, uploaded, ended) and its state::

    [Step("Created", created_at), Step("Started", started_at),
     Step("Uploaded", None), Step("Success", ended_at)]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from xdm_connector.destinations.base import describe_errors
from xdm_connector.domain.job_states import JobState
from xdm_connector.pipeline.source_retries import DETAILS_KEY
from xdm_connector.store.models import Job
from xdm_connector.ui.charts import export_chart, jobs_chart
from xdm_connector.xdm.fields import XdmField

STATUS_CLASSES = {
    "Success": "ok",
    "Published": "ok",
    "Started": "run",
    "Created": "run",
    "Uploaded": "run",
    "Failed": "bad",
    "Aborted": "off",
    "Draft": "off",
    "Stopped": "off",
    "Valid": "ok",
    "Rejected": "bad",
}


def when(value: datetime | None) -> str:
    """A time as the pages show it, or an em dash for none."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def iso(value: datetime | None) -> str:
    """A time for a ``datetime`` attribute."""
    return value.isoformat() if value else ""


def status_class(status: str) -> str:
    """The badge class of a status (``ok``, ``run``, ``bad``, ``off``)."""
    return STATUS_CLASSES.get(status, "off")


def template_environment() -> Environment:
    """The pages' Jinja2 environment: packaged templates, HTML escaped, strict names."""
    environment = Environment(
        loader=PackageLoader("xdm_connector.ui", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    environment.filters["iso"] = iso
    environment.filters["status_class"] = status_class
    environment.filters["tree_children"] = tree_children
    environment.filters["jobs_chart"] = jobs_chart
    environment.filters["export_chart"] = export_chart
    environment.filters["pretty"] = pretty
    return environment


def tree_children(node: XdmField) -> list[XdmField]:
    """The nodes one level below ``node`` in the schema tree (an array's or map's ``*``)."""
    return [*node.children.values(), *([node.items] if node.items is not None else [])]


def pretty(value: Any) -> str:
    """A JSON document, indented, for a ``<pre>``."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True)
class Step:
    """One state of a job's timeline, with its time when the store keeps it."""

    state: str
    at: datetime | None
    current: bool = False


def timeline(job: Job) -> list[Step]:
    """The states a job went through, oldest first; the last one is its current state."""
    state = JobState(job.state)
    steps = [Step("Created", job.created_at)]
    if job.started_at is not None:
        steps.append(Step("Started", job.started_at))
    # Stores migrated to 0004 keep when the batch was uploaded; older jobs only tell it.
    uploaded_at: datetime | None = getattr(job, "uploaded_at", None)
    uploaded = uploaded_at is not None or state is JobState.UPLOADED
    if uploaded or (state is JobState.SUCCESS and bool(job.batch_id)):
        steps.append(Step("Uploaded", uploaded_at))
    if not state.in_progress:
        steps.append(Step(state.value, job.ended_at))
    last = steps[-1]
    steps[-1] = Step(last.state, last.at, current=True)
    return steps


def window_bounds(job: Job) -> list[tuple[str, str]]:
    """The job's window as (bound, "audit value, key") pairs; empty when it has none."""
    window = job.window or {}
    if not window:
        return []
    return [
        ("After", _bound(window.get("after")) or "the beginning"),
        ("Up to", _bound(window.get("until")) or "—"),
    ]


def _bound(document: dict[str, Any] | None) -> str:
    if not document:
        return ""
    audit = (document.get("audit") or {}).get("value")
    key = (document.get("key") or {}).get("value")
    return f"{audit} (key {key})"


@dataclass(frozen=True)
class SourceRetriesView:
    """How often a job read its source again after a transient error, and the last why."""

    count: int
    last_error: str


def source_retries(job: Job) -> SourceRetriesView:
    """The job's source retries (``pipeline/source_retries.py``); a count of 0 without."""
    document = (job.details or {}).get(DETAILS_KEY) or {}
    last = document.get("lastError") or {}
    why = ": ".join(str(last[name]) for name in ("errorClass", "message") if last.get(name))
    return SourceRetriesView(count=int(document.get("count") or 0), last_error=why)


def rejected_samples(job: Job) -> list[dict[str, Any]]:
    """The samples of rejected records the job kept (key, path, value, reason, and who
    refused it: ``rejectedBy`` ``product`` or ``platform``; ``product`` when older jobs do
    not say)."""
    samples = (job.details or {}).get("rejectedSamples") or []
    return [{"rejectedBy": "product", **sample} for sample in samples if isinstance(sample, dict)]


def platform_errors(job: Job) -> list[str]:
    """What the destination said about the job's batch: its errors, each once."""
    details = job.details or {}
    errors = [describe_errors([error]) for error in details.get("destinationErrors") or []]
    return [error for error in dict.fromkeys(errors) if error]
