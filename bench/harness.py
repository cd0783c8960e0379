"""Comparisons run A/B in one run: each variant in a fresh process, alternating, medians.

A comparison names a subject (the product) and its references; every repetition runs each
of them once, in an order that alternates from one repetition to the next, so that a
machine busy with other work slows them alike. Its result holds, per variant, the median
rate (rows or records per second), the peak resident memory and every run, and per
reference the ratio of the subject's median rate to its own, judged against the
reference's goal when it has one (``met``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import run_lock

ROOT = Path(__file__).resolve().parent.parent
PROBE_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class Variant:
    """One way to do the work: a probe and its arguments (``bench/probes.py``)."""

    name: str
    probe: str
    arguments: dict[str, Any]
    unavailable: str = ""
    """Why this variant cannot run here (e.g. dlt could not be installed): shown, not run."""
    goal: float | None = None
    """As a reference: the least ratio of the subject's rate to this variant's that meets
    the target (``None``: the ratio is reported, not judged)."""


@dataclass(frozen=True)
class Comparison:
    """A subject and its references, over the same rows."""

    key: str
    title: str
    subject: Variant
    references: Sequence[Variant]
    target: str
    """What the subject must reach, in words (``>= 1.0x sqlite3``)."""


@dataclass
class Outcome:
    """The measured runs of one variant."""

    variant: str
    runs: list[dict[str, float]] = field(default_factory=list)
    unavailable: str = ""

    @property
    def rate(self) -> float:
        """The median rows per second."""
        return statistics.median(run["rows"] / run["seconds"] for run in self.runs)

    @property
    def cpu_rate(self) -> float | None:
        """The median rows per CPU second, when every run measured its CPU time."""
        if not all("cpu_seconds" in run for run in self.runs):
            return None
        return statistics.median(run["rows"] / max(run["cpu_seconds"], 1e-3) for run in self.runs)

    @property
    def peak_rss_mib(self) -> float:
        """The largest peak resident memory of its runs."""
        return max(run["peak_rss_mib"] for run in self.runs)

    def document(self) -> dict[str, Any]:
        """The outcome as JSON."""
        if self.unavailable:
            return {"variant": self.variant, "unavailable": self.unavailable}
        return {
            "variant": self.variant,
            "rows": int(self.runs[0]["rows"]),
            "rate": round(self.rate, 1),
            "peak_rss_mib": self.peak_rss_mib,
            "runs": self.runs,
        }


PRODUCT_PROBES = frozenset({"export", "merge", "small_commits", "optimize", "reconcile"})
"""The probes that run the product in their own process. They see only the packages of its run
lock (``bench/run_lock.py``), as a user's installation would; so does ``api_export``'s server."""


def probe_command(probe: str, arguments: dict[str, Any]) -> list[str]:
    """The command line of one run of ``probe`` with ``arguments``."""
    if probe in PRODUCT_PROBES:
        return run_lock.command("bench.probes", probe, json.dumps(arguments))
    return [sys.executable, "-m", "bench.probes", probe, json.dumps(arguments)]


def run_probe(variant: Variant, *, cpus: str | None = None) -> dict[str, float]:
    """Run a variant once in a new process (pinned to ``cpus`` with taskset if given)."""
    command = probe_command(variant.probe, variant.arguments)
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench: {variant.name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def compare(comparison: Comparison, repetitions: int) -> dict[str, Any]:
    """Run a comparison A/B ``repetitions`` times; its result as JSON."""
    variants = [comparison.subject, *comparison.references]
    outcomes = {v.name: Outcome(v.name, unavailable=v.unavailable) for v in variants}
    runnable = [v for v in variants if not v.unavailable]
    for repetition in range(repetitions):
        order = runnable if repetition % 2 == 0 else list(reversed(runnable))
        for variant in order:
            measured = run_probe(variant)
            outcomes[variant.name].runs.append(measured)
            rate = measured["rows"] / measured["seconds"]
            details = "".join(
                f", {measured[name]:.2f} {unit}"
                for name, unit in (("wait_seconds", "s waiting"), ("cpu_seconds", "CPU s"))
                if name in measured
            )
            print(
                f"  {comparison.key} #{repetition + 1} {variant.name}: {rate:,.0f}/s, "
                f"{measured['peak_rss_mib']:.0f} MiB{details}",
                flush=True,
            )
    subject = outcomes[comparison.subject.name]
    references = []
    for reference in comparison.references:
        outcome = outcomes[reference.name]
        document = outcome.document()
        if not outcome.unavailable:
            document["ratio"] = round(subject.rate / outcome.rate, 3)
            if reference.goal is not None:
                document["goal"] = reference.goal
                document["met"] = subject.rate >= reference.goal * outcome.rate
            if subject.cpu_rate is not None and outcome.cpu_rate is not None:
                document["cpu_ratio"] = round(subject.cpu_rate / outcome.cpu_rate, 3)
        references.append(document)
    return {
        "key": comparison.key,
        "title": comparison.title,
        "target": comparison.target,
        "subject": subject.document(),
        "references": references,
    }


def process_cpu_seconds(pid: int) -> float:
    """The CPU time the process ``pid`` has used so far (every thread of it; Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
