"""The store under concurrency: threads, and separate ``Store`` instances (processes).

Simultaneous ingestion requests run with one ``Store`` shared by the threads, and with two
``Store`` instances (two engines and pools, like two API processes) on the same database;
workers and schedulers always run on two instances, two threads on each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.integration.store.conftest import make_mapping, make_world, run_at_once
from xdm_connector.domain.job_states import JobState, JobTrigger
from xdm_connector.errors import Conflict
from xdm_connector.store.jobs import JobOutcome, JobRequest
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

LEASE = timedelta(minutes=5)


@pytest.fixture(params=[1, 2], ids=["one-store", "two-stores"])
def stores(
    request: pytest.FixtureRequest, store: Store, open_store: Callable[[], Store]
) -> list[Store]:
    """The migrated store, and a second instance on the same database when asked."""
    return [store] + [open_store() for _ in range(request.param - 1)]


@pytest.fixture
def two_stores(store: Store, open_store: Callable[[], Store]) -> list[Store]:
    """The migrated store and a second instance on the same database."""
    return [store, open_store()]


def _jobs(store: Store) -> list[Job]:
    with store.read() as session:
        return list(session.scalars(sa.select(Job).order_by(Job.id)))


def _requests_at_once(stores: list[Store], count: int) -> list[JobRequest]:
    def request(store: Store) -> Callable[[], JobRequest]:
        return lambda: store.jobs.request_ingestion("acme", "XDM1")

    return run_at_once([request(stores[i % len(stores)]) for i in range(count)])


def test_simultaneous_requests_create_exactly_one_job(stores: list[Store]) -> None:
    make_world(stores[0])

    answers = _requests_at_once(stores, 50)

    jobs = _jobs(stores[0])
    assert len(jobs) == 1
    assert (jobs[0].state, jobs[0].trigger) == (JobState.CREATED, JobTrigger.API)
    assert {answer.job.id for answer in answers} == {jobs[0].id}
    assert sum(answer.created for answer in answers) == 1

    # Once that job ended, simultaneous requests again create exactly one new job.
    job = stores[-1].jobs.claim("worker", LEASE, datetime.now(UTC))
    assert job is not None
    stores[-1].jobs.succeed(job, "worker", JobOutcome(), {"audit": 1})

    answers = _requests_at_once(stores, 20)

    jobs = _jobs(stores[0])
    assert [j.state for j in jobs] == [JobState.SUCCESS, JobState.CREATED]
    assert {answer.job.id for answer in answers} == {jobs[1].id}
    assert sum(answer.created for answer in answers) == 1


def test_concurrent_workers_claim_every_job_exactly_once(two_stores: list[Store]) -> None:
    stores = two_stores
    mappings = tuple(f"XDM{i}" for i in range(12))
    make_world(stores[0], mappings)
    created = [stores[0].jobs.request_ingestion("acme", m).job.id for m in mappings]
    now = datetime.now(UTC)

    def worker(store: Store, owner: str) -> Callable[[], list[tuple[int, str | None]]]:
        def claim_all() -> list[tuple[int, str | None]]:
            claimed = []
            while (job := store.jobs.claim(owner, LEASE, now)) is not None:
                claimed.append((job.id, job.lease_owner))
            return claimed

        return claim_all

    results = run_at_once([worker(stores[i % len(stores)], f"worker-{i}") for i in range(4)])

    claims = [claim for result in results for claim in result]
    assert Counter(job_id for job_id, _ in claims) == Counter(created)
    owners = dict(claims)
    for job in _jobs(stores[0]):
        assert job.lease_owner == owners[job.id]
        assert job.attempt == 1
        assert job.state == JobState.CREATED


def test_concurrent_schedulers_create_one_job_per_slot(two_stores: list[Store]) -> None:
    stores = two_stores
    make_world(stores[0], ("XDM1", "XDM2", "XDM3"), stopped=False)
    make_mapping(stores[0], "STOPPED", stopped=True)
    now = datetime.now(UTC) + timedelta(seconds=1)

    def schedule(store: Store) -> Callable[[], list[Job]]:
        return lambda: store.jobs.schedule_due(now)

    results = run_at_once([schedule(stores[i % len(stores)]) for i in range(4)])

    created = [job for result in results for job in result]
    jobs = _jobs(stores[0])
    assert sorted(job.id for job in created) == [job.id for job in jobs]
    assert sorted(job.mapping_id for job in jobs) == ["XDM1", "XDM2", "XDM3"]
    assert all(job.trigger == JobTrigger.SCHEDULE for job in jobs)
    for mapping_id in ("XDM1", "XDM2", "XDM3"):
        mapping = stores[0].mappings.get("acme", mapping_id)
        assert mapping.next_run_at == now + timedelta(seconds=mapping.interval_seconds)


def test_simultaneous_saves_and_creations_of_a_new_mapping(store: Store) -> None:
    """``save`` creates or updates (``apply_mapping``); ``create`` only creates.

    For each new id, exactly one racing ``save`` creates the mapping and every other one
    answers it as updated: never a driver error (several rounds, so that the race surely
    happens). Racing ``create`` calls: one creates, the others answer ``Conflict``.
    """
    make_world(store, ())

    def save(mapping_id: str, i: int) -> Callable[[], bool]:
        def _save() -> bool:
            _, created = store.mappings.save(
                "acme", mapping_id, label=f"v{i}", dataset_id="profiles", definition={"v": i}
            )
            return created

        return _save

    def create(mapping_id: str, i: int) -> Callable[[], str]:
        def _create() -> str:
            try:
                store.mappings.create(
                    "acme", mapping_id, label=f"v{i}", dataset_id="profiles", definition={"v": i}
                )
            except Conflict:
                return "conflict"
            return "created"

        return _create

    answers = run_at_once([create("CREATED", i) for i in range(8)])

    assert sorted(answers) == ["conflict"] * 7 + ["created"]
    assert [m.id for m in store.mappings.list_for_org("acme")] == ["CREATED"]

    for round_ in range(5):
        mapping_id = f"SAVED{round_}"

        created = run_at_once([save(mapping_id, i) for i in range(12)])

        assert sorted(created) == [False] * 11 + [True]
        mapping = store.mappings.get("acme", mapping_id)
        assert mapping.definition == {"v": int(mapping.label[1:])}
