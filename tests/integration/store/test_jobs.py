"""The jobs table as the work queue: requests, claims, leases, outcomes, reaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.store.conftest import make_mapping, make_org, make_world
from xdm_connector.domain.job_states import JobState, JobTrigger
from xdm_connector.errors import (
    LeaseLost,
    MappingNotPublished,
    MappingNotStopped,
    NotFound,
    StoreError,
)
from xdm_connector.store.jobs import ABORTED_REASON, JobOutcome
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

CONTRACT_ABORTED_REASON = (
    "Ingestion request aborted due to some issue with data ingestion service. "
    "Please submit a new request"
)
LEASE = timedelta(minutes=5)
OLD_WATERMARK = {"audit": "2024-01-01T00:00:00+00:00", "key": [1]}
NEW_WATERMARK = {"audit": "2024-02-01T00:00:00+00:00", "key": [99]}


def _now() -> datetime:
    return datetime.now(UTC)


def _claimed(store: Store, owner: str = "worker-1", *, now: datetime | None = None) -> Job:
    job = store.jobs.claim(owner, LEASE, now or _now())
    assert job is not None
    return job


def _requested(store: Store, mapping_id: str = "XDM1") -> Job:
    answer = store.jobs.request_ingestion("acme", mapping_id)
    assert answer.created
    return answer.job


def _with_watermark(store: Store, watermark: dict[str, Any]) -> None:
    """Give XDM1 a watermark through a first successful job."""
    _requested(store)
    store.jobs.succeed(_claimed(store, "setup"), "setup", JobOutcome(), watermark)


def _watermark(store: Store) -> dict[str, Any] | None:
    return store.mappings.get("acme", "XDM1").watermark


def _count_jobs(store: Store) -> int:
    with store.read() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Job)) or 0


def test_request_ingestion_refuses_or_creates_a_job_then_answers_it_while_in_progress(
    store: Store,
) -> None:
    make_world(store, ("XDM1", "XDM2"))
    make_org(store, org_id="globex")
    make_mapping(store, "DRAFT", published=False)
    make_mapping(store, "STARTED", stopped=False)
    with pytest.raises(MappingNotPublished):
        store.jobs.request_ingestion("acme", "DRAFT")
    with pytest.raises(MappingNotStopped):
        store.jobs.request_ingestion("acme", "STARTED")
    with pytest.raises(NotFound):
        store.jobs.request_ingestion("acme", "NOPE")
    with pytest.raises(NotFound):
        store.jobs.request_ingestion("globex", "XDM1")
    assert _count_jobs(store) == 0
    before = _now()

    first = store.jobs.request_ingestion("acme", "XDM1")

    job = first.job
    assert first.created
    assert isinstance(job.id, int)
    assert (job.org_id, job.mapping_id) == ("acme", "XDM1")
    assert job.state == JobState.CREATED
    assert job.trigger == JobTrigger.API
    assert (job.attempt, job.batch_id, job.reason) == (0, "", "")
    assert (job.records_read, job.records_ingested, job.records_rejected) == (0, 0, 0)
    assert (job.lease_owner, job.lease_expires_at) == (None, None)
    assert (job.started_at, job.ended_at) == (None, None)
    assert before <= job.created_at <= _now()

    second = store.jobs.request_ingestion("acme", "XDM1")

    assert not second.created
    assert second.job.id == job.id
    assert second.job.state == JobState.CREATED
    running = store.jobs.in_progress("acme", "XDM1")
    assert running is not None
    assert running.id == job.id
    assert store.jobs.in_progress("acme", "XDM2") is None
    assert store.jobs.get("acme", "XDM1", job.id).state == JobState.CREATED
    assert store.jobs.get_by_id(job.id).mapping_id == "XDM1"
    assert [j.id for j in store.jobs.list_for_mapping("acme", "XDM1")] == [job.id]
    for org_id, mapping_id in (("acme", "XDM2"), ("globex", "XDM1")):
        with pytest.raises(NotFound):
            store.jobs.get(org_id, mapping_id, job.id)
    with pytest.raises(NotFound):
        store.jobs.get_by_id(job.id + 1000)

    # Claimed, then uploaded: still in progress, still the one answered.
    _claimed(store)
    store.jobs.record_batch(job.id, "worker-1", "batch-1")
    assert store.jobs.get_by_id(job.id).batch_id == "batch-1"
    store.jobs.mark_uploaded(job.id, "worker-1", "batch-2")

    third = store.jobs.request_ingestion("acme", "XDM1")

    assert not third.created
    assert (third.job.id, third.job.state, third.job.batch_id) == (
        job.id,
        JobState.UPLOADED,
        "batch-2",
    )
    assert _count_jobs(store) == 1


def test_a_new_request_after_the_job_ended_creates_a_new_job(store: Store) -> None:
    endings = ("REAP", "SUCCEED", "FAIL", "ABORT")
    make_world(store, endings)
    first = {mapping_id: _requested(store, mapping_id) for mapping_id in endings}
    expired = _claimed(store, now=_now() - 2 * LEASE)
    assert expired.mapping_id == "REAP"
    claimed = {mapping_id: _claimed(store) for mapping_id in endings[1:]}
    assert {m: job.mapping_id for m, job in claimed.items()} == {m: m for m in endings[1:]}

    store.jobs.succeed(claimed["SUCCEED"], "worker-1", JobOutcome(records_ingested=3), None)
    store.jobs.fail(claimed["FAIL"].id, "worker-1", JobOutcome(reason="broken"))
    store.jobs.abort_held(claimed["ABORT"].id, "worker-1", JobOutcome())
    assert [j.id for j in store.jobs.reap_expired(_now())] == [first["REAP"].id]

    for mapping_id in endings:
        assert store.jobs.in_progress("acme", mapping_id) is None
        second = store.jobs.request_ingestion("acme", mapping_id)
        assert second.created
        assert second.job.id > first[mapping_id].id
        assert second.job.state == JobState.CREATED
        assert [j.id for j in store.jobs.list_for_mapping("acme", mapping_id)] == [
            second.job.id,
            first[mapping_id].id,
        ]


def test_claim_takes_the_oldest_created_unclaimed_job(store: Store) -> None:
    make_world(store, ("XDM1", "XDM2", "XDM3", "ENDED"))
    ended = _requested(store, "ENDED")
    store.jobs.fail(_claimed(store).id, "worker-1", JobOutcome(reason="x"))
    ids = [_requested(store, m).id for m in ("XDM2", "XDM1", "XDM3")]
    now = _now().replace(microsecond=123456)

    job = store.jobs.claim("worker-1", LEASE, now)

    assert job is not None
    assert job.id == min(ids)
    assert job.mapping_id == "XDM2"
    assert job.state == JobState.CREATED
    assert (job.lease_owner, job.lease_expires_at, job.started_at, job.attempt) == (
        "worker-1",
        now + LEASE,
        now,
        1,
    )
    stored = store.jobs.get_by_id(job.id)
    assert (stored.lease_owner, stored.lease_expires_at, stored.started_at, stored.attempt) == (
        "worker-1",
        now + LEASE,
        now,
        1,
    )

    assert [_claimed(store, "worker-2").id for _ in range(2)] == sorted(ids)[1:]
    assert store.jobs.claim("worker-3", LEASE, _now()) is None
    assert store.jobs.get_by_id(ended.id).attempt == 1
    assert store.jobs.get_by_id(ended.id).state == JobState.FAILED


def test_heartbeat_extends_the_lease_of_its_owner_only(store: Store) -> None:
    make_world(store)
    _requested(store)
    claimed_at = _now() - timedelta(minutes=4)
    job = _claimed(store, now=claimed_at)
    assert job.lease_expires_at == claimed_at + LEASE

    with pytest.raises(LeaseLost):
        store.jobs.heartbeat(job.id, "worker-2", timedelta(minutes=10))
    with pytest.raises(LeaseLost):
        store.jobs.record_batch(job.id, "worker-2", "batch-x")
    with pytest.raises(LeaseLost):
        store.jobs.mark_uploaded(job.id, "worker-2", "batch-x")
    unchanged = store.jobs.get_by_id(job.id)
    assert (unchanged.lease_expires_at, unchanged.batch_id, unchanged.state) == (
        claimed_at + LEASE,
        "",
        JobState.CREATED,
    )

    before = _now()
    store.jobs.heartbeat(job.id, "worker-1", timedelta(minutes=10))

    held = store.jobs.get_by_id(job.id)
    assert held.lease_owner == "worker-1"
    assert held.lease_expires_at is not None
    assert before + timedelta(minutes=10) <= held.lease_expires_at
    assert held.lease_expires_at <= _now() + timedelta(minutes=10)
    assert store.jobs.reap_expired(_now() + LEASE) == []

    store.jobs.succeed(job, "worker-1", JobOutcome(), None)
    with pytest.raises(LeaseLost):
        store.jobs.heartbeat(job.id, "worker-1", LEASE)


def test_succeed_ends_the_job_and_writes_the_watermark(store: Store) -> None:
    make_world(store)
    _with_watermark(store, OLD_WATERMARK)
    _requested(store)
    job = _claimed(store)
    store.jobs.mark_uploaded(job.id, "worker-1", "batch-7")
    before = _now()
    details = {"rejected": [{"key": [3], "path": "/a", "reason": "bad"}]}

    store.jobs.succeed(
        job,
        "worker-1",
        JobOutcome(records_read=12, records_ingested=10, records_rejected=2, details=details),
        NEW_WATERMARK,
    )

    ended = store.jobs.get_by_id(job.id)
    assert ended.state == JobState.SUCCESS
    assert (ended.records_read, ended.records_ingested, ended.records_rejected) == (12, 10, 2)
    assert (ended.batch_id, ended.details, ended.reason) == ("batch-7", details, "")
    assert (ended.lease_owner, ended.lease_expires_at) == (None, None)
    assert ended.ended_at is not None
    assert before <= ended.ended_at <= _now()
    assert _watermark(store) == NEW_WATERMARK
    assert store.jobs.in_progress("acme", "XDM1") is None

    # A success without a new watermark (nothing new) keeps the old one.
    _requested(store)
    store.jobs.succeed(_claimed(store), "worker-1", JobOutcome(), None)
    assert _watermark(store) == NEW_WATERMARK


def test_succeed_is_one_guarded_transaction(store: Store) -> None:
    make_world(store)
    _with_watermark(store, OLD_WATERMARK)
    _requested(store)
    job = _claimed(store)

    with pytest.raises(LeaseLost):
        store.jobs.succeed(job, "worker-2", JobOutcome(), NEW_WATERMARK)
    assert _watermark(store) == OLD_WATERMARK

    # The watermark cannot be written: the job does not end either. (SQLite's JSON bind
    # processor fails inside SQLAlchemy, wrapped in StoreError; psycopg serializes JSONB
    # itself and raises the bare TypeError.)
    with pytest.raises((StoreError, TypeError)):
        store.jobs.succeed(job, "worker-1", JobOutcome(), {"not json": object()})

    held = store.jobs.get_by_id(job.id)
    assert (held.state, held.lease_owner, held.ended_at) == (JobState.CREATED, "worker-1", None)
    assert _watermark(store) == OLD_WATERMARK

    # Reaped meanwhile (the lease expired): the worker's success is refused, no watermark.
    (reaped,) = store.jobs.reap_expired(_now() + 2 * LEASE)
    assert reaped.id == job.id

    with pytest.raises(LeaseLost):
        store.jobs.succeed(job, "worker-1", JobOutcome(records_ingested=5), NEW_WATERMARK)

    assert _watermark(store) == OLD_WATERMARK
    ended = store.jobs.get_by_id(job.id)
    assert (ended.state, ended.reason, ended.records_ingested) == (
        JobState.ABORTED,
        CONTRACT_ABORTED_REASON,
        0,
    )


def test_fail_and_abort_held(store: Store) -> None:
    make_world(store, ("XDM1", "XDM2", "XDM3"))
    _with_watermark(store, OLD_WATERMARK)
    _requested(store)
    job = _claimed(store)
    reason = "ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI."

    with pytest.raises(LeaseLost):
        store.jobs.fail(job.id, "worker-2", JobOutcome(reason="x"))
    store.jobs.fail(job.id, "worker-1", JobOutcome(records_read=4, batch_id="b-1", reason=reason))

    ended = store.jobs.get_by_id(job.id)
    assert (ended.state, ended.reason, ended.batch_id, ended.records_read) == (
        JobState.FAILED,
        reason,
        "b-1",
        4,
    )
    assert (ended.lease_owner, ended.lease_expires_at) == (None, None)
    assert ended.ended_at is not None
    assert _watermark(store) == OLD_WATERMARK
    with pytest.raises(LeaseLost):
        store.jobs.fail(job.id, "worker-1", JobOutcome(reason="again"))

    # Aborted by the worker that holds it (shutdown, cancel): the contract's reason unless
    # another is given.
    _requested(store, "XDM2")
    _requested(store, "XDM3")
    first = _claimed(store)
    second = _claimed(store)

    with pytest.raises(LeaseLost):
        store.jobs.abort_held(first.id, "worker-2", JobOutcome())
    store.jobs.abort_held(first.id, "worker-1", JobOutcome(batch_id="b-9"))
    store.jobs.abort_held(second.id, "worker-1", JobOutcome(reason="cancelled by an operator"))

    aborted = store.jobs.get_by_id(first.id)
    assert (aborted.state, aborted.reason, aborted.batch_id) == (
        JobState.ABORTED,
        CONTRACT_ABORTED_REASON,
        "b-9",
    )
    assert (aborted.lease_owner, aborted.lease_expires_at) == (None, None)
    assert aborted.ended_at is not None
    assert store.jobs.get_by_id(second.id).reason == "cancelled by an operator"
    with pytest.raises(LeaseLost):
        store.jobs.abort_held(first.id, "worker-1", JobOutcome())


def test_reap_expired_aborts_expired_leases_only(store: Store) -> None:
    assert ABORTED_REASON == CONTRACT_ABORTED_REASON
    mapping_ids = ("EXPIRED", "UPLOADED", "LIVE", "UNCLAIMED")
    make_world(store, mapping_ids)
    now = _now()
    for mapping_id in mapping_ids:
        _requested(store, mapping_id)
    expired = _claimed(store, "w-expired", now=now - 2 * LEASE)
    uploaded = _claimed(store, "w-uploaded", now=now - LEASE - timedelta(seconds=1))
    store.jobs.mark_uploaded(uploaded.id, "w-uploaded", "batch-u")
    live = _claimed(store, "w-live", now=now - LEASE + timedelta(seconds=30))

    reaped = store.jobs.reap_expired(now)

    assert sorted(j.id for j in reaped) == sorted([expired.id, uploaded.id])
    for job in reaped:
        assert (job.state, job.reason) == (JobState.ABORTED, CONTRACT_ABORTED_REASON)
    for job_id in (expired.id, uploaded.id):
        stored = store.jobs.get_by_id(job_id)
        assert (stored.state, stored.reason) == (JobState.ABORTED, CONTRACT_ABORTED_REASON)
        assert stored.ended_at == now
        assert (stored.lease_owner, stored.lease_expires_at) == (None, None)
    assert store.jobs.get_by_id(uploaded.id).batch_id == "batch-u"

    still = store.jobs.get_by_id(live.id)
    assert (still.state, still.lease_owner) == (JobState.CREATED, "w-live")
    unclaimed = store.jobs.in_progress("acme", "UNCLAIMED")
    assert unclaimed is not None
    assert (unclaimed.state, unclaimed.lease_owner) == (JobState.CREATED, None)
    store.jobs.heartbeat(live.id, "w-live", LEASE)
    with pytest.raises(LeaseLost):
        store.jobs.heartbeat(expired.id, "w-expired", LEASE)
    assert store.jobs.reap_expired(now) == []
