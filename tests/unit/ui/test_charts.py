"""The charts' SVG: what it says in words (title, desc, tooltips), what it draws, and that
text from users is escaped."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from xdm_connector.ui.charts import export_chart, jobs_chart

SVG = "{http://www.w3.org/2000/svg}"
T0 = dt.datetime(2026, 12, 1, 8, 0, 0, tzinfo=dt.UTC)


@dataclass
class FakeJob:
    request_id: int
    state: str
    records_ingested: int
    started: float | None
    ended: float | None
    mapping_id: str = "XDM44"

    @property
    def created_at(self) -> dt.datetime:
        return T0

    @property
    def started_at(self) -> dt.datetime | None:
        return None if self.started is None else T0 + dt.timedelta(seconds=self.started)

    @property
    def ended_at(self) -> dt.datetime | None:
        return None if self.ended is None else T0 + dt.timedelta(seconds=self.ended)


JOBS = [
    FakeJob(3, "In Progress", 0, 200, None),
    FakeJob(2, "Failed", 0, 100, 101.5),
    FakeJob(1, "Success", 10_000, 0, 4),
]


def parsed(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    return root


def marks(root: ET.Element) -> dict[str, str]:
    """Each job's mark: its tooltip, by request id."""
    return {
        group.get("data-request", ""): group.findtext(f"{SVG}title", "")
        for group in root.iter(f"{SVG}g")
        if group.get("data-request")
    }


def test_the_jobs_chart_draws_each_job_oldest_first_and_marks_failures() -> None:
    root = parsed(jobs_chart(JOBS))
    assert root.findtext(f"{SVG}title") == "Records and duration of the recent export jobs"
    assert root.findtext(f"{SVG}desc") == (
        "3 jobs, #1 to #3: 1 succeeded; 1 failed or aborted (#2 failed); 1 in progress. "
        "Most records: 10,000 (job #1). Durations from 1.5 s to 4 s."
    )
    assert marks(root) == {
        "1": "Job #1: Success, 10,000 records, 4 s",
        "2": "Job #2: Failed, 0 records, 1.5 s",
        "3": "Job #3: In Progress, 0 records, still running",
    }
    labels = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "label"]
    assert labels == ["#1", "#2", "#3"]
    failures = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "failure"]
    assert failures == ["✕ Failed"]
    axes = {text.text for text in root.iter(f"{SVG}text") if text.get("class") == "axis-title"}
    assert axes == {"Records", "Seconds", "Job (oldest to newest)"}
    bars = [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "records"]
    heights = [float(rect.get("height", "0")) for rect in bars]
    assert heights == [110.0, 0.0, 0.0]


def test_the_export_chart_counts_the_lag_since_the_previous_success() -> None:
    jobs = [
        FakeJob(1, "Success", 500, 0, 10),
        FakeJob(2, "Failed", 0, 60, 70),
        FakeJob(3, "Success", 20, 100, 130, mapping_id="<M&2>"),
        FakeJob(4, "Success", 30, 200, 250),
        FakeJob(5, "In Progress", 0, 300, None),
    ]
    svg = export_chart(jobs)
    root = parsed(svg)
    assert root.findtext(f"{SVG}title") == "Records exported and export lag over time"
    assert root.findtext(f"{SVG}desc") == (
        "4 ended jobs from 2026-12-01 08:00:10 to 2026-12-01 08:04:10 UTC exported 550 "
        "records; failed or aborted: #2 (XDM44). Export lag at a job's end: up to 240 s."
    )
    tips = marks(root)
    assert set(tips) == {"1", "2", "3", "4"}
    assert tips["2"].endswith("Failed, 0 records, lag 60 s")
    assert tips["3"] == (
        "Job #3 of <M&2>, ended 2026-12-01 08:02:10: Success, 20 records, no earlier success"
    )
    assert tips["4"].endswith("lag 240 s")
    assert "&lt;M&amp;2&gt;" in svg
    assert len([c for c in root.iter(f"{SVG}circle") if c.get("class") == "lag"]) == 2
    clock = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "label"]
    assert clock == ["08:00:10", "08:04:10"]


def test_empty_charts_say_so() -> None:
    assert parsed(jobs_chart([])).findtext(f"{SVG}desc") == "No export job yet."
    running = [FakeJob(1, "In Progress", 0, 0, None)]
    assert parsed(export_chart(running)).findtext(f"{SVG}desc") == "No export job has ended yet."
