"""Request ids are numbered per organization: no tenant can count another's requests.

Every organization's first request is 1, whatever the others did; triggers and schedules
share the numbering; simultaneous triggers of one organization (threads, and two ``Store``
instances like two API processes) take distinct, consecutive ids; a number is never given
twice, even once its job is deleted. Every read by request id is scoped by organization.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.integration.store.conftest import (
    make_dataset,
    make_mapping,
    make_org,
    run_at_once,
)
from xdm_connector.domain.job_states import JobState, JobTrigger
from xdm_connector.errors import NotFound
from xdm_connector.services.cancellation import cancel_job
from xdm_connector.services.job_history import organization_job
from xdm_connector.store.jobs import JobOutcome, JobRequest
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

LEASE = timedelta(minutes=5)
ORGS = ("acme", "globex")


def _tenant(
    store: Store, org_id: str, mapping_ids: tuple[str, ...], *, stopped: bool = True
) -> None:
    make_org(store, org_id=org_id)
    make_dataset(store, org_id)
    for mapping_id in mapping_ids:
        make_mapping(store, mapping_id, org_id=org_id, stopped=stopped)


def _finish(store: Store, job_id: int) -> None:
    claimed = store.jobs.claim("worker", LEASE, datetime.now(UTC))
    assert claimed is not None
    assert claimed.id == job_id
    store.jobs.succeed(claimed, "worker", JobOutcome(), None)


def _request_ids(store: Store, org_id: str) -> list[int]:
    with store.read() as session:
        query = sa.select(Job.request_id).where(Job.org_id == org_id).order_by(Job.request_id)
        return list(session.scalars(query))


def test_each_organization_numbers_its_own_requests_from_one(store: Store) -> None:
    _tenant(store, "acme", ("XDM1", "XDM2"))
    first = store.jobs.request_ingestion("acme", "XDM1").job
    _finish(store, first.id)
    second = store.jobs.request_ingestion("acme", "XDM1").job
    third = store.jobs.request_ingestion("acme", "XDM2").job
    assert [first.request_id, second.request_id, third.request_id] == [1, 2, 3]

    # A new organization starts at 1, whatever the first one did.
    _tenant(store, "globex", ("XDM1",))
    _tenant(store, "initech", ("SCHEDULED",), stopped=False)
    theirs = store.jobs.request_ingestion("globex", "XDM1").job
    assert theirs.request_id == 1
    # A scheduled run takes the next number of its organization too.
    (scheduled,) = store.jobs.schedule_due(datetime.now(UTC) + timedelta(days=1))
    assert (scheduled.org_id, scheduled.trigger, scheduled.request_id) == (
        "initech",
        JobTrigger.SCHEDULE,
        1,
    )
    assert store.jobs.request_ingestion("acme", "XDM2").created is False
    assert len({first.id, second.id, third.id, theirs.id, scheduled.id}) == 5

    # Each organization reads its own request 1, 2...; another's number is unknown to it.
    assert store.jobs.get("globex", "XDM1", 1).id == theirs.id
    assert store.jobs.get("acme", "XDM1", 1).id == first.id
    with pytest.raises(NotFound):
        store.jobs.get("globex", "XDM1", 2)
    found = store.requests.status_of("globex", "XDM1", 1)
    assert found is not None
    assert (found.request_id, found.state) == (1, JobState.CREATED)
    assert store.requests.status_of("globex", "XDM1", 2) is None
    assert organization_job(store, "globex", 1).job.id == theirs.id
    with pytest.raises(NotFound):
        organization_job(store, "globex", 3)
    # A cancel by number ends the organization's own request, never another's.
    with pytest.raises(NotFound):
        cancel_job(store, "globex", 2, actor="tests")
    assert store.jobs.get("acme", "XDM1", 2).state == JobState.CREATED
    cancelled = cancel_job(store, "globex", 1, actor="tests")
    assert (cancelled.job.id, cancelled.job.state) == (theirs.id, JobState.ABORTED)
    assert store.jobs.get("acme", "XDM1", 1).state == JobState.SUCCESS


def test_a_number_is_never_given_twice(store: Store) -> None:
    _tenant(store, "acme", ("XDM1", "XDM2"))
    job = store.jobs.request_ingestion("acme", "XDM1").job
    _finish(store, job.id)
    store.mappings.unpublish("acme", "XDM1")
    store.mappings.delete_draft("acme", "XDM1")  # its jobs with it
    assert _request_ids(store, "acme") == []

    assert store.jobs.request_ingestion("acme", "XDM2").job.request_id == 2


@pytest.fixture(params=[1, 2], ids=["one-store", "two-stores"])
def stores(
    request: pytest.FixtureRequest, store: Store, open_store: Callable[[], Store]
) -> list[Store]:
    """The migrated store, and a second instance on the same database when asked."""
    return [store] + [open_store() for _ in range(request.param - 1)]


def test_simultaneous_triggers_of_an_organization_get_distinct_consecutive_ids(
    stores: list[Store],
) -> None:
    mappings = tuple(f"XDM{index}" for index in range(8))
    for org_id in ORGS:
        _tenant(stores[0], org_id, mappings)
        # Started mappings: the schedulers take numbers at the same time as the triggers.
        for index in range(2):
            make_mapping(stores[0], f"SCHEDULED{index}", org_id=org_id, stopped=False)
    now = datetime.now(UTC) + timedelta(days=1)

    def trigger(store: Store, org_id: str, mapping_id: str) -> Callable[[], JobRequest]:
        return lambda: store.jobs.request_ingestion(org_id, mapping_id)

    def schedule(store: Store) -> Callable[[], list[Job]]:
        return lambda: store.jobs.schedule_due(now)

    triggers = [
        trigger(stores[index % len(stores)], org_id, mapping_id)
        for index, (org_id, mapping_id) in enumerate(
            (org_id, mapping_id) for org_id in ORGS for mapping_id in mappings for _ in range(3)
        )
    ]
    schedulers = [schedule(stores[index % len(stores)]) for index in range(2)]
    answers = run_at_once([*triggers, *schedulers])

    requests = [answer for answer in answers if isinstance(answer, JobRequest)]
    assert sum(answer.created for answer in requests) == len(ORGS) * len(mappings)
    for org_id in ORGS:
        # Every job of the organization has its own number, with no gap: 8 triggered, 2
        # scheduled; the repeated triggers of a mapping answered its job's number.
        assert _request_ids(stores[0], org_id) == list(range(1, len(mappings) + 3))
        for mapping_id in mappings:
            numbers = {
                answer.job.request_id
                for answer in requests
                if (answer.job.org_id, answer.job.mapping_id) == (org_id, mapping_id)
            }
            running = stores[0].jobs.in_progress(org_id, mapping_id)
            assert running is not None
            assert numbers == {running.request_id}
