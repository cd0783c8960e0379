"""A job's read of its source, tried again by the retry policy (no test waits)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from xdm_connector.errors import SourceError
from xdm_connector.pipeline.control import JobAborted, JobControl
from xdm_connector.pipeline.source_retries import SourceRetries, read_with_retries
from xdm_connector.retry import RetryPolicy

POLICY = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0, jitter=0.0)


def _locked() -> SourceError:
    try:
        raise SourceError(
            "ACP-880056 Failed to fetch the record from the database. sqlite:///crm.db: "
            "database is locked",
            transient=True,
        ) from sqlite3.OperationalError("database is locked")
    except SourceError as error:
        return error


def _reads(*outcomes: SourceError | str) -> tuple[Callable[[], str], list[str]]:
    """A read that raises or answers ``outcomes`` in turn; and the log of what happened."""
    log: list[str] = []
    pending = list(outcomes)

    def read() -> str:
        outcome = pending.pop(0)
        log.append("read")
        if isinstance(outcome, SourceError):
            raise outcome
        return outcome

    return read, log


def test_a_transient_failure_is_discarded_counted_and_read_again() -> None:
    read, log = _reads(_locked(), _locked(), "rows")
    retries = SourceRetries()

    answer = read_with_retries(
        read,
        policy=POLICY,
        control=JobControl(owner="worker"),
        retries=retries,
        discard=lambda: log.append("discard"),
        what="job 7",
    )

    assert answer == "rows"
    assert log == ["read", "discard", "read", "discard", "read"]
    assert retries.document() == {
        "count": 2,
        "lastError": {
            "errorClass": "sqlite3.OperationalError",
            "message": "ACP-880056 Failed to fetch the record from the database. "
            "sqlite:///crm.db: database is locked",
        },
    }


def test_the_last_failure_goes_up_once_the_policy_gives_up() -> None:
    last = _locked()
    read, log = _reads(_locked(), _locked(), last)
    retries = SourceRetries()

    with pytest.raises(SourceError) as raised:
        read_with_retries(
            read,
            policy=POLICY,
            control=JobControl(owner="worker"),
            retries=retries,
            discard=lambda: log.append("discard"),
            what="job 7",
        )

    assert raised.value is last
    assert log == ["read", "discard", "read", "discard", "read"]
    assert retries.count == 2


def test_an_error_of_what_was_asked_fails_at_once() -> None:
    missing = SourceError("ACP-880056 Failed to fetch the record from the database. no table")
    read, log = _reads(missing, "rows")
    retries = SourceRetries()

    with pytest.raises(SourceError):
        read_with_retries(
            read,
            policy=POLICY,
            control=JobControl(owner="worker"),
            retries=retries,
            discard=lambda: log.append("discard"),
            what="job 7",
        )

    assert log == ["read"]
    assert retries.document() is None


def test_a_job_told_to_stop_does_not_wait_for_its_next_read() -> None:
    control = JobControl(owner="worker")
    read, log = _reads(_locked(), "rows")
    patient = RetryPolicy(attempts=3, base_delay=3600.0, max_delay=3600.0, jitter=0.0)

    def discard() -> None:
        log.append("discard")
        control.abort.set()  # a cancel, while the read waits

    with pytest.raises(JobAborted):
        read_with_retries(
            read,
            policy=patient,
            control=control,
            retries=SourceRetries(),
            discard=discard,
            what="job 7",
        )
    assert log == ["read", "discard"]


def test_the_retries_of_slices_add_up() -> None:
    retries = SourceRetries()
    retries.merge(None)
    retries.merge({"count": 2, "lastError": {"errorClass": "OSError", "message": "lost"}})
    retries.merge({"count": 1, "lastError": {"errorClass": "sqlite3.Error", "message": "busy"}})
    assert retries.document() == {
        "count": 3,
        "lastError": {"errorClass": "sqlite3.Error", "message": "busy"},
    }
