"""``schedule_due``: one scheduled job per due slot of a started mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.integration.store.conftest import make_mapping, make_world
from xdm_connector.domain.job_states import JobState, JobTrigger
from xdm_connector.domain.mapping_status import ExecutionStatus
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import Job, Mapping
from xdm_connector.store.store import Store

LEASE = timedelta(minutes=5)
INTERVAL = timedelta(minutes=15)


def _next_run_at(store: Store, mapping_id: str = "XDM1") -> datetime | None:
    return store.mappings.get("acme", mapping_id).next_run_at


def _set_next_run_at(store: Store, when: datetime, mapping_id: str) -> None:
    with store.write() as session:
        session.execute(
            sa.update(Mapping)
            .where(Mapping.org_id == "acme", Mapping.id == mapping_id)
            .values(next_run_at=when)
        )


def _count_jobs(store: Store) -> int:
    with store.read() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Job)) or 0


def test_one_job_per_slot_and_none_while_one_is_in_progress(store: Store) -> None:
    make_world(store, stopped=False)
    now = datetime.now(UTC) + timedelta(seconds=1)

    (first,) = store.jobs.schedule_due(now)

    assert (first.org_id, first.mapping_id) == ("acme", "XDM1")
    assert (first.trigger, first.state) == (JobTrigger.SCHEDULE, JobState.CREATED)
    assert store.jobs.get_by_id(first.id).trigger == JobTrigger.SCHEDULE
    assert _next_run_at(store) == now + INTERVAL
    assert store.jobs.schedule_due(now) == []
    assert store.jobs.schedule_due(now + INTERVAL - timedelta(microseconds=1)) == []
    assert _count_jobs(store) == 1

    # The next slot comes while the first job still runs: no second job, the slot passes.
    later = now + INTERVAL
    assert store.jobs.schedule_due(later) == []
    assert [j.id for j in store.jobs.list_for_mapping("acme", "XDM1")] == [first.id]
    assert _next_run_at(store) == later + INTERVAL

    job = store.jobs.claim("worker", LEASE, later)
    assert job is not None
    assert job.id == first.id
    store.jobs.succeed(job, "worker", JobOutcome(), None)

    even_later = later + INTERVAL
    (second,) = store.jobs.schedule_due(even_later)
    assert second.id != first.id
    assert _next_run_at(store) == even_later + INTERVAL


def test_due_started_mappings_only_get_a_job_each_at_their_interval(store: Store) -> None:
    make_world(store, ("XDM1", "XDM2"), stopped=False)
    make_mapping(store, "EVERY-MINUTE", stopped=False, interval_seconds=60)
    make_mapping(store, "STOPPED", stopped=True)
    make_mapping(store, "DRAFT", published=False)
    make_mapping(store, "FUTURE", stopped=False)
    make_mapping(store, "UNPUBLISHED", stopped=False)
    store.mappings.unpublish("acme", "UNPUBLISHED")
    make_mapping(store, "HALTED", stopped=False)
    store.mappings.set_execution("acme", "HALTED", ExecutionStatus.STOPPED)
    now = datetime.now(UTC) + timedelta(seconds=1)
    _set_next_run_at(store, now - timedelta(hours=1), "XDM2")
    _set_next_run_at(store, now, "EVERY-MINUTE")
    _set_next_run_at(store, now + timedelta(microseconds=1), "FUTURE")

    jobs = store.jobs.schedule_due(now)

    assert [job.mapping_id for job in jobs] == ["XDM2", "XDM1", "EVERY-MINUTE"]
    assert _count_jobs(store) == 3
    assert _next_run_at(store, "XDM1") == now + INTERVAL
    assert _next_run_at(store, "XDM2") == now + INTERVAL
    assert _next_run_at(store, "EVERY-MINUTE") == now + timedelta(seconds=60)
    assert _next_run_at(store, "FUTURE") == now + timedelta(microseconds=1)
    for mapping_id in ("STOPPED", "DRAFT", "UNPUBLISHED", "HALTED"):
        assert _next_run_at(store, mapping_id) is None
