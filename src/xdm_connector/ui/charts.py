"""Charts of export jobs, drawn on the server as SVG: no script, no front-end package.

``jobs_chart`` draws a mapping's recent jobs, one after the other: the records each
delivered and how long each ran, failed and aborted jobs marked. ``export_chart`` draws
an organization's jobs over time: the records each delivered, and the export lag at each
job's end (how long since its mapping's previous successful export, as the
``xdmc_export_lag_seconds`` metric counts it; a success brings it back to zero).

Each chart is an ``<svg role="img">`` whose ``<title>`` names it and whose ``<desc>``
says in words what it shows (a screen reader reads them; the pages' tables hold every
figure), with axis titles and labels as text, and a ``<title>`` on every mark for a
pointer's tooltip. Text from users (mapping ids) is escaped here: the templates insert
the SVG as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Protocol

from xdm_connector.domain.request_status import RequestFields

__all__ = ["ChartJob", "export_chart", "jobs_chart"]

WIDTH = 720
LEFT = 64
RIGHT = 16
PLOT = WIDTH - LEFT - RIGHT
BAD_STATES = ("Failed", "Aborted")
ENDED_STATES = ("Success", *BAD_STATES)


class ChartJob(RequestFields, Protocol):
    """What a chart reads of a job (the store's ``Job`` has it)."""

    @property
    def created_at(self) -> datetime: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def ended_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class _Panel:
    """One horizontal band of a chart, with its own vertical scale from 0 to ``top``."""

    y: float
    height: float
    top: float

    def at(self, value: float) -> float:
        """The vertical position of ``value``."""
        return (
            self.y + self.height - (value / self.top) * self.height
            if self.top
            else self.y + self.height
        )


def _nice(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above ``value`` (1 for 0)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return float(next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value))


def _number(value: float) -> str:
    """``12,345``, or ``4.2`` below 10."""
    if value < 10 and value != int(value):
        return f"{value:.1f}"
    return f"{round(value):,}"


def _duration(job: ChartJob) -> float | None:
    if job.started_at is None or job.ended_at is None:
        return None
    return max(0.0, (job.ended_at - job.started_at).total_seconds())


def _axis(panel: _Panel, title: str, ident: str) -> list[str]:
    """The panel's vertical axis: its title, 0 and its top, and a base line."""
    middle = panel.y + panel.height / 2
    bottom = panel.y + panel.height
    return [
        f'<g class="axis" id="{ident}">',
        f'<text class="axis-title" x="14" y="{middle:.1f}" transform="rotate(-90 14 {middle:.1f})" text-anchor="middle">{escape(title)}</text>',
        f'<text x="{LEFT - 6}" y="{panel.y + 4:.1f}" text-anchor="end">{_number(panel.top)}</text>',
        f'<text x="{LEFT - 6}" y="{bottom + 4:.1f}" text-anchor="end">0</text>',
        f'<line x1="{LEFT}" y1="{panel.y:.1f}" x2="{LEFT + PLOT}" y2="{panel.y:.1f}" class="grid"/>',
        f'<line x1="{LEFT}" y1="{bottom:.1f}" x2="{LEFT + PLOT}" y2="{bottom:.1f}" class="base"/>',
        "</g>",
    ]


def _svg(ident: str, height: int, title: str, desc: str, body: list[str]) -> str:
    return "\n".join(
        [
            f'<svg class="chart" id="{ident}" role="img" viewBox="0 0 {WIDTH} {height}" '
            f'width="100%" preserveAspectRatio="xMinYMin meet" '
            f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">',
            f'<title id="{ident}-title">{escape(title)}</title>',
            f'<desc id="{ident}-desc">{escape(desc)}</desc>',
            *body,
            "</svg>",
        ]
    )


def _mark_class(state: str) -> str:
    return {"Success": "ok", "Failed": "bad", "Aborted": "bad"}.get(state, "run")


def jobs_chart(jobs: Sequence[ChartJob], *, ident: str = "jobs-chart") -> str:
    """A mapping's jobs, oldest first: records delivered (top) and duration (bottom) per
    job, failed and aborted jobs marked with ✕. ``jobs`` may come newest first."""
    ordered = sorted(jobs, key=lambda job: job.request_id)
    title = "Records and duration of the recent export jobs"
    if not ordered:
        return _svg(
            ident,
            60,
            title,
            "No export job yet.",
            ['<text x="360" y="34" text-anchor="middle">No export job yet.</text>'],
        )
    durations = [_duration(job) for job in ordered]
    records = _Panel(y=16, height=110, top=_nice(max(job.records_ingested for job in ordered)))
    timing = _Panel(
        y=160, height=70, top=_nice(max((d for d in durations if d is not None), default=0))
    )
    band = PLOT / len(ordered)
    bar = min(48.0, band * 0.6)
    body = [
        *_axis(records, "Records", f"{ident}-records-axis"),
        *_axis(timing, "Seconds", f"{ident}-duration-axis"),
    ]
    for index, (job, duration) in enumerate(zip(ordered, durations, strict=True)):
        middle = LEFT + band * index + band / 2
        x = middle - bar / 2
        kind = _mark_class(job.state)
        took = "still running" if duration is None else f"{_number(duration)} s"
        tip = f"Job #{job.request_id}: {job.state}, {job.records_ingested:,} records, {took}"
        top = records.at(job.records_ingested)
        body.append(
            f'<g class="job job-{kind}" data-request="{job.request_id}" data-state="{escape(job.state)}">'
        )
        body.append(f"<title>{escape(tip)}</title>")
        body.append(
            f'<rect class="records" x="{x:.1f}" y="{top:.1f}" width="{bar:.1f}" '
            f'height="{records.y + records.height - top:.1f}"/>'
        )
        if duration is not None:
            up = timing.at(duration)
            body.append(
                f'<rect class="duration" x="{x:.1f}" y="{up:.1f}" width="{bar:.1f}" '
                f'height="{timing.y + timing.height - up:.1f}"/>'
            )
        if job.state in BAD_STATES:
            body.append(
                f'<text class="failure" x="{middle:.1f}" y="{top - 4:.1f}" text-anchor="middle">✕ {escape(job.state)}</text>'
            )
        body.append(
            f'<text class="label" x="{middle:.1f}" y="248" text-anchor="middle">#{job.request_id}</text>'
        )
        body.append("</g>")
    body.append(
        f'<text class="axis-title" x="{LEFT + PLOT / 2:.1f}" y="266" text-anchor="middle">Job (oldest to newest)</text>'
    )
    return _svg(ident, 272, title, _jobs_summary(ordered, durations), body)


def _jobs_summary(ordered: Sequence[ChartJob], durations: Sequence[float | None]) -> str:
    failed = [job for job in ordered if job.state in BAD_STATES]
    succeeded = sum(1 for job in ordered if job.state == "Success")
    running = len(ordered) - succeeded - len(failed)
    parts = [
        f"{len(ordered)} job{'s' if len(ordered) != 1 else ''}, "
        f"#{ordered[0].request_id} to #{ordered[-1].request_id}: {succeeded} succeeded"
    ]
    if failed:
        named = ", ".join(f"#{job.request_id} {job.state.lower()}" for job in failed)
        parts.append(f"{len(failed)} failed or aborted ({named})")
    if running:
        parts.append(f"{running} in progress")
    most = max(ordered, key=lambda job: job.records_ingested)
    summary = (
        "; ".join(parts) + f". Most records: {most.records_ingested:,} (job #{most.request_id})."
    )
    took = [d for d in durations if d is not None]
    if took:
        summary += f" Durations from {_number(min(took))} s to {_number(max(took))} s."
    return summary


def _lags(ordered: Sequence[ChartJob]) -> list[float | None]:
    """Each ended job's export lag at its end: seconds since its mapping's previous
    successful export ended (``None`` before the first one)."""
    last_success: dict[str, datetime] = {}
    lags: list[float | None] = []
    for job in ordered:
        assert job.ended_at is not None
        before = last_success.get(job.mapping_id)
        lags.append(None if before is None else max(0.0, (job.ended_at - before).total_seconds()))
        if job.state == "Success":
            last_success[job.mapping_id] = job.ended_at
    return lags


def _clock(at: datetime, first: datetime) -> str:
    return at.strftime("%H:%M:%S" if at.date() == first.date() else "%Y-%m-%d %H:%M")


def export_chart(jobs: Sequence[ChartJob], *, ident: str = "export-chart") -> str:
    """Ended jobs over time: records delivered per job (top) and the export lag at each
    job's end (bottom), failed and aborted jobs marked with ✕."""
    ordered = sorted(
        (job for job in jobs if job.ended_at is not None and job.state in ENDED_STATES),
        key=lambda job: (job.ended_at, job.request_id),
    )
    title = "Records exported and export lag over time"
    if not ordered:
        return _svg(
            ident,
            60,
            title,
            "No export job has ended yet.",
            ['<text x="360" y="34" text-anchor="middle">No export job has ended yet.</text>'],
        )
    lags = _lags(ordered)
    first, last = ordered[0].ended_at, ordered[-1].ended_at
    assert first is not None
    assert last is not None
    span = max((last - first).total_seconds(), 1.0)
    records = _Panel(y=16, height=110, top=_nice(max(job.records_ingested for job in ordered)))
    lag = _Panel(
        y=160, height=70, top=_nice(max((value for value in lags if value is not None), default=0))
    )
    inner = PLOT - 24

    def x_of(job: ChartJob) -> float:
        assert job.ended_at is not None
        assert first is not None
        return LEFT + 12 + inner * (job.ended_at - first).total_seconds() / span

    body = [
        *_axis(records, "Records", f"{ident}-records-axis"),
        *_axis(lag, "Lag (s)", f"{ident}-lag-axis"),
    ]
    line: dict[str, list[str]] = {}
    for job, value in zip(ordered, lags, strict=True):
        x = x_of(job)
        kind = _mark_class(job.state)
        lag_text = "no earlier success" if value is None else f"lag {_number(value)} s"
        assert job.ended_at is not None
        tip = (
            f"Job #{job.request_id} of {job.mapping_id}, ended {job.ended_at:%Y-%m-%d %H:%M:%S}: "
            f"{job.state}, {job.records_ingested:,} records, {lag_text}"
        )
        top = records.at(job.records_ingested)
        body.append(
            f'<g class="job job-{kind}" data-request="{job.request_id}" data-state="{escape(job.state)}">'
        )
        body.append(f"<title>{escape(tip)}</title>")
        body.append(
            f'<rect class="records" x="{x - 3:.1f}" y="{top:.1f}" width="6" height="{records.y + records.height - top:.1f}"/>'
        )
        if job.state in BAD_STATES:
            body.append(
                f'<text class="failure" x="{x:.1f}" y="{top - 4:.1f}" text-anchor="middle">✕</text>'
            )
        if value is not None:
            y = lag.at(value)
            line.setdefault(job.mapping_id, []).append(f"{x:.1f},{y:.1f}")
            body.append(f'<circle class="lag" cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>')
        body.append("</g>")
    for mapping_id, points in line.items():
        if len(points) > 1:
            body.append(
                f'<polyline class="lag-line" data-mapping="{escape(mapping_id)}" points="{" ".join(points)}"/>'
            )
    body.append(
        f'<text class="label" x="{LEFT + 12}" y="248" text-anchor="start">{_clock(first, first)}</text>'
    )
    body.append(
        f'<text class="label" x="{LEFT + PLOT - 12}" y="248" text-anchor="end">{_clock(last, first)}</text>'
    )
    body.append(
        f'<text class="axis-title" x="{LEFT + PLOT / 2:.1f}" y="266" text-anchor="middle">Time the job ended (UTC)</text>'
    )
    return _svg(ident, 272, title, _export_summary(ordered, lags), body)


def _export_summary(ordered: Sequence[ChartJob], lags: Sequence[float | None]) -> str:
    first, last = ordered[0].ended_at, ordered[-1].ended_at
    assert first is not None
    assert last is not None
    total = sum(job.records_ingested for job in ordered if job.state == "Success")
    failed = [job for job in ordered if job.state in BAD_STATES]
    summary = (
        f"{len(ordered)} ended job{'s' if len(ordered) != 1 else ''} from "
        f"{first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC exported {total:,} records"
    )
    if failed:
        summary += "; failed or aborted: " + ", ".join(
            f"#{job.request_id} ({job.mapping_id})" for job in failed
        )
    known = [value for value in lags if value is not None]
    if known:
        summary += f". Export lag at a job's end: up to {_number(max(known))} s."
    else:
        summary += ". No export lag yet: no mapping has two ended jobs here."
    return summary
