"""Transient destination failures are tried again; a scheduled job that still fails is
followed by a new job after ``XDMC_RETRY_DELAY_SECONDS``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tests.integration.engine.conftest import PROFILES, Engine
from xdm_connector.destinations.memory import InMemoryDestination
from xdm_connector.domain.job_states import JobState
from xdm_connector.jobs.worker import Worker
from xdm_connector.pipeline.export import Exporter
from xdm_connector.services.publication import start_mapping
from xdm_connector.store.models import utcnow


@dataclass
class Clock:
    """A worker's clock that stands still until the test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _worker(
    engine: Engine,
    destination: InMemoryDestination,
    clock: Callable[[], datetime] = utcnow,
    **settings: object,
) -> Worker:
    changed = engine.settings.model_copy(update=settings)
    exporter = Exporter(engine.store, changed, destination=destination)
    return Worker(engine.store, changed, exporter=exporter, clock=clock)


def test_transient_destination_failures_are_retried(engine: Engine) -> None:
    destination = InMemoryDestination()
    destination.fail_transiently("create_batch", times=1)
    destination.fail_transiently("put_file", times=2)
    destination.fail_transiently("complete", times=1)
    engine.worker = _worker(engine, destination, retry_attempts=4)
    job = engine.run()
    assert job.state == JobState.SUCCESS, job.reason
    assert job.records_ingested == PROFILES
    assert [method for method, _ in destination.calls].count("put_file") == 3


def test_a_scheduled_job_that_fails_transiently_runs_again_after_the_delay(
    engine: Engine,
) -> None:
    destination = InMemoryDestination()
    destination.fail_transiently("put_file", times=2)
    start_mapping(engine.store, "demo", "XDM44")
    clock = Clock(utcnow())  # the worker's time: the test moves it instead of waiting
    worker = _worker(engine, destination, clock, retry_attempts=2, retry_delay_seconds=0.5)
    assert worker.run_once()
    (failed,) = engine.store.jobs.list_for_mapping("demo", "XDM44")
    assert (failed.trigger, failed.state) == ("schedule", JobState.FAILED)
    retry_at = clock.now + timedelta(seconds=0.5)  # not the 15-minute interval
    assert engine.store.mappings.get("demo", "XDM44").next_run_at == retry_at

    clock.now = retry_at - timedelta(microseconds=1)
    assert not worker.run_once()  # not due yet
    clock.now = retry_at
    assert worker.run_once()
    retried, _ = engine.store.jobs.list_for_mapping("demo", "XDM44")
    assert (retried.trigger, retried.state) == ("schedule", JobState.SUCCESS)
    assert retried.records_ingested == PROFILES
    interval = engine.store.mappings.get("demo", "XDM44").next_run_at
    assert interval == retry_at + timedelta(minutes=15)


def test_a_terminal_failure_keeps_the_interval(engine: Engine) -> None:
    destination = InMemoryDestination()
    destination.fail_on("put_file", call=1)
    worker = _worker(engine, destination, retry_delay_seconds=0.5)
    start_mapping(engine.store, "demo", "XDM44")
    assert worker.run_once()
    (failed,) = engine.store.jobs.list_for_mapping("demo", "XDM44")
    assert failed.state == JobState.FAILED
    next_run = engine.store.mappings.get("demo", "XDM44").next_run_at
    assert next_run is not None
    assert next_run > utcnow() + timedelta(minutes=14)
