"""The delivered records of a mapping: staged by a job, applied once with its success,
dropped with any other end, read back in key order a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.store.conftest import make_world
from xdm_connector.errors import DestinationError, LeaseLost
from xdm_connector.pipeline.delivered_records import withdraw_refused
from xdm_connector.store import delivered_records
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import Job
from xdm_connector.store.store import Store

LEASE = timedelta(minutes=5)


def _claimed(store: Store) -> Job:
    store.jobs.request_ingestion("acme", "XDM1")
    job = store.jobs.claim("worker-1", LEASE, datetime.now(UTC))
    assert job is not None
    return job


def _ids(store: Store) -> list[str]:
    return [row[0] for page in store.delivered_records.pages("acme", "XDM1") for row in page]


def _sent(*ids: str, digest: str = "d1") -> list[delivered_records.StagedRow]:
    return [(key, digest, "Email", f"{key}@example.com", False) for key in ids]


def test_a_jobs_staged_records_are_applied_once_with_its_success(store: Store) -> None:
    make_world(store)
    job = _claimed(store)
    store.delivered_records.stage(job.id, _sent("b", "a", "c"))
    assert _ids(store) == []  # nothing until the job succeeds
    store.jobs.succeed(job, "worker-1", JobOutcome(), None)
    assert _ids(store) == ["a", "b", "c"]
    with pytest.raises(LeaseLost):  # a second end of the same job changes nothing
        store.jobs.succeed(job, "worker-1", JobOutcome(), None)
    assert _ids(store) == ["a", "b", "c"]

    later = _claimed(store)
    deleted: delivered_records.StagedRow = ("a", None, "Email", "a@example.com", True)
    store.delivered_records.stage(later.id, [*_sent("c", digest="d2"), deleted])
    assert list(store.delivered_records.staged_identities(later.id)) == [("Email", "a@example.com")]
    store.jobs.succeed(later, "worker-1", JobOutcome(), None)
    pages = list(store.delivered_records.pages("acme", "XDM1"))
    assert [row[:2] for page in pages for row in page] == [("b", "d1"), ("c", "d2")]
    assert store.delivered_records.identities("acme", "XDM1", ["c", "zz"]) == {
        "c": ("Email", "c@example.com")
    }


def test_a_failed_jobs_staged_records_are_dropped(store: Store) -> None:
    make_world(store)
    job = _claimed(store)
    store.delivered_records.stage(job.id, _sent("a"))
    store.delivered_records.stage(job.id, _sent("b"), replace=False)  # a slice's
    store.jobs.fail(job.id, "worker-1", JobOutcome(reason="no"))
    assert list(store.delivered_records.staged_identities(job.id)) == []
    assert _ids(store) == []


def test_pages_follow_the_key_order(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivered_records, "ROWS_PER_STATEMENT", 3)
    make_world(store)
    job = _claimed(store)
    keys = [f"k{n:02d}" for n in range(10)]
    store.delivered_records.stage(job.id, _sent(*reversed(keys)))
    store.jobs.succeed(job, "worker-1", JobOutcome(), None)
    pages = list(store.delivered_records.pages("acme", "XDM1"))
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    assert _ids(store) == keys
    assert store.delivered_records.count("acme", "XDM1") == 10


class _Diagnosed:
    """A destination whose diagnostics name the refused records (``None``: a corrupt row)."""

    def __init__(self, keys: list[str | None] | None) -> None:
        self.keys = keys

    def refused_keys(self, batch_id: str) -> list[str | None]:
        if self.keys is None:
            raise DestinationError(f"the diagnostics of batch {batch_id} are unreadable")
        return self.keys


def _staged(store: Store, job: Job) -> list[str]:
    store.jobs.succeed(job, "worker-1", JobOutcome(), None)
    return _ids(store)


def test_refused_records_are_taken_back_from_what_a_job_staged(store: Store) -> None:
    make_world(store)
    first = _claimed(store)
    store.delivered_records.stage(first.id, _sent("a", "b"))
    assert _staged(store, first) == ["a", "b"]

    job = _claimed(store)
    deleted: delivered_records.StagedRow = ("a", None, "Email", "a@example.com", True)
    store.delivered_records.stage(job.id, [*_sent("b", "c", "d", digest="d2"), deleted])
    withdraw_refused(store, job.id, _Diagnosed(["b", "c"]), "B1", 2)
    assert list(store.delivered_records.staged_identities(job.id)) == [("Email", "a@example.com")]
    assert _staged(store, job) == ["b", "d"]
    pages = list(store.delivered_records.pages("acme", "XDM1"))
    assert [row[:2] for page in pages for row in page] == [("b", "d1"), ("d", "d2")]


@pytest.mark.parametrize(
    "destination", [_Diagnosed(["c"]), _Diagnosed(["c", None]), _Diagnosed(None), object()]
)
def test_refusals_that_cannot_all_be_named_take_back_every_record_sent(
    store: Store, destination: object
) -> None:
    make_world(store)
    job = _claimed(store)
    store.delivered_records.stage(job.id, _sent("b", "c", "d"))
    withdraw_refused(store, job.id, destination, "B1", 2)  # two refused, fewer named
    assert _staged(store, job) == []


def test_no_refusal_takes_nothing_back(store: Store) -> None:
    make_world(store)
    job = _claimed(store)
    store.delivered_records.stage(job.id, _sent("b", "c"))
    withdraw_refused(store, job.id, _Diagnosed(None), "B1", 0)
    assert _staged(store, job) == ["b", "c"]


def test_a_record_staged_twice_keeps_its_last_change(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivered_records, "ROWS_PER_STAGING", 2)  # over several transactions
    make_world(store)
    job = _claimed(store)
    deleted: delivered_records.StagedRow = ("a", None, "Email", "a@example.com", True)
    rows = [*_sent("a", "b"), *_sent("c", "b", digest="d2"), deleted, *_sent("d")]
    store.delivered_records.stage(job.id, rows)
    store.delivered_records.stage(job.id, _sent("c", digest="d3"), replace=False)  # a slice's
    assert list(store.delivered_records.staged_identities(job.id)) == [("Email", "a@example.com")]
    store.jobs.succeed(job, "worker-1", JobOutcome(), None)
    pages = list(store.delivered_records.pages("acme", "XDM1"))
    assert [row[:2] for page in pages for row in page] == [("b", "d2"), ("c", "d3"), ("d", "d1")]
