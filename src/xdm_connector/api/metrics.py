"""``GET /metrics``: the exporter's figures in the Prometheus text format.

Collected from the store at each scrape by a custom collector, so every API process of a
deployment answers the same figures. They name every organization, published mapping and
record volume, so the scraper needs a bearer token of its own (``XDMC_METRICS_TOKEN``)::

    no XDMC_METRICS_TOKEN         404, as any path the server does not serve
    no Authorization              401 {"error_code": "403010", "message": "Oauth token is missing."}
    another token or scheme       401 {"error_code": "401013", "message": "Oauth token is not valid"}
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Sequence
from datetime import timedelta

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException

from xdm_connector.domain.job_states import JobState
from xdm_connector.errors import AuthenticationError
from xdm_connector.settings import Settings
from xdm_connector.store.models import utcnow
from xdm_connector.store.statistics import job_statistics
from xdm_connector.store.store import Store

router = APIRouter(tags=["operations"])

DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
RECORD_COUNTERS = (
    ("read", "Records read by export jobs."),
    ("ingested", "Records ingested by export jobs."),
    ("rejected", "Records rejected by the product (shaping, validation) in export jobs."),
    ("refused", "Records sent by export jobs and refused by the destination."),
    ("deleted", "Records deleted at the destination by export jobs."),
    (
        "lookback_dropped",
        "Versions export jobs' look-back forgot past XDMC_LOOKBACK_MAX_KEYS: late rows it "
        "may miss, which a reconciliation repairs.",
    ),
)
"""The record counters, in the order of ``JobStatistics.records``."""


class StoreCollector(Collector):
    """Reads the job figures from the store when Prometheus scrapes."""

    def __init__(self, store: Store, alive_within: timedelta) -> None:
        self.store = store
        self.alive_within = alive_within

    def collect(self) -> Iterator[Metric]:
        figures = job_statistics(self.store, self.alive_within)
        jobs = GaugeMetricFamily(
            "xdmc_jobs", "Export jobs by organization and state.", labels=["org", "state"]
        )
        orgs = sorted({org for org, _ in figures.jobs_by_state} | set(figures.records))
        for org in orgs:
            for state in JobState:
                jobs.add_metric([org, state.value], figures.jobs_by_state.get((org, state), 0))
        yield jobs
        for index, (name, what) in enumerate(RECORD_COUNTERS):
            family = CounterMetricFamily(f"xdmc_records_{name}", what, labels=["org"])
            for org, counts in sorted(figures.records.items()):
                family.add_metric([org], counts[index])
            yield family
        yield GaugeMetricFamily(
            "xdmc_queue_depth", "Jobs waiting for a worker.", value=figures.queue_depth
        )
        yield GaugeMetricFamily(
            "xdmc_slices_pending",
            "Slices of running jobs waiting for a worker.",
            value=figures.slices_pending,
        )
        yield GaugeMetricFamily(
            "xdmc_workers", "Workers heard from within a lease.", value=figures.workers
        )
        yield _durations(figures.durations)
        lag = GaugeMetricFamily(
            "xdmc_export_lag_seconds",
            "Seconds since the last successful export of each published mapping "
            "(absent until it has one).",
            labels=["org", "mapping"],
        )
        now = utcnow()
        for (org, mapping), at in sorted(figures.last_success.items()):
            if at is not None:
                lag.add_metric([org, mapping], (now - at).total_seconds())
        yield lag


def _durations(values: Sequence[float]) -> HistogramMetricFamily:
    buckets = [
        (str(bound), sum(1 for value in values if value <= bound)) for bound in DURATION_BUCKETS
    ]
    buckets.append(("+Inf", len(values)))
    return HistogramMetricFamily(
        "xdmc_job_duration_seconds",
        "Durations of the most recent ended export jobs.",
        buckets=buckets,
        sum_value=sum(values),
    )


async def metrics_scraper(request: Request) -> None:
    """Let the request through if it carries ``Authorization: Bearer <XDMC_METRICS_TOKEN>``."""
    settings: Settings = request.app.state.settings
    expected = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if not expected:
        raise StarletteHTTPException(404)
    authorization = request.headers.get("authorization")
    if not authorization:
        raise AuthenticationError("Oauth token is missing.", code="403010")
    scheme, _, given = authorization.partition(" ")
    # Bytes, not text: compare_digest refuses text outside ASCII, which a header may hold.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise AuthenticationError("Oauth token is not valid", code="401013")


@router.get(
    "/metrics",
    response_class=Response,
    include_in_schema=False,
    dependencies=[Depends(metrics_scraper)],
)
def metrics(request: Request) -> Response:
    """Jobs by state, records read/delivered/rejected/refused, durations, lag, queue depth, slices
    waiting and workers running."""
    registry = CollectorRegistry(auto_describe=False)
    lease = timedelta(seconds=request.app.state.settings.lease_seconds)
    registry.register(StoreCollector(request.app.state.store, lease))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
