"""Followers of job changes: woken after each commit of this process that changes a job,
and only then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.integration.store.conftest import make_mapping, make_world
from xdm_connector.errors import LeaseLost
from xdm_connector.store.job_changes import JobChange, following
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

LEASE = timedelta(minutes=5)


def test_each_committed_change_of_a_job_wakes_its_followers(store: Store) -> None:
    make_world(store)
    wakes: list[str] = []
    written, added = (lambda: wakes.append("written")), (lambda: wakes.append("added"))
    with following(written, JobChange.WRITTEN), following(added, JobChange.ADDED):
        store.jobs.request_ingestion("acme", "XDM1")  # a new job
        assert sorted(wakes) == ["added", "written"]
        job = store.jobs.claim("worker-1", LEASE, datetime.now(UTC))  # a change of the ORM
        assert job is not None
        assert wakes[2:] == ["written"]
        store.jobs.mark_uploaded(job.id, "worker-1", "batch-1")  # an UPDATE statement
        assert wakes[3:] == ["written"]
        store.jobs.succeed(job, "worker-1", JobOutcome(1, 1, batch_id="batch-1"), None)
        assert wakes[4:] == ["written"]
    store.jobs.request_ingestion("acme", "XDM1")  # no follower left
    assert len(wakes) == 5


def test_a_commit_without_a_job_change_or_a_rollback_wakes_no_follower(store: Store) -> None:
    make_world(store)
    wakes: list[None] = []
    with following(lambda: wakes.append(None), JobChange.WRITTEN):
        make_mapping(store, "XDM2")  # a commit, of no job
        with pytest.raises(LeaseLost):  # an update of no held job, rolled back
            store.jobs.mark_uploaded(12345, "worker-1", "batch-1")
        with pytest.raises(RuntimeError):
            _update_every_job_then_fail(store)
        assert wakes == []
        store.jobs.request_ingestion("acme", "XDM1")
        assert wakes == [None]


def _update_every_job_then_fail(store: Store) -> None:
    with store.write() as session:
        session.execute(sa.update(Job).values(reason="never committed"))
        raise RuntimeError("rolled back")
